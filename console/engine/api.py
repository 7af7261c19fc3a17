"""``EngineAPI``: the one protocol the console, the CLI and (next) the socket server and client speak.

Every member is a coroutine. Arguments and results are plain data: strings and numbers, or domain
dataclasses with ``to_dict``/``from_dict`` (tasks, runs, host results, events, transcript pages, outbox
records, inventory targets, credential profiles, the people directory), so each call can be carried over a
socket as JSON. The caller's identity is an explicit ``actor`` argument of every command (the in-process
engine fills in the login name when it is left out; a server fills it from the socket's peer credentials).

Two attributes are not calls: ``clock`` (the caller's own clock, read while painting screens; a remote
client uses its system clock) and ``read_only``. Nothing in the console or the CLI may read the data
directory itself: transcripts come in pages (:meth:`transcript_page`), exports are written by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from console.clock import Clock
from console.domain.coverage import CoverageReport
from console.domain.events import Event, EventStream
from console.domain.run import HostResult, Run, RunState, TranscriptPage
from console.domain.task import Task
from console.jobs import Target
from console.notify.outbox import OutboxRecord
from console.notify.people import Directory
from console.scan.credentials import CredentialProfile
from console.scan.hostkeys import HostKeyInfo

__all__ = ["EngineAPI", "EventStream"]


class EngineAPI(Protocol):
    clock: Clock
    read_only: bool

    # events
    async def subscribe(self, *, after_seq: int | None = None) -> EventStream: ...

    async def query_events(self, *, since: str | None = None, until: str | None = None, task_id: str | None = None,
                           run_id: str | None = None, host: str | None = None, kind: str | None = None,
                           text: str | None = None, limit: int | None = None,
                           newest_first: bool = True) -> list[Event]: ...

    # tasks
    async def get_task(self, ref: str) -> Task: ...

    async def list_tasks(self) -> list[Task]: ...

    async def validate_task(self, data: Mapping[str, Any], *, task_id: str | None = None,
                            actor: str | None = None) -> Task: ...

    async def create_task(self, data: Mapping[str, Any], *, actor: str | None = None) -> Task: ...

    async def update_task(self, ref: str, data: Mapping[str, Any], *, actor: str | None = None) -> Task: ...

    async def set_enabled(self, ref: str, enabled: bool, *, actor: str | None = None) -> Task: ...

    async def delete_task(self, ref: str, *, actor: str | None = None) -> Task: ...

    async def next_fires(self, ref: str, count: int = 5) -> list[datetime]: ...

    # tasks the scheduler marked broken (their schedule cannot be computed), id -> reason: shown as their state
    async def task_problems(self) -> dict[str, str]: ...

    # inventory, credentials, host keys
    async def import_inventory(self, text: str, *, source: str = "inventory", fmt: str = "auto",
                               actor: str | None = None) -> list[Target]: ...

    async def remove_instances(self, names: list[str], *, actor: str | None = None) -> list[str]: ...

    async def list_instances(self, group: str | None = None) -> list[Target]: ...

    async def list_credentials(self) -> list[CredentialProfile]: ...

    async def put_credential(self, profile: CredentialProfile, *, actor: str | None = None) -> CredentialProfile: ...

    async def fetch_host_key(self, name: str, *, port: int | None = None, timeout: float = 10.0) -> HostKeyInfo: ...

    async def accept_host_key(self, name: str, *, actor: str | None = None, port: int | None = None,
                              timeout: float = 10.0, fingerprint: str | None = None) -> HostKeyInfo: ...

    # runs
    async def run_now(self, ref: str, *, actor: str | None = None) -> Run: ...

    async def rescan_failed(self, run_id: str, *, actor: str | None = None) -> Run: ...

    async def approve(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run: ...

    async def reject(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run: ...

    async def cancel(self, run_id: str, *, actor: str | None = None) -> Run: ...

    async def pause(self, run_id: str, *, actor: str | None = None) -> Run: ...

    async def resume(self, run_id: str, *, actor: str | None = None) -> Run: ...

    async def acknowledge(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run: ...

    async def get_run(self, run_id: str) -> Run: ...

    async def list_runs(self, *, task: str | None = None, states: set[RunState] | None = None,
                        limit: int = 50) -> list[Run]: ...

    async def list_open_runs(self) -> list[Run]: ...

    async def host_results(self, run_id: str) -> list[HostResult]: ...

    async def transcript_page(self, run_id: str, host: str, *, offset: int = 0,
                              limit: int = 1 << 20) -> TranscriptPage: ...

    async def wait_run(self, run_id: str, timeout: float | None = None) -> Run: ...

    # reports
    async def coverage_report(self, *, since: datetime, until: datetime, group: str | None = None,
                              task: str | None = None) -> CoverageReport: ...

    # people, shifts, notifications
    async def import_people(self, text: str, *, source: str = "people.toml",
                            actor: str | None = None) -> Directory: ...

    async def directory(self) -> Directory: ...

    async def oncall(self, at: datetime | None = None) -> list[tuple[str, str, list[str]]]: ...

    async def list_notifications(self, *, status: str | None = None, run_id: str | None = None,
                                 limit: int = 100) -> list[OutboxRecord]: ...

    async def retry_notification(self, record_id: str, *, actor: str | None = None) -> OutboxRecord: ...

    async def notify_test(self, mode: str, person: str, *, actor: str | None = None) -> OutboxRecord: ...

"""Runs, host results and events: the records of what happened.

State machine of a run (domain.md)::

    pending_review -> queued -> running <-> paused -> succeeded | failed | error | cancelled
    pending_review -> rejected | review_expired
    (created directly) missed       the scheduler could not fire it in time
    running/paused/queued -> interrupted     the process died while it ran (found at the next start)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class RunState(StrEnum):
    PENDING_REVIEW = "pending_review"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    REVIEW_EXPIRED = "review_expired"
    MISSED = "missed"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def active(self) -> bool:
        """A run that holds its task: a new fire of the task cannot start while one is active."""
        return self in (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED)


TERMINAL_STATES = frozenset({
    RunState.SUCCEEDED, RunState.FAILED, RunState.ERROR, RunState.CANCELLED, RunState.REJECTED,
    RunState.REVIEW_EXPIRED, RunState.MISSED, RunState.INTERRUPTED,
})

#: States that an operator must hear about the same way as a failure.
ALARM_STATES = frozenset({RunState.FAILED, RunState.ERROR, RunState.MISSED, RunState.INTERRUPTED})

ALLOWED: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING_REVIEW: frozenset({RunState.QUEUED, RunState.REJECTED, RunState.REVIEW_EXPIRED,
                                        RunState.CANCELLED}),
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.CANCELLED, RunState.INTERRUPTED, RunState.ERROR}),
    RunState.RUNNING: frozenset({RunState.PAUSED, RunState.SUCCEEDED, RunState.FAILED, RunState.ERROR,
                                 RunState.CANCELLED, RunState.INTERRUPTED}),
    RunState.PAUSED: frozenset({RunState.RUNNING, RunState.CANCELLED, RunState.INTERRUPTED}),
}


class Trigger(StrEnum):
    SCHEDULE = "schedule"  # a slot of the task's schedule
    MANUAL = "manual"  # an operator's "run now"
    CATCH_UP = "catch_up"  # run once after missed slots (policy run_once)
    RESCAN = "rescan"  # re-scan of the failed hosts of an earlier run


class HostStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass
class Run:
    """One execution (or one recorded non-execution) of a task."""

    id: str
    task_id: str
    task_name: str
    trigger: Trigger
    state: RunState
    created_at: str
    #: The schedule slot this run stands for (UTC ISO), None for manual runs.
    scheduled_for: str | None = None
    #: The last slot this record accounts for; how a restart knows which slots were already handled.
    slot_through: str | None = None
    timezone: str = "UTC"
    actor: str = "scheduler"
    started_at: str | None = None
    finished_at: str | None = None
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    review_note: str | None = None
    review_deadline: str | None = None
    hosts_total: int = 0
    hosts_ok: int = 0
    hosts_failed: int = 0
    hosts_skipped: int = 0
    hosts_cancelled: int = 0
    #: Failed hosts per failure category.
    categories: dict[str, int] = field(default_factory=dict)
    batch_index: int = 0
    batch_count: int = 0
    #: Run-level error (no targets, unknown job, crash of the job): recorded on the run, not a host.
    error: str | None = None
    pause_reason: str | None = None
    #: For ``missed`` records: the slots that could not be fired (UTC ISO, the first 100) and how many.
    missed_slots: list[str] = field(default_factory=list)
    missed_count: int = 0
    parent_run_id: str | None = None
    #: Hosts to scan when the run only covers part of the task (re-scan of failed hosts).
    only_hosts: list[str] = field(default_factory=list)
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None
    ack_note: str | None = None

    @property
    def hosts_done(self) -> int:
        return self.hosts_ok + self.hosts_failed + self.hosts_skipped + self.hosts_cancelled

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trigger"] = self.trigger.value
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["trigger"] = Trigger(values["trigger"])
        values["state"] = RunState(values["state"])
        return cls(**values)


@dataclass
class HostResult:
    """The outcome of one host in one run; final once recorded."""

    run_id: str
    task_id: str
    host: str
    status: HostStatus
    address: str = ""
    category: str | None = None
    reason: str | None = None
    hint: str | None = None
    rule: str | None = None
    os: str | None = None
    family: str | None = None
    packages: list[dict[str, Any]] = field(default_factory=list)
    missing_count: int = 0
    security_count: int | None = None
    reboot_required: bool | None = None
    batch: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float = 0.0
    #: How to open the host's transcript: the command ``patchwatch logs RUN HOST`` (runs stored by earlier
    #: versions hold the path of its file, relative to the data directory).
    transcript: str | None = None

    @property
    def id(self) -> str:
        return f"{self.run_id}:{self.host}"

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose (not dataclasses.asdict): results are final once recorded and the store
        # serialises what it is given, so a deep copy per host would only cost time on large scans.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["status"] = self.status.value
        data["id"] = self.id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostResult:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = HostStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class TranscriptPage:
    """A slice of one host's transcript, by byte offsets, as the API serves it (a large log comes in pages)."""

    run_id: str
    host: str
    text: str
    offset: int
    next_offset: int
    size: int

    @property
    def at_end(self) -> bool:
        return self.next_offset >= self.size

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscriptPage:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


"""The engine: the composition root of one data directory, and the :class:`~console.engine.api.EngineAPI`.

It takes the directory (one owner process, :class:`DataDirLock`), builds the services in order (data store,
event broker, task catalogue, fleet, run coordinator, notifier), wires their hooks, and exposes the API the
console and the CLI speak. The work itself lives in the services; each method here checks that this engine
may write, names the actor, delegates, and commits what the command produced before returning.

Why this length: most of it is the API surface, one short delegating method per EngineAPI member; the
composition itself is ``open`` and ``close``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from console import actor as os_actor
from console.clock import Clock, SystemClock
from console.domain.alarm import Alarm, Silence
from console.domain.coverage import CoverageReport
from console.domain.events import Event, EventKind
from console.domain.run import HostResult, Run, RunState, TranscriptPage, Trigger
from console.domain.task import SCAN_OS_PATCH, Task
from console.domain.terminal import check_note
from console.engine.alarms import AlarmBook
from console.engine.broker import EventBroker, Subscription
from console.engine.fleet import FleetService
from console.engine.reports import ReportService, retention_from_env
from console.engine.runs import RunCoordinator
from console.engine.stream import ResumedStream
from console.engine.tasks import TaskCatalogue
from console.errors import ConflictError, ValidationError
from console.jobs import Job, Target
from console.notify.outbox import OutboxRecord
from console.notify.people import Directory
from console.notify.recipients import check_recipients
from console.notify.service import NotificationService
from console.scan.credentials import CredentialProfile
from console.scan.hostkeys import HostKeyInfo
from console.scan.job import ScanOsPatchJob
from console.scheduler.scheduler import Scheduler
from console.store import DataDirLock
from console.store.datastore import DataStore
from console.store.permissions import secure_data_dir

P = ParamSpec("P")
R = TypeVar("R")

CHANNELS_ENV = "PATCHWATCH_CHANNELS"
#: How long closing an engine waits for queued notices to go out (a one-shot command's notices go now).
DELIVER_ON_CLOSE = 10.0


def default_channels_path(data_dir: Path) -> Path:
    """The channels file: ``$PATCHWATCH_CHANNELS``, else ``channels.toml`` in the data directory (a file of
    its own, outside the store, mode 0600: it holds secrets)."""
    env = os.environ.get(CHANNELS_ENV)
    return Path(env) if env else data_dir / "channels.toml"


def default_actor() -> str:
    """Who is acting in this process, for the trace: its user's login name, from the OS (console/actor.py)."""
    return os_actor.login_name()


def _command(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A command that changes state: refused on a read-only engine; what it produced is committed before it
    returns (its events included), so whatever a client is shown as done is on disk."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        engine = args[0]
        assert isinstance(engine, Engine)
        engine.check_writable()
        result = await method(*args, **kwargs)
        await engine.store.flush()
        return result

    return wrapper


class _SchedulerHost:
    """The scheduler's view of the engine (console.scheduler.scheduler.SchedulerHost)."""

    def __init__(self, engine: Engine) -> None:
        self.clock = engine.clock
        self.misfire_grace = engine.misfire_grace
        self._tasks = engine.tasks
        self._runs = engine.runs
        self._broker = engine.broker
        self._store = engine.store
        self.schedule_state = self._tasks.schedule_state
        self.put_schedule_state = self._tasks.put_schedule_state
        self.latest_run = self._runs.latest
        self.fire = self._runs.fire
        self.record_missed = self._runs.record_missed
        self.expire_reviews = self._runs.expire_reviews
        self.executing = self._runs.executing
        self.idle = self._runs.idle

    def task_snapshot(self) -> list[Task]:
        return self._tasks.snapshot()

    def publish(self, kind: EventKind, message: str, *, task_id: str | None = None,
                actor: str | None = None, data: dict[str, Any] | None = None) -> Event:
        return self._broker.publish(kind, message, task_id=task_id, actor=actor, data=data)

    async def flush(self) -> None:
        await self._store.flush()


class Engine:
    """Commands, queries and the event stream of one data directory (implements EngineAPI)."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        clock: Clock | None = None,
        jobs: Mapping[str, Job] | None = None,
        read_only: bool = False,
        misfire_grace: float = 60.0,
        max_parallel_runs: int = 8,
        flush_interval: float = 0.5,
        notify: bool = True,
        channels_path: str | Path | None = None,
        notify_options: Mapping[str, Any] | None = None,
        deliver_on_close: float = DELIVER_ON_CLOSE,
        retention_days: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        self.misfire_grace = timedelta(seconds=misfire_grace)
        self._jobs = jobs
        self._max_parallel_runs = max_parallel_runs
        self._flush_interval = flush_interval
        self._notify = notify
        self.channels_path = Path(channels_path) if channels_path else default_channels_path(self.data_dir)
        self._notify_options = dict(notify_options or {})
        self._deliver_on_close = deliver_on_close
        self._retention_days = retention_days
        self._lock: DataDirLock | None = None
        self.scheduler: Scheduler | None = None
        self.notifier: NotificationService | None = None
        self.alarms: AlarmBook
        #: Notices still queued when the engine closed (they go out from the next owner of the directory).
        self.undelivered = 0
        self._opened = False

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> Engine:
        """Take the data directory, build the services, and turn runs a dead process left behind into
        ``interrupted``. Raises DataDirLockedError when another process owns the directory."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, a read-only parent: bad input, not a traceback
            raise ValidationError.single("--data-dir", f"{self.data_dir} cannot be used as a data directory: "
                                                       f"{exc.strerror or exc}") from None
        if not self.read_only:
            secure_data_dir(self.data_dir)  # 0700, before the lock file and the store are written
            self._lock = DataDirLock(self.data_dir)
            self._lock.acquire()
        try:
            self.store = await DataStore(self.data_dir, read_only=self.read_only,
                                         flush_interval=self._flush_interval).open()
        except BaseException:
            self._release_lock()
            raise
        next_seq = await self.store.call(lambda r: r.events.next_seq())
        self.broker = EventBroker(self.clock, next_seq=next_seq,
                                  record=None if self.read_only else self.store.buffer_event)
        self.store.on_write_failed = self._write_failed
        self.store.on_write_recovered = self._write_recovered
        self.store.on_events_committed = self.broker.committed
        self.tasks = TaskCatalogue(self.store, self.broker, self.clock)
        self.fleet = FleetService(self.store, self.broker, self.data_dir)
        await self.tasks.load()
        await self.fleet.load()
        jobs = dict(self._jobs) if self._jobs is not None else {
            SCAN_OS_PATCH: ScanOsPatchJob(self.fleet.credential_profile, self.data_dir)}
        self.fleet.on_credentials_changed = functools.partial(_forget_credentials, list(jobs.values()))
        self.runs = RunCoordinator(self.store, self.broker, self.clock, self.tasks, self.fleet, jobs, self.data_dir,
                                   max_parallel_runs=self._max_parallel_runs)
        await self.runs.load()
        self.reports = ReportService(self.store, self.broker, self.clock, self.tasks, self.fleet,
                                     retention_days=self._retention_days or retention_from_env())
        await self.reports.load()
        self.alarms = AlarmBook(self.store, self.broker, self.clock, self.tasks)
        await self.alarms.load()
        self._opened = True
        if not self.read_only:
            if self._notify:
                self.notifier = NotificationService(self.store, self.broker, self.tasks, self.runs, self.clock,
                                                    self.channels_path, data_dir=self.data_dir,
                                                    ledger=self.alarms, **self._notify_options)
                await self.notifier.start()
                self.alarms.policy_for = self.notifier.policy_for
                self.tasks.check_recipients = self._check_recipients
                self.reports.notifier = self.notifier
            # After the notifier listens (the book's first timer pass may already announce something), before
            # the recovery below (runs found interrupted open alarms and are notified).
            self.alarms.start()
            await self.runs.recover_interrupted()
            self.store.start_flushing()
            await self.reports.prune()
            self.reports.start()
        return self

    async def close(self) -> None:
        """Stop the scheduler and running runs (they become ``interrupted``), send what is queued (bounded),
        commit, release the directory."""
        if not self._opened:
            return
        try:
            if self.scheduler is not None:
                await self.scheduler.stop()
            await self.runs.shutdown()
            await self.reports.stop()
            if not self.read_only:
                await self.alarms.drain()
            if self.notifier is not None:
                # Every event so far becomes a durable outbox record; what cannot go out now goes out at the
                # next start.
                await self.notifier.drain()
                self.undelivered = await self.notifier.deliver_pending(self._deliver_on_close)
                await self.notifier.stop()
            await self.store.close()
        finally:
            self._release_lock()
            self._opened = False

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def __aenter__(self) -> Engine:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def check_writable(self) -> None:
        if self.read_only:
            raise ConflictError("this console is read-only: another process owns the data directory")

    def _check_recipients(self, task: Task) -> None:
        """Refuse a task whose notices could reach nobody: unknown people or modes (console/notify/recipients)."""
        if self.notifier is not None:
            channels = self.notifier.channels
            check_recipients(task, self.notifier.directory, channels.modes() if channels else ())

    def _write_failed(self, exc: Exception, pending: int) -> None:
        self.broker.publish(EventKind.STORE_ERROR, f"could not write to the store: {exc}; {pending} records are "
                            "kept in memory and written when the disk accepts them again",
                            data={"error": str(exc), "pending": pending})

    def _write_recovered(self, written: int) -> None:
        self.broker.publish(EventKind.STORE_RECOVERED, f"the store accepts writes again: {written} kept records "
                            "written", data={"pending": 0})

    def create_scheduler(self) -> Scheduler:
        """The scheduler of this engine (the owner of the directory runs it)."""
        scheduler = Scheduler(_SchedulerHost(self))
        self.tasks.on_schedule_changed = scheduler.wake
        self.runs.on_review_pending = scheduler.wake
        self.scheduler = scheduler
        return scheduler

    def detach_scheduler(self, scheduler: Scheduler) -> None:
        """Forget a scheduler whose loop died, so closing the engine does not stop it again."""
        if self.scheduler is scheduler:
            self.scheduler = None

    async def run_scheduler(self) -> None:
        """Run this engine's scheduler until cancelled (the owner's duty while a console runs)."""
        scheduler = self.create_scheduler()
        try:
            await scheduler.run_forever()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The loop is dead: detach it, so closing the engine does not stop it (and raise) again.
            self.detach_scheduler(scheduler)
            raise

    async def flush(self) -> None:
        await self.store.flush()

    async def idle(self) -> None:
        """Wait until no run is executing (tests, and clean shutdown of one-shot commands)."""
        await self.runs.idle()
        await self.store.flush_if_dirty()

    # ------------------------------------------------------------------ events

    async def subscribe(self, *, after_seq: int | None = None) -> ResumedStream:
        """Events from now on, each once it is committed (console.engine.broker); with ``after_seq``, first every
        stored event after that sequence number."""
        live = self.broker.subscribe(committed=True)
        backlog: list[Event] = []
        if after_seq is not None:
            await self.store.flush_if_dirty()
            backlog = await self.store.call(lambda r: r.events.after(after_seq))
        return ResumedStream(live, backlog, after_seq or 0)

    def subscribe_live(self) -> Subscription:
        """Events from now on, each once it is committed (in-process consumers: the daemon's printer, the demo)."""
        return self.broker.subscribe(committed=True)

    async def query_events(self, *, since: str | None = None, until: str | None = None, task_id: str | None = None,
                           run_id: str | None = None, host: str | None = None, kind: str | None = None,
                           text: str | None = None, limit: int | None = None,
                           newest_first: bool = True) -> list[Event]:
        """The trace, filtered: ``since`` inclusive and ``until`` exclusive (ISO), a ``kind`` or a prefix ending
        in ``.``, ``text`` anywhere in the event; newest first unless ``newest_first`` is False."""
        filters = {"since": since, "until": until, "task_id": task_id, "run_id": run_id, "host": host,
                   "kind": kind, "text": text, "limit": limit, "newest_first": newest_first}
        await self.store.flush_if_dirty()
        return await self.store.call(lambda r: r.events.query(**filters))

    # ------------------------------------------------------------------ tasks

    async def get_task(self, ref: str) -> Task:
        return self.tasks.find(ref)

    async def list_tasks(self) -> list[Task]:
        return self.tasks.sorted()

    def task_snapshot(self) -> list[Task]:
        return self.tasks.snapshot()

    async def validate_task(self, data: Mapping[str, Any], *, task_id: str | None = None,
                            actor: str | None = None) -> Task:
        """Check a form without saving anything; returns the task it would make."""
        return self.tasks.validate(data, actor=actor or default_actor(), task_id=task_id)

    @_command
    async def create_task(self, data: Mapping[str, Any], *, actor: str | None = None) -> Task:
        return await self.tasks.create(data, actor=actor or default_actor())

    @_command
    async def update_task(self, ref: str, data: Mapping[str, Any], *, actor: str | None = None) -> Task:
        return await self.tasks.update(ref, data, actor=actor or default_actor())

    @_command
    async def set_enabled(self, ref: str, enabled: bool, *, actor: str | None = None) -> Task:
        return await self.tasks.set_enabled(ref, enabled, actor=actor or default_actor())

    @_command
    async def delete_task(self, ref: str, *, actor: str | None = None) -> Task:
        return await self.tasks.delete(ref, self.runs, actor=actor or default_actor())

    async def schedule_state(self, task_id: str) -> dict[str, Any]:
        return await self.tasks.schedule_state(task_id)

    async def put_schedule_state(self, task_id: str, **fields: Any) -> dict[str, Any]:
        return await self.tasks.put_schedule_state(task_id, **fields)

    async def next_fires(self, ref: str, count: int = 5) -> list[datetime]:
        return self.tasks.next_fires(ref, count)

    async def task_problems(self) -> dict[str, str]:
        return await self.tasks.problems()

    # ------------------------------------------------------------------ inventory, credentials, host keys

    @_command
    async def upsert_instances(self, targets: list[Target], *, actor: str | None = None) -> None:
        await self.fleet.upsert_instances(targets, actor=actor or default_actor())

    @_command
    async def import_inventory(self, text: str, *, source: str = "inventory", fmt: str = "auto",
                               actor: str | None = None) -> list[Target]:
        return await self.fleet.import_inventory(text, source=source, fmt=fmt, actor=actor or default_actor())

    @_command
    async def remove_instances(self, names: list[str], *, actor: str | None = None) -> list[str]:
        return await self.fleet.remove_instances(names, actor=actor or default_actor())

    async def list_instances(self, group: str | None = None) -> list[Target]:
        return await self.fleet.list_instances(group)

    def credential_profile(self, name: str) -> CredentialProfile:
        return self.fleet.credential_profile(name)

    async def list_credentials(self) -> list[CredentialProfile]:
        return self.fleet.list_credentials()

    @_command
    async def put_credential(self, profile: CredentialProfile, *, actor: str | None = None) -> CredentialProfile:
        return await self.fleet.put_credential(profile, actor=actor or default_actor())

    async def fetch_host_key(self, name: str, *, port: int | None = None, timeout: float = 10.0) -> HostKeyInfo:
        return await self.fleet.fetch_host_key(name, port=port, timeout=timeout)

    @_command
    async def accept_host_key(self, name: str, *, actor: str | None = None, port: int | None = None,
                              timeout: float = 10.0, fingerprint: str | None = None) -> HostKeyInfo:
        return await self.fleet.accept_host_key(name, actor=actor or default_actor(), port=port, timeout=timeout,
                                                fingerprint=fingerprint)

    # ------------------------------------------------------------------ runs

    async def fire(self, task: Task, *, trigger: Trigger, actor: str, slot: datetime | None = None) -> Run:
        return await self.runs.fire(task, trigger=trigger, actor=actor, slot=slot)

    async def record_missed(self, task: Task, slots: list[datetime], count: int, *, capped: bool) -> Run:
        return await self.runs.record_missed(task, slots, count, capped=capped)

    @_command
    async def run_now(self, ref: str, *, actor: str | None = None) -> Run:
        """Fire a task now, outside its schedule (review still applies when the task requires it)."""
        return await self.runs.fire(self.tasks.find(ref), trigger=Trigger.MANUAL, actor=actor or default_actor())

    @_command
    async def rescan_failed(self, run_id: str, *, actor: str | None = None) -> Run:
        return await self.runs.rescan_failed(run_id, actor=actor or default_actor())

    @_command
    async def approve(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run:
        return await self.runs.review(run_id, True, actor=actor or default_actor(), note=note)

    @_command
    async def reject(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run:
        return await self.runs.review(run_id, False, actor=actor or default_actor(), note=note)

    async def expire_reviews(self) -> datetime | None:
        return await self.runs.expire_reviews()

    @_command
    async def cancel(self, run_id: str, *, actor: str | None = None) -> Run:
        return await self.runs.cancel(run_id, actor=actor or default_actor())

    @_command
    async def pause(self, run_id: str, *, actor: str | None = None) -> Run:
        return await self.runs.pause(run_id, actor=actor or default_actor())

    @_command
    async def resume(self, run_id: str, *, actor: str | None = None) -> Run:
        return await self.runs.resume(run_id, actor=actor or default_actor())

    @_command
    async def acknowledge(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run:
        return await self.runs.acknowledge(run_id, actor=actor or default_actor(), note=note)

    # ------------------------------------------------------------------ alarms and silences

    # Alarms are handed out as copies: the book's own objects change under the caller as events arrive (and a
    # caller changing one would change the book), while an attached client gets a snapshot anyway.

    async def list_alarms(self, *, include_resolved: bool = False, limit: int = 200) -> list[Alarm]:
        return [a.copy() for a in self.alarms.list_alarms(include_resolved=include_resolved, limit=limit)]

    async def get_alarm(self, alarm_id: str) -> Alarm:
        return self.alarms.get(alarm_id).copy()

    @_command
    async def acknowledge_alarm(self, alarm_id: str, *, actor: str | None = None, note: str | None = None) -> Alarm:
        check_note(note)
        return (await self.alarms.acknowledge(alarm_id, actor=actor or default_actor(), note=note)).copy()

    @_command
    async def rescan_alarm(self, alarm_id: str, *, actor: str | None = None) -> Run:
        """A run of the alarm's task over only its hosts that are still failing."""
        alarm = self.alarms.get(alarm_id)
        hosts = [h.host for h in alarm.failing_hosts()]
        if not alarm.is_open:
            raise ConflictError(f"alarm {alarm.id} is resolved: nothing to re-scan")
        if not hosts:
            raise ConflictError(f"alarm {alarm.id} has no failing host to re-scan ({alarm.summary()}): use run-now "
                                "for a run-level problem")
        return await self.runs.fire(self.tasks.find(alarm.task_id), trigger=Trigger.RESCAN,
                                    actor=actor or default_actor(), only_hosts=hosts, parent_run_id=alarm.latest_run)

    async def list_silences(self, *, include_ended: bool = False) -> list[Silence]:
        return self.alarms.silences(include_ended=include_ended)

    @_command
    async def add_silence(self, *, reason: str, ends_at: datetime, starts_at: datetime | None = None,
                          task: str | None = None, host: str | None = None, category: str | None = None,
                          actor: str | None = None) -> Silence:
        return await self.alarms.add_silence(actor=actor or default_actor(), reason=reason, ends_at=ends_at,
                                             starts_at=starts_at, task_ref=task, host=host, category=category)

    @_command
    async def expire_silence(self, silence_id: str, *, actor: str | None = None) -> Silence:
        return await self.alarms.expire_silence(silence_id, actor=actor or default_actor())

    async def get_run(self, run_id: str) -> Run:
        return await self.runs.get(run_id)

    async def list_runs(self, *, task: str | None = None, states: set[RunState] | None = None,
                        limit: int = 50) -> list[Run]:
        """Runs, newest first, optionally of one task and in some states."""
        task_id = self.tasks.find(task).id if task else None
        return await self.runs.newest(task_id=task_id, states=states, limit=limit)

    async def latest_run(self, task_id: str) -> Run | None:
        return await self.runs.latest(task_id)

    async def list_open_runs(self) -> list[Run]:
        """Runs not yet terminal (pending review, queued, running, paused)."""
        return self.runs.open_runs()

    def open_runs(self) -> list[Run]:
        return self.runs.open_runs()

    def open_runs_executing(self) -> bool:
        return self.runs.executing()

    async def host_results(self, run_id: str) -> list[HostResult]:
        return await self.runs.host_results(run_id)

    async def transcript(self, run_id: str, host: str) -> str:
        return await self.store.read_transcript(run_id, host)

    async def transcript_page(self, run_id: str, host: str, *, offset: int = 0,
                              limit: int = 1 << 20) -> TranscriptPage:
        """Up to ``limit`` bytes of a host's transcript from ``offset`` (whole lines when possible)."""
        text, next_offset, size = await self.store.call(
            lambda r: r.store.read_transcript_page(run_id, host, offset, limit))
        return TranscriptPage(run_id=run_id, host=host, text=text, offset=offset, next_offset=next_offset,
                              size=size)

    async def wait_run(self, run_id: str, timeout: float | None = None) -> Run:
        """Wait until ``run_id`` reaches a terminal state and is committed with its events (so a subscriber has
        been given every event of it); return it."""
        run = await self.runs.wait(run_id, timeout)
        await self.store.flush_if_dirty()
        return run

    # ------------------------------------------------------------------ reports

    async def coverage_report(self, *, since: datetime, until: datetime, group: str | None = None,
                              task: str | None = None) -> CoverageReport:
        """Coverage and compliance over ``[since, until)``, optionally of one group or one task (id or name)."""
        return await self.reports.coverage(since=since, until=until, group=group, task=task)

    @_command
    async def prune_history(self, *, actor: str | None = None) -> dict[str, Any]:
        """Apply the retention now (it also runs at open and daily); returns what was removed."""
        return await self.reports.prune()

    # ------------------------------------------------------------------ people, shifts, notifications

    def _notifications(self) -> NotificationService:
        if self.notifier is None:
            raise ConflictError("notifications are off in this engine")
        return self.notifier

    @_command
    async def import_people(self, text: str, *, source: str = "people.toml", actor: str | None = None) -> Directory:
        """Add or replace people and shift scenarios from a TOML file (all or nothing)."""
        return await self._notifications().import_people(text, source, actor or default_actor())

    async def directory(self) -> Directory:
        if self.notifier is not None:
            return self.notifier.directory
        doc = await self.store.call(lambda r: r.people.get())
        return Directory.from_dict(doc) if doc else Directory(people={}, scenarios={})

    async def oncall(self, at: datetime | None = None) -> list[tuple[str, str, list[str]]]:
        """(scenario, role, people on duty) for every role of every scenario at ``at`` (default now)."""
        directory = await self.directory()
        moment = at or self.clock.now()
        return [(scenario.name, role.name, [p.name for p in directory.on_duty(scenario.name, role.name, moment)])
                for scenario in directory.scenarios.values() for role in scenario.roles]

    async def list_notifications(self, *, status: str | None = None, run_id: str | None = None,
                                 limit: int = 100) -> list[OutboxRecord]:
        """Outbox records, newest first."""
        await self.store.flush_if_dirty()
        docs = await self.store.call(lambda r: r.outbox.newest(
            run_id=run_id, wanted=lambda d: status is None or d["status"] == status, limit=limit))
        return [OutboxRecord.from_dict(d) for d in docs]

    @_command
    async def retry_notification(self, record_id: str, *, actor: str | None = None) -> OutboxRecord:
        return await self._notifications().retry_now(record_id, actor or default_actor())

    @_command
    async def notify_test(self, mode: str, person: str, *, actor: str | None = None) -> OutboxRecord:
        """Send a test notice to ``person`` by ``mode`` now and return its recorded outcome."""
        return await self._notifications().send_test(mode, person, actor or default_actor())


def _forget_credentials(jobs: list[Job]) -> None:
    """Jobs that cache keys and known_hosts read them again (a profile changed, a host key was accepted)."""
    for job in jobs:
        forget = getattr(job, "forget_credentials", None)
        if forget is not None:
            forget()

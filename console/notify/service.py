"""The notification service: from the engine's events to delivered notices, within seconds, never lost.

It listens to the engine's event stream (it never slows a scan down: the scan only puts events in a queue)
and applies each task's notification rules:

- the first failed host of a run opens a short coalescing window (``coalesce`` seconds, default 0.25 s); when it
  closes, ONE ``execution_failed`` notice goes out with every failure seen so far, so 300 failing hosts give
  one notice, not 300, and the first notice still leaves within a couple of seconds;
- later failures of the same run give at most one ``update`` per ``update_interval``;
- the end of a run that notified failures gives a ``summary``; a run that failed without any failed host
  (a run-level error) gives its ``execution_failed`` at the end;
- ``missed`` and ``interrupted`` runs notify like failures; the first successful run after failures sends
  ``recovered`` to the failure subscribers;
- an alarm nobody acknowledged within ``escalate_after`` is sent again, to the same roles plus the next role
  of the scenario (up to ``max_escalations`` times); acknowledging the run (or a recovery) stops it.

Recipients are resolved at the moment of the event (whoever is on duty then), per person and mode; each
becomes a record of the durable outbox (``console.notify.outbox``) before any sending is attempted.

Why one module of this length: the rules from events to notices, the outbox dispatcher and escalation share
the per-run state and the alarm book; the alarm-lifecycle issue replaces the escalation part.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from console.clock import Clock
from console.commands import command_line
from console.domain import ids
from console.domain.events import Event, EventKind, EventStream
from console.domain.run import ALARM_STATES, Run, RunState
from console.domain.task import NotifyPolicy, Task
from console.errors import PatchwatchError, ValidationError
from console.notify.channels import Channels, load_channels
from console.notify.delivery import deliver
from console.notify.notice import FIRST_FAILED, FailedHost, Notice, NoticeKind
from console.notify.outbox import Attempt, OutboxRecord, OutboxStatus, RetryPolicy
from console.notify.people import Directory, Person
from console.store.datastore import DataStore
from console.store.sent_journal import clear_sent, journal_sent, read_sent

#: Modes tried, in this order, when a person states no preference.
DEFAULT_MODE_ORDER = ("email", "dingtalk", "wecom", "sms")


class EventBus(Protocol):
    """Where the service hears about runs and tells what it did (the engine's event broker)."""

    def publish(self, kind: EventKind, message: str, *, task_id: str | None = None, run_id: str | None = None,
                host: str | None = None, actor: str | None = None, data: dict[str, Any] | None = None) -> Event: ...

    def subscribe(self, *, capacity: int | None = ...) -> EventStream: ...


class TaskLookup(Protocol):
    def get(self, task_id: str) -> Task | None: ...


class RunLookup(Protocol):
    async def get(self, run_id: str) -> Run: ...

    async def newest(self, *, task_id: str | None = None, states: set[RunState] | None = None,
                     limit: int = 50) -> list[Run]: ...


@dataclass
class _RunState:
    """What the service knows about one run while it notifies about it."""

    task_id: str
    failed: list[FailedHost] = field(default_factory=list)
    failed_count: int = 0
    total: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    detected_at: str | None = None
    first_sent: bool = False
    last_update: float = 0.0
    timer: asyncio.Task[None] | None = None


@dataclass
class _Alarm:
    task_id: str
    run_id: str
    notified_at: datetime
    level: int = 0


class NotificationService:
    """Engine-internal collaborator: owns the outbox dispatcher and turns events into notices."""

    def __init__(self, store: DataStore, events: EventBus, tasks: TaskLookup, runs: RunLookup, clock: Clock,
                 channels_path: Path | None, *, data_dir: Path, retry: RetryPolicy | None = None,
                 coalesce: float = 0.25, update_interval: float = 60.0, escalate_after: float = 900.0,
                 max_escalations: int = 2, send_timeout: float = 10.0, concurrency: int = 16) -> None:
        self._store = store
        self._events = events
        self._task_lookup = tasks
        self._run_lookup = runs
        self._clock = clock
        #: Named in every notice's "open the logs" command, so that it works when pasted.
        self._data_dir = data_dir
        self.channels_path = channels_path
        self.retry = retry or RetryPolicy()
        self.coalesce = coalesce
        self.update_interval = update_interval
        self.escalate_after = timedelta(seconds=escalate_after)
        self.max_escalations = max_escalations
        self.send_timeout = send_timeout
        self._send_slots = asyncio.Semaphore(concurrency)
        self.channels: Channels | None = None
        self.channels_error: str | None = None
        self.directory = Directory(people={}, scenarios={})
        self._pending: dict[str, OutboxRecord] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._runs: dict[str, _RunState] = {}
        self._alarms: dict[str, _Alarm] = {}
        self._wake = asyncio.Event()
        self._escalating = asyncio.Lock()
        self._queue: EventStream | None = None
        #: The event the consumer is handling now; shutdown waits for it rather than cutting it in half.
        self._handling: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        self.reload_channels()
        doc = await self._store.call(lambda r: r.people.get())
        if doc is not None:
            self.directory = Directory.from_dict(doc)
        await self._recover_outbox()
        self._queue = self._events.subscribe(capacity=None)
        self._consumer = asyncio.create_task(self._consume(), name="notify-consume")
        self._tasks = [self._consumer,
                       asyncio.create_task(self._dispatch_loop(), name="notify-dispatch"),
                       asyncio.create_task(self._escalation_loop(), name="notify-escalate")]

    def reload_channels(self) -> None:
        """(Re)read the channels file; a broken file is reported loudly and notices fail visibly."""
        self.channels, self.channels_error = None, None
        if self.channels_path is None or not self.channels_path.exists():
            self.channels_error = (f"no channels file at {self.channels_path}: notifications cannot be delivered"
                                   if self.channels_path else "no channels file configured")
            return
        try:
            self.channels = load_channels(self.channels_path)
        except PatchwatchError as exc:
            self.channels_error = str(exc)
            self._events.publish(EventKind.NOTIFICATION_CONFIG_ERROR, f"channels file unusable: {exc}")

    async def drain(self) -> None:
        """Turn every event already published into outbox records (used before shutdown).

        The consumer is stopped first, but the event it is handling is finished, not cut in half: an event
        taken off the queue and then abandoned would be a notice lost (the ``interrupted`` notice of a run
        stopped by SIGTERM was lost that way)."""
        if self._queue is None:
            return
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        if self._handling is not None:
            with contextlib.suppress(Exception):
                await self._handling
        while not self._queue.empty():
            await self._handle(self._queue.get_nowait())
        for run_id, state in list(self._runs.items()):
            if state.timer is not None and not state.timer.done():
                state.timer.cancel()
                if not state.first_sent:
                    await self._first_failure_notice(run_id)

    async def deliver_pending(self, timeout: float) -> int:
        """Try to send every queued notice now, for at most ``timeout`` seconds; return how many are left.

        A one-shot command that owns the data directory calls this before it exits, so the notices of the
        run it just made go out now rather than whenever the next Patchwatch process starts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            due = [r for r in self._pending.values() if r.due(self._clock.now()) or r.id in self._in_flight]
            if not due:
                break
            self._wake.set()
            await asyncio.sleep(0.05)
        return len(self._pending)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=self.send_timeout + 1)
        if self._queue is not None:
            self._queue.close()
        self._tasks = []

    async def _recover_outbox(self) -> None:
        finished = frozenset({"sent", "failed", "abandoned"})
        journal = read_sent(self._store.data_dir)
        confirmed: dict[str, dict[str, Any]] = {}
        for doc in await self._store.call(lambda r: r.outbox.unfinished(finished)):
            record = OutboxRecord.from_dict(doc)
            if record.id in journal:
                # Accepted by its channel just before the last process died (console.store.sent_journal).
                record.status, record.error = OutboxStatus.SENT, None
                record.sent_at = journal[record.id] or self._clock.now().isoformat()
                confirmed[record.id] = record.to_dict()
                continue
            if record.status is OutboxStatus.SENDING:
                record.status = OutboxStatus.RETRYING
                record.error = "the process stopped while sending; sending again"
                await self._save(record)
            self._pending[record.id] = record
        if confirmed:
            await self._store.call(lambda r: r.outbox.update_many(confirmed))
        if journal and not self._store.read_only:
            clear_sent(self._store.data_dir)
        # Unacknowledged alarms of the last day keep escalating after a restart.
        horizon = (self._clock.now() - timedelta(days=1)).isoformat()

        for doc in reversed(await self._store.call(lambda r: r.outbox.created_since(horizon))):
            if doc["kind"] in _ALARM_NOTICES and doc.get("run_id"):
                alarm = self._alarms.get(doc["run_id"])
                created = datetime.fromisoformat(doc["created_at"])
                if alarm is None:
                    self._alarms[doc["run_id"]] = _Alarm(doc["task_id"], doc["run_id"], created,
                                                         doc.get("escalation_level", 0))
                else:
                    alarm.notified_at = max(alarm.notified_at, created)
                    alarm.level = max(alarm.level, doc.get("escalation_level", 0))
        for run_id, alarm in list(self._alarms.items()):
            with contextlib.suppress(PatchwatchError):
                if (await self._run_lookup.get(run_id)).acknowledged_by or await self._recovered_since(alarm):
                    del self._alarms[run_id]

    async def _recovered_since(self, alarm: _Alarm) -> bool:
        """True when a run of the alarm's task succeeded after the alarm's run: nothing is failing any more.

        The in-memory clearing on the ``recovered`` notice does not survive a restart; this check does (a
        restart used to page the team lead about a task that had recovered before it)."""
        alarm_run = await self._run_lookup.get(alarm.run_id)
        for run in await self._run_lookup.newest(task_id=alarm.task_id, limit=20):
            if run.id == alarm.run_id or run.created_at <= alarm_run.created_at:
                break
            if run.state is RunState.SUCCEEDED:
                return True
        return False

    # ------------------------------------------------------------------ people

    async def import_people(self, text: str, source: str, actor: str) -> Directory:
        from console.notify.people import merge, parse_people_toml

        incoming = parse_people_toml(text, source)
        merged = merge(self.directory, incoming)
        await self._store.call(lambda r: r.people.put(merged.to_dict()))
        self.directory = merged
        self._events.publish(EventKind.PEOPLE_IMPORTED, f"{len(incoming.people)} people and "
                             f"{len(incoming.scenarios)} shift scenarios imported from {source}", actor=actor,
                             data={"people": sorted(incoming.people), "scenarios": sorted(incoming.scenarios)})
        await self._store.flush()
        return merged

    # ------------------------------------------------------------------ events -> notices

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            # Shielded: cancelling the consumer (at shutdown) must not abandon an event it already took.
            self._handling = asyncio.ensure_future(self._handle(event))
            await asyncio.shield(self._handling)
            self._handling = None

    async def _handle(self, event: Event) -> None:
        try:
            await self._on_event(event)
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop notifications
            self._events.publish(EventKind.NOTIFICATION_ERROR, f"could not handle {event.kind}: {exc}",
                                 task_id=event.task_id, run_id=event.run_id)

    async def _on_event(self, event: Event) -> None:
        kind = event.kind
        if kind.startswith("notification.") or event.task_id is None:
            return
        task = self._task_lookup.get(event.task_id)
        if kind == EventKind.RUN_ACKNOWLEDGED and event.run_id:
            self._alarms.pop(event.run_id, None)
            return
        if task is None or not task.notify.enabled:
            return
        policies = set(task.notify.policies)
        on_failure = NotifyPolicy.EXECUTION_FAILED in policies
        if kind == EventKind.HOST_FINISHED and event.data.get("status") == "failed" and on_failure and event.run_id:
            await self._host_failed(task, event)
        elif kind == EventKind.RUN_FINISHED and event.run_id:
            await self._run_finished(task, event, policies)
        elif kind == EventKind.RUN_STARTED and NotifyPolicy.STARTED in policies:
            await self._run_notice(task, event, NoticeKind.STARTED, "the run started")
        elif kind == EventKind.RUN_PAUSED and NotifyPolicy.PAUSED in policies:
            await self._run_notice(task, event, NoticeKind.PAUSED, event.data.get("reason", "paused"))
        elif kind == EventKind.RUN_PENDING_REVIEW and NotifyPolicy.PENDING_REVIEW in policies:
            await self._run_notice(task, event, NoticeKind.PENDING_REVIEW,
                                   f"waiting for review until {event.data.get('deadline')}")
        elif kind == EventKind.RUN_MISSED and (NotifyPolicy.MISSED in policies or on_failure):
            await self._run_notice(task, event, NoticeKind.MISSED, event.message, alarm=True)
        elif kind == EventKind.RUN_INTERRUPTED and (NotifyPolicy.INTERRUPTED in policies or on_failure):
            await self._run_notice(task, event, NoticeKind.INTERRUPTED, event.message, alarm=True)
        elif kind == EventKind.TASK_BROKEN and (NotifyPolicy.MISSED in policies or on_failure):
            # No run exists: every future slot of the task is missed until someone fixes it.
            await self._run_notice(task, event, NoticeKind.MISSED, event.message, alarm=True)

    async def _host_failed(self, task: Task, event: Event) -> None:
        assert event.run_id is not None
        state = self._runs.setdefault(event.run_id, _RunState(task_id=task.id))
        state.failed_count += 1
        state.total = int(event.data.get("total") or state.total)
        category = event.data.get("category") or "unknown"
        state.categories[category] = state.categories.get(category, 0) + 1
        if len(state.failed) < FIRST_FAILED:
            state.failed.append(FailedHost(event.host or "?", category, event.data.get("reason") or ""))
        if state.detected_at is None:
            state.detected_at = event.at
        if state.timer is not None and not state.timer.done():
            return  # a notice is already due to go out and will carry this failure too
        if not state.first_sent:
            state.timer = asyncio.create_task(self._after(self.coalesce, self._first_failure_notice, event.run_id))
        elif time.monotonic() - state.last_update >= self.update_interval:
            state.timer = asyncio.create_task(self._after(self.coalesce, self._update_notice, event.run_id))

    async def _after(self, seconds: float, action: Any, run_id: str) -> None:
        await self._clock.sleep_until(self._clock.now() + timedelta(seconds=seconds))
        await action(run_id)

    def _failure_notice(self, kind: NoticeKind, task: Task, run_id: str, state: _RunState | None,
                        *, run_state: str | None = None, detail: str = "", level: int = 0) -> Notice:
        return Notice(
            kind=kind, task_name=task.name, task_id=task.id, at=self._clock.now().isoformat(),
            timezone=task.schedule.timezone, run_id=run_id, run_state=run_state,
            failed=state.failed_count if state else 0, total=state.total if state else 0,
            categories=dict(state.categories) if state else {}, first_failed=tuple(state.failed) if state else (),
            detail=detail, logs_command=command_line(self._data_dir, "logs", run_id),
            escalation_level=level)

    async def _first_failure_notice(self, run_id: str) -> None:
        state = self._runs.get(run_id)
        task = self._task_lookup.get(state.task_id) if state else None
        if state is None or task is None or state.first_sent:
            return
        state.first_sent, state.last_update = True, time.monotonic()
        notice = self._failure_notice(NoticeKind.EXECUTION_FAILED, task, run_id, state, run_state="running",
                                      detail="the run is still going: more hosts may fail")
        await self.queue_notice(task, notice, detected_at=state.detected_at, alarm=True)

    async def _update_notice(self, run_id: str) -> None:
        state = self._runs.get(run_id)
        task = self._task_lookup.get(state.task_id) if state else None
        if state is None or task is None:
            return
        state.last_update = time.monotonic()
        notice = self._failure_notice(NoticeKind.UPDATE, task, run_id, state, run_state="running",
                                      detail="more hosts failed since the last notice")
        await self.queue_notice(task, notice, detected_at=state.detected_at)

    async def _run_finished(self, task: Task, event: Event, policies: set[NotifyPolicy]) -> None:
        assert event.run_id is not None
        final = RunState(event.data.get("state", "error"))
        state = self._runs.pop(event.run_id, None)
        if state is not None and state.timer is not None and not state.timer.done():
            state.timer.cancel()
        if final in (RunState.FAILED, RunState.ERROR) and NotifyPolicy.EXECUTION_FAILED in policies:
            run = await self._run_lookup.get(event.run_id)
            state = state or _RunState(task_id=task.id, detected_at=event.at)
            state.total = run.hosts_total
            state.failed_count = run.hosts_failed
            state.categories = dict(run.categories)
            detail = f"run {final.value}" + (f": {run.error}" if run.error else "")
            kind = NoticeKind.SUMMARY if state.first_sent else NoticeKind.EXECUTION_FAILED
            notice = self._failure_notice(kind, task, event.run_id, state, run_state=final.value, detail=detail)
            await self.queue_notice(task, notice, detected_at=state.detected_at or event.at,
                                    alarm=not state.first_sent)
        elif final is RunState.SUCCEEDED:
            if NotifyPolicy.SUCCEEDED in policies:
                await self._run_notice(task, event, NoticeKind.SUCCEEDED, event.message)
            previous = [r for r in await self._run_lookup.newest(task_id=task.id, limit=5) if r.id != event.run_id]
            if previous and previous[0].state in ALARM_STATES and (
                    NotifyPolicy.RECOVERED in policies or NotifyPolicy.EXECUTION_FAILED in policies):
                await self._run_notice(task, event, NoticeKind.RECOVERED,
                                       f"the first successful run after {previous[0].state.value} run "
                                       f"{previous[0].id}")
                for run_id in [r for r, a in self._alarms.items() if a.task_id == task.id]:
                    del self._alarms[run_id]

    async def _run_notice(self, task: Task, event: Event, kind: NoticeKind, detail: str, *,
                          alarm: bool = False) -> None:
        run = await self._run_lookup.get(event.run_id) if event.run_id else None
        state = _RunState(task_id=task.id, total=run.hosts_total if run else 0,
                          failed_count=run.hosts_failed if run else 0,
                          categories=dict(run.categories) if run else {})
        notice = self._failure_notice(kind, task, event.run_id or "", state,
                                      run_state=run.state.value if run else None, detail=detail)
        await self.queue_notice(task, notice, detected_at=event.at, alarm=alarm)

    # ------------------------------------------------------------------ recipients and records

    def recipients(self, task: Task, at: datetime, *, extra_roles: tuple[str, ...] = ()) -> tuple[list[Person], str]:
        """The people to notify for ``task`` at ``at``, and a problem to report when nobody can be found."""
        people: dict[str, Person] = {}
        problems: list[str] = []
        roles = list(task.notify.roles) + [r for r in extra_roles if r not in task.notify.roles]
        if task.notify.scenario:
            for role in roles:
                try:
                    on_duty = self.directory.on_duty(task.notify.scenario, role, at)
                except ValidationError as exc:
                    problems.append(str(exc))
                    continue
                if not on_duty:
                    problems.append(f"nobody is on duty for role {role} of {task.notify.scenario} at {at.isoformat()}")
                for person in on_duty:
                    people.setdefault(person.name, person)
        for name in task.notify.people:
            try:
                person = self.directory.person(name)
            except ValidationError as exc:
                problems.append(str(exc))
                continue
            people.setdefault(person.name, person)
        return list(people.values()), "; ".join(problems)

    def _mode_order(self, task: Task, person: Person) -> list[str]:
        preferred = list(person.modes) or list(DEFAULT_MODE_ORDER)
        configured = self.channels.modes() if self.channels else []
        return [m for m in dict.fromkeys(list(task.notify.modes) + preferred + configured)]

    def _usable(self, mode: str, person: Person) -> bool:
        return self.channels is not None and self.channels.target(mode, person) is not None

    async def queue_notice(self, task: Task, notice: Notice, *, detected_at: str | None, alarm: bool = False,
                           extra_roles: tuple[str, ...] = ()) -> list[OutboxRecord]:
        """Resolve recipients now and record one outbox record per person and mode, then wake the sender."""
        at = datetime.fromisoformat(notice.at)
        people, problem = self.recipients(task, at, extra_roles=extra_roles)
        records: list[OutboxRecord] = []
        for person in people:
            order = self._mode_order(task, person)
            wanted = [m for m in task.notify.modes if self._usable(m, person)]
            if not wanted:
                # None of the task's modes reaches this person: fall back at once to one that does.
                wanted = [m for m in order if self._usable(m, person)][:1]
            if not wanted:
                records.append(self._record(task.id, notice, person.name, "-", detected_at, OutboxStatus.FAILED,
                                            error=self.channels_error or f"no configured channel reaches "
                                            f"{person.name} (modes {', '.join(task.notify.modes)})"))
                continue
            for mode in wanted:
                records.append(self._record(task.id, notice, person.name, mode, detected_at, OutboxStatus.QUEUED,
                                            target=self._masked(mode, person)))
        if not people:
            records.append(self._record(task.id, notice, "-", "-", detected_at, OutboxStatus.FAILED,
                                        error=f"no recipient: {problem or 'the task names no role or person'}"))
        await self._store.call(lambda r: r.outbox.insert_many([rec.to_dict() for rec in records]))
        for record in records:
            if record.status is OutboxStatus.QUEUED:
                self._pending[record.id] = record
                self._events.publish(
                    EventKind.NOTIFICATION_QUEUED, f"{notice.kind.value} notice for {record.person} by "
                                   f"{record.mode} queued", task_id=task.id, run_id=notice.run_id,
                                   data={"notification": record.id, "mode": record.mode, "person": record.person,
                                         "target": record.target, "kind": notice.kind.value})
            else:
                self._events.publish(
                    EventKind.NOTIFICATION_FAILED, f"{notice.kind.value} notice could not be addressed: "
                                   f"{record.error}", task_id=task.id, run_id=notice.run_id,
                                   data={"notification": record.id, "error": record.error})
        if alarm and notice.run_id:
            self._alarms[notice.run_id] = _Alarm(task.id, notice.run_id, at, notice.escalation_level)
        self._wake.set()
        return records

    def _masked(self, mode: str, person: Person) -> str:
        target = self.channels.target(mode, person) if self.channels else None
        return target.masked if target is not None else "-"

    def _record(self, task_id: str, notice: Notice, person: str, mode: str, detected_at: str | None,
                status: OutboxStatus, *, target: str = "-", error: str | None = None,
                tried: list[str] | None = None) -> OutboxRecord:
        return OutboxRecord(id=ids.new_id(ids.NOTICE), created_at=self._clock.now().isoformat(),
                            notice=notice.to_dict(), kind=notice.kind.value, task_id=task_id, run_id=notice.run_id,
                            person=person, mode=mode, target=target, status=status, error=error,
                            detected_at=detected_at, escalation_level=notice.escalation_level,
                            tried_modes=list(tried or []) + ([mode] if mode != "-" else []))

    async def _save(self, record: OutboxRecord) -> None:
        # Status changes ride the engine's next batched write (within flush_interval): only the creation of a
        # record must be on disk before it is sent, and per-change fsyncs would delay the sends behind them.
        self._store.buffer_outbox(record.id, record.to_dict())

    # ------------------------------------------------------------------ sending

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock.now()
            upcoming: datetime | None = None
            for record in list(self._pending.values()):
                if record.id in self._in_flight:
                    continue
                if record.due(now):
                    self._in_flight[record.id] = asyncio.create_task(self._send(record))
                elif record.next_attempt_at:
                    when = datetime.fromisoformat(record.next_attempt_at)
                    upcoming = when if upcoming is None or when < upcoming else upcoming
            wake_at = upcoming or now + timedelta(seconds=30)
            await self._clock.sleep_until(min(wake_at, now + timedelta(seconds=30)), self._wake)

    async def _send(self, record: OutboxRecord) -> None:
        try:
            async with self._send_slots:
                await self._attempt(record)
        finally:
            self._in_flight.pop(record.id, None)
            self._wake.set()

    async def _attempt(self, record: OutboxRecord) -> None:
        notice = Notice.from_dict(record.notice)
        person = self.directory.people.get(record.person)
        target = self.channels.target(record.mode, person) if self.channels and person else None
        record.status = OutboxStatus.SENDING
        await self._save(record)
        started = time.monotonic()
        if target is None:
            ok, status, error = False, "failed", (self.channels_error or
                                                  f"no {record.mode} channel reaches {record.person} any more")
        else:
            data_dir = self._store.data_dir

            def journal() -> None:
                # Called in the sending thread the moment the channel accepts, before its goodbye and before the
                # answer waits for this (busy) loop: a kill from then on must not send the notice again.
                journal_sent(data_dir, record.id, self._clock.now().isoformat())

            result = await deliver(target, notice, timeout=self.send_timeout, on_accepted=journal)
            ok, status, error = result.ok, result.status, result.error
        now = self._clock.now()
        record.record_attempt(Attempt(at=now.isoformat(), ok=ok, status=status, error=error,
                                      seconds=round(time.monotonic() - started, 3)))
        common = {"notification": record.id, "mode": record.mode, "person": record.person, "target": record.target,
                  "kind": record.kind, "attempts": len(record.attempts)}
        if ok:
            # Already in the sent journal: deliver() called journal() when the channel accepted.
            record.status, record.sent_at, record.error = OutboxStatus.SENT, now.isoformat(), None
            if record.detected_at:
                record.latency_s = round((now - datetime.fromisoformat(record.detected_at)).total_seconds(), 3)
            self._pending.pop(record.id, None)
            # Committed now, on its own, not with the next batch (which may be large, or wait behind one being
            # written): a kill before that batch would send this notice again at the next start.
            await self._save(record)
            doc = record.to_dict()
            await self._store.call(lambda r: r.outbox.update_many({record.id: doc}))
            self._events.publish(
                EventKind.NOTIFICATION_SENT, f"{record.kind} notice sent to {record.person} by {record.mode}"
                               + (f" ({record.latency_s:.2f} s after detection)" if record.latency_s is not None
                                  else ""), task_id=record.task_id, run_id=record.run_id,
                               data={**common, "latency_s": record.latency_s})
            return
        record.error = error
        person_modes = self._next_mode(record, person)
        age = (now - datetime.fromisoformat(record.created_at)).total_seconds()
        if record.failures_on_mode() >= self.retry.attempts_per_mode and person_modes:
            record.status = OutboxStatus.FAILED
            fallback = self._record(record.task_id, notice, record.person, person_modes, record.detected_at,
                                    OutboxStatus.QUEUED,
                                    target=self._masked(person_modes, person) if person else "-",
                                    tried=record.tried_modes)
            fallback.fallback_from = record.id
            record.fallback_to = fallback.id
            self._pending.pop(record.id, None)
            await self._save(record)
            await self._store.call(lambda r: r.outbox.insert(fallback.to_dict()))
            self._pending[fallback.id] = fallback
            self._events.publish(EventKind.NOTIFICATION_FALLBACK, f"{record.mode} keeps failing for {record.person} "
                               f"({error}); falling back to {person_modes}", task_id=record.task_id,
                               run_id=record.run_id, data={**common, "error": error, "fallback": fallback.id,
                                                           "fallback_mode": person_modes})
        elif age >= self.retry.give_up_after:
            record.status = OutboxStatus.ABANDONED
            self._pending.pop(record.id, None)
            await self._save(record)
            self._events.publish(EventKind.NOTIFICATION_ABANDONED, f"{record.kind} notice to {record.person} by "
                               f"{record.mode} abandoned after {len(record.attempts)} attempts: {error}",
                               task_id=record.task_id, run_id=record.run_id, data={**common, "error": error})
        else:
            record.status = OutboxStatus.RETRYING
            record.next_attempt_at = (now + self.retry.backoff(record.failures_on_mode())).isoformat()
            await self._save(record)
            self._events.publish(
                EventKind.NOTIFICATION_RETRYING, f"{record.kind} notice to {record.person} by {record.mode} "
                               f"failed ({error}); retrying at {record.next_attempt_at}", task_id=record.task_id,
                               run_id=record.run_id, data={**common, "error": error,
                                                           "next_attempt_at": record.next_attempt_at})

    def _next_mode(self, record: OutboxRecord, person: Person | None) -> str | None:
        if person is None or self.channels is None:
            return None
        task = self._task_lookup.get(record.task_id)
        order = self._mode_order(task, person) if task else list(person.modes) or list(DEFAULT_MODE_ORDER)
        return next((m for m in order if m not in record.tried_modes and self._usable(m, person)), None)

    async def retry_now(self, record_id: str, actor: str) -> OutboxRecord:
        """An operator's "retry now": a failed or abandoned record goes back to the queue, a retrying one
        skips its back-off."""
        doc = await self._store.call(lambda r: r.outbox.get(record_id))
        if doc is None:
            raise ValidationError.single("notification", f"no notification with id {record_id!r}")
        record = self._pending.get(record_id) or OutboxRecord.from_dict(doc)
        if record.status is OutboxStatus.SENT:
            raise ValidationError.single("notification", f"{record_id} was already sent at {record.sent_at}")
        record.status, record.next_attempt_at = OutboxStatus.RETRYING, None
        await self._save(record)
        await self._store.flush()
        self._pending[record.id] = record
        self._events.publish(
            EventKind.NOTIFICATION_RETRY_REQUESTED, f"{actor} asked to retry notification {record_id} now",
                           task_id=record.task_id, run_id=record.run_id, actor=actor,
                           data={"notification": record_id})
        self._wake.set()
        return record

    # ------------------------------------------------------------------ escalation

    async def _escalation_loop(self) -> None:
        while True:
            await self._clock.sleep_until(self._clock.now() + timedelta(seconds=min(10.0, self._check_every())))
            await self.escalate_due()

    def _check_every(self) -> float:
        return max(0.5, self.escalate_after.total_seconds() / 10)

    async def escalate_due(self) -> None:
        # One pass at a time: two overlapping passes would both see an alarm as due and escalate it twice.
        async with self._escalating:
            await self._escalate_due()

    async def _escalate_due(self) -> None:
        now = self._clock.now()
        for alarm in list(self._alarms.values()):
            if now - alarm.notified_at < self.escalate_after:
                continue
            if alarm.level >= self.max_escalations:
                self._alarms.pop(alarm.run_id, None)
                continue
            task = self._task_lookup.get(alarm.task_id)
            try:
                run = await self._run_lookup.get(alarm.run_id)
            except PatchwatchError:
                self._alarms.pop(alarm.run_id, None)
                continue
            if task is None or run.acknowledged_by or await self._recovered_since(alarm):
                self._alarms.pop(alarm.run_id, None)
                continue
            alarm.level += 1
            alarm.notified_at = now
            extra = self._escalation_roles(task, alarm.level)
            state = _RunState(task_id=task.id, total=run.hosts_total, failed_count=run.hosts_failed,
                              categories=dict(run.categories))
            notice = self._failure_notice(NoticeKind.ESCALATION, task, run.id, state, run_state=run.state.value,
                                          detail=f"nobody acknowledged this {run.state.value} run within "
                                                 f"{int(self.escalate_after.total_seconds() // 60)} min",
                                          level=alarm.level)
            await self.queue_notice(task, notice, detected_at=now.isoformat(), extra_roles=extra)
            self._alarms[run.id] = alarm

    def _escalation_roles(self, task: Task, level: int) -> tuple[str, ...]:
        """The roles ``level`` steps further down the scenario's role order than the task's own roles."""
        if not task.notify.scenario or not task.notify.roles:
            return ()
        roles: list[str] = []
        current = task.notify.roles[-1]
        for _ in range(level):
            try:
                nxt = self.directory.next_role(task.notify.scenario, current)
            except ValidationError:
                nxt = None
            if nxt is None:
                break
            roles.append(nxt)
            current = nxt
        return tuple(roles)

    # ------------------------------------------------------------------ test notices

    async def queue_digest(self, scenario: str, role: str, notice: Notice) -> list[OutboxRecord]:
        """Queue a coverage digest for whoever holds ``role`` of ``scenario`` now: one outbox record per person,
        by the first of their modes that a configured channel reaches (like every notice, it is durable before
        it is sent, retried, and traced)."""
        people = self.directory.on_duty(scenario, role, self._clock.now())
        records: list[OutboxRecord] = []
        for person in people:
            mode = next((m for m in self._mode_order_of(person) if self._usable(m, person)), None)
            if mode is None:
                records.append(self._record("-", notice, person.name, "-", notice.at, OutboxStatus.FAILED,
                                            error=self.channels_error or f"no configured channel reaches "
                                            f"{person.name}"))
            else:
                records.append(self._record("-", notice, person.name, mode, notice.at, OutboxStatus.QUEUED,
                                            target=self._masked(mode, person)))
        if records:
            await self._store.call(lambda r: r.outbox.insert_many([rec.to_dict() for rec in records]))
        for record in records:
            if record.status is OutboxStatus.QUEUED:
                self._pending[record.id] = record
                self._events.publish(EventKind.NOTIFICATION_QUEUED, f"coverage digest for {record.person} by "
                                     f"{record.mode} queued", data={"notification": record.id, "mode": record.mode,
                                                                    "person": record.person, "target": record.target,
                                                                    "kind": notice.kind.value})
            else:
                self._events.publish(EventKind.NOTIFICATION_FAILED, f"coverage digest could not be addressed: "
                                     f"{record.error}", data={"notification": record.id, "error": record.error})
        self._wake.set()
        return records

    def _mode_order_of(self, person: Person) -> list[str]:
        """A digest goes by email first (a report to read, not an alarm), then the person's own order."""
        return list(dict.fromkeys(["email", *person.modes, *DEFAULT_MODE_ORDER]))

    async def send_test(self, mode: str, person_name: str, actor: str) -> OutboxRecord:
        """Record and send a test notice now (``patchwatch notify test``); returns the final record."""
        person = self.directory.person(person_name)
        if self.channels is None:
            raise ValidationError.single("--mode", self.channels_error or "no channels configured")
        if mode not in self.channels.modes():
            raise ValidationError.single("--mode", f"no {mode!r} channel in {self.channels_path} (configured: "
                                                   f"{', '.join(self.channels.modes()) or 'none'})")
        if self.channels.target(mode, person) is None:
            raise ValidationError.single("--to", f"{person.name} has no address for {mode}")
        now = self._clock.now()
        notice = Notice(kind=NoticeKind.TEST, task_name="notification test", task_id="-", at=now.isoformat(),
                        timezone="UTC", detail=f"requested by {actor}")
        record = OutboxRecord(id=ids.new_id(ids.NOTICE), created_at=now.isoformat(), notice=notice.to_dict(),
                              kind="test", task_id="-", run_id=None, person=person.name, mode=mode,
                              target=self._masked(mode, person), detected_at=now.isoformat(), tried_modes=[mode])
        await self._store.call(lambda r: r.outbox.insert(record.to_dict()))
        await self._attempt(record)
        if record.status is not OutboxStatus.SENT:
            # A test is one attempt: its result is the answer, it is not retried in the background.
            record.status, record.next_attempt_at = OutboxStatus.FAILED, None
            self._pending.pop(record.id, None)
            await self._save(record)
            self._events.publish(
                EventKind.NOTIFICATION_FAILED, f"test notice to {person.name} by {mode} failed: {record.error}",
                               actor=actor, data={"notification": record.id, "mode": mode, "person": person.name,
                                                  "target": record.target, "kind": "test", "error": record.error})
        return record


_ALARM_NOTICES = frozenset({NoticeKind.EXECUTION_FAILED.value, NoticeKind.MISSED.value,
                            NoticeKind.INTERRUPTED.value, NoticeKind.ESCALATION.value})



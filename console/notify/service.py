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
from console.domain.alarm import Alarm, EscalationPolicy, default_policy
from console.domain.events import Event, EventKind, EventStream
from console.domain.run import Run, RunState
from console.domain.task import NotifyPolicy, Task
from console.errors import PatchwatchError, ValidationError
from console.notify.channels import Channels, load_channels
from console.notify.delivery import deliver
from console.notify.notice import FIRST_FAILED, FailedHost, Notice, NoticeKind
from console.notify.outbox import Attempt, OutboxRecord, OutboxStatus, RetryPolicy
from console.notify.people import Directory, Person
from console.notify.recipients import check_escalation_modes
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


class AlarmLedger(Protocol):
    """The alarm book, as the notifier needs it (console.engine.alarms.AlarmBook)."""

    def record_notified(self, alarm_id: str, people: list[str]) -> None: ...

    def latest_run_of(self, alarm_id: str) -> str | None: ...

    def open_alarms(self) -> list[Alarm]: ...


@dataclass(frozen=True)
class Audience:
    """Who a notice goes to: roles of the task's scenario, people by name, by modes (empty: the task's)."""

    roles: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()


@dataclass
class _RunState:
    """What the service knows about one run while it notifies about its announced failures."""

    task_id: str
    alarm_id: str | None = None
    #: the failures announced since the last notice of this run (named in the next one)
    failed: list[FailedHost] = field(default_factory=list)
    announced: int = 0
    #: the run's failures are the first announcement of their alarm (``execution_failed``, else ``update``)
    first_of_alarm: bool = False
    detected_at: str | None = None
    first_sent: bool = False
    last_update: float = 0.0
    timer: asyncio.Task[None] | None = None


class NotificationService:
    """Engine-internal collaborator: owns the outbox dispatcher and turns events into notices."""

    def __init__(self, store: DataStore, events: EventBus, tasks: TaskLookup, runs: RunLookup, clock: Clock,
                 channels_path: Path | None, *, data_dir: Path, retry: RetryPolicy | None = None,
                 coalesce: float = 0.25, update_interval: float = 60.0, escalate_after: float = 900.0,
                 max_escalations: int = 2, send_timeout: float = 10.0, concurrency: int = 16,
                 ledger: AlarmLedger | None = None) -> None:
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
        #: The alarm book the notices report to (who was notified of an alarm gets its ``recovered``).
        self._ledger = ledger
        self._wake = asyncio.Event()
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
        await self._announce_lost()
        self._queue = self._events.subscribe(capacity=None)
        self._consumer = asyncio.create_task(self._consume(), name="notify-consume")
        self._tasks = [self._consumer, asyncio.create_task(self._dispatch_loop(), name="notify-dispatch")]

    def reload_channels(self) -> None:
        """(Re)read the channels file; a broken file is reported loudly and notices fail visibly."""
        self.channels, self.channels_error = None, None
        if self.channels_path is None or not self.channels_path.exists():
            self.channels_error = (f"no channels file at {self.channels_path}: only people's own apprise URLs "
                                   "can be reached" if self.channels_path else "no channels file configured")
            # Nothing configured is not nothing reachable: the apprise mode needs no section, only people's URLs.
            self.channels = Channels({})
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
                await (self._update_notice(run_id) if state.first_sent else self._first_failure_notice(run_id))

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

    async def _announce_lost(self) -> None:
        """Send the first notice of an alarm that was announced but never became a notice.

        The alarm book commits an announcement with the alarm; the notice follows a coalescing window later. A
        process killed in between left an alarm whose hosts are marked notified and no outbox record names it:
        those failures would never be told. Looked for among alarms announced in the last week (the outbox keeps
        longer than that)."""
        if self._ledger is None:
            return
        horizon = (self._clock.now() - timedelta(days=7)).isoformat()
        lost = [a for a in self._ledger.open_alarms()
                if a.first_notified_at and a.first_notified_at >= horizon]
        if not lost:
            return
        since = min(a.first_notified_at or horizon for a in lost)
        told = {doc.get("notice", {}).get("alarm_id")
                for doc in await self._store.call(lambda r: r.outbox.created_since(since))}
        for alarm in lost:
            task = self._task_lookup.get(alarm.task_id)
            if alarm.id in told or task is None or not task.notify.enabled:
                continue
            hosts = [h for h in alarm.failing_hosts() if h.notified]
            run = await self._run_of(alarm.latest_run)
            notice = self._failure_notice(
                NoticeKind.EXECUTION_FAILED, task, run,
                tuple(FailedHost(h.host, h.category, h.reason) for h in hosts[:FIRST_FAILED]),
                detail=f"announced at {alarm.first_notified_at}, but the process stopped before its notice was "
                       "queued: sent now", alarm_id=alarm.id)
            await self.queue_notice(task, notice, detected_at=alarm.first_notified_at)

    # ------------------------------------------------------------------ people

    async def import_people(self, text: str, source: str, actor: str) -> Directory:
        from console.notify.people import merge, parse_people_toml

        incoming = parse_people_toml(text, source)
        # people.toml cannot see the channels file: a step's mode that no channel provides is refused here.
        check_escalation_modes(incoming, self.channels.modes() if self.channels else ())
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
        if task is None or not task.notify.enabled:
            return
        policies = set(task.notify.policies)
        on_failure = NotifyPolicy.EXECUTION_FAILED in policies
        data = event.data
        if kind == EventKind.ALARM_HOST_FAILING and data.get("announce") and on_failure and event.run_id:
            await self._host_failed(task, event)
        elif kind == EventKind.ALARM_PROBLEM and data.get("announce"):
            await self._problem_notice(task, event, policies)
        elif kind == EventKind.ALARM_UPDATED and event.run_id:
            await self._run_ended(task, event)
        elif kind == EventKind.ALARM_RELEASED and on_failure:
            await self._alarm_notice(task, event, NoticeKind.EXECUTION_FAILED if data.get("first")
                                     else NoticeKind.UPDATE,
                                     f"no silence covers these failures any more: {event.message}",
                                     hosts=list(data.get("hosts") or ()))
        elif kind == EventKind.ALARM_ESCALATED:
            await self._alarm_notice(task, event, NoticeKind.ESCALATION, event.message,
                                     level=int(data.get("level") or 1),
                                     audience=Audience(tuple(data.get("roles") or ()), tuple(data.get("people") or ()),
                                                       tuple(data.get("modes") or ())))
        elif kind in (EventKind.ALARM_REMINDED, EventKind.ALARM_RETRIGGERED):
            await self._alarm_notice(task, event, NoticeKind.REMINDER, event.message)
        elif kind == EventKind.ALARM_RESOLVED and data.get("notified") and (
                NotifyPolicy.RECOVERED in policies or on_failure):
            await self._alarm_notice(task, event, NoticeKind.RECOVERED, event.message,
                                     audience=Audience((), tuple(data.get("notified") or ()), ()))
        elif kind == EventKind.RUN_FINISHED and event.run_id and data.get("state") == RunState.SUCCEEDED.value \
                and NotifyPolicy.SUCCEEDED in policies:
            await self._run_notice(task, event, NoticeKind.SUCCEEDED, event.message)
        elif kind == EventKind.RUN_STARTED and NotifyPolicy.STARTED in policies:
            await self._run_notice(task, event, NoticeKind.STARTED, "the run started")
        elif kind == EventKind.RUN_PAUSED and NotifyPolicy.PAUSED in policies:
            await self._run_notice(task, event, NoticeKind.PAUSED, event.data.get("reason", "paused"))
        elif kind == EventKind.RUN_PENDING_REVIEW and NotifyPolicy.PENDING_REVIEW in policies:
            await self._run_notice(task, event, NoticeKind.PENDING_REVIEW,
                                   f"waiting for review until {event.data.get('deadline')}")

    async def _host_failed(self, task: Task, event: Event) -> None:
        """An announced failure: the first of a run opens a short coalescing window, later ones are rate-limited
        into updates."""
        assert event.run_id is not None
        state = self._runs.setdefault(event.run_id, _RunState(task_id=task.id, alarm_id=event.data.get("alarm")))
        state.first_of_alarm = state.first_of_alarm or bool(event.data.get("first"))
        category = event.data.get("category") or "unknown"
        state.announced += 1
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

    def _failure_notice(self, kind: NoticeKind, task: Task, run: Run | None, failed: tuple[FailedHost, ...],
                        *, detail: str = "", level: int = 0, alarm_id: str | None = None) -> Notice:
        run_id = run.id if run else None
        return Notice(
            kind=kind, task_name=task.name, task_id=task.id, at=self._clock.now().isoformat(),
            timezone=task.schedule.timezone, run_id=run_id, run_state=run.state.value if run else None,
            failed=run.hosts_failed if run else 0, total=run.hosts_total if run else 0,
            categories=dict(run.categories) if run else {}, first_failed=failed,
            detail=detail, logs_command=command_line(self._data_dir, "logs", run_id) if run_id else "",
            escalation_level=level, alarm_id=alarm_id)

    async def _run_of(self, run_id: str | None) -> Run | None:
        if not run_id:
            return None
        try:
            return await self._run_lookup.get(run_id)
        except PatchwatchError:
            return None

    async def _first_failure_notice(self, run_id: str) -> None:
        state = self._runs.get(run_id)
        if state is not None:
            await self._first_notice(run_id, state, final=None)

    async def _first_notice(self, run_id: str, state: _RunState, *, final: str | None) -> None:
        """The run's first notice of its announced failures; ``final`` is the run's end state when the run ended
        inside the coalescing window (the notice then carries its final counts and says so)."""
        task = self._task_lookup.get(state.task_id)
        if task is None or state.first_sent:
            return
        state.first_sent, state.last_update = True, time.monotonic()
        run = await self._run_of(run_id)
        if state.first_of_alarm:
            kind = NoticeKind.EXECUTION_FAILED
            detail = f"run {final}" if final else "the run is still going: more hosts may fail"
        else:
            kind, detail = NoticeKind.UPDATE, f"{state.announced} more host(s) failing in an open alarm"
        notice = self._failure_notice(kind, task, run, tuple(state.failed), detail=detail, alarm_id=state.alarm_id)
        state.failed = []
        await self.queue_notice(task, notice, detected_at=state.detected_at)

    async def _update_notice(self, run_id: str) -> None:
        state = self._runs.get(run_id)
        task = self._task_lookup.get(state.task_id) if state else None
        if state is None or task is None:
            return
        state.last_update = time.monotonic()
        notice = self._failure_notice(NoticeKind.UPDATE, task, await self._run_of(run_id), tuple(state.failed),
                                      detail="more hosts failed since the last notice", alarm_id=state.alarm_id)
        state.failed = []
        await self.queue_notice(task, notice, detected_at=state.detected_at)

    async def _run_ended(self, task: Task, event: Event) -> None:
        """The alarm book has applied a run's end: a run that notified failures gets its summary."""
        assert event.run_id is not None
        state = self._runs.pop(event.run_id, None)
        if state is None:
            return
        if state.timer is not None and not state.timer.done():
            state.timer.cancel()
            if not state.first_sent:
                # The run ended inside the coalescing window: its first notice carries the final counts.
                await self._first_notice(event.run_id, state, final=event.data.get("run_state", "finished"))
                return
        if state.first_sent and NotifyPolicy.EXECUTION_FAILED in task.notify.policies:
            run = await self._run_of(event.run_id)
            final = event.data.get("run_state", "finished")
            notice = self._failure_notice(NoticeKind.SUMMARY, task, run, tuple(state.failed),
                                          detail=f"run {final}" + (f": {run.error}" if run and run.error else ""),
                                          alarm_id=state.alarm_id)
            await self.queue_notice(task, notice, detected_at=state.detected_at or event.at)

    async def _problem_notice(self, task: Task, event: Event, policies: set[NotifyPolicy]) -> None:
        problem = event.data.get("problem")
        on_failure = NotifyPolicy.EXECUTION_FAILED in policies
        if problem == "interrupted" and (NotifyPolicy.INTERRUPTED in policies or on_failure):
            kind = NoticeKind.INTERRUPTED
        elif problem in ("missed", "broken") and (NotifyPolicy.MISSED in policies or on_failure):
            kind = NoticeKind.MISSED
        elif problem == "error" and on_failure:
            kind = NoticeKind.EXECUTION_FAILED
        else:
            return
        await self._alarm_notice(task, event, kind, str(event.data.get("detail") or event.message))

    async def _alarm_notice(self, task: Task, event: Event, kind: NoticeKind, detail: str, *, level: int = 0,
                            hosts: list[str] | None = None, audience: Audience | None = None) -> None:
        """A notice about the alarm as a whole (its latest run's counts), to ``audience`` (default: the
        task's own recipients)."""
        run = await self._run_of(event.run_id)
        if run is None and self._ledger is not None and event.data.get("alarm"):
            run = await self._run_of(self._ledger.latest_run_of(str(event.data["alarm"])))
        failed = tuple(FailedHost(h, "", "") for h in (hosts or ())[:FIRST_FAILED])
        notice = self._failure_notice(kind, task, run, failed, detail=detail, level=level,
                                      alarm_id=event.data.get("alarm"))
        await self.queue_notice(task, notice, detected_at=event.at, audience=audience)

    async def _run_notice(self, task: Task, event: Event, kind: NoticeKind, detail: str) -> None:
        notice = self._failure_notice(kind, task, await self._run_of(event.run_id), (), detail=detail)
        await self.queue_notice(task, notice, detected_at=event.at)

    # ------------------------------------------------------------------ escalation policies

    def policy_for(self, task: Task) -> EscalationPolicy:
        """The escalation policy of ``task``'s shift scenario (people.toml), or the default one: the task's
        recipients again with the next role after ``escalate_after``, ``max_escalations`` times."""
        order: list[str] = []
        if task.notify.scenario:
            try:
                scenario = self.directory.scenario(task.notify.scenario)
            except ValidationError:
                scenario = None
            if scenario is not None:
                if scenario.escalation is not None:
                    return scenario.escalation
                order = [role.name for role in scenario.roles]
        return default_policy(task.notify.roles, task.notify.people, order,
                              escalate_after=int(self.escalate_after.total_seconds()),
                              max_escalations=self.max_escalations)

    # ------------------------------------------------------------------ recipients and records

    def recipients(self, task: Task, at: datetime, *, audience: Audience | None = None) -> tuple[list[Person], str]:
        """The people to notify for ``task`` at ``at`` (its own recipients, or ``audience``), and a problem to
        report when nobody can be found."""
        people: dict[str, Person] = {}
        problems: list[str] = []
        roles = list(audience.roles) if audience else list(task.notify.roles)
        names = list(audience.people) if audience else list(task.notify.people)
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
        for name in names:
            try:
                person = self.directory.person(name)
            except ValidationError as exc:
                problems.append(str(exc))
                continue
            people.setdefault(person.name, person)
        return list(people.values()), "; ".join(problems)

    def _mode_order(self, task: Task, person: Person, modes: tuple[str, ...] = ()) -> list[str]:
        preferred = list(person.modes) or list(DEFAULT_MODE_ORDER)
        configured = self.channels.modes() if self.channels else []
        return [m for m in dict.fromkeys(list(modes or task.notify.modes) + preferred + configured)]

    def _usable(self, mode: str, person: Person) -> bool:
        return self.channels is not None and self.channels.target(mode, person) is not None

    async def queue_notice(self, task: Task, notice: Notice, *, detected_at: str | None,
                           audience: Audience | None = None) -> list[OutboxRecord]:
        """Resolve recipients now and record one outbox record per person and mode, then wake the sender."""
        at = datetime.fromisoformat(notice.at)
        people, problem = self.recipients(task, at, audience=audience)
        modes = (audience.modes if audience else ()) or task.notify.modes
        records: list[OutboxRecord] = []
        for person in people:
            order = self._mode_order(task, person, modes)
            wanted = [m for m in modes if self._usable(m, person)]
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
        if notice.alarm_id and self._ledger is not None:
            self._ledger.record_notified(notice.alarm_id, [p.name for p in people])
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



"""The alarm book: turns runs into alarms with a lifecycle, keeps silences, and times escalation and reminders.

It reads the engine's own event stream (uncommitted, like every engine service) and is the one place where a
failed host, a missed slot or an interrupted run becomes part of an alarm (``console.domain.alarm``): one per
task and failure episode. Every change it makes is published as an ``alarm.*`` or ``silence.*`` event, and the
alarm's new state is buffered with that event, so the two are committed in the same batch.

It decides *whether* a failure is announced (the alarm is open, not acknowledged; the host failed
``notify.after_consecutive`` runs in a row; no silence covers it; it was not announced before in this episode)
and *when* an escalation step, a reminder, an acknowledgement's time-out or the end of a silence is due. The
notifier (``console.notify.service``) turns the announcing events into notices and decides who receives them;
without a notifier (a read-only console, a test) alarms still open, update and resolve.

Why one module of this length: the rules that move an alarm (events), the commands on it (acknowledge,
silence) and its timers (escalation, reminders, acknowledgement time-outs, silence ends) all read and write
the same alarms under one lock; split apart, each would need the others' state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from console.clock import Clock
from console.domain import ids
from console.domain.alarm import (
    Alarm,
    AlarmState,
    EscalationPolicy,
    ResolvedReason,
    RunProblem,
    Silence,
    check_silence,
)
from console.domain.events import Event, EventKind, EventStream
from console.domain.run import HostStatus, RunState
from console.domain.task import Task
from console.domain.taxonomy import Category
from console.engine.broker import EventBroker
from console.engine.tasks import TaskCatalogue
from console.errors import ConflictError, NotFoundError
from console.store.datastore import DataStore

T = TypeVar("T")

#: Longest the timer sleeps between checks (a silence or an escalation added meanwhile wakes it at once).
MAX_SLEEP_S = 30.0
#: Run states after which a task has completed a run: a standing run-level problem is over.
_COMPLETED = {RunState.SUCCEEDED.value, RunState.FAILED.value}
_RUN_PROBLEMS = {EventKind.RUN_MISSED: RunProblem.MISSED, EventKind.RUN_INTERRUPTED: RunProblem.INTERRUPTED,
                 EventKind.RUN_ERROR: RunProblem.ERROR, EventKind.TASK_BROKEN: RunProblem.BROKEN}


def _by_reference(items: dict[str, T], reference: str, what: str) -> T:
    """The item with id ``reference``, or the one whose id ends with it (6 characters at least: what tables
    show); an unknown or ambiguous reference is not found."""
    found = items.get(reference)
    if found is not None:
        return found
    matches = [item for key, item in items.items() if key.endswith(reference)] if len(reference) >= 6 else []
    if len(matches) != 1:
        raise NotFoundError(f"no {what} with id {reference!r}" + (" (several end so: give more of it)"
                                                                   if len(matches) > 1 else ""))
    return matches[0]


@dataclass
class _RunTally:
    """What one run changed in its alarm, reported in one ``alarm.updated`` when it ends."""

    alarm_id: str
    new_failing: int = 0
    recovered: int = 0
    announced: int = 0


class AlarmBook:
    """Engine service: every alarm and silence, the rules that move them, and their timers."""

    def __init__(self, store: DataStore, broker: EventBroker, clock: Clock, tasks: TaskCatalogue) -> None:
        self._store = store
        self._broker = broker
        self._clock = clock
        self._tasks = tasks
        self._alarms: dict[str, Alarm] = {}
        self._open_by_task: dict[str, str] = {}
        self._silences: dict[str, Silence] = {}
        #: Silences that were muting at the last check: the end of one is announced once.
        self._muting: set[str] = set()
        self._tallies: dict[str, _RunTally] = {}
        #: Alarm changes published so far (the timer commits at once when a pass changed something).
        self._changes = 0
        #: The escalation policy of a task (the notifier's, from people.toml), or None: nothing escalates.
        self.policy_for: Callable[[Task], EscalationPolicy | None] | None = None
        self._wake = asyncio.Event()
        self._queue: EventStream | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._handling = asyncio.Lock()

    # ------------------------------------------------------------------ life cycle

    async def load(self) -> None:
        for doc in await self._store.call(lambda r: r.alarms.all()):
            alarm = Alarm.from_dict(doc)
            self._alarms[alarm.id] = alarm
            if alarm.is_open:
                self._open_by_task[alarm.task_id] = alarm.id
        for doc in await self._store.call(lambda r: r.silences.all()):
            silence = Silence.from_dict(doc)
            self._silences[silence.id] = silence
        now = self._clock.now()
        self._muting = {s.id for s in self._silences.values() if s.active(now)}

    def start(self) -> None:
        """Listen to the engine's events and run the timers (a writable engine only)."""
        self._queue = self._broker.subscribe(capacity=None)
        self._workers = [asyncio.create_task(self._consume(), name="alarms-consume"),
                         asyncio.create_task(self._timer_loop(), name="alarms-timers")]

    async def drain(self) -> None:
        """Apply every event already published (before shutdown), then stop listening."""
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []
        if self._queue is not None:
            while not self._queue.empty():
                self._apply(self._queue.get_nowait())
            self._queue.close()
            self._queue = None

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            async with self._handling:
                self._apply(event)

    # ------------------------------------------------------------------ reading

    def open_alarms(self) -> list[Alarm]:
        return sorted((self._alarms[i] for i in self._open_by_task.values()), key=lambda a: a.opened_at,
                      reverse=True)

    def list_alarms(self, *, include_resolved: bool = False, limit: int = 200) -> list[Alarm]:
        alarms = [a for a in self._alarms.values() if include_resolved or a.is_open]
        return sorted(alarms, key=lambda a: a.opened_at, reverse=True)[:max(0, limit)]

    def get(self, alarm_id: str) -> Alarm:
        return _by_reference(self._alarms, alarm_id, "alarm")

    def open_alarm_of(self, task_id: str) -> Alarm | None:
        alarm_id = self._open_by_task.get(task_id)
        return self._alarms[alarm_id] if alarm_id else None

    def silences(self, *, include_ended: bool = False) -> list[Silence]:
        now = self._clock.now()
        found = [s for s in self._silences.values()
                 if include_ended or datetime.fromisoformat(s.effective_end) > now]
        return sorted(found, key=lambda s: s.starts_at)

    def silence_of(self, task_id: str, host: str | None, category: str | None,
                   at: datetime | None = None) -> Silence | None:
        """The active silence that covers this failure, if any."""
        when = at or self._clock.now()
        return next((s for s in self._silences.values() if s.active(when) and s.matches(task_id, host, category)),
                    None)

    # ------------------------------------------------------------------ commands

    async def acknowledge(self, alarm_id: str, *, actor: str, note: str | None = None) -> Alarm:
        async with self._handling:
            alarm = self.get(alarm_id)
            if alarm.state is AlarmState.RESOLVED:
                raise ConflictError(f"alarm {alarm.id} is resolved ({alarm.resolved_reason}): nothing to "
                                    "acknowledge")
            if alarm.state is AlarmState.ACKNOWLEDGED:
                raise ConflictError(f"alarm {alarm.id} was already acknowledged by {alarm.acknowledged_by} at "
                                    f"{alarm.acknowledged_at}")
            self._acknowledge(alarm, actor, note)
        await self._store.flush()
        return alarm

    def _acknowledge(self, alarm: Alarm, actor: str, note: str | None) -> None:
        now = self._clock.now()
        task = self._tasks.get(alarm.task_id)
        policy = self.policy_for(task) if self.policy_for and task else None
        expires = (now + timedelta(seconds=policy.ack_timeout)).isoformat() if policy and policy.ack_timeout \
            else None
        alarm.acknowledge(actor, now.isoformat(), note, expires)
        self._changed(alarm, EventKind.ALARM_ACKNOWLEDGED, f"alarm of {alarm.task_name} acknowledged by {actor}"
                      + (f" until {expires}" if expires else ""), actor=actor,
                      data={"note": note, "expires_at": expires})

    async def add_silence(self, *, actor: str, reason: str, ends_at: datetime, starts_at: datetime | None = None,
                          task_ref: str | None = None, host: str | None = None,
                          category: str | None = None) -> Silence:
        now = self._clock.now()
        start = starts_at or now
        task = self._tasks.find(task_ref) if task_ref else None
        check_silence(host=host, category=category, task_id=task.id if task else None, starts_at=start,
                      ends_at=ends_at, reason=reason, categories=tuple(c.value for c in Category))
        silence = Silence(id=ids.new_id("sil"), created_by=actor, created_at=now.isoformat(),
                          starts_at=start.isoformat(), ends_at=ends_at.isoformat(), reason=reason.strip(),
                          task_id=task.id if task else None, task_name=task.name if task else None, host=host,
                          category=category)
        async with self._handling:
            await self._store.call(lambda r: r.silences.put(silence.to_dict()))
            self._silences[silence.id] = silence
            covered = sorted({a.id for a in self.open_alarms()
                              if any(silence.matches(a.task_id, h.host, h.category) for h in a.failing_hosts())})
            self._broker.publish(EventKind.SILENCE_CREATED, f"silence {silence.id} by {actor} until "
                                 f"{silence.ends_at}: {silence.describe()} ({silence.reason})",
                                 task_id=silence.task_id, actor=actor,
                                 data={**self._silence_data(silence), "alarms": covered})
        self._wake.set()
        await self._store.flush()
        return silence

    async def expire_silence(self, silence_id: str, *, actor: str) -> Silence:
        async with self._handling:
            silence = _by_reference(self._silences, silence_id, "silence")
            now = self._clock.now()
            if datetime.fromisoformat(silence.effective_end) <= now:
                raise ConflictError(f"silence {silence.id} already ended at {silence.effective_end}")
            silence = replace(silence, expired_by=actor, expired_at=now.isoformat())
            await self._store.call(lambda r: r.silences.put(silence.to_dict()))
            self._silences[silence.id] = silence
            self._broker.publish(EventKind.SILENCE_EXPIRED, f"silence {silence.id} expired early by {actor}",
                                 task_id=silence.task_id, actor=actor, data=self._silence_data(silence))
            self._check_silences(now)
        await self._store.flush()
        return silence

    @staticmethod
    def _silence_data(silence: Silence) -> dict[str, object]:
        return {"silence": silence.id, "task": silence.task_name, "host": silence.host, "category": silence.category,
                "starts_at": silence.starts_at, "ends_at": silence.effective_end, "reason": silence.reason}

    # ------------------------------------------------------------------ events -> alarms

    def _apply(self, event: Event) -> None:
        kind, task_id = event.kind, event.task_id
        if task_id is None or (isinstance(kind, str) and kind.startswith(("alarm.", "silence.", "notification."))):
            return
        if kind in (EventKind.TASK_DELETED, EventKind.TASK_DISABLED):
            alarm = self.open_alarm_of(task_id)
            if alarm is not None:
                reason = ResolvedReason.TASK_DELETED if kind == EventKind.TASK_DELETED else ResolvedReason.TASK_DISABLED
                self._resolve(alarm, reason)
            return
        if kind == EventKind.HOST_FINISHED and event.run_id and event.host:
            status = event.data.get("status")
            if status == HostStatus.FAILED.value:
                self._host_failed(event)
            elif status == HostStatus.OK.value:
                self._host_ok(event)
        elif kind == EventKind.RUN_FINISHED and event.run_id:
            self._run_finished(event)
        elif kind in _RUN_PROBLEMS:
            self._run_problem(event, _RUN_PROBLEMS[EventKind(kind)])
        elif kind == EventKind.RUN_ACKNOWLEDGED:
            # Acknowledging a run of an alarm's task takes the alarm (what the run's failures are part of).
            alarm = self.open_alarm_of(task_id)
            if alarm is not None and alarm.state is AlarmState.OPEN:
                self._acknowledge(alarm, event.actor or "?", event.data.get("note"))

    def _alarm_for(self, event: Event, cause: str) -> tuple[Alarm, Task | None]:
        assert event.task_id is not None
        task = self._tasks.get(event.task_id)
        alarm = self.open_alarm_of(event.task_id)
        if alarm is None:
            alarm = Alarm(id=ids.new_id("alm"), task_id=event.task_id, task_name=task.name if task else "?",
                          opened_at=event.at, opened_by_run=event.run_id)
            self._alarms[alarm.id] = alarm
            self._open_by_task[alarm.task_id] = alarm.id
            self._changed(alarm, EventKind.ALARM_OPENED, f"alarm opened for {alarm.task_name} ({cause})",
                          run_id=event.run_id, data={"cause": cause})
        return alarm, task

    def _host_failed(self, event: Event) -> None:
        assert event.run_id is not None and event.host is not None
        alarm, task = self._alarm_for(event, "failed")
        category = event.data.get("category") or "unknown"
        reason = event.data.get("reason") or ""
        new = alarm.host_failed(event.host, category, reason, event.run_id, event.at)
        tally = self._tally(event.run_id, alarm)
        tally.new_failing += int(new)
        host = alarm.hosts[event.host]
        silence = self.silence_of(alarm.task_id, event.host, category)
        after = task.notify.after_consecutive if task else 1
        due = not host.notified and host.consecutive >= after
        announce = due and silence is None and alarm.state is AlarmState.OPEN
        newly_held = due and silence is not None and not host.held
        host.held = due and silence is not None
        first = False
        if announce:
            first = self._announce(alarm, task)
            host.notified = True
            tally.announced += 1
        if new or announce or newly_held:
            detail = (f"withheld by silence {silence.id}" if host.held and silence else
                      "newly failing" if new else f"failed {host.consecutive} runs in a row")
            self._changed(alarm, EventKind.ALARM_HOST_FAILING, f"{event.host} {detail} ({category})",
                          run_id=event.run_id, host=event.host,
                          data={"category": category, "reason": reason, "consecutive": host.consecutive,
                                "announce": announce, "first": first, "silence": silence.id if silence else None})
        else:
            self._store.buffer_alarm(alarm.id, alarm.to_dict())

    def _host_ok(self, event: Event) -> None:
        assert event.run_id is not None and event.host is not None and event.task_id is not None
        alarm = self.open_alarm_of(event.task_id)
        if alarm is None or not alarm.host_succeeded(event.host, event.run_id, event.at):
            return
        self._tally(event.run_id, alarm).recovered += 1
        self._changed(alarm, EventKind.ALARM_HOST_RECOVERED, f"{event.host} succeeded again",
                      run_id=event.run_id, host=event.host)

    def _run_problem(self, event: Event, problem: RunProblem) -> None:
        alarm, task = self._alarm_for(event, problem.value)
        detail = event.message
        new = alarm.run_problem(problem, detail, event.run_id)
        if not new:
            self._store.buffer_alarm(alarm.id, alarm.to_dict())
            return
        silence = self.silence_of(alarm.task_id, None, None)
        announce = silence is None and alarm.state is AlarmState.OPEN
        alarm.problem_held = silence is not None
        first = False
        if announce:
            first = self._announce(alarm, task)
            alarm.problem_notified = True
        self._changed(alarm, EventKind.ALARM_PROBLEM, f"{alarm.task_name}: {problem.value}: {detail}",
                      run_id=event.run_id, data={"problem": problem.value, "detail": detail, "announce": announce,
                                                 "first": first, "silence": silence.id if silence else None})
        if event.run_id:
            self._close_tally(alarm, event.run_id, problem.value)

    def _run_finished(self, event: Event) -> None:
        assert event.run_id is not None and event.task_id is not None
        state = event.data.get("state", "")
        alarm = self.open_alarm_of(event.task_id)
        if state == RunState.ERROR.value:
            self._run_problem(event, RunProblem.ERROR)
            return
        if alarm is None:
            return
        if state in _COMPLETED:
            alarm.run_completed(event.run_id)
        self._close_tally(alarm, event.run_id, state)
        if alarm.is_clear():
            self._resolve(alarm, ResolvedReason.RECOVERED)

    def _close_tally(self, alarm: Alarm, run_id: str, run_state: str) -> None:
        tally = self._tallies.pop(run_id, None) or _RunTally(alarm.id)
        failing = len(alarm.failing_hosts())
        self._changed(alarm, EventKind.ALARM_UPDATED, f"run {run_id} {run_state}: {failing} host(s) still failing, "
                      f"{tally.new_failing} newly, {tally.recovered} recovered", run_id=run_id,
                      data={"run_state": run_state, "failing": failing, "recovered": tally.recovered,
                            "new_failing": tally.new_failing, "announced": tally.announced})

    def _tally(self, run_id: str, alarm: Alarm) -> _RunTally:
        return self._tallies.setdefault(run_id, _RunTally(alarm.id))

    def _announce(self, alarm: Alarm, task: Task | None) -> bool:
        """Something of ``alarm`` is being notified now; True if it is the alarm's first announcement (then its
        escalation and reminders are scheduled from now)."""
        now = self._clock.now()
        first = alarm.first_notified_at is None
        alarm.first_notified_at = alarm.first_notified_at or now.isoformat()
        alarm.last_notified_at = now.isoformat()
        if first:
            self._schedule(alarm, task, now)
        return first

    def _schedule(self, alarm: Alarm, task: Task | None, now: datetime) -> None:
        policy = self.policy_for(task) if self.policy_for and task else None
        alarm.escalation_step = alarm.escalation_pass = 0
        alarm.next_escalation_at = alarm.next_repeat_at = None
        if policy is None:
            return
        if policy.steps:
            alarm.next_escalation_at = (now + timedelta(seconds=policy.steps[0].after)).isoformat()
        if policy.repeat:
            alarm.next_repeat_at = (now + timedelta(seconds=policy.repeat)).isoformat()
        self._wake.set()

    def _resolve(self, alarm: Alarm, reason: ResolvedReason) -> None:
        alarm.resolve(self._clock.now().isoformat(), reason)
        self._open_by_task.pop(alarm.task_id, None)
        self._changed(alarm, EventKind.ALARM_RESOLVED, f"alarm of {alarm.task_name} resolved: {reason.value}",
                      data={"resolved_reason": reason.value, "notified": list(alarm.notified_people)})

    def latest_run_of(self, alarm_id: str) -> str | None:
        alarm = self._alarms.get(alarm_id)
        return alarm.latest_run if alarm else None

    def record_notified(self, alarm_id: str, people: list[str]) -> None:
        """The notifier queued a notice of this alarm for ``people`` (its ``recovered`` notice goes to them)."""
        alarm = self._alarms.get(alarm_id)
        if alarm is not None and any(p not in alarm.notified_people for p in people):
            alarm.notified(people, alarm.last_notified_at or self._clock.now().isoformat())
            self._store.buffer_alarm(alarm.id, alarm.to_dict())

    def _changed(self, alarm: Alarm, kind: EventKind, message: str, *, run_id: str | None = None,
                 host: str | None = None, actor: str | None = None, data: dict[str, object] | None = None) -> None:
        # The alarm's state first, then its event: both go out in the same batch of the data store.
        self._changes += 1
        self._store.buffer_alarm(alarm.id, alarm.to_dict())
        self._broker.publish(kind, message, task_id=alarm.task_id, run_id=run_id, host=host, actor=actor,
                             data={"alarm": alarm.id, **(data or {})})

    # ------------------------------------------------------------------ timers

    async def _timer_loop(self) -> None:
        while True:
            self._wake.clear()
            async with self._handling:
                before = self._changes
                wake_at = self.check_timers()
                if self._changes != before:
                    # Committed before the notifier can queue the notices these changes call for (the store
                    # writes in submission order): a kill in between loses no step, and none is taken twice.
                    await self._store.flush()
            now = self._clock.now()
            await self._clock.sleep_until(min(wake_at, now + timedelta(seconds=MAX_SLEEP_S)), self._wake)

    def check_timers(self) -> datetime:
        """Take every step that is due now; return when the next one is due."""
        now = self._clock.now()
        self._check_silences(now)
        for alarm in list(self.open_alarms()):
            task = self._tasks.get(alarm.task_id)
            policy = self.policy_for(task) if self.policy_for and task else None
            if alarm.state is AlarmState.ACKNOWLEDGED and alarm.ack_expires_at and \
                    datetime.fromisoformat(alarm.ack_expires_at) <= now:
                self._retrigger(alarm, task, now)
            if alarm.state is not AlarmState.OPEN or policy is None:
                continue
            if alarm.next_escalation_at and datetime.fromisoformat(alarm.next_escalation_at) <= now:
                self._escalate(alarm, policy, now)
            if alarm.next_repeat_at and datetime.fromisoformat(alarm.next_repeat_at) <= now and policy.repeat:
                alarm.next_repeat_at = (now + timedelta(seconds=policy.repeat)).isoformat()
                alarm.last_notified_at = now.isoformat()
                self._changed(alarm, EventKind.ALARM_REMINDED, f"alarm of {alarm.task_name} still open and "
                              f"unacknowledged: {alarm.summary()}", data={"failing": len(alarm.failing_hosts())})
        return self._next_due(now)

    def _escalate(self, alarm: Alarm, policy: EscalationPolicy, now: datetime) -> None:
        step = policy.steps[alarm.escalation_step]
        level = alarm.escalation_pass * len(policy.steps) + alarm.escalation_step + 1
        alarm.escalation_step += 1
        if alarm.escalation_step < len(policy.steps):
            alarm.next_escalation_at = (now + timedelta(seconds=policy.steps[alarm.escalation_step].after)).isoformat()
        elif alarm.escalation_pass < policy.loops:
            alarm.escalation_pass += 1
            alarm.escalation_step = 0
            alarm.next_escalation_at = (now + timedelta(seconds=policy.steps[0].after)).isoformat()
        else:
            alarm.next_escalation_at = None
        alarm.last_notified_at = now.isoformat()
        self._changed(alarm, EventKind.ALARM_ESCALATED, f"alarm of {alarm.task_name} unacknowledged: escalation "
                      f"step {level} to {', '.join([*step.roles, *step.people])}",
                      data={"step": alarm.escalation_step, "loop": alarm.escalation_pass, "level": level,
                            "roles": list(step.roles), "people": list(step.people), "modes": list(step.modes)})

    def _retrigger(self, alarm: Alarm, task: Task | None, now: datetime) -> None:
        who = alarm.acknowledged_by
        alarm.retrigger()
        for host in alarm.failing_hosts():
            host.notified, host.held = True, False
        self._schedule(alarm, task, now)
        alarm.last_notified_at = now.isoformat()
        self._changed(alarm, EventKind.ALARM_RETRIGGERED, f"acknowledgement by {who} timed out: alarm of "
                      f"{alarm.task_name} is open again ({alarm.summary()})", data={"acknowledged_by": who})

    def _check_silences(self, now: datetime) -> None:
        muting = {s.id for s in self._silences.values() if s.active(now)}
        for ended in sorted(self._muting - muting):
            silence = self._silences[ended]
            if datetime.fromisoformat(silence.effective_end) <= now and not silence.expired_at:
                self._broker.publish(EventKind.SILENCE_ENDED, f"silence {silence.id} ended: {silence.describe()}",
                                     task_id=silence.task_id, data=self._silence_data(silence))
        self._muting = muting
        for alarm in self.open_alarms():
            self._release(alarm, now)

    def _release(self, alarm: Alarm, now: datetime) -> None:
        """Announce the failures a silence held back once no silence covers them (the alarm still open)."""
        released = [h for h in alarm.failing_hosts()
                    if h.held and self.silence_of(alarm.task_id, h.host, h.category, now) is None]
        problem = alarm.problem is not None and alarm.problem_held and self.silence_of(alarm.task_id, None, None,
                                                                                        now) is None
        if not released and not problem:
            return
        for host in released:
            host.held = False
        alarm.problem_held = False
        if alarm.state is not AlarmState.OPEN:
            self._store.buffer_alarm(alarm.id, alarm.to_dict())
            return
        for host in released:
            host.notified = True
        alarm.problem_notified = alarm.problem_notified or problem
        first = self._announce(alarm, self._tasks.get(alarm.task_id))
        names = [h.host for h in released]
        self._changed(alarm, EventKind.ALARM_RELEASED, f"no silence covers {len(names)} failing host(s)"
                      + (" and the run-level problem" if problem else "") + f" of {alarm.task_name} any more",
                      data={"hosts": names, "problem": alarm.problem.value if problem and alarm.problem else None,
                            "first": first, "announce": True})

    def _next_due(self, now: datetime) -> datetime:
        times: list[datetime] = []
        for alarm in self.open_alarms():
            for value in (alarm.next_escalation_at, alarm.next_repeat_at, alarm.ack_expires_at):
                if value:
                    times.append(datetime.fromisoformat(value))
        for silence in self._silences.values():
            for value in (silence.starts_at, silence.effective_end):
                when = datetime.fromisoformat(value)
                if when > now:
                    times.append(when)
        return max(now, min(times)) if times else now + timedelta(seconds=MAX_SLEEP_S)

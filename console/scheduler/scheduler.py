"""The asyncio loop that fires tasks at their times, in each task's zone, across restarts.

Guarantees:
- each slot fires at most once: before a slot fires, a run record naming it (``slot_through``) is stored,
  and at start-up the persisted next fire is moved past the newest slot any run of the task accounts for;
- slots the process could not fire in time (downtime, a blocked loop) are never fired late: each task gets
  ONE ``missed`` record listing them, then, per task, nothing more (``skip``) or one run now (``run_once``);
- expired tasks stop firing and an event says so once; reviews that nobody answered expire;
- one task never stops the others: a task whose schedule cannot be computed (an exception from its dates or
  its fire) is marked broken in its schedule state with the reason (event ``task.broken``, notified like a
  missed run), no longer fires until it is changed, and every other task fires on time.
Time comes from the injected clock, so tests drive months of schedule in moments.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any, Protocol

from console.clock import Clock
from console.domain.events import EventKind
from console.domain.run import Run, Trigger
from console.domain.task import MissedPolicy, Task
from console.errors import StoreError
from console.scheduler.planning import due_slots

#: The loop wakes at least this often even when nothing is due, so a clock jump (suspend, NTP step) is
#: noticed within a minute.
MAX_SLEEP = timedelta(seconds=60)


class SchedulerHost(Protocol):
    """What the scheduler needs from the engine: the tasks and their schedule state, and the run coordinator's
    fire, missed and review-expiry operations. The engine builds one; the scheduler never sees the engine."""

    clock: Clock
    misfire_grace: timedelta

    def task_snapshot(self) -> list[Task]: ...

    async def schedule_state(self, task_id: str) -> dict[str, Any]: ...

    async def put_schedule_state(self, task_id: str, **fields: Any) -> dict[str, Any]: ...

    async def latest_run(self, task_id: str) -> Run | None: ...

    async def fire(self, task: Task, *, trigger: Trigger, actor: str, slot: datetime | None = None) -> Run: ...

    async def record_missed(self, task: Task, slots: list[datetime], count: int, *, capped: bool) -> Run: ...

    async def expire_reviews(self) -> datetime | None: ...

    def publish(self, kind: EventKind, message: str, *, task_id: str | None = None,
                actor: str | None = None, data: dict[str, Any] | None = None) -> object: ...

    async def flush(self) -> None: ...

    def executing(self) -> bool: ...

    async def idle(self) -> None: ...


class Scheduler:
    """Fires the enabled tasks of one engine. Start with :meth:`run_forever` (or drive :meth:`tick`)."""

    def __init__(self, host: SchedulerHost) -> None:
        self._host = host
        self._clock = host.clock
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._next_fire: dict[str, datetime | None] = {}
        #: Set while the loop sleeps with nothing to do (tests wait on it after moving a manual clock).
        self._sleeping = asyncio.Event()

    def wake(self) -> None:
        """Re-plan now (a task was created, changed or deleted)."""
        self._wake.set()

    async def start(self) -> None:
        """Load the persisted next fires; guard against firing a slot a run already accounts for."""
        now = self._clock.now()
        for task in self._host.task_snapshot():
            try:
                await self._start_task(task, now)
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - one task must never stop the scheduler
                await self._mark_broken(task, exc)
        self._host.publish(EventKind.SCHEDULER_STARTED, f"scheduler started with {len(self._next_fire)} tasks",
                           actor="scheduler")

    async def _start_task(self, task: Task, now: datetime) -> None:
        state = await self._host.schedule_state(task.id)
        if state.get("broken"):
            self._next_fire[task.id] = None
            return
        raw = state.get("next_fire")
        next_fire = datetime.fromisoformat(raw) if raw else None
        if "next_fire" not in state and task.enabled:
            next_fire = task.schedule.next_after(now)
        latest = await self._host.latest_run(task.id)
        if next_fire is not None and latest is not None and latest.slot_through:
            handled = datetime.fromisoformat(latest.slot_through)
            if next_fire <= handled:
                next_fire = task.schedule.next_after(handled)
        self._next_fire[task.id] = next_fire if task.enabled else None
        await self._host.put_schedule_state(task.id, next_fire=next_fire)

    async def _mark_broken(self, task: Task, exc: Exception) -> None:
        """Stop firing ``task`` and say why, loudly and once; the loop goes on with the others."""
        reason = f"{type(exc).__name__}: {exc}"[:300]
        self._next_fire[task.id] = None
        await self._host.put_schedule_state(task.id, next_fire=None, broken=reason)
        self._host.publish(EventKind.TASK_BROKEN, f"task {task.name} cannot be scheduled and no longer fires "
                           f"until it is changed: {reason}", task_id=task.id, actor="scheduler",
                           data={"reason": reason})
        await self._host.flush()

    async def tick(self) -> datetime:
        """Handle everything due at the clock's now; return when the loop should wake next."""
        now = self._clock.now()
        wake_at = now + MAX_SLEEP
        for task in sorted(self._host.task_snapshot(), key=lambda t: t.name):
            try:
                next_fire = await self._handle_task(task, now)
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - one task must never stop the scheduler
                await self._mark_broken(task, exc)
                continue
            if next_fire is not None and next_fire < wake_at:
                wake_at = next_fire
        review_deadline = await self._host.expire_reviews()
        if review_deadline is not None and review_deadline < wake_at:
            wake_at = review_deadline
        return wake_at

    async def _handle_task(self, task: Task, now: datetime) -> datetime | None:
        engine = self._host
        if task.id not in self._next_fire:
            # Created or changed since start(): the engine stored its next fire.
            state = await engine.schedule_state(task.id)
            raw = state.get("next_fire")
            self._next_fire[task.id] = datetime.fromisoformat(raw) if raw else None
        if not task.enabled:
            self._next_fire[task.id] = None
            return None
        state = await engine.schedule_state(task.id)
        if state.get("broken"):
            self._next_fire[task.id] = None
            return None
        if task.schedule.is_expired(now):
            if not state.get("expired"):
                self._next_fire[task.id] = None
                await engine.put_schedule_state(task.id, next_fire=None, expired=True)
                engine.publish(EventKind.TASK_EXPIRED, f"task {task.name} expired at {task.schedule.expires}: it no "
                             "longer fires", task_id=task.id, actor="scheduler")
                await engine.flush()
            return None
        raw = state.get("next_fire")
        next_fire = datetime.fromisoformat(raw) if raw else None
        if next_fire is None or next_fire > now:
            self._next_fire[task.id] = next_fire
            return next_fire
        due = due_slots(task.schedule, next_fire, now, engine.misfire_grace)
        if due.missed:
            await engine.record_missed(task, due.missed, due.missed_count, capped=due.missed_capped)
        for slot in due.on_time:
            await engine.fire(task, trigger=Trigger.SCHEDULE, actor="scheduler", slot=slot)
        if due.missed and not due.on_time and task.schedule.on_missed is MissedPolicy.RUN_ONCE:
            await engine.fire(task, trigger=Trigger.CATCH_UP, actor="scheduler")
        self._next_fire[task.id] = due.next_fire
        await engine.put_schedule_state(task.id, next_fire=due.next_fire)
        return due.next_fire

    async def run_forever(self) -> None:
        """The loop: tick, sleep until the next due time (or a wake-up), repeat. Cancel to stop."""
        await self.start()
        while True:
            self._wake.clear()
            wake_at = await self.tick()
            if self._wake.is_set():
                continue
            self._sleeping.set()
            try:
                await self._clock.sleep_until(wake_at, self._wake)
            finally:
                self._sleeping.clear()

    async def settled(self) -> None:
        """Return once the loop has handled everything due and no run is executing."""
        for _ in range(20):
            await asyncio.sleep(0)
        while not self._sleeping.is_set() or self._host.executing():
            await asyncio.sleep(0.001)
        await self._host.idle()

    def start_background(self) -> asyncio.Task[None]:
        self._loop_task = asyncio.create_task(self.run_forever(), name="patchwatch-scheduler")
        return self._loop_task

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            # A loop that already died of an exception was reported by whoever watched it (the daemon exits 3).
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
            self._loop_task = None
            self._host.publish(EventKind.SCHEDULER_STOPPED, "scheduler stopped", actor="scheduler")

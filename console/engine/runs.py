"""The run coordinator: every run's life, from its fire to its end.

It owns the runs that are not yet terminal (pending review, queued, running, paused) and their controls:
fire (scheduled, manual, catch-up, re-scan), missed records, execution of the job, pause/resume/cancel,
review (approve, reject, expiry), acknowledgement, and, at start-up, turning the runs a dead process left
behind into ``interrupted``. Each state change is written, then published as a typed event.

Only one run of a task can be active at a time. The check and the registration of a new run happen under
one lock, so two operators' run-now (or a scheduler fire racing a run-now) cannot both start a run.

Why one module of this length: a run's whole life (fire, execute, control, review, acknowledge) shares the
open runs and their controls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from console.clock import Clock
from console.domain import ids
from console.domain.events import EventKind, transition_kind
from console.domain.run import ALLOWED, HostResult, HostStatus, Run, RunState, Trigger
from console.domain.task import Task
from console.domain.terminal import check_note, clean_host_result
from console.engine.broker import EventBroker
from console.engine.fleet import FleetService
from console.engine.tasks import TaskCatalogue
from console.errors import ConflictError, NotFoundError, StoreError
from console.jobs import Job, RunCancelled, Target
from console.store.datastore import DataStore
from console.store.transcripts import transcript_label

#: States an operator must hear about and may acknowledge.
_ACKNOWLEDGEABLE = (RunState.FAILED, RunState.ERROR, RunState.MISSED, RunState.INTERRUPTED, RunState.REVIEW_EXPIRED)


class _RunControl:
    """Pause and cancel switches of one executing run."""

    def __init__(self) -> None:
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.cancel = asyncio.Event()


class _RunContext:
    """The :class:`console.jobs.JobContext` a job gets: what it may see and do while it runs."""

    def __init__(self, coordinator: RunCoordinator, run: Run, task: Task, targets: list[Target],
                 control: _RunControl) -> None:
        self._coordinator = coordinator
        self.run = run
        self.task = task
        self.targets = targets
        self.clock = coordinator.clock
        self._control = control

    async def checkpoint(self) -> None:
        if self._control.cancel.is_set():
            raise RunCancelled()
        if not self._control.resumed.is_set():
            waits = [asyncio.ensure_future(self._control.resumed.wait()),
                     asyncio.ensure_future(self._control.cancel.wait())]
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for fut in pending:
                fut.cancel()
            if self._control.cancel.is_set():
                raise RunCancelled()

    @property
    def cancelled(self) -> bool:
        return self._control.cancel.is_set()

    async def wait_cancelled(self) -> None:
        await self._control.cancel.wait()

    async def batch_started(self, index: int, count: int, hosts: list[str]) -> None:
        await self._coordinator.batch_started(self.run, index, count, hosts)

    async def host_finished(self, result: HostResult) -> None:
        await self._coordinator.host_finished(self.run, self.task, result, self._control)

    async def request_pause(self, reason: str) -> None:
        if self.run.state is RunState.RUNNING:
            await self._coordinator.hold(self.run, self._control, reason, actor="engine")

    def save_transcript(self, host: str, data: bytes) -> str | None:
        return self._coordinator.save_transcript(self.run.id, host, data)


class RunCoordinator:
    """Fire, execute, control, review and acknowledge runs."""

    def __init__(self, store: DataStore, broker: EventBroker, clock: Clock, tasks: TaskCatalogue,
                 fleet: FleetService, jobs: Mapping[str, Job], data_dir: Path, *, max_parallel_runs: int = 8) -> None:
        self._store = store
        self._broker = broker
        self.clock = clock
        self._tasks = tasks
        self._fleet = fleet
        self._jobs = dict(jobs)
        self.data_dir = data_dir
        self._open: dict[str, Run] = {}
        self._controls: dict[str, _RunControl] = {}
        self._executions: dict[str, asyncio.Task[None]] = {}
        self._run_slots = asyncio.Semaphore(max_parallel_runs)
        self._firing = asyncio.Lock()
        self._waiters: dict[str, list[asyncio.Future[Run]]] = {}
        #: Called when a review deadline appears (the scheduler expires reviews).
        self.on_review_pending: Callable[[], None] = lambda: None

    def save_transcript(self, run_id: str, host: str, data: bytes) -> str:
        # Buffered, not written: it goes to the run's transcript file in the next batch, ahead of the results
        # (console.store.datastore), so no host waits for a disk and none has a result without its transcript.
        self._store.buffer_transcript(run_id, host, data)
        return transcript_label(run_id, host)

    # ------------------------------------------------------------------ start-up and shutdown

    async def load(self) -> None:
        for run in await self._store.call(lambda r: r.runs.open_runs()):
            if not run.state.terminal:
                self._open[run.id] = run

    async def recover_interrupted(self) -> None:
        """Runs a dead process left queued, running or paused become ``interrupted`` (and are notified)."""
        for run in list(self._open.values()):
            if run.state in (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED):
                await self._transition(
                    run, RunState.INTERRUPTED, f"run of {run.task_name} was {run.state.value} when its process died",
                    error=f"the process that ran it died while it was {run.state.value}")

    async def shutdown(self, *, grace: float = 5.0) -> None:
        """Let runs that already reached their end finish recording it; interrupt the others."""
        finishing = [t for rid, t in self._executions.items() if (r := self._open.get(rid)) is None
                     or r.state.terminal]
        if finishing:
            await asyncio.wait(finishing, timeout=grace)
        for run_id, execution in list(self._executions.items()):
            execution.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await execution
            run = self._open.get(run_id)
            if run is not None and not run.state.terminal:
                await self._transition(run, RunState.INTERRUPTED, "run interrupted: the engine shut down",
                                       error="the engine shut down while the run was active")

    # ------------------------------------------------------------------ queries

    def open_runs(self) -> list[Run]:
        return list(self._open.values())

    def executing(self) -> bool:
        return bool(self._executions)

    def active_run_of(self, task_id: str) -> str | None:
        run = next((r for r in self._open.values() if r.task_id == task_id and r.state.active), None)
        return run.id if run else None

    async def get(self, run_id: str) -> Run:
        run = self._open.get(run_id) or self._store.buffered_run(run_id)
        if run is not None:
            return run
        found = await self._store.call(lambda r: r.runs.get(run_id))
        if found is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return found

    async def latest(self, task_id: str) -> Run | None:
        return await self._store.call(lambda r: r.runs.latest(task_id))

    async def wait(self, run_id: str, timeout: float | None = None) -> Run:
        run = await self.get(run_id)
        if run.state.terminal:
            return run
        future: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(run_id, []).append(future)
        return await asyncio.wait_for(future, timeout)

    async def idle(self) -> None:
        while self._executions:
            await asyncio.gather(*list(self._executions.values()), return_exceptions=True)

    # ------------------------------------------------------------------ persistence of state changes

    async def _save_new(self, run: Run) -> None:
        await self._store.call(lambda r: r.runs.insert(run))

    async def _save(self, run: Run) -> None:
        """Write a run's new state now. If the disk refuses it, the state goes into the write buffer instead
        (retried with every flush, reported by the store) so that the run goes on and nothing is lost."""
        self._store.forget_run(run)
        try:
            await self._store.call(lambda r: r.runs.update(run))
        except StoreError:
            self._store.buffer_run(run)
        if run.state.terminal:
            self._open.pop(run.id, None)
            for waiter in self._waiters.pop(run.id, []):
                if not waiter.done():
                    waiter.set_result(run)

    async def _transition(self, run: Run, state: RunState, message: str, *, actor: str | None = None,
                          error: str | None = None, kind: EventKind | None = None,
                          data: dict[str, Any] | None = None) -> Run:
        if state not in ALLOWED.get(run.state, frozenset()):
            raise ConflictError(f"run {run.id} is {run.state.value}; it cannot become {state.value}")
        previous = run.state
        run.state = state
        now = self.clock.now().isoformat()
        if state is RunState.RUNNING and run.started_at is None:
            run.started_at = now
        if state.terminal:
            run.finished_at = now
        if error is not None:
            run.error = error
        await self._save(run)
        self._broker.publish(kind or transition_kind(state.value), message, task_id=run.task_id, run_id=run.id,
                             actor=actor, data={"from": previous.value, "to": state.value, **(data or {})})
        await self._store.flush()
        return run

    def _new_run(self, task: Task, trigger: Trigger, state: RunState, *, actor: str,
                 scheduled_for: datetime | None = None, slot_through: datetime | None = None) -> Run:
        now = self.clock.now()
        return Run(
            id=ids.new_id(ids.RUN), task_id=task.id, task_name=task.name, trigger=trigger, state=state,
            created_at=now.isoformat(), timezone=task.schedule.timezone, actor=actor,
            scheduled_for=scheduled_for.astimezone(now.tzinfo).isoformat() if scheduled_for else None,
            slot_through=slot_through.astimezone(now.tzinfo).isoformat() if slot_through else None,
        )

    # ------------------------------------------------------------------ firing

    async def fire(self, task: Task, *, trigger: Trigger, actor: str, slot: datetime | None = None,
                   only_hosts: list[str] | None = None, parent_run_id: str | None = None) -> Run:
        """Create a run of ``task`` and start it (or park it for review). A scheduled fire while the task
        has an active run is recorded as ``missed``; any other fire then is refused (ConflictError)."""
        async with self._firing:
            active_id = self.active_run_of(task.id)
            if active_id is not None and trigger is Trigger.SCHEDULE:
                return await self._overlap_missed(task, self._open[active_id], slot, actor)
            if active_id is not None:
                raise ConflictError(f"task {task.name} already has an active run ({active_id}); wait or cancel it")
            review = task.review.required and trigger is not Trigger.RESCAN
            run = self._new_run(task, trigger, RunState.PENDING_REVIEW if review else RunState.QUEUED,
                                actor=actor, scheduled_for=slot, slot_through=slot)
            run.only_hosts = list(only_hosts or [])
            run.parent_run_id = parent_run_id
            if review:
                run.review_deadline = (self.clock.now() + timedelta(seconds=task.review.expires_after)).isoformat()
            # Registered before the write, inside the lock: a racing fire sees this run as active.
            self._open[run.id] = run
            try:
                await self._save_new(run)
            except BaseException:
                self._open.pop(run.id, None)
                raise
        self._broker.publish(EventKind.RUN_FIRED, f"{task.name}: run {run.id} fired ({trigger.value})",
                             task_id=task.id, run_id=run.id, actor=actor,
                             data={"trigger": trigger.value, "slot": run.scheduled_for, "state": run.state.value})
        if review:
            self._broker.publish(EventKind.RUN_PENDING_REVIEW, f"{task.name}: run {run.id} waits for review until "
                                 f"{run.review_deadline}", task_id=task.id, run_id=run.id,
                                 data={"deadline": run.review_deadline, "reviewers": list(task.review.reviewers)})
            self.on_review_pending()
        else:
            self._start_execution(run, task)
        await self._store.flush()
        return run

    async def _overlap_missed(self, task: Task, active: Run, slot: datetime | None, actor: str) -> Run:
        run = self._new_run(task, Trigger.SCHEDULE, RunState.MISSED, actor=actor, scheduled_for=slot,
                            slot_through=slot)
        run.missed_slots = [run.scheduled_for] if run.scheduled_for else []
        run.missed_count = 1
        run.error = f"the previous run {active.id} was still {active.state.value}"
        run.finished_at = run.created_at
        await self._save_new(run)
        self._broker.publish(EventKind.RUN_MISSED, f"{task.name}: slot skipped, previous run {active.id} still active",
                             task_id=task.id, run_id=run.id, actor=actor,
                             data={"slots": run.missed_slots, "count": 1, "reason": "overlap"})
        await self._store.flush()
        return run

    async def record_missed(self, task: Task, slots: list[datetime], count: int, *, capped: bool) -> Run:
        """One ``missed`` record for all the slots of ``task`` the scheduler could not fire in time."""
        run = self._new_run(task, Trigger.SCHEDULE, RunState.MISSED, actor="scheduler",
                            scheduled_for=slots[0], slot_through=slots[-1])
        run.missed_slots = [s.astimezone(self.clock.now().tzinfo).isoformat() for s in slots]
        run.missed_count = count
        run.error = (f"{'at least ' if capped else ''}{count} scheduled fire(s) missed while the scheduler was "
                     f"not running (from {run.missed_slots[0]} to {run.slot_through})")
        run.finished_at = run.created_at
        await self._save_new(run)
        self._broker.publish(EventKind.RUN_MISSED, f"{task.name}: {run.error}", task_id=task.id, run_id=run.id,
                             actor="scheduler", data={"slots": run.missed_slots, "count": count, "capped": capped})
        await self._store.flush()
        return run

    async def rescan_failed(self, run_id: str, *, actor: str) -> Run:
        """A new run of the same task over only the hosts that failed in ``run_id``."""
        run = await self.get(run_id)
        task = self._tasks.find(run.task_id)
        failed = [r.host for r in await self.host_results(run_id) if r.status is HostStatus.FAILED]
        if not failed:
            raise ConflictError(f"run {run_id} has no failed hosts to re-scan")
        return await self.fire(task, trigger=Trigger.RESCAN, actor=actor, only_hosts=failed, parent_run_id=run_id)

    # ------------------------------------------------------------------ execution

    def _start_execution(self, run: Run, task: Task) -> None:
        control = _RunControl()
        self._controls[run.id] = control
        execution = asyncio.create_task(self._execute(run, task, control), name=f"run-{run.id}")
        self._executions[run.id] = execution
        execution.add_done_callback(lambda _t, rid=run.id: self._executions.pop(rid, None))

    async def _execute(self, run: Run, task: Task, control: _RunControl) -> None:
        async with self._run_slots:
            if control.cancel.is_set() or run.state.terminal:
                return
            job = self._jobs.get(task.job.name)
            if job is None:
                await self._transition(run, RunState.ERROR, f"{task.name}: job {task.job.name} is not available",
                                       error=f"job {task.job.name!r} is not installed in this Patchwatch")
                return
            targets, unknown = await self._fleet.resolve_targets(task, run)
            run.hosts_total = len(targets) + len(unknown)
            await self._transition(run, RunState.RUNNING, f"{task.name}: run {run.id} started on "
                                   f"{run.hosts_total} hosts", kind=EventKind.RUN_STARTED,
                                   data={"hosts": run.hosts_total})
            context = _RunContext(self, run, task, targets, control)
            for name in unknown:
                await context.host_finished(HostResult(
                    run_id=run.id, task_id=task.id, host=name, status=HostStatus.FAILED, category="network",
                    reason=f"{name} is not in the inventory: its address cannot be resolved",
                    hint="import the instance into the inventory, or remove it from the task's targets",
                    rule="inventory.unknown", finished_at=self.clock.now().isoformat()))
            error: str | None = None
            cancelled = False
            if not targets and not unknown:
                error = "no targets: the task's instances and groups match nothing in the inventory"
            elif targets:
                try:
                    await job.execute(context)
                except RunCancelled:
                    cancelled = True
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a crashing job is a run-level error, recorded
                    error = f"{type(exc).__name__}: {exc}"
            cancelled = cancelled or control.cancel.is_set()
            await self._store.flush()
            if cancelled:
                final, message = RunState.CANCELLED, "cancelled"
            elif error is not None:
                final, message = RunState.ERROR, f"error: {error}"
            elif run.hosts_failed:
                final, message = RunState.FAILED, f"{run.hosts_failed} of {run.hosts_total} hosts failed"
            else:
                final, message = RunState.SUCCEEDED, f"all {run.hosts_ok} hosts ok"
            if run.state is RunState.PAUSED:
                run.state = RunState.RUNNING  # the job ended while paused (nothing left to do)
            await self._transition(run, final, f"{task.name}: run {run.id} {message}", kind=EventKind.RUN_FINISHED,
                                   error=error, data={"state": final.value, "hosts_total": run.hosts_total,
                                                      "hosts_ok": run.hosts_ok, "hosts_failed": run.hosts_failed,
                                                      "categories": dict(run.categories)})
            self._controls.pop(run.id, None)

    async def batch_started(self, run: Run, index: int, count: int, hosts: list[str]) -> None:
        run.batch_index, run.batch_count = index, count
        self._store.buffer_run(run)
        self._broker.publish(EventKind.BATCH_STARTED, f"batch {index} of {count}: {len(hosts)} hosts",
                             task_id=run.task_id, run_id=run.id,
                             data={"batch": index, "batches": count, "hosts": hosts[:50], "size": len(hosts)})

    async def host_finished(self, run: Run, task: Task, result: HostResult, control: _RunControl) -> None:
        clean_host_result(result)  # what a host printed never reaches a terminal raw (console.domain.terminal)
        if result.status is HostStatus.OK:
            run.hosts_ok += 1
        elif result.status is HostStatus.FAILED:
            run.hosts_failed += 1
            category = result.category or "unknown"
            run.categories[category] = run.categories.get(category, 0) + 1
        elif result.status is HostStatus.SKIPPED:
            run.hosts_skipped += 1
        else:
            run.hosts_cancelled += 1
        self._store.buffer_result(result.to_dict())
        self._store.buffer_run(run)
        self._broker.publish(EventKind.HOST_FINISHED, f"{result.host}: {result.status.value}"
                             + (f" ({result.category}: {result.reason})" if result.category else ""),
                             task_id=run.task_id, run_id=run.id, host=result.host,
                             data={"status": result.status.value, "category": result.category,
                                   "reason": result.reason, "missing": result.missing_count,
                                   "security": result.security_count, "done": run.hosts_done,
                                   "total": run.hosts_total})
        threshold = task.targets.error_threshold
        if (run.state is RunState.RUNNING and result.status is HostStatus.FAILED
                and threshold.exceeded(run.hosts_failed, run.hosts_done)):
            await self.hold(run, control, f"error threshold exceeded: {run.hosts_failed} of {run.hosts_done} "
                            "finished hosts failed", actor="engine")

    async def hold(self, run: Run, control: _RunControl, reason: str, *, actor: str) -> Run:
        """Pause a running run: hosts already connected finish, no new host starts until resume or cancel."""
        run.pause_reason = reason
        control.resumed.clear()
        return await self._transition(run, RunState.PAUSED, f"{run.task_name}: run {run.id} paused: {reason}",
                                      actor=actor, data={"reason": reason})

    # ------------------------------------------------------------------ operator controls

    def _open_run(self, run_id: str) -> Run:
        run = self._open.get(run_id)
        if run is None:
            raise ConflictError(f"run {run_id} is not active")
        return run

    async def cancel(self, run_id: str, *, actor: str) -> Run:
        """Cancel a pending, queued, running or paused run: no new host is touched, open ones close."""
        await self.get(run_id)
        run = self._open_run(run_id)
        control = self._controls.get(run_id)
        if run.state is RunState.PENDING_REVIEW or control is None:
            return await self._transition(run, RunState.CANCELLED, f"run {run_id} cancelled by {actor}", actor=actor)
        control.cancel.set()
        self._broker.publish(EventKind.RUN_CANCEL_REQUESTED, f"run {run_id}: cancel requested by {actor}",
                             task_id=run.task_id, run_id=run_id, actor=actor)
        return run

    async def cancel_pending_of(self, task_id: str, actor: str) -> None:
        """The task was deleted: its runs waiting for review will never run."""
        for run in [r for r in self._open.values() if r.task_id == task_id]:
            await self._transition(run, RunState.CANCELLED, "pending review cancelled: task deleted", actor=actor)

    async def pause(self, run_id: str, *, actor: str) -> Run:
        run = self._open_run(run_id)
        control = self._controls.get(run_id)
        if run.state is not RunState.RUNNING or control is None:
            raise ConflictError(f"run {run_id} is {run.state.value}; only a running run can be paused")
        return await self.hold(run, control, f"paused by {actor}", actor=actor)

    async def resume(self, run_id: str, *, actor: str) -> Run:
        run = self._open_run(run_id)
        control = self._controls.get(run_id)
        if run.state is not RunState.PAUSED or control is None:
            raise ConflictError(f"run {run_id} is {run.state.value}; only a paused run can be resumed")
        run.pause_reason = None
        await self._transition(run, RunState.RUNNING, f"run {run_id} resumed by {actor}", actor=actor,
                               kind=EventKind.RUN_RESUMED)
        control.resumed.set()
        return run

    async def review(self, run_id: str, approved: bool, *, actor: str, note: str | None) -> Run:
        check_note(note)
        await self.get(run_id)
        run = self._open_run(run_id)
        if run.state is not RunState.PENDING_REVIEW:
            raise ConflictError(f"run {run_id} is {run.state.value}, not pending_review")
        task = self._tasks.get(run.task_id)
        if approved and task is None:
            raise ConflictError(f"the task of run {run_id} was deleted")
        if approved and task is not None and task.review.reviewers and actor not in task.review.reviewers:
            raise ConflictError(f"{actor} is not a reviewer of task {task.name} "
                                f"(reviewers: {', '.join(task.review.reviewers)})")
        run.reviewed_by, run.reviewed_at, run.review_note = actor, self.clock.now().isoformat(), note
        if approved:
            await self._transition(run, RunState.QUEUED, f"run {run_id} approved by {actor}", actor=actor,
                                   kind=EventKind.RUN_APPROVED, data={"note": note})
            assert task is not None
            self._start_execution(run, task)
        else:
            await self._transition(run, RunState.REJECTED, f"run {run_id} rejected by {actor}", actor=actor,
                                   kind=EventKind.RUN_REJECTED, data={"note": note})
        return run

    async def expire_reviews(self) -> datetime | None:
        """Expire reviews past their deadline; return the next deadline still ahead (for the scheduler)."""
        now = self.clock.now()
        upcoming: datetime | None = None
        for run in list(self._open.values()):
            if run.state is not RunState.PENDING_REVIEW or run.review_deadline is None:
                continue
            deadline = datetime.fromisoformat(run.review_deadline)
            if deadline <= now:
                await self._transition(run, RunState.REVIEW_EXPIRED,
                                       f"{run.task_name}: run {run.id} was not reviewed in time",
                                       actor="scheduler", error="nobody approved or rejected it before "
                                       f"{run.review_deadline}")
            elif upcoming is None or deadline < upcoming:
                upcoming = deadline
        return upcoming

    async def acknowledge(self, run_id: str, *, actor: str, note: str | None = None) -> Run:
        check_note(note)
        """An operator takes ownership of a failed, missed, interrupted or errored run."""
        run = await self.get(run_id)
        # Failures show up while a run is still going; an operator who has seen them may take them on then.
        failing_now = run.state in (RunState.RUNNING, RunState.PAUSED) and run.hosts_failed > 0
        if not failing_now and run.state not in _ACKNOWLEDGEABLE:
            raise ConflictError(f"run {run_id} is {run.state.value} with no failed host: only failures need "
                                "acknowledging")
        if run.acknowledged_by:
            raise ConflictError(f"run {run_id} was already acknowledged by {run.acknowledged_by} "
                                f"at {run.acknowledged_at}")
        run.acknowledged_by, run.acknowledged_at, run.ack_note = actor, self.clock.now().isoformat(), note
        await self._save(run)
        self._broker.publish(EventKind.RUN_ACKNOWLEDGED, f"run {run_id} acknowledged by {actor}",
                             task_id=run.task_id, run_id=run_id, actor=actor, data={"note": note})
        return run

    async def newest(self, *, task_id: str | None = None, states: set[RunState] | None = None,
                     limit: int = 50) -> list[Run]:
        """Runs, newest first, optionally of one task and in some states."""
        await self._store.flush_if_dirty()
        return await self._store.call(lambda r: r.runs.newest(
            task_id=task_id, wanted=lambda d: states is None or RunState(d["state"]) in states, limit=limit))

    async def host_results(self, run_id: str) -> list[HostResult]:
        await self._store.flush_if_dirty()
        return await self._store.call(lambda r: r.host_results.of_run(run_id))

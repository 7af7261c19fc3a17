"""The task catalogue: the scheduled tasks of a data directory and when each fires next.

It owns the tasks (validated on every change, names unique), their schedule state (next fire, expired),
and the trace of every change with who made it. It does not run anything: the run coordinator fires tasks,
and the scheduler asks the catalogue which are due. Deleting a task asks the run coordinator first (a task
with an active run cannot go), through the small :class:`RunsOfTask` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from console.clock import Clock
from console.domain import ids
from console.domain.events import EventKind
from console.domain.task import Task, task_from_input, with_enabled
from console.engine.broker import EventBroker
from console.errors import ConflictError, NotFoundError, ValidationError
from console.store.datastore import DataStore
from console.store.repositories import Repositories

#: The fields whose change the trace lists when a task is edited.
_EDITABLE = ("name", "risk", "schedule", "job", "targets", "review", "notify", "description", "enabled")


class RunsOfTask(Protocol):
    """What deleting a task needs to know and do about its runs."""

    def active_run_of(self, task_id: str) -> str | None: ...

    async def cancel_pending_of(self, task_id: str, actor: str) -> None: ...


class TaskCatalogue:
    """Tasks: create, change, enable, delete, look up; schedule state."""

    def __init__(self, store: DataStore, broker: EventBroker, clock: Clock) -> None:
        self._store = store
        self._broker = broker
        self._clock = clock
        self._tasks: dict[str, Task] = {}
        #: Called after a task's schedule or enabled flag changed (the scheduler re-plans).
        self.on_schedule_changed: Callable[[], None] = lambda: None
        #: Refuses a task whose notices could reach nobody (set by the engine once the people are known).
        self.check_recipients: Callable[[Task], None] = lambda task: None

    async def load(self) -> None:
        self._tasks = {task.id: task for task in await self._store.call(lambda r: r.tasks.all())}

    # ------------------------------------------------------------------ look-ups

    def find(self, ref: str) -> Task:
        """The task with id or name ``ref``."""
        task = self._tasks.get(ref)
        if task is not None:
            return task
        for task in self._tasks.values():
            if task.name == ref:
                return task
        raise NotFoundError(f"no task with id or name {ref!r}")

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def snapshot(self) -> list[Task]:
        return list(self._tasks.values())

    def sorted(self) -> list[Task]:
        return sorted(self._tasks.values(), key=lambda t: t.name.lower())

    def _check_unique_name(self, name: str, task_id: str | None) -> None:
        for other in self._tasks.values():
            if other.name == name and other.id != task_id:
                raise ValidationError.single("name", f"must be unique; task {other.id} is already called {name!r}")

    # ------------------------------------------------------------------ changes

    def validate(self, data: Mapping[str, Any], *, actor: str, task_id: str | None = None) -> Task:
        """The task a form would make, without saving anything. Raises ValidationError."""
        previous = self._tasks.get(task_id) if task_id else None
        task = task_from_input(data, task_id=task_id or ids.new_id(ids.TASK), now=self._clock.now(),
                               actor=actor, previous=previous)
        self._check_unique_name(task.name, task_id)
        self.check_recipients(task)
        return task

    async def create(self, data: Mapping[str, Any], *, actor: str) -> Task:
        task = task_from_input(data, task_id=ids.new_id(ids.TASK), now=self._clock.now(), actor=actor)
        self._check_unique_name(task.name, None)
        self.check_recipients(task)
        await self._store.call(lambda r: r.tasks.put(task))
        self._tasks[task.id] = task
        self._broker.publish(EventKind.TASK_CREATED, f"task {task.name} created", task_id=task.id, actor=actor,
                             data={"name": task.name, "schedule": task.schedule.describe()})
        await self._schedule_changed(task)
        return task

    async def update(self, ref: str, data: Mapping[str, Any], *, actor: str) -> Task:
        previous = self.find(ref)
        task = task_from_input(data, task_id=previous.id, now=self._clock.now(), actor=actor, previous=previous)
        self._check_unique_name(task.name, task.id)
        self.check_recipients(task)
        await self._store.call(lambda r: r.tasks.put(task))
        self._tasks[task.id] = task
        changed = sorted(k for k in _EDITABLE if getattr(previous, k) != getattr(task, k))
        self._broker.publish(EventKind.TASK_UPDATED, f"task {task.name} changed: {', '.join(changed) or 'nothing'}",
                             task_id=task.id, actor=actor, data={"changed": changed, "version": task.version})
        if previous.schedule != task.schedule or previous.enabled != task.enabled:
            await self._schedule_changed(task)
        return task

    async def set_enabled(self, ref: str, enabled: bool, *, actor: str) -> Task:
        task = self.find(ref)
        if task.enabled == enabled:
            return task
        task = with_enabled(task, enabled, now=self._clock.now(), actor=actor)
        await self._store.call(lambda r: r.tasks.put(task))
        self._tasks[task.id] = task
        self._broker.publish(EventKind.TASK_ENABLED if enabled else EventKind.TASK_DISABLED,
                             f"task {task.name} {'enabled' if enabled else 'disabled'}", task_id=task.id, actor=actor)
        await self._schedule_changed(task)
        return task

    async def delete(self, ref: str, runs: RunsOfTask, *, actor: str) -> Task:
        """Delete a task. Its runs and events stay in the trace. Refused while a run of it is active."""
        task = self.find(ref)
        active = runs.active_run_of(task.id)
        if active is not None:
            raise ConflictError(f"task {task.name} has an active run ({active}); cancel it first")
        await self._store.call(lambda r: r.tasks.delete(task.id))
        del self._tasks[task.id]
        await runs.cancel_pending_of(task.id, actor)
        self._broker.publish(EventKind.TASK_DELETED, f"task {task.name} deleted", task_id=task.id, actor=actor,
                             data={"name": task.name})
        self.on_schedule_changed()
        return task

    # ------------------------------------------------------------------ schedule state

    async def _schedule_changed(self, task: Task) -> None:
        """A task's schedule (or enabled flag) changed: it fires from now on, never for past slots."""
        now = self._clock.now()
        next_fire = task.schedule.next_after(now) if task.enabled else None
        # A change clears a ``broken`` mark: the new schedule was validated, the scheduler tries it afresh.
        await self.put_schedule_state(task.id, next_fire=next_fire, expired=task.schedule.is_expired(now),
                                      broken=None)
        self.on_schedule_changed()

    async def schedule_state(self, task_id: str) -> dict[str, Any]:
        return await self._store.call(lambda r: r.schedule.get(task_id))

    async def put_schedule_state(self, task_id: str, **fields: Any) -> dict[str, Any]:
        def write(repos: Repositories) -> dict[str, Any]:
            state = dict(repos.schedule.get(task_id))
            for key, value in fields.items():
                state[key] = value.isoformat() if isinstance(value, datetime) else value
            repos.schedule.put(state)
            return state

        return await self._store.call(write)

    def next_fires(self, ref: str, count: int = 5) -> list[datetime]:
        """The next ``count`` fires of a task, in its zone (empty when disabled or expired)."""
        task = self.find(ref)
        if not task.enabled:
            return []
        out: list[datetime] = []
        after = self._clock.now()
        while len(out) < count:
            try:
                slot = task.schedule.next_after(after)
            except (ArithmeticError, ValueError, ValidationError):
                break  # a schedule beyond date arithmetic: the scheduler marks it broken and says why
            if slot is None:
                break
            out.append(slot)
            after = slot
        return out

    async def problems(self) -> dict[str, str]:
        """Why each broken task cannot be scheduled (task id -> reason); tasks that schedule fine are absent."""
        ids = [t.id for t in self.snapshot()]

        def read(repos: Repositories) -> dict[str, str]:
            return {i: str(state["broken"]) for i in ids if (state := repos.schedule.get(i)).get("broken")}

        return await self._store.call(read)

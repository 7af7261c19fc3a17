"""The engine: the one facade the CLI, the TUI and any later remote client talk to.

It owns the data directory (one process per directory, :class:`DataDirLock`), the store (confined to one
I/O thread, because TinyDB is not thread-safe), the scheduler, and every run's life. Every state change is
an :class:`Event`: recorded in the trace and published to subscribers of :meth:`Engine.events`.

Writes that an operator's command makes are committed before the command returns. Growing data produced by
runs (host results, events, progress counters) is buffered for at most ``flush_interval`` seconds and written
in batches, so a 1,000-host scan costs a few writes per second rather than thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from console import actor as _actor
from console.clock import Clock, SystemClock
from console.domain import ids
from console.domain.inventory import parse_inventory
from console.domain.run import (
    ALLOWED,
    Event,
    HostResult,
    HostStatus,
    Run,
    RunState,
    Trigger,
)
from console.domain.task import SCAN_OS_PATCH, Task, task_from_input, with_enabled
from console.errors import ConflictError, NotFoundError, ValidationError
from console.jobs import Job, RunCancelled, Target
from console.notify.outbox import OutboxRecord
from console.notify.people import Directory
from console.notify.recipients import check_recipients
from console.notify.service import DIRECTORY_DOC, OUTBOX, PEOPLE, NotificationService
from console.scan.credentials import ACCEPTED_KNOWN_HOSTS, CredentialProfile, default_profile
from console.scan.hostkeys import HostKeyInfo, append_known_host, check_fingerprint, fetch_host_key
from console.scan.job import ScanOsPatchJob
from console.store import DataDirLock, Store, transcript_name

T = TypeVar("T")

#: Main-file tables.
TASKS = "tasks"
SCHEDULE = "schedule"  # per task: next_fire (UTC ISO), expired flag
OPEN_RUNS = "open_runs"  # ids of runs not yet terminal: how a restart finds interrupted runs
INVENTORY = "inventory"
CREDENTIALS = "credentials"  # credential profiles (paths and settings only: no secret is stored)


CHANNELS_ENV = "PATCHWATCH_CHANNELS"


def default_channels_path(data_dir: Path) -> Path:
    """The channels file: ``$PATCHWATCH_CHANNELS``, else ``channels.toml`` in the data directory (a file of
    its own, outside the store, mode 0600: it holds secrets)."""
    env = os.environ.get(CHANNELS_ENV)
    return Path(env) if env else data_dir / "channels.toml"


def default_actor() -> str:
    """Who is acting, for the trace: the login name of the operator, from the OS (console/actor.py)."""
    return _actor.login_name()


class _RunControl:
    """Pause and cancel switches of one executing run."""

    def __init__(self) -> None:
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.cancel = asyncio.Event()


class _RunContext:
    """The :class:`console.jobs.JobContext` the engine gives a job."""

    def __init__(self, engine: Engine, run: Run, task: Task, targets: list[Target], control: _RunControl):
        self._engine = engine
        self.run = run
        self.task = task
        self.targets = targets
        self.clock = engine.clock
        self._control = control
        self._transcripts: Path | None = None

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
        self.run.batch_index, self.run.batch_count = index, count
        self._engine._mark_dirty(self.run)
        self._engine._emit("batch.started", f"batch {index} of {count}: {len(hosts)} hosts",
                           task_id=self.run.task_id, run_id=self.run.id,
                           data={"batch": index, "batches": count, "hosts": hosts[:50], "size": len(hosts)})

    async def host_finished(self, result: HostResult) -> None:
        await self._engine._host_finished(self.run, self.task, result, self._control)

    async def request_pause(self, reason: str) -> None:
        if self.run.state is RunState.RUNNING:
            await self._engine._pause(self.run, self._control, reason, actor="engine")

    def transcript_path(self, host: str) -> Path:
        # Plain files, not TinyDB: safe outside the store's I/O thread. The run's directory is made once.
        if self._transcripts is None:
            self._transcripts = self._engine._store.run_transcript_dir(self.run.id)
        return self._transcripts / transcript_name(host)

    def relative_path(self, path: Path) -> str:
        return os.path.relpath(path, self._engine.data_dir)


class Engine:
    """Commands, queries and the event stream of one data directory."""

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
    ) -> None:
        self.data_dir = Path(data_dir)
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        self.misfire_grace = timedelta(seconds=misfire_grace)
        self._jobs: dict[str, Job] = dict(jobs) if jobs is not None else {}
        self._default_jobs = jobs is None
        self._profiles: dict[str, CredentialProfile] = {}
        self._flush_interval = flush_interval
        self._lock: DataDirLock | None = None
        self._io: ThreadPoolExecutor | None = None
        self._store: Store = None  # type: ignore[assignment]  # set by open()
        self._tasks: dict[str, Task] = {}
        self._open_runs: dict[str, Run] = {}
        self._controls: dict[str, _RunControl] = {}
        self._executions: dict[str, asyncio.Task[None]] = {}
        self._run_slots = asyncio.Semaphore(max_parallel_runs)
        self._pending_events: list[dict[str, Any]] = []
        self._pending_results: list[dict[str, Any]] = []
        self._dirty_runs: dict[str, Run] = {}
        self._dirty_outbox: dict[str, dict[str, Any]] = {}
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._run_waiters: dict[str, list[asyncio.Future[Run]]] = {}
        self.scheduler: Any = None
        self._notify = notify
        self.channels_path = Path(channels_path) if channels_path else default_channels_path(self.data_dir)
        self._notify_options = dict(notify_options or {})
        self.notifier: NotificationService | None = None
        self._opened = False

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> Engine:
        """Take the data directory, open the store, and turn runs a dead process left behind into
        ``interrupted``. Raises DataDirLockedError when another process owns the directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.read_only:
            self._lock = DataDirLock(self.data_dir)
            self._lock.acquire()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="patchwatch-store")
        try:
            self._store = await self._call(Store, self.data_dir, read_only=self.read_only)
            task_docs = await self._call(self._store.all_docs, TASKS)
            self._profiles = {d["name"]: CredentialProfile.from_dict(d)
                              for d in await self._call(self._store.all_docs, CREDENTIALS)}
            self._tasks = {d["id"]: Task.from_dict(d) for d in task_docs}

            def load_open_runs() -> list[dict[str, Any]]:
                runs = self._store.sharded("runs")
                docs = (runs.get(d["id"]) for d in self._store.all_docs(OPEN_RUNS))
                return [d for d in docs if d is not None]

            for run_doc in await self._call(load_open_runs):
                run = Run.from_dict(run_doc)
                if not run.state.terminal:
                    self._open_runs[run.id] = run
        except BaseException:
            self._shutdown_io()
            raise
        self._opened = True
        if self._default_jobs:
            self._jobs = {SCAN_OS_PATCH: ScanOsPatchJob(self.credential_profile, self.data_dir)}
        if not self.read_only:
            if self._notify:
                # Started before the recovery below, so runs found interrupted are notified like failures.
                self.notifier = NotificationService(self, self.channels_path, **self._notify_options)
                await self.notifier.start()
            await self._recover_interrupted()
            self._flusher = asyncio.create_task(self._flush_loop(), name="patchwatch-flush")
        return self

    async def close(self) -> None:
        """Stop the scheduler and running runs (they become ``interrupted``), flush, release the directory."""
        if not self._opened:
            return
        if self.scheduler is not None:
            await self.scheduler.stop()
        for run_id, execution in list(self._executions.items()):
            execution.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await execution
            run = self._open_runs.get(run_id)
            if run is not None and not run.state.terminal:
                await self._transition(run, RunState.INTERRUPTED, "run interrupted: the engine shut down",
                                       error="the engine shut down while the run was active")
        if self.notifier is not None:
            # Every event so far becomes a durable outbox record; unsent ones go out at the next start.
            await self.notifier.drain()
            await self.notifier.stop()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if not self.read_only:
            await self.flush()
        await self._call(self._store.close)
        self._shutdown_io()
        if self._lock is not None:
            self._lock.release()
        self._opened = False

    def _shutdown_io(self) -> None:
        if self._io is not None:
            self._io.shutdown(wait=True)
            self._io = None

    async def __aenter__(self) -> Engine:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call on the one I/O thread that owns the store."""
        assert self._io is not None, "engine is not open"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, functools.partial(fn, *args, **kwargs))

    def _writable(self) -> None:
        if self.read_only:
            raise ConflictError("this console is read-only: another process owns the data directory")

    # ------------------------------------------------------------------ events

    def _emit(self, kind: str, message: str, *, task_id: str | None = None, run_id: str | None = None,
              host: str | None = None, actor: str | None = None, data: dict[str, Any] | None = None) -> Event:
        event = Event(kind=kind, at=self.clock.now().isoformat(), message=message, task_id=task_id,
                      run_id=run_id, host=host, actor=actor, data=data or {}, id=ids.new_id(ids.EVENT))
        self._pending_events.append(event.to_dict())
        for queue in list(self._subscribers):
            if queue.qsize() >= 50_000:
                # A subscriber that stopped reading must not grow memory without bound; it can re-query.
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)
        return event

    async def events(self) -> AsyncIterator[Event]:
        """Every event from now on, as it happens (the live feed of the TUI and of ``--wait``)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every event from now on; hand it back to :meth:`unsubscribe`."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.discard(queue)

    # ------------------------------------------------------------------ persistence

    def _mark_dirty(self, run: Run) -> None:
        self._dirty_runs[run.id] = run

    def _mark_outbox_dirty(self, record: OutboxRecord) -> None:
        """A status change of an outbox record, written with the next batch (its creation was committed)."""
        self._dirty_outbox[record.id] = record.to_dict()

    async def flush(self) -> None:
        """Commit everything buffered: host results, progress counters, events (in that order, so an event
        never points at a result that is not on disk)."""
        async with self._flush_lock:
            results, self._pending_results = self._pending_results, []
            runs, self._dirty_runs = self._dirty_runs, {}
            outbox, self._dirty_outbox = self._dirty_outbox, {}
            events, self._pending_events = self._pending_events, []
            if not (results or runs or outbox or events):
                return
            store = self._store

            def write() -> None:
                if results:
                    store.sharded("host_results").insert_many(results)
                if runs:
                    store.sharded("runs").update_many({run.id: run.to_dict() for run in runs.values()})
                if outbox:
                    store.sharded(OUTBOX).update_many(outbox)
                if events:
                    store.append_events(events)

            await self._call(write)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - keep flushing; a failing disk is reported, not fatal
                self._emit("engine.store_error", f"could not write to the store: {exc}")

    async def _save_new_run(self, run: Run) -> None:
        def write() -> None:
            self._store.sharded("runs").insert(run.to_dict())
            if not run.state.terminal:
                self._store.put_doc(OPEN_RUNS, {"id": run.id, "task_id": run.task_id})

        await self._call(write)
        if not run.state.terminal:
            self._open_runs[run.id] = run

    async def _save_run(self, run: Run) -> None:
        self._dirty_runs.pop(run.id, None)

        def write() -> None:
            self._store.sharded("runs").update(run.id, run.to_dict())
            if run.state.terminal:
                self._store.delete_doc(OPEN_RUNS, run.id)

        await self._call(write)
        if run.state.terminal:
            self._open_runs.pop(run.id, None)
            for waiter in self._run_waiters.pop(run.id, []):
                if not waiter.done():
                    waiter.set_result(run)

    async def _transition(self, run: Run, state: RunState, message: str, *, actor: str | None = None,
                          error: str | None = None, kind: str | None = None,
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
        await self._save_run(run)
        self._emit(kind or f"run.{state.value}", message, task_id=run.task_id, run_id=run.id, actor=actor,
                   data={"from": previous.value, "to": state.value, **(data or {})})
        await self.flush()
        return run

    async def _recover_interrupted(self) -> None:
        for run in list(self._open_runs.values()):
            if run.state in (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED):
                await self._transition(
                    run, RunState.INTERRUPTED,
                    f"run of {run.task_name} was {run.state.value} when its process died",
                    error=f"the process that ran it died while it was {run.state.value}")

    # ------------------------------------------------------------------ tasks

    def _find_task(self, ref: str) -> Task:
        task = self._tasks.get(ref)
        if task is not None:
            return task
        for task in self._tasks.values():
            if task.name == ref:
                return task
        raise NotFoundError(f"no task with id or name {ref!r}")

    async def get_task(self, ref: str) -> Task:
        return self._find_task(ref)

    async def list_tasks(self) -> list[Task]:
        return sorted(self._tasks.values(), key=lambda t: t.name.lower())

    def _check_unique_name(self, name: str, task_id: str | None) -> None:
        for other in self._tasks.values():
            if other.name == name and other.id != task_id:
                raise ValidationError.single("name", f"must be unique; task {other.id} is already called {name!r}")

    def _check_recipients(self, task: Task) -> None:
        """Refuse a task whose notices could reach nobody (console/notify/recipients.py)."""
        if self.notifier is not None:
            channels = self.notifier.channels
            check_recipients(task, self.notifier.directory, channels.modes() if channels else ())

    async def validate_task(self, data: Mapping[str, Any], *, task_id: str | None = None) -> Task:
        """Check a form without saving anything; returns the task it would make."""
        previous = self._tasks.get(task_id) if task_id else None
        task = task_from_input(data, task_id=task_id or ids.new_id(ids.TASK), now=self.clock.now(),
                               actor=default_actor(), previous=previous)
        self._check_unique_name(task.name, task_id)
        self._check_recipients(task)
        return task

    async def create_task(self, data: Mapping[str, Any], *, actor: str | None = None) -> Task:
        """Validate and store a new task; it is scheduled from now on. Raises ValidationError."""
        self._writable()
        actor = actor or default_actor()
        task = task_from_input(data, task_id=ids.new_id(ids.TASK), now=self.clock.now(), actor=actor)
        self._check_unique_name(task.name, None)
        self._check_recipients(task)
        await self._call(self._store.put_doc, TASKS, task.to_dict())
        self._tasks[task.id] = task
        self._emit("task.created", f"task {task.name} created", task_id=task.id, actor=actor,
                   data={"name": task.name, "schedule": task.schedule.describe()})
        await self._schedule_changed(task)
        await self.flush()
        return task

    async def update_task(self, ref: str, data: Mapping[str, Any], *, actor: str | None = None) -> Task:
        """Replace the editable fields of a task with ``data`` (a full form). Raises ValidationError."""
        self._writable()
        actor = actor or default_actor()
        previous = self._find_task(ref)
        task = task_from_input(data, task_id=previous.id, now=self.clock.now(), actor=actor, previous=previous)
        self._check_unique_name(task.name, task.id)
        self._check_recipients(task)
        await self._call(self._store.put_doc, TASKS, task.to_dict())
        self._tasks[task.id] = task
        changed = sorted(k for k in ("name", "risk", "schedule", "job", "targets", "review", "notify",
                                     "description", "enabled")
                         if getattr(previous, k) != getattr(task, k))
        self._emit("task.updated", f"task {task.name} changed: {', '.join(changed) or 'nothing'}",
                   task_id=task.id, actor=actor, data={"changed": changed, "version": task.version})
        if previous.schedule != task.schedule or previous.enabled != task.enabled:
            await self._schedule_changed(task)
        await self.flush()
        return task

    async def set_enabled(self, ref: str, enabled: bool, *, actor: str | None = None) -> Task:
        self._writable()
        actor = actor or default_actor()
        task = self._find_task(ref)
        if task.enabled == enabled:
            return task
        task = with_enabled(task, enabled, now=self.clock.now(), actor=actor)
        await self._call(self._store.put_doc, TASKS, task.to_dict())
        self._tasks[task.id] = task
        self._emit("task.enabled" if enabled else "task.disabled",
                   f"task {task.name} {'enabled' if enabled else 'disabled'}", task_id=task.id, actor=actor)
        await self._schedule_changed(task)
        await self.flush()
        return task

    async def delete_task(self, ref: str, *, actor: str | None = None) -> Task:
        """Delete a task. Its runs and events stay in the trace. Refused while a run of it is active."""
        self._writable()
        actor = actor or default_actor()
        task = self._find_task(ref)
        active = [r for r in self._open_runs.values() if r.task_id == task.id and r.state.active]
        if active:
            raise ConflictError(f"task {task.name} has an active run ({active[0].id}); cancel it first")

        def write() -> None:
            self._store.delete_doc(TASKS, task.id)
            self._store.delete_doc(SCHEDULE, task.id)

        await self._call(write)
        del self._tasks[task.id]
        for run in [r for r in self._open_runs.values() if r.task_id == task.id]:
            await self._transition(run, RunState.CANCELLED, "pending review cancelled: task deleted", actor=actor)
        self._emit("task.deleted", f"task {task.name} deleted", task_id=task.id, actor=actor,
                   data={"name": task.name})
        if self.scheduler is not None:
            self.scheduler.wake()
        await self.flush()
        return task

    async def _schedule_changed(self, task: Task) -> None:
        """A task's schedule (or enabled flag) changed: it fires from now on, never for past slots."""
        now = self.clock.now()
        next_fire = task.schedule.next_after(now) if task.enabled else None
        await self._put_schedule_state(task.id, next_fire=next_fire, expired=task.schedule.is_expired(now))
        if self.scheduler is not None:
            self.scheduler.wake()

    async def schedule_state(self, task_id: str) -> dict[str, Any]:
        return await self._call(self._store.get_doc, SCHEDULE, task_id) or {"id": task_id}

    async def _put_schedule_state(self, task_id: str, **fields: Any) -> dict[str, Any]:
        state = dict(await self.schedule_state(task_id))
        for key, value in fields.items():
            state[key] = value.isoformat() if isinstance(value, datetime) else value
        await self._call(self._store.put_doc, SCHEDULE, state)
        return state

    async def next_fires(self, ref: str, count: int = 5) -> list[datetime]:
        """The next ``count`` fires of a task, in its zone (empty when disabled or expired)."""
        task = self._find_task(ref)
        if not task.enabled:
            return []
        out: list[datetime] = []
        after = self.clock.now()
        while len(out) < count:
            slot = task.schedule.next_after(after)
            if slot is None:
                break
            out.append(slot)
            after = slot
        return out

    # ------------------------------------------------------------------ inventory (targets)

    async def upsert_instances(self, targets: list[Target], *, actor: str | None = None) -> None:
        self._writable()

        await self._call(self._store.put_docs, INVENTORY, [t.to_dict() for t in targets])
        self._emit("inventory.changed", f"{len(targets)} instances added or updated", actor=actor or default_actor(),
                   data={"names": [t.name for t in targets[:50]], "count": len(targets)})
        await self.flush()

    async def import_inventory(self, text: str, *, source: str = "inventory", fmt: str = "auto",
                               actor: str | None = None) -> list[Target]:
        """Parse a whole inventory file and add or update its instances. Any bad line refuses the whole
        import (InventoryError lists every problem with its line) and nothing changes."""
        self._writable()
        targets = parse_inventory(text, source=source, fmt=fmt)  # type: ignore[arg-type]
        await self.upsert_instances(targets, actor=actor)
        return targets

    async def remove_instances(self, names: list[str], *, actor: str | None = None) -> list[str]:
        self._writable()
        known = {t.name for t in await self.list_instances()}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise NotFoundError(f"not in the inventory: {', '.join(unknown)}")

        await self._call(self._store.delete_docs, INVENTORY, names)
        self._emit("inventory.removed", f"{len(names)} instances removed", actor=actor or default_actor(),
                   data={"names": names[:50], "count": len(names)})
        await self.flush()
        return names

    async def list_instances(self, group: str | None = None) -> list[Target]:
        docs = await self._call(self._store.all_docs, INVENTORY)
        targets = [Target.from_dict(d) for d in docs]
        if group:
            targets = [t for t in targets if group in t.groups]
        return sorted(targets, key=lambda t: t.name)

    async def _resolve_targets(self, task: Task, run: Run) -> tuple[list[Target], list[str]]:
        """Instances named by the task (and its groups), and the names not in the inventory."""
        inventory = {t.name: t for t in await self.list_instances()}
        chosen: dict[str, Target] = {}
        unknown: list[str] = []
        for name in task.targets.instances:
            if name in inventory:
                chosen[name] = inventory[name]
            else:
                unknown.append(name)
        for group in task.targets.groups:
            members = [t for t in inventory.values() if group == "all" or group in t.groups]
            if not members:
                unknown.append(f"group:{group}")
            for t in members:
                chosen.setdefault(t.name, t)
        if run.only_hosts:
            chosen = {n: t for n, t in chosen.items() if n in set(run.only_hosts)}
        return list(chosen.values()), unknown

    # ------------------------------------------------------------------ runs

    def _new_run(self, task: Task, trigger: Trigger, state: RunState, *, actor: str,
                 scheduled_for: datetime | None = None, slot_through: datetime | None = None) -> Run:
        now = self.clock.now()
        return Run(
            id=ids.new_id(ids.RUN), task_id=task.id, task_name=task.name, trigger=trigger, state=state,
            created_at=now.isoformat(), timezone=task.schedule.timezone, actor=actor,
            scheduled_for=scheduled_for.astimezone(now.tzinfo).isoformat() if scheduled_for else None,
            slot_through=slot_through.astimezone(now.tzinfo).isoformat() if slot_through else None,
        )

    async def fire(self, task: Task, *, trigger: Trigger, actor: str, slot: datetime | None = None,
                   only_hosts: list[str] | None = None, parent_run_id: str | None = None) -> Run:
        """Create a run of ``task`` and start it (or park it for review). Used by the scheduler and by
        run-now. A fire while the task already has an active run is recorded as ``missed``."""
        active = next((r for r in self._open_runs.values() if r.task_id == task.id and r.state.active), None)
        if active is not None and trigger is Trigger.SCHEDULE:
            run = self._new_run(task, trigger, RunState.MISSED, actor=actor, scheduled_for=slot, slot_through=slot)
            run.missed_slots = [run.scheduled_for] if run.scheduled_for else []
            run.missed_count = 1
            run.error = f"the previous run {active.id} was still {active.state.value}"
            run.finished_at = run.created_at
            await self._save_new_run(run)
            self._emit("run.missed", f"{task.name}: slot skipped, previous run {active.id} still active",
                       task_id=task.id, run_id=run.id, actor=actor,
                       data={"slots": run.missed_slots, "count": 1, "reason": "overlap"})
            await self.flush()
            return run
        if active is not None:
            raise ConflictError(f"task {task.name} already has an active run ({active.id}); wait or cancel it")
        review = task.review.required and trigger is not Trigger.RESCAN
        run = self._new_run(task, trigger, RunState.PENDING_REVIEW if review else RunState.QUEUED,
                            actor=actor, scheduled_for=slot, slot_through=slot)
        run.only_hosts = list(only_hosts or [])
        run.parent_run_id = parent_run_id
        if review:
            run.review_deadline = (self.clock.now() + timedelta(seconds=task.review.expires_after)).isoformat()
        await self._save_new_run(run)
        self._emit("run.fired", f"{task.name}: run {run.id} fired ({trigger.value})", task_id=task.id,
                   run_id=run.id, actor=actor,
                   data={"trigger": trigger.value, "slot": run.scheduled_for, "state": run.state.value})
        if review:
            self._emit("run.pending_review", f"{task.name}: run {run.id} waits for review until "
                       f"{run.review_deadline}", task_id=task.id, run_id=run.id,
                       data={"deadline": run.review_deadline, "reviewers": list(task.review.reviewers)})
            if self.scheduler is not None:
                self.scheduler.wake()
        else:
            self._start_execution(run, task)
        await self.flush()
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
        await self._save_new_run(run)
        self._emit("run.missed", f"{task.name}: {run.error}", task_id=task.id, run_id=run.id, actor="scheduler",
                   data={"slots": run.missed_slots, "count": count, "capped": capped})
        await self.flush()
        return run

    async def run_now(self, ref: str, *, actor: str | None = None) -> Run:
        """Fire a task now, outside its schedule (review still applies when the task requires it)."""
        self._writable()
        task = self._find_task(ref)
        return await self.fire(task, trigger=Trigger.MANUAL, actor=actor or default_actor())

    async def rescan_failed(self, run_id: str, *, actor: str | None = None) -> Run:
        """A new run of the same task over only the hosts that failed in ``run_id``."""
        self._writable()
        run = await self.get_run(run_id)
        task = self._find_task(run.task_id)
        failed = [r.host for r in await self.host_results(run_id) if r.status is HostStatus.FAILED]
        if not failed:
            raise ConflictError(f"run {run_id} has no failed hosts to re-scan")
        return await self.fire(task, trigger=Trigger.RESCAN, actor=actor or default_actor(), only_hosts=failed,
                               parent_run_id=run_id)

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
            targets, unknown = await self._resolve_targets(task, run)
            run.hosts_total = len(targets) + len(unknown)
            await self._transition(run, RunState.RUNNING, f"{task.name}: run {run.id} started on "
                                   f"{run.hosts_total} hosts", kind="run.started",
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
            await self.flush()
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
            await self._transition(run, final, f"{task.name}: run {run.id} {message}", kind="run.finished",
                                   error=error, data={"state": final.value, "hosts_total": run.hosts_total,
                                                      "hosts_ok": run.hosts_ok, "hosts_failed": run.hosts_failed,
                                                      "categories": dict(run.categories)})
            self._controls.pop(run.id, None)

    async def _host_finished(self, run: Run, task: Task, result: HostResult, control: _RunControl) -> None:
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
        self._pending_results.append(result.to_dict())
        self._mark_dirty(run)
        self._emit("host.finished", f"{result.host}: {result.status.value}"
                   + (f" ({result.category}: {result.reason})" if result.category else ""),
                   task_id=run.task_id, run_id=run.id, host=result.host,
                   data={"status": result.status.value, "category": result.category, "reason": result.reason,
                         "missing": result.missing_count, "security": result.security_count,
                         "done": run.hosts_done, "total": run.hosts_total})
        threshold = task.targets.error_threshold
        if (run.state is RunState.RUNNING and result.status is HostStatus.FAILED
                and threshold.exceeded(run.hosts_failed, run.hosts_done)):
            await self._pause(run, control, f"error threshold exceeded: {run.hosts_failed} of {run.hosts_done} "
                              "finished hosts failed", actor="engine")

    async def _pause(self, run: Run, control: _RunControl, reason: str, *, actor: str) -> Run:
        """Hold a running run: hosts already connected finish, no new host starts until resume or cancel."""
        run.pause_reason = reason
        control.resumed.clear()
        return await self._transition(run, RunState.PAUSED, f"{run.task_name}: run {run.id} paused: {reason}",
                                      actor=actor, data={"reason": reason})

    def _open_run(self, run_id: str) -> Run:
        run = self._open_runs.get(run_id)
        if run is None:
            raise ConflictError(f"run {run_id} is not active")
        return run

    async def approve(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run:
        return await self._review(run_id, True, actor or default_actor(), note)

    async def reject(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run:
        return await self._review(run_id, False, actor or default_actor(), note)

    async def _review(self, run_id: str, approved: bool, actor: str, note: str | None) -> Run:
        self._writable()
        await self.get_run(run_id)
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
                                   kind="run.approved", data={"note": note})
            assert task is not None
            self._start_execution(run, task)
        else:
            await self._transition(run, RunState.REJECTED, f"run {run_id} rejected by {actor}", actor=actor,
                                   kind="run.rejected", data={"note": note})
        return run

    async def expire_reviews(self) -> datetime | None:
        """Expire reviews past their deadline; return the next deadline still ahead (for the scheduler)."""
        now = self.clock.now()
        upcoming: datetime | None = None
        for run in list(self._open_runs.values()):
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

    async def cancel(self, run_id: str, *, actor: str | None = None) -> Run:
        """Cancel a pending, queued, running or paused run: no new host is touched, open ones close."""
        self._writable()
        actor = actor or default_actor()
        await self.get_run(run_id)
        run = self._open_run(run_id)
        if run.state is RunState.PENDING_REVIEW:
            return await self._transition(run, RunState.CANCELLED, f"run {run_id} cancelled by {actor}",
                                          actor=actor)
        control = self._controls.get(run_id)
        if control is None:
            return await self._transition(run, RunState.CANCELLED, f"run {run_id} cancelled by {actor}",
                                          actor=actor)
        control.cancel.set()
        self._emit("run.cancel_requested", f"run {run_id}: cancel requested by {actor}", task_id=run.task_id,
                   run_id=run_id, actor=actor)
        return run

    async def pause(self, run_id: str, *, actor: str | None = None) -> Run:
        self._writable()
        actor = actor or default_actor()
        run = self._open_run(run_id)
        control = self._controls.get(run_id)
        if run.state is not RunState.RUNNING or control is None:
            raise ConflictError(f"run {run_id} is {run.state.value}; only a running run can be paused")
        return await self._pause(run, control, f"paused by {actor}", actor=actor)

    async def resume(self, run_id: str, *, actor: str | None = None) -> Run:
        self._writable()
        actor = actor or default_actor()
        run = self._open_run(run_id)
        control = self._controls.get(run_id)
        if run.state is not RunState.PAUSED or control is None:
            raise ConflictError(f"run {run_id} is {run.state.value}; only a paused run can be resumed")
        run.pause_reason = None
        await self._transition(run, RunState.RUNNING, f"run {run_id} resumed by {actor}", actor=actor,
                               kind="run.resumed")
        control.resumed.set()
        return run

    async def acknowledge(self, run_id: str, *, actor: str | None = None, note: str | None = None) -> Run:
        """An operator takes ownership of a failed, missed, interrupted or errored run."""
        self._writable()
        actor = actor or default_actor()
        run = await self.get_run(run_id)
        # Failures show up while a run is still going; an operator who has seen them may take them on then.
        failing_now = run.state in (RunState.RUNNING, RunState.PAUSED) and run.hosts_failed > 0
        if not failing_now and run.state not in (RunState.FAILED, RunState.ERROR, RunState.MISSED,
                                                 RunState.INTERRUPTED, RunState.REVIEW_EXPIRED):
            raise ConflictError(f"run {run_id} is {run.state.value} with no failed host: only failures need "
                                "acknowledging")
        if run.acknowledged_by:
            raise ConflictError(f"run {run_id} was already acknowledged by {run.acknowledged_by} "
                                f"at {run.acknowledged_at}")
        run.acknowledged_by, run.acknowledged_at, run.ack_note = actor, self.clock.now().isoformat(), note
        self._dirty_runs.pop(run.id, None)
        await self._call(lambda: self._store.sharded("runs").update(run.id, run.to_dict()))
        self._emit("run.acknowledged", f"run {run_id} acknowledged by {actor}", task_id=run.task_id,
                   run_id=run_id, actor=actor, data={"note": note})
        await self.flush()
        return run

    # ------------------------------------------------------------------ credentials and host keys

    def credential_profile(self, name: str) -> CredentialProfile:
        """The profile ``name``; ``default`` falls back to the operator's agent/keys when not configured."""
        profile = self._profiles.get(name)
        if profile is not None:
            return profile
        if name == "default":
            return default_profile()
        raise NotFoundError(f"no credential profile {name!r}: add it with patchwatch credential add")

    async def list_credentials(self) -> list[CredentialProfile]:
        return sorted(self._profiles.values(), key=lambda p: p.name)

    async def put_credential(self, profile: CredentialProfile, *, actor: str | None = None) -> CredentialProfile:
        """Add or replace a credential profile (paths and settings; key contents are never stored)."""
        self._writable()
        profile.validate()
        await self._call(self._store.put_doc, CREDENTIALS, profile.to_dict())
        self._profiles[profile.name] = profile
        self._emit("credential.saved", f"credential profile {profile.name} saved", actor=actor or default_actor(),
                   data={"name": profile.name, "user": profile.user, "sudo": profile.sudo,
                         "keys": len(profile.key_files), "agent": profile.use_agent})
        await self.flush()
        return profile

    async def fetch_host_key(self, name: str, *, port: int | None = None, timeout: float = 10.0) -> HostKeyInfo:
        """The host key ``name`` (an inventory instance or an address) presents now; trusts nothing. What an
        operator looks at, and verifies out of band, before :meth:`accept_host_key`."""
        target = next((t for t in await self.list_instances() if t.name == name), None)
        address, key_port = (target.address, port or target.port) if target else (name, port or 22)
        return await fetch_host_key(address, key_port, timeout=timeout)

    async def accept_host_key(self, name: str, *, actor: str | None = None, port: int | None = None,
                              timeout: float = 10.0, fingerprint: str | None = None) -> HostKeyInfo:
        """Fetch the host key that ``name`` (an inventory instance or an address) presents now, add it to
        Patchwatch's known_hosts, and record who accepted which fingerprint. An explicit operator action:
        scans never accept keys on their own. With ``fingerprint`` (the one the operator verified), a host
        presenting any other key is refused and nothing is trusted."""
        self._writable()
        actor = actor or default_actor()
        info = await self.fetch_host_key(name, port=port, timeout=timeout)
        address, key_port = info.address, info.port
        check_fingerprint(info, fingerprint)
        await asyncio.to_thread(append_known_host, self.data_dir / ACCEPTED_KNOWN_HOSTS, info)
        for job in self._jobs.values():
            forget = getattr(job, "forget_credentials", None)
            if forget is not None:
                forget()
        self._emit("hostkey.accepted", f"host key of {name} ({address}:{key_port}) accepted by {actor}: "
                   f"{info.fingerprint}", host=name, actor=actor,
                   data={"address": address, "port": key_port, "algorithm": info.algorithm,
                         "fingerprint": info.fingerprint})
        await self.flush()
        return info

    # ------------------------------------------------------------------ people, shifts, notifications

    async def import_people(self, text: str, *, source: str = "people.toml", actor: str | None = None) -> Directory:
        """Add or replace people and shift scenarios from a TOML file (all or nothing)."""
        self._writable()
        if self.notifier is None:
            raise ConflictError("notifications are off in this engine")
        return await self.notifier.import_people(text, source, actor or default_actor())

    async def directory(self) -> Directory:
        if self.notifier is not None:
            return self.notifier.directory
        doc = await self._call(self._store.get_doc, PEOPLE, DIRECTORY_DOC)
        return Directory.from_dict(doc["directory"]) if doc else Directory(people={}, scenarios={})

    async def oncall(self, at: datetime | None = None) -> list[tuple[str, str, list[str]]]:
        """(scenario, role, people on duty) for every role of every scenario at ``at`` (default now)."""
        directory = await self.directory()
        moment = at or self.clock.now()
        return [(scenario.name, role.name, [p.name for p in directory.on_duty(scenario.name, role.name, moment)])
                for scenario in directory.scenarios.values() for role in scenario.roles]

    async def list_notifications(self, *, status: str | None = None, run_id: str | None = None,
                                 limit: int = 100) -> list[OutboxRecord]:
        """Outbox records, newest first."""
        docs = await self._newest(OUTBOX, "run_id", run_id, lambda d: status is None or d["status"] == status,
                                  limit)
        return [OutboxRecord.from_dict(d) for d in docs]

    async def retry_notification(self, record_id: str, *, actor: str | None = None) -> OutboxRecord:
        self._writable()
        if self.notifier is None:
            raise ConflictError("notifications are off in this engine")
        return await self.notifier.retry_now(record_id, actor or default_actor())

    async def notify_test(self, mode: str, person: str, *, actor: str | None = None) -> OutboxRecord:
        """Send a test notice to ``person`` by ``mode`` now and return its recorded outcome."""
        self._writable()
        if self.notifier is None:
            raise ConflictError("notifications are off in this engine")
        record = await self.notifier.send_test(mode, person, actor or default_actor())
        await self.flush()
        return record

    # ------------------------------------------------------------------ queries

    async def get_run(self, run_id: str) -> Run:
        run = self._open_runs.get(run_id) or self._dirty_runs.get(run_id)
        if run is not None:
            return run
        doc = await self._call(lambda: self._store.sharded("runs").get(run_id))
        if doc is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return Run.from_dict(doc)

    async def list_runs(self, *, task: str | None = None, states: set[RunState] | None = None,
                        limit: int = 50) -> list[Run]:
        """Runs, newest first, optionally of one task and in some states."""
        task_id = self._find_task(task).id if task else None
        docs = await self._newest("runs", "task_id", task_id,
                                  lambda d: states is None or RunState(d["state"]) in states, limit)
        return [Run.from_dict(d) for d in docs]

    async def _newest(self, table: str, field: str, value: str | None,
                      wanted: Callable[[dict[str, Any]], bool], limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` records of a sharded table that pass ``wanted``; with ``value``, only those
        whose indexed ``field`` equals it (read through the index, not by scanning every shard)."""
        await self.flush_if_dirty()

        def query() -> list[dict[str, Any]]:
            sharded = self._store.sharded(table)
            found = (sharded.iter_by(field, value, newest_first=True, predicate=wanted) if value
                     else sharded.iter_newest(wanted))
            return list(itertools.islice(found, max(0, limit)))

        return await self._call(query)

    async def flush_if_dirty(self) -> bool:
        if self.read_only:
            return False
        if self._dirty_runs or self._pending_results or self._pending_events or self._dirty_outbox:
            await self.flush()
            return True
        return False

    async def latest_run(self, task_id: str) -> Run | None:
        def query() -> dict[str, Any] | None:
            return next(self._store.sharded("runs").iter_by("task_id", task_id, newest_first=True), None)

        doc = await self._call(query)
        return Run.from_dict(doc) if doc else None

    async def host_results(self, run_id: str) -> list[HostResult]:
        await self.flush_if_dirty()

        docs = await self._call(lambda: self._store.sharded("host_results").find_by("run_id", run_id))
        return [HostResult.from_dict(d) for d in docs]

    async def transcript(self, run_id: str, host: str) -> str:
        return await self._call(self._store.read_transcript, run_id, host)

    async def query_events(self, **filters: Any) -> list[Event]:
        """The trace, filtered (since, until, task_id, run_id, host, kind, text, limit, newest_first)."""
        await self.flush_if_dirty()
        docs = await self._call(self._store.query_events, **filters)
        return [Event.from_dict(d) for d in docs]

    async def wait_run(self, run_id: str, timeout: float | None = None) -> Run:
        """Wait until ``run_id`` reaches a terminal state; return it."""
        run = await self.get_run(run_id)
        if run.state.terminal:
            return run
        future: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        self._run_waiters.setdefault(run_id, []).append(future)
        return await asyncio.wait_for(future, timeout)

    async def idle(self) -> None:
        """Wait until no run is executing (tests, and clean shutdown of one-shot commands)."""
        while self._executions:
            await asyncio.gather(*list(self._executions.values()), return_exceptions=True)
        await self.flush_if_dirty()

    def open_runs(self) -> list[Run]:
        """Runs not yet terminal (pending review, queued, running, paused)."""
        return list(self._open_runs.values())

    def open_runs_executing(self) -> bool:
        return bool(self._executions)

    def task_snapshot(self) -> list[Task]:
        return list(self._tasks.values())


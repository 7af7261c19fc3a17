"""Typed repositories: the only place that names the store's tables.

Each repository turns one table into the operations its owner needs (tasks, schedule state, runs and the
ids of open runs, host results, the outbox, the trace, the inventory, credential profiles, the people
directory). Records of the core domain (tasks, runs, host results, events) come back as domain objects;
records owned by a service above the store (outbox records, credential profiles, the people directory,
inventory targets) come back as the dicts that service's own ``from_dict`` reads, because the store sits
below those services and must not import them.

Repositories are synchronous and thread-confined like :class:`~console.store.store.Store`: they are called
on the one I/O thread that owns the store (``DataStore.call``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from console.domain.events import Event
from console.domain.run import HostResult, Run
from console.domain.task import Task
from console.store.history import HostHistory
from console.store.store import Store

# Main-file tables (small, bounded).
_TASKS = "tasks"
_SCHEDULE = "schedule"  # per task: next_fire (UTC ISO), expired flag
_OPEN_RUNS = "open_runs"  # ids of runs not yet terminal: how a restart finds interrupted runs
_INVENTORY = "inventory"
_CREDENTIALS = "credentials"  # credential profiles (paths and settings only: no secret is stored)
_PEOPLE = "people"
_ALARMS = "alarms"  # open alarms, and resolved ones until history retention prunes them
_SILENCES = "silences"
_DIRECTORY_DOC = "directory"
# Sharded tables (growing).
_RUNS = "runs"
_HOST_RESULTS = "host_results"
_OUTBOX = "outbox"
# Monthly files of slim per-host entries (console.store.history): what coverage reports read.
_HOST_HISTORY = "host_history"
#: How long host results may wait for the history index while results keep coming (seconds).
INDEX_DELAY = 5.0

Doc = dict[str, Any]


class TaskRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    def all(self) -> list[Task]:
        return [Task.from_dict(d) for d in self._store.all_docs(_TASKS)]

    def put(self, task: Task) -> None:
        self._store.put_doc(_TASKS, task.to_dict())

    def delete(self, task_id: str) -> None:
        self._store.delete_doc(_TASKS, task_id)
        self._store.delete_doc(_SCHEDULE, task_id)


class ScheduleRepository:
    """When each task fires next, and whether it expired: what makes a slot fire once across restarts."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, task_id: str) -> Doc:
        return self._store.get_doc(_SCHEDULE, task_id) or {"id": task_id}

    def put(self, state: Mapping[str, Any]) -> None:
        self._store.put_doc(_SCHEDULE, state)


class RunRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    def insert(self, run: Run) -> None:
        """A new run; a run that is not terminal is also listed as open, so a restart finds it."""
        self._store.sharded(_RUNS).insert(run.to_dict())
        if not run.state.terminal:
            self._store.put_doc(_OPEN_RUNS, {"id": run.id, "task_id": run.task_id})

    def insert_many(self, runs: list[Run]) -> None:
        """Finished runs in one batch (imports, benchmarks); open runs go through :meth:`insert`."""
        self._store.sharded(_RUNS).insert_many([run.to_dict() for run in runs])

    def update(self, run: Run) -> None:
        self._store.sharded(_RUNS).update(run.id, run.to_dict())
        if run.state.terminal:
            self._store.delete_doc(_OPEN_RUNS, run.id)

    def update_many(self, runs: Iterable[Run]) -> None:
        """Progress counters of many runs, one write per touched shard."""
        self._store.sharded(_RUNS).update_many({run.id: run.to_dict() for run in runs})

    def get(self, run_id: str) -> Run | None:
        doc = self._store.sharded(_RUNS).get(run_id)
        return Run.from_dict(doc) if doc else None

    def open_runs(self) -> list[Run]:
        runs = self._store.sharded(_RUNS)
        docs = (runs.get(d["id"]) for d in self._store.all_docs(_OPEN_RUNS))
        return [Run.from_dict(d) for d in docs if d is not None]

    def newest(self, *, task_id: str | None, wanted: Callable[[Doc], bool], limit: int) -> list[Run]:
        """The newest ``limit`` runs that pass ``wanted``, of one task (read through its index) or of all."""
        return [Run.from_dict(d) for d in _newest(self._store, _RUNS, "task_id", task_id, wanted, limit)]

    def created_between(self, since: str, until: str) -> list[Run]:
        """Runs created in [since, until) (ISO, UTC), newest first; stops at the first older one."""
        found = itertools.takewhile(lambda d: d["created_at"] >= since, self._store.sharded(_RUNS).iter_newest())
        return [Run.from_dict(d) for d in found if d["created_at"] < until]

    def get_many(self, run_ids: Iterable[str]) -> dict[str, Run]:
        """The runs of ``run_ids`` that exist, by id (each shard read once at most, through the LRU)."""
        runs = self._store.sharded(_RUNS)
        docs = ((rid, runs.get(rid)) for rid in dict.fromkeys(run_ids))
        return {rid: Run.from_dict(d) for rid, d in docs if d is not None}

    def latest(self, task_id: str) -> Run | None:
        doc = next(self._store.sharded(_RUNS).iter_by("task_id", task_id, newest_first=True), None)
        return Run.from_dict(doc) if doc else None


class HostResultRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    def insert_new(self, results: list[Doc]) -> None:
        """Insert the results not stored yet: a batch retried after a failed write may be partly on disk."""
        table = self._store.sharded(_HOST_RESULTS)
        fresh = [d for d in results if d["id"] not in table]
        if fresh:
            table.insert_many(fresh, copies=False)
        # The history index after the results, a few seconds behind (console.store.history says why): a crash
        # in between leaves the index behind (repaired by HostHistoryRepository.catch_up), never ahead.
        # Idempotent, so a retried batch repairs it.
        index = self._store.history(_HOST_HISTORY)
        index.defer(results)
        index.apply_deferred(older_than=INDEX_DELAY)

    def settle_index(self) -> None:
        """No more results are coming for now: the history index takes the deferred ones at once."""
        self._store.history(_HOST_HISTORY).apply_deferred()

    def of_run(self, run_id: str) -> list[HostResult]:
        return [HostResult.from_dict(d) for d in self._store.sharded(_HOST_RESULTS).find_by("run_id", run_id)]


class HostHistoryRepository:
    """The per-host history index (``console.store.history``) and the retention of host results."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def index(self) -> HostHistory:
        """The index, level with every host result stored so far (deferred entries are written first)."""
        index = self._store.history(_HOST_HISTORY)
        index.apply_deferred()
        return index

    def catch_up(self) -> int:
        """Bring the index level with the stored results; returns how many entries were added.

        A missing index (an older data directory, or a rebuild a crash interrupted) is rebuilt from every
        result, month by month; otherwise the newest result shards are re-applied until one shard is found
        complete in the index (a crash can only have cut the last batch, which may span shards).
        """
        index = self.index
        if index.built and index.newest_write() >= self._newest_results_write():
            # The index was written after the newest results: level. Checked on file times, so that a
            # command opening the data directory does not read every result shard to build its ids.
            return 0
        results = self._store.sharded(_HOST_RESULTS)
        added = 0
        if not index.built:
            chunk: list[Doc] = []
            for number in results.shard_numbers:
                chunk.extend(results.shard_docs(number))
                if len(chunk) >= 5_000:
                    added += index.apply(chunk)
                    chunk = []
            added += index.apply(chunk)
            index.mark_built()
            return added
        for number in reversed(results.shard_numbers):
            absent = index.missing(results.shard_docs(number))
            if not absent:
                break
            added += index.apply(absent)
        return added

    def _newest_results_write(self) -> float:
        directory = self._store.data_dir / _HOST_RESULTS
        return max((p.stat().st_mtime for p in directory.glob("*.json")), default=0.0)

    def prune(self, before: str) -> tuple[int, int, int]:
        """Retention: drop host-result shards whose every result finished before ``before`` (ISO, UTC) and
        index entries older than its day. Returns (results removed, shards removed, index entries removed).

        Whole shards only, oldest first, stopping at the first shard holding a newer result: results are
        written in time order, so this removes what is due without rewriting any shard."""
        months = self.index.months()
        if self.index.built and (not months or months[0] > before[:7]):
            # Results are indexed in time order: nothing indexed before the cutoff's month means nothing is due
            # (checked without reading every result shard).
            return 0, 0, 0
        results = self._store.sharded(_HOST_RESULTS)
        removed = shards = 0
        for number in results.shard_numbers[:-1]:
            docs = results.shard_docs(number)
            if any((d.get("finished_at") or d.get("started_at") or "") >= before for d in docs):
                break
            removed += results.drop_shard(number)
            shards += 1
        return removed, shards, self.index.prune_before(before[:10])


class OutboxRepository:
    """Outbox records as dicts (``console.notify.outbox.OutboxRecord`` reads them)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def insert(self, doc: Doc) -> None:
        self._store.sharded(_OUTBOX).insert(doc)

    def insert_many(self, docs: list[Doc]) -> None:
        self._store.sharded(_OUTBOX).insert_many(docs)

    def update_many(self, changes: Mapping[str, Doc]) -> None:
        self._store.sharded(_OUTBOX).update_many(changes)

    def get(self, record_id: str) -> Doc | None:
        return self._store.sharded(_OUTBOX).get(record_id)

    def unfinished(self, finished: frozenset[str]) -> list[Doc]:
        """Records whose status is not in ``finished``, newest first."""
        return list(self._store.sharded(_OUTBOX).iter_newest(lambda d: d["status"] not in finished))

    def created_since(self, horizon: str) -> list[Doc]:
        """Records created at or after ``horizon`` (ISO), newest first; stops at the first older one."""
        return list(itertools.takewhile(lambda d: d["created_at"] >= horizon,
                                        self._store.sharded(_OUTBOX).iter_newest()))

    def newest(self, *, run_id: str | None, wanted: Callable[[Doc], bool], limit: int) -> list[Doc]:
        return _newest(self._store, _OUTBOX, "run_id", run_id, wanted, limit)


class EventRepository:
    """The trace. Sequence numbers come with the events (assigned at publish); the store keeps them."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def append_new(self, events: list[Doc]) -> None:
        """Append the events not stored yet (a batch retried after a failed write may be partly on disk)."""
        self._store.append_events(events, skip_stored=True, copies=False)

    def next_seq(self) -> int:
        return self._store.next_event_seq()

    def after(self, seq: int, limit: int = 100_000) -> list[Event]:
        return [Event.from_dict(d) for d in self._store.events_after(seq, limit)]

    def query(self, **filters: Any) -> list[Event]:
        return [Event.from_dict(d) for d in self._store.query_events(**filters)]


class InventoryRepository:
    """Inventory targets as dicts (``console.jobs.Target`` reads them)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def all(self) -> list[Doc]:
        return self._store.all_docs(_INVENTORY)

    def put_many(self, docs: list[Doc]) -> None:
        self._store.put_docs(_INVENTORY, docs)

    def delete_many(self, names: list[str]) -> None:
        self._store.delete_docs(_INVENTORY, names)


class CredentialRepository:
    """Credential profiles as dicts (``console.scan.credentials.CredentialProfile`` reads them)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def all(self) -> list[Doc]:
        return self._store.all_docs(_CREDENTIALS)

    def put(self, doc: Doc) -> None:
        self._store.put_doc(_CREDENTIALS, doc)


class PeopleRepository:
    """The people and shift directory, one document (``console.notify.people.Directory`` reads it)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self) -> Doc | None:
        doc = self._store.get_doc(_PEOPLE, _DIRECTORY_DOC)
        return doc["directory"] if doc else None

    def put(self, directory: Doc) -> None:
        self._store.put_doc(_PEOPLE, {"id": _DIRECTORY_DOC, "directory": directory})


class AlarmRepository:
    """Alarms (console.domain.alarm) as the dicts ``Alarm.from_dict`` reads. Few: one per task and episode."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def put_many(self, docs: Iterable[Doc]) -> None:
        self._store.put_docs(_ALARMS, docs)

    def all(self) -> list[Doc]:
        return self._store.all_docs(_ALARMS)

    def get(self, alarm_id: str) -> Doc | None:
        return self._store.get_doc(_ALARMS, alarm_id)

    def delete_resolved_before(self, before: str) -> int:
        stale = [d["id"] for d in self._store.all_docs(_ALARMS)
                 if d.get("state") == "resolved" and (d.get("resolved_at") or "") < before]
        return self._store.delete_docs(_ALARMS, stale) if stale else 0


class SilenceRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    def put(self, doc: Doc) -> None:
        self._store.put_doc(_SILENCES, doc)

    def all(self) -> list[Doc]:
        return self._store.all_docs(_SILENCES)


class Repositories:
    """Every repository over one open store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tasks = TaskRepository(store)
        self.schedule = ScheduleRepository(store)
        self.runs = RunRepository(store)
        self.host_results = HostResultRepository(store)
        self.host_history = HostHistoryRepository(store)
        self.outbox = OutboxRepository(store)
        self.events = EventRepository(store)
        self.inventory = InventoryRepository(store)
        self.credentials = CredentialRepository(store)
        self.people = PeopleRepository(store)
        self.alarms = AlarmRepository(store)
        self.silences = SilenceRepository(store)


def _newest(store: Store, table: str, field: str, value: str | None, wanted: Callable[[Doc], bool],
            limit: int) -> list[Doc]:
    """The newest ``limit`` records of a sharded table that pass ``wanted``; with ``value``, only those
    whose indexed ``field`` equals it (read through the index, not by scanning every shard)."""
    sharded = store.sharded(table)
    found = (sharded.iter_by(field, value, newest_first=True, predicate=wanted) if value
             else sharded.iter_newest(wanted))
    return list(itertools.islice(found, max(0, limit)))

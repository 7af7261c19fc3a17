"""The per-host scan history index: one slim entry per host result, in one file per calendar month (UTC).

Why it exists: a coverage report over a year must not parse a year of host results. Host results carry the
package lists (often 5-25 KB each), so 1,000 hosts scanned daily for a year is several GB of shards; the report
needs only when each host was scanned, by which task and run, with what outcome, category, missing and
security counts and reboot flag. This index keeps exactly that, about 100 bytes per result.

Layout: ``<directory>/YYYY-MM.json``, each written atomically through
:class:`~console.store.atomic.AtomicJSONStorage`, holding ``{"ids": {"tasks": [...], "runs": [...]},
"hosts": {host: {"DD": [entry, ...]}}}``. An entry is the list ``[at, task, run, ok, category, missing,
security, reboot]`` (see :data:`FIELDS`): ``at`` in epoch seconds, ``task`` and ``run`` positions in the
month's id lists, ``ok`` 1 or 0. Ids and ISO times would make each entry four times larger, and parsing the
index is most of a year report's cost. ``hosts.json`` lists, per host, the months holding any of its attempts
(``a``) and those holding a success (``o``): a report over the last month reads that month and jumps straight
to the month of each host's last success, instead of reading back through the whole retention (and a host
it does not list was never scanned).
Monthly files are the bounded shards: a write rewrites one month (the current one, in practice), a report
over a period reads only the months it overlaps, and retention drops whole months.

Consistency: entries are added after the host results they come from: ``HostResultRepository.insert_new``
hands each batch to :meth:`HostHistory.defer`, and :meth:`HostHistory.apply_deferred` writes them into the
month file once the oldest has waited a few seconds, when results stop coming, before anything reads the
index, and at close. Why not with every batch: a month file holds the whole fleet's month (1,000 hosts
scanned daily: about a megabyte), and the engine writes a batch every half second while a run goes, so
indexing each batch rewrote that file twice a second for the length of every run. Applying is idempotent
(a host's day never holds the same run twice), so a batch retried after a crash or a failed write repairs
the index, and ``HostHistoryRepository.catch_up`` (run when the engine opens) re-applies the newest results
and rebuilds the whole index from the results when it is missing (the ``.built`` marker is written only once
a rebuild finished).

Only final scan outcomes are indexed: ``ok`` and ``failed``. ``skipped`` and ``cancelled`` hosts were never
scanned, so they say nothing about coverage.

Not thread-safe: the store's one I/O thread (see :mod:`console.store.store`).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.errors import StoreError
from console.store.atomic import AtomicJSONStorage, fsync_directory

__all__ = ["FIELDS", "HostHistory", "entry_of"]

#: Positions of an entry's fields (``task_id`` and ``run_id`` are positions in the month's id lists).
FIELDS = ("at", "task_id", "run_id", "ok", "category", "missing", "security", "reboot")
_HOSTS_FILE = "hosts.json"
_INDEXED_STATUSES = ("ok", "failed")
_MONTH_RE = re.compile(r"^(\d{4}-\d{2})\.json$")
_BUILT_MARKER = ".built"

Entry = list[Any]


def entry_of(result: Mapping[str, Any]) -> tuple[str, Entry] | None:
    """(UTC ``YYYY-MM-DD``, the slim entry with ids still as strings) of one stored host result, or None when
    it is not a scan outcome."""
    status = result.get("status")
    at = result.get("finished_at") or result.get("started_at")
    if status not in _INDEXED_STATUSES or not isinstance(at, str) or len(at) < 10:
        return None
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.date().isoformat(), [round(moment.timestamp(), 6), result.get("task_id"), result.get("run_id"),
                                       1 if status == "ok" else 0, result.get("category"),
                                       int(result.get("missing_count") or 0), result.get("security_count"),
                                       result.get("reboot_required")]


class HostHistory:
    """Monthly files of slim per-host entries (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str], *, read_only: bool = False, cached_months: int = 3) -> None:
        self.directory = Path(directory)
        self.read_only = read_only
        self._cached_months = max(1, cached_months)
        self._open: OrderedDict[str, AtomicJSONStorage] = OrderedDict()
        self._hosts: AtomicJSONStorage | None = None
        #: Per cached month: id -> position, for the task and run id lists (rebuilt when a month is read).
        self._positions: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        #: Month files written by this object (a write = one whole-file rewrite), for tests and benchmarks.
        self.writes = 0
        #: Results handed to :meth:`defer` and not in the files yet, and when the oldest of them came.
        self._deferred: list[Mapping[str, Any]] = []
        self._deferred_since = 0.0
        if not read_only and not self.directory.exists():
            self.directory.mkdir(parents=True)
            fsync_directory(self.directory.parent)

    # -- files ---------------------------------------------------------------------------------------------

    def months(self) -> list[str]:
        """The months that have a file, oldest first (``YYYY-MM``)."""
        if not self.directory.is_dir():
            return []
        found = [m.group(1) for e in self.directory.iterdir() if (m := _MONTH_RE.match(e.name)) and e.is_file()]
        return sorted(found)

    def _storage(self, month: str) -> AtomicJSONStorage:
        storage = self._open.get(month)
        if storage is None:
            storage = AtomicJSONStorage(self.directory / f"{month}.json", read_only=self.read_only)
            self._open[month] = storage
            while len(self._open) > self._cached_months:
                evicted, old = self._open.popitem(last=False)
                old.close()
                self._positions.pop(evicted, None)
        else:
            self._open.move_to_end(month)
        return storage

    def month(self, month: str) -> dict[str, dict[str, list[Entry]]]:
        """``{host: {"DD": [entry, ...]}}`` of one month, as stored: callers must not mutate it."""
        data = self._storage(month).read() or {}
        return data.get("hosts", {})

    def month_ids(self, month: str) -> tuple[list[str], list[str]]:
        """(task ids, run ids) of one month: an entry's ``task_id`` and ``run_id`` are positions in them."""
        ids = (self._storage(month).read() or {}).get("ids", {})
        return ids.get("tasks", []), ids.get("runs", [])

    def host_months(self) -> dict[str, dict[str, list[str]]]:
        """Per host ever indexed: ``{"a": months with an attempt, "o": months with a success}``, sorted."""
        data = self._hosts_storage().read() or {}
        return data.get("hosts", {})

    def _hosts_storage(self) -> AtomicJSONStorage:
        if self._hosts is None:
            self._hosts = AtomicJSONStorage(self.directory / _HOSTS_FILE, read_only=self.read_only)
        return self._hosts

    def scan(self, months: Iterable[str],
             visit: Callable[[str, dict[str, list[Entry]], list[str], list[str]], None]) -> None:
        """Call ``visit(month, {host: {"DD": [entry, ...]}}, task_ids, run_ids)`` for each of ``months``
        (the stored objects themselves: read-only).

        Each month is parsed once and dropped afterwards unless it is among the cached ones, so a report over
        a year holds one parsed month at a time.
        """
        for month in months:
            cached = month in self._open
            tasks, runs = self.month_ids(month)
            visit(month, self.month(month), tasks, runs)
            if not cached:
                storage = self._open.pop(month, None)
                if storage is not None:
                    storage.close()
                self._positions.pop(month, None)

    # -- writing -------------------------------------------------------------------------------------------

    def apply(self, results: Iterable[Mapping[str, Any]]) -> int:
        """Add the entries of ``results`` not indexed yet, one write per touched month; returns how many."""
        by_month: dict[str, list[tuple[str, str, Entry]]] = {}
        for result in results:
            found = entry_of(result)
            host = result.get("host")
            if found is None or not isinstance(host, str):
                continue
            day, entry = found
            by_month.setdefault(day[:7], []).append((host, day[8:10], entry))
        if not by_month:
            return 0
        self._remember_months(by_month)
        added = 0
        for month, items in sorted(by_month.items()):
            added += self._apply_month(month, items)
        return added

    def _remember_months(self, by_month: dict[str, list[tuple[str, str, Entry]]]) -> None:
        """Record the months each host has attempts and successes in (before the entries: a crash in between
        only costs a report some reading, never a host taken for never scanned)."""
        storage = self._hosts_storage()
        data = storage.read() or {"hosts": {}}
        known = data.setdefault("hosts", {})
        changed = False
        for month, items in by_month.items():
            for host, _, entry in items:
                lists = known.setdefault(host, {"a": [], "o": []})
                for key, wanted in (("a", True), ("o", bool(entry[3]))):
                    if wanted and month not in lists[key]:
                        lists[key].append(month)
                        lists[key].sort()
                        changed = True
        if changed:
            self._check_writable()
            storage.write(data)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.directory} is open read-only; this process does not own the data directory")

    def _month_positions(self, month: str, data: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
        positions = self._positions.get(month)
        if positions is None:
            ids = data.get("ids", {})
            positions = ({t: i for i, t in enumerate(ids.get("tasks", []))},
                         {r: i for i, r in enumerate(ids.get("runs", []))})
            self._positions[month] = positions
        return positions

    def _apply_month(self, month: str, items: list[tuple[str, str, Entry]]) -> int:
        self._check_writable()
        storage = self._storage(month)
        data = storage.read() or {"ids": {"tasks": [], "runs": []}, "hosts": {}}
        ids = data.setdefault("ids", {"tasks": [], "runs": []})
        hosts = data.setdefault("hosts", {})
        task_pos, run_pos = self._month_positions(month, data)
        added = 0
        try:
            for host, day, entry in items:
                task, run = entry[1], entry[2]
                if task not in task_pos:
                    task_pos[task] = len(ids["tasks"])
                    ids["tasks"].append(task)
                if run not in run_pos:
                    run_pos[run] = len(ids["runs"])
                    ids["runs"].append(run)
                slim = [entry[0], task_pos[task], run_pos[run], *entry[3:]]
                entries = hosts.setdefault(host, {}).setdefault(day, [])
                if any(e[2] == slim[2] for e in entries):
                    continue
                entries.append(slim)
                entries.sort(key=lambda e: e[0])
                added += 1
            if added:
                storage.write(data)
                self.writes += 1
        except BaseException:
            # The cached month may hold half of this batch: forget it, the file is what counts.
            self._positions.pop(month, None)
            storage.drop_cache()
            raise
        return added

    def missing(self, results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The results whose entry is not in the index (what a crash between the two writes left out)."""
        absent = []
        for result in results:
            found = entry_of(result)
            if found is None:
                continue
            day, entry = found
            month = day[:7]
            data = self._storage(month).read() or {}
            _, run_pos = self._month_positions(month, data)
            run = run_pos.get(entry[2])
            entries = data.get("hosts", {}).get(result.get("host", ""), {}).get(day[8:10], [])
            if run is None or not any(e[2] == run for e in entries):
                absent.append(result)
        return absent

    def newest_write(self) -> float:
        """The modification time of the newest file of the index (0 when it has none)."""
        if not self.directory.is_dir():
            return 0.0
        return max((e.stat().st_mtime for e in self.directory.iterdir() if e.suffix == ".json"), default=0.0)

    @property
    def built(self) -> bool:
        """Whether the index was built (or rebuilt) from the results at least once."""
        return (self.directory / _BUILT_MARKER).exists()

    def mark_built(self) -> None:
        (self.directory / _BUILT_MARKER).write_text("host history index complete\n", encoding="utf-8")
        fsync_directory(self.directory)

    def prune_before(self, day: str) -> int:
        """Remove entries older than ``day`` (``YYYY-MM-DD``): whole months dropped, the boundary month
        rewritten once. Returns how many entries were removed."""
        removed = 0
        for month in self.months():
            if month > day[:7]:
                break
            if month < day[:7]:
                removed += sum(len(es) for days in self.month(month).values() for es in days.values())
                storage = self._open.pop(month, None)
                if storage is not None:
                    storage.close()
                self._positions.pop(month, None)
                (self.directory / f"{month}.json").unlink()
                continue
            storage = self._storage(month)
            data = storage.read() or {"hosts": {}}
            cut = day[8:10]
            changed = 0
            for host in list(data.get("hosts", {})):
                days = data["hosts"][host]
                for d in [d for d in days if d < cut]:
                    changed += len(days.pop(d))
                if not days:
                    del data["hosts"][host]
            if changed:
                storage.write(data)
                self.writes += 1
                removed += changed
        if removed:
            fsync_directory(self.directory)
            storage = self._hosts_storage()
            data = storage.read() or {"hosts": {}}
            cut = day[:7]
            for lists in data.get("hosts", {}).values():
                for key in ("a", "o"):
                    lists[key] = [m for m in lists.get(key, []) if m >= cut]
            storage.write(data)
        return removed

    def defer(self, results: Iterable[Mapping[str, Any]]) -> None:
        """Take ``results`` for the index without writing them yet (see the module docstring); anything that
        reads the index calls :meth:`apply_deferred` first."""
        results = list(results)
        if results:
            if not self._deferred:
                self._deferred_since = time.monotonic()
            self._deferred.extend(results)

    def apply_deferred(self, *, older_than: float = 0.0) -> int:
        """Write the deferred results into the index, if the oldest of them has waited ``older_than`` seconds
        (by default whatever their age); returns how many entries were added. A failed write keeps them
        deferred for the next call (applying is idempotent)."""
        if not self._deferred or time.monotonic() - self._deferred_since < older_than:
            return 0
        pending, self._deferred = self._deferred, []
        try:
            return self.apply(pending)
        except BaseException:
            self._deferred[:0] = pending
            raise

    def close(self) -> None:
        if not self.read_only:
            # What cannot be written now (a full disk) is re-applied from the results when the store opens
            # next (HostHistoryRepository.catch_up): closing never fails on it.
            with contextlib.suppress(StoreError, OSError):
                self.apply_deferred()
        for storage in self._open.values():
            storage.close()
        self._open.clear()
        self._positions.clear()
        if self._hosts is not None:
            self._hosts.close()

    def __iter__(self) -> Iterator[str]:
        return iter(self.months())

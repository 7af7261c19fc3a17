"""The per-host scan history index: one slim entry per host result, in one file per calendar month (UTC).

Why it exists: a coverage report over a year must not parse a year of host results. Host results carry the
package lists (often 5-25 KB each), so 1,000 hosts scanned daily for a year is several GB of shards; the report
needs only when each host was scanned, by which task and run, with what outcome, category, missing and
security counts and reboot flag. This index keeps exactly that, about 100 bytes per result.

Layout: ``<directory>/YYYY-MM.json``, each written atomically through
:class:`~console.store.atomic.AtomicJSONStorage`, holding ``{"hosts": {host: {"DD": [entry, ...]}}}`` where an
entry is the list ``[at, task_id, run_id, status, category, missing, security, reboot]`` (see :data:`FIELDS`).
Monthly files are the bounded shards: a write rewrites one month (the current one, in practice), a report
over a period reads only the months it overlaps, and retention drops whole months.

Consistency: entries are added by :meth:`HostHistory.apply` in the same store call that inserts the host
results (``HostResultRepository.insert_new``), after them. Applying is idempotent (a host's day never holds
the same run twice), so a batch retried after a crash or a failed write repairs the index, and
:meth:`HostHistory.catch_up` (run when the engine opens) re-applies the newest results and rebuilds the whole
index from the results when it is missing (the ``.built`` marker is written only once a rebuild finished).

Only final scan outcomes are indexed: ``ok`` and ``failed``. ``skipped`` and ``cancelled`` hosts were never
scanned, so they say nothing about coverage.

Not thread-safe: the store's one I/O thread (see :mod:`console.store.store`).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from console.errors import StoreError
from console.store.atomic import AtomicJSONStorage, fsync_directory

__all__ = ["FIELDS", "HostHistory", "entry_of"]

#: Positions of an entry's fields.
FIELDS = ("at", "task_id", "run_id", "status", "category", "missing", "security", "reboot")
_INDEXED_STATUSES = ("ok", "failed")
_MONTH_RE = re.compile(r"^(\d{4}-\d{2})\.json$")
_BUILT_MARKER = ".built"

Entry = list[Any]


def entry_of(result: Mapping[str, Any]) -> Entry | None:
    """The slim entry of one stored host result (a dict), or None when it is not a scan outcome."""
    status = result.get("status")
    at = result.get("finished_at") or result.get("started_at")
    if status not in _INDEXED_STATUSES or not isinstance(at, str) or len(at) < 10:
        return None
    return [at, result.get("task_id"), result.get("run_id"), status, result.get("category"),
            int(result.get("missing_count") or 0), result.get("security_count"), result.get("reboot_required")]


class HostHistory:
    """Monthly files of slim per-host entries (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str], *, read_only: bool = False, cached_months: int = 3) -> None:
        self.directory = Path(directory)
        self.read_only = read_only
        self._cached_months = max(1, cached_months)
        self._open: OrderedDict[str, AtomicJSONStorage] = OrderedDict()
        #: Month files written by this object (a write = one whole-file rewrite), for tests and benchmarks.
        self.writes = 0
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
                self._open.popitem(last=False)[1].close()
        else:
            self._open.move_to_end(month)
        return storage

    def month(self, month: str) -> dict[str, dict[str, list[Entry]]]:
        """``{host: {"DD": [entry, ...]}}`` of one month, as stored: callers must not mutate it."""
        data = self._storage(month).read() or {}
        return data.get("hosts", {})

    def scan(self, months: Iterable[str], visit: Callable[[str, str, Entry], None]) -> None:
        """Call ``visit(host, "YYYY-MM-DD", entry)`` for every entry of ``months`` (no copies: read-only).

        Each month is parsed once and dropped afterwards unless it is among the cached ones, so a report over
        a year holds one month in memory at a time.
        """
        for month in months:
            cached = month in self._open
            hosts = self.month(month)
            for host, days in hosts.items():
                for day, entries in days.items():
                    date = f"{month}-{day}"
                    for entry in entries:
                        visit(host, date, entry)
            if not cached:
                storage = self._open.pop(month, None)
                if storage is not None:
                    storage.close()

    # -- writing -------------------------------------------------------------------------------------------

    def apply(self, results: Iterable[Mapping[str, Any]]) -> int:
        """Add the entries of ``results`` not indexed yet, one write per touched month; returns how many."""
        by_month: dict[str, list[tuple[str, str, Entry]]] = {}
        for result in results:
            entry = entry_of(result)
            host = result.get("host")
            if entry is None or not isinstance(host, str):
                continue
            at: str = entry[0]
            by_month.setdefault(at[:7], []).append((host, at[8:10], entry))
        added = 0
        for month, items in sorted(by_month.items()):
            added += self._apply_month(month, items)
        return added

    def _apply_month(self, month: str, items: list[tuple[str, str, Entry]]) -> int:
        if self.read_only:
            raise StoreError(f"{self.directory} is open read-only; this process does not own the data directory")
        storage = self._storage(month)
        data = storage.read() or {"hosts": {}}
        hosts = data.setdefault("hosts", {})
        added = 0
        for host, day, entry in items:
            entries = hosts.setdefault(host, {}).setdefault(day, [])
            if any(e[2] == entry[2] for e in entries):
                continue
            entries.append(entry)
            entries.sort(key=lambda e: e[0])
            added += 1
        if added:
            storage.write(data)
            self.writes += 1
        return added

    def missing(self, results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The results whose entry is not in the index (what a crash between the two writes left out)."""
        absent = []
        for result in results:
            entry = entry_of(result)
            if entry is None:
                continue
            at: str = entry[0]
            entries = self.month(at[:7]).get(result.get("host", ""), {}).get(at[8:10], [])
            if not any(e[2] == entry[2] for e in entries):
                absent.append(result)
        return absent

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
        return removed

    def close(self) -> None:
        for storage in self._open.values():
            storage.close()
        self._open.clear()

    def __iter__(self) -> Iterator[str]:
        return iter(self.months())

"""Growing record collections split over numbered TinyDB files.

Every TinyDB write serialises its whole file, so one file that keeps growing makes every write slower than
the last (library-notes.md: 10,000 single inserts took 202 s, the last thousand 32 s). A
:class:`ShardedTable` caps each file at ``shard_size`` records: new records go to the newest shard and a full
shard is only ever rewritten again when one of its records is updated. The cost of a write is therefore
bounded by the shard size, not by the history.

Layout: ``<directory>/000001.json``, ``000002.json``, ... each a TinyDB database (default table) written
through :class:`~console.store.atomic.AtomicJSONStorage`. Records are dicts with a unique string ``"id"``; the
order of records is insertion order (shard number, then position in the shard), never id order.

Indexes live in memory and are rebuilt when the table opens, by reading every shard once: ``id -> shard`` for
:meth:`get`/:meth:`update`, and ``field -> value -> ids`` for :meth:`find_by`. Only a few shards are kept
parsed afterwards (the newest, which takes every insert, plus a small LRU), so memory does not grow with the
history beyond the indexes themselves.

Not thread-safe: one thread of one process (see :mod:`console.store.store`).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.table import Table

from console.errors import NotFoundError, StoreError
from console.store.atomic import AtomicJSONStorage, dumps_compact, fsync_directory, remove_stray_temp_files

__all__ = ["Predicate", "ShardedTable", "copy_record"]

Predicate = Callable[[Mapping[str, Any]], bool]

_SHARD_RE = re.compile(r"^(\d{6,})\.json$")

# Values of these types can be keys of a secondary index; anything else (lists, dicts) is simply not indexed.
_INDEXABLE = (str, int, float, bool)


def copy_record(value: Any) -> Any:
    """Deep-copy a JSON value (dicts, lists, scalars).

    Records handed out must not share objects with the storage cache: a caller appending to a list inside a
    returned record would otherwise change what is "stored" without any write. This is several times faster
    than ``copy.deepcopy`` for plain JSON data.
    """
    if isinstance(value, dict):
        return {k: copy_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_record(v) for v in value]
    return value


def _shard_name(number: int) -> str:
    return f"{number:06d}.json"


class _Shard:
    """One open shard: its TinyDB, and the position (TinyDB doc id) of each record id inside it."""

    def __init__(self, path: Path, *, read_only: bool, on_write: Callable[[int], None]) -> None:
        self.path = path
        self.db = TinyDB(path, storage=AtomicJSONStorage, read_only=read_only, on_write=on_write)
        self.table: Table = self.db.table("_default")
        self.positions: dict[str, int] = {}
        for doc_id, doc in self.raw().items():
            record_id = doc.get("id") if isinstance(doc, dict) else None
            if not isinstance(record_id, str):
                raise StoreError(f"{path}: record {doc_id} has no string 'id'; the file was left untouched")
            self.positions[record_id] = int(doc_id)

    def raw(self) -> dict[str, dict[str, Any]]:
        """The shard's records in insertion order, as stored (do not mutate)."""
        data = self.db.storage.read() or {}
        return data.get("_default", {})

    def record(self, record_id: str) -> dict[str, Any] | None:
        position = self.positions.get(record_id)
        if position is None:
            return None
        return self.raw().get(str(position))

    def __len__(self) -> int:
        return len(self.positions)

    def close(self) -> None:
        self.db.close()


class ShardedTable:
    """Records kept in numbered shard files of at most ``shard_size`` records each.

    ``index_fields`` names the fields :meth:`find_by` can look up without reading every shard.
    ``read_only`` makes every write raise :class:`StoreError` and never creates or cleans files.
    ``cached_shards`` bounds how many older shards stay parsed in memory besides the newest.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        shard_size: int,
        index_fields: Iterable[str] = (),
        *,
        read_only: bool = False,
        cached_shards: int = 4,
    ) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, not {shard_size}")
        self.directory = Path(directory)
        self.shard_size = shard_size
        self.index_fields: tuple[str, ...] = tuple(index_fields)
        self.read_only = read_only
        self._cached_shards = max(1, cached_shards)
        #: Successful writes per shard number, for tests and benchmarks (a write = one whole-file rewrite).
        self.writes_by_shard: Counter[int] = Counter()
        #: Total bytes of JSON written by this object.
        self.bytes_written = 0
        self._open: OrderedDict[int, _Shard] = OrderedDict()
        self._shard_numbers: list[int] = []
        self._counts: dict[int, int] = {}
        self._where: dict[str, int] = {}
        self._indexes: dict[str, dict[Any, dict[str, None]]] = {f: {} for f in self.index_fields}
        self._closed = False

        if not read_only:
            created = not self.directory.exists()
            self.directory.mkdir(parents=True, exist_ok=True)
            if created:
                fsync_directory(self.directory.parent)
            remove_stray_temp_files(self.directory)
        elif not self.directory.is_dir():
            return
        numbers = []
        for entry in self.directory.iterdir():
            match = _SHARD_RE.match(entry.name)
            if match and entry.is_file():
                numbers.append(int(match.group(1)))
        for number in sorted(numbers):
            shard = self._shard(number)
            # An empty shard (only possible if someone emptied the file) keeps its number taken, so a later
            # shard never reuses a name; it is skipped when iterating.
            self._shard_numbers.append(number)
            self._counts[number] = len(shard)
            for record_id, doc in self._iter_shard(shard):
                if record_id in self._where:
                    raise StoreError(
                        f"{self.directory}: id {record_id!r} is in both "
                        f"{_shard_name(self._where[record_id])} and {_shard_name(number)}; "
                        f"the files were left untouched"
                    )
                self._where[record_id] = number
                self._index_add(record_id, doc)

    # -- shard management ----------------------------------------------------------------------------------

    def _on_write(self, number: int) -> Callable[[int], None]:
        def record(nbytes: int) -> None:
            self.writes_by_shard[number] += 1
            self.bytes_written += nbytes

        return record

    def _shard(self, number: int) -> _Shard:
        """The parsed shard ``number``, from the LRU or freshly read; the newest shard is never evicted."""
        shard = self._open.get(number)
        if shard is not None:
            self._open.move_to_end(number)
            return shard
        shard = _Shard(
            self.directory / _shard_name(number), read_only=self.read_only, on_write=self._on_write(number)
        )
        self._open[number] = shard
        newest = self._shard_numbers[-1] if self._shard_numbers else None
        while len(self._open) > self._cached_shards + 1:
            victim = next((n for n in self._open if n != number and n != newest), None)
            if victim is None:
                break
            self._open.pop(victim).close()
        return shard

    @staticmethod
    def _iter_shard(shard: _Shard, reverse: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        docs = list(shard.raw().values())
        if reverse:
            docs.reverse()
        for doc in docs:
            yield doc["id"], doc

    def _check_writable(self) -> None:
        if self._closed:
            raise StoreError(f"{self.directory}: table is closed")
        if self.read_only:
            raise StoreError(
                f"{self.directory} is open read-only; this process does not own the data directory"
            )

    # -- secondary indexes ---------------------------------------------------------------------------------

    def _index_add(self, record_id: str, doc: Mapping[str, Any]) -> None:
        for field in self.index_fields:
            value = doc.get(field)
            if value is not None and isinstance(value, _INDEXABLE):
                self._indexes[field].setdefault(value, {})[record_id] = None

    def _index_remove(self, record_id: str, doc: Mapping[str, Any]) -> None:
        for field in self.index_fields:
            value = doc.get(field)
            if value is not None and isinstance(value, _INDEXABLE):
                ids = self._indexes[field].get(value)
                if ids is not None:
                    ids.pop(record_id, None)
                    if not ids:
                        del self._indexes[field][value]

    # -- writing -------------------------------------------------------------------------------------------

    def insert(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Insert one record (one shard write) and return a copy of what was stored."""
        return self.insert_many([doc])[0]

    def insert_many(self, docs: Iterable[Mapping[str, Any]], *, copies: bool = True) -> list[dict[str, Any]]:
        """Insert records in order with one write per touched shard; return copies of what was stored (an
        empty list with ``copies=False``: a batch writer that never reads them back saves a deep copy of
        every record, a third of the cost of storing a scan's host results).

        Every record is checked (string ``id``, unique, JSON-serialisable) before anything is written, so a
        bad batch changes nothing. A batch that spans shards is written shard by shard in order: a crash in
        the middle keeps a prefix of the batch, never a gap.
        """
        self._check_writable()
        batch: list[dict[str, Any]] = []
        seen: set[str] = set()
        for doc in docs:
            record_id = doc.get("id") if isinstance(doc, Mapping) else None
            if not isinstance(record_id, str) or not record_id:
                raise ValueError(f"every record needs a non-empty string 'id', got {record_id!r}")
            if record_id in self._where or record_id in seen:
                raise ValueError(f"duplicate id {record_id!r} in {self.directory}")
            seen.add(record_id)
            try:
                # A JSON round trip validates the record now (not half-way through a batch) and detaches it
                # from the caller's objects.
                batch.append(json.loads(dumps_compact(doc)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"record {record_id!r} is not JSON-serialisable: {exc}") from exc
        stored: list[dict[str, Any]] = []
        start = 0
        while start < len(batch):
            number = self._writable_shard()
            room = self.shard_size - self._counts[number]
            chunk = batch[start : start + room]
            shard = self._shard(number)
            positions = shard.table.insert_multiple(chunk)
            self._counts[number] += len(chunk)
            for doc, position in zip(chunk, positions, strict=True):
                shard.positions[doc["id"]] = position
                self._where[doc["id"]] = number
                self._index_add(doc["id"], doc)
                if copies:
                    stored.append(copy_record(doc))
            start += len(chunk)
        return stored

    def _writable_shard(self) -> int:
        """The newest shard if it has room, else the number of a new one (its file appears on first write)."""
        if self._shard_numbers and self._counts[self._shard_numbers[-1]] < self.shard_size:
            return self._shard_numbers[-1]
        number = self._shard_numbers[-1] + 1 if self._shard_numbers else 1
        self._shard_numbers.append(number)
        self._counts[number] = 0
        return number

    def update(self, record_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into one record, rewriting only the shard that holds it; return the new record.

        Raises :class:`NotFoundError` if there is no such record. The ``id`` cannot change.
        """
        self._check_writable()
        number = self._where.get(record_id)
        if number is None:
            raise NotFoundError(f"no record {record_id!r} in {self.directory}")
        if "id" in changes and changes["id"] != record_id:
            raise ValueError(f"the id of record {record_id!r} cannot change")
        try:
            fields = json.loads(dumps_compact(dict(changes)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"changes to {record_id!r} are not JSON-serialisable: {exc}") from exc
        shard = self._shard(number)
        before = copy_record(shard.record(record_id))
        shard.table.update(fields, doc_ids=[shard.positions[record_id]])
        after = shard.record(record_id)
        if after is None:  # pragma: no cover - the record was there a moment ago
            raise StoreError(f"{shard.path}: record {record_id!r} vanished during update")
        self._index_remove(record_id, before)
        self._index_add(record_id, after)
        return copy_record(after)

    def update_many(self, changes: Mapping[str, Mapping[str, Any]]) -> int:
        """Merge ``changes[id]`` into each record, one write per touched shard (a batch of status changes costs
        what one change costs). Raises :class:`NotFoundError` before writing anything if an id is absent."""
        self._check_writable()
        by_shard: dict[int, dict[str, dict[str, Any]]] = {}
        for record_id, fields in changes.items():
            number = self._where.get(record_id)
            if number is None:
                raise NotFoundError(f"no record {record_id!r} in {self.directory}")
            if "id" in fields and fields["id"] != record_id:
                raise ValueError(f"the id of record {record_id!r} cannot change")
            try:
                by_shard.setdefault(number, {})[record_id] = json.loads(dumps_compact(dict(fields)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"changes to {record_id!r} are not JSON-serialisable: {exc}") from exc
        for number, batch in sorted(by_shard.items()):
            shard = self._shard(number)
            before = {rid: copy_record(shard.record(rid)) for rid in batch}

            def apply(doc: MutableMapping[str, Any], batch: dict[str, dict[str, Any]] = batch) -> None:
                doc.update(batch[doc["id"]])

            shard.table.update(apply, doc_ids=[shard.positions[rid] for rid in batch])
            for rid in batch:
                self._index_remove(rid, before[rid])
                self._index_add(rid, shard.record(rid) or {})
        return sum(len(b) for b in by_shard.values())

    # -- reading -------------------------------------------------------------------------------------------

    def get(self, record_id: str) -> dict[str, Any] | None:
        """A copy of the record with this id, or ``None``; reads at most one shard."""
        number = self._where.get(record_id)
        if number is None:
            return None
        doc = self._shard(number).record(record_id)
        return copy_record(doc) if doc is not None else None

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._where

    def count(self) -> int:
        """Number of records (from the index, no file is read)."""
        return len(self._where)

    def __len__(self) -> int:
        return self.count()

    @property
    def shard_numbers(self) -> list[int]:
        """Numbers of the shards that exist (or are about to be written), oldest first."""
        return list(self._shard_numbers)

    def shard_path(self, number: int) -> Path:
        """The file of shard ``number``."""
        return self.directory / _shard_name(number)

    def iter_newest(self, predicate: Predicate | None = None) -> Iterator[dict[str, Any]]:
        """Records newest first, reading shards lazily: a consumer that stops early reads only what it needs.

        ``predicate`` sees the stored record (it must not mutate it); only matching records are copied out.
        """
        return self._iter(reverse=True, predicate=predicate)

    def iter_oldest(self, predicate: Predicate | None = None) -> Iterator[dict[str, Any]]:
        """Records in insertion order, shard by shard; see :meth:`iter_newest`."""
        return self._iter(reverse=False, predicate=predicate)

    def _iter(self, *, reverse: bool, predicate: Predicate | None) -> Iterator[dict[str, Any]]:
        numbers = [n for n in self._shard_numbers if self._counts.get(n)]
        if reverse:
            numbers.reverse()
        for number in numbers:
            for _record_id, doc in self._iter_shard(self._shard(number), reverse=reverse):
                if predicate is None or predicate(doc):
                    yield copy_record(doc)

    def find_by(self, field: str, value: Any, *, newest_first: bool = False) -> list[dict[str, Any]]:
        """All records whose indexed ``field`` equals ``value``, in insertion order (or newest first)."""
        return list(self.iter_by(field, value, newest_first=newest_first))

    def iter_by(
        self,
        field: str,
        value: Any,
        *,
        newest_first: bool = False,
        predicate: Predicate | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Like :meth:`find_by` but lazy: only the shards holding matches are read, and only as consumed.

        Raises ``ValueError`` for a field that is not indexed, rather than silently scanning everything.
        """
        if field not in self._indexes:
            raise ValueError(
                f"{field!r} is not an indexed field of {self.directory} (indexed: {self.index_fields})"
            )
        ids = self._indexes[field].get(value, {}) if isinstance(value, _INDEXABLE) else {}
        by_shard: dict[int, list[str]] = {}
        for record_id in ids:
            by_shard.setdefault(self._where[record_id], []).append(record_id)
        for number in sorted(by_shard, reverse=newest_first):
            shard = self._shard(number)
            wanted = sorted(by_shard[number], key=shard.positions.__getitem__, reverse=newest_first)
            for record_id in wanted:
                doc = shard.record(record_id)
                # Re-check the value: the index and the stored record can only disagree if a shard was changed
                # behind our back (a read-only viewer reading while the owner writes).
                if doc is None or doc.get(field) != value:
                    continue
                if predicate is None or predicate(doc):
                    yield copy_record(doc)

    def shard_docs(self, number: int) -> list[dict[str, Any]]:
        """The records of shard ``number`` as stored, in insertion order (read-only: do not mutate)."""
        if not self._counts.get(number):
            return []
        return list(self._shard(number).raw().values())

    def drop_shard(self, number: int) -> int:
        """Delete shard ``number``'s file and forget its records (retention); returns how many it held.

        The newest shard takes every insert and is never dropped. Its number stays retired: a later shard never
        reuses a name, because numbers only grow from the newest.
        """
        self._check_writable()
        if not self._shard_numbers or number == self._shard_numbers[-1]:
            raise ValueError(f"shard {number} of {self.directory} is the newest; it cannot be dropped")
        if number not in self._counts:
            return 0
        docs = self.shard_docs(number)
        shard = self._open.pop(number, None)
        if shard is not None:
            shard.close()
        self.shard_path(number).unlink(missing_ok=True)
        fsync_directory(self.directory)
        for doc in docs:
            self._where.pop(doc["id"], None)
            self._index_remove(doc["id"], doc)
        self._shard_numbers.remove(number)
        return self._counts.pop(number)

    def close(self) -> None:
        """Drop parsed shards; the object must not be used afterwards."""
        for shard in self._open.values():
            shard.close()
        self._open.clear()
        self._closed = True

"""The Patchwatch data directory: small tables, sharded growing tables, transcripts, schema version.

Layout::

    <data_dir>/patchwatch.json                main TinyDB: ``meta`` (schema version) and small bounded tables
    <data_dir>/runs/ host_results/ events/ outbox/    ShardedTable directories (growing data)
    <data_dir>/transcripts/<run_id>.log               every host's SSH transcript of a run, appended records
    <data_dir>/transcripts/<run_id>/<host>.log        the same, as earlier versions kept it (still read)
    <data_dir>/.patchwatch.lock                       DataDirLock (taken by the owner, not by Store)

The store is dict-based: callers convert domain objects to and from dicts, and every record has a string
``"id"``. What is returned is always a copy; mutating it changes nothing until it is written back.

Concurrency contract: a Store is used by exactly ONE thread of ONE process. It has no internal locking
(TinyDB has none either; four threads on one TinyDB object crashed it), so the engine confines the Store to a
single I/O thread and everything else talks to that thread. Across processes, whoever writes must hold
:class:`~console.store.lock.DataDirLock` for the directory; the Store does not take it itself so that a
read-only viewer (``read_only=True``) can open a directory a running daemon owns. A read-only Store refuses
every write with :class:`StoreError`, never creates or deletes files, and shows the data as of when each file
was first read (reopen it to refresh).

Why one module of this length: the data directory's whole layout (main file, shards, the trace, transcripts,
schema version) behind one thread-confined object.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tinydb import TinyDB
from tinydb.table import Table

from console.errors import StoreError
from console.store.atomic import AtomicJSONStorage, fsync_directory
from console.store.history import HostHistory
from console.store.sharded import ShardedTable, copy_record
from console.store.transcripts import TranscriptIndex, append_records, cut_torn_tail, read_span

__all__ = [
    "DEFAULT_SHARD_SIZES",
    "MAIN_FILE_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SHARDED_INDEXES",
    "Migration",
    "Store",
    "register_migration",
    "safe_file_name",
]

#: Version of the on-disk layout this code reads and writes. Bump it together with a registered migration.
SCHEMA_VERSION = 1

MAIN_FILE_NAME = "patchwatch.json"
TRANSCRIPTS_DIR = "transcripts"

_META_TABLE = "meta"
_SCHEMA_DOC_ID = "schema"

Migration = Callable[["Store"], None]

#: ``from_version -> function`` that upgrades a store from ``from_version`` to ``from_version + 1``. Steps
#: run in order when an older store is opened for writing, and the version is saved after each step, so an
#: interrupted upgrade resumes at the step that did not finish (steps must therefore be safe to re-run).
MIGRATIONS: dict[int, Migration] = {}


def register_migration(from_version: int) -> Callable[[Migration], Migration]:
    """Decorator that registers the upgrade step from ``from_version`` to the next version."""

    def register(func: Migration) -> Migration:
        if from_version in MIGRATIONS:
            raise ValueError(f"a migration from schema {from_version} is already registered")
        MIGRATIONS[from_version] = func
        return func

    return register


#: Records per shard file. The cost of one write is a JSON dump of the whole shard (records x record size),
#: so each size bounds the bytes rewritten per commit while keeping the number of files moderate:
#: - events: small (~300 B) and append-only; 500 keeps a write under ~150 KB and 1M events in 2,000 files.
#: - runs: ~1 KB each and updated on every state change of a run; 200 keeps those rewrites ~200 KB.
#: - host_results: the largest records (package lists, often 5-25 KB); 100 keeps a full shard in the low MB.
#: - outbox: rendered messages plus delivery attempts, updated on each retry; 200 (~200-400 KB).
DEFAULT_SHARD_SIZES: dict[str, int] = {"runs": 200, "host_results": 100, "events": 500, "outbox": 200}

#: Fields each sharded table can be searched by through an in-memory index.
SHARDED_INDEXES: dict[str, tuple[str, ...]] = {
    "runs": ("task_id",),
    "host_results": ("run_id",),
    "events": ("run_id", "task_id"),
    "outbox": ("run_id",),
}

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_MAX_NAME = 120


def safe_file_name(name: str) -> str:
    """A file name derived from ``name`` that cannot leave its directory or clash with another name's.

    Letters, digits, ``.``, ``_`` and ``-`` are kept, so ordinary host names and run ids stay readable. Any
    other character becomes ``_``, a leading dot becomes ``_`` (no ``..``, no hidden files), and long names
    are cut. Whenever the name had to change, ``~`` and a hash of the original are appended: ``~`` never
    survives cleaning, so a changed name can never equal an unchanged one, and ``a/b`` and ``a_b`` get
    different files.
    """
    cleaned = _UNSAFE_CHARS.sub("_", name)
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    if cleaned == name and 0 < len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned[:_MAX_NAME]}~{digest}"


def transcript_name(host: str) -> str:
    """The file name of a host's transcript inside its run's directory (the layout of earlier versions)."""
    return f"{safe_file_name(host)}.log"


def _kind_matches(kind: Any, wanted: str) -> bool:
    if not isinstance(kind, str):
        return False
    if wanted.endswith("."):
        return kind.startswith(wanted)
    return kind == wanted


class Store:
    """All persistent state of one data directory. One thread, one process (see the module docstring).

    ``shard_sizes`` overrides :data:`DEFAULT_SHARD_SIZES` per table (tests use small shards).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        shard_sizes: Mapping[str, int] | None = None,
        read_only: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.read_only = read_only
        self.main_path = self.data_dir / MAIN_FILE_NAME
        sizes = dict(DEFAULT_SHARD_SIZES)
        for name, size in (shard_sizes or {}).items():
            if name not in SHARDED_INDEXES:
                raise ValueError(f"unknown sharded table {name!r} (known: {', '.join(SHARDED_INDEXES)})")
            if not isinstance(size, int) or size < 1:
                raise ValueError(f"shard size of {name!r} must be a positive integer, not {size!r}")
            sizes[name] = size
        self._shard_sizes = sizes
        self._sharded: dict[str, ShardedTable] = {}
        self._histories: dict[str, HostHistory] = {}
        self._next_seq: int | None = None
        #: run id -> where each host's transcript is in the run's file (built on first use, then extended)
        self._transcript_indexes: dict[str, TranscriptIndex] = {}
        self._closed = False

        if read_only:
            if not self.data_dir.is_dir():
                raise StoreError(f"no data directory at {self.data_dir}")
        elif not self.data_dir.is_dir():
            self.data_dir.mkdir(parents=True)
            fsync_directory(self.data_dir.parent)
        self._db = TinyDB(self.main_path, storage=AtomicJSONStorage, read_only=read_only)
        try:
            self._open_schema()
        except BaseException:
            self.close()
            raise

    # -- schema --------------------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int | None:
        """The version recorded in the main file (``None`` only for an empty directory opened read-only)."""
        doc = self._schema_doc()
        return doc["schema_version"] if doc else None

    def _meta(self) -> Table:
        return self._db.table(_META_TABLE)

    def _schema_doc(self) -> dict[str, Any] | None:
        for doc in self._meta().all():
            if doc.get("id") == _SCHEMA_DOC_ID:
                return dict(doc)
        return None

    def _open_schema(self) -> None:
        doc = self._schema_doc()
        if doc is None:
            if self._db.tables() - {_META_TABLE}:
                raise StoreError(
                    f"{self.main_path} has tables but no schema version; it was not written by Patchwatch"
                )
            if not self.read_only:
                self._set_schema_version(SCHEMA_VERSION)
            return
        version = doc.get("schema_version")
        if not isinstance(version, int) or version < 0:
            raise StoreError(f"{self.main_path}: invalid schema version {version!r}")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.main_path} was written by a newer Patchwatch "
                f"(schema {version} > {SCHEMA_VERSION}); upgrade"
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise StoreError(
                f"{self.main_path} uses schema {version} and needs an upgrade to {SCHEMA_VERSION}; "
                f"open it once read-write (start the daemon) to migrate it"
            )
        while version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise StoreError(f"{self.main_path}: no migration from schema {version} to {version + 1}")
            step(self)
            version += 1
            self._set_schema_version(version)

    def _set_schema_version(self, version: int) -> None:
        self.put_doc(_META_TABLE, {"id": _SCHEMA_DOC_ID, "schema_version": version})

    # -- small tables --------------------------------------------------------------------------------------

    def table(self, name: str) -> Table:
        """A TinyDB table in the main file for small bounded data (tasks, scheduler state, inventory...).

        Every write rewrites the whole main file, so growing data belongs in :meth:`sharded`. Documents TinyDB
        returns may share nested objects with the cache: copy before mutating, or use the ``*_doc`` helpers.
        """
        self._check_open()
        if name == _META_TABLE:
            raise ValueError("the meta table belongs to the store; use schema_version")
        return self._db.table(name)

    def get_doc(self, table: str, doc_id: str) -> dict[str, Any] | None:
        """A copy of the document with ``"id" == doc_id`` in a small table, or ``None``."""
        for doc in self.table(table).all():
            if doc.get("id") == doc_id:
                return copy_record(dict(doc))
        return None

    def put_doc(self, table: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Insert or replace (not merge) the document with this ``"id"``; one write. Returns a copy."""
        self._check_writable()
        doc_id = doc.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError(f"a document needs a non-empty string 'id', got {doc_id!r}")
        new = json.loads(json.dumps(dict(doc), allow_nan=False))
        tbl = self._db.table(table)
        for existing in tbl.all():
            if existing.get("id") == doc_id:

                def replace(stored: MutableMapping[Any, Any]) -> None:
                    stored.clear()
                    stored.update(new)

                tbl.update(replace, doc_ids=[existing.doc_id])
                break
        else:
            tbl.insert(new)
        return copy_record(new)

    def put_docs(self, table: str, docs: Iterable[Mapping[str, Any]]) -> int:
        """Insert or replace many documents by ``"id"`` in at most two writes (one for replacements, one for
        new documents), so importing a thousand instances costs two rewrites of the main file, not a thousand.
        Returns how many documents were written."""
        self._check_writable()
        new: dict[str, dict[str, Any]] = {}
        for doc in docs:
            doc_id = doc.get("id")
            if not isinstance(doc_id, str) or not doc_id:
                raise ValueError(f"a document needs a non-empty string 'id', got {doc_id!r}")
            new[doc_id] = json.loads(json.dumps(dict(doc), allow_nan=False))
        tbl = self._db.table(table)
        existing = {d.get("id"): d.doc_id for d in tbl.all() if d.get("id") in new}
        if existing:

            def replace(stored: MutableMapping[Any, Any]) -> None:
                replacement = new[stored["id"]]
                stored.clear()
                stored.update(replacement)

            tbl.update(replace, doc_ids=list(existing.values()))
        fresh = [doc for doc_id, doc in new.items() if doc_id not in existing]
        if fresh:
            tbl.insert_multiple(fresh)
        return len(new)

    def delete_docs(self, table: str, doc_ids: Iterable[str]) -> int:
        """Remove every document whose ``"id"`` is in ``doc_ids`` in one write; returns how many."""
        self._check_writable()
        wanted = set(doc_ids)
        tbl = self._db.table(table)
        ids = [d.doc_id for d in tbl.all() if d.get("id") in wanted]
        if ids:
            tbl.remove(doc_ids=ids)
        return len(ids)

    def delete_doc(self, table: str, doc_id: str) -> bool:
        """Remove the document with this ``"id"``; ``False`` if there was none (and nothing was written)."""
        self._check_writable()
        tbl = self._db.table(table)
        ids = [d.doc_id for d in tbl.all() if d.get("id") == doc_id]
        if not ids:
            return False
        tbl.remove(doc_ids=ids)
        return True

    def all_docs(self, table: str) -> list[dict[str, Any]]:
        """Copies of every document of a small table, in insertion order."""
        return [copy_record(dict(doc)) for doc in self.table(table).all()]

    # -- sharded tables ------------------------------------------------------------------------------------

    def sharded(self, name: str) -> ShardedTable:
        """The growing table ``name`` (runs, host_results, events, outbox), opened and indexed on first use.

        Opening lazily lets a viewer that only needs the small tables avoid reading every shard.
        """
        self._check_open()
        table = self._sharded.get(name)
        if table is None:
            if name not in SHARDED_INDEXES:
                raise ValueError(f"unknown sharded table {name!r} (known: {', '.join(SHARDED_INDEXES)})")
            table = ShardedTable(
                self.data_dir / name,
                self._shard_sizes[name],
                SHARDED_INDEXES[name],
                read_only=self.read_only,
            )
            self._sharded[name] = table
        return table

    def history(self, name: str) -> HostHistory:
        """The monthly host-history index ``name`` (see :mod:`console.store.history`), opened on first use."""
        self._check_open()
        history = self._histories.get(name)
        if history is None:
            history = HostHistory(self.data_dir / name, read_only=self.read_only)
            self._histories[name] = history
        return history

    # -- events --------------------------------------------------------------------------------------------

    def _events(self) -> ShardedTable:
        events = self.sharded("events")
        if self._next_seq is None:
            # The newest event carries the highest seq, so the counter needs no separate (whole-main-file)
            # write per append: it is persisted by the events themselves.
            newest = next(events.iter_newest(lambda d: isinstance(d.get("seq"), int)), None)
            self._next_seq = newest["seq"] + 1 if newest else 1
        return events

    def next_event_seq(self) -> int:
        """The sequence number the next event gets: one more than the newest stored."""
        self._events()
        assert self._next_seq is not None
        return self._next_seq

    def append_events(self, events: list[Mapping[str, Any]], *, skip_stored: bool = False,
                      copies: bool = True) -> list[dict[str, Any]]:
        """Store events in one batch (one write per touched shard) and return them as stored.

        An event that carries a ``seq`` keeps it (the engine numbers events when it publishes them, so that
        live subscribers and the trace agree); one without gets the next number. Numbers must increase. An
        event without an id gets ``ev-<seq>``. Each needs a string ``kind`` and a string ``at`` (ISO-8601 UTC,
        all in one format, because :meth:`query_events` compares them as strings). With ``skip_stored``, events
        whose id is already stored are left out (a batch retried after a failed write). The caller's dicts
        are not changed. ``copies=False`` returns nothing (see :meth:`ShardedTable.insert_many`).
        """
        self._check_writable()
        table = self._events()
        assert self._next_seq is not None
        prepared: list[dict[str, Any]] = []
        next_seq = self._next_seq
        for offset, event in enumerate(events):
            for field in ("kind", "at"):
                if not isinstance(event.get(field), str):
                    raise ValueError(f"event {offset}: {field!r} must be a string, got {event.get(field)!r}")
            if skip_stored and event.get("id") in table:
                continue
            seq = event.get("seq") or next_seq
            if not isinstance(seq, int) or seq < next_seq:
                raise ValueError(f"event {offset}: seq {seq!r} does not follow {next_seq - 1}")
            doc = dict(event)
            doc["seq"] = seq
            doc.setdefault("id", f"ev-{seq:012d}")
            prepared.append(doc)
            next_seq = seq + 1
        try:
            stored = table.insert_many(prepared, copies=copies)
        except BaseException:
            # A batch spanning shards may have been partly written; recount from what is really stored.
            self._next_seq = None
            raise
        self._next_seq = next_seq
        return stored

    def query_events(
        self,
        since: str | None = None,
        until: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        host: str | None = None,
        kind: str | None = None,
        text: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[dict[str, Any]]:
        """Events matching every given filter, newest first by default (insertion order).

        ``since`` is inclusive and ``until`` exclusive, compared as strings with the ``at`` field (so a bare
        date such as ``"2026-11-02"`` works as a day boundary). ``kind`` is an exact kind, or a prefix when it
        ends with ``.`` (``"run."``). ``text`` is a case-insensitive substring of the event's JSON. With
        ``run_id`` or ``task_id`` only the shards holding that run's/task's events are read; with ``limit``
        reading stops as soon as enough events are found.
        """
        if limit is not None and limit <= 0:
            return []
        needle = text.casefold() if text else None

        def matches(event: Mapping[str, Any]) -> bool:
            at = event.get("at")
            if since is not None and not (isinstance(at, str) and at >= since):
                return False
            if until is not None and not (isinstance(at, str) and at < until):
                return False
            if task_id is not None and event.get("task_id") != task_id:
                return False
            if run_id is not None and event.get("run_id") != run_id:
                return False
            if host is not None and event.get("host") != host:
                return False
            if kind is not None and not _kind_matches(event.get("kind"), kind):
                return False
            return needle is None or needle in json.dumps(event, ensure_ascii=False).casefold()

        table = self._events()
        found: Iterator[dict[str, Any]]
        if run_id is not None:
            found = table.iter_by("run_id", run_id, newest_first=newest_first, predicate=matches)
        elif task_id is not None:
            found = table.iter_by("task_id", task_id, newest_first=newest_first, predicate=matches)
        elif newest_first:
            found = table.iter_newest(matches)
        else:
            found = table.iter_oldest(matches)
        return list(itertools.islice(found, limit))

    def events_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` events with a sequence number above ``seq``, oldest first (a stream resuming)."""
        newer = itertools.takewhile(lambda d: d.get("seq", 0) > seq, self._events().iter_newest())
        return list(reversed(list(newer)))[:limit]

    # -- transcripts ---------------------------------------------------------------------------------------
    # One append-only file per run (console.store.transcripts); runs stored by earlier versions have one
    # file per host, read where the run's file has no record of the host.

    @property
    def transcripts_dir(self) -> Path:
        return self.data_dir / TRANSCRIPTS_DIR

    def run_transcript_file(self, run_id: str) -> Path:
        """The file holding every transcript of ``run_id`` (``transcripts/<run_id>.log``)."""
        return self.transcripts_dir / f"{safe_file_name(run_id)}.log"

    def legacy_transcript_path(self, run_id: str, host: str) -> Path:
        """Where an earlier version kept the transcript of ``host`` in ``run_id``: its own file in the run's
        directory. Both names pass through :func:`safe_file_name`, so a hostile host name such as
        ``../../etc/passwd`` still lands inside the run's directory. Nothing is created."""
        root = self.transcripts_dir
        path = root / safe_file_name(run_id) / transcript_name(host)
        # Belt and braces: safe_file_name cannot produce a separator or "..", but never hand out a path
        # outside the transcripts directory (unreachable by construction).
        if not path.resolve().is_relative_to(root.resolve()):  # pragma: no cover
            raise StoreError(f"transcript path for {host!r} escapes {root}")
        return path

    def append_transcripts(self, records: Iterable[tuple[str, str, bytes]]) -> None:
        """Append ``(run_id, host, transcript)`` records, one write per run's file. The first append to a run's
        file in this store cuts off a torn record a killed process left at its end, so what follows it is
        readable."""
        self._check_writable()
        by_run: dict[str, list[tuple[str, bytes]]] = {}
        for run_id, host, data in records:
            by_run.setdefault(run_id, []).append((host, data))
        if by_run and not self.transcripts_dir.is_dir():
            self.transcripts_dir.mkdir(parents=True, exist_ok=True)
        for run_id, host_records in by_run.items():
            path = self.run_transcript_file(run_id)
            index = self._transcript_indexes.setdefault(run_id, TranscriptIndex())
            try:
                if path.exists() and path.stat().st_size != index.end:
                    # Not where this store's last append ended: the first append here, or a file a killed
                    # process left with a torn record at its end.
                    index.extend(path)
                    cut_torn_tail(path, index)
                spans = append_records(path, host_records)
            except OSError as exc:
                raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
            for host, offset, length in spans:
                index.add(host, offset, length)
            if spans:
                index.end = spans[-1][1] + spans[-1][2] + 1

    def _transcript_span(self, run_id: str, host: str) -> tuple[Path, int, int] | None:
        """(file, offset, length) of the host's transcript in its run's file, or None if it has none there."""
        self._check_open()
        path = self.run_transcript_file(run_id)
        index = self._transcript_indexes.get(run_id)
        if index is None:
            index = self._transcript_indexes[run_id] = TranscriptIndex()
        if host not in index.spans:
            # Read what was appended since (another process may be writing this run now).
            try:
                index.extend(path)
            except OSError as exc:
                raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
        span = index.spans.get(host)
        return None if span is None else (path, *span)

    def read_transcript(self, run_id: str, host: str) -> str:
        """The whole transcript as text (``""`` if none was written); undecodable bytes become U+FFFD.

        For very large transcripts a viewer should read :meth:`read_transcript_page` page by page instead.
        """
        span = self._transcript_span(run_id, host)
        path = self.legacy_transcript_path(run_id, host) if span is None else span[0]
        try:
            if span is None:
                return path.read_text(encoding="utf-8", errors="replace")
            return read_span(path, span[1], span[2]).decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def read_transcript_page(self, run_id: str, host: str, offset: int, limit: int) -> tuple[str, int, int]:
        """Up to ``limit`` bytes of a transcript from byte ``offset``: (text, next offset, transcript size).

        Offsets count from the start of this host's transcript, whichever layout holds it. The page ends on a
        line boundary when one is in reach, so a page never splits a line (or a UTF-8 sequence) unless the
        line alone is longer than ``limit``."""
        start = max(0, offset)
        span = self._transcript_span(run_id, host)
        path = self.legacy_transcript_path(run_id, host) if span is None else span[0]
        try:
            if span is None:
                with path.open("rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    handle.seek(start)
                    chunk = handle.read(max(0, limit))
            else:
                size = span[2]
                chunk = read_span(path, span[1] + min(start, size), max(0, min(limit, size - start)))
        except FileNotFoundError:
            return "", 0, 0
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if start + len(chunk) < size:
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                chunk = chunk[: cut + 1]
        return chunk.decode("utf-8", errors="replace"), start + len(chunk), size

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store of {self.data_dir} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise StoreError(
                f"{self.data_dir} is open read-only; this process does not own the data directory"
            )

    def close(self) -> None:
        """Release every file's in-memory copy. Writes are durable as soon as each call returns; the one thing
        closing writes is the host-history index's deferred entries (console.store.history), which a crash
        would leave to be re-applied from the results at the next open. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for table in self._sharded.values():
            table.close()
        self._sharded.clear()
        for history in self._histories.values():
            history.close()
        self._histories.clear()
        self._transcript_indexes.clear()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

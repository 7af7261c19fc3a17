"""The asynchronous data store: one I/O thread that owns the store, and the write buffer of growing data.

TinyDB is not thread-safe, so the store lives on exactly one thread and every access goes through
:meth:`DataStore.call`. Writes an operator's command makes are committed before the command returns (the
services call the repositories through :meth:`call` directly). Growing data produced by runs (host results,
run progress, outbox status changes, events) is buffered and written in batches by :meth:`flush`, so a
1,000-host scan costs a few writes per second rather than thousands. Host transcripts travel in the same
batches, appended to their run's transcript file (console.store.transcripts) before the results that point
at them are written: a transcript is on disk no later than its result, and creating no file per host keeps
the kernel's share of a scan small.

A write that fails (a full disk) loses nothing: the batch goes back into the buffer in front of anything
newer, :meth:`flush` returns False (a scan must not die of it), and the next flush retries
it. Records a failed batch may
have partly written are recognised by id and not written twice. ``on_write_failed`` and
``on_write_recovered`` let the engine put the failure and the recovery into the trace and the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from console.domain.run import Run
from console.errors import StoreError
from console.store.repositories import Repositories
from console.store.store import Store

T = TypeVar("T")


class DataStore:
    """The store of one data directory, confined to one thread, with a batching write buffer."""

    def __init__(self, data_dir: Path, *, read_only: bool = False, flush_interval: float = 0.5) -> None:
        self.data_dir = data_dir
        self.read_only = read_only
        self.flush_interval = flush_interval
        self.on_write_failed: Callable[[Exception, int], None] | None = None
        self.on_write_recovered: Callable[[int], None] | None = None
        #: called with the highest ``seq`` of the events a batch just committed (the broker then shows them)
        self.on_events_committed: Callable[[int], None] | None = None
        self._io: ThreadPoolExecutor | None = None
        self._store: Store | None = None
        self._repos: Repositories | None = None
        self._results: list[dict[str, Any]] = []
        self._transcripts: list[tuple[str, str, bytes]] = []
        self._runs: dict[str, Run] = {}
        self._outbox: dict[str, dict[str, Any]] = {}
        self._alarms: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._failing = False

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> DataStore:
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="patchwatch-store")
        try:
            self._store = await self._on_thread(Store, self.data_dir, read_only=self.read_only)
        except BaseException:
            self._shutdown_io()
            raise
        self._repos = Repositories(self._store)
        return self

    def start_flushing(self) -> None:
        """Write the buffer every ``flush_interval`` seconds from now on."""
        if self._flusher is None and not self.read_only:
            self._flusher = asyncio.create_task(self._flush_loop(), name="patchwatch-flush")

    async def close(self) -> None:
        """Stop the flusher, write what is buffered, close. Raises StoreError if the disk still refuses the
        buffer: what could not be written is then lost with this process, and the caller must say so."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        try:
            if not self.read_only and not await self.flush():
                raise StoreError(f"{self.pending} buffered records could not be written to {self.data_dir}")
        finally:
            if self._store is not None:
                await self._on_thread(self._store.close)
            self._shutdown_io()

    def _shutdown_io(self) -> None:
        if self._io is not None:
            self._io.shutdown(wait=True)
            self._io = None

    # ------------------------------------------------------------------ access

    async def call(self, fn: Callable[[Repositories], T]) -> T:
        """Run ``fn(repositories)`` on the store's thread and return its result."""
        return await self._submit(fn)

    def _submit(self, fn: Callable[[Repositories], T]) -> asyncio.Future[T]:
        """Queue ``fn(repositories)`` on the store's thread now: calls run in the order they are submitted,
        so a read submitted after a write sees it."""
        assert self._repos is not None, "the data store is not open"
        return self._on_thread(fn, self._repos)

    def _on_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        assert self._io is not None, "the data store is not open"
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._io, functools.partial(fn, *args, **kwargs))

    async def read_transcript(self, run_id: str, host: str) -> str:
        assert self._store is not None
        return await self._on_thread(self._store.read_transcript, run_id, host)

    # ------------------------------------------------------------------ the write buffer

    def buffer_transcript(self, run_id: str, host: str, data: bytes) -> None:
        """A host's transcript: appended to its run's file in the next batch, before that batch's results (buffer
        it before the result that refers to it)."""
        self._transcripts.append((run_id, host, data))

    def buffer_result(self, result: dict[str, Any]) -> None:
        self._results.append(result)

    def buffer_run(self, run: Run) -> None:
        """The run's progress changed; its latest state goes out with the next batch."""
        self._runs[run.id] = run

    def forget_run(self, run: Run) -> None:
        """The run was just written directly; the buffered copy is not needed."""
        self._runs.pop(run.id, None)

    def buffered_run(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def buffer_outbox(self, record_id: str, doc: dict[str, Any]) -> None:
        """A status change of an outbox record (its creation was committed directly)."""
        self._outbox[record_id] = doc

    def buffer_alarm(self, alarm_id: str, doc: dict[str, Any]) -> None:
        """The new state of an alarm: written in the same batch as the events that report the change."""
        self._alarms[alarm_id] = doc

    def buffer_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    @property
    def dirty(self) -> bool:
        return bool(self._transcripts or self._results or self._runs or self._outbox or self._alarms or self._events)

    @property
    def pending(self) -> int:
        """How many records wait in the buffer (reported while the disk refuses them)."""
        return (len(self._transcripts) + len(self._results) + len(self._runs) + len(self._outbox) + len(self._alarms)
                + len(self._events))

    async def flush(self) -> bool:
        """Commit everything buffered: transcripts, host results, run progress, outbox status, events (in that
        order, so an event never points at a result, nor a result at a transcript, that is not on disk). On
        failure the batch stays buffered, the failure is reported once per outage (``on_write_failed``) and False
        is returned. Transcripts already appended when a later write failed are not appended again."""
        async with self._flush_lock:
            transcripts, self._transcripts = self._transcripts, []
            results, self._results = self._results, []
            runs, self._runs = self._runs, {}
            outbox, self._outbox = self._outbox, {}
            alarms, self._alarms = self._alarms, {}
            events, self._events = self._events, []
            if not (transcripts or results or runs or outbox or alarms or events):
                return True
            appended = False

            def write(repos: Repositories) -> None:
                nonlocal appended
                if transcripts:
                    repos.store.append_transcripts(transcripts)
                    appended = True  # a retry must not append them again
                if results:
                    repos.host_results.insert_new(results)
                else:
                    repos.host_results.settle_index()  # results stopped coming: index the last ones now
                if runs:
                    repos.runs.update_many(runs.values())
                if outbox:
                    repos.outbox.update_many(outbox)
                if alarms:
                    repos.alarms.put_many(alarms.values())
                if events:
                    repos.events.append_new(events)

            def put_back(error: BaseException) -> None:
                # In front of anything buffered meanwhile; newer run/outbox states win.
                if not appended:
                    self._transcripts[:0] = transcripts
                self._results[:0] = results
                self._runs = {**runs, **self._runs}
                self._outbox = {**outbox, **self._outbox}
                self._alarms = {**alarms, **self._alarms}
                self._events[:0] = events
                if not self._failing:
                    self._failing = True
                    if self.on_write_failed is not None:
                        self.on_write_failed(error if isinstance(error, Exception) else Exception(error), self.pending)

            writing = self._submit(write)
            try:
                await asyncio.wait([writing])
            except asyncio.CancelledError:
                # The caller was cancelled (a run interrupted at shutdown): the batch is already out of the
                # buffer, so the write goes on, and a failed one is put back when it ends.
                writing.add_done_callback(lambda done: put_back(done.exception()) if done.exception()
                                          else self._events_committed(events))
                raise
            error = writing.exception()
            if error is not None:
                put_back(error)
                return False
            self._events_committed(events)
            if self._failing:
                self._failing = False
                if self.on_write_recovered is not None:
                    self.on_write_recovered(len(transcripts) + len(results) + len(runs) + len(outbox) + len(alarms)
                                            + len(events))
            return True

    def _events_committed(self, events: list[dict[str, Any]]) -> None:
        if events and self.on_events_committed is not None:
            self.on_events_committed(max(int(e.get("seq") or 0) for e in events))

    async def flush_if_dirty(self) -> None:
        if not self.read_only and self.dirty:
            await self.flush()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            # A failing disk is reported by on_write_failed and retried at the next tick; never fatal.
            await self.flush()

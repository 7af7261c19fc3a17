"""Run detail: one run's header, its hosts, and the selected host's transcript and events, live.

Why it looks like this: a failure notice says *which* run failed and *why* in a sentence; the operator then
needs, on one screen, the run's state and counters, every host with its category and reason, and the
evidence (the host's transcript and its trace) to decide: re-scan the failed hosts, acknowledge, or dig in.

Everything comes from the engine facade: ``get_run``, ``host_results``, ``transcript``, ``query_events`` and
the live event queue (``subscribe``). Updates are applied in place by row key (the dolphie pattern): a host
that finishes changes its row, the cursor and scroll position stay where the operator left them. Engine
refusals (ConflictError: wrong state, not a reviewer, already acknowledged ...) become notifications.

The helpers at the top (time and state formatting, :class:`SortCell`, :func:`sync_table`, the live-event
loop) are shared by the runs, events and inventory screens.

Why one module of this length: one screen (hosts table, log pane, run controls) over one run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist, RowKey

from console.domain.durations import format_duration
from console.domain.events import Event
from console.domain.run import HostResult, HostStatus, Run, RunState
from console.domain.terminal import safe_text
from console.engine.api import EngineAPI, EventStream
from console.errors import DisconnectedError, PatchwatchError
from console.tui.screens import ConsoleScreen, go_back, read_only_banner
from console.tui.widgets.columns import plan_columns
from console.tui.widgets.footer import ConsoleFooter
from console.tui.widgets.form_dialogs import ConfirmDialog
from console.tui.widgets.home_tables import clip
from console.tui.widgets.log_view import LogView

__all__ = [
    "ACK_STATES",
    "RunDetailScreen",
    "SortCell",
    "consume_events",
    "cursor_row_key",
    "format_event",
    "go_back",
    "state_text",
    "sync_table",
    "when",
]

#: Transcripts come through the API in pages of this size (a transcript is at most 128 KiB as the scan keeps it).
TRANSCRIPT_PAGE_BYTES = 1 << 20
#: At most this many trace events are shown under a host's transcript.
HOST_EVENTS_LIMIT = 2000

#: States an operator must acknowledge (the engine refuses the others).
ACK_STATES = frozenset({RunState.FAILED, RunState.ERROR, RunState.MISSED, RunState.INTERRUPTED,
                        RunState.REVIEW_EXPIRED})

_STATE_STYLES: dict[str, str] = {
    "succeeded": "green", "ok": "green",
    "failed": "bold red", "error": "bold red", "missed": "bold red", "interrupted": "bold red",
    "review_expired": "red",
    "running": "bold cyan", "queued": "cyan", "scanning": "cyan",
    "paused": "bold yellow", "pending_review": "bold yellow",
    "cancelled": "dim", "rejected": "dim", "skipped": "dim",
}


# ---------------------------------------------------------------------------------------------- helpers


def when(iso: str | None) -> str:
    """An ISO instant as ``YYYY-MM-DD HH:MM:SS`` in UTC (the zone every stored time is in)."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def state_text(state: str) -> Text:
    """A run state or host status, coloured so failures stand out in a long table."""
    return Text(state, style=_STATE_STYLES.get(state, ""), end="")


def categories_text(categories: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(categories.items(), key=lambda kv: (-kv[1], kv[0])))


def duration_text(seconds: float) -> str:
    if not seconds:
        return "-"
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def format_event(event: Event) -> str:
    """One trace event as a log line (timestamp first, so the log view can hide it with ``t``)."""
    actor = f" [{event.actor}]" if event.actor else ""
    return f"{event.at} {event.kind}{actor} {event.message}"


def plain(value: object) -> Text:
    """A table cell shown literally: host output and reasons may contain ``[``, which is markup to a str cell."""
    return Text(safe_text(value), end="")  # and controls/bidi neutralised (console.domain.terminal)


class SortCell(Text):
    """A table cell that displays ``text`` and sorts by ``order``.

    DataTable.sort gives the key function cell values only, not row keys; carrying the order in the cell
    lets a live table insert rows anywhere with one sort instead of a rebuild.
    """

    def __init__(self, text: str, order: Any, style: str = "") -> None:
        super().__init__(text, style=style, end="")
        self.order = order


def cursor_row_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None when the table is empty."""
    if table.row_count == 0:
        return None
    try:
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    except CellDoesNotExist:
        return None
    return str(row_key.value)


def sync_table(table: DataTable[Any], rows: Mapping[str, Sequence[Any]], *, sort_column: str,
               reverse: bool = False) -> bool:
    """Make ``table`` show exactly ``rows`` (key -> cells in column order), in place; True if anything changed.

    Vanished keys are removed, ``update_cell`` runs only where a value changed, new keys are added, and only
    when rows were added is the table sorted (by the :class:`SortCell` in ``sort_column``). The cursor stays
    on the row it was on.
    """
    columns = [column.key for column in table.ordered_columns]
    selected = cursor_row_key(table)
    present = {str(key.value) for key in table.rows}
    changed = added = False
    for key in present - rows.keys():
        table.remove_row(key)
        changed = True
    for key, values in rows.items():
        if key in present:
            for column, before, after in zip(columns, table.get_row(key), values, strict=False):
                if before != after:
                    table.update_cell(key, column, after)
                    changed = True
        else:
            table.add_row(*values, key=key)
            changed = added = True
    if added:
        table.sort(sort_column, key=lambda cell: cell.order, reverse=reverse)
    if changed and selected is not None and selected in rows:
        index = table.get_row_index(selected)
        if index != table.cursor_row:
            table.move_cursor(row=index, animate=False)
    return changed


def row_key_text(key: RowKey | str) -> str:
    return str(key.value) if isinstance(key, RowKey) else key


async def consume_events(engine: EngineAPI, queue: EventStream,
                         handle: Callable[[list[Event]], Awaitable[None]], *, pace: float = 0.1) -> None:
    """Feed a screen the engine's live events in batches until the worker is cancelled.

    Whatever arrived while the previous batch was being applied is handled as one batch, and batches are
    at least ``pace`` seconds apart: a 1,000-host scan costs a few table updates per second, never one
    per event, and updates never overlap.
    """
    try:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            # The daemon going away mid-batch is not this worker's end: the stream says so and resumes.
            with contextlib.suppress(DisconnectedError):
                await handle(batch)
            await asyncio.sleep(pace)
    finally:
        queue.close()


async def call_engine(screen: ConsoleScreen, what: str, call: Callable[[], Awaitable[Any]]) -> Any | None:
    """Run an operator's command; an engine refusal or failure becomes a notification, never a crash."""
    try:
        return await call()
    except PatchwatchError as exc:
        screen.notify(str(exc), title=f"Cannot {what}", severity="error", timeout=8, markup=False)
    except Exception as exc:  # noqa: BLE001 - the console must survive any engine failure and say so
        screen.notify(f"{type(exc).__name__}: {exc}", title=f"{what} failed", severity="error", timeout=8, markup=False)
    return None


# ---------------------------------------------------------------------------------------------- screen


_HOST_COLUMNS = ("host", "os", "status", "category", "reason", "missing", "security", "reboot", "duration")
_HOST_LABELS = ("Host", "OS", "Status", "Category", "Reason", "Missing", "Security", "Reboot", "Duration")
#: Column widths per layout (the reason takes the rest). What a narrow layout leaves out (OS, updates,
#: reboot, duration) is in the log pane's "## result" lines of the selected host.
HOST_LAYOUTS: dict[str, dict[str, int]] = {
    "wide": {"host": 18, "os": 20, "status": 9, "category": 10, "missing": 7, "security": 8, "reboot": 6,
             "duration": 8},
    "medium": {"host": 16, "os": 20, "status": 9, "category": 10, "missing": 7},
    "narrow": {"host": 14, "status": 9, "category": 10},
}
MIN_REASON, MAX_REASON = 20, 120


def plan_host_columns(width: int) -> tuple[str, dict[str, int]]:
    """The hosts table's layout for a table ``width`` columns wide."""
    return plan_columns(width, _HOST_COLUMNS, HOST_LAYOUTS, "reason", MIN_REASON, MAX_REASON)


class RunDetailScreen(ConsoleScreen):
    """One run: header, hosts (filterable), and the selected host's log pane, updated live."""

    CSS_PATH = "run_detail.tcss"
    TITLE = "Run"
    #: ``-short`` (under 32 rows): the hosts table and the log share the height equally.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("l", "focus_log", "Log"),
        # The log pane's keys work from the hosts table too: reading the evidence should not need a Tab.
        Binding("slash", "log('start_search')", "Search log", key_display="/"),
        Binding("n", "log('next_match')", "Next match", show=False),
        Binding("N", "log('previous_match')", "Previous match", show=False),
        Binding("w", "log('toggle_wrap')", "Wrap log", show=False),
        Binding("t", "log('toggle_timestamps')", "Timestamps", show=False),
        Binding("f", "toggle_failed", "Failed only"),
        Binding("c", "cycle_category", "Category"),
        Binding("R", "rescan", "Re-scan failed"),
        Binding("a", "acknowledge", "Acknowledge"),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("p", "pause", "Pause"),
        Binding("u", "resume", "Resume"),
        Binding("A", "approve", "Approve"),
        Binding("J", "reject", "Reject"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI, run_id: str, host: str | None = None) -> None:
        super().__init__(engine)
        self.run_id = run_id
        self.initial_host = host
        self.run: Run | None = None
        self.results: dict[str, HostResult] = {}
        #: Hosts announced by a started batch that have no result yet.
        self.scanning: set[str] = set()
        self.failed_only = False
        self.category: str | None = None
        self.log_host: str | None = None
        self._queue: EventStream | None = None
        self.layout_name = ""
        self.widths: dict[str, int] = {}

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield read_only_banner(self.app)
        yield Static(f"Run {self.run_id}: loading...", id="run-header", markup=False)
        yield Static("", id="host-filter", markup=False)
        table: DataTable[Any] = DataTable(id="hosts", cursor_type="row", zebra_stripes=True)
        self._set_columns(table, *plan_host_columns(160))
        yield table
        log = LogView(id="host-log")
        log.border_title = "log: select a host"
        yield log
        yield ConsoleFooter()

    def _set_columns(self, table: DataTable[Any], name: str, widths: dict[str, int]) -> None:
        """Fixed widths from the layout, never from the first cells: a live run's table starts with empty
        cells ("scanning"), and widths taken from those squeezed every column for good."""
        self.layout_name, self.widths = name, widths
        selected = cursor_row_key(table) if table.row_count else None
        table.clear(columns=True)
        for key, label in zip(_HOST_COLUMNS, _HOST_LABELS, strict=True):
            if key in widths:
                table.add_column(label, key=key, width=widths[key])
        if self.is_mounted:
            self._render_hosts()
            if selected is not None and selected in {str(k.value) for k in table.rows}:
                table.move_cursor(row=table.get_row_index(selected), animate=False)

    def on_resize(self) -> None:
        table = self.hosts_table
        name, widths = plan_host_columns(table.size.width or self.size.width)
        if (name, widths) != (self.layout_name, self.widths):
            self._set_columns(table, name, widths)
        self._render_header()

    def action_log(self, action: str) -> None:
        """Run one of the log pane's actions (search, next match, wrap, timestamps) from anywhere here."""
        getattr(self.log_view, f"action_{action}")()

    async def on_mount(self) -> None:
        self.title = f"Run {self.run_id}"
        self._queue = await self.engine.subscribe()
        self._watch_events(self._queue)
        self._load(select=True)

    def on_unmount(self) -> None:
        if self._queue is not None:
            self._queue.close()

    @property
    def hosts_table(self) -> DataTable[Any]:
        return self.query_one("#hosts", DataTable)

    @property
    def log_view(self) -> LogView:
        return self.query_one("#host-log", LogView)

    # ------------------------------------------------------------------ loading

    @work(group="run-detail-load", exclusive=True, exit_on_error=False, description="load a run and its hosts")
    async def _load(self, select: bool = False) -> None:
        try:
            run = await self.engine.get_run(self.run_id)
            results = await self.engine.host_results(self.run_id)
            if not run.state.terminal and run.batch_count:
                # Hosts of the batch in progress, announced before this screen subscribed.
                started = await self.engine.query_events(run_id=self.run_id, kind="batch.started", limit=1)
                if started:
                    self.scanning |= set(started[0].data.get("hosts", []))
        except PatchwatchError as exc:
            self.query_one("#run-header", Static).update(f"Run {self.run_id}: {exc}")
            self.notify(str(exc), title="Cannot open run", severity="error", markup=False)
            return
        self._apply(run, results)
        if select:
            self._select_initial_host()

    def _apply(self, run: Run, results: Iterable[HostResult] | None) -> None:
        self.run = run
        if results is not None:
            self.results = {r.host: r for r in results}
            self.scanning -= self.results.keys()
        self._render_header()
        self._render_hosts()

    def _select_initial_host(self) -> None:
        table = self.hosts_table
        target = self.initial_host
        if target is None:
            failed = sorted(h for h, r in self.results.items() if r.status is HostStatus.FAILED)
            target = failed[0] if failed else None
        if target is not None and target in {str(k.value) for k in table.rows}:
            table.move_cursor(row=table.get_row_index(target), animate=False)
            self._show_host(target)
        elif table.row_count:
            self._show_host(cursor_row_key(table) or "")
        elif target is not None:
            self._show_host(target)

    # ------------------------------------------------------------------ header

    def _render_header(self) -> None:
        """Three lines at most, one row each (cut with an ellipsis), most important first: what run and its
        state; how its hosts went; what needs doing (error, pause, review, acknowledgement), then its times.
        The hosts table and the log get the rest of the screen, also in an 80x24 terminal."""
        run = self.run
        if run is None:
            return
        first = Text(f"Run {run.id}  ", style="bold", end="")
        first.append_text(state_text(run.state.value))
        first.append(f"  re-scan of {run.parent_run_id}" if run.parent_run_id else f"  {run.trigger.value}")
        first.append(f"  {run.task_name} ({run.task_id})")
        hosts = Text(f"hosts {run.hosts_done}/{run.hosts_total} done: {run.hosts_ok} ok, ", end="")
        hosts.append(f"{run.hosts_failed} failed", style="bold red" if run.hosts_failed else "")
        hosts.append(f", {run.hosts_skipped} skipped, {run.hosts_cancelled} cancelled")
        if run.categories:
            hosts.append(f"  failures: {categories_text(run.categories)}", style="red")
        if run.batch_count:
            hosts.append(f"  batch {run.batch_index}/{run.batch_count}")
        alerts: list[Text] = []
        if run.missed_count:
            alerts.append(Text(f"missed slots: {run.missed_count} (first {when(run.missed_slots[0])})"
                               if run.missed_slots else f"missed slots: {run.missed_count}", style="red", end=""))
        if run.error:
            alerts.append(Text(f"error: {run.error}", style="bold red", end=""))
        if run.pause_reason and run.state is RunState.PAUSED:
            alerts.append(Text(f"paused: {run.pause_reason}  (u resumes, x cancels)", style="bold yellow", end=""))
        if run.state is RunState.PENDING_REVIEW:
            alerts.append(Text(f"waiting for review until {when(run.review_deadline)}  (A approves, J rejects)",
                               style="bold yellow", end=""))
        elif run.reviewed_by:
            note = f": {run.review_note}" if run.review_note else ""
            alerts.append(Text(f"reviewed by {run.reviewed_by} at {when(run.reviewed_at)}{note}", end=""))
        if run.acknowledged_by:
            note = f": {run.ack_note}" if run.ack_note else ""
            alerts.append(Text(f"acknowledged by {run.acknowledged_by} at {when(run.acknowledged_at)}{note}",
                               style="green", end=""))
        elif run.state in ACK_STATES:
            alerts.append(Text("not acknowledged  (a acknowledges, R re-scans the failed hosts)",
                               style="bold red", end=""))
        times = [f"created {when(run.created_at)}"]
        if run.scheduled_for:
            times.insert(0, f"slot {when(run.scheduled_for)}")
        if run.started_at:
            times.append(f"started {when(run.started_at)}")
        if run.finished_at:
            times.append(f"finished {when(run.finished_at)}")
        alerts.append(Text("  ".join(times) + " (UTC; task zone " + run.timezone + ")", style="dim", end=""))
        third = Text("  ·  ", end="").join(alerts)
        width = max(10, self.query_one("#run-header", Static).content_region.width) if self.is_mounted else 10_000
        lines = []
        for line in (first, hosts, third):
            line.truncate(width, overflow="ellipsis")
            lines.append(line)
        self.query_one("#run-header", Static).update(Text("\n", end="").join(lines))

    # ------------------------------------------------------------------ hosts

    def _host_row(self, host: str) -> list[Any]:
        """The row's cells for the columns the current layout shows, each cut to its column's width."""
        widths = self.widths or plan_host_columns(160)[1]
        result = self.results.get(host)
        if result is None:
            cells: dict[str, Any] = {"host": SortCell(clip(host, widths["host"]), host), "os": plain("-"),
                                     "status": state_text("scanning")}
        else:
            security = "-" if result.security_count is None else str(result.security_count)
            reboot = "-" if result.reboot_required is None else ("yes" if result.reboot_required else "no")
            ok = result.status is HostStatus.OK
            cells = {
                "host": SortCell(clip(host, widths["host"]), host),
                "os": plain(clip(result.os or result.family or "-", widths.get("os", 20))),
                "status": state_text(result.status.value),
                "category": Text(result.category or "", style="red" if result.category else "", end=""),
                "reason": plain(clip(result.reason or "", widths.get("reason", 60))),
                "missing": plain(result.missing_count if ok else "-"),
                "security": plain(security if ok else "-"),
                "reboot": plain(reboot if ok else "-"),
                "duration": plain(duration_text(result.duration_s)),
            }
        return [cells.get(key, plain("")) for key in _HOST_COLUMNS if key in widths]

    def _wanted_hosts(self) -> list[str]:
        hosts = sorted(self.results.keys() | self.scanning)
        if self.failed_only:
            hosts = [h for h in hosts if (r := self.results.get(h)) is not None and r.status is HostStatus.FAILED]
        if self.category is not None:
            hosts = [h for h in hosts if (r := self.results.get(h)) is not None and r.category == self.category]
        return hosts

    def _render_hosts(self) -> None:
        table = self.hosts_table
        wanted = self._wanted_hosts()
        with self.app.batch_update():
            sync_table(table, {host: self._host_row(host) for host in wanted}, sort_column="host")
        total = len(self.results.keys() | self.scanning)
        parts = [f"{len(wanted)} of {total} hosts"]
        parts.append("failed only" if self.failed_only else "all statuses")
        parts.append(f"category {self.category}" if self.category else "every category")
        self.query_one("#host-filter", Static).update(" · ".join(parts) + "   (f failed only, c category)")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "hosts" or event.row_key is None:
            return
        host = row_key_text(event.row_key)
        if host != self.log_host:
            self._show_host(host)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a host: show it and put the focus in its log."""
        if event.data_table.id == "hosts" and event.row_key is not None:
            host = row_key_text(event.row_key)
            if host != self.log_host:
                self._show_host(host)
            self.log_view.lines.focus()

    # ------------------------------------------------------------------ log pane

    def _show_host(self, host: str) -> None:
        self.log_host = host
        self.log_view.border_title = f"log: {host}"
        self._load_log(host, fresh=True)

    @work(group="run-detail-log", exclusive=True, exit_on_error=False, description="load a host's transcript")
    async def _load_log(self, host: str, fresh: bool) -> None:
        """Transcript (from the file by index when big) plus the host's result and trace events."""
        result = self.results.get(host)
        text = ""
        try:
            text = await self._read_transcript(host)
            events = await self.engine.query_events(run_id=self.run_id, host=host, newest_first=False,
                                                    limit=HOST_EVENTS_LIMIT)
        except PatchwatchError as exc:
            self.notify(str(exc), title=f"Cannot read the log of {host}", severity="error", markup=False)
            return
        if self.log_host != host:
            return  # the operator moved on while this was read
        log = self.log_view
        if fresh:
            log.clear()
        if text:
            log.set_text(text)
        else:
            state = "the host has not finished yet" if result is None else "nothing was recorded for this host"
            log.set_text(f"## no transcript: {state}\n")
        log.append_lines(self._result_lines(result) + [f"## events of {host} in run {self.run_id}"]
                         + [format_event(e) for e in events])

    async def _read_transcript(self, host: str) -> str:
        """The whole transcript, page by page through the API (the engine may be in another process)."""
        pages: list[str] = []
        offset = 0
        while True:
            page = await self.engine.transcript_page(self.run_id, host, offset=offset, limit=TRANSCRIPT_PAGE_BYTES)
            pages.append(page.text)
            if page.at_end or page.next_offset <= offset:
                return "".join(pages)
            offset = page.next_offset

    @staticmethod
    def _result_lines(result: HostResult | None) -> list[str]:
        if result is None:
            return []
        line = f"## result: {result.status.value}" + (f" in {duration_text(result.duration_s)}"
                                                       if result.duration_s else "")
        if result.category:
            line += f" ({result.category})"
        if result.reason:
            line += f": {result.reason}"
        lines = [line]
        if result.hint:
            lines.append(f"## hint: {result.hint}")
        if result.status is HostStatus.OK:
            lines.append(f"## {result.os or result.family or 'unknown OS'}: {result.missing_count} updates missing"
                         + (f", {result.security_count} security" if result.security_count is not None else "")
                         + (", reboot required" if result.reboot_required else ""))
        return lines

    # ------------------------------------------------------------------ live

    @work(group="run-detail-live", exclusive=True, exit_on_error=False, description="follow the run's events")
    async def _watch_events(self, queue: EventStream) -> None:
        await consume_events(self.engine, queue, self._on_events)

    async def _on_events(self, batch: list[Event]) -> None:
        mine = [e for e in batch if e.run_id == self.run_id]
        if not mine:
            return
        hosts_changed = reload_log = False
        append: list[str] = []
        for event in mine:
            if event.kind == "host.finished":
                hosts_changed = True
                reload_log = reload_log or event.host == self.log_host
            elif event.kind == "batch.started":
                self.scanning |= {h for h in event.data.get("hosts", []) if h not in self.results}
                hosts_changed = True
            elif event.host is not None and event.host == self.log_host:
                append.append(format_event(event))
        try:
            run = await self.engine.get_run(self.run_id)
            results = await self.engine.host_results(self.run_id) if hosts_changed else None
        except PatchwatchError:
            return
        self._apply(run, results)
        if self.log_host is None and self.hosts_table.row_count:
            self._select_initial_host()
        elif reload_log and self.log_host is not None:
            self._load_log(self.log_host, fresh=False)
        elif append:
            self.log_view.append_lines(append)

    # ------------------------------------------------------------------ keys

    def action_back(self) -> None:
        go_back(self)

    def action_focus_log(self) -> None:
        self.log_view.lines.focus()

    def action_reload(self) -> None:
        self._load()
        if self.log_host is not None:
            self._load_log(self.log_host, fresh=False)

    def action_toggle_failed(self) -> None:
        self.failed_only = not self.failed_only
        self._render_hosts()

    def action_cycle_category(self) -> None:
        categories = sorted({r.category for r in self.results.values() if r.category})
        if not categories:
            self.category = None
            self.notify("no host failed: there is no category to filter on", markup=False)
        else:
            cycle: list[str | None] = [None, *categories]
            position = cycle.index(self.category) if self.category in cycle else 0
            self.category = cycle[(position + 1) % len(cycle)]
        self._render_hosts()

    async def _command(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any | None:
        if self.refuse_if_read_only():
            return None
        outcome = await call_engine(self, what, call)
        if outcome is not None:
            self._load()
        return outcome

    async def action_acknowledge(self) -> None:
        run = await self._command("acknowledge", lambda: self.engine.acknowledge(self.run_id))
        if run is not None:
            self.notify(f"run {self.run_id} acknowledged by {run.acknowledged_by}", markup=False)

    def action_rescan(self) -> None:
        """Ask first (a re-scan connects to hosts again), then start it and open the new run."""
        if self.refuse_if_read_only():
            return
        failed = sorted(h for h, r in self.results.items() if r.status is HostStatus.FAILED)
        if not failed:
            self.notify(f"run {self.run_id} has no failed host to re-scan", markup=False)
            return
        shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        question = (f"Re-scan the {len(failed)} failed hosts of run {self.run_id} ({shown}) now, "
                    "as a new run?")

        async def answered(confirmed: bool | None) -> None:
            if not confirmed:
                return
            run = await self._command("re-scan", lambda: self.engine.rescan_failed(self.run_id))
            if run is not None:
                self.notify(f"re-scan run {run.id} started on {len(run.only_hosts)} failed hosts", markup=False)
                self.app.push_screen(RunDetailScreen(self.engine, run.id))

        self.app.push_screen(ConfirmDialog(question, yes="Re-scan", no="Not now"), answered)

    async def action_pause(self) -> None:
        if await self._command("pause", lambda: self.engine.pause(self.run_id)) is not None:
            self.notify(f"run {self.run_id} paused: running hosts finish, no new host starts", markup=False)

    async def action_resume(self) -> None:
        if await self._command("resume", lambda: self.engine.resume(self.run_id)) is not None:
            self.notify(f"run {self.run_id} resumed", markup=False)

    async def action_approve(self) -> None:
        run = await self._command("approve", lambda: self.engine.approve(self.run_id))
        if run is not None:
            self.notify(f"run {self.run_id} approved by {run.reviewed_by}", markup=False)

    def action_reject(self) -> None:
        self._confirm(f"Reject run {self.run_id}? It will not scan any host.", "Reject",
                      lambda: self.engine.reject(self.run_id), "reject", "rejected")

    def action_cancel_run(self) -> None:
        self._confirm(f"Cancel run {self.run_id}? Hosts not scanned yet will not be scanned.", "Cancel run",
                      lambda: self.engine.cancel(self.run_id), "cancel", "cancelled")

    def _confirm(self, question: str, yes: str, call: Callable[[], Awaitable[Any]], what: str, done: str) -> None:
        if self.refuse_if_read_only():
            return

        async def answered(confirmed: bool | None) -> None:
            if confirmed and await self._command(what, call) is not None:
                self.notify(f"run {self.run_id} {done}", markup=False)

        self.app.push_screen(ConfirmDialog(question, yes=yes, no="Keep it"), answered)

"""Notifications: the outbox, newest first, live; and the "mailbox view" of what each recipient got.

Why: a failure that reached nobody is a silent failure. The operator on shift needs to see, at a glance,
which notices went out, which are still being retried and which gave up, and for any one of them: every
attempt with its error, where a failing mode fell back to, and the message exactly as its channel rendered
it (the email's subject and text, the SMS, the robot markdown), to answer "what did alice actually get?".

Everything comes from the engine facade (``list_notifications``, ``retry_notification``, the live event
queue); the message preview uses the same pure renderers the outbox sends with (``console.notify.render``),
applied to the notice stored in the record, so the preview is the message. Rows are updated in place by
record id (the dolphie pattern, via :func:`~console.tui.screens.run_detail.sync_table`): a retry that
succeeds turns its row green where it is, and the cursor stays put.

``f`` cycles the status views (all / failed or abandoned / retrying / sent), ``/`` filters by text, ``R``
retries the selected record now, Enter or ``l`` opens the run it is about.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input, Static

from console.domain.events import Event
from console.engine.api import EngineAPI, EventStream
from console.errors import PatchwatchError
from console.notify.notice import Notice
from console.notify.outbox import OutboxRecord
from console.notify.render import render_email, render_markdown, render_plain, render_sms
from console.tui.screens import FilteredTableScreen, read_only_banner, words_match
from console.tui.screens.run_detail import (
    RunDetailScreen,
    SortCell,
    call_engine,
    consume_events,
    cursor_row_key,
    plain,
    row_key_text,
    sync_table,
    when,
)
from console.tui.widgets.footer import ConsoleFooter

__all__ = ["STATUS_VIEWS", "NotificationsScreen", "rendered_message"]

#: The status views ``f`` cycles through: (label, outbox statuses or None for every status).
STATUS_VIEWS: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("all statuses", None),
    ("failed or abandoned", frozenset({"failed", "abandoned"})),
    ("retrying", frozenset({"retrying"})),
    ("sent", frozenset({"sent"})),
)

PAGE = 200
#: Errors are cut to this in the table; the detail pane shows them whole.
ERROR_CELL = 60

#: Outbox statuses, coloured so the ones that need a person (failed, abandoned) and the ones still fighting
#: (retrying) stand out in a long list of green.
_STATUS_STYLES: dict[str, str] = {
    "sent": "green", "queued": "cyan", "sending": "cyan",
    "retrying": "bold yellow", "failed": "bold red", "abandoned": "bold red",
}
_TROUBLE = frozenset({"failed", "abandoned"})

# What an operator reads first comes first, so the row makes sense at 80 columns; ids close the row.
_COLUMNS = ("time", "status", "kind", "task", "person", "mode", "attempts", "latency", "error", "target", "run")
_LABELS = ("Created (UTC)", "Status", "Kind", "Task", "Person", "Mode", "Tries", "Latency", "Error", "Target",
           "Run")


def _status(record: OutboxRecord) -> str:
    return str(getattr(record.status, "value", record.status))


def _order(record: OutboxRecord) -> tuple[str, str]:
    return (record.created_at, record.id)


def _task_name(record: OutboxRecord) -> str:
    """The task's name as the notice carried it (the record itself only has the id)."""
    name = record.notice.get("task_name") if isinstance(record.notice, dict) else None
    return str(name) if name else record.task_id


def rendered_message(record: OutboxRecord) -> list[tuple[str, str]]:
    """The message of ``record`` as its channel rendered it: (heading, text) sections, in reading order.

    The same pure renderers the outbox sends with, on the notice stored in the record: email gets its
    subject and plain-text part, SMS its one text, the DingTalk/WeCom robots their title and markdown,
    any other apprise mode the plain title and body. A record whose notice cannot be read says so.
    """
    try:
        notice = Notice.from_dict(record.notice)
    except (KeyError, TypeError, ValueError) as exc:
        return [("Message", f"(the stored notice cannot be read: {type(exc).__name__}: {exc})")]
    if record.mode == "email":
        subject, text, _html = render_email(notice)
        return [("Email subject", subject), ("Email text (an HTML part with the same content went with it)", text)]
    if record.mode == "sms":
        sms = render_sms(notice)
        return [(f"SMS text ({len(sms)} characters)", sms)]
    if record.mode in ("dingtalk", "wecom"):
        title, markdown = render_markdown(notice)
        return [("Robot title", title),
                (f"Robot markdown (the {record.mode} robot adds an @-mention of the recipient)", markdown)]
    title, body = render_plain(notice)
    if record.mode == "-":
        return [("Never sent: no channel reached the recipient. It would have read", title), ("Text", body)]
    return [(f"{record.mode} title", title), (f"{record.mode} text", body)]


class NotificationsScreen(FilteredTableScreen):
    """The outbox table (newest first, live, filterable) over the selected record's detail and message."""

    FILTER_ID = "notifications-filter"

    CSS_PATH = "notifications.tcss"
    TITLE = "Notifications"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_run", "Open run"),
        Binding("l", "open_run", "Open run", show=False),
        Binding("f", "cycle_status", "Status filter"),
        Binding("slash", "filter", "Filter"),
        Binding("R", "retry", "Retry now"),
        Binding("d", "focus_detail", "Detail"),
        Binding("m", "more", "More"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI, run_id: str | None = None) -> None:
        super().__init__(engine)
        #: Only the notifications about this run, when opened from a run.
        self.run_id = run_id
        self.view = 0
        self.limit = PAGE
        self.records: dict[str, OutboxRecord] = {}
        #: The record the detail pane shows, and the version of it that was rendered there.
        self.detail_id: str | None = None
        self._detail_shown: dict[str, Any] | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield read_only_banner(self.app)
        yield Input(placeholder="filter: person, mode, kind, task, run, status, error... (Enter keeps, Esc clears)",
                    id="notifications-filter", compact=True)
        table: DataTable[Any] = DataTable(id="notifications", cursor_type="row", zebra_stripes=True)
        for key, label in zip(_COLUMNS, _LABELS, strict=True):
            table.add_column(label, key=key)
        yield table
        pane = VerticalScroll(Static("", id="notification-detail", markup=False), id="notification-pane")
        pane.border_title = "detail: select a notification"
        yield pane
        yield Static("", id="notifications-status", markup=False)
        yield ConsoleFooter()

    async def on_mount(self) -> None:
        if self.run_id is not None:
            self.sub_title = f"run {self.run_id}"
        await self.start_table()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#notifications", DataTable)

    @property
    def statuses(self) -> frozenset[str] | None:
        return STATUS_VIEWS[self.view][1]

    # ------------------------------------------------------------------ data

    async def _fetch(self) -> list[OutboxRecord]:
        """One page of the outbox in the current status view, newest first.

        The engine filters by one status at a time; a view of two statuses asks for each and merges, so the
        page holds the newest ``limit`` records of the view, not whatever the newest page happened to contain.
        """
        if self.statuses is None:
            return await self.engine.list_notifications(run_id=self.run_id, limit=self.limit)
        found: list[OutboxRecord] = []
        for status in sorted(self.statuses):
            found += await self.engine.list_notifications(status=status, run_id=self.run_id, limit=self.limit)
        found.sort(key=_order, reverse=True)
        return found[:self.limit]

    @work(group="notifications-load", exclusive=True, exit_on_error=False, description="list notifications")
    async def _load(self) -> None:
        try:
            records = await self._fetch()
        except PatchwatchError as exc:
            self.notify(str(exc), title="Cannot list notifications", severity="error", markup=False)
            return
        self._apply(records)

    def _apply(self, records: list[OutboxRecord]) -> None:
        self.records = {record.id: record for record in records}
        self._refresh_rows()

    def _matches(self, record: OutboxRecord) -> bool:
        if self.statuses is not None and _status(record) not in self.statuses:
            return False
        return words_match(self.text_filter, record.id, record.kind, _task_name(record), record.task_id,
                           record.run_id or "", record.person, record.mode, record.target, _status(record),
                           record.error or "", record.fallback_from or "", record.fallback_to or "")

    @staticmethod
    def _row(record: OutboxRecord) -> list[Any]:
        status = _status(record)
        failures = sum(1 for attempt in record.attempts if not attempt.get("ok"))
        error = (record.error or "").replace("\n", " ")
        if len(error) > ERROR_CELL:
            error = error[:ERROR_CELL - 1] + "…"
        error_style = "red" if status in _TROUBLE else "yellow" if status == "retrying" else "dim"
        latency = f"{record.latency_s:.2f}s" if record.latency_s is not None else "-"
        return [
            SortCell(when(record.created_at), _order(record)),
            Text(status, style=_STATUS_STYLES.get(status, ""), end=""),
            plain(record.kind),
            plain(_task_name(record)),
            plain(record.person),
            plain(record.mode),
            Text(str(len(record.attempts)), style="yellow" if failures else "", end=""),
            plain(latency),
            Text(error, style=error_style, end=""),
            plain(record.target),
            plain(record.run_id or "-"),
        ]

    def _refresh_rows(self) -> None:
        shown = {record.id: self._row(record) for record in self.records.values() if self._matches(record)}
        with self.app.batch_update():
            sync_table(self.table, shown, sort_column="time", reverse=True)
        if self.detail_id not in shown:
            self.detail_id = cursor_row_key(self.table)
        self._render_detail()
        counts = {status: sum(1 for r in self.records.values() if _status(r) == status)
                  for status in ("failed", "abandoned", "retrying")}
        trouble = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        parts = [f"{len(shown)} of {len(self.records)} notifications", STATUS_VIEWS[self.view][0]]
        if self.run_id is not None:
            parts.append(f"run {self.run_id}")
        if self.text_filter:
            parts.append(f"matching {self.text_filter!r}")
        parts.append("newest first")
        if trouble:
            parts.append(trouble)
        more = "  (m shows more)" if len(self.records) >= self.limit else ""
        self.query_one("#notifications-status", Static).update(" · ".join(parts) + more)

    # ------------------------------------------------------------------ detail pane

    def _render_detail(self) -> None:
        """Show the selected record; skipped when the record did not change (keeps the pane's scroll)."""
        record = self.records.get(self.detail_id or "")
        snapshot = record.to_dict() if record is not None else None
        if snapshot == self._detail_shown and snapshot is not None:
            return
        self._detail_shown = snapshot
        pane = self.query_one("#notification-pane", VerticalScroll)
        body = self.query_one("#notification-detail", Static)
        if record is None:
            pane.border_title = "detail: select a notification"
            body.update("No notification selected." if self.table.row_count else self._empty_text())
            return
        pane.border_title = f"{record.id}: {_status(record)}"
        body.update(self._detail(record))

    def _empty_text(self) -> str:
        if self.records or self.statuses is not None or self.text_filter:
            return "No notification matches the filters (f changes the status view, Esc clears the text filter)."
        return ("No notifications yet. Notices are queued here when a task's notify rules fire "
                "(patchwatch notify test --mode MODE --to PERSON sends a test).")

    @staticmethod
    def _detail(record: OutboxRecord) -> Text:
        status = _status(record)
        out = Text(end="")
        head = Text(f"{record.kind} notice to {record.person} by {record.mode}  ", style="bold", end="")
        head.append(status, style=_STATUS_STYLES.get(status, ""))
        out.append_text(head)
        out.append(f"\ntarget   {record.target}")
        out.append(f"\ntask     {_task_name(record)} ({record.task_id})   run {record.run_id or '-'}")
        times = [f"created {when(record.created_at)}"]
        if record.detected_at:
            times.insert(0, f"detected {when(record.detected_at)}")
        if record.sent_at:
            times.append(f"sent {when(record.sent_at)}")
        if record.latency_s is not None:
            times.append(f"latency {record.latency_s:.2f}s after detection")
        out.append("\ntimes    " + "  ".join(times) + " (UTC)")
        if record.escalation_level:
            out.append(f"\nescalation level {record.escalation_level}", style="bold yellow")
        if record.next_attempt_at and status == "retrying":
            out.append(f"\nnext attempt at {when(record.next_attempt_at)} UTC  (R retries now)", style="yellow")
        if record.fallback_from:
            out.append(f"\nfallback of {record.fallback_from} (an earlier mode kept failing)", style="cyan")
        if record.fallback_to:
            out.append(f"\nfell back to {record.fallback_to} after this mode kept failing", style="cyan")
        if record.error:
            out.append(f"\nerror    {record.error}", style="bold red" if status in _TROUBLE else "yellow")
        out.append(f"\n\nAttempts ({len(record.attempts)})", style="bold")
        if not record.attempts:
            out.append("\n  none yet", style="dim")
        for number, attempt in enumerate(record.attempts, 1):
            ok = bool(attempt.get("ok"))
            line = Text(f"\n  {number}. {when(attempt.get('at'))}  ", end="")
            line.append(str(attempt.get("status", "ok" if ok else "failed")), style="green" if ok else "bold red")
            line.append(f"  {float(attempt.get('seconds') or 0.0):.2f}s")
            if attempt.get("error"):
                line.append(f"  {attempt['error']}", style="red")
            out.append_text(line)
        for heading, text in rendered_message(record):
            out.append(f"\n\n{heading}\n", style="bold")
            out.append(text.rstrip("\n"))
        return out

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "notifications" or event.row_key is None:
            return
        key = row_key_text(event.row_key)
        if key != self.detail_id:
            self.detail_id = key
            self._render_detail()
            self.query_one("#notification-pane", VerticalScroll).scroll_home(animate=False)

    # ------------------------------------------------------------------ live

    @work(group="notifications-live", exclusive=True, exit_on_error=False, description="follow notification events")
    async def _watch_events(self, queue: EventStream) -> None:
        await consume_events(self.engine, queue, self._on_events)

    async def _on_events(self, batch: list[Event]) -> None:
        """Any notification event of interest re-reads the page; rows change in place by record id."""
        if not any(e.kind.startswith("notification.") and (self.run_id is None or e.run_id == self.run_id)
                   for e in batch):
            return
        try:
            records = await self._fetch()
        except PatchwatchError:
            return
        self._apply(records)

    # ------------------------------------------------------------------ keys

    def filter_changed(self) -> None:
        self._refresh_rows()

    def _selected(self) -> OutboxRecord | None:
        key = cursor_row_key(self.table)
        return self.records.get(key) if key is not None else None

    def action_open_run(self) -> None:
        self._open_run(self._selected())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "notifications" and event.row_key is not None:
            event.stop()
            self._open_run(self.records.get(row_key_text(event.row_key)))

    def _open_run(self, record: OutboxRecord | None) -> None:
        if record is None:
            self.notify("No notification selected.", severity="warning")
        elif record.run_id is None:
            self.notify(f"{record.kind} notice {record.id} is not about a run.", severity="warning")
        else:
            self.app.push_screen(RunDetailScreen(self.engine, record.run_id))

    async def action_retry(self) -> None:
        record = self._selected()
        if record is None:
            self.notify("No notification selected.", severity="warning")
            return
        if self.refuse_if_read_only():
            return
        retried = await call_engine(self, "retry the notification",
                                    lambda: self.engine.retry_notification(record.id))
        if retried is not None:
            self.notify(f"retrying {retried.kind} notice to {retried.person} by {retried.mode} now", markup=False)
            self._load()

    def action_focus_detail(self) -> None:
        self.query_one("#notification-pane", VerticalScroll).focus()

    def action_cycle_status(self) -> None:
        self.view = (self.view + 1) % len(STATUS_VIEWS)
        self._load()

    def action_more(self) -> None:
        self.limit += PAGE
        self._load()

    def action_reload(self) -> None:
        self._load()

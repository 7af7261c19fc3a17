"""Events: the trace, filtered, paged, live, exportable.

Why: "traceable" is one of the four promises (domain.md): every event of a failure chain can be queried and
reviewed. Operators narrow the trace by time (ISO or relative: ``-1h``), task (name or id), run, host, kind
(``run.`` takes the whole family) and free text, watch new matching events arrive, and hand the result to an
auditor as JSON lines (``x``).

A trace grows without bound, so the screen never asks for all of it: it queries one page (newest first),
``m`` asks for the next, and the table only ever grows by the rows shown. Live events are matched here with
the same rules as the engine's query and inserted on top with one sort per batch.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from console.domain import ids
from console.domain.durations import parse_duration
from console.domain.events import Event
from console.engine.api import EngineAPI, EventStream
from console.errors import NotFoundError, PatchwatchError, ValidationError
from console.tui.screens import ConsoleScreen, read_only_banner
from console.tui.screens.run_detail import (
    RunDetailScreen,
    SortCell,
    consume_events,
    cursor_row_key,
    go_back,
    plain,
    when,
)
from console.tui.widgets.columns import plan_columns
from console.tui.widgets.footer import ConsoleFooter
from console.tui.widgets.home_tables import clip

__all__ = ["EventFilter", "EventsScreen", "export_events", "parse_instant"]

PAGE = 500

_RELATIVE_RULE = ("must be an ISO date or date-time (2026-11-26, 2026-11-26T03:15) or a time relative to now "
                  "such as -1h, -30m, -2d or now")


def parse_instant(text: str, field: str, now: datetime) -> str | None:
    """``text`` as the UTC ISO string the trace stores (``at`` values compare as strings), or None if blank.

    Accepts ISO dates and date-times (naive ones are UTC), ``now``, and ``-<duration>`` relative to ``now``.
    Raises ValidationError naming ``field``.
    """
    text = text.strip()
    if not text:
        return None
    if text.lower() == "now":
        return now.astimezone(UTC).isoformat()
    if text.startswith("-"):
        try:
            seconds = parse_duration(text[1:], field)
        except ValidationError:
            raise ValidationError.single(field, _RELATIVE_RULE) from None
        return (now - timedelta(seconds=seconds)).astimezone(UTC).isoformat()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError.single(field, _RELATIVE_RULE) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def normalise_kind(text: str) -> str | None:
    """A kind filter: ``run.finished`` exactly, ``run.`` (or plain ``run``) for the family."""
    text = text.strip()
    if not text:
        return None
    return text if "." in text else text + "."


@dataclass(frozen=True)
class EventFilter:
    """The filters of the trace, as the engine's ``query_events`` takes them."""

    since: str | None = None
    until: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    host: str | None = None
    kind: str | None = None
    text: str | None = None

    def query(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def matches(self, event: Event) -> bool:
        """The engine's rules, for live events (since inclusive, until exclusive, kind prefix with ``.``)."""
        if self.since is not None and event.at < self.since:
            return False
        if self.until is not None and event.at >= self.until:
            return False
        if self.task_id is not None and event.task_id != self.task_id:
            return False
        if self.run_id is not None and event.run_id != self.run_id:
            return False
        if self.host is not None and event.host != self.host:
            return False
        if self.kind is not None:
            if self.kind.endswith("."):
                if not event.kind.startswith(self.kind):
                    return False
            elif event.kind != self.kind:
                return False
        if self.text:
            return self.text.casefold() in json.dumps(event.to_dict(), ensure_ascii=False).casefold()
        return True

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.query().items()]
        return ", ".join(parts) if parts else "no filter"


def _unique_path(directory: Path, stem: str, suffix: str) -> Path:
    path = directory / f"{stem}{suffix}"
    counter = 2
    while path.exists():
        path = directory / f"{stem}-{counter}{suffix}"
        counter += 1
    return path


def export_events(directory: Path, stamp: datetime, events: Iterable[Event]) -> tuple[Path, int]:
    """Write ``events`` as JSON lines to ``directory/events-YYYYmmdd-HHMMSS.jsonl``; returns (path, count).

    Written to a temporary file and renamed, so an auditor never picks up half an export.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = _unique_path(directory, f"events-{stamp.astimezone(UTC):%Y%m%d-%H%M%S}", ".jsonl")
    temporary = path.with_name(path.name + ".part")
    count = 0
    with temporary.open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event.to_dict(), ensure_ascii=False, sort_keys=True))
            fh.write("\n")
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)
    return path, count


# The message says most, so it comes before the ids. Widths per layout (the message takes the rest): at 80
# columns time, kind and most of the message (a host's events name the host in their message); wider
# terminals add the host, then the task, run and actor.
_COLUMNS = ("at", "kind", "host", "message", "task", "run", "actor")
_LABELS = ("At (UTC)", "Kind", "Host", "Message", "Task", "Run", "Actor")
EVENT_LAYOUTS: dict[str, dict[str, int]] = {
    "wide": {"at": 19, "kind": 20, "host": 14, "task": 16, "run": 26, "actor": 10},
    "medium": {"at": 19, "kind": 20, "host": 14, "task": 14},
    "narrow": {"at": 19, "kind": 19},
}
MIN_MESSAGE, MAX_MESSAGE = 30, 200
#: Filter inputs: (id suffix, label, placeholder).
_FIELDS = (
    ("since", "since", "-1h, ISO"),
    ("until", "until", "now, ISO"),
    ("kind", "kind", "run., host."),
    ("text", "text", "words"),
    ("task", "task", "name or id"),
    ("run", "run", "run id"),
    ("host", "host", "host name"),
)


def plan_event_columns(width: int) -> tuple[str, dict[str, int]]:
    """The trace table's layout for a table ``width`` columns wide."""
    return plan_columns(width, _COLUMNS, EVENT_LAYOUTS, "message", MIN_MESSAGE, MAX_MESSAGE)


class EventsScreen(ConsoleScreen):
    """The trace with filters, live append, paging and export."""

    CSS_PATH = "events.tcss"
    TITLE = "Events"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_run", "Open run"),
        Binding("slash", "filter", "Filter"),
        Binding("m", "more", "Load more"),
        Binding("x", "export", "Export"),
        Binding("c", "clear_filters", "Clear filters"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI, *, export_dir: Path | None = None) -> None:
        super().__init__(engine)
        #: Where ``x`` writes exports: chosen by whoever opened the console (the engine may be remote).
        self.export_dir = export_dir or Path.cwd() / "patchwatch-exports"
        self._names: dict[str, str] = {}
        self.filter = EventFilter()
        self.limit = PAGE
        self.has_more = False
        self.events: dict[str, Event] = {}
        #: Each shown event's sort rank (kept so a new layout can draw the rows again in order).
        self._ranks: dict[str, float] = {}
        self._live_rank = 0
        self.layout_name = ""
        self.widths: dict[str, int] = {}
        self._queue: EventStream | None = None
        #: Where the last export went (shown in the notification; tests read it).
        self.last_export: Path | None = None

    def compose(self) -> ComposeResult:
        yield read_only_banner(self.app)
        for row in (_FIELDS[:4], _FIELDS[4:]):
            with Horizontal(classes="event-filters"):
                for key, label, placeholder in row:
                    yield Label(label, classes="filter-label")
                    yield Input(placeholder=placeholder, id=f"filter-{key}", compact=True, classes="filter-input")
        table: DataTable[Any] = DataTable(id="events", cursor_type="row", zebra_stripes=True)
        self._set_columns(table, *plan_event_columns(160))
        yield table
        yield Static("", id="events-status", markup=False)
        yield ConsoleFooter()

    def _set_columns(self, table: DataTable[Any], name: str, widths: dict[str, int]) -> None:
        """Columns for the layout; rows already shown are drawn again in it, the selected one stays."""
        self.layout_name, self.widths = name, widths
        selected = cursor_row_key(table) if table.row_count else None
        table.clear(columns=True)
        for key, label in zip(_COLUMNS, _LABELS, strict=True):
            if key in widths:
                table.add_column(label, key=key, width=widths[key])
        if self.events:
            names = self._names  # a resize cannot wait for the engine: the names the rows were drawn with
            for event_id, event in self.events.items():
                table.add_row(*self._row(event, self._ranks.get(event_id, 0), names), key=event_id)
            table.sort("at", key=lambda cell: cell.order, reverse=True)
            if selected is not None and selected in self.events:
                table.move_cursor(row=table.get_row_index(selected), animate=False)

    def on_resize(self) -> None:
        name, widths = plan_event_columns(self.table.size.width or self.size.width)
        if (name, widths) != (self.layout_name, self.widths):
            with self.app.batch_update():
                self._set_columns(self.table, name, widths)

    async def on_mount(self) -> None:
        self.table.focus()
        self._queue = await self.engine.subscribe()
        self._watch_events(self._queue)
        self._load(reset=True)

    def on_unmount(self) -> None:
        if self._queue is not None:
            self._queue.close()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#events", DataTable)

    def _input(self, key: str) -> Input:
        return self.query_one(f"#filter-{key}", Input)

    # ------------------------------------------------------------------ filters

    async def _read_filters(self) -> EventFilter:
        """The inputs as a filter; ValidationError / NotFoundError name the field that is wrong."""
        now = self.engine.clock.now()
        since = parse_instant(self._input("since").value, "since", now)
        until = parse_instant(self._input("until").value, "until", now)
        task_ref = self._input("task").value.strip()
        task_id = None
        if task_ref:
            try:
                task_id = (await self.engine.get_task(task_ref)).id
            except NotFoundError:
                if not ids.looks_like(ids.TASK, task_ref):  # a deleted task's id still filters its events
                    raise ValidationError.single("task", f"no task with name or id {task_ref!r}") from None
                task_id = task_ref
        return EventFilter(since=since, until=until, task_id=task_id,
                           run_id=self._input("run").value.strip() or None,
                           host=self._input("host").value.strip() or None,
                           kind=normalise_kind(self._input("kind").value),
                           text=self._input("text").value.strip() or None)

    @work(group="events-apply", exclusive=True, exit_on_error=False, description="apply the event filters")
    async def _apply_filters(self) -> None:
        try:
            wanted = await self._read_filters()
        except PatchwatchError as exc:
            self.notify(str(exc), title="Filter not applied", severity="error", timeout=8, markup=False)
            return
        self.filter = wanted
        self.limit = PAGE
        await self._query(reset=True)

    # ------------------------------------------------------------------ data

    @work(group="events-load", exclusive=True, exit_on_error=False, description="query the trace")
    async def _load(self, reset: bool) -> None:
        await self._query(reset=reset)

    async def _query(self, *, reset: bool) -> None:
        try:
            found = await self.engine.query_events(**self.filter.query(), limit=self.limit + 1, newest_first=True)
        except PatchwatchError as exc:
            self.notify(str(exc), title="Cannot read the trace", severity="error", markup=False)
            return
        self.has_more = len(found) > self.limit
        found = found[:self.limit]
        names = await self._task_names()
        table = self.table
        with self.app.batch_update():
            if reset:
                table.clear()
                self.events = {}
                self._ranks = {}
                self._live_rank = 0
            for position, event in enumerate(found):
                if event.id not in self.events:
                    # Older pages go below: newest-first positions rank them without a sort.
                    self.events[event.id] = event
                    self._ranks[event.id] = -position
                    table.add_row(*self._row(event, -position, names), key=event.id)
        self._update_status()

    async def _task_names(self) -> dict[str, str]:
        """Task names by id, read from the engine; kept for redrawing the rows in another layout."""
        self._names = {task.id: task.name for task in await self.engine.list_tasks()}
        return self._names

    def _row(self, event: Event, rank: float, names: dict[str, str]) -> list[Any]:
        """The cells of the columns the layout shows, cut to their widths with an ellipsis."""
        widths = self.widths
        task = names.get(event.task_id or "", event.task_id or "")
        style = "bold red" if ("failed" in event.kind or event.kind in ("run.missed", "run.interrupted",
                                                                         "run.error")) else ""
        if event.kind == "host.finished" and event.data.get("status") == "failed":
            style = "red"
        cells = {
            "at": SortCell(when(event.at), rank),
            "kind": Text(clip(event.kind, widths.get("kind", 22)), style=style, end=""),
            "host": plain(clip(event.host or "", widths.get("host", 16))),
            "message": plain(clip(event.message, widths.get("message", MAX_MESSAGE))),
            "task": plain(clip(task, widths.get("task", 18))),
            "run": plain(event.run_id or ""),
            "actor": plain(clip(event.actor or "", widths.get("actor", 12))),
        }
        return [cells[key] for key in _COLUMNS if key in widths]

    def _update_status(self) -> None:
        more = " · more in the trace: m loads the next page" if self.has_more else " · end of the trace"
        self.query_one("#events-status", Static).update(
            f"{len(self.events)} events, newest first · {self.filter.describe()}{more}")

    # ------------------------------------------------------------------ live

    @work(group="events-live", exclusive=True, exit_on_error=False, description="follow the trace")
    async def _watch_events(self, queue: EventStream) -> None:
        await consume_events(self.engine, queue, self._on_events)

    async def _on_events(self, batch: list[Event]) -> None:
        fresh = [e for e in batch if e.id not in self.events and self.filter.matches(e)]
        if not fresh:
            return
        names = await self._task_names()
        rows: dict[str, list[Any]] = {}
        for event in fresh:
            self._live_rank += 1
            self.events[event.id] = event
            self._ranks[event.id] = self._live_rank
            rows[event.id] = self._row(event, self._live_rank, names)
        table = self.table
        selected = cursor_row_key(table)
        with self.app.batch_update():
            for key, values in rows.items():
                table.add_row(*values, key=key)
            # Newest on top: one sort per batch (the rank travels in the time cell).
            table.sort("at", key=lambda cell: cell.order, reverse=True)
            if selected is not None:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._update_status()

    # ------------------------------------------------------------------ keys

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.table.focus()
        else:
            go_back(self)

    def action_filter(self) -> None:
        self._input("text").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id and event.input.id.startswith("filter-"):
            event.stop()
            self._apply_filters()
            self.table.focus()

    def action_clear_filters(self) -> None:
        for key, _, _ in _FIELDS:
            self._input(key).value = ""
        self._apply_filters()

    def action_more(self) -> None:
        if not self.has_more:
            self.notify("no older events match these filters", markup=False)
            return
        self.limit += PAGE
        self._load(reset=False)

    def action_reload(self) -> None:
        self._apply_filters()

    def action_open_run(self) -> None:
        key = cursor_row_key(self.table)
        event = self.events.get(key) if key else None
        if event is None:
            return
        if event.run_id is None:
            self.notify("this event belongs to no run", markup=False)
            return
        self.app.push_screen(RunDetailScreen(self.engine, event.run_id, host=event.host))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_export(self) -> None:
        self._export(replace(self.filter))

    @work(group="events-export", exclusive=False, exit_on_error=False, description="export the trace")
    async def _export(self, wanted: EventFilter) -> None:
        try:
            events = await self.engine.query_events(**wanted.query(), newest_first=False)
            path, count = await asyncio.to_thread(export_events, self.export_dir,
                                                  self.engine.clock.now(), events)
        except (PatchwatchError, OSError) as exc:
            self.notify(str(exc), title="Export failed", severity="error", timeout=8, markup=False)
            return
        self.last_export = path
        self.notify(f"{count} events ({wanted.describe()}) written to {path}", title="Exported", timeout=10,
                    markup=False)

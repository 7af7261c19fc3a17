"""Runs: every run, newest first, updated live; the way into a run's detail.

Why: on shift the question is "what ran, what failed, who has it". The table answers it at a glance (state,
failed/total, failure categories, acknowledged by whom) and stays current without a refresh key: the engine's
events mark runs dirty and the rows are updated in place by run id (dolphie), so the cursor never jumps.
``f`` narrows to failures (the states an operator must acknowledge), ``s`` cycles through state groups,
``/`` filters by text (id, task, state, trigger, category, who acknowledged).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from console.domain.events import Event
from console.domain.run import Run, RunState
from console.engine.api import EngineAPI, EventStream
from console.errors import PatchwatchError
from console.tui.screens import FilteredTableScreen, read_only_banner, words_match
from console.tui.screens.run_detail import (
    ACK_STATES,
    RunDetailScreen,
    SortCell,
    categories_text,
    consume_events,
    cursor_row_key,
    plain,
    row_key_text,
    state_text,
    sync_table,
    when,
)
from console.tui.widgets.footer import ConsoleFooter

__all__ = ["STATE_VIEWS", "RunsScreen"]

#: The state groups ``s`` cycles through: (label, states or None for every state).
STATE_VIEWS: tuple[tuple[str, frozenset[RunState] | None], ...] = (
    ("all states", None),
    ("failures", ACK_STATES),
    ("active", frozenset({RunState.PENDING_REVIEW, RunState.QUEUED, RunState.RUNNING, RunState.PAUSED})),
    ("pending review", frozenset({RunState.PENDING_REVIEW})),
    ("succeeded", frozenset({RunState.SUCCEEDED})),
    ("cancelled or rejected", frozenset({RunState.CANCELLED, RunState.REJECTED})),
)
_FAILURES = 1

PAGE = 200

# What an operator on shift reads first comes first, so it fits 80 columns; the 26-character id closes the row.
_COLUMNS = ("task", "state", "failed", "categories", "ack", "when", "trigger", "run")
_LABELS = ("Task", "State", "Failed/total", "Categories", "Acknowledged", "Slot / created (UTC)", "Trigger", "Run")


class RunsScreen(FilteredTableScreen):
    """The runs table: newest first, live, filterable; Enter opens a run."""

    FILTER_ID = "runs-filter"

    CSS_PATH = "runs.tcss"
    TITLE = "Runs"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_run", "Open"),
        Binding("f", "toggle_failures", "Failures only"),
        Binding("s", "cycle_state", "State filter"),
        Binding("slash", "filter", "Filter"),
        Binding("m", "more", "More runs"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI, task: str | None = None) -> None:
        super().__init__(engine)
        #: Only the runs of this task (name or id), when opened from a task.
        self.task_ref = task
        self.task_id: str | None = None
        self.view = 0
        self.limit = PAGE
        self.runs: dict[str, Run] = {}

    def compose(self) -> ComposeResult:
        yield read_only_banner(self.app)
        yield Input(placeholder="filter runs: id, task, state, category... (Enter keeps, Esc clears)",
                    id="runs-filter", compact=True)
        table: DataTable[Any] = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        for key, label in zip(_COLUMNS, _LABELS, strict=True):
            table.add_column(label, key=key)
        yield table
        yield Static("", id="runs-status", markup=False)
        yield ConsoleFooter()

    async def on_mount(self) -> None:
        await self.start_table()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#runs", DataTable)

    @property
    def states(self) -> frozenset[RunState] | None:
        return STATE_VIEWS[self.view][1]

    # ------------------------------------------------------------------ data

    @work(group="runs-load", exclusive=True, exit_on_error=False, description="list runs")
    async def _load(self) -> None:
        try:
            if self.task_ref is not None and self.task_id is None:
                found = await self.engine.get_task(self.task_ref)
                self.task_id = found.id
                self.sub_title = f"task {found.name}"
            runs = await self.engine.list_runs(task=self.task_id, states=set(self.states) if self.states else None,
                                               limit=self.limit)
        except PatchwatchError as exc:
            self.notify(str(exc), title="Cannot list runs", severity="error", markup=False)
            return
        self.runs = {run.id: run for run in runs}
        self._refresh_rows()

    def _matches(self, run: Run) -> bool:
        if self.task_ref is not None and run.task_id != self.task_id:
            return False
        if self.states is not None and run.state not in self.states:
            return False
        return words_match(self.text_filter, run.id, run.task_name, run.task_id, run.state.value, run.trigger.value,
                           " ".join(run.categories), run.acknowledged_by or "", run.error or "")

    @staticmethod
    def _row(run: Run) -> list[Any]:
        if run.acknowledged_by:
            ack = Text(run.acknowledged_by, style="green", end="")
        elif run.state in ACK_STATES:
            ack = Text("NO", style="bold red", end="")
        else:
            ack = Text("-", style="dim", end="")
        failed = Text(f"{run.hosts_failed}/{run.hosts_total}", style="bold red" if run.hosts_failed else "", end="")
        return [
            plain(run.task_name),
            state_text(run.state.value),
            failed,
            plain(categories_text(run.categories)),
            ack,
            plain(when(run.scheduled_for or run.created_at)),
            plain(run.trigger.value),
            SortCell(run.id, (run.created_at, run.id)),
        ]

    def _refresh_rows(self) -> None:
        shown = {run.id: self._row(run) for run in self.runs.values() if self._matches(run)}
        with self.app.batch_update():
            sync_table(self.table, shown, sort_column="run", reverse=True)
        label = STATE_VIEWS[self.view][0]
        if self.task_ref is not None:
            label += f" · task {self.task_ref}"
        text = f" matching {self.text_filter!r}" if self.text_filter else ""
        more = "  (m shows more)" if len(self.runs) >= self.limit else ""
        self.query_one("#runs-status", Static).update(
            f"{len(shown)} runs shown · {label}{text} · newest first{more}")

    # ------------------------------------------------------------------ live

    @work(group="runs-live", exclusive=True, exit_on_error=False, description="follow run events")
    async def _watch_events(self, queue: EventStream) -> None:
        await consume_events(self.engine, queue, self._on_events)

    async def _on_events(self, batch: list[Event]) -> None:
        dirty = {e.run_id for e in batch if e.run_id is not None and (e.kind.startswith("run.")
                                                                     or e.kind == "host.finished")}
        if not dirty:
            return
        changed = False
        for run_id in dirty:
            try:
                run = await self.engine.get_run(run_id)
            except PatchwatchError:
                continue
            if run_id in self.runs or self.states is None or run.state in self.states:
                self.runs[run_id] = run
                changed = True
        if changed:
            self._trim()
            self._refresh_rows()

    def _trim(self) -> None:
        """Keep the newest ``limit`` runs, as a fresh query would."""
        if len(self.runs) > self.limit:
            keep = sorted(self.runs.values(), key=lambda r: (r.created_at, r.id), reverse=True)[:self.limit]
            self.runs = {run.id: run for run in keep}

    # ------------------------------------------------------------------ keys

    def filter_changed(self) -> None:
        self._refresh_rows()

    def action_open_run(self) -> None:
        run_id = cursor_row_key(self.table)
        if run_id is not None:
            self.app.push_screen(RunDetailScreen(self.engine, run_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None:
            event.stop()
            self.app.push_screen(RunDetailScreen(self.engine, row_key_text(event.row_key)))

    def action_toggle_failures(self) -> None:
        self.view = 0 if self.view == _FAILURES else _FAILURES
        self._load()

    def action_cycle_state(self) -> None:
        self.view = (self.view + 1) % len(STATE_VIEWS)
        self._load()

    def action_more(self) -> None:
        self.limit += PAGE
        self._load()

    def action_reload(self) -> None:
        self._load()

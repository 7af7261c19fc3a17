"""``:tasks``: the scheduled tasks, what they will do next and how they did last.

The table is live (task and run events update the affected rows in place) and filterable with ``/``. Every
change goes through the engine; a destructive one (delete) asks first.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from console.domain.events import Event
from console.domain.run import Run, RunState
from console.domain.task import ScheduleType, Task
from console.domain.timezones import parse_zone
from console.engine.api import EngineAPI
from console.errors import PatchwatchError
from console.tui.screens import ConsoleScreen
from console.tui.screens.home import local_text, zoned_text
from console.tui.widgets.footer import ConsoleFooter
from console.tui.widgets.form_dialogs import ConfirmDialog
from console.tui.widgets.home_tables import cursor_key, sync_rows

__all__ = ["TasksScreen", "schedule_words"]

# What an operator scans for first (state, last result) comes right after the name; the 26-character id last.
COLUMNS = (("name", "Name"), ("state", "State"), ("last", "Last result"), ("next", "Next fire"),
           ("schedule", "Schedule"), ("zone", "Zone"), ("risk", "Risk"), ("id", "ID"))
COLUMN_KEYS = [key for key, _ in COLUMNS]

_RESULT_STYLE = {RunState.SUCCEEDED: "green", RunState.FAILED: "bold red", RunState.ERROR: "bold red",
                 RunState.MISSED: "bold red", RunState.INTERRUPTED: "bold red", RunState.REVIEW_EXPIRED: "red",
                 RunState.RUNNING: "bold green", RunState.PAUSED: "bold yellow", RunState.PENDING_REVIEW: "yellow"}
_RISK_STYLE = {"high": "bold red", "medium": "yellow", "low": ""}


def schedule_words(task: Task) -> str:
    """The schedule in plain words, without the zone (it has its own column)."""
    schedule = task.schedule
    if schedule.type is ScheduleType.SINGLE:
        text = f"once at {schedule.at}"
    else:
        expr = schedule.expression()
        text = expr.describe() if expr else "?"
    if schedule.expires:
        text += f", until {schedule.expires}"
    return text


class TasksScreen(ConsoleScreen):
    """All tasks; ``n`` new, ``e`` edit, ``r`` run now, Enter its runs, space on/off, ctrl+d delete."""

    TITLE = "Tasks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Runs"),
        Binding("n", "new", "New"),
        Binding("e", "edit", "Edit"),
        Binding("r", "run_now", "Run now"),
        Binding("space", "toggle_enabled", "On/off"),
        Binding("ctrl+d", "delete", "Delete"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__(engine, id="tasks")
        self._tasks: dict[str, Task] = {}
        self._last: dict[str, Run | None] = {}
        self._next: dict[str, datetime | None] = {}
        #: tasks the scheduler marked broken, id -> reason (shown as their state)
        self._problems: dict[str, str] = {}
        self._filter = ""

    def compose(self) -> ComposeResult:
        yield Static("Tasks", id="tasks-title")
        yield Input(placeholder="filter: name, ID, schedule, zone, state (Enter keeps it, Esc clears)",
                    id="tasks-filter")
        yield DataTable(id="tasks-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="task-detail")
        yield ConsoleFooter()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#tasks-table", DataTable)

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.table.add_column(label, key=key)
        self.query_one("#tasks-filter").display = False
        self.table.focus()
        self.follow_engine()

    # ------------------------------------------------------------------ data

    @work(exclusive=True, exit_on_error=False, group="tasks-live",
          description="tasks: load the tasks, then follow task and run events")
    async def follow_engine(self) -> None:
        queue = await self.engine.subscribe()
        try:
            await self._load(None)
            while True:
                batch: list[Event] = [await queue.get()]
                await asyncio.sleep(0.1)
                while not queue.empty():
                    batch.append(queue.get_nowait())
                if any(e.kind.startswith("task.") for e in batch):
                    await self._load(None)
                    continue
                touched = {e.task_id for e in batch if e.task_id and e.kind.startswith("run.")}
                if touched:
                    await self._load(touched)
        finally:
            queue.close()

    async def _load(self, only: set[str] | None) -> None:
        """Reload all tasks (``only`` None) or the runs and next fires of the tasks in ``only``."""
        if only is None:
            self._tasks = {t.id: t for t in await self.engine.list_tasks()}
            self._problems = await self.engine.task_problems()
            ids = set(self._tasks)
        else:
            ids = only & set(self._tasks)
        for task_id in ids:
            try:
                runs = await self.engine.list_runs(task=task_id, limit=1)
                fires = await self.engine.next_fires(task_id, 1)
            except PatchwatchError:
                continue
            self._last[task_id] = runs[0] if runs else None
            self._next[task_id] = fires[0] if fires else None
        self._render_rows()

    def _cells(self, task: Task) -> list[Any]:
        now = self.engine.clock.now()
        try:
            zone = parse_zone(task.schedule.timezone)
        except PatchwatchError:
            zone = UTC  # a broken task (a zone this machine no longer knows) still gets its row
        nxt = self._next.get(task.id)
        last = self._last.get(task.id)
        if last is None:
            last_cell = Text("never run", style="dim")
        else:
            label = last.state.value.replace("_", " ")
            if last.state is RunState.FAILED:
                label += f" ({last.hosts_failed}/{last.hosts_total} hosts)"
            last_cell = Text(f"{label} {local_text(last.finished_at or last.created_at, '%m-%d %H:%M')}",
                             style=_RESULT_STYLE.get(last.state, ""))
        if not task.enabled:
            state = Text("disabled", style="dim")
        elif task.id in self._problems:
            state = Text("broken", style="bold red")
        elif task.schedule.is_expired(now):
            state = Text("expired", style="yellow")
        elif last is not None and last.state in (RunState.RUNNING, RunState.PAUSED, RunState.QUEUED,
                                                 RunState.PENDING_REVIEW):
            state = Text(last.state.value.replace("_", " "), style=_RESULT_STYLE.get(last.state, ""))
        elif nxt is None:
            state = Text("done", style="dim")
        else:
            state = Text("scheduled", style="green")
        cells = {"name": Text(task.name, style="bold"), "state": state, "last": last_cell,
                 "next": zoned_text(nxt, zone) if nxt else "-", "schedule": Text(schedule_words(task)),
                 "zone": Text(task.schedule.timezone), "risk": Text(task.risk.value, style=_RISK_STYLE[task.risk]),
                 "id": Text(task.id)}
        return [cells[key] for key in COLUMN_KEYS]

    def _matches(self, task: Task, cells: list[Any]) -> bool:
        if not self._filter:
            return True
        haystack = " ".join(str(c) for c in cells).casefold()
        return all(word in haystack for word in self._filter.casefold().split())

    def _render_rows(self) -> None:
        rows: dict[str, list[Any]] = {}
        for task in sorted(self._tasks.values(), key=lambda t: t.name.lower()):
            cells = self._cells(task)
            if self._matches(task, cells):
                rows[task.id] = cells
        with self.app.batch_update():
            sync_rows(self.table, rows, COLUMN_KEYS)
            shown, total = len(rows), len(self._tasks)
            title = f"Tasks: {total}" if shown == total else f"Tasks: {shown} of {total} match {self._filter!r}"
            if not total:
                title += " - press n to create the first one"
            self.query_one("#tasks-title", Static).update(title)
            self._render_detail()

    def _render_detail(self) -> None:
        task = self.selected_task()
        detail = self.query_one("#task-detail", Static)
        if task is None:
            detail.update("")
            return
        parts = [f"{task.name} ({task.id})", task.schedule.describe(),
                 f"targets: {', '.join([*task.targets.instances, *('group:' + g for g in task.targets.groups)])}",
                 f"review {'on' if task.review.required else 'off'}",
                 f"notify {'on' if task.notify.enabled else 'off'}"]
        detail.update(Text("  |  ".join(parts)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._render_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    # ------------------------------------------------------------------ filter

    def action_filter(self) -> None:
        box = self.query_one("#tasks-filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "tasks-filter":
            self._filter = event.value.strip()
            self._render_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "tasks-filter":
            event.stop()
            self.table.focus()

    def action_back(self) -> None:
        box = self.query_one("#tasks-filter", Input)
        if box.has_focus or self._filter:
            box.value = ""
            self._filter = ""
            box.display = False
            self.table.focus()
            self._render_rows()
            return
        self.app.go_back()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ actions

    def selected_task(self) -> Task | None:
        key = cursor_key(self.table)
        return self._tasks.get(key) if key else None

    def _need_task(self) -> Task | None:
        task = self.selected_task()
        if task is None:
            self.notify("No task selected.", severity="warning")
        return task

    def action_open(self) -> None:
        task = self._need_task()
        if task is not None:
            self.app.open_task_runs(task.id)  # type: ignore[attr-defined]

    def action_new(self) -> None:
        if not self.refuse_if_read_only():
            self.app.open_task_form(None)  # type: ignore[attr-defined]

    def action_edit(self) -> None:
        task = self._need_task()
        if task is not None and not self.refuse_if_read_only():
            self.app.open_task_form(task.id)  # type: ignore[attr-defined]

    def action_run_now(self) -> None:
        task = self._need_task()
        if task is not None and not self.refuse_if_read_only():
            self.run_task_now(task.id)

    def action_toggle_enabled(self) -> None:
        task = self._need_task()
        if task is not None and not self.refuse_if_read_only():
            self.set_task_enabled(task.id, not task.enabled)

    def action_delete(self) -> None:
        task = self._need_task()
        if task is None or self.refuse_if_read_only():
            return

        def answered(yes: bool | None) -> None:
            if yes and task is not None:
                self.delete_task(task.id)

        self.app.push_screen(ConfirmDialog(f"Delete task {task.name} ({task.id})? Its runs and events stay in "
                                           "the trace; it will not fire again.", yes="Delete", no="Keep"),
                             answered)

    @work(exclusive=False, exit_on_error=False, group="tasks-commands", description="run a task now")
    async def run_task_now(self, task_id: str) -> None:
        run = await self.engine.run_now(task_id)
        waiting = " - it waits for review" if run.state is RunState.PENDING_REVIEW else ""
        self.notify(f"Run {run.id} of {run.task_name} fired{waiting}.")

    @work(exclusive=False, exit_on_error=False, group="tasks-commands", description="enable or disable a task")
    async def set_task_enabled(self, task_id: str, enabled: bool) -> None:
        task = await self.engine.set_enabled(task_id, enabled)
        self.notify(f"Task {task.name} {'enabled' if enabled else 'disabled'}.")

    @work(exclusive=False, exit_on_error=False, group="tasks-commands", description="delete a task")
    async def delete_task(self, task_id: str) -> None:
        task = await self.engine.delete_task(task_id)
        self.notify(f"Task {task.name} deleted.")

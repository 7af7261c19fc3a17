"""``:oncall`` and ``:notifications`` as dialogs over the dashboard: who is on duty now, and what became of the
latest failure notices.

Both are read-only views of what the engine reports (``engine.oncall()``, ``engine.list_notifications()``).
They exist because an operator who sees a red count wants to know at once whether the people on shift were
told; until dedicated screens exist, these answer that from anywhere with two keystrokes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from console.tui.widgets.home_tables import cursor_key

__all__ = ["NoticesDialog", "OnCallDialog", "supports"]

_STATUS_STYLE = {"sent": "green", "queued": "cyan", "retrying": "yellow", "failed": "bold red",
                 "abandoned": "bold red"}


def supports(engine: Any, method: str) -> bool:
    """Whether this engine offers ``method`` (the notification side is optional)."""
    return callable(getattr(engine, method, None))


def _local(text: str | None) -> str:
    if not text:
        return "-"
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%m-%d %H:%M:%S")
    except ValueError:
        return text


class _ListDialog(ModalScreen[None]):
    """A titled table over the current screen; Esc closes, ``r`` reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("r", "reload", "Reload"),
    ]
    TITLE_TEXT = ""
    COLUMNS: tuple[str, ...] = ()

    def __init__(self, engine: Any) -> None:
        super().__init__()
        self.engine = engine

    def compose(self) -> ComposeResult:
        with Vertical(classes="list-dialog"):
            yield Static(self.TITLE_TEXT, classes="list-dialog-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, classes="list-dialog-table")
            yield Static("", classes="list-dialog-status", markup=False)
        yield Footer()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        self.table.add_columns(*self.COLUMNS)
        self.table.focus()
        self.action_reload()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False, group="duty-dialog", description="list dialog: load its rows")
    async def load(self) -> None:
        rows = await self.rows()
        with self.app.batch_update():
            self.table.clear()
            for key, cells in rows:
                self.table.add_row(*cells, key=key)
        status = self.query_one(".list-dialog-status", Static)
        status.update(self.empty_text() if not rows else f"{len(rows)} rows. Esc closes, r reloads.")

    async def rows(self) -> list[tuple[str, list[Any]]]:
        raise NotImplementedError

    def empty_text(self) -> str:
        return "Nothing to show."

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            report = getattr(self.app, "report_worker_error", None)
            if report is not None:
                report(event.worker)


class OnCallDialog(_ListDialog):
    """Who holds each role of each shift scenario right now."""

    TITLE = "On call"
    TITLE_TEXT = "On call now (shift scenarios and roles)"
    COLUMNS = ("Scenario", "Role", "On duty")

    async def rows(self) -> list[tuple[str, list[Any]]]:
        out: list[tuple[str, list[Any]]] = []
        for scenario, role, people in await self.engine.oncall():
            who = Text(", ".join(people)) if people else Text("nobody", style="bold red")
            out.append((f"{scenario}/{role}", [Text(scenario), Text(role), who]))
        return out

    def empty_text(self) -> str:
        return "No shift scenarios yet: import people and shifts (patchwatch people import)."


class NoticesDialog(_ListDialog):
    """The latest notices and their delivery; Enter opens the run they are about."""

    TITLE = "Notifications"
    TITLE_TEXT = "Notifications (newest first)"
    COLUMNS = ("Created", "Kind", "Task", "Run", "Person", "Mode", "Status", "Error")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open_run", "Open run")]

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._runs: dict[str, str] = {}

    async def rows(self) -> list[tuple[str, list[Any]]]:
        names = {t.id: t.name for t in await self.engine.list_tasks()}
        out: list[tuple[str, list[Any]]] = []
        self._runs = {}
        for record in await self.engine.list_notifications(limit=500):
            status = str(getattr(record.status, "value", record.status))
            if record.run_id:
                self._runs[record.id] = record.run_id
            out.append((record.id, [
                _local(record.created_at), Text(record.kind), Text(names.get(record.task_id, record.task_id)),
                Text(record.run_id or "-"), Text(record.person), Text(record.mode),
                Text(status, style=_STATUS_STYLE.get(status, "")), Text((record.error or "")[:120]),
            ]))
        return out

    def empty_text(self) -> str:
        return "No notifications yet."

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_open_run(self) -> None:
        key = cursor_key(self.table)
        run_id = self._runs.get(key or "")
        if run_id is None:
            self.notify("This notice is not about a run.", severity="warning")
            return
        self.dismiss(None)
        self.app.open_run_detail(run_id)  # type: ignore[attr-defined]

"""The Patchwatch console: a Textual app over the engine, for operators on shift.

The app only talks to :class:`console.engine.Engine` (and pure domain helpers). It owns navigation (the k9s
style ``:`` command line, ``?`` help, Esc back, the command palette), runs the scheduler as a background
worker when this process owns the data directory, and reports every failed worker in one place. When another
process (the daemon) owns the data directory the console opens read-only and says so on every screen.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from console.engine import Engine
from console.engine.api import EngineAPI
from console.errors import DataDirLockedError, PatchwatchError
from console.tui.screens import ConsoleScreen
from console.tui.screens.events import EventsScreen
from console.tui.screens.help import HelpScreen, keys_of
from console.tui.screens.home import HomeScreen
from console.tui.screens.inventory import InventoryScreen
from console.tui.screens.notifications import NotificationsScreen
from console.tui.screens.people import PeopleScreen
from console.tui.screens.report import ReportScreen
from console.tui.screens.run_detail import RunDetailScreen
from console.tui.screens.runs import RunsScreen
from console.tui.screens.tasks import TasksScreen
from console.tui.widgets.command_line import CommandLineScreen, ConsoleCommandsProvider, resolve_command
from console.tui.widgets.form_dialogs import ConfirmDialog

__all__ = ["PatchwatchApp", "open_console_engine", "read_only_reason_for", "run_console"]

def read_only_reason_for(error: DataDirLockedError | str) -> str:
    """The banner for a console that could not take the data directory: the owner's pid and what it is
    (daemon, console, demo, a CLI command), as its lock label says; never a guess."""
    match = re.search(r"process (\d+)( \(patchwatch[^)]*\))?", str(error))
    owner = f"process {match.group(1)}{match.group(2) or ''}" if match else "another process"
    return f"read-only: the data directory is owned by {owner}; changes are disabled"


class PatchwatchApp(App[None]):
    """The console over an :class:`EngineAPI`.

    ``duties`` is what this process must keep doing while the console runs because it owns the data directory
    (the scheduler loop); it runs as a worker whose death the dashboard shows. Without it, firing is left to
    another process (and to tests)."""

    # Absolute, so a subclass defined elsewhere (tests, the demo) keeps the stylesheet.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "Patchwatch"
    COMMANDS = App.COMMANDS | {ConsoleCommandsProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("colon", "command_line", "Command", key_display=":"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
    ]

    def __init__(self, engine: EngineAPI, *, duties: Callable[[], Awaitable[None]] | None = None,
                 read_only_reason: str | None = None, export_dir: Path | None = None,
                 connection: Callable[[], str] | None = None) -> None:
        super().__init__()
        self.engine = engine
        #: For a console attached to a daemon: whom it is connected to, as which user and role (the header).
        self.connection = connection
        #: Where exports are written (the console's side, not the engine's data directory).
        self.export_dir = export_dir or Path.cwd() / "patchwatch-exports"
        if read_only_reason is None and engine.read_only:
            read_only_reason = "read-only: another process owns the data directory; changes are disabled"
        self.read_only_reason = read_only_reason
        self._duties = None if engine.read_only else duties
        #: The last messages shown to the operator (the toasts disappear; this is what they said).
        self.messages: deque[str] = deque(maxlen=200)
        #: Set when the scheduler worker died: the dashboard shows it until the console restarts.
        self.scheduler_problem: str | None = None

    def get_default_screen(self) -> Screen[Any]:
        return HomeScreen(self.engine)

    def on_mount(self) -> None:
        self.show_connection()
        if self.read_only_reason:
            self.sub_title = self.read_only_reason
            self.notify(self.read_only_reason, severity="warning", timeout=10)
        if self._duties is not None:
            self.run_scheduler()

    def show_connection(self, problem: str | None = None) -> None:
        """The header's second line: the daemon this console is attached to, or why it is not any more."""
        if problem is not None:
            self.sub_title = problem
        elif self.connection is not None:
            self.sub_title = self.connection()

    # ------------------------------------------------------------------ workers

    @work(exclusive=True, exit_on_error=False, group="scheduler",
          description="scheduler: fires the tasks at their times")
    async def run_scheduler(self) -> None:
        """Run the owner's duties (the scheduler loop) for as long as the console runs (cancelled on exit)."""
        assert self._duties is not None
        await self._duties()

    def report_worker_error(self, worker: Worker[Any]) -> None:
        """The one place failed workers are reported: a notification naming what failed and why."""
        error = worker.error
        what = worker.description or worker.name or "background work"
        message = str(error) if isinstance(error, PatchwatchError) else f"{type(error).__name__}: {error}"
        if worker.group == "scheduler":
            # Nothing fires any more: that must stay on screen, not vanish with a toast.
            self.scheduler_problem = f"SCHEDULER STOPPED ({message}): no task fires until the console restarts"
            for screen in self.screen_stack:
                if isinstance(screen, HomeScreen):
                    screen.refresh_summary()
        self.notify(message, title=f"Failed: {what}", severity="error", timeout=12)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.report_worker_error(event.worker)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",  # type: ignore[override]
               timeout: float | None = None, markup: bool = False) -> None:
        """Show a toast and remember it (without markup: messages quote operator input and host output)."""
        self.messages.append(f"{title}: {message}" if title else message)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # ------------------------------------------------------------------ navigation

    def go_back(self) -> None:
        """Esc: back to the screen below (the dashboard is the bottom of the stack)."""
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def _guard_unsaved(self, proceed: Callable[[], Any]) -> None:
        """Run ``proceed`` now, or after the operator agreed to drop the changes of the current form."""
        screen = self.screen
        if isinstance(screen, ConsoleScreen) and screen.has_unsaved_changes():
            def answered(discard: bool | None) -> None:
                if discard:
                    self.call_later(proceed)

            self.push_screen(ConfirmDialog("Leave this form? Its changes have not been saved.",
                                           yes="Discard", no="Keep editing"), answered)
            return
        self.call_later(proceed)

    async def _show(self, screen: Screen[Any] | None) -> None:
        """Switch to ``screen`` (None: the dashboard) with the dashboard below it, so Esc returns there."""
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        if screen is not None:
            await self.push_screen(screen)

    def _navigate(self, factory: Callable[[], Screen[Any] | None]) -> None:
        """Build the target screen first (a failure leaves the operator where they were), then switch."""

        async def go() -> None:
            try:
                screen = factory()
            except Exception as exc:  # a broken screen must not take the console down with it
                self.notify(f"{type(exc).__name__}: {exc}", title="Cannot open that screen", severity="error")
                return
            await self._show(screen)

        self._guard_unsaved(go)

    def action_command_line(self) -> None:
        if isinstance(self.screen, CommandLineScreen):
            return

        def entered(text: str | None) -> None:
            if text:
                self.call_later(self.run_console_command, text)

        self.push_screen(CommandLineScreen(), entered)

    async def run_console_command(self, text: str) -> None:
        """Carry out a ``:`` command (also used by the command palette)."""
        command = resolve_command(text)
        if command is None:
            if text.strip():
                self.notify(f"Unknown command {text.strip()!r}. Commands: :failures :tasks :new :runs :events "
                            ":inventory :notifications :oncall :report :help :q", severity="warning")
            return
        name = command.name
        if name == "q":
            self._guard_unsaved(self.exit)
        elif name == "help":
            self.action_help()
        elif name == "failures":
            self._navigate(lambda: None)
        elif name == "tasks":
            self._navigate(self._tasks_screen)
        elif name == "new":
            self.open_task_form(None)
        elif name == "runs":
            self._navigate(self._runs_screen)
        elif name == "events":
            self._navigate(self._events_screen)
        elif name == "inventory":
            self._navigate(self._inventory_screen)
        elif name == "notifications":
            self._navigate(self._notifications_screen)
        elif name == "oncall":
            self._navigate(self._oncall_screen)
        elif name == "report":
            self._navigate(self._report_screen)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen | CommandLineScreen):
            return
        title = screen.title or type(screen).__name__
        self.push_screen(HelpScreen(title, keys_of(screen, self)))

    # ------------------------------------------------------------------ screens

    def _tasks_screen(self) -> Screen[Any]:
        return TasksScreen(self.engine)

    def _runs_screen(self, task_id: str | None = None) -> Screen[Any]:
        return RunsScreen(self.engine, task=task_id)

    def _events_screen(self) -> Screen[Any]:
        return EventsScreen(self.engine, export_dir=self.export_dir)

    def _inventory_screen(self) -> Screen[Any]:
        return InventoryScreen(self.engine)

    def _notifications_screen(self) -> Screen[Any]:
        return NotificationsScreen(self.engine)

    def _oncall_screen(self) -> Screen[Any]:
        return PeopleScreen(self.engine)

    def _report_screen(self) -> Screen[Any]:
        return ReportScreen(self.engine)

    def open_run_detail(self, run_id: str, host: str | None = None) -> None:
        """The run (and, with ``host``, that host's logs), on top of the current screen."""
        self.push_screen(RunDetailScreen(self.engine, run_id, host=host))

    def open_task_runs(self, task_id: str) -> None:
        """The runs of one task, on top of the current screen."""
        self.push_screen(self._runs_screen(task_id))

    def open_task_form(self, task_id: str | None) -> None:
        """The task form: a new task (``task_id`` None) or an existing one, on top of the current screen."""
        if self.engine.read_only:
            self.notify(self.read_only_reason or "read-only: changes are disabled", severity="warning")
            return
        self.push_task_form(task_id)

    @work(exclusive=True, exit_on_error=False, group="task-form-open", description="open the task form")
    async def push_task_form(self, task_id: str | None) -> None:
        from console.tui.screens.task_form import TaskFormScreen

        task = await self.engine.get_task(task_id) if task_id else None
        await self.push_screen(TaskFormScreen(self.engine, task))


async def open_console_engine(data_dir: str | Path) -> tuple[Engine, str | None]:
    """The engine for a console on ``data_dir``, and why it is read-only (None when it owns the directory).

    When another process (the daemon) owns the directory the console still opens, read-only, so an operator
    can watch; the reason names the owner's pid.
    """
    engine = Engine(data_dir)
    try:
        await engine.open()
    except DataDirLockedError as exc:
        engine = Engine(data_dir, read_only=True)
        await engine.open()
        return engine, read_only_reason_for(exc)
    return engine, None


async def run_console(data_dir: str | Path, *, connect: Path | None = None) -> int:
    """Run the console on the engine of ``data_dir``: attached to the daemon that serves it, else on an engine
    opened here, which this console then serves to others (and fires tasks for) while it runs.

    A directory owned by a process that does not serve it (an older Patchwatch, a CLI command running a task)
    opens read-only, naming the owner. Used by the CLI; returns the exit code."""
    from console.server.attach import attach, socket_path
    from console.server.server import ApiServer

    client = await attach(Path(data_dir), connect)
    if client is not None:
        app = PatchwatchApp(client, export_dir=Path.cwd() / "patchwatch-exports",
                            connection=lambda: attached_label(client.identity))
        try:
            await app.run_async()
        finally:
            await client.close()
        return app.return_code or 0
    engine, reason = await open_console_engine(data_dir)
    server = None if engine.read_only else await ApiServer(engine, socket_path(engine.data_dir)).start()
    app = PatchwatchApp(engine, duties=None if engine.read_only else engine.run_scheduler, read_only_reason=reason,
                        export_dir=Path(data_dir) / "exports")
    try:
        await app.run_async()
    finally:
        if server is not None:
            await server.stop()
        await engine.close()
    return app.return_code or 0


def attached_label(identity: dict[str, Any]) -> str:
    """The header of an attached console: whom it talks to, as whom, with which role."""
    return (f"attached to daemon pid {identity.get('daemon_pid', '?')} ({identity.get('data_dir', '?')}) as "
            f"{identity.get('user', '?')}, role {identity.get('role') or 'none'}")

"""The k9s-style ``:`` command line, and the same commands in Textual's command palette (ctrl+p).

One table of commands (:data:`CONSOLE_COMMANDS`) feeds the command line's aliases and completion, the palette
provider and the help screen, so a command is declared once and shows up everywhere. The widgets here only
resolve what the operator typed; the app decides what a command does (``run_console_command``), so this module
imports nothing from the app and no screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

__all__ = ["CONSOLE_COMMANDS", "CommandLine", "CommandLineScreen", "ConsoleCommand", "ConsoleCommandsProvider",
           "resolve_command"]


@dataclass(frozen=True)
class ConsoleCommand:
    """One ``:`` command: its canonical name, the aliases operators type, and what it does in words."""

    name: str
    aliases: tuple[str, ...]
    help: str

    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


#: Every command of the console. Order is the order shown in help and in the palette.
CONSOLE_COMMANDS: tuple[ConsoleCommand, ...] = (
    ConsoleCommand("failures", ("home", "f", "dash", "dashboard"), "dashboard: failures, active runs, next fires"),
    ConsoleCommand("tasks", ("t", "task", "st"), "scheduled tasks"),
    ConsoleCommand("new", ("new-task", "create"), "create a scheduled task"),
    ConsoleCommand("runs", ("r", "run"), "runs of every task"),
    ConsoleCommand("notifications", ("notif", "notices", "notice"), "failure notices and their delivery"),
    ConsoleCommand("events", ("ev", "event", "trace"), "the trace: every event, filterable"),
    ConsoleCommand("inventory", ("inv", "hosts", "instances"), "target instances and groups"),
    ConsoleCommand("oncall", ("duty", "shift", "shifts"), "who is on duty now"),
    ConsoleCommand("report", ("coverage", "compliance"), "coverage and compliance: who was not scanned, who misses "
                   "security updates"),
    ConsoleCommand("help", ("h",), "the keys of the current screen"),
    ConsoleCommand("q", ("quit", "exit", "q!"), "leave the console"),
)


def resolve_command(text: str, commands: Iterable[ConsoleCommand] = CONSOLE_COMMANDS) -> ConsoleCommand | None:
    """The command ``text`` names (``:tasks``, ``tasks``, ``t``, any case), or None when it names none."""
    word = text.strip().lstrip(":").strip().split(" ", 1)[0].lower()
    if not word:
        return None
    for command in commands:
        if word in command.words():
            return command
    return None


class CommandLine(Input):
    """The input of the command line: completes command names as the operator types."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own parameter name
        words = [w for c in CONSOLE_COMMANDS for w in c.words()]
        super().__init__(placeholder="command (tasks, runs, failures, events, inventory, q) - Esc closes",
                         suggester=SuggestFromList(words, case_sensitive=False), id=id)


class CommandLineScreen(ModalScreen[str | None]):
    """A one-line prompt at the bottom of any screen; dismisses with the typed text (None when closed)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Horizontal(id="command-bar"):
            yield Static(":", id="command-prompt")
            yield CommandLine(id="command-input")

    def on_mount(self) -> None:
        self.query_one(CommandLine).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_close(self) -> None:
        self.dismiss(None)


class ConsoleCommandsProvider(Provider):
    """The console's commands, and "edit task NAME" for every task, in the command palette."""

    def _run(self, name: str) -> Any:
        return partial(self.app.run_console_command, name)  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for command in CONSOLE_COMMANDS:
            yield DiscoveryHit(f":{command.name}", self._run(command.name), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in CONSOLE_COMMANDS:
            text = f":{command.name} ({', '.join(command.aliases)})" if command.aliases else f":{command.name}"
            score = max(matcher.match(text), matcher.match(command.help))
            if score > 0:
                yield Hit(score, matcher.highlight(text), self._run(command.name), text=text, help=command.help)
        engine = getattr(self.app, "engine", None)
        if engine is None:
            return
        for task in await engine.list_tasks():
            text = f"edit task {task.name}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text),
                          partial(self.app.open_task_form, task.id),  # type: ignore[attr-defined]
                          text=text, help=f"{task.id} - {task.schedule.describe()}")

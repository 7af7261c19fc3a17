"""``?``: every key of the current screen, and the ``:`` commands.

The list is generated from the bindings that are active on the screen the operator came from (its own
``BINDINGS``, the focused widget's and the app's) and from the command table, never written out by hand, so
help cannot drift from what the keys really do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from console.tui.widgets.command_line import CONSOLE_COMMANDS
from console.tui.widgets.footer import ConsoleFooter

__all__ = ["HelpScreen", "KeyHelp", "declared_bindings", "keys_of"]


@dataclass(frozen=True)
class KeyHelp:
    """One line of help: the key(s), what they do, and where they apply."""

    keys: str
    description: str
    where: str


def declared_bindings(node: Any) -> list[tuple[Binding, bool]]:
    """The bindings ``node``'s class and its bases declare in ``BINDINGS`` (compound keys expanded), each with
    whether Textual itself declared it (tab, copy: the same on every screen)."""
    out: list[tuple[Binding, bool]] = []
    for cls in reversed(type(node).__mro__):
        declared = cls.__dict__.get("BINDINGS")
        if declared:
            builtin = cls.__module__.startswith("textual.")
            out.extend((binding, builtin) for binding in Binding.make_bindings(declared))
    return out


def keys_of(screen: Screen[Any], app: App[Any]) -> list[KeyHelp]:
    """The keys active on ``screen``: its own first, then the focused widget's, then those that work everywhere.

    Bindings that share a place and an action (``down,j``) are shown on one line. A screen key that the
    focused widget shadows (a table's Enter) is listed anyway: it is what the key means on this screen.
    """
    found: list[tuple[Binding, int, str]] = []
    for binding, builtin in declared_bindings(screen):
        found.append((binding, 2, "everywhere") if builtin else (binding, 0, "this screen"))
    for active in screen.active_bindings.values():
        node = active.node
        if node is screen:
            continue  # already listed from the class, in declaration order
        if node is app:
            found.append((active.binding, 2, "everywhere"))
        else:
            found.append((active.binding, 1, f"{type(node).__name__} (focused)"))
    grouped: dict[tuple[str, str], tuple[list[str], Binding, int]] = {}
    for binding, rank, place in found:
        key = (place, binding.action)
        display = app.get_key_display(binding)
        if key in grouped:
            if display not in grouped[key][0]:
                grouped[key][0].append(display)
        else:
            grouped[key] = ([display], binding, rank)
    rows = [(rank, KeyHelp(", ".join(displays), binding.description or binding.action.replace("_", " "), place))
            for (place, _), (displays, binding, rank) in grouped.items()]
    return [row for _, row in sorted(rows, key=lambda r: r[0])]


class HelpScreen(ModalScreen[None]):
    """A dialog with the generated key list; Esc, ``?`` or ``q`` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close"),
    ]

    def __init__(self, title: str, keys: Sequence[KeyHelp]) -> None:
        super().__init__()
        self._title = title
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Static(f"Keys: {self._title}", id="help-title")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(self._commands_text(), id="help-commands")
        yield ConsoleFooter()

    @staticmethod
    def _commands_text() -> str:
        parts = [f":{c.name}" + (f" ({', '.join(c.aliases[:2])})" if c.aliases else "") for c in CONSOLE_COMMANDS]
        return "Commands (press : then Enter): " + "  ".join(parts)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Key", "What it does", "Where")
        for row in self.keys:
            table.add_row(row.keys, row.description, row.where)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)

"""Building blocks of the task form: a labelled field row with room for its error, where a validation error
belongs, and the small parsers that turn typed text into the form mapping the engine validates.

The engine names a broken rule by a dotted path (``schedule.cron``, ``targets.instances[1]``,
``schedule.cron.day-of-month``). :func:`locate_error` finds the widget that path belongs to (the longest known
prefix), so an error always appears next to the field the operator has to fix, with the rest of the path
(the item number, the cron field) kept in the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Label, Static
from textual.widgets._footer import FooterKey, KeyGroup  # not re-exported; textual is pinned below 9

from console.tui.widgets.footer import ConsoleFooter

__all__ = ["QuietFooter", "field_row", "locate_error", "parse_number", "split_batches", "split_names"]

_INDEX = re.compile(r"\[(\d+)\]")


def field_row(label: str, *widgets: Widget, field: str, hint: str = "") -> Horizontal:
    """A row: the label, the widget(s), a hint, and an (initially empty) error line for ``field``.

    ``field`` is the id of the main widget; the hint line is ``hint-<field>``, the error line ``err-<field>``.
    """
    body: list[Widget] = list(widgets)
    hint_line = Static(hint, id=f"hint-{field}", classes="field-hint", markup=False)
    hint_line.display = bool(hint)
    body.append(hint_line)
    error = Static("", id=f"err-{field}", classes="field-error", markup=False)
    error.display = False
    body.append(error)
    return Horizontal(Label(label, classes="field-label"), Vertical(*body, classes="field-body"),
                      classes="field-row", id=f"row-{field}")


class QuietFooter(ConsoleFooter):
    """A footer that does not rebuild its keys when the focus moves between fields.

    Textual's footer removes and mounts all of its keys on every focus change. In a form the keys differ only
    in whether the app's ``:`` and ``?`` are active (an input takes those characters), so this footer keeps
    the keys it composed and hides the ones that are not active now; it recomposes only when a key it never
    showed appears, or a key's enabled state changes.
    """

    def _wanted(self, screen: Screen[Any]) -> list[tuple[str, str, bool]]:
        return [(binding.key, binding.action, enabled)
                for _node, binding, enabled, _tooltip in screen.active_bindings.values() if binding.show]

    def _toggle_in_place(self, wanted: list[tuple[str, str, bool]]) -> bool:
        """Show exactly ``wanted`` by hiding composed keys; False when that is not possible."""
        if not self.children or self.query(KeyGroup):
            return False
        keys = [key for key in self.query_children(FooterKey) if not key.has_class("-command-palette")]
        composed = [(key.key, key.action, not key.has_class("-disabled")) for key in keys]
        position = 0
        for item in wanted:  # wanted must be an ordered subset of what is composed
            try:
                position = composed.index(item, position) + 1
            except ValueError:
                return False
        active = set(wanted)
        changed = False
        for key, item in zip(keys, composed, strict=True):
            if key.display != (item in active):
                key.display = item in active
                changed = True
        if changed:
            self.refresh()  # repaint the cells a hidden key leaves behind (one line)
        return True

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if (self._bindings_ready and screen.app.app_focus and self.is_attached and screen is self.screen
                and self._toggle_in_place(self._wanted(screen))):
            return
        super().bindings_changed(screen)


def locate_error(path: str, widgets: Mapping[str, str]) -> tuple[str | None, str]:
    """The widget id an error on ``path`` belongs to, and the prefix its message needs.

    ``targets.instances[1]`` -> (``f-instances``, ``item 2: ``); ``schedule.cron.day-of-month`` ->
    (``f-cron``, ``day-of-month: ``); an unknown path -> (None, ``<path>: ``).
    """
    indexes = [int(i) for i in _INDEX.findall(path)]
    base = _INDEX.sub("", path)
    parts = base.split(".") if base else []
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in widgets:
            rest = ".".join(parts[size:])
            prefix = "".join(f"item {i + 1}: " for i in indexes)
            if rest:
                prefix += f"{rest}: "
            return widgets[candidate], prefix
    return None, f"{path}: " if path else ""


def split_names(text: str) -> list[str]:
    """``"a, b  c"`` -> ``["a", "b", "c"]``: lists typed on one line, comma or space separated."""
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def split_batches(text: str) -> list[list[str]]:
    """Manual batches typed on one line: batches separated by ``;``, instances by commas or spaces."""
    return [names for names in (split_names(chunk) for chunk in text.split(";")) if names]


def parse_number(text: str, kind: type) -> Any:
    """The number typed, or the text itself when it is not one (the engine then names the rule it breaks).

    Blank text is None (the setting is left out, so its default applies).
    """
    text = text.strip()
    if not text:
        return None
    try:
        if kind is int:
            return int(text)
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text

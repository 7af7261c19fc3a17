"""The key bar at the bottom of every screen, with the two keys an operator needs first, first.

Textual's footer lists the focused widget's and the screen's keys before the app's, and a narrow terminal
(80 columns) cuts the row at the right: the app's ``:`` (command line: the way to every other screen) and
``?`` (this screen's keys) were the ones cut. They go first here, so a small tmux pane always shows how to
move on and how to learn the rest.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["ConsoleFooter", "FIRST_KEYS"]

#: Keys drawn before all others, in this order.
FIRST_KEYS = ("colon", "question_mark")


class ConsoleFooter(Footer):
    """A footer that puts :data:`FIRST_KEYS` at the start of the row."""

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        first = sorted((w for w in widgets if isinstance(w, FooterKey) and w.key in FIRST_KEYS),
                       key=lambda w: FIRST_KEYS.index(w.key))
        yield from first
        yield from (w for w in widgets if w not in first)

"""Screens of the Patchwatch console.

:class:`ConsoleScreen` is the base of the screens this package owns. It exists for two reasons: a worker's
``StateChanged`` message does not bubble, so every screen must hand failed workers to the app's one error
handler; and every screen needs the same read-only banner and the same engine handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from console.engine import Engine

__all__ = ["ConsoleScreen", "read_only_banner"]


def read_only_banner(app: Any) -> Static:
    """The banner that says why changes are disabled (hidden when the console is writable)."""
    reason = getattr(app, "read_only_reason", None)
    banner = Static(reason or "", classes="read-only-banner", markup=False)
    banner.display = bool(reason)
    return banner


class ConsoleScreen(Screen[Any]):
    """A screen that talks to the engine and reports failed workers through the app."""

    def __init__(self, engine: Engine, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.engine = engine

    def on_mount(self) -> None:
        """Every console screen says so when changes are disabled (subclasses' own on_mount run as well)."""
        if getattr(self.app, "read_only_reason", None) and not self.query(".read-only-banner"):
            self.mount(read_only_banner(self.app))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Hand a failed worker to the app's single error handler (the message does not bubble)."""
        if event.state is WorkerState.ERROR:
            report = getattr(self.app, "report_worker_error", None)
            if report is not None:
                report(event.worker)

    def has_unsaved_changes(self) -> bool:
        """Whether leaving this screen would lose the operator's input (forms override this)."""
        return False

    def refuse_if_read_only(self) -> bool:
        """Tell the operator why a change cannot be made here; True when it was refused."""
        if self.engine.read_only:
            reason = getattr(self.app, "read_only_reason", None) or "read-only: changes are disabled"
            self.notify(reason, severity="warning")
            return True
        return False

"""Screens of the Patchwatch console.

:class:`ConsoleScreen` is the base of the screens this package owns. It exists for two reasons: a worker's
``StateChanged`` message does not bubble, so every screen must hand failed workers to the app's one error
handler; and every screen needs the same read-only banner and the same engine handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from console.engine.api import EngineAPI, EventStream

__all__ = ["ConsoleScreen", "read_only_banner"]


def read_only_banner(app: Any) -> Static:
    """The banner that says why changes are disabled (hidden when the console is writable)."""
    reason = getattr(app, "read_only_reason", None)
    banner = Static(reason or "", classes="read-only-banner", markup=False)
    banner.display = bool(reason)
    return banner


class ConsoleScreen(Screen[Any]):
    """A screen that talks to the engine and reports failed workers through the app."""

    def __init__(self, engine: EngineAPI, *, name: str | None = None, id: str | None = None) -> None:
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


def words_match(query: str, *fields: str) -> bool:
    """Every word of ``query`` occurs in ``fields`` (case-insensitive); an empty query matches everything."""
    if not query:
        return True
    haystack = " ".join(fields).casefold()
    return all(word in haystack for word in query.casefold().split())


class FilteredTableScreen(ConsoleScreen):
    """A table screen with the ``/`` filter: an Input (``FILTER_ID``) that narrows the rows as the operator types.

    Enter keeps the filter and returns to the table; Esc clears an open filter first, and only then goes back.
    Subclasses redraw their rows in :meth:`filter_changed` and match rows with :func:`words_match` against
    :attr:`text_filter`.
    """

    FILTER_ID: str = "table-filter"

    def __init__(self, engine: EngineAPI, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(engine, name=name, id=id)
        self.text_filter = ""
        self._events: EventStream | None = None

    @property
    def table(self) -> Any:
        raise NotImplementedError

    def filter_changed(self) -> None:
        raise NotImplementedError

    def _watch_events(self, queue: EventStream) -> Any:
        """Follow the engine's live events (a worker of the subclass)."""
        raise NotImplementedError

    def _load(self) -> Any:
        """Load the first page of rows (a worker of the subclass)."""
        raise NotImplementedError

    async def start_table(self) -> None:
        """On mount: the filter starts hidden, the table has the focus, live events are followed from now on, then
        the first page loads (subscribing first, so nothing falls between the load and the live feed)."""
        self._filter_input().display = False
        self.table.focus()
        self._events = await self.engine.subscribe()
        self._watch_events(self._events)
        self._load()

    def on_unmount(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None

    def _filter_input(self) -> Input:
        return self.query_one(f"#{self.FILTER_ID}", Input)

    def action_filter(self) -> None:
        filter_input = self._filter_input()
        filter_input.display = True
        filter_input.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == self.FILTER_ID:
            self.text_filter = event.value.strip()
            self.filter_changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == self.FILTER_ID:
            event.stop()
            self.close_filter(clear=False)

    def close_filter(self, *, clear: bool) -> None:
        filter_input = self._filter_input()
        if clear:
            filter_input.value = ""
            self.text_filter = ""
            filter_input.display = False
            self.filter_changed()
        elif not filter_input.value:
            filter_input.display = False
        self.table.focus()

    def action_back(self) -> None:
        if self._filter_input().display:
            self.close_filter(clear=True)
        else:
            go_back(self)


def go_back(screen: ConsoleScreen) -> None:
    """Esc: the app's own "back" when it has one (it knows its navigation), else pop this screen."""
    back = getattr(screen.app, "go_back", None)
    if callable(back):
        back()
    elif len(screen.app.screen_stack) > 1:
        screen.app.pop_screen()


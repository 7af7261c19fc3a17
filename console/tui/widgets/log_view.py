"""LogView: a host's transcript and events, fast on huge logs, following live output.

Why it is built this way (the toolong pattern, design.md):

* A transcript can be large. Materialising every line as a widget, a Rich ``Text`` or even a rendered
  ``Strip`` costs time and memory proportional to the file. :class:`LogLines` is a line-API ``ScrollView``:
  it keeps only the text (or, for a file, an array of line offsets) and renders the rows that are on screen,
  through small LRU caches. Opening a 100,000-line log costs one split (text) or one offset scan (file).
* Files are indexed, not read: :meth:`LogView.load_file` scans the file once for newline offsets (in a thread
  for very large files, so the screen never freezes) and reads a line from disk only when it is shown.
* Operators watch runs live. Following (tail) is on by default; any scroll up stops it so the line being
  read does not run away, a hint counts what arrived meanwhile ("+N new lines (End to follow)"), and End (or
  scrolling back to the bottom) resumes.
* ``w`` wraps long lines, ``/`` searches (``n``/``N`` step through matches, which are highlighted), ``t`` hides
  leading timestamps when the lines carry them.

Why one module of this length: one widget (indexed lines, follow, search, wrap) whose parts share one
line index.
"""

from __future__ import annotations

import array
import bisect
import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from console.domain.terminal import safe_text

__all__ = ["LogLines", "LogView", "clean_line"]

#: Files up to this size are indexed at once (a 10 MB, 100,000-line file takes ~20 ms here); larger ones
#: in a thread that publishes offsets as it goes.
SYNC_INDEX_BYTES = 32 * 1024 * 1024
_CHUNK = 1024 * 1024
#: How often (seconds) the background indexer hands new offsets to the view.
_PUBLISH_EVERY = 0.1

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_TIMESTAMP = re.compile(r"^\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s+")


def clean_line(raw: str) -> str:
    """What a raw transcript line looks like on a terminal: ANSI codes removed, a carriage return keeps only
    what was written after it (progress bars), tabs expanded, other control, C1 and bidi/format characters made
    visible as escapes (console.domain.terminal.safe_text).

    Hosts print anything; a stray escape sequence must not repaint the console.
    """
    if raw.isascii() and raw.isprintable():
        return raw
    if "\r" in raw:
        raw = raw.rstrip("\r").rsplit("\r", 1)[-1]
    if "\x1b" in raw:
        raw = _ANSI.sub("", raw)
    if "\t" in raw:
        raw = raw.expandtabs(8)
    return safe_text(raw)  # the shared rule: controls, C1, bidi overrides shown as visible escapes


def _split_text(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class _TextLines:
    """Lines of an in-memory text: one ``str.split``, nothing rendered."""

    def __init__(self, text: str) -> None:
        self.lines = _split_text(text)

    def __len__(self) -> int:
        return len(self.lines)

    def get(self, index: int) -> str:
        return self.lines[index]

    def iter_range(self, start: int, stop: int) -> Iterator[str]:
        return itertools.islice(self.lines, start, stop)

    def widest(self) -> int:
        return max(map(len, self.lines), default=0)

    def close(self) -> None:
        """Nothing to release."""


def _newline_offsets(chunk: bytes, base: int) -> Iterator[int]:
    """Offsets (absolute) just past each newline of ``chunk``, which starts at byte ``base``."""
    ends = itertools.accumulate((len(part) + 1 for part in chunk.split(b"\n")[:-1]), initial=base)
    next(ends)  # the initial value is the chunk's own start
    return ends


class _FileLines:
    """Line offsets of a file; a line is read and decoded only when it is shown or searched.

    ``offsets[i]`` is where line ``i`` starts; the bytes after the last newline (``indexed`` is how far the
    scan got) form one more, unterminated line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offsets = array.array("q", [0])
        self.indexed = 0
        self._handle: BinaryIO | None = None  # opened on first read, closed by close()

    def index_sync(self) -> None:
        """Index the whole file now (small files)."""
        with self.path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                self.offsets.extend(_newline_offsets(chunk, self.indexed))
                self.indexed += len(chunk)

    def extend(self, offsets: Iterable[int], indexed: int) -> None:
        self.offsets.extend(offsets)
        self.indexed = indexed

    def __len__(self) -> int:
        return len(self.offsets) - 1 + (1 if self.indexed > self.offsets[-1] else 0)

    def _span(self, index: int) -> tuple[int, int]:
        start = self.offsets[index]
        end = self.offsets[index + 1] if index + 1 < len(self.offsets) else self.indexed
        return start, end

    def _read(self, start: int, end: int) -> str:
        if self._handle is None:
            self._handle = self.path.open("rb")
        self._handle.seek(start)
        return self._handle.read(end - start).decode("utf-8", errors="replace")

    def get(self, index: int) -> str:
        start, end = self._span(index)
        text = self._read(start, end)
        return text[:-1] if text.endswith("\n") else text

    def iter_range(self, start: int, stop: int) -> Iterator[str]:
        """Lines ``start``..``stop`` read in blocks (searching or wrapping a big file must not seek per line)."""
        stop = min(stop, len(self))
        block = 8192
        for first in range(start, stop, block):
            last = min(first + block, stop) - 1
            text = self._read(self._span(first)[0], self._span(last)[1])
            yield from _split_text(text)

    def widest(self, first: int = 0) -> int:
        """Longest line from line ``first`` on, in bytes: an upper bound of its width for ASCII, computed from
        the offsets alone (no line is read)."""
        offsets = self.offsets[first:]
        widest = max(map(int.__sub__, offsets[1:], offsets[:-1]), default=1) - 1
        return max(widest, self.indexed - offsets[-1])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class LogLines(ScrollView, can_focus=True):
    """The scrolling body of a :class:`LogView`: renders only the visible rows (line API)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-view--match", "log-view--current-match", "log-view--note"}

    BINDINGS: ClassVar[list[BindingType]] = [
        # Here rather than on LogView: the body's own scroll bindings (``end`` = scroll end) come first.
        Binding("end", "follow", "Follow"),
    ]

    def __init__(self, *, on_status: Callable[[], None] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._on_status = on_status
        self._base: _TextLines | _FileLines = _TextLines("")
        self._tail: list[str] = []
        self._generation = 0
        self._display_cache: LRUCache[int, str] = LRUCache(4096)
        self._strip_cache: LRUCache[int, Strip] = LRUCache(1024)
        self._width = 0
        self._wrap_rows: array.array[int] | None = None  # first visual row of each line, plus the total
        self._wrap_width = 0
        self._adjusting = False
        self.following = True
        self.unseen = 0
        self.wrap = False
        self.show_timestamps = True
        self.has_timestamps = False
        self.search_term = ""
        self._needle = ""
        self.matches: list[int] = []
        self.current_match: int | None = None
        self.indexing = False
        #: Rows rendered so far: lets tests and benchmarks check that only what is visible gets drawn.
        self.render_calls = 0

    # ------------------------------------------------------------------ content

    @property
    def line_count(self) -> int:
        return len(self._base) + len(self._tail)

    def raw_line(self, index: int) -> str:
        base = len(self._base)
        return self._base.get(index) if index < base else self._tail[index - base]

    def line(self, index: int) -> str:
        """Line ``index`` as displayed (cleaned; timestamps kept)."""
        return clean_line(self.raw_line(index))

    def iter_lines(self, start: int = 0) -> Iterator[str]:
        base = len(self._base)
        if start < base:
            yield from self._base.iter_range(start, base)
        yield from itertools.islice(self._tail, max(0, start - base), None)

    def replace(self, source: _TextLines | _FileLines) -> None:
        """New content; the follow state and (when not following) the scroll position are kept, so a reload
        of the same transcript does not throw the operator off the line being read."""
        self._base.close()
        self._base = source
        self._tail = []
        self._generation += 1
        self.unseen = 0
        self._reset_caches()
        self._width = source.widest() if len(source) else 0
        self.has_timestamps = any(_TIMESTAMP.match(line) for line in itertools.islice(self.iter_lines(), 50))
        self._wrap_rows = None
        self._rescan_matches()
        self._content_changed(0)

    def load_path(self, path: Path) -> None:
        source = _FileLines(path)
        size = path.stat().st_size
        if size <= SYNC_INDEX_BYTES or not self.is_mounted:  # a worker needs a running app
            source.index_sync()
            self.replace(source)
            return
        self.replace(source)
        self.indexing = True
        self._index_in_background(source, self._generation)

    @work(thread=True, exclusive=True, group="log-index", exit_on_error=False, description="index a log file")
    def _index_in_background(self, source: _FileLines, generation: int) -> None:
        """Scan a big file for line offsets off the UI thread, publishing every ~0.1 s so the view fills in."""
        worker = get_current_worker()
        pending = array.array("q")
        position = 0
        published = time.monotonic()
        with source.path.open("rb") as fh:
            while not worker.is_cancelled:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                pending.extend(_newline_offsets(chunk, position))
                position += len(chunk)
                if time.monotonic() - published >= _PUBLISH_EVERY:
                    self.app.call_from_thread(self._index_progress, source, generation, pending, position, False)
                    pending = array.array("q")
                    published = time.monotonic()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._index_progress, source, generation, pending, position, True)

    def _index_progress(self, source: _FileLines, generation: int, offsets: array.array[int], position: int,
                        done: bool) -> None:
        if generation != self._generation:
            return  # another log was loaded meanwhile
        before = len(self._base)
        if self._tail:
            self._reset_caches()  # the appended lines move down as the file's lines come in
        elif before:
            # The unterminated last line may grow: forget what was cached for it.
            self._display_cache.discard(before - 1)
            self._strip_cache.discard(before - 1)
        known = len(source.offsets) - 1
        source.extend(offsets, position)
        self._width = max(self._width, source.widest(known))  # only the new lines: progress stays O(new)
        self.indexing = not done
        added = len(self._base) - before
        if self._needle:
            if self._tail:
                self._rescan_matches()
            else:
                redo = max(0, before - 1)
                keep = bisect.bisect_left(self.matches, redo)
                del self.matches[keep:]
                self.matches.extend(redo + i for i, line in enumerate(self.iter_lines(redo))
                                    if self._needle in line.casefold())
                if self.current_match is not None and self.current_match >= len(self.matches):
                    self.current_match = None
        if self._wrap_rows is not None:
            # Re-wrap only from the line that may have grown, not the whole file on every progress step.
            redo = max(0, before - 1)
            del self._wrap_rows[redo + 1:]
            self._extend_wrap_rows(redo)
        self._content_changed(added)

    def append(self, lines: Iterable[str]) -> int:
        new: list[str] = []
        for line in lines:
            new.extend(_split_text(line) or [""])
        if not new:
            return 0
        start = self.line_count
        self._tail.extend(new)
        self._width = max(self._width, max(map(len, new)))
        if self._needle:
            self.matches.extend(start + i for i, line in enumerate(new) if self._needle in line.casefold())
        if self._wrap_rows is not None:
            self._extend_wrap_rows(start)
        self._content_changed(len(new))
        return len(new)

    def _reset_caches(self) -> None:
        self._display_cache.clear()
        self._strip_cache.clear()

    def _content_changed(self, added: int) -> None:
        self._update_virtual_size()
        if self.following:
            self.scroll_to_end()
        elif added:
            self.unseen += added
        self.refresh()
        self._status()

    def _status(self) -> None:
        if self._on_status is not None:
            self._on_status()

    # ------------------------------------------------------------------ geometry

    @property
    def _view_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _display(self, index: int) -> str:
        text = self._display_cache.get(index)
        if text is None:
            text = clean_line(self.raw_line(index))
            if not self.show_timestamps:
                text = _TIMESTAMP.sub("", text, count=1)
            self._display_cache[index] = text
        return text

    def _shown(self, raw: str) -> str:
        text = clean_line(raw)
        return text if self.show_timestamps else _TIMESTAMP.sub("", text, count=1)

    def _rows_of(self, text: str, width: int) -> int:
        length = len(text) if text.isascii() else cell_len(text)
        return max(1, -(-length // width))

    def _extend_wrap_rows(self, start: int) -> None:
        rows = self._wrap_rows
        assert rows is not None
        width = self._wrap_width
        total = rows.pop()
        for line in self.iter_lines(start):
            rows.append(total)
            total += self._rows_of(self._shown(line), width)
        rows.append(total)

    def _ensure_wrap_rows(self) -> array.array[int] | None:
        if not self.wrap or self.scrollable_content_region.width <= 0:
            return None  # not laid out yet: wrapping waits for a width (on_resize)
        width = self._view_width
        if self._wrap_rows is None or self._wrap_width != width:
            self._wrap_width = width
            self._wrap_rows = array.array("q", [0])
            self._extend_wrap_rows(0)
        return self._wrap_rows

    def _update_virtual_size(self) -> None:
        rows = self._ensure_wrap_rows()
        if rows is not None:
            self.virtual_size = Size(self._view_width, rows[-1])
        else:
            self.virtual_size = Size(self._width, self.line_count)

    def row_of(self, index: int) -> int:
        """The first visual row of line ``index``."""
        rows = self._ensure_wrap_rows()
        return rows[index] if rows is not None else index

    def line_at(self, row: int) -> tuple[int, int] | None:
        """(line, row within the line) at visual ``row``; None past the end."""
        rows = self._ensure_wrap_rows()
        if rows is None:
            return (row, 0) if 0 <= row < self.line_count else None
        if row < 0 or row >= rows[-1]:
            return None
        index = bisect.bisect_right(rows, row) - 1
        return index, row - rows[index]

    @property
    def top_line(self) -> int:
        located = self.line_at(round(self.scroll_y))
        return located[0] if located else max(0, self.line_count - 1)

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap:
            self._strip_cache.clear()
            self._update_virtual_size()
        if self.following:
            self.call_after_refresh(self.scroll_to_end)

    # ------------------------------------------------------------------ follow

    def scroll_to_end(self) -> None:
        if not self.is_mounted:
            return  # content given before mounting: on_resize brings the end into view
        self._adjusting = True
        try:
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
        finally:
            self._adjusting = False

    def follow(self) -> None:
        self.following = True
        self.unseen = 0
        self.scroll_to_end()
        self._status()

    def action_follow(self) -> None:
        self.follow()

    # Jumps in a long log are instant: an animated scroll over 100,000 lines only delays the operator.
    def action_scroll_home(self) -> None:
        self.scroll_to(x=0, y=0, animate=False)

    def action_page_up(self) -> None:
        self.scroll_to(y=self.scroll_y - self.scrollable_content_region.height, animate=False)

    def action_page_down(self) -> None:
        self.scroll_to(y=self.scroll_y + self.scrollable_content_region.height, animate=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Any scroll up stops following; scrolling back down to the very end resumes it."""
        super().watch_scroll_y(old_value, new_value)
        if self._adjusting:
            return
        at_end = round(new_value) >= self.max_scroll_y
        if self.following and new_value < old_value and not at_end:
            self.following = False
            self._status()
        elif not self.following and new_value > old_value and at_end:
            self.following = True
            self.unseen = 0
            self._status()

    def scroll_to_line(self, index: int) -> None:
        """Bring line ``index`` into view (a third down from the top) without following."""
        self.following = False
        row = self.row_of(index)
        height = self.scrollable_content_region.height
        if not (self.scroll_y <= row < self.scroll_y + height):
            self._adjusting = True
            try:
                self.scroll_to(y=max(0, row - height // 3), animate=False, force=True)
            finally:
                self._adjusting = False
        self._status()

    # ------------------------------------------------------------------ view options

    def set_wrap(self, wrap: bool) -> None:
        top = self.top_line
        self.wrap = wrap
        self._wrap_rows = None
        self._strip_cache.clear()
        self._update_virtual_size()
        if self.following:
            self.scroll_to_end()
        else:
            self._adjusting = True
            try:
                self.scroll_to(x=0, y=self.row_of(top), animate=False, force=True)
            finally:
                self._adjusting = False
        self.refresh()
        self._status()

    def set_timestamps(self, show: bool) -> None:
        self.show_timestamps = show
        self._reset_caches()
        self._wrap_rows = None
        self._update_virtual_size()
        self.refresh()
        self._status()

    # ------------------------------------------------------------------ search

    def _rescan_matches(self) -> None:
        needle = self._needle
        self.matches = [i for i, line in enumerate(self.iter_lines()) if needle in line.casefold()] if needle else []
        self.current_match = None

    def search(self, term: str) -> int:
        """Find ``term`` (case-insensitive); returns how many lines match and moves to the first one at or
        after the top of the view."""
        self.search_term = term
        self._needle = term.casefold()
        self._strip_cache.clear()
        self._rescan_matches()
        self.refresh()
        if self.matches:
            self._goto_match(bisect.bisect_left(self.matches, self.top_line) % len(self.matches))
        else:
            self._status()
        return len(self.matches)

    def clear_search(self) -> None:
        self.search_term = self._needle = ""
        self.matches = []
        self.current_match = None
        self._strip_cache.clear()
        self.refresh()
        self._status()

    def _goto_match(self, position: int) -> None:
        self.current_match = position
        self._strip_cache.clear()
        self.scroll_to_line(self.matches[position])
        self.refresh()

    def next_match(self, step: int = 1) -> int | None:
        """Move to the next (``step=1``) or previous (``-1``) matching line, wrapping around; its index."""
        if not self.matches:
            return None
        if self.current_match is None:
            top = self.top_line
            position = (bisect.bisect_left(self.matches, top) if step > 0
                        else bisect.bisect_right(self.matches, top) - 1)
        else:
            position = self.current_match + step
        self._goto_match(position % len(self.matches))
        return self.matches[self.current_match or 0]

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip_cache.clear()

    def _strip(self, index: int) -> Strip:
        strip = self._strip_cache.get(index)
        if strip is not None:
            return strip
        text = self._display(index)
        base = self.rich_style
        if text.startswith("## "):
            base = base + self.get_component_rich_style("log-view--note")
        segments = self._highlight(index, text, base) if self._needle else [Segment(text, base)]
        strip = Strip(segments, cell_len(text))
        self._strip_cache[index] = strip
        if strip.cell_length > self._width and not self.wrap:
            self._width = strip.cell_length
            self.call_after_refresh(self._update_virtual_size)
        return strip

    def _highlight(self, index: int, text: str, base: Style) -> list[Segment]:
        current = self.current_match is not None and self.matches[self.current_match] == index
        style = base + self.get_component_rich_style("log-view--current-match" if current else "log-view--match")
        folded, needle = text.casefold(), self._needle
        if len(folded) != len(text):  # casefold changed lengths (e.g. "ß"): highlight nothing rather than wrong
            return [Segment(text, base)]
        segments: list[Segment] = []
        position = 0
        while (found := folded.find(needle, position)) >= 0:
            if found > position:
                segments.append(Segment(text[position:found], base))
            segments.append(Segment(text[found:found + len(needle)], style))
            position = found + len(needle)
        if position < len(text):
            segments.append(Segment(text[position:], base))
        return segments

    def render_line(self, y: int) -> Strip:
        self.render_calls += 1
        scroll_x, scroll_y = self.scroll_offset
        width = self._view_width
        style = self.rich_style
        located = self.line_at(scroll_y + y)
        if located is None:
            return Strip.blank(width, style)
        index, sub_row = located
        start = sub_row * width if self.wrap else scroll_x
        return self._strip(index).crop_extend(start, start + width, style)

    def on_unmount(self) -> None:
        self._base.close()


class LogView(Vertical):
    """A host's transcript and events: lazy rendering, follow, wrap, search, timestamps.

    Public API: :meth:`set_text`, :meth:`load_file`, :meth:`append_lines`, :meth:`clear`, the properties
    :attr:`following` and :attr:`line_count`, and :meth:`search` / :meth:`next_match` for the keys.
    """

    DEFAULT_CSS = (Path(__file__).with_suffix(".tcss")).read_text(encoding="utf-8")
    SCOPED_CSS = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "start_search", "Search"),
        Binding("n", "next_match", "Next match"),
        Binding("N", "previous_match", "Prev match"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("t", "toggle_timestamps", "Timestamps"),
        Binding("escape", "close_search", "Close search", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines = LogLines(on_status=self._refresh_status, id="log-lines")
        self._hint = Static("", id="log-hint", markup=False)
        self._search = Input(placeholder="search: Enter finds, Esc closes", id="log-search", compact=True)
        self.hint = ""

    def compose(self) -> ComposeResult:
        yield self.lines
        yield self._hint
        yield self._search

    def on_mount(self) -> None:
        self._search.display = False
        self._refresh_status()

    # ------------------------------------------------------------------ public API

    def set_text(self, text: str) -> None:
        """Show ``text`` (the follow state and scroll position are kept)."""
        self.lines.replace(_TextLines(text))

    def load_file(self, path: str | Path) -> None:
        """Show a file by indexing its line offsets; lines are read from disk only when shown."""
        self.lines.load_path(Path(path))

    def append_lines(self, lines: Iterable[str]) -> int:
        """Add lines at the end (live output); returns how many were added."""
        return self.lines.append(lines)

    def clear(self) -> None:
        """Empty the view and start following again (a new host was selected)."""
        self.lines.following = True
        self.lines.clear_search()
        self.lines.replace(_TextLines(""))

    @property
    def following(self) -> bool:
        return self.lines.following

    @property
    def line_count(self) -> int:
        return self.lines.line_count

    @property
    def wrap(self) -> bool:
        return self.lines.wrap

    @property
    def show_timestamps(self) -> bool:
        return self.lines.show_timestamps

    @property
    def match_count(self) -> int:
        return len(self.lines.matches)

    def line(self, index: int) -> str:
        """Line ``index`` as shown (ANSI and control characters removed)."""
        return self.lines.line(index)

    def text(self) -> str:
        """Everything in the view, one line per line (for tests and copying; reads a file fully)."""
        return "\n".join(clean_line(line) for line in self.lines.iter_lines())

    def follow(self) -> None:
        self.lines.follow()

    def search(self, term: str) -> int:
        """Highlight ``term`` and go to its first match; returns how many lines match (0 clears the search)."""
        if not term:
            self.lines.clear_search()
            return 0
        return self.lines.search(term)

    def next_match(self) -> int | None:
        return self.lines.next_match(1)

    def previous_match(self) -> int | None:
        return self.lines.next_match(-1)

    # ------------------------------------------------------------------ keys

    def action_follow(self) -> None:
        self.follow()

    def action_toggle_wrap(self) -> None:
        self.lines.set_wrap(not self.lines.wrap)

    def action_toggle_timestamps(self) -> None:
        if not self.lines.has_timestamps and self.lines.show_timestamps:
            self.notify("These lines carry no timestamps", severity="information", markup=False)
        self.lines.set_timestamps(not self.lines.show_timestamps)

    def action_start_search(self) -> None:
        self._search.display = True
        self._search.value = self.lines.search_term
        self._search.focus()

    def action_next_match(self) -> None:
        if self.next_match() is None:
            self._no_match()

    def action_previous_match(self) -> None:
        if self.previous_match() is None:
            self._no_match()

    def _no_match(self) -> None:
        if self.lines.search_term:
            self.notify(f"no line contains {self.lines.search_term!r}", severity="warning", markup=False)
        else:
            self.notify("press / to search first", severity="information", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_search":
            return bool(self._search.display)
        return True

    def action_close_search(self) -> None:
        if not self._search.display:
            raise SkipAction()
        self._search.display = False
        self.lines.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is not self._search:
            return
        event.stop()
        term = event.value.strip()
        self._search.display = False
        self.lines.focus()
        if not term:
            self.lines.clear_search()
        elif not self.lines.search(term):
            self.notify(f"no line contains {term!r}", severity="warning", markup=False)

    # ------------------------------------------------------------------ status line

    def _refresh_status(self) -> None:
        body = self.lines
        parts: list[str] = []
        if body.following:
            parts.append("following")
        elif body.unseen:
            parts.append(f"+{body.unseen} new lines (End to follow)")
        else:
            parts.append("paused (End to follow)")
        parts.append(f"{body.line_count:,} lines")
        if body.indexing:
            parts.append("indexing...")
        if body.wrap:
            parts.append("wrap")
        if not body.show_timestamps:
            parts.append("timestamps hidden")
        if body.search_term:
            where = f"{(body.current_match or 0) + 1}/" if body.current_match is not None else ""
            parts.append(f"/{body.search_term}: {where}{len(body.matches)} matching lines")
        self.hint = " · ".join(parts)
        self._hint.update(self.hint)
        self.set_class(not body.following and body.unseen > 0, "-unseen")

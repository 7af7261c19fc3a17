"""LogView: lazy rendering of huge logs, follow/tail, search, wrap and timestamps, driven through Pilot."""

from __future__ import annotations

import asyncio

import pytest
from textual import events
from textual.app import App, ComposeResult

from console.tui.widgets import log_view as log_view_module
from console.tui.widgets.log_view import LogView, clean_line

SIZE = (120, 40)


class LogApp(App[None]):
    """Hosts one LogView with the focus on its body, as a screen would."""

    def compose(self) -> ComposeResult:
        yield LogView(id="log")

    def on_mount(self) -> None:
        self.query_one(LogView).lines.focus()


def numbered(count: int, prefix: str = "line") -> str:
    return "".join(f"{prefix} {i}\n" for i in range(count))


async def settle(pilot, delay: float = 0.05) -> None:
    await pilot.pause()
    await pilot.pause(delay)


def visible_lines(view: LogView) -> range:
    body = view.lines
    top = round(body.scroll_y)
    return range(top, top + body.scrollable_content_region.height)


async def test_100k_line_text_opens_without_materialising_every_line():
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        body = view.lines
        body.render_calls = 0
        view.set_text(numbered(100_000))
        await settle(pilot)
        assert view.line_count == 100_000
        # Only the rows on screen were rendered and cached: nothing proportional to the text.
        height = body.scrollable_content_region.height
        assert 0 < body.render_calls <= 4 * height
        assert len(body._display_cache) <= 2 * height
        assert len(body._strip_cache) <= 2 * height
        assert len(app.screen.query("*")) < 20  # no widget per line
        # Following by default: the end is in view.
        assert view.following
        assert body.scroll_y == body.max_scroll_y
        assert 99_999 in visible_lines(view)
        assert view.line(99_999) == "line 99999"


async def test_100k_line_file_is_indexed_and_read_only_where_shown(tmp_path):
    path = tmp_path / "host.log"
    path.write_text(numbered(100_000, "out") + "partial last line without newline")
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        body = view.lines
        view.load_file(path)
        await settle(pilot)
        assert view.line_count == 100_001
        assert view.line(0) == "out 0"
        assert view.line(54_321) == "out 54321"
        assert view.line(100_000) == "partial last line without newline"
        assert len(body._display_cache) <= 2 * body.scrollable_content_region.height
        assert 100_000 in visible_lines(view)
        # Appending after a file (the host's events) continues the numbering.
        view.append_lines(["event one", "event two"])
        await settle(pilot)
        assert view.line_count == 100_003
        assert view.line(100_002) == "event two"


async def test_large_file_is_indexed_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setattr(log_view_module, "SYNC_INDEX_BYTES", 1000)
    monkeypatch.setattr(log_view_module, "_CHUNK", 4096)
    monkeypatch.setattr(log_view_module, "_PUBLISH_EVERY", 0)  # publish every chunk: many progress steps
    path = tmp_path / "big.log"
    path.write_text(numbered(50_000, "bg"))
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        # Search and wrap set before the file arrives are kept up to date while it is indexed.
        view.set_text("nothing yet\n")
        await settle(pilot)
        assert view.search("bg 1234") == 0
        await pilot.press("w")
        steps = 0
        original = view.lines._index_progress

        def counting(*args):
            nonlocal steps
            steps += 1
            original(*args)

        view.lines._index_progress = counting
        view.load_file(path)
        assert view.lines.indexing
        for _ in range(200):
            await pilot.pause(0.02)
            if not view.lines.indexing:
                break
        assert not view.lines.indexing
        assert view.line_count == 50_000
        assert view.line(49_999) == "bg 49999"
        assert steps > 50
        assert view.lines.matches == [1234, *range(12340, 12350)]
        assert view.lines.virtual_size.height == 50_000  # short lines: one row each when wrapped
        assert view.following and view.lines.scroll_y == view.lines.max_scroll_y


async def test_follow_scroll_up_hint_and_end_resumes():
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        body = view.lines
        view.set_text(numbered(500))
        await settle(pilot)
        # Appending while following keeps the end in view.
        view.append_lines([f"live {i}" for i in range(30)])
        await settle(pilot)
        assert view.following and body.scroll_y == body.max_scroll_y
        assert view.line_count - 1 in visible_lines(view)
        assert view.hint.startswith("following")

        # Any scroll up stops following; what arrives meanwhile is counted, and the view stays put.
        await pilot.press("up")
        await settle(pilot)
        assert not view.following
        top = body.scroll_y
        view.append_lines(["a", "b", "c"])
        view.append_lines(["multi\nline\nchunk"])
        await settle(pilot)
        assert body.scroll_y == top
        assert "+6 new lines (End to follow)" in view.hint
        assert view.has_class("-unseen")

        # End resumes following and jumps to the newest line.
        await pilot.press("end")
        await settle(pilot)
        assert view.following
        assert body.scroll_y == body.max_scroll_y
        assert view.line(view.line_count - 1) == "chunk"
        assert view.hint.startswith("following")
        view.append_lines(["after resume"])
        await settle(pilot)
        assert body.scroll_y == body.max_scroll_y

        # Page up and the mouse wheel stop following too.
        await pilot.press("pageup")
        await settle(pilot)
        assert not view.following
        await pilot.press("end")
        await settle(pilot)
        body.post_message(events.MouseScrollUp(body, 5, 5, 0, -1, 0, False, False, False))
        await settle(pilot)
        assert not view.following


async def test_reload_keeps_position_when_not_following():
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        body = view.lines
        view.set_text(numbered(1000))
        await settle(pilot)
        await pilot.press("home")
        await settle(pilot)
        assert not view.following and body.scroll_y == 0
        view.set_text(numbered(1200))
        await settle(pilot)
        assert body.scroll_y == 0 and not view.following
        view.clear()
        await settle(pilot)
        assert view.following and view.line_count == 0


async def test_search_highlights_and_n_moves_between_matches():
    text = "".join(f"needle at {i}\n" if i in (10, 500, 900) else f"hay {i}\n" for i in range(1000))
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        body = view.lines
        view.set_text(text)
        await settle(pilot)
        await pilot.press("home")
        await pilot.press("slash")
        await settle(pilot)
        assert app.focused is app.query_one("#log-search")
        # Typing into the search box does not trigger the log's own keys (n, w, t).
        await pilot.press(*"NEEDLE")
        await pilot.press("enter")
        await settle(pilot)
        assert app.focused is body
        assert view.match_count == 3
        assert body.matches == [10, 500, 900]
        assert body.matches[body.current_match] == 10
        assert not view.following
        assert "/NEEDLE: 1/3 matching lines" in view.hint

        # The current match is highlighted with its own style, other matches with theirs.
        current_style = body.get_component_rich_style("log-view--current-match")
        strip = body._strip(10)
        assert any(seg.text.lower() == "needle" and seg.style == body.rich_style + current_style for seg in strip)

        await pilot.press("n")
        await settle(pilot)
        assert body.matches[body.current_match] == 500
        assert 500 in visible_lines(view)
        await pilot.press("n")
        await pilot.press("n")  # wraps around
        await settle(pilot)
        assert body.matches[body.current_match] == 10
        await pilot.press("N")  # back, wrapping to the last
        await settle(pilot)
        assert body.matches[body.current_match] == 900
        assert 900 in visible_lines(view)
        match_style = body.get_component_rich_style("log-view--match")
        assert any(seg.style == body.rich_style + match_style for seg in body._strip(10))

        # Live lines that match join the list.
        view.append_lines(["another needle"])
        assert body.matches[-1] == 1000

        # A term that is nowhere reports it and clears the matches.
        await pilot.press("slash", "ctrl+a", *"zzz", "enter")
        await settle(pilot)
        assert view.match_count == 0


async def test_escape_closes_search_without_searching():
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.set_text(numbered(50))
        await pilot.press("slash", "x", "escape")
        await settle(pilot)
        assert not app.query_one("#log-search").display
        assert app.focused is view.lines
        assert view.match_count == 0


async def test_wrap_toggles_and_wrapped_rows_render_the_whole_line():
    long_line = "".join(f"{i:04d}" for i in range(100))  # 400 characters
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        body = view.lines
        view.set_text(f"short\n{long_line}\nend\n")
        await settle(pilot)
        assert body.virtual_size.height == 3
        assert body.virtual_size.width >= 400
        await pilot.press("w")
        await settle(pilot)
        assert view.wrap and "wrap" in view.hint
        width = body.scrollable_content_region.width
        rows = -(-400 // width)
        assert body.virtual_size.height == 2 + rows
        assert body.virtual_size.width == width
        rendered = "".join(body.render_line(y).text for y in range(1 + rows))
        assert long_line in rendered.replace(" ", "")
        await pilot.press("w")
        await settle(pilot)
        assert not view.wrap and body.virtual_size.height == 3


async def test_timestamps_toggle():
    text = "".join(f"2026-11-26T03:15:{i:02d}+00:00 step {i}\n" for i in range(20))
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.set_text(text)
        await settle(pilot)
        body = view.lines
        assert body.has_timestamps
        assert body._display(3).startswith("2026-11-26T03:15:03")
        await pilot.press("t")
        await settle(pilot)
        assert not view.show_timestamps and body._display(3) == "step 3"
        assert "timestamps hidden" in view.hint
        await pilot.press("t")
        await settle(pilot)
        assert body._display(3).startswith("2026-11-26")


@pytest.mark.parametrize("raw, shown", [
    ("plain", "plain"),
    ("\x1b[31mred\x1b[0m text", "red text"),
    ("progress 10%\rprogress 100%", "progress 100%"),
    ("crlf line\r", "crlf line"),
    ("a\tb", "a       b"),
    ("bell\x07", "bell\\x07"),
    ("C1 CSI \x9b2J and an override \u202e", "C1 CSI \\x9b2J and an override \\u202e"),
])
def test_clean_line(raw, shown):
    assert clean_line(raw) == shown


async def test_append_before_mount_and_many_small_appends_stay_cheap():
    view = LogView()
    view.set_text("one\ntwo\n")
    view.append_lines(["three"])
    assert view.line_count == 3

    class Late(App[None]):
        def compose(self) -> ComposeResult:
            yield view

    app = Late()
    async with app.run_test(size=SIZE) as pilot:
        for i in range(2000):
            view.append_lines([f"tick {i}"])
        await asyncio.sleep(0)
        await settle(pilot)
        assert view.line_count == 2003
        assert view.following and view.lines.scroll_y == view.lines.max_scroll_y

"""The console on an operator's small tmux pane (80x24) as well as a big one (160x45), issue 13.

What must hold at 80x24: the failure's host, category and the start of its reason are on screen, and so are
"Notified" and "Acknowledged"; the footer always offers ``:`` and ``?``; the run detail shows more hosts than
header; the re-scan run's table lays out like any other; the log pane's keys work without a Tab first; ``R``
asks before it touches hosts again.
"""

from __future__ import annotations

from typing import Any

import pytest
from screen_host import Host, wait_for
from support import NoIoJob, fleet, open_engine, task_input, utc
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from console.clock import ManualClock
from console.domain.run import RunState, Trigger
from console.tui.app import PatchwatchApp
from console.tui.screens.home import HomeScreen
from console.tui.screens.run_detail import RunDetailScreen
from console.tui.widgets.form_dialogs import ConfirmDialog

START = "2026-11-26T00:00:00+00:00"
PLANTED = {"host-001": "network", "host-004": "permission", "host-007": "service"}
SIZES = [(80, 24), (160, 45)]


@pytest.fixture
async def setup(tmp_path):
    job = NoIoJob(outcomes=dict(PLANTED))
    engine = await open_engine(tmp_path, ManualClock(utc(START)), job)
    await engine.upsert_instances(fleet(12))
    await engine.create_task(task_input("a-rather-long-nightly-task-name", "0 0 1 * * ?"))
    run = await engine.run_now("a-rather-long-nightly-task-name", actor="alice")
    await engine.idle()
    yield engine, await engine.get_run(run.id)
    await engine.close()


def visible_columns(table: DataTable[Any]) -> dict[str, int]:
    """Column key -> rendered width, for the columns that start inside the table's visible width."""
    shown: dict[str, int] = {}
    x = 0
    for column in table.ordered_columns:
        width = column.get_render_width(table)
        if x + width <= table.scrollable_content_region.width:
            shown[str(column.key.value)] = width
        x += width
    return shown


def footer_keys(app: Any) -> dict[str, bool]:
    """Footer key -> whether it is drawn entirely inside the screen."""
    width = app.size.width
    return {key.key: key.region.width > 0 and key.region.right <= width for key in app.screen.query(FooterKey)}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_home_keeps_who_what_why_and_was_anyone_told_on_screen(setup, size):
    engine, _ = setup
    app = PatchwatchApp(engine)
    async with app.run_test(size=size) as pilot:
        home = app.screen
        assert isinstance(home, HomeScreen)
        await wait_for(pilot, lambda: home.failures.row_count == len(PLANTED))
        await pilot.pause(0.1)
        shown = visible_columns(home.failures)
        for key in ("host", "category", "reason", "notified", "ack"):
            assert key in shown, (key, shown)
        assert shown["reason"] >= 20
        # The whole table fits: nothing hides off to the right.
        assert sum(c.get_render_width(home.failures) for c in home.failures.ordered_columns) \
            <= home.failures.scrollable_content_region.width
        # The status line is one line.
        assert home.query_one("#home-status").size.height == 1
        # The upcoming fires keep their task.
        assert "task" in visible_columns(home.upcoming)
        await wait_for(pilot, lambda: footer_keys(app).get("colon") is not None)
        keys = footer_keys(app)
        assert keys.get("colon") and keys.get("question_mark"), keys


@pytest.mark.parametrize("command", ["tasks", "runs", "notifications", "events", "inventory", "oncall"])
async def test_the_footer_offers_colon_and_help_at_80x24_on_every_screen(setup, command):
    engine, _ = setup
    app = PatchwatchApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("colon")
        await pilot.pause(0.06)
        await pilot.press(*command, "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, HomeScreen) and app.screen.is_current)
        await wait_for(pilot, lambda: footer_keys(app).get("colon") is not None)
        keys = footer_keys(app)
        assert keys.get("colon") and keys.get("question_mark"), (command, keys)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_run_detail_shows_more_hosts_than_header(setup, size):
    engine, run = setup
    app = Host(lambda: RunDetailScreen(engine, run.id))
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.hosts_table.row_count == 12)
        await pilot.pause(0.1)
        assert screen.query_one("#run-header").size.height <= 3
        assert screen.hosts_table.size.height - 1 >= 8  # rows below the column labels
        shown = visible_columns(screen.hosts_table)
        for key in ("host", "status", "category", "reason"):
            assert key in shown, (key, shown)
        assert sum(c.get_render_width(screen.hosts_table) for c in screen.hosts_table.ordered_columns) \
            <= screen.hosts_table.scrollable_content_region.width


async def test_r_asks_before_rescanning_and_the_rescan_table_lays_out_like_any_other(setup):
    engine, run = setup
    app = Host(lambda: RunDetailScreen(engine, run.id))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.hosts_table.row_count == 12)
        # R asks; "no" starts nothing.
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "3 failed hosts" in str(app.screen.query_one("#confirm-question").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert [r.id for r in await engine.list_runs()] == [run.id]
        # R, then yes: the re-scan starts and opens.
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id != run.id)
        rescan_screen = app.screen
        await engine.idle()
        rescan = await engine.get_run(rescan_screen.run_id)
        assert rescan.trigger is Trigger.RESCAN and rescan.state is RunState.FAILED
        await wait_for(pilot, lambda: rescan_screen.hosts_table.row_count == 3
                       and all(rescan_screen.results.get(h) for h in PLANTED))
        await pilot.pause(0.2)
        live = {str(c.key.value): c.get_render_width(rescan_screen.hosts_table)
                for c in rescan_screen.hosts_table.ordered_columns}
    # The same run opened afresh lays out the same way.
    app = Host(lambda: RunDetailScreen(engine, rescan.id))
    async with app.run_test(size=(80, 24)) as pilot:
        fresh_screen = app.screen
        await wait_for(pilot, lambda: fresh_screen.hosts_table.row_count == 3)
        await pilot.pause(0.2)
        fresh = {str(c.key.value): c.get_render_width(fresh_screen.hosts_table)
                 for c in fresh_screen.hosts_table.ordered_columns}
    assert live == fresh
    assert live["reason"] >= 20


async def test_the_log_keys_work_from_the_hosts_table_without_a_tab(setup):
    engine, run = setup
    app = Host(lambda: RunDetailScreen(engine, run.id))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: "planted network failure" in screen.log_view.text())
        screen.hosts_table.focus()
        await pilot.pause()
        log = screen.log_view
        wrapped = log.lines.wrap
        await pilot.press("w")
        assert log.lines.wrap is not wrapped
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "log-search")
        await pilot.press(*"host-001", "enter")
        await wait_for(pilot, lambda: log.match_count >= 2)
        screen.hosts_table.focus()
        await pilot.pause()
        before = log.lines.current_match
        await pilot.press("n")
        assert log.lines.current_match != before
        assert app.focused is screen.hosts_table


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_trace_keeps_the_message_readable(setup, size):
    engine, _ = setup
    app = PatchwatchApp(engine)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.1)
        await pilot.press("colon")
        await pilot.pause(0.06)
        await pilot.press(*"events", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EventsScreen" and app.screen.table.row_count)
        await pilot.pause(0.1)
        table = app.screen.table
        shown = visible_columns(table)
        for key in ("at", "kind", "message"):
            assert key in shown, (key, shown)
        assert shown["message"] >= 30
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= table.scrollable_content_region.width

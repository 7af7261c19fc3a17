"""RunsScreen and RunDetailScreen against a real engine whose scan job plants failures (NoIoJob)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from screen_host import Host, notices, wait_for
from support import NoIoJob, fleet, open_engine, task_input, utc
from textual.widgets import DataTable

from console.clock import ManualClock
from console.domain.run import HostResult, HostStatus, RunState, Trigger
from console.jobs import JobContext
from console.tui.screens.run_detail import RunDetailScreen
from console.tui.screens.runs import RunsScreen
from console.tui.widgets.form_dialogs import ConfirmDialog

START = "2026-11-26T00:00:00+00:00"
SIZE = (120, 40)
PLANTED = {"host-001": "network", "host-004": "permission", "host-007": "network"}


def keys(table: DataTable[Any]) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


@pytest.fixture
async def setup(tmp_path):
    job = NoIoJob(outcomes=dict(PLANTED))
    engine = await open_engine(tmp_path, ManualClock(utc(START)), job)
    await engine.upsert_instances(fleet(10))
    await engine.create_task(task_input("nightly-scan", "0 0 1 * * ?"))
    yield engine, job
    await engine.close()


async def finished_run(engine):
    run = await engine.run_now("nightly-scan", actor="alice")
    await engine.idle()
    return await engine.get_run(run.id)


async def test_run_detail_lists_filters_shows_logs_acknowledges_and_rescans(setup):
    engine, _ = setup
    run = await finished_run(engine)
    assert run.state is RunState.FAILED
    app = Host(lambda: RunDetailScreen(engine, run.id))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        table = screen.hosts_table
        await wait_for(pilot, lambda: table.row_count == 10)
        assert keys(table) == [f"host-{i:03d}" for i in range(10)]
        header = str(screen.query_one("#run-header").render())
        assert "nightly-scan" in header and "failed" in header and "not acknowledged" in header
        assert "network 2, permission 1" in header

        # The first failed host is selected and its result and events are in the log.
        await wait_for(pilot, lambda: "planted network failure" in screen.log_view.text())
        assert screen.log_host == "host-001"
        assert "host.finished" in screen.log_view.text()

        # f: failed hosts only.
        await pilot.press("f")
        await pilot.pause()
        assert keys(table) == sorted(PLANTED)
        await pilot.press("f")
        await pilot.pause()
        assert table.row_count == 10

        # Selecting another host shows its transcript/events.
        table.focus()
        table.move_cursor(row=4)
        await wait_for(pilot, lambda: screen.log_host == "host-004"
                       and "planted permission failure" in screen.log_view.text())
        assert "host-004: failed (permission" in screen.log_view.text()
        table.move_cursor(row=5)
        await wait_for(pilot, lambda: "## result: ok" in screen.log_view.text())
        assert "host-005: ok" in screen.log_view.text()

        # l focuses the log pane.
        await pilot.press("l")
        assert app.focused is screen.log_view.lines

        # a: acknowledge, recorded by the engine.
        await pilot.press("a")
        await wait_for(pilot, lambda: "acknowledged by" in str(screen.query_one("#run-header").render()))
        acknowledged = await engine.get_run(run.id)
        assert acknowledged.acknowledged_by
        # A second acknowledgement is refused by the engine: a notification, not a crash.
        await pilot.press("a")
        await wait_for(pilot, lambda: any("already acknowledged" in m for m in notices(app)))

        # R: a re-scan run of only the failed hosts, opened on top, once confirmed.
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id != run.id)
        rescan_id = app.screen.run_id
        await engine.idle()
        rescan = await engine.get_run(rescan_id)
        assert rescan.trigger is Trigger.RESCAN and rescan.parent_run_id == run.id
        assert sorted(rescan.only_hosts) == sorted(PLANTED)
        assert rescan.hosts_total == 3
        results = await engine.host_results(rescan_id)
        assert sorted(r.host for r in results) == sorted(PLANTED)
        await wait_for(pilot, lambda: app.screen.hosts_table.row_count == 3)
        # Esc goes back to the original run.
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is screen


async def test_category_filter_cycles(setup):
    engine, _ = setup
    run = await finished_run(engine)
    app = Host(lambda: RunDetailScreen(engine, run.id, host="host-007"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: screen.hosts_table.row_count == 10)
        # The host asked for is selected.
        await wait_for(pilot, lambda: screen.log_host == "host-007" and "host-007" in screen.log_view.text())
        assert "host-007" in str(screen.log_view.border_title)
        await pilot.press("c")
        assert screen.category == "network" and keys(screen.hosts_table) == ["host-001", "host-007"]
        await pilot.press("c")
        assert screen.category == "permission" and keys(screen.hosts_table) == ["host-004"]
        await pilot.press("c")
        assert screen.category is None and screen.hosts_table.row_count == 10
        assert "10 of 10 hosts" in str(screen.query_one("#host-filter").render())


async def test_live_run_pause_resume_and_cancel_with_confirmation(setup):
    engine, job = setup
    job.gate = asyncio.Event()
    run = await engine.run_now("nightly-scan")
    await asyncio.sleep(0.05)
    assert (await engine.get_run(run.id)).state is RunState.RUNNING
    app = Host(lambda: RunDetailScreen(engine, run.id))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: "running" in str(screen.query_one("#run-header").render()))
        # The batch's hosts are listed while they are scanned.
        await wait_for(pilot, lambda: screen.hosts_table.row_count == 10)
        await pilot.press("p")
        await wait_for(pilot, lambda: "paused by" in str(screen.query_one("#run-header").render()))
        assert (await engine.get_run(run.id)).state is RunState.PAUSED
        await pilot.press("u")
        await wait_for(pilot, lambda: (screen.run is not None and screen.run.state is RunState.RUNNING))
        # Pausing twice is refused by the engine with a notification.
        await pilot.press("u")
        await wait_for(pilot, lambda: any("only a paused run can be resumed" in m for m in notices(app)))

        # x asks first; "n" keeps the run.
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await pilot.pause(0.1)
        assert (await engine.get_run(run.id)).state is RunState.RUNNING
        # x then y cancels.
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await pilot.pause(0.1)
        job.gate.set()
        await engine.idle()
        assert (await engine.get_run(run.id)).state is RunState.CANCELLED
        await wait_for(pilot, lambda: "cancelled" in str(screen.query_one("#run-header").render()))


async def test_live_host_results_and_log_reload(setup):
    engine, job = setup
    job.gate = asyncio.Event()
    run = await engine.run_now("nightly-scan")
    await asyncio.sleep(0.05)
    app = Host(lambda: RunDetailScreen(engine, run.id, host="host-001"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: "no transcript: the host has not finished" in screen.log_view.text())
        job.gate.set()
        await engine.idle()
        # The run finished: header, rows and the selected host's log follow without a key press.
        await wait_for(pilot, lambda: screen.run is not None and screen.run.state is RunState.FAILED)
        table = screen.hosts_table
        await wait_for(pilot, lambda: str(table.get_cell("host-001", "status")) == "failed")
        await wait_for(pilot, lambda: "planted network failure" in screen.log_view.text())
        assert screen.log_view.following


async def test_review_approve_and_reject(setup):
    engine, _ = setup
    await engine.create_task(task_input("reviewed-scan", "0 0 2 * * ?", review={"required": True}))
    first = await engine.run_now("reviewed-scan")
    assert first.state is RunState.PENDING_REVIEW
    app = Host(lambda: RunDetailScreen(engine, first.id))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: "waiting for review" in str(screen.query_one("#run-header").render()))
        await pilot.press("A")
        await wait_for(pilot, lambda: screen.run is not None and screen.run.reviewed_by is not None)
        await engine.idle()
        assert (await engine.get_run(first.id)).state is RunState.FAILED

    second = await engine.run_now("reviewed-scan")
    app = Host(lambda: RunDetailScreen(engine, second.id))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("rejected" in m for m in notices(app)))
        assert (await engine.get_run(second.id)).state is RunState.REJECTED


async def test_unknown_run_is_reported_not_crashed(setup):
    engine, _ = setup
    app = Host(lambda: RunDetailScreen(engine, "RN0000000000000000000000XX"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        await wait_for(pilot, lambda: any("no run with id" in m for m in notices(app)))
        await pilot.press("a")
        await pilot.press("R")
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunDetailScreen)


async def test_runs_screen_updates_live_filters_and_opens_detail(setup):
    engine, _ = setup
    old = await finished_run(engine)
    app = Host(lambda: RunsScreen(engine))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        table = screen.table
        await wait_for(pilot, lambda: table.row_count == 1)
        assert str(table.get_cell(old.id, "state")) == "failed"
        assert str(table.get_cell(old.id, "failed")) == "3/10"
        assert str(table.get_cell(old.id, "ack")) == "NO"

        # A new run appears on top while it runs and its row updates in place when it finishes.
        only_002 = {"instances": ["host-002"], "groups": []}
        await engine.create_task(task_input("all-good", "0 0 3 * * ?", targets=only_002))
        new = await engine.run_now("all-good")
        await engine.idle()
        await wait_for(pilot, lambda: table.row_count == 2 and str(table.get_cell(new.id, "state")) == "succeeded")
        assert keys(table) == [new.id, old.id]
        assert str(table.get_cell(new.id, "failed")) == "0/1"

        # Acknowledging elsewhere updates the row.
        await engine.acknowledge(old.id, actor="bob")
        await wait_for(pilot, lambda: str(table.get_cell(old.id, "ack")) == "bob")

        # f: failures only; s cycles state groups; / filters by text.
        await pilot.press("f")
        await wait_for(pilot, lambda: keys(table) == [old.id])
        await pilot.press("f")
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("slash")
        await pilot.press(*"all-good")
        await wait_for(pilot, lambda: keys(table) == [new.id])
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("s", "s", "s", "s")  # all -> failures -> active -> pending review -> succeeded
        await wait_for(pilot, lambda: keys(table) == [new.id])
        await pilot.press("s", "s")
        await wait_for(pilot, lambda: table.row_count == 2)

        # Enter opens the run under the cursor (the newest).
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == old.id
        await wait_for(pilot, lambda: app.screen.hosts_table.row_count == 10)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is screen


async def test_runs_of_one_task(setup):
    engine, _ = setup
    mine = await finished_run(engine)
    await engine.create_task(task_input("other-scan", "0 0 4 * * ?"))
    await engine.run_now("other-scan")
    await engine.idle()
    app = Host(lambda: RunsScreen(engine, task="nightly-scan"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: keys(screen.table) == [mine.id])
        again = await engine.run_now("nightly-scan")
        await engine.run_now("other-scan")
        await engine.idle()
        await wait_for(pilot, lambda: keys(screen.table) == [again.id, mine.id])
        await pilot.pause(0.2)
        assert keys(screen.table) == [again.id, mine.id]


async def test_screens_fit_80x24(setup):
    engine, _ = setup
    run = await finished_run(engine)
    app = Host(lambda: RunDetailScreen(engine, run.id))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        screen = app.screen
        assert screen.log_view.lines.size.height >= 4
        assert screen.hosts_table.size.height >= 3
        await pilot.press("f")
        assert screen.hosts_table.row_count == 3
    app = Host(lambda: RunsScreen(engine))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert app.screen.table.size.height >= 10


class TranscriptJob(NoIoJob):
    """Saves a transcript per host the way the real scan does (kept with the run, named by the result):
    host-000 gets a big one (read through the API in pages), the others a few lines."""

    async def execute(self, ctx: JobContext) -> None:
        await ctx.batch_started(1, 1, [t.name for t in ctx.targets])
        for target in ctx.targets:
            count = 30_000 if target.name == "host-000" else 3
            label = ctx.save_transcript(target.name,
                                        "".join(f"## step {i} on {target.name}\n" for i in range(count)).encode())
            await ctx.host_finished(HostResult(
                run_id=ctx.run.id, task_id=ctx.task.id, host=target.name, status=HostStatus.OK,
                os="Debian GNU/Linux 12", missing_count=4, security_count=2, reboot_required=True,
                duration_s=1.25, transcript=label))


async def test_transcripts_small_and_big_come_through_the_api_in_pages(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc(START)), TranscriptJob())
    try:
        await engine.upsert_instances(fleet(3))
        await engine.create_task(task_input("nightly-scan", "0 0 1 * * ?"))
        run = await engine.run_now("nightly-scan")
        await engine.idle()
        app = Host(lambda: RunDetailScreen(engine, run.id))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.1)
            screen = app.screen
            log = screen.log_view
            await wait_for(pilot, lambda: screen.log_host == "host-000" and log.line_count > 30_000)
            # Larger than one page: read through the API page by page, every line once, in order.
            assert log.line(0).startswith("## step 0 on host-000") and log.line(29_999) == "## step 29999 on host-000"
            assert [log.line(i) for i in range(30_000)] == [f"## step {i} on host-000" for i in range(30_000)]
            assert log.following and log.lines.scroll_y == log.lines.max_scroll_y
            # At 120 columns the table shows host, OS, status, category, reason and missing updates; the
            # rest of the result (security, reboot, duration) is in the log pane.
            row = [str(c) for c in screen.hosts_table.get_row("host-000")]
            assert row == ["host-000", "Debian GNU/Linux 12", "ok", "", "", "4"]
            assert "## result: ok in 1.2s" in log.text()
            screen.hosts_table.move_cursor(row=1)
            await wait_for(pilot, lambda: screen.log_host == "host-001" and "## step 2 on host-001" in log.text())
            assert "## Debian GNU/Linux 12: 4 updates missing, 2 security, reboot required" in log.text()
    finally:
        await engine.close()


def test_host_status_colours_cover_every_status():
    from console.tui.screens.run_detail import _STATE_STYLES

    assert {s.value for s in HostStatus} <= set(_STATE_STYLES)
    assert {s.value for s in RunState} <= set(_STATE_STYLES)

"""The dashboard: calm when all is well, live and loud when hosts fail, acknowledgement by key, a failures
table that stays small however many hosts fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import NoIoJob, fleet, task_input

from console.domain.run import Event, RunState
from console.tui.app import PatchwatchApp
from console.tui.screens.home import HomeScreen
from console.tui.widgets.home_failures import MAX_RENDERED, FailuresTable, failure_from_event


@pytest.fixture
def job() -> NoIoJob:
    return NoIoJob(outcomes={"host-001": "network", "host-003": "permission"})


def status_text(app: PatchwatchApp) -> str:
    return str(app.screen.query_one("#home-status").render())


def categories(home: HomeScreen) -> dict[str, str]:
    return {f.host: f.category for f in home.visible_failures()}


async def test_calm_when_nothing_failed(engine, ui):
    await engine.create_task(task_input("nightly", "0 0 3 * * ?"))
    app = PatchwatchApp(engine, scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        assert isinstance(home, HomeScreen)
        calm = home.query_one("#failures-calm")
        await ui.wait_for(pilot, lambda: "No failures" in str(calm.render()), what="the calm line")
        text = str(calm.render())
        assert "1 task scheduled; next fire nightly at 2026-11-26 03:00 UTC" in text
        assert calm.display and not home.query_one("#failures").display
        assert not home.query_one("#failures-panel").has_class("-alarm")
        assert "0 failed hosts unacknowledged" in status_text(app)
        assert home.upcoming.row_count == 3


async def test_failing_run_shows_live_and_a_acknowledges(engine, ui):
    await engine.upsert_instances(fleet(5))
    task = await engine.create_task(task_input("nightly", "0 0 3 * * ?", targets={"groups": ["web"]}))
    app = PatchwatchApp(engine, scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        assert list(home.visible_failures()) == []

        run = await engine.run_now(task.id)
        await ui.wait_for(pilot, lambda: len(categories(home)) == 2, what="two failure rows")
        assert categories(home) == {"host-001": "network", "host-003": "permission"}
        assert {f.run_id for f in home.visible_failures()} == {run.id}
        assert home.failures.get_row(f"{run.id}:host-001")[2].plain == run.id
        # Impossible to miss: a red count and the panel drawn as an alarm.
        await ui.wait_for(pilot, lambda: "2 failed hosts unacknowledged" in status_text(app), what="the count")
        assert home.query_one("#failures-panel").has_class("-alarm")
        assert "FAILURES" in str(home.query_one("#failures-panel").border_title)
        await engine.wait_run(run.id, timeout=5)

        # `a` on a failure row acknowledges that run.
        home.failures.focus()
        await pilot.press("a")

        async def acknowledged() -> str | None:
            return (await engine.get_run(run.id)).acknowledged_by

        for _ in range(100):
            if await acknowledged():
                break
            await pilot.pause(0.02)
        assert await acknowledged()
        await ui.wait_for(pilot, lambda: "0 failed hosts unacknowledged" in status_text(app), what="count cleared")
        assert not home.query_one("#failures-panel").has_class("-alarm")
        ack_cell = home.failures.get_row(f"{run.id}:host-001")[7]
        assert ack_cell.plain.startswith((await engine.get_run(run.id)).acknowledged_by)
        # A second `a` says so instead of failing.
        await pilot.press("a")
        await pilot.pause()
        assert any("already acknowledged" in m for m in app.messages)
        # `l` opens the logs of the selected host (the run detail screen, when it is there).
        selected = home.failures.selected()
        await pilot.press("l")
        await ui.wait_for(pilot, lambda: app.screen is not home or any("not available" in m for m in app.messages),
                          what="the logs")
        if app.screen is not home:
            assert type(app.screen).__name__ == "RunDetailScreen"
            assert getattr(app.screen, "run_id", run.id) == run.id
            assert getattr(app.screen, "host", selected.host) == selected.host


async def test_backfill_shows_failures_that_happened_before_the_console_opened(engine, ui):
    await engine.upsert_instances(fleet(5))
    task = await engine.create_task(task_input("nightly", "0 0 3 * * ?", targets={"groups": ["web", "db"]}))
    run = await engine.run_now(task.id)
    await engine.wait_run(run.id, timeout=5)
    app = PatchwatchApp(engine, scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        # The unknown group "db" fails as a host of its own; runs today counts the run.
        assert categories(home) == {"host-001": "network", "host-003": "permission", "group:db": "network"}
        assert "runs today 1" in status_text(app)
        assert "3 failed hosts unacknowledged" in status_text(app)


async def test_active_run_progress_and_pending_review(engine, ui):
    await engine.upsert_instances(fleet(3))
    reviewed = await engine.create_task(task_input("reviewed", "0 0 3 * * ?", review={"required": True}))
    app = PatchwatchApp(engine, scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        run = await engine.run_now(reviewed.id)
        assert run.state is RunState.PENDING_REVIEW
        await ui.wait_for(pilot, lambda: home.active.row_count == 1, what="the pending review row")
        assert "pending review" in home.active.get_row(run.id)[1].plain
        assert "1 awaiting review" in status_text(app)
        home.active.focus()
        await pilot.press("v")
        await engine.wait_run(run.id, timeout=5)
        await ui.wait_for(pilot, lambda: home.active.row_count == 0, what="the run to finish")
        assert (await engine.get_run(run.id)).reviewed_by


def _failure_events(count: int) -> list[Event]:
    start = datetime(2026, 11, 26, tzinfo=UTC)
    return [Event(kind="host.finished", at=(start + timedelta(seconds=i)).isoformat(), message="x",
                  task_id="ST1", run_id=f"RN{i // 100}", host=f"h{i}",
                  data={"status": "failed", "category": "timeout", "reason": f"[Errno {i}] no answer"})
            for i in range(count)]


async def test_failures_table_keeps_ten_thousand_failures_smooth(engine, ui):
    app = PatchwatchApp(engine, scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        failures = [f for f in map(failure_from_event, _failure_events(10_000)) if f is not None]
        with app.batch_update():
            home.failures.add_failures(failures)
            home._render_summary()
        await pilot.pause()
        table = home.failures
        assert len(table.model) == 10_000
        assert table.row_count == MAX_RENDERED
        assert table.hidden == 10_000 - MAX_RENDERED
        # Newest first, and the newest are the ones drawn.
        assert str(table.ordered_rows[0].key.value) == "RN99:h9999"
        assert str(table.ordered_rows[-1].key.value) == f"RN{(10_000 - MAX_RENDERED) // 100}:h{10_000 - MAX_RENDERED}"
        more = home.query_one("#failures-more")
        assert more.display and "+8,000 older failures not shown" in str(more.render())
        assert "10000 failed hosts unacknowledged" in status_text(app)
        # Reasons are shown as typed, not read as markup.
        assert table.get_row("RN99:h9999")[5].plain == "[Errno 9999] no answer"


def test_failures_window_in_isolation():
    table = FailuresTable(limit=3)
    failures = [f for f in map(failure_from_event, _failure_events(5)) if f is not None]
    for failure in failures:
        table.model.add(failure)
    assert table.model.newest(3) == ["RN0:h2", "RN0:h3", "RN0:h4"]
    assert table.model.unacknowledged_hosts() == 5
    table.model.acknowledged["RN0"] = "alice"
    assert table.model.unacknowledged_hosts() == 0
    ok = Event(kind="host.finished", at="2026-11-26T00:00:00+00:00", message="ok", run_id="RN0", host="h",
               data={"status": "ok"})
    assert failure_from_event(ok) is None


def test_notified_column_follows_each_notice_record():
    table = FailuresTable()
    model = table.model
    assert model.notified_text("RN1") == "-"
    model.note_notification("RN1", "NT1", "queued")
    assert model.notified_text("RN1") == "queued"
    model.note_notification("RN1", "NT1", "sent")
    model.note_notification("RN1", "NT2", "retrying")
    assert model.notified_text("RN1") == "1 sent, 1 retrying"
    model.note_notification("RN1", "NT2", "fallback")  # superseded by a new record on another mode
    model.note_notification("RN1", "NT3", "failed")
    assert model.notified_text("RN1") == "1 sent, 1 failed"
    model.note_notification("RN1", "NT4", "retry_requested")  # not a status: ignored
    assert model.notified_text("RN1") == "1 sent, 1 failed"


class CrashingJob(NoIoJob):
    """A job that dies: the run ends in ``error`` with no failed host to show for it."""

    async def execute(self, ctx):
        raise RuntimeError("the scanner crashed")


async def test_run_level_failure_is_a_row_of_its_own(tmp_path, ui):
    from support import open_engine, utc

    from console.clock import ManualClock

    engine = await open_engine(tmp_path / "crash", ManualClock(utc("2026-11-26T00:00:00+00:00")), CrashingJob(),
                               notify=False)
    try:
        await engine.upsert_instances(fleet(2))
        task = await engine.create_task(task_input("crashy", "0 0 3 * * ?"))
        app = PatchwatchApp(engine, scheduler=False)
        async with app.run_test(size=(120, 40)) as pilot:
            home = app.screen
            await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
            run = await engine.run_now(task.id)
            await ui.wait_for(pilot, lambda: list(home.visible_failures()), what="the run-level row")
            [failure] = home.visible_failures()
            assert (failure.run_id, failure.host, failure.category) == (run.id, "(run)", "error")
            assert "the scanner crashed" in failure.reason
            await ui.wait_for(pilot, lambda: "1 failed runs unacknowledged" in status_text(app), what="the count")
            assert home.query_one("#failures-panel").has_class("-alarm")
    finally:
        await engine.close()

"""The failures panel lists open alarms (issue 11): by keyboard from the dashboard, an operator acknowledges an
alarm (``a``), silences its selected host (``s``, a form prefilled from the row), re-scans its failing hosts
(``R``) and sees it resolve and drop out once they succeed; at 80x24 and at 160x45. The header counts open alarms
and failing hosts from the same alarms."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from support import NoIoJob, fleet, task_input

from console.domain.alarm import AlarmState
from console.tui.app import PatchwatchApp
from console.tui.screens.home import HomeScreen
from console.tui.screens.run_detail import RunDetailScreen
from console.tui.screens.silence_form import SilenceForm, parse_end
from console.tui.widgets.form_dialogs import ConfirmDialog

SIZES = [(80, 24), (160, 45)]
PLANTED = {"host-001": "network", "host-003": "permission"}


@pytest.fixture
def job() -> NoIoJob:
    return NoIoJob(outcomes=dict(PLANTED))


def status_text(app: PatchwatchApp) -> str:
    return str(app.screen.query_one("#home-status").render())


def rows(home: HomeScreen) -> dict[str, tuple[str, str, str]]:
    """Host -> (category, notified cell, ack cell) of every row drawn."""
    out = {}
    for failure in home.visible_failures():
        out[failure.host] = (failure.category, home.failures.get_cell(failure.key, "notified").plain,
                             home.failures.get_cell(failure.key, "ack").plain)
    return out


async def select_host(pilot, home: HomeScreen, host: str) -> None:
    """Move the cursor to ``host``'s row with the arrow keys."""
    home.failures.focus()
    await pilot.press("ctrl+home")
    for _ in range(home.failures.row_count):
        selected = home.failures.selected()
        if selected is not None and selected.host == host:
            return
        await pilot.press("down")
    raise AssertionError(f"no row for {host}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_open_alarm_acknowledge_silence_rescan_recovered_by_keyboard(engine, job, ui, size):
    await engine.upsert_instances(fleet(5))
    task = await engine.create_task(task_input("nightly", "0 0 3 * * ?"))
    first = await engine.wait_run((await engine.run_now(task.id)).id, timeout=10)
    app = PatchwatchApp(engine)
    async with app.run_test(size=size) as pilot:
        home = app.screen
        assert isinstance(home, HomeScreen)
        await ui.wait_for(pilot, lambda: home._loaded and len(rows(home)) == 2, what="the open alarm's hosts")
        [alarm] = await engine.list_alarms()
        assert alarm.state is AlarmState.OPEN
        assert {h: r[0] for h, r in rows(home).items()} == PLANTED
        assert all(ack == "no" for _, _, ack in rows(home).values())
        assert "1 open alarm (1 unacknowledged) · 2 failing hosts (2 unacknowledged)" in status_text(app)
        assert home.query_one("#failures-panel").has_class("-alarm")

        # a: the alarm is acknowledged; its rows say by whom, the header stops shouting.
        await select_host(pilot, home, "host-003")
        await pilot.press("a")
        await ui.wait_for(pilot, lambda: all(r[2] != "no" for r in rows(home).values()),
                          what="the rows marked acknowledged")
        acked = await engine.get_alarm(alarm.id)
        assert acked.state is AlarmState.ACKNOWLEDGED and acked.acknowledged_by
        # Who took it: "ack <name> <when>" where the column has room, the name first where it is narrow.
        mark = f"ack {acked.acknowledged_by}" if size[0] >= 160 else acked.acknowledged_by
        cell = rows(home)["host-003"][2].rstrip("…")
        assert cell.startswith(mark) or (len(cell) >= 5 and mark.startswith(cell)), (cell, mark)
        await ui.wait_for(pilot, lambda: "1 open alarm (all acknowledged) · 2 failing hosts" in status_text(app),
                          what="the header")
        assert not home.query_one("#failures-panel").has_class("-alarm")
        # A second a says so, and changes nothing.
        await pilot.press("a")
        await ui.wait_for(pilot, lambda: any("already acknowledged" in m for m in app.messages), what="the refusal")

        # s: the form is prefilled from the row; without a reason the engine refuses, naming the field.
        await pilot.press("s")
        form = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, SilenceForm) else None,
                                 what="the silence form")
        assert (form.value("task"), form.value("host"), form.value("category")) == \
            ("nightly", "host-003", "permission")
        await pilot.press("enter")
        error = form.query_one("#err-f-reason")
        await ui.wait_for(pilot, lambda: error.display and "reason" in str(error.render()), what="the reason error")
        assert await engine.list_silences() == []
        await pilot.press(*"patching db", "enter")
        await ui.wait_for(pilot, lambda: app.screen is home, what="back on the dashboard")
        [silence] = await engine.list_silences()
        assert (silence.task_id, silence.host, silence.category, silence.reason) == \
            (task.id, "host-003", "permission", "patching db")
        assert silence.ends_at == (engine.clock.now() + timedelta(hours=2)).isoformat()
        await ui.wait_for(pilot, lambda: rows(home)["host-003"][1] == "silenced", what="the silenced row")
        assert rows(home)["host-001"][1] != "silenced"
        assert [f.host for f in home.visible_failures() if f.silenced] == ["host-003"]

        # R: asked first, then a re-scan of the two failing hosts; they succeed, the alarm resolves, rows go.
        job.outcomes.clear()
        await pilot.press("R")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("y")
        await ui.wait_for(pilot, lambda: any("Re-scan run" in m and "started" in m for m in app.messages),
                          what="which run started")
        runs = await engine.list_runs(task=task.id)
        rescan = next(r for r in runs if r.id != first.id)
        assert any(rescan.id in m for m in app.messages)
        await engine.wait_run(rescan.id, timeout=10)
        await ui.wait_for(pilot, lambda: not rows(home), what="the resolved alarm to drop out")
        assert (await engine.get_alarm(alarm.id)).state is AlarmState.RESOLVED
        await ui.wait_for(pilot, lambda: "0 open alarms · 0 failing hosts" in status_text(app), what="all clear")
        assert home.query_one("#failures-calm").display


async def test_enter_opens_the_alarms_latest_run_and_l_the_hosts_log(engine, ui):
    await engine.upsert_instances(fleet(5))
    task = await engine.create_task(task_input("nightly", "0 0 3 * * ?"))
    run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=10)
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded and len(rows(home)) == 2, what="the alarm")
        await select_host(pilot, home, "host-001")
        await pilot.press("enter")
        detail = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, RunDetailScreen) else None,
                                   what="the run detail")
        assert detail.run_id == run.id
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: app.screen is home, what="the dashboard")
        await pilot.press("l")
        detail = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, RunDetailScreen) else None,
                                   what="the log")
        assert (detail.run_id, detail.log_host) == (run.id, "host-001")


async def test_a_silence_the_engine_refuses_names_the_field_and_stores_nothing(engine, ui):
    await engine.upsert_instances(fleet(5))
    await engine.create_task(task_input("nightly", "0 0 3 * * ?"))
    await engine.wait_run((await engine.run_now("nightly")).id, timeout=10)
    app = PatchwatchApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded and len(rows(home)) == 2, what="the alarm")
        await pilot.press("s")
        form = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, SilenceForm) else None,
                                 what="the silence form")
        for name, text in (("category", "weather"), ("until", "soon"), ("reason", "maintenance")):
            field = form.query_one(f"#f-{name}")
            field.value = text
        await pilot.press("ctrl+s")
        until = form.query_one("#err-f-until")
        await ui.wait_for(pilot, lambda: until.display, what="the duration error")
        assert "not a duration" in str(until.render())
        form.query_one("#f-until").value = "0m"
        await pilot.press("ctrl+s")
        category = form.query_one("#err-f-category")
        await ui.wait_for(pilot, lambda: category.display, what="the category error")
        assert "category: must be one of" in str(category.render())
        assert "end" in str(until.render()) or "after the start" in str(until.render())
        assert await engine.list_silences() == []
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: app.screen is home, what="cancelled")
        assert await engine.list_silences() == []


def test_parse_end():
    now = datetime.fromisoformat("2026-11-26T00:00:00+00:00")
    assert parse_end("2h", now) == now + timedelta(hours=2)
    assert parse_end("1d 12h", now) == now + timedelta(days=1, hours=12)
    assert parse_end("90m", now) == now + timedelta(minutes=90)
    assert parse_end("2026-11-26T18:00:00+00:00", now) == now + timedelta(hours=18)
    assert parse_end("2026-11-26 18:00", now).tzinfo is not None
    for bad in ("", "soon", "2x"):
        with pytest.raises(ValueError):
            parse_end(bad, now)

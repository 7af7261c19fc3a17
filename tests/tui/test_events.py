"""EventsScreen: filters (kind, text, time, task), paging, live append, JSON-lines export."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from screen_host import Host, notices, wait_for
from support import NoIoJob, fleet, open_engine, task_input, utc

from console.clock import ManualClock
from console.domain.events import Event
from console.errors import ValidationError
from console.tui.screens import events as events_module
from console.tui.screens.events import EventFilter, EventsScreen, parse_instant
from console.tui.screens.run_detail import RunDetailScreen

START = "2026-11-26T00:00:00+00:00"
# Wide enough for every column (the run and the actor give way first on narrower terminals).
SIZE = (160, 45)
PLANTED = {"host-001": "network", "host-004": "permission", "host-007": "network"}


def kinds(screen: EventsScreen) -> list[str]:
    return [str(screen.table.get_cell(row.key, "kind")) for row in screen.table.ordered_rows]


@pytest.fixture
async def engine(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc(START)), NoIoJob(outcomes=dict(PLANTED)))
    await engine.upsert_instances(fleet(10))
    await engine.create_task(task_input("nightly-scan", "0 0 1 * * ?"))
    run = await engine.run_now("nightly-scan")
    await engine.idle()
    engine.test_run_id = run.id
    yield engine
    await engine.close()


async def type_filter(pilot, screen: EventsScreen, field: str, text: str) -> None:
    """Fill one filter box and press Enter in it (the value is set directly: typing is Input's business)."""
    box = screen.query_one(f"#filter-{field}")
    box.focus()
    box.value = text
    await pilot.press("enter")


async def test_filters_by_kind_and_text_and_exports_json_lines(engine):
    app = Host(lambda: EventsScreen(engine, export_dir=engine.data_dir / "exports"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        everything = await engine.query_events()
        await wait_for(pilot, lambda: screen.table.row_count == len(everything))

        await pilot.press("slash")  # / goes to the text box; Tab moves between the boxes
        assert app.focused is screen.query_one("#filter-text")
        screen.query_one("#filter-kind").focus()
        await pilot.press(*"host.", "enter")
        await wait_for(pilot, lambda: screen.table.row_count == 10)
        assert set(kinds(screen)) == {"host.finished"}
        assert app.focused is screen.table

        await type_filter(pilot, screen, "text", "permission")
        await wait_for(pilot, lambda: screen.table.row_count == 1)
        assert str(screen.table.get_cell(screen.table.ordered_rows[0].key, "host")) == "host-004"
        assert "kind=host., text=permission" in str(screen.query_one("#events-status").render())

        # A kind without a dot takes the family.
        await type_filter(pilot, screen, "text", "")
        await type_filter(pilot, screen, "kind", "run")
        await wait_for(pilot, lambda: screen.table.row_count > 0 and all(k.startswith("run.") for k in kinds(screen)))
        assert {"run.fired", "run.started", "run.finished"} <= set(kinds(screen))

        # x exports the current filter as JSON lines in the console's export directory.
        await type_filter(pilot, screen, "kind", "host.finished")
        await type_filter(pilot, screen, "text", "network")
        await wait_for(pilot, lambda: screen.table.row_count == 2)
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.last_export is not None)
        path = screen.last_export
        assert path.parent == screen.export_dir
        assert path.name == "events-20261126-000000.jsonl"
        assert any(str(path) in m for m in notices(app))
        lines = path.read_text(encoding="utf-8").splitlines()
        parsed = [json.loads(line) for line in lines]
        assert len(parsed) == 2
        assert all(p["kind"] == "host.finished" and p["data"]["category"] == "network" for p in parsed)
        assert sorted(p["host"] for p in parsed) == ["host-001", "host-007"]
        assert all(Event.from_dict(p).run_id == engine.test_run_id for p in parsed)
        # A second export in the same second does not overwrite the first.
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.last_export != path)
        assert screen.last_export.name == "events-20261126-000000-2.jsonl"

        # c clears every filter.
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.table.row_count == len(everything))


async def test_live_events_matching_the_filter_appear_on_top(engine):
    app = Host(lambda: EventsScreen(engine, export_dir=engine.data_dir / "exports"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await type_filter(pilot, screen, "kind", "run.finished")
        await wait_for(pilot, lambda: screen.table.row_count == 1)
        second = await engine.run_now("nightly-scan")
        await engine.idle()
        await wait_for(pilot, lambda: screen.table.row_count == 2)
        assert set(kinds(screen)) == {"run.finished"}
        # The newest is on top.
        newest = screen.table.ordered_rows[0].key
        assert str(screen.table.get_cell(newest, "run")) == second.id
        # Enter opens the event's run.
        screen.table.focus()
        screen.table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == second.id
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is screen


async def test_paging_loads_more(engine, monkeypatch):
    monkeypatch.setattr(events_module, "PAGE", 5)
    total = len(await engine.query_events())
    assert total > 10
    app = Host(lambda: EventsScreen(engine, export_dir=engine.data_dir / "exports"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: screen.table.row_count == 5)
        assert screen.has_more
        first_page = [str(r.key.value) for r in screen.table.ordered_rows]
        await pilot.press("m")
        await wait_for(pilot, lambda: screen.table.row_count == 10)
        # The next page goes below, the first stays on top in the same order.
        assert [str(r.key.value) for r in screen.table.ordered_rows][:5] == first_page
        newest_first = [e.id for e in await engine.query_events(limit=10)]
        assert [str(r.key.value) for r in screen.table.ordered_rows] == newest_first
        while screen.has_more:
            await pilot.press("m")
            await pilot.pause(0.05)
        assert screen.table.row_count == total
        await pilot.press("m")
        await wait_for(pilot, lambda: any("no older events" in m for m in notices(app)))


async def test_time_and_task_filters_and_their_errors(engine):
    app = Host(lambda: EventsScreen(engine, export_dir=engine.data_dir / "exports"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        total = len(await engine.query_events())
        await wait_for(pilot, lambda: screen.table.row_count == total)
        await type_filter(pilot, screen, "until", "-1h")
        await wait_for(pilot, lambda: screen.table.row_count == 0)
        await type_filter(pilot, screen, "until", "")
        await type_filter(pilot, screen, "since", "-1h")
        await wait_for(pilot, lambda: screen.table.row_count == total)
        await type_filter(pilot, screen, "since", "2026-11-27")
        await wait_for(pilot, lambda: screen.table.row_count == 0)
        # A bad value names the field and keeps the filter that was applied.
        await type_filter(pilot, screen, "since", "yesterday")
        await wait_for(pilot, lambda: any("since:" in m for m in notices(app)))
        assert screen.filter.since == "2026-11-27T00:00:00+00:00"
        await type_filter(pilot, screen, "since", "")
        await type_filter(pilot, screen, "task", "nightly-scan")
        await wait_for(pilot, lambda: screen.table.row_count > 0 and screen.filter.task_id is not None)
        assert {str(cell) for cell in screen.table.get_column("task")} == {"nightly-scan"}
        await type_filter(pilot, screen, "task", "no-such-task")
        await wait_for(pilot, lambda: any("no task with name or id" in m for m in notices(app)))


def test_parse_instant():
    now = datetime.fromisoformat("2026-11-26T12:00:00+00:00")
    assert parse_instant("", "since", now) is None
    assert parse_instant("-1h", "since", now) == "2026-11-26T11:00:00+00:00"
    assert parse_instant("-1d2h", "since", now) == "2026-11-25T10:00:00+00:00"
    assert parse_instant("now", "until", now) == "2026-11-26T12:00:00+00:00"
    assert parse_instant("2026-11-26", "since", now) == "2026-11-26T00:00:00+00:00"
    assert parse_instant("2026-11-26T08:00+08:00", "since", now) == "2026-11-26T00:00:00+00:00"
    for bad in ("yesterday", "-1x", "-", "2026-13-01"):
        with pytest.raises(ValidationError) as info:
            parse_instant(bad, "since", now)
        assert info.value.errors[0].field == "since"


def test_live_filter_matches_like_the_engine():
    event = Event(kind="host.finished", at="2026-11-26T00:00:00+00:00", message="host-1: failed (network: x)",
                  task_id="ST1", run_id="RN1", host="host-1", data={"category": "network"}, id="EV1")
    assert EventFilter().matches(event)
    assert EventFilter(kind="host.").matches(event)
    assert not EventFilter(kind="host").matches(event)
    assert EventFilter(kind="host.finished", text="NETWORK").matches(event)
    assert not EventFilter(text="permission").matches(event)
    assert EventFilter(since="2026-11-26T00:00:00+00:00").matches(event)
    assert not EventFilter(until="2026-11-26T00:00:00+00:00").matches(event)
    assert not EventFilter(run_id="RN2").matches(event)
    assert not EventFilter(host="host-2").matches(event)
    assert not EventFilter(task_id="ST2").matches(event)


async def test_a_resize_with_events_shown_redraws_them_with_their_task_names(engine):
    """Shrinking the terminal redraws the rows in the narrower layout (from names read earlier: a resize
    cannot wait for the engine), and every row still names its task."""
    app = Host(lambda: EventsScreen(engine, export_dir=engine.data_dir / "exports"))
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.table.row_count > 5)
        wide = screen.layout_name
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: screen.layout_name != wide)
        await pilot.pause(0.1)
        assert screen.table.row_count == len(screen.events)
        cells = [str(c) for key in screen.table.rows for c in screen.table.get_row(key)]
        assert any("nightly-scan" in c for c in cells), "task names survive the new layout"

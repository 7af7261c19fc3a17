"""InventoryScreen: read-only instances table with text and group filters, following inventory changes."""

from __future__ import annotations

import pytest
from screen_host import Host, wait_for
from support import fleet, open_engine, utc

from console.clock import ManualClock
from console.jobs import Target
from console.tui.screens.inventory import IMPORT_HINT, InventoryScreen

START = "2026-11-26T00:00:00+00:00"
SIZE = (120, 40)


def names(screen: InventoryScreen) -> list[str]:
    return [str(row.key.value) for row in screen.table.ordered_rows]


@pytest.fixture
async def engine(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc(START)))
    yield engine
    await engine.close()


async def test_lists_filters_by_text_and_group(engine):
    await engine.upsert_instances([
        *fleet(3, "web"),
        Target(name="db-01", address="10.0.0.5", port=2222, user="scan", credential="ops", groups=("db", "prod"),
               labels={"dc": "fra"}),
        Target(name="db-02", address="10.0.0.6", groups=("db",)),
    ])
    app = Host(lambda: InventoryScreen(engine))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: screen.table.row_count == 5)
        assert names(screen) == ["db-01", "db-02", "host-000", "host-001", "host-002"]
        assert [str(c) for c in screen.table.get_row("db-01")] == [
            "db-01", "10.0.0.5", "2222", "scan", "ops", "db, prod"]
        assert IMPORT_HINT in str(screen.query_one("#inventory-hint").render())

        # / filters on any column and on labels; Esc clears.
        await pilot.press("slash", *"fra")
        assert names(screen) == ["db-01"]
        await pilot.press("escape")
        assert screen.table.row_count == 5 and app.focused is screen.table
        await pilot.press("slash", *"10.0.0.6", "enter")
        assert names(screen) == ["db-02"] and app.focused is screen.table
        await pilot.press("escape")

        # g cycles the groups: db, prod, web, then all again.
        await pilot.press("g")
        assert screen.group == "db" and names(screen) == ["db-01", "db-02"]
        await pilot.press("g")
        assert screen.group == "prod" and names(screen) == ["db-01"]
        await pilot.press("g")
        assert screen.group == "web" and len(names(screen)) == 3
        assert "3 of 5 instances · group web" in str(screen.query_one("#inventory-status").render())
        await pilot.press("g")
        assert screen.group is None and screen.table.row_count == 5
        await pilot.press("g", "G")
        assert screen.group is None


async def test_follows_imports_and_removals_and_shows_the_hint_when_empty(engine):
    app = Host(lambda: InventoryScreen(engine))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        await wait_for(pilot, lambda: IMPORT_HINT in str(screen.query_one("#inventory-status").render()))
        assert screen.table.row_count == 0
        await engine.import_inventory("[cache]\ncache-01 ansible_host=10.0.0.9 ansible_user=scan\n",
                                      source="hosts.ini")
        await wait_for(pilot, lambda: names(screen) == ["cache-01"])
        assert str(screen.table.get_cell("cache-01", "address")) == "10.0.0.9"
        await engine.remove_instances(["cache-01"])
        await wait_for(pilot, lambda: screen.table.row_count == 0)
        assert screen.table.size.height >= 10  # usable at 80x24

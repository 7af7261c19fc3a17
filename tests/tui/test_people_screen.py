"""PeopleScreen (``:oncall``) against a real engine holding the example people.toml, on a manual clock.

The rota (tests/notify/fixtures/people.toml): patch-duty/on-duty is daily, handover 09:00 Asia/Shanghai from
2026-11-01, alice then bob; carol covers 2026-12-24 09:00 to 12-26 09:00; team-lead is dave, fixed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from screen_host import Host, wait_for
from support import open_engine, utc
from textual.app import App
from textual.widgets import DataTable, Static

from console.clock import ManualClock
from console.errors import ValidationError
from console.notify.people import parse_people_toml
from console.tui.screens.help import keys_of
from console.tui.screens.people import PeopleScreen, duty_outlook, parse_at

PEOPLE = Path(__file__).parents[1] / "notify" / "fixtures" / "people.toml"
#: 10:00 in Shanghai on the 5th: period 4 of the rota, alice's.
START = "2026-11-05T02:00:00+00:00"
ON_DUTY = "patch-duty/on-duty"
LEAD = "patch-duty/team-lead"


def cell(table: DataTable[Any], key: str, column: str) -> str:
    try:
        return str(table.get_cell(key, column))
    except Exception:  # noqa: BLE001 - the row is not there (yet)
        return ""


def all_cells(table: DataTable[Any]) -> str:
    return "\n".join(str(value) for row in table.ordered_rows for value in table.get_row(row.key))


def toasts(app: App[Any]) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(utc(START))


@pytest.fixture
async def engine(tmp_path, clock):
    engine = await open_engine(tmp_path / "data", clock, channels_path=tmp_path / "no-channels.toml")
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def staffed(engine):
    await engine.import_people(PEOPLE.read_text())
    return engine


async def test_who_is_on_duty_now_until_when_and_next_and_the_people_with_masked_apprise(staffed, clock):
    app = Host(lambda: PeopleScreen(staffed))
    async with app.run_test(size=(80, 24)) as pilot:  # the smallest terminal an operator may have
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, PeopleScreen)
        duty, people = screen.duty_table, screen.people_table
        await wait_for(pilot, lambda: duty.row_count == 2 and people.row_count == 4)
        assert [str(r.key.value) for r in duty.ordered_rows] == [ON_DUTY, LEAD]  # escalation order
        assert cell(duty, ON_DUTY, "on_duty") == "alice"
        # Until the next handover, in the role's wall clock (09:00 Shanghai = 01:00 UTC on the 6th).
        assert cell(duty, ON_DUTY, "until") == "2026-11-06 09:00 CST (in 23h)"
        assert cell(duty, ON_DUTY, "next") == "bob"
        assert "later: carol 2026-12-24 09:00 CST" in cell(duty, ON_DUTY, "overrides")
        assert "daily at 09:00 Asia/Shanghai" in cell(duty, ON_DUTY, "rota")
        assert cell(duty, LEAD, "on_duty") == "dave"
        assert cell(duty, LEAD, "until") == "no change ahead"
        assert "2026-11-05 02:00:00 UTC (now)" in str(duty.border_title)

        # People: addresses and preferred modes; whoever is on duty says which role.
        assert cell(people, "alice", "email") == "alice@example.com"
        assert cell(people, "alice", "duty") == ON_DUTY
        assert cell(people, "alice", "modes") == "dingtalk > email"
        assert cell(people, "bob", "dingtalk") == "by mobile"
        assert cell(people, "dave", "duty") == LEAD
        # Apprise URLs carry tokens: the scheme only, nowhere the secret.
        assert cell(people, "carol", "apprise") == "tgram://***"
        assert "SECRETTOKEN" not in all_cells(people) + all_cells(duty)
        assert "SECRETTOKEN" not in app.export_screenshot()
        assert not screen.query_one("#people-hint", Static).display
        assert duty.size.height >= 6 and people.size.height >= 6

        # The "at" line: who is on duty at another time.
        await pilot.press("a")
        assert app.focused is screen.at_input
        await pilot.press(*"2026-11-06T02:00", "enter")
        await wait_for(pilot, lambda: cell(duty, ON_DUTY, "on_duty") == "bob")
        assert cell(duty, ON_DUTY, "next") == "alice"
        assert cell(duty, ON_DUTY, "until").startswith("2026-11-07 09:00 CST")
        assert cell(people, "bob", "duty") == ON_DUTY and cell(people, "alice", "duty") == "-"
        assert "(asked" in str(duty.border_title)

        # Christmas: carol's cover is in force, and the rota resumes with bob when it ends.
        await pilot.press("a")
        screen.at_input.value = ""
        await pilot.press(*"2026-12-25T10:00+08:00", "enter")
        await wait_for(pilot, lambda: cell(duty, ON_DUTY, "on_duty") == "carol")
        assert cell(duty, ON_DUTY, "overrides") == "carol until 2026-12-26 09:00 CST"
        assert cell(duty, ON_DUTY, "until").startswith("2026-12-26 09:00 CST (in 23h)")
        assert cell(duty, ON_DUTY, "next") == "bob"  # period 55 (from 2026-12-26 09:00) is bob's

        # A bad time is refused with the field and the rule; the answer stays.
        await pilot.press("a")
        screen.at_input.value = ""
        await pilot.press(*"tomorrow", "enter")
        await wait_for(pilot, lambda: any(m.startswith("at: must be now") for m in toasts(app)))
        assert screen.at_input.has_class("-invalid")
        assert cell(duty, ON_DUTY, "on_duty") == "carol"
        await pilot.press("escape")  # leaves the input, not the screen
        assert isinstance(app.screen, PeopleScreen) and app.focused is duty

        # n: back to now.
        await pilot.press("n")
        await wait_for(pilot, lambda: cell(duty, ON_DUTY, "on_duty") == "alice")
        assert "(now)" in str(duty.border_title)


async def test_follows_the_clock_across_a_handover(staffed, clock):
    app = Host(lambda: PeopleScreen(staffed, refresh_every=0.1))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, PeopleScreen)
        await wait_for(pilot, lambda: cell(screen.duty_table, ON_DUTY, "on_duty") == "alice")
        await clock.set(utc("2026-11-06T00:59:00+00:00"))
        await wait_for(pilot, lambda: cell(screen.duty_table, ON_DUTY, "until").endswith("(in 1m)"))
        assert cell(screen.duty_table, ON_DUTY, "on_duty") == "alice"
        await clock.set(utc("2026-11-06T01:00:00+00:00"))  # 09:00 in Shanghai: bob takes over
        await wait_for(pilot, lambda: cell(screen.duty_table, ON_DUTY, "on_duty") == "bob")


async def test_empty_directory_hints_at_the_import_and_an_import_fills_the_screen(engine):
    app = Host(lambda: PeopleScreen(engine))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, PeopleScreen)
        hint = screen.query_one("#people-hint", Static)
        await wait_for(pilot, lambda: hint.display)
        assert "patchwatch people import FILE.toml" in str(hint.render())
        assert screen.duty_table.row_count == 0 and screen.people_table.row_count == 0

        await engine.import_people(PEOPLE.read_text())  # people.imported: the screen refreshes by itself
        await wait_for(pilot, lambda: screen.people_table.row_count == 4 and screen.duty_table.row_count == 2)
        assert not hint.display
        assert cell(screen.duty_table, ON_DUTY, "on_duty") == "alice"
        descriptions = {k.description for k in keys_of(screen, app)}
        assert {"At time", "Now", "Reload", "Back"} <= descriptions


def test_every_key_has_a_description_for_the_footer_and_the_help():
    described = {b.key: b.description for b in PeopleScreen.BINDINGS}  # type: ignore[union-attr]
    assert all(described.values()), described
    assert {"escape", "a", "n", "r"} <= described.keys()


def test_parse_at_reads_iso_times_and_names_the_field_when_it_cannot():
    assert parse_at("") is None and parse_at(" now ") is None
    assert parse_at("2026-12-24T10:00") == datetime(2026, 12, 24, 10, 0, tzinfo=UTC)
    assert parse_at("2026-12-24T10:00+08:00") == datetime(2026, 12, 24, 2, 0, tzinfo=UTC)
    with pytest.raises(ValidationError) as caught:
        parse_at("next tuesday")
    assert caught.value.errors[0].field == "at"


def test_duty_outlook_before_the_rota_starts_and_across_a_rota_of_one():
    directory = parse_people_toml(PEOPLE.read_text())
    role = directory.role("patch-duty", "on-duty")
    before = duty_outlook(role, utc("2026-10-30T00:00:00+00:00"))
    assert before.until == utc("2026-11-01T01:00:00+00:00") and before.next_holders == ("alice",)
    lead = directory.role("patch-duty", "team-lead")
    assert duty_outlook(lead, utc(START)).until is None
    solo = parse_people_toml(PEOPLE.read_text().replace('people = ["alice", "bob"]', 'people = ["alice"]'))
    outlook = duty_outlook(solo.role("patch-duty", "on-duty"), utc(START))
    # Alice takes every turn: the next change is carol's Christmas cover, not tomorrow's handover.
    assert outlook.until == utc("2026-12-24T01:00:00+00:00") and outlook.next_holders == ("carol",)

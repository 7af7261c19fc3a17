"""People and shifts: who is on duty at every boundary, in every zone, across DST, and every validation rule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from console.errors import ValidationError
from console.notify.people import (
    Directory,
    Override,
    Person,
    Role,
    Scenario,
    mask_url,
    merge,
    parse_people_toml,
    wall_instant,
)

FIXTURE = Path(__file__).parent / "fixtures" / "people.toml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, zone: ZoneInfo, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def directory(*roles: Role, people: tuple[str, ...] = ("alice", "bob", "carol", "dave")) -> Directory:
    return Directory({n: Person(n, email=f"{n}@example.com") for n in people},
                     {"s": Scenario("s", tuple(roles))})


def names(d: Directory, role: str, at: datetime) -> list[str]:
    return [p.name for p in d.on_duty("s", role, at)]


def daily(name: str = "r", *, people: tuple[str, ...] = ("alice", "bob"), handover: time = time(9, 0),
          zone: str = "Asia/Shanghai", start: date = date(2026, 11, 1), rotation: str = "daily",
          overrides: tuple[Override, ...] = ()) -> Role:
    return Role(name, rotation, people, handover, zone, start, overrides)  # type: ignore[arg-type]


@pytest.fixture
def fixture_dir() -> Directory:
    return parse_people_toml(FIXTURE.read_text(encoding="utf-8"), source=str(FIXTURE))


# --------------------------------------------------------------------------------------------------
# The example file and people
# --------------------------------------------------------------------------------------------------


def test_fixture_loads(fixture_dir: Directory) -> None:
    assert list(fixture_dir.people) == ["alice", "bob", "carol", "dave"]
    alice = fixture_dir.person("alice")
    assert alice.mobile == "+8613800000001"
    assert alice.modes == ("dingtalk", "email")
    scenario = fixture_dir.scenario("patch-duty")
    assert [r.name for r in scenario.roles] == ["on-duty", "team-lead"]
    on_duty = scenario.roles[0]
    assert (on_duty.rotation, on_duty.handover, on_duty.timezone, on_duty.start) == (
        "daily", time(9, 0), "Asia/Shanghai", date(2026, 11, 1))
    assert on_duty.overrides[0].person == "carol"
    assert on_duty.overrides[0].start == local("2026-12-24T09:00", SHANGHAI)
    lead = scenario.roles[1]
    assert (lead.rotation, lead.people, lead.timezone) == ("fixed", ("dave",), "UTC")


def test_address_per_mode() -> None:
    p = Person("alice", email="a@example.com", mobile="+8613800000001", wecom="alice.w")
    assert p.address("email") == "a@example.com"
    assert p.address("sms") == "+8613800000001"
    assert p.address("wecom") == "alice.w"
    assert p.address("dingtalk") == "+8613800000001"  # no DingTalk id: the mobile reaches them there
    assert Person("b", mobile="+8613800000002", dingtalk="ding-b").address("dingtalk") == "ding-b"
    assert p.address("telegram") is None
    assert Person("c").address("email") is None


def test_apprise_urls_are_masked_when_shown(fixture_dir: Directory) -> None:
    carol = fixture_dir.person("carol")
    assert carol.apprise == ("tgram://123456:SECRETTOKEN/987654",)
    assert "SECRETTOKEN" not in repr(carol)
    assert "SECRETTOKEN" not in str(carol)
    assert carol.masked_apprise() == ("tgram://***",)
    assert mask_url("no scheme secret") == "***"


# --------------------------------------------------------------------------------------------------
# Daily and weekly rotation
# --------------------------------------------------------------------------------------------------


def test_daily_rotation_changes_at_handover(fixture_dir: Directory) -> None:
    def who(text: str) -> list[str]:
        return [p.name for p in fixture_dir.on_duty("patch-duty", "on-duty", local(text, SHANGHAI))]

    assert who("2026-11-01T08:59") == []  # before the first period
    assert who("2026-11-01T09:00") == ["alice"]
    assert who("2026-11-02T08:59") == ["alice"]
    assert who("2026-11-02T09:00") == ["bob"]
    assert who("2026-11-03T08:59:59") == ["bob"]
    assert who("2026-11-03T09:00") == ["alice"]  # the rota wraps
    assert who("2026-11-30T12:00") == ["bob"]  # period 29


def test_before_start_nobody_is_on_duty() -> None:
    d = directory(daily())
    assert names(d, "r", local("2026-10-01T12:00", SHANGHAI)) == []
    assert names(d, "r", local("2026-11-01T08:59:59", SHANGHAI)) == []
    assert d.role("s", "r").period_at(local("2026-10-31T23:00", SHANGHAI)) is None
    assert names(d, "r", local("2026-11-01T09:00", SHANGHAI)) == ["alice"]


def test_weekly_rotation() -> None:
    role = daily(rotation="weekly", people=("alice", "bob", "carol"), handover=time(10, 0),
                 start=date(2026, 11, 2))  # a Monday
    d = directory(role)
    at = lambda text: names(d, "r", local(text, SHANGHAI))  # noqa: E731
    assert at("2026-11-02T09:59") == []
    assert at("2026-11-02T10:00") == ["alice"]
    assert at("2026-11-08T23:59") == ["alice"]
    assert at("2026-11-09T09:59") == ["alice"]
    assert at("2026-11-09T10:00") == ["bob"]
    assert at("2026-11-16T10:00") == ["carol"]
    assert at("2026-11-23T10:00") == ["alice"]
    period = role.period_at(local("2026-11-12T00:00", SHANGHAI))
    assert period is not None
    assert period.index == 1
    assert (period.start, period.end) == (local("2026-11-09T10:00", SHANGHAI), local("2026-11-16T10:00", SHANGHAI))


def test_duplicate_names_in_a_rota_take_two_turns() -> None:
    d = directory(daily(people=("alice", "alice", "bob")))
    assert [names(d, "r", local(f"2026-11-0{n}T10:00", SHANGHAI)) for n in (1, 2, 3, 4)] == [
        ["alice"], ["alice"], ["bob"], ["alice"]]


def test_fixed_role_is_everyone_always(fixture_dir: Directory) -> None:
    for at in (utc("2000-01-01T00:00"), utc("2026-12-25T03:00"), utc("2030-06-01T12:00")):
        assert [p.name for p in fixture_dir.on_duty("patch-duty", "team-lead", at)] == ["dave"]
    d = directory(daily(rotation="fixed", people=("alice", "bob", "alice")))
    assert names(d, "r", utc("2026-01-01T00:00")) == ["alice", "bob"]


# --------------------------------------------------------------------------------------------------
# Time zones and DST
# --------------------------------------------------------------------------------------------------


def test_same_instant_seen_from_shanghai_and_new_york() -> None:
    d = directory(daily("sh", zone="Asia/Shanghai"), daily("ny", zone="America/New_York"))
    instant = utc("2026-11-02T01:00")  # 09:00 on Nov 2 in Shanghai; 20:00 EST on Nov 1 in New York
    assert names(d, "sh", instant) == ["bob"]  # period 1 began at this very instant
    assert names(d, "ny", instant) == ["alice"]  # period 0 began at 09:00 EST on Nov 1 (14:00 UTC)
    # The answer depends on the instant, not on the zone the caller wrote it in.
    for same in (instant.astimezone(SHANGHAI), instant.astimezone(NEW_YORK), instant.astimezone(ZoneInfo("UTC"))):
        assert names(d, "sh", same) == ["bob"]
        assert names(d, "ny", same) == ["alice"]
    assert names(d, "sh", instant - timedelta(minutes=1)) == ["alice"]
    ny = d.role("s", "ny").period_at(instant)
    assert ny is not None
    assert ny.start == utc("2026-11-01T14:00")


def test_fixed_offset_zone() -> None:
    d = directory(daily(zone="GMT+08:00"))
    assert names(d, "r", utc("2026-11-02T00:59")) == ["alice"]
    assert names(d, "r", utc("2026-11-02T01:00")) == ["bob"]


def test_daily_period_is_23_or_25_hours_across_dst_but_changes_at_local_time() -> None:
    role = daily(zone="America/New_York", start=date(2026, 3, 1))
    spring = role.period_at(local("2026-03-07T12:00", NEW_YORK))
    assert spring is not None
    assert spring.start == local("2026-03-07T09:00", NEW_YORK) == utc("2026-03-07T14:00")
    assert spring.end == local("2026-03-08T09:00", NEW_YORK) == utc("2026-03-08T13:00")
    assert spring.end - spring.start == timedelta(hours=23)

    autumn = role.period_at(local("2026-10-31T12:00", NEW_YORK))
    assert autumn is not None
    assert autumn.start == utc("2026-10-31T13:00")  # 09:00 EDT
    assert autumn.end == utc("2026-11-01T14:00")  # 09:00 EST
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_handover_inside_the_spring_forward_gap_happens_at_the_first_valid_instant() -> None:
    # 02:30 does not exist on 2026-03-08 in New York (02:00 EST -> 03:00 EDT): the handover is at 03:00 EDT.
    assert wall_instant(date(2026, 3, 8), time(2, 30), NEW_YORK) == utc("2026-03-08T07:00")
    role = daily(zone="America/New_York", handover=time(2, 30), start=date(2026, 3, 1))
    d = directory(role)
    # Mar 8 is day 7: period 7 (bob) starts there; period 6 (alice) runs until then.
    assert names(d, "r", local("2026-03-08T01:59", NEW_YORK)) == ["alice"]
    assert names(d, "r", utc("2026-03-08T06:59:59")) == ["alice"]
    assert names(d, "r", local("2026-03-08T03:00", NEW_YORK)) == ["bob"]
    assert names(d, "r", local("2026-03-08T03:30", NEW_YORK)) == ["bob"]
    period = role.period_at(local("2026-03-08T12:00", NEW_YORK))
    assert period is not None
    assert period.index == 7
    assert period.start == utc("2026-03-08T07:00")
    assert period.end == local("2026-03-09T02:30", NEW_YORK)  # back to the stated time the next day
    assert period.end - period.start == timedelta(hours=23, minutes=30)


def test_handover_inside_the_fall_back_overlap_happens_at_the_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01 in New York (01:30 EDT = 05:30 UTC, 01:30 EST = 06:30 UTC).
    assert wall_instant(date(2026, 11, 1), time(1, 30), NEW_YORK) == utc("2026-11-01T05:30")
    role = daily(zone="America/New_York", handover=time(1, 30), start=date(2026, 10, 25))
    d = directory(role)
    assert names(d, "r", local("2026-11-01T01:29", NEW_YORK)) == ["alice"]  # period 6, EDT
    assert names(d, "r", local("2026-11-01T01:30", NEW_YORK, fold=0)) == ["bob"]  # period 7 begins
    assert names(d, "r", local("2026-11-01T01:30", NEW_YORK, fold=1)) == ["bob"]  # the second 01:30 changes nothing
    assert names(d, "r", local("2026-11-01T01:59", NEW_YORK, fold=1)) == ["bob"]
    period = role.period_at(utc("2026-11-01T06:30"))
    assert period is not None
    assert period.index == 7
    assert period.start == utc("2026-11-01T05:30")
    assert period.end == utc("2026-11-02T06:30")  # 01:30 EST on Nov 2
    assert period.end - period.start == timedelta(hours=25)
    assert names(d, "r", utc("2026-11-02T06:29")) == ["bob"]
    assert names(d, "r", utc("2026-11-02T06:30")) == ["alice"]


def test_naive_instant_is_refused() -> None:
    d = directory(daily())
    with pytest.raises(ValueError, match="aware"):
        d.on_duty("s", "r", datetime(2026, 11, 2, 9, 0))


# --------------------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------------------


def test_override_from_the_file_is_read_in_the_roles_zone(fixture_dir: Directory) -> None:
    def who(at: datetime) -> list[str]:
        return [p.name for p in fixture_dir.on_duty("patch-duty", "on-duty", at)]

    assert who(utc("2026-12-24T00:59")) != ["carol"]  # 08:59 in Shanghai
    assert who(utc("2026-12-24T01:00")) == ["carol"]  # 09:00 in Shanghai
    assert who(utc("2026-12-26T00:59")) == ["carol"]
    assert who(utc("2026-12-26T01:00")) == ["bob"]  # until is exclusive; period 55 is bob's
    # The override does not touch the fixed team lead.
    assert [p.name for p in fixture_dir.on_duty("patch-duty", "team-lead", utc("2026-12-25T00:00"))] == ["dave"]


def test_overlapping_overrides_give_all_their_people() -> None:
    o1 = Override("carol", utc("2026-11-10T00:00"), utc("2026-11-12T00:00"))
    o2 = Override("dave", utc("2026-11-11T00:00"), utc("2026-11-13T00:00"))
    o3 = Override("carol", utc("2026-11-11T06:00"), utc("2026-11-11T07:00"))
    d = directory(daily(overrides=(o1, o2, o3)))
    assert names(d, "r", utc("2026-11-10T12:00")) == ["carol"]
    assert names(d, "r", utc("2026-11-11T06:30")) == ["carol", "dave"]  # carol once
    assert names(d, "r", utc("2026-11-12T00:00")) == ["dave"]
    assert names(d, "r", utc("2026-11-13T00:00")) == ["bob"]


def test_override_applies_before_start_and_to_fixed_roles() -> None:
    cover = Override("carol", utc("2026-10-01T00:00"), utc("2026-10-02T00:00"))
    d = directory(daily(overrides=(cover,)), daily("lead", rotation="fixed", people=("dave",), overrides=(cover,)))
    assert names(d, "r", utc("2026-10-01T12:00")) == ["carol"]
    assert names(d, "lead", utc("2026-10-01T12:00")) == ["carol"]
    assert names(d, "lead", utc("2026-10-02T00:00")) == ["dave"]


def test_override_times_with_offsets_and_toml_datetimes() -> None:
    text = PEOPLE + """
[[scenario]]
name = "s"
  [[scenario.role]]
  name = "r"
  rotation = "daily"
  handover = 09:00:00
  timezone = "America/New_York"
  start = 2026-11-01
  people = ["alice"]
    [[scenario.role.override]]
    person = "bob"
    from = "2026-11-05T09:00+08:00"
    until = 2026-11-06T00:00:00Z
    [[scenario.role.override]]
    person = "bob"
    from = 2026-11-08T01:30:00
    until = "2026-11-08T02:00"
"""
    role = parse_people_toml(text).role("s", "r")
    assert role.handover == time(9, 0)
    assert role.start == date(2026, 11, 1)
    assert role.overrides[0].start == utc("2026-11-05T01:00")
    assert role.overrides[0].end == utc("2026-11-06T00:00")
    # Local TOML date-times are read in the role's zone (EST after Nov 1).
    assert role.overrides[1].start == utc("2026-11-08T06:30")


# --------------------------------------------------------------------------------------------------
# Lookups, escalation, storage, import
# --------------------------------------------------------------------------------------------------


def test_next_role_follows_the_scenario_order(fixture_dir: Directory) -> None:
    assert fixture_dir.next_role("patch-duty", "on-duty") == "team-lead"
    assert fixture_dir.next_role("patch-duty", "team-lead") is None


@pytest.mark.parametrize(("call", "field"), [
    (lambda d: d.on_duty("nope", "on-duty", utc("2026-12-01T00:00")), "notify.scenario"),
    (lambda d: d.on_duty("patch-duty", "nope", utc("2026-12-01T00:00")), "notify.roles"),
    (lambda d: d.next_role("nope", "on-duty"), "notify.scenario"),
    (lambda d: d.next_role("patch-duty", "nope"), "notify.roles"),
    (lambda d: d.person("zed"), "notify.people"),
])
def test_unknown_names_raise_validation_errors(fixture_dir: Directory, call, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        call(fixture_dir)
    assert [e.field for e in info.value.errors] == [field]
    assert "unknown" in info.value.errors[0].rule or "has no role" in info.value.errors[0].rule


def test_to_dict_round_trips_through_json(fixture_dir: Directory) -> None:
    data = json.loads(json.dumps(fixture_dir.to_dict()))
    again = Directory.from_dict(data)
    assert again == fixture_dir
    assert again.person("carol").apprise == fixture_dir.person("carol").apprise
    at = utc("2026-12-25T00:00")
    assert again.on_duty("patch-duty", "on-duty", at) == fixture_dir.on_duty("patch-duty", "on-duty", at)


def test_from_dict_validates_the_store() -> None:
    with pytest.raises(ValidationError) as info:
        Directory.from_dict({"person": [{"name": "x", "email": "nope"}], "scenario": []})
    assert [e.field for e in info.value.errors] == ["person[0].email"]


def test_merge_adds_and_replaces_by_name(fixture_dir: Directory) -> None:
    incoming = parse_people_toml("""
[[person]]
name = "bob"
email = "bob@new.example.com"
[[person]]
name = "erin"
email = "erin@example.com"
[[scenario]]
name = "night"
  [[scenario.role]]
  name = "watch"
  rotation = "fixed"
  people = ["erin"]
""")
    merged = merge(fixture_dir, incoming)
    assert list(merged.people) == ["alice", "bob", "carol", "dave", "erin"]
    assert merged.person("bob").email == "bob@new.example.com"
    assert list(merged.scenarios) == ["patch-duty", "night"]
    assert fixture_dir.person("bob").email == "bob@example.com"  # the input is untouched
    replacing = Directory({}, {"patch-duty": Scenario("patch-duty", (daily("only", people=("erin",)),))})
    again = merge(merged, replacing)
    assert [r.name for r in again.scenario("patch-duty").roles] == ["only"]


# --------------------------------------------------------------------------------------------------
# Validation: every problem, each naming its field
# --------------------------------------------------------------------------------------------------

PEOPLE = """
[[person]]
name = "alice"
email = "alice@example.com"
[[person]]
name = "bob"
mobile = "+8613800000002"
"""

ROLE = """
[[scenario]]
name = "s"
  [[scenario.role]]
  name = "r"
  rotation = "daily"
  handover = "09:00"
  timezone = "Asia/Shanghai"
  start = "2026-11-01"
  people = ["alice", "bob"]
"""


def problems(text: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        parse_people_toml(text)
    return {e.field: e.rule for e in info.value.errors}


CASES = [
    # people
    (PEOPLE + '[[person]]\nname = "alice"\n' + ROLE, "person[2].name", "already defined by person[0]"),
    (PEOPLE + '[[person]]\nemail = "x@example.com"\n' + ROLE, "person[2].name", "needs a name"),
    (PEOPLE + '[[person]]\nname = " lead"\n' + ROLE, "person[2].name", "not a valid person name"),
    (PEOPLE + '[[person]]\nname = "c"\nemail = "c.example.com"\n' + ROLE, "person[2].email", "exactly one @"),
    (PEOPLE + '[[person]]\nname = "c"\nemail = "c@x@example.com"\n' + ROLE, "person[2].email", "exactly one @"),
    (PEOPLE + '[[person]]\nname = "c"\nemail = "c@localhost"\n' + ROLE, "person[2].email", "dot"),
    (PEOPLE + '[[person]]\nname = "c"\nemail = "@example.com"\n' + ROLE, "person[2].email", "before the @"),
    (PEOPLE + '[[person]]\nname = "c"\nemail = "c d@example.com"\n' + ROLE, "person[2].email", "spaces"),
    (PEOPLE + '[[person]]\nname = "c"\nemail = 42\n' + ROLE, "person[2].email", "must be a string"),
    (PEOPLE + '[[person]]\nname = "c"\nmobile = "13800000001"\n' + ROLE, "person[2].mobile", "6-15 digits"),
    (PEOPLE + '[[person]]\nname = "c"\nmobile = "+12345"\n' + ROLE, "person[2].mobile", "6-15 digits"),
    (PEOPLE + '[[person]]\nname = "c"\nmobile = "+1234567890123456"\n' + ROLE, "person[2].mobile", "6-15 digits"),
    (PEOPLE + '[[person]]\nname = "c"\nmobile = "+86 138 0000 0001"\n' + ROLE, "person[2].mobile", "6-15 digits"),
    (PEOPLE + '[[person]]\nname = "c"\ndingtalk = "+12"\n' + ROLE, "person[2].dingtalk", "6-15 digits"),
    (PEOPLE + '[[person]]\nname = "c"\nwecom = "has space"\n' + ROLE, "person[2].wecom", "no spaces"),
    (PEOPLE + '[[person]]\nname = "c"\nemial = "c@example.com"\n' + ROLE, "person[2].emial", "unknown key"),
    (PEOPLE + '[[person]]\nname = "c"\nmodes = ["sms"]\n' + ROLE, "person[2].modes[0]", "set mobile"),
    (PEOPLE + '[[person]]\nname = "c"\nmodes = ["dingtalk"]\n' + ROLE, "person[2].modes[0]", "dingtalk or mobile"),
    (PEOPLE + '[[person]]\nname = "c"\nemail = "c@example.com"\nmodes = ["email", "email"]\n' + ROLE,
     "person[2].modes[1]", "listed twice"),
    (PEOPLE + '[[person]]\nname = "c"\nmodes = ["E-Mail"]\n' + ROLE, "person[2].modes[0]", "not a notification mode"),
    (PEOPLE + '[[person]]\nname = "c"\nmodes = "email"\n' + ROLE, "person[2].modes[0]", "set email"),
    # scenarios and roles
    (PEOPLE + ROLE + ROLE, "scenario[s].name", "defined twice"),
    (PEOPLE + ROLE + '  [[scenario.role]]\n  name = "r"\n  rotation = "fixed"\n  people = ["bob"]\n',
     "scenario[s].role[r].name", "defined twice"),
    (PEOPLE + '[[scenario]]\nname = "s"\n', "scenario[s].role", "at least one"),
    (PEOPLE + '[[scenario]]\nroles = []\n', "scenario[0].name", "needs a name"),
    (PEOPLE + ROLE.replace('["alice", "bob"]', '["alice", "zed"]'), "scenario[s].role[r].people[1]",
     "unknown person 'zed'"),
    (PEOPLE + ROLE.replace('["alice", "bob"]', '[]'), "scenario[s].role[r].people", "at least one person"),
    (PEOPLE + ROLE.replace('people = ["alice", "bob"]', ''), "scenario[s].role[r].people", "at least one person"),
    (PEOPLE + ROLE.replace('["alice", "bob"]', '["alice", 7]'), "scenario[s].role[r].people[1]", "non-empty string"),
    (PEOPLE + ROLE.replace('"daily"', '"monthly"'), "scenario[s].role[r].rotation", "daily, weekly, fixed"),
    (PEOPLE + ROLE.replace('rotation = "daily"', ''), "scenario[s].role[r].rotation", "daily, weekly, fixed"),
    (PEOPLE + ROLE.replace('"09:00"', '"9:00"'), "scenario[s].role[r].handover", "HH:MM"),
    (PEOPLE + ROLE.replace('"09:00"', '"24:00"'), "scenario[s].role[r].handover", "HH:MM"),
    (PEOPLE + ROLE.replace('"09:00"', '"09:60"'), "scenario[s].role[r].handover", "HH:MM"),
    (PEOPLE + ROLE.replace('handover = "09:00"', ''), "scenario[s].role[r].handover", "needs a handover"),
    (PEOPLE + ROLE.replace('"Asia/Shanghai"', '"Mars/Olympus"'), "scenario[s].role[r].timezone",
     "unknown time zone 'Mars/Olympus'"),
    (PEOPLE + ROLE.replace('"Asia/Shanghai"', '"GMT+08:75"'), "scenario[s].role[r].timezone", "minutes"),
    (PEOPLE + ROLE.replace('timezone = "Asia/Shanghai"', ''), "scenario[s].role[r].timezone", "needs a time zone"),
    (PEOPLE + ROLE.replace('"2026-11-01"', '"2026-13-01"'), "scenario[s].role[r].start", "YYYY-MM-DD"),
    (PEOPLE + ROLE.replace('start = "2026-11-01"', ''), "scenario[s].role[r].start", "first period"),
    (PEOPLE + ROLE + '  shift = "x"\n', "scenario[s].role[r].shift", "unknown key"),
    # overrides
    (PEOPLE + ROLE + '    [[scenario.role.override]]\n    person = "zed"\n    from = "2026-12-24T09:00"\n'
     '    until = "2026-12-25T09:00"\n', "scenario[s].role[r].override[0].person", "unknown person 'zed'"),
    (PEOPLE + ROLE + '    [[scenario.role.override]]\n    person = "bob"\n    from = "2026-12-24T09:00"\n'
     '    until = "2026-12-24T09:00"\n', "scenario[s].role[r].override[0].until", "must be after from"),
    (PEOPLE + ROLE + '    [[scenario.role.override]]\n    person = "bob"\n    from = "2026-12-24T09:00"\n'
     '    until = "2026-12-23T09:00+08:00"\n', "scenario[s].role[r].override[0].until", "must be after from"),
    (PEOPLE + ROLE + '    [[scenario.role.override]]\n    person = "bob"\n    from = "Christmas"\n'
     '    until = "2026-12-25T09:00"\n', "scenario[s].role[r].override[0].from", "date-time"),
    (PEOPLE + ROLE + '    [[scenario.role.override]]\n    person = "bob"\n    from = "2026-12-24T09:00"\n',
     "scenario[s].role[r].override[0].until", "required"),
    # the file
    ("[[person]\nname = 'x'\n", "people.toml", "not valid TOML"),
    ('person = "alice"\n', "person", "list of [[person]]"),
    (PEOPLE + ROLE + '[teams]\nx = 1\n', "people.toml.teams", "unknown key"),
]


@pytest.mark.parametrize(("text", "field", "words"), CASES, ids=[f"{i}:{c[1]}" for i, c in enumerate(CASES)])
def test_each_problem_names_its_field(text: str, field: str, words: str) -> None:
    found = problems(text)
    assert field in found, found
    assert words in found[field]


def test_apprise_url_problems_never_echo_the_secret() -> None:
    found = problems(PEOPLE + '[[person]]\nname = "c"\napprise = ["SECRET-TOKEN-123"]\n' + ROLE)
    assert "person[2].apprise[0]" in found
    assert "SECRET-TOKEN-123" not in " ".join(found.values())


def test_every_problem_is_listed_at_once() -> None:
    text = """
[[person]]
name = "alice"
email = "alice-at-example.com"
mobile = "12345"
[[person]]
name = "alice"
[[scenario]]
name = "patch-duty"
  [[scenario.role]]
  name = "on-duty"
  rotation = "hourly"
  handover = "9am"
  timezone = "Nowhere/City"
  start = "2026-11-01"
  people = ["alice", "bob"]
    [[scenario.role.override]]
    person = "carol"
    from = "2026-12-26T09:00"
    until = "2026-12-24T09:00"
  [[scenario.role]]
  name = "team-lead"
  rotation = "fixed"
  people = []
"""
    found = problems(text)
    role = "scenario[patch-duty].role[on-duty]"
    assert set(found) == {
        "person[0].email", "person[0].mobile", "person[1].name",
        f"{role}.rotation", f"{role}.handover", f"{role}.timezone", f"{role}.people[1]",
        f"{role}.override[0].person",
        "scenario[patch-duty].role[team-lead].people",
    }
    # The override's times cannot be read without the role's zone; the zone is what is reported.


def test_a_bad_person_does_not_orphan_rota_entries() -> None:
    """One bad email is one problem, not also an 'unknown person' wherever that person is named."""
    found = problems(PEOPLE.replace("alice@example.com", "alice@") + ROLE)
    assert set(found) == {"person[0].email"}


def test_override_with_its_own_offset_is_checked_even_when_the_zone_is_bad() -> None:
    text = PEOPLE + ROLE.replace('"Asia/Shanghai"', '"Nowhere"') + (
        '    [[scenario.role.override]]\n    person = "bob"\n    from = "2026-12-24T09:00+08:00"\n'
        '    until = "2026-12-24T08:00+08:00"\n')
    found = problems(text)
    assert set(found) == {"scenario[s].role[r].timezone", "scenario[s].role[r].override[0].until"}


def test_empty_file_is_an_empty_directory() -> None:
    assert parse_people_toml("") == Directory()

"""Time-zone parsing: IANA names and GMT offsets, the spellings stored, and the labels shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from console.domain.timezones import canonical_zone, format_offset, parse_zone, zone_label, zone_name
from console.errors import ValidationError


@pytest.mark.parametrize("name", ["Asia/Shanghai", "America/New_York", "UTC", "Europe/London", "Etc/UTC"])
def test_iana_names_give_zoneinfo(name: str) -> None:
    zone = parse_zone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name
    assert canonical_zone(name) == name


@pytest.mark.parametrize(("text", "minutes", "canonical"), [
    ("GMT+08:00", 480, "GMT+08:00"),
    ("GMT+8", 480, "GMT+08:00"),
    ("gmt+8", 480, "GMT+08:00"),
    ("GMT+0800", 480, "GMT+08:00"),
    ("UTC-05:30", -330, "GMT-05:30"),
    ("utc-5", -300, "GMT-05:00"),
    ("GMT", 0, "GMT+00:00"),
    ("GMT+14:00", 840, "GMT+14:00"),
    ("GMT-14:00", -840, "GMT-14:00"),
    ("  GMT+05:45 ", 345, "GMT+05:45"),
])
def test_fixed_offsets(text: str, minutes: int, canonical: str) -> None:
    zone = parse_zone(text)
    assert isinstance(zone, timezone)
    assert zone.utcoffset(None) == timedelta(minutes=minutes)
    assert zone.tzname(None) == canonical
    assert canonical_zone(text) == canonical


def test_utc_spellings() -> None:
    # Bare "utc" in any case is the IANA UTC zone; Etc/UTC keeps its own key.
    assert canonical_zone("utc") == "UTC"
    assert isinstance(parse_zone("utc"), ZoneInfo)
    assert canonical_zone("Etc/UTC") == "Etc/UTC"


def test_iana_case_is_fixed_so_the_stored_key_loads_everywhere() -> None:
    assert canonical_zone("asia/shanghai") == "Asia/Shanghai"
    assert parse_zone("america/new_york").utcoffset(datetime(2026, 1, 1)) == timedelta(hours=-5)


def test_etc_gmt_keeps_its_posix_sign() -> None:
    # Etc/GMT-8 is a real IANA key and means +08:00; it is not rewritten.
    assert parse_zone("Etc/GMT-8").utcoffset(datetime(2026, 1, 1)) == timedelta(hours=8)


def _rules(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        parse_zone(text)
    return [(e.field, e.rule) for e in info.value.errors]


def test_unknown_zone_message() -> None:
    assert _rules("Mars/Base") == [(
        "timezone",
        "unknown time zone 'Mars/Base': use an IANA name such as Asia/Shanghai "
        "or an offset such as GMT+08:00",
    )]


@pytest.mark.parametrize("text", ["../etc", "/etc/passwd", "America", "Asia/", "GMT+", "GMT+8:0", "nul\x00",
                                  "GMT++8", "EST5EDT6"])
def test_odd_keys_are_unknown_not_crashes(text: str) -> None:
    ((field, rule),) = _rules(text)
    assert field == "timezone"
    assert rule.startswith("unknown time zone")


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_is_rejected(text: str) -> None:
    ((field, rule),) = _rules(text)
    assert field == "timezone"
    assert "required" in rule


@pytest.mark.parametrize("text", ["GMT+15:00", "GMT+14:30", "UTC-15", "GMT+99"])
def test_offsets_beyond_14_hours_are_rejected(text: str) -> None:
    ((field, rule),) = _rules(text)
    assert field == "timezone"
    assert "between GMT-14:00 and GMT+14:00" in rule
    assert text in rule


def test_offset_minutes_must_be_below_60() -> None:
    ((field, rule),) = _rules("GMT+08:60")
    assert field == "timezone"
    assert "minutes must be 00-59" in rule


def test_canonical_zone_validates_too() -> None:
    with pytest.raises(ValidationError):
        canonical_zone("Mars/Base")


def test_zone_label_uses_abbreviations_or_offsets() -> None:
    ny = ZoneInfo("America/New_York")
    assert zone_label(ny, datetime(2026, 1, 15, 12, tzinfo=UTC)) == "EST"
    assert zone_label(ny, datetime(2026, 7, 15, 12, tzinfo=UTC)) == "EDT"
    assert zone_label(parse_zone("GMT+8"), datetime(2026, 7, 15, tzinfo=UTC)) == "GMT+08:00"
    # tzdata's numeric abbreviation "+04" reads like arithmetic: shown as an offset instead.
    assert zone_label(ZoneInfo("Asia/Dubai"), datetime(2026, 7, 15, tzinfo=UTC)) == "GMT+04:00"
    assert zone_label(ZoneInfo("UTC"), datetime(2026, 7, 15, tzinfo=UTC)) == "UTC"


def test_zone_label_takes_naive_as_wall_time() -> None:
    ny = ZoneInfo("America/New_York")
    # 2026-11-01 01:30 happens twice; fold picks the occurrence.
    assert zone_label(ny, datetime(2026, 11, 1, 1, 30)) == "EDT"
    assert zone_label(ny, datetime(2026, 11, 1, 1, 30, fold=1)) == "EST"


def test_zone_name_and_format_offset() -> None:
    assert zone_name(ZoneInfo("Asia/Shanghai")) == "Asia/Shanghai"
    assert zone_name(parse_zone("UTC+5:30")) == "GMT+05:30"
    assert format_offset(timedelta(hours=-3, minutes=-30)) == "GMT-03:30"
    assert format_offset(timedelta(0)) == "GMT+00:00"

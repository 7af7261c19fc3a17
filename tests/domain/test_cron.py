"""Cron expressions: both dialects, every Quartz day construct on real dates, DST, errors, descriptions."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from console.domain import cron
from console.domain.cron import CronExpression, parse_cron, simple_to_cron
from console.domain.timezones import parse_zone
from console.errors import ValidationError

NY = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEXT_YEAR = datetime.now(UTC).year + 1


def fire_dates(text: str, start: date, end: date, zone: ZoneInfo | None = None) -> list[date]:
    """Dates on which ``text`` fires in [start, end], computed through the public API."""
    tz = zone or ZoneInfo("UTC")
    begin = datetime.combine(start, datetime.min.time(), tz) - timedelta(seconds=1)
    finish = datetime.combine(end, datetime.max.time(), tz)
    # Built directly, not via parse_cron, so fixed past years in the table below stay testable.
    expr = CronExpression(text, "crontab" if len(text.split()) == 5 else "quartz")
    return [f.date() for f in expr.fires_between(tz, begin, finish)]


def days_where(start: date, end: date, test: Callable[[date], bool]) -> list[date]:
    out, d = [], start
    while d <= end:
        if test(d):
            out.append(d)
        d += timedelta(days=1)
    return out


def last_of_month(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def month_days(d: date) -> list[date]:
    return [date(d.year, d.month, n) for n in range(1, last_of_month(d) + 1)]


def nearest_weekday(d: date, n: int) -> bool:
    """Oracle for ``nW``: the Monday-Friday of the same month closest to day n (no such day -> none)."""
    if n > last_of_month(d):
        return False
    weekdays = [x for x in month_days(d) if x.weekday() < 5]
    return d == min(weekdays, key=lambda x: abs(x.day - n))


START, END = date(2026, 1, 1), date(2028, 12, 31)

#: expression -> independent oracle over calendar dates, checked for three full years.
ORACLES: dict[str, Callable[[date], bool]] = {
    "0 0 0 L * ?": lambda d: d.day == last_of_month(d),
    "0 0 0 LW * ?": lambda d: d == max(x for x in month_days(d) if x.weekday() < 5),
    "0 0 0 L-3 * ?": lambda d: d.day == last_of_month(d) - 3,
    "0 0 0 L-0 * ?": lambda d: d.day == last_of_month(d),
    "0 0 0 15W * ?": lambda d: nearest_weekday(d, 15),
    "0 0 0 1W * ?": lambda d: nearest_weekday(d, 1),
    "0 0 0 31W * ?": lambda d: nearest_weekday(d, 31),
    "0 0 0 30W * ?": lambda d: nearest_weekday(d, 30),
    "0 0 0 ? * 6L": lambda d: d.weekday() == 4 and d.day + 7 > last_of_month(d),
    "0 0 0 ? * FRIL": lambda d: d.weekday() == 4 and d.day + 7 > last_of_month(d),
    "0 0 0 ? * 1L": lambda d: d.weekday() == 6 and d.day + 7 > last_of_month(d),
    "0 0 0 ? * L": lambda d: d.weekday() == 5,
    "0 0 0 ? * 6#3": lambda d: d.weekday() == 4 and 15 <= d.day <= 21,
    "0 0 0 ? * FRI#3": lambda d: d.weekday() == 4 and 15 <= d.day <= 21,
    "0 0 0 ? * 2#1": lambda d: d.weekday() == 0 and d.day <= 7,
    "0 0 0 ? * 2#5": lambda d: d.weekday() == 0 and d.day >= 29,
    "0 0 0 ? * 2": lambda d: d.weekday() == 0,
    "0 0 0 ? * 1": lambda d: d.weekday() == 6,
    "0 0 0 ? * 7": lambda d: d.weekday() == 5,
    "0 0 0 ? * MON-FRI": lambda d: d.weekday() < 5,
    "0 0 0 ? * fri-mon": lambda d: d.weekday() in (4, 5, 6, 0),
    "0 0 0 ? * 1/2": lambda d: d.weekday() in (6, 1, 3, 5),  # SUN, TUE, THU, SAT
    "0 0 0 ? * 2-6/2": lambda d: d.weekday() in (0, 2, 4),
    "0 0 0 ? * SUN,SAT": lambda d: d.weekday() >= 5,
    "0 0 0 1,15 * ?": lambda d: d.day in (1, 15),
    "0 0 0 1-3 * ?": lambda d: d.day <= 3,
    "0 0 0 */10 * ?": lambda d: d.day in (1, 11, 21, 31),
    "0 0 0 29 2 ?": lambda d: (d.month, d.day) == (2, 29),
    "0 0 0 L 2 ?": lambda d: d.month == 2 and d.day == last_of_month(d),
    "0 0 0 1 JAN,jul ?": lambda d: d.day == 1 and d.month in (1, 7),
    "0 0 0 1 */4 ?": lambda d: d.day == 1 and d.month in (1, 5, 9),
    "0 0 0 1 NOV-FEB ?": lambda d: d.day == 1 and d.month in (11, 12, 1, 2),
    "0 0 0 * * ?": lambda d: True,
    "0 0 0 * * ? 2027": lambda d: d.year == 2027,
    "0 0 0 1 1 ? 2026/2": lambda d: (d.month, d.day) == (1, 1) and d.year % 2 == 0,
    # crontab: 0 and 7 are Sunday, and both day fields restricted means either
    "0 0 * * 0": lambda d: d.weekday() == 6,
    "0 0 * * 7": lambda d: d.weekday() == 6,
    "0 0 * * 1-5": lambda d: d.weekday() < 5,
    "0 0 1 * 1": lambda d: d.day == 1 or d.weekday() == 0,
    "0 0 13 * FRI": lambda d: d.day == 13 or d.weekday() == 4,
    "0 0 L * 5": lambda d: d.day == last_of_month(d) or d.weekday() == 4,
    "0 0 15W * *": lambda d: nearest_weekday(d, 15),
    "0 0 * * 5L": lambda d: d.weekday() == 4 and d.day + 7 > last_of_month(d),
    "0 0 * * 5#2": lambda d: d.weekday() == 4 and 8 <= d.day <= 14,
    "0 0 1 * 5#2": lambda d: d.day == 1 or (d.weekday() == 4 and 8 <= d.day <= 14),
}


@pytest.mark.parametrize("text", list(ORACLES))
def test_days_match_an_independent_calendar_oracle(text: str) -> None:
    assert fire_dates(text, START, END) == days_where(START, END, ORACLES[text])


@pytest.mark.parametrize("text", [t for t in ORACLES if cron._compile(t).native and "20" not in t])
def test_croniter_and_the_day_predicate_agree(text: str) -> None:
    """Where croniter matches days itself, the in-house day predicate must pick the same slots."""
    plan = cron._compile(text)
    fields = plan.cron_text.split()
    fields[3] = fields[5] = "*"
    other = replace(plan, native=False, day_or=False, cron_text=" ".join(fields))
    walls_a, walls_b = [], []
    a = b = datetime(2026, 1, 1)
    for _ in range(40):
        a, b = cron._next_wall(plan, a), cron._next_wall(other, b)
        walls_a.append(a)
        walls_b.append(b)
    assert walls_a == walls_b


# --- the brief's examples, with real dates ---------------------------------------------------------------

def test_fifth_of_the_month_in_gmt_plus_8() -> None:
    fires = parse_cron("0 15 3 5 * ?").next_fires(
        parse_zone("GMT+08:00"), datetime.fromisoformat("2026-11-26T00:00:00+08:00"), 3)
    assert [f.isoformat() for f in fires] == [
        "2026-12-05T03:15:00+08:00", "2027-01-05T03:15:00+08:00", "2027-02-05T03:15:00+08:00"]


def test_quartz_2_is_monday_only() -> None:
    fires = parse_cron("0 0 9 ? * 2").next_fires(SHANGHAI, datetime(2026, 11, 26, tzinfo=SHANGHAI), 10)
    assert len(fires) == 10
    assert all(f.weekday() == 0 and (f.hour, f.minute, f.second) == (9, 0, 0) for f in fires)
    assert fires[0] == datetime(2026, 11, 30, 9, tzinfo=SHANGHAI)
    assert all(b - a == timedelta(days=7) for a, b in zip(fires, fires[1:], strict=False))


def test_third_friday() -> None:
    fires = parse_cron("0 0 9 ? * 6#3").next_fires(SHANGHAI, datetime(2026, 1, 1, tzinfo=SHANGHAI), 4)
    assert [f.date() for f in fires] == [date(2026, 1, 16), date(2026, 2, 20), date(2026, 3, 20),
                                         date(2026, 4, 17)]


def test_last_day_of_month_including_february() -> None:
    got = fire_dates("0 0 0 L * ?", date(2026, 1, 1), date(2028, 3, 31))
    assert date(2026, 2, 28) in got and date(2027, 2, 28) in got and date(2028, 2, 29) in got
    assert date(2028, 2, 28) not in got
    assert got[:4] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


def test_last_weekday_and_days_before_last_on_real_dates() -> None:
    lw = fire_dates("0 0 0 LW * ?", date(2026, 1, 1), date(2026, 5, 31))
    # Jan 31 2026 is a Saturday, Feb 28 a Saturday, May 31 a Sunday: all move back to Friday.
    assert lw == [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 31), date(2026, 4, 30),
                  date(2026, 5, 29)]
    l3 = fire_dates("0 0 0 L-3 * ?", date(2026, 1, 1), date(2028, 3, 1))
    assert date(2026, 1, 28) in l3 and date(2026, 2, 25) in l3 and date(2028, 2, 26) in l3


def test_nearest_weekday_on_real_dates() -> None:
    w15 = fire_dates("0 0 0 15W * ?", date(2026, 1, 1), date(2026, 12, 31))
    assert date(2026, 2, 16) in w15     # Sunday the 15th -> Monday 16th
    assert date(2026, 8, 14) in w15     # Saturday the 15th -> Friday 14th
    assert date(2026, 1, 15) in w15     # a Thursday stays
    assert len(w15) == 12
    w1 = fire_dates("0 0 0 1W * ?", date(2026, 1, 1), date(2026, 12, 31))
    assert date(2026, 8, 3) in w1       # Saturday the 1st -> Monday 3rd, not Friday in July
    assert date(2026, 7, 31) not in w1
    assert date(2026, 2, 2) in w1       # Sunday the 1st -> Monday 2nd
    w31 = fire_dates("0 0 0 31W * ?", date(2026, 1, 1), date(2026, 12, 31))
    assert date(2026, 5, 29) in w31     # Sunday the 31st -> Friday 29th, never June 1st
    assert date(2026, 1, 30) in w31     # Saturday the 31st -> Friday 30th
    assert all(d.month in (1, 3, 5, 7, 8, 10, 12) for d in w31)  # months without a 31st do not fire


def test_last_friday_and_l_alone_in_day_of_week() -> None:
    assert fire_dates("0 0 0 ? * 6L", date(2026, 1, 1), date(2026, 4, 30)) == [
        date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27), date(2026, 4, 24)]
    saturdays = fire_dates("0 0 0 ? * L", date(2026, 1, 1), date(2026, 1, 31))
    assert saturdays == [date(2026, 1, 3), date(2026, 1, 10), date(2026, 1, 17), date(2026, 1, 24),
                         date(2026, 1, 31)]


def test_names_any_case_are_normalized() -> None:
    expr = parse_cron("  0 0  9 ? jan,Jul  mon-fri ")
    assert expr.text == "0 0 9 ? JAN,JUL MON-FRI"
    assert expr.dialect == "quartz"
    fires = expr.next_fires(NY, datetime(2026, 6, 1, tzinfo=NY), 3)
    assert [f.date() for f in fires] == [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]


def test_steps_in_time_fields() -> None:
    day_start = datetime(2026, 6, 1, tzinfo=SHANGHAI) - timedelta(seconds=1)
    day_end = datetime(2026, 6, 1, 23, 59, 59, tzinfo=SHANGHAI)
    assert len(parse_cron("0 0/15 * * * ?").fires_between(SHANGHAI, day_start, day_end)) == 96
    assert len(parse_cron("0 */5 * * * ?").fires_between(SHANGHAI, day_start, day_end)) == 288
    minutes = parse_cron("0 10-40/10 8 * * ?").fires_between(SHANGHAI, day_start, day_end)
    assert [f.minute for f in minutes] == [10, 20, 30, 40]
    seconds = parse_cron("*/20 0 8 * * ?").fires_between(SHANGHAI, day_start, day_end)
    assert [f.second for f in seconds] == [0, 20, 40]
    hours = parse_cron("0 0 22-2 * * ?").fires_between(SHANGHAI, day_start, day_end)
    assert [f.hour for f in hours] == [0, 1, 2, 22, 23]


def test_seven_field_year() -> None:
    expr = parse_cron(f"0 30 6 1 1 ? {NEXT_YEAR}")
    first = expr.next_after(SHANGHAI, datetime(NEXT_YEAR - 1, 12, 1, tzinfo=SHANGHAI))
    assert first == datetime(NEXT_YEAR, 1, 1, 6, 30, tzinfo=SHANGHAI)
    assert expr.next_after(SHANGHAI, first) is None
    assert expr.next_fires(SHANGHAI, datetime(NEXT_YEAR - 1, 12, 1, tzinfo=SHANGHAI), 5) == [first]
    ranged = parse_cron(f"0 0 0 1 1 ? {NEXT_YEAR}-{NEXT_YEAR + 2}")
    fires = ranged.next_fires(SHANGHAI, datetime(NEXT_YEAR - 1, 6, 1, tzinfo=SHANGHAI), 10)
    assert [f.year for f in fires] == [NEXT_YEAR, NEXT_YEAR + 1, NEXT_YEAR + 2]


# --- crontab ---------------------------------------------------------------------------------------------

def test_crontab_zero_is_sunday() -> None:
    expr = parse_cron("30 2 * * 0")
    assert expr.dialect == "crontab"
    fires = expr.next_fires(SHANGHAI, datetime(2026, 11, 26, tzinfo=SHANGHAI), 3)
    assert [f.isoformat() for f in fires] == [
        "2026-11-29T02:30:00+08:00", "2026-12-06T02:30:00+08:00", "2026-12-13T02:30:00+08:00"]


def test_crontab_ors_day_of_month_and_day_of_week() -> None:
    got = fire_dates("0 0 1 * 1", date(2026, 1, 1), date(2026, 2, 28))
    assert got[:2] == [date(2026, 1, 1), date(2026, 1, 5)]   # Thursday the 1st, then Mondays
    assert date(2026, 2, 1) in got and date(2026, 2, 2) in got
    assert len(got) == 2 + 8  # the two 1sts and the Mondays Jan 5, 12, 19, 26, Feb 2, 9, 16, 23


# --- DST -------------------------------------------------------------------------------------------------

def utc_stamps(fires: list[datetime]) -> list[float]:
    return [f.timestamp() for f in fires]


def assert_strictly_increasing(fires: list[datetime]) -> None:
    stamps = utc_stamps(fires)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps), "an instant was returned twice"


def on_day(expr: str, day: date, zone: ZoneInfo = NY) -> list[datetime]:
    start = datetime.combine(day, datetime.min.time(), zone) - timedelta(seconds=1)
    end = datetime.combine(day, datetime.max.time(), zone)
    fires = parse_cron(expr).fires_between(zone, start, end)
    assert_strictly_increasing(fires)
    return fires


def test_spring_forward_gap_runs_once_right_after_the_gap() -> None:
    fires = on_day("0 30 2 * * ?", date(2026, 3, 8))
    assert len(fires) == 1
    assert fires[0].isoformat() == "2026-03-08T03:00:00-04:00"
    assert fires[0].tzname() == "EDT"


def test_every_minute_of_the_missing_hour_collapses_to_one_fire() -> None:
    fires = on_day("0 * 2 * * ?", date(2026, 3, 8))
    assert [f.isoformat() for f in fires] == ["2026-03-08T03:00:00-04:00"]
    # ...and when the expression also fires at 03:00 itself, that is the same run.
    both = on_day("0 0,30 2,3 * * ?", date(2026, 3, 8))
    assert [f.isoformat() for f in both] == ["2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"]


def test_every_second_through_the_gap_is_fast_and_unique() -> None:
    expr = parse_cron("* * * * * ?")
    start = datetime(2026, 3, 8, 1, 59, 58, tzinfo=NY)
    fires = expr.next_fires(NY, start, 4)
    assert [f.isoformat() for f in fires] == [
        "2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:00:01-04:00",
        "2026-03-08T03:00:02-04:00"]


def test_fall_back_overlap_fixed_hour_runs_once() -> None:
    fires = on_day("0 30 1 * * ?", date(2026, 11, 1))
    assert [f.isoformat() for f in fires] == ["2026-11-01T01:30:00-04:00"]
    # Stateless: asking again from that fire (or from the second 01:30) gives the next day.
    nxt = parse_cron("0 30 1 * * ?").next_after(NY, fires[0])
    assert nxt is not None and nxt.isoformat() == "2026-11-02T01:30:00-05:00"
    second_occurrence = datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=1)
    assert parse_cron("0 30 1 * * ?").next_after(NY, second_occurrence) == nxt
    minutes = on_day("0 * 1 * * ?", date(2026, 11, 1))
    assert len(minutes) == 60 and all(f.tzname() == "EDT" for f in minutes)


def test_hourly_fires_in_both_occurrences_of_the_repeated_hour() -> None:
    fires = on_day("0 0 * * * ?", date(2026, 11, 1))
    assert len(fires) == 25
    ones = [f for f in fires if f.hour == 1]
    assert [(f.isoformat(), f.tzname()) for f in ones] == [
        ("2026-11-01T01:00:00-04:00", "EDT"), ("2026-11-01T01:00:00-05:00", "EST")]
    assert ones[1] - ones[0] == timedelta(0)  # same wall time in one tzinfo: compare in UTC instead
    assert ones[1].timestamp() - ones[0].timestamp() == 3600


def test_hourly_is_stateless_from_any_instant_in_the_overlap() -> None:
    expr = parse_cron("0 */20 * * * ?")
    expected = ["01:00-04:00", "01:20-04:00", "01:40-04:00", "01:00-05:00", "01:20-05:00", "01:40-05:00",
                "02:00-05:00"]
    got = expr.next_fires(NY, datetime(2026, 11, 1, 0, 59, tzinfo=NY), 7)
    assert [f.isoformat()[11:16] + f.isoformat()[19:] for f in got] == expected
    # Restart from every instant every 5 minutes through the two hours: always the next one of the list.
    instants = [datetime(2026, 11, 1, 4, 55, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(30)]
    for instant in instants:
        nxt = expr.next_after(NY, instant)
        assert nxt is not None
        assert nxt.timestamp() > instant.timestamp()
        assert nxt.timestamp() - instant.timestamp() <= 20 * 60


def test_step_over_the_day_counts_as_repeating_hours() -> None:
    fires = on_day("0 0 1/2 * * ?", date(2026, 11, 1))
    assert [f.isoformat()[11:] for f in fires[:3]] == ["01:00:00-04:00", "01:00:00-05:00", "03:00:00-05:00"]
    # while a fixed list of hours does not
    assert len([f for f in on_day("0 0 1,13 * * ?", date(2026, 11, 1)) if f.hour == 1]) == 1


def test_dst_in_crontab_dialect_too() -> None:
    assert [f.isoformat() for f in on_day("30 2 * * *", date(2026, 3, 8))] == ["2026-03-08T03:00:00-04:00"]
    assert [f.isoformat() for f in on_day("30 1 * * *", date(2026, 11, 1))] == ["2026-11-01T01:30:00-04:00"]


def test_half_hour_dst_zone() -> None:
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # moves 30 minutes
    fires = on_day("0 0 2 * * ?", date(2026, 10, 4), lord_howe)
    assert [f.isoformat() for f in fires] == ["2026-10-04T02:30:00+11:00"]


def test_dst_notes() -> None:
    notes = parse_cron("0 30 2 * * ?").dst_notes(NY, datetime(2026, 1, 1, tzinfo=NY), days=365)
    assert notes == ["2026-03-08 02:30 does not exist in America/New_York (clocks spring forward): "
                     "runs once at 03:00 EDT"]
    fall = parse_cron("0 30 1 * * ?").dst_notes(NY, datetime(2026, 6, 1, tzinfo=NY), days=200)
    assert fall == ["2026-11-01 01:30 occurs twice in America/New_York (clocks fall back): runs once, "
                    "at the first occurrence (EDT)"]
    hourly = parse_cron("0 0 * * * ?").dst_notes(NY, datetime(2026, 6, 1, tzinfo=NY), days=300)
    assert len(hourly) == 2 and "EDT and again in EST" in hourly[0] and "03:00 EDT" in hourly[1]
    minutes = parse_cron("0 * 2 * * ?").dst_notes(NY, datetime(2026, 1, 1, tzinfo=NY), days=100)
    assert minutes == ["2026-03-08 02:00-02:59 (60 fire times) do not exist in America/New_York "
                       "(clocks spring forward): they run once at 03:00 EDT"]
    assert parse_cron("0 0 12 * * ?").dst_notes(NY, datetime(2026, 1, 1, tzinfo=NY)) == []
    fixed = parse_zone("GMT-05:00")
    assert parse_cron("0 30 2 * * ?").dst_notes(fixed, datetime(2026, 1, 1, tzinfo=UTC)) == []
    assert parse_cron("0 30 2 * * ?").dst_notes(SHANGHAI, datetime(2026, 1, 1, tzinfo=UTC)) == []


# --- rejections ------------------------------------------------------------------------------------------

def rejected(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        parse_cron(text)
    return [(e.field, e.rule) for e in info.value.errors]


@pytest.mark.parametrize(("text", "field", "words"), [
    ("0 0 0 30 2 ?", "day-of-month", "never fires"),
    ("0 0 0 31 4 ?", "day-of-month", "never fires"),
    ("0 0 0 30W 2 ?", "day-of-month", "never fires"),
    ("0 0 0 L-30 2 ?", "day-of-month", "never fires"),
    ("0 0 30 2 *", "day-of-month", "never fires"),
    ("0 0 0 1 1 ? 2020", "year", "in the past"),
    ("0 0 0 ? 2 6#5 2027", "year", "never fires"),   # February 2027 has four Fridays
    ("0 0 0 32 * ?", "day-of-month", "value 32 is out of range 1-31"),
    ("0 61 * * * ?", "minute", "value 61 is out of range 0-59"),
    ("60 0 0 * * ?", "second", "value 60 is out of range 0-59"),
    ("0 0 24 * * ?", "hour", "value 24 is out of range 0-23"),
    ("0 0 0 * 13 ?", "month", "value 13 is out of range 1-12"),
    ("0 0 0 * * ? 1969", "year", "value 1969 is out of range 1970-2099"),
    ("0 0 0 ? * 8", "day-of-week", "value 8 is out of range 1-7"),
    ("0 0 0 ? * 0", "day-of-week", "0 is crontab style"),
    ("0 0 * * 8", "day-of-week", "value 8 is out of range 0-7"),
    ("0 0 0 5 * 2", "day-of-week", "'?' in one of them"),
    ("0 0 0 L * 6#3", "day-of-week", "'?' in one of them"),
    # Quartz: exactly one day field is '?' ('*' in both, '?' in both, or a full range are all refused)
    ("0 0 0 * * *", "day-of-week", "exactly one"),
    ("0 0 0 ? * ?", "day-of-week", "exactly one"),
    ("0 0 0 1-31 * MON", "day-of-week", "exactly one"),
    ("0 0 0 * * MON", "day-of-week", "exactly one"),
    ("a b c", "expression", "got 3"),
    ("* * *", "expression", "got 3"),
    ("0 0 0 * * ? 2030 1", "expression", "got 8"),
    ("0 0 0 ? * FOO", "day-of-week", "'FOO' is not a day name"),
    ("0 0 0 ? FOO *", "month", "'FOO' is not a month name"),
    ("", "expression", "a cron expression is required"),
    ("   ", "expression", "a cron expression is required"),
    ("0 0 ? * * ?", "hour", "'?' is only allowed in day-of-month or day-of-week"),
    ("0 */0 * * * ?", "minute", "step 0"),
    ("0 0 0 1,L * ?", "day-of-month", "must stand alone"),
    ("0 0 0 ? * 1,6L", "day-of-week", "must stand alone"),
    ("0 0 0 ? * 6#6", "day-of-week", "must be 1-5"),
    ("0 0 0 L-31 * ?", "day-of-month", "out of range 0-30"),
    ("0 0 0 ? * * 2030-2027", "year", "runs backwards"),
    ("0 0 0 1-x * ?", "day-of-month", "'X' is not a number"),
    ("0 0 0 ?,1 * *", "day-of-month", "'?' must stand alone"),
])
def test_rejections_name_the_field(text: str, field: str, words: str) -> None:
    errors = rejected(text)
    assert [f for f, _ in errors] == [field], errors
    assert words in errors[0][1]


def test_field_count_message() -> None:
    assert rejected("a b c") == [("expression", "expected 5 fields (crontab) or 6-7 fields (Quartz: sec min "
                                                "hour day-of-month month day-of-week [year]), got 3")]


def test_every_broken_field_is_reported_at_once() -> None:
    fields = [f for f, _ in rejected("x 61 0 32 * ?")]
    assert fields == ["second", "minute", "day-of-month"]


def test_never_fires_detection_is_fast() -> None:
    began = time.perf_counter()
    for text in ("0 0 0 30 2 ?", "0 0 0 ? 2 6#5 2027", "0 0 0 31W 4,6,9,11 ?"):
        for _ in range(20):
            cron._compile.cache_clear()
            with pytest.raises(ValidationError):
                parse_cron(text)
    assert time.perf_counter() - began < 1.0


def test_never_fires_detection_accepts_rare_but_real_dates() -> None:
    assert parse_cron("0 0 0 29 2 ?").next_after(NY, datetime(2026, 3, 1, tzinfo=NY)) == datetime(
        2028, 2, 29, tzinfo=NY)
    assert parse_cron("0 0 0 ? 2 6#5 2026-2099").next_after(UTC_ZONE, datetime(2026, 3, 1, tzinfo=UTC)) == (
        datetime(2036, 2, 29, tzinfo=UTC_ZONE))


UTC_ZONE = ZoneInfo("UTC")


# --- the value object ------------------------------------------------------------------------------------

def test_direct_construction_normalizes_and_checks_the_dialect() -> None:
    expr = CronExpression("0  0 9 ? * mon", "quartz")
    assert expr.text == "0 0 9 ? * MON"
    assert expr == parse_cron("0 0 9 ? * MON")
    assert hash(expr) == hash(parse_cron("0 0 9 ? * MON"))
    with pytest.raises(ValidationError):
        CronExpression("0 0 * * *", "quartz")
    # A stored task whose year has passed still loads; it simply never fires again.
    old = CronExpression("0 0 0 1 1 ? 2020", "quartz")
    assert old.next_after(NY, datetime(2026, 1, 1, tzinfo=NY)) is None


def test_aware_datetimes_are_required() -> None:
    with pytest.raises(ValueError):
        parse_cron("0 0 * * * ?").next_after(NY, datetime(2026, 1, 1))


def test_fires_between_is_start_exclusive_end_inclusive_and_limited() -> None:
    expr = parse_cron("0 0 * * * ?")
    start, end = datetime(2026, 6, 1, 0, tzinfo=SHANGHAI), datetime(2026, 6, 1, 3, tzinfo=SHANGHAI)
    assert [f.hour for f in expr.fires_between(SHANGHAI, start, end)] == [1, 2, 3]
    assert [f.hour for f in expr.fires_between(SHANGHAI, start, end, limit=2)] == [1, 2]
    assert expr.fires_between(SHANGHAI, end, start) == []


def test_results_are_in_the_requested_zone_whatever_zone_after_is_in() -> None:
    fire = parse_cron("0 0 9 * * ?").next_after(SHANGHAI, datetime(2026, 6, 1, tzinfo=UTC))
    assert fire is not None and fire.tzinfo is SHANGHAI
    assert fire.isoformat() == "2026-06-01T09:00:00+08:00"


# --- descriptions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "words"), [
    ("0 15 3 5 * ?", "at 03:15:00 on day 5 of every month"),
    ("0 0 9 ? * 2", "at 09:00:00 on Monday"),
    ("0 0 9 ? * 6#3", "at 09:00:00 on the third Friday of every month"),
    ("0 0 0 L * ?", "at 00:00:00 on the last day of every month"),
    ("0 */15 * * * ?", "every 15 minutes"),
    ("0 0 2 ? * MON-FRI", "at 02:00:00 on Monday through Friday"),
    ("30 2 * * 0", "at 02:30 on Sunday"),
    ("0 0 1 1 1,7 ?", "at 01:00:00 on day 1 of January and July"),
    (f"0 0 1 1 1,7 ? {NEXT_YEAR}", f"at 01:00:00 on day 1 of January and July, in {NEXT_YEAR}"),
    ("0 0 2 * * ?", "at 02:00:00 every day"),
    ("0 0 9,17 * * ?", "at 09:00:00 and 17:00:00 every day"),
    ("0 0 0 LW * ?", "at 00:00:00 on the last weekday (Monday-Friday) of every month"),
    ("0 0 0 L-3 * ?", "at 00:00:00 on the day 3 days before the last day of every month"),
    ("0 0 0 L-1 * ?", "at 00:00:00 on the day 1 day before the last day of every month"),
    ("0 0 0 15W * ?", "at 00:00:00 on the weekday (Monday-Friday) nearest day 15 of every month"),
    ("0 0 0 ? * 6L", "at 00:00:00 on the last Friday of every month"),
    ("0 0 0 ? * L", "at 00:00:00 on Saturday"),
    ("0 0 * * * ?", "every hour, on the hour"),
    ("0 30 * * * ?", "every hour at minute 30"),
    ("* * * * * ?", "every second"),
    ("0 * 2 * * ?", "every minute, between 02:00 and 02:59"),
    ("0 0 9-17 ? * MON-FRI", "every hour from 09:00:00 through 17:00:00 on Monday through Friday"),
    ("0 0 */2 * * ?", "every 2 hours from 00:00:00"),
    ("0 0 1 * 1", "at 00:00 on day 1 of every month, and also on every Monday"),
    ("0 0 12 1 */3 ?", "at 12:00:00 on day 1 of January, April, July and October"),
    ("0 0 0 ? * 1/2", "at 00:00:00 on Sunday, Tuesday, Thursday and Saturday"),
    ("0 0 0 * JAN ?", "at 00:00:00 every day in January"),
    (f"0 0 0 * * ? {NEXT_YEAR}-{NEXT_YEAR + 2}",
     f"at 00:00:00 every day, in {NEXT_YEAR} through {NEXT_YEAR + 2}"),
    ("0 0 0 * * ? 2026/2", "at 00:00:00 every day, every 2 years from 2026"),
])
def test_describe(text: str, words: str) -> None:
    assert parse_cron(text).describe() == words


@pytest.mark.parametrize("text", [
    "0,30 * * * * ?", f"5/10 1,2,3 4-6,9 ? 1-3,JUN * {NEXT_YEAR},{NEXT_YEAR + 2}", "0 0 0 1/2 * ?",
    "0 0/5 14,18 * * ?",
    "10-20/5 */7 0,2,4,6,8,10,12 ? * 3/2", "0 0 0 ? * 2#5", "15 10 * * * ?", "*/3 * 1-3 * * ?",
    "0 0 22-2 * * ?", "0 0 L * 5", "*/5 * * * *",
])
def test_describe_never_raises_and_says_something(text: str) -> None:
    words = parse_cron(text).describe()
    assert words and not words.startswith("cron ")


# --- the simple form -------------------------------------------------------------------------------------

def test_simple_form() -> None:
    assert simple_to_cron(["MON", "WED"], "02:30") == "0 30 2 ? * MON,WED"
    assert simple_to_cron(["wed", "Monday"], "2:30:15") == "15 30 2 ? * MON,WED"
    assert simple_to_cron(["daily"], "23:59") == "0 59 23 * * ?"
    assert simple_to_cron("mon, fri", "08:00") == "0 0 8 ? * MON,FRI"
    assert simple_to_cron(["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], "00:00") == "0 0 0 * * ?"
    fires = parse_cron(simple_to_cron(["SUN"], "02:30")).next_fires(NY, datetime(2026, 1, 1, tzinfo=NY), 2)
    assert all(f.weekday() == 6 for f in fires)


@pytest.mark.parametrize(("days", "at", "fields"), [
    (["FUNDAY"], "02:30", ["weekdays"]),
    ([], "02:30", ["weekdays"]),
    (["MON"], "24:00", ["time"]),
    (["MON"], "2:3", ["time"]),
    (["MON"], "", ["time"]),
    (["XX"], "99:99", ["weekdays", "time"]),
    (None, "02:00", ["weekdays"]),
])
def test_simple_form_errors(days: list[str] | None, at: str, fields: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        simple_to_cron(days, at)  # type: ignore[arg-type]
    assert [e.field for e in info.value.errors] == fields


# --- DST against a brute-force oracle ---------------------------------------------------------------------

#: Quartz text -> (minutes, hours, whether the hour field repeats).
BRUTE = {
    "0 30 2 * * ?": ({30}, {2}, False),
    "0 0 * * * ?": ({0}, set(range(24)), True),
    "0 15,45 * * * ?": ({15, 45}, set(range(24)), True),
    "0 */20 1-3 * * ?": ({0, 20, 40}, {1, 2, 3}, False),
    "0 0 */2 * * ?": ({0}, set(range(0, 24, 2)), True),
    "0 0 1/2 * * ?": ({0}, set(range(1, 24, 2)), True),
    "0 * 2 * * ?": (set(range(60)), {2}, False),
    "0 * 1 * * ?": (set(range(60)), {1}, False),
    "0 0,30 0-5 * * ?": ({0, 30}, set(range(6)), False),
}


def brute_force(zone: ZoneInfo, start: datetime, end: datetime, minutes: set[int], hours: set[int],
                hourly: bool) -> list[float]:
    """UTC stamps in (start, end] that the DST rule says fire, found by walking real time minute by minute."""
    fires: set[float] = set()
    t = start.astimezone(UTC).replace(second=0, microsecond=0)
    previous_wall = None
    while t <= end:
        local = t.astimezone(zone)
        wall = local.replace(tzinfo=None)
        if t > start and local.minute in minutes and local.hour in hours and (local.fold == 0 or hourly):
            fires.add(t.timestamp())
        if previous_wall is not None and wall - previous_wall > timedelta(minutes=1):
            # the clock jumped: any slot in the skipped wall times runs at this first instant after the gap
            skipped = previous_wall + timedelta(minutes=1)
            while skipped < wall:
                if skipped.minute in minutes and skipped.hour in hours and t > start:
                    fires.add(t.timestamp())
                skipped += timedelta(minutes=1)
        previous_wall = wall
        t += timedelta(minutes=1)
    return sorted(fires)


@pytest.mark.parametrize("text", list(BRUTE))
@pytest.mark.parametrize(("zone_key", "day"), [
    ("America/New_York", date(2026, 3, 8)), ("America/New_York", date(2026, 11, 1)),
    ("Europe/Berlin", date(2026, 3, 29)), ("Europe/Berlin", date(2026, 10, 25)),
    ("Australia/Lord_Howe", date(2026, 4, 5)), ("Australia/Lord_Howe", date(2026, 10, 4)),
])
def test_dst_rule_matches_a_brute_force_walk(text: str, zone_key: str, day: date) -> None:
    zone = ZoneInfo(zone_key)
    start = datetime.combine(day, datetime.min.time(), zone) - timedelta(hours=2)
    end = start + timedelta(hours=30)
    minutes, hours, hourly = BRUTE[text]
    fires = parse_cron(text).fires_between(zone, start, end)
    assert utc_stamps(fires) == brute_force(zone, start, end, minutes, hours, hourly)
    # stateless: restarting from any fire gives the following one
    for a, b in zip(fires, fires[1:], strict=False):
        again = parse_cron(text).next_after(zone, a)
        assert again is not None and again.timestamp() == b.timestamp()

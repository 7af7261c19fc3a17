"""Cron expressions of Patchwatch schedules: parse, explain in plain words, and compute fire times.

Why this module exists
----------------------
The reference system writes schedules in the Quartz dialect (six fields, seconds first, optional year:
``sec min hour day-of-month month day-of-week [year]``) while many operators think in plain five-field
crontab (``min hour dom month dow``). The field count decides the dialect, and the two disagree on the
one thing that hurts most: Quartz counts day-of-week 1-7 from Sunday, crontab 0-7 with 0 and 7 = Sunday.
A scheduler that fires on Monday when Sunday was meant skips a whole patch window silently, so this module
parses every field itself (so errors name the field and say what the value must be) and shows the meaning
in words (:meth:`CronExpression.describe`).

croniter does the time-of-day, month and year arithmetic. It is always fed a seconds-first string
(``second_at_beginning=True``; without it a six-field string is read seconds-last) with day-of-week
already converted to croniter's numbering, and it always iterates naive *wall-clock* times (handed over as
UTC, which has no DST) -- the time-zone rules below are applied here, not by croniter. Day constructs
croniter lacks or spells differently from Quartz (``LW``, ``L-3``, ``15W``, ``6L``) are matched by
:class:`_Days`, a predicate over calendar dates; croniter then only picks the times within a matching day.

Quartz rules kept here: ``?`` only in day-of-month or day-of-week, and in exactly one of them (Quartz refuses
``* * *`` and ``? * ?`` in the day fields, and never implemented restricting both): the other alone decides.
Five-field crontab keeps Vixie semantics: when both day fields are restricted a day matching either fires.
``nW`` is the weekday nearest day ``n`` without leaving the month; in a month that has no day ``n`` it does
not fire (like a plain ``31``). Both day fields ``?`` means every day.

Daylight-saving rule (stateless)
--------------------------------
Fire times are wall-clock times in the task's zone. :meth:`CronExpression.next_after` maps each wall-clock
slot to an instant, and the rule holds whatever ``after`` it is called with (the scheduler passes its
persisted last slot, nothing else):

* A slot inside a spring-forward gap (02:30 on 2026-03-08 in America/New_York does not exist) fires at
  the first instant after the gap (03:00 EDT). All slots of one gap, and a slot at 03:00 itself, are that
  same instant and so make one run; ``next_after`` only returns instants strictly after ``after``, so a
  run is never returned twice.
* A slot inside a fall-back overlap (01:30 on 2026-11-01 happens at 01:30 EDT and again at 01:30 EST):
  when the hour field is fixed (anything but ``*``, all 24 hours, or a step over the whole day such as
  ``*/2`` or ``0/3``) only the first occurrence (fold=0) fires, so a daily scan runs once. When the hour
  field repeats like that, the expression means "every so many hours", and both real occurrences fire:
  they are different hours of elapsed time (Vixie cron does the same for wildcard jobs). Hourly
  ``0 0 * * * ?`` thus fires at 01:00 EDT and again at 01:00 EST, one hour apart.

Returned datetimes are aware and in the requested zone; the second occurrence of an overlap carries
``fold=1``. Compare such values in UTC (or by ``timestamp()``): Python compares two datetimes sharing a
tzinfo by wall time and ignores ``fold``.

Why one module of this length: the whole dialect (Quartz and crontab, L/W/#, years, time zones and the
DST rules) in one place, because each rule is only right together with the others.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal, NamedTuple, TypeVar

from croniter import CroniterError, croniter

from console.domain.timezones import zone_label, zone_name
from console.errors import FieldError, ValidationError

Dialect = Literal["quartz", "crontab"]
_T = TypeVar("_T")

_SHAPE = ("expected 5 fields (crontab) or 6-7 fields "
          "(Quartz: sec min hour day-of-month month day-of-week [year])")

MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
#: Indexed by croniter/crontab numbering: 0 = Sunday.
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_ABBR = {name[:3].upper(): i for i, name in enumerate(MONTH_NAMES, start=1)}
_DAY_ABBR = [name[:3].upper() for name in DAY_NAMES]
_ORDINALS = ("first", "second", "third", "fourth", "fifth")

#: How far ahead to look for a matching day before concluding there is none. 28 years cover every
#: combination of weekday, month and leap year (the Gregorian pattern only breaks at 2100).
_HORIZON_YEARS = 30
_ONE_SECOND = timedelta(seconds=1)


# --------------------------------------------------------------------------------------------------------
# Field grammar
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    """What one field accepts; ``field`` is the name errors carry."""

    field: str
    lo: int
    hi: int
    names: dict[str, int]
    hint: str


_SECOND = _Spec("second", 0, 59, {}, "0-59")
_MINUTE = _Spec("minute", 0, 59, {}, "0-59")
_HOUR = _Spec("hour", 0, 23, {}, "0-23")
_DOM = _Spec("day-of-month", 1, 31, {}, "1-31")
_MONTH = _Spec("month", 1, 12, _MONTH_ABBR, "1-12 or JAN-DEC")
_DOW_QUARTZ = _Spec("day-of-week", 1, 7, {n: i + 1 for i, n in enumerate(_DAY_ABBR)},
                    "1-7 (1 = Sunday, 7 = Saturday) or SUN-SAT")
_DOW_CRONTAB = _Spec("day-of-week", 0, 7, {n: i for i, n in enumerate(_DAY_ABBR)},
                     "0-7 (0 or 7 = Sunday) or SUN-SAT")
_YEAR = _Spec("year", 1970, 2099, {}, "1970-2099")


class _Item(NamedTuple):
    """One comma-separated part of a field, kept for :meth:`CronExpression.describe`."""

    start: int
    end: int
    step: int
    star: bool      # written with '*' ('*' or '*/n')
    open_end: bool  # written 'a/n' (runs to the end of the range)


@dataclass(frozen=True)
class _Field:
    """A parsed plain field: its items and the values they expand to (in the field's own numbering)."""

    text: str
    items: tuple[_Item, ...]
    values: tuple[int, ...]
    full: bool

    @property
    def single(self) -> int | None:
        """The value when the field is one plain number, else None."""
        if len(self.items) == 1 and self.items[0].start == self.items[0].end and not self.items[0].star:
            return self.items[0].start
        return None

    @property
    def singles(self) -> tuple[int, ...] | None:
        """The values when the field is a list of plain numbers, else None."""
        if all(i.start == i.end and not i.star for i in self.items):
            return tuple(i.start for i in self.items)
        return None


_ITEM = re.compile(r"(\*|[A-Z0-9]+(?:-[A-Z0-9]+)?)(?:/([0-9]+))?")


def _err(spec: _Spec, rule: str) -> ValidationError:
    return ValidationError(FieldError(spec.field, rule))


def _value(spec: _Spec, token: str) -> int:
    """One number or name of ``spec``; raises with the allowed range when it is not."""
    if token.isdigit():
        number = int(token)
        if not spec.lo <= number <= spec.hi:
            hint = ""
            if spec is _DOW_QUARTZ and number == 0:
                hint = " (Quartz counts 1 = Sunday to 7 = Saturday; 0 is crontab style)"
            raise _err(spec, f"value {number} is out of range {spec.lo}-{spec.hi}{hint}")
        return number
    if token in spec.names:
        return spec.names[token]
    what = {"month": "a month name", "day-of-week": "a day name"}.get(spec.field)
    if what:
        raise _err(spec, f"{token!r} is not {what}: use {spec.hint}")
    raise _err(spec, f"{token!r} is not a number: use {spec.hint}")


def _expand(spec: _Spec, item: _Item) -> list[int]:
    """The values of one item; a range written high-low wraps around (``22-2`` = 22,23,0,1,2)."""
    if item.start <= item.end:
        seq = list(range(item.start, item.end + 1))
    else:
        seq = list(range(item.start, spec.hi + 1)) + list(range(spec.lo, item.end + 1))
    return seq[::item.step]


def _parse_field(spec: _Spec, text: str) -> _Field:
    """A plain field (numbers, names, ``*``, ranges, lists, steps); raises naming ``spec.field``."""
    if text in ("*", "?"):
        item = _Item(spec.lo, spec.hi, 1, True, False)
        return _Field(text, (item,), tuple(range(spec.lo, spec.hi + 1)), True)
    items: list[_Item] = []
    values: set[int] = set()
    for part in text.split(","):
        match = _ITEM.fullmatch(part)
        if match is None:
            if "?" in part:
                raise _err(spec, f"'?' must stand alone in {spec.field}, got {text!r}")
            raise _err(spec, f"{part!r} is not valid here: use {spec.hint}, '*', a range (1-5), "
                             "a list (1,5) or a step (*/15)")
        base, step_text = match.groups()
        step = int(step_text) if step_text else 1
        span = spec.hi - spec.lo + 1
        if not 1 <= step <= span:
            raise _err(spec, f"step {step} in {part!r} must be between 1 and {span}")
        if base == "*":
            item = _Item(spec.lo, spec.hi, step, True, False)
        elif "-" in base:
            first, last = base.split("-")
            start, end = _value(spec, first), _value(spec, last)
            if start > end and spec is _YEAR:
                raise _err(spec, f"range {base} runs backwards: write the earlier year first")
            item = _Item(start, end, step, False, False)
        elif step_text:
            item = _Item(_value(spec, base), spec.hi, step, False, True)
        else:
            number = _value(spec, base)
            item = _Item(number, number, 1, False, False)
        items.append(item)
        values.update(_expand(spec, item))
    full = values >= set(range(spec.lo, spec.hi + 1))
    return _Field(text, tuple(items), tuple(sorted(values)), full)


# --------------------------------------------------------------------------------------------------------
# Day matching
# --------------------------------------------------------------------------------------------------------

DomKind = Literal["any", "set", "last", "last-weekday", "before-last", "nearest-weekday"]
DowKind = Literal["any", "set", "nth", "last"]


def _weekday(d: date) -> int:
    """Day of week in crontab numbering (0 = Sunday)."""
    return (d.weekday() + 1) % 7


@dataclass(frozen=True)
class _Days:
    """Which calendar days fire: day-of-month and day-of-week combined (AND, or OR for crontab)."""

    dom: DomKind = "any"
    dom_values: frozenset[int] = frozenset()
    dom_n: int = 0          # before-last: days before the last; nearest-weekday: the target day
    dow: DowKind = "any"
    dow_values: frozenset[int] = frozenset()   # crontab numbering, 0 = Sunday
    nth: int = 0
    either: bool = False    # crontab with both fields restricted: a day matching either fires

    def dom_matches(self, d: date) -> bool:
        last = calendar.monthrange(d.year, d.month)[1]
        if self.dom == "any":
            return True
        if self.dom == "set":
            return d.day in self.dom_values
        if self.dom == "last":
            return d.day == last
        if self.dom == "before-last":
            return d.day == last - self.dom_n
        if self.dom == "last-weekday":
            target = last - max(0, date(d.year, d.month, last).weekday() - 4)
            return d.day == target
        # nearest-weekday: Saturday moves to Friday, Sunday to Monday, never out of the month.
        n = self.dom_n
        if n > last:
            return False
        wd = date(d.year, d.month, n).weekday()
        if wd == 5:
            n = n + 2 if n == 1 else n - 1
        elif wd == 6:
            n = n - 2 if n == last else n + 1
        return d.day == n

    def dow_matches(self, d: date) -> bool:
        if self.dow == "any":
            return True
        if _weekday(d) not in self.dow_values:
            return False
        if self.dow == "nth":
            return (d.day - 1) // 7 + 1 == self.nth
        if self.dow == "last":
            return d.day + 7 > calendar.monthrange(d.year, d.month)[1]
        return True

    def matches(self, d: date) -> bool:
        if self.either:
            return self.dom_matches(d) or self.dow_matches(d)
        return self.dom_matches(d) and self.dow_matches(d)

    def dom_possible(self, month: int, leap: bool) -> bool:
        """Can day-of-month ever match in ``month`` (ignoring day-of-week)? Used to reject Feb 30."""
        last = calendar.monthrange(2024 if leap else 2023, month)[1]
        if self.dom == "set":
            return min(self.dom_values) <= last
        if self.dom == "before-last":
            return last - self.dom_n >= 1
        if self.dom == "nearest-weekday":
            return self.dom_n <= last
        return True


_LAST_OFFSET = re.compile(r"L-([0-9]+)")
_NEAREST = re.compile(r"([0-9]+)W")
_NTH = re.compile(r"([A-Z0-9]+)#([0-9]+)")
_LAST_DOW = re.compile(r"([A-Z0-9]+)L")


def _parse_dom(text: str) -> tuple[_Days, _Field | None]:
    """Day-of-month: a plain field, or one of ``L``, ``LW``, ``L-n``, ``nW`` standing alone."""
    if text == "L":
        return _Days(dom="last"), None
    if text == "LW":
        return _Days(dom="last-weekday"), None
    if (m := _LAST_OFFSET.fullmatch(text)) is not None:
        n = int(m.group(1))
        if n > 30:
            raise _err(_DOM, f"offset {n} in {text!r} is out of range 0-30 "
                             "(L-3 = three days before the last day)")
        return (_Days(dom="before-last", dom_n=n) if n else _Days(dom="last")), None
    if (m := _NEAREST.fullmatch(text)) is not None:
        return _Days(dom="nearest-weekday", dom_n=_value(_DOM, m.group(1))), None
    if "L" in text or "W" in text:
        raise _err(_DOM, f"{text!r} is not valid: L, LW, L-n and nW (e.g. 15W) must stand alone in "
                         "day-of-month")
    parsed = _parse_field(_DOM, text)
    if parsed.full:
        return _Days(), parsed
    return _Days(dom="set", dom_values=frozenset(parsed.values)), parsed


def _dow_number(spec: _Spec, token: str) -> int:
    """A day-of-week value converted to crontab numbering (0 = Sunday)."""
    value = _value(spec, token)
    return value - 1 if spec is _DOW_QUARTZ else value % 7


def _parse_dow(spec: _Spec, text: str) -> tuple[_Days, _Field | None]:
    """Day-of-week: a plain field, or ``L`` (Saturday), ``xL`` (last x of the month), ``x#n`` (nth x)."""
    if text == "L":
        sat = spec.names["SAT"]
        return _Days(dow="set", dow_values=frozenset({6})), _Field("L", (_Item(sat, sat, 1, False, False),),
                                                                   (sat,), False)
    if (m := _NTH.fullmatch(text)) is not None:
        nth = int(m.group(2))
        if not 1 <= nth <= 5:
            raise _err(spec, f"week number {nth} in {text!r} must be 1-5 (FRI#3 = third Friday)")
        return _Days(dow="nth", dow_values=frozenset({_dow_number(spec, m.group(1))}), nth=nth), None
    if (m := _LAST_DOW.fullmatch(text)) is not None:
        return _Days(dow="last", dow_values=frozenset({_dow_number(spec, m.group(1))})), None
    if "#" in text or "L" in text:
        raise _err(spec, f"{text!r} is not valid: 'x#n', 'xL' and 'L' must stand alone in day-of-week "
                         "(e.g. FRI#3, 6L)")
    parsed = _parse_field(spec, text)
    days = frozenset((v - 1) if spec is _DOW_QUARTZ else v % 7 for v in parsed.values)
    if len(days) == 7:
        return _Days(), parsed
    return _Days(dow="set", dow_values=days), parsed


# --------------------------------------------------------------------------------------------------------
# The compiled plan
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """Everything computed once per expression text."""

    dialect: Dialect
    raw: tuple[str, ...]              # field texts as normalized, in the dialect's own order
    second: _Field
    minute: _Field
    hour: _Field
    month: _Field
    year: _Field | None
    days: _Days
    dom_field: _Field | None
    dow_field: _Field | None
    dow_spec: _Spec
    native: bool                      # croniter matches the days itself
    cron_text: str                    # seconds-first string for croniter
    day_or: bool
    hourly: bool                      # the hour field repeats: both fall-back occurrences fire

    @property
    def dom_text(self) -> str:
        return self.raw[2] if self.dialect == "crontab" else self.raw[3]

    def month_year_ok(self, d: date) -> bool:
        return d.month in self.month.values and (self.year is None or d.year in self.year.values)

    def day_ok(self, d: date) -> bool:
        return self.month_year_ok(d) and self.days.matches(d)


def _list(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values)


def _croniter_text(plan_fields: dict[str, str], year: _Field | None) -> str:
    parts = [plan_fields[k] for k in ("second", "minute", "hour", "dom", "month", "dow")]
    if year is not None:
        parts.append(_list(year.values))
    return " ".join(parts)


def _hour_repeats(hour: _Field) -> bool:
    """Is the hour field "every n hours" rather than a fixed time of day? (see the module docstring)."""
    if hour.full:
        return True
    if len(hour.items) != 1:
        return False
    item = hour.items[0]
    return item.step > 1 and (item.star or item.open_end) and item.start < item.step


def _fields_of(dialect: Dialect, fields: list[str]) -> dict[str, str]:
    if dialect == "crontab":
        return dict(zip(("minute", "hour", "dom", "month", "dow"), fields, strict=True)) | {"second": "0"}
    names = ("second", "minute", "hour", "dom", "month", "dow", "year")
    return dict(zip(names, fields, strict=False))


def _compile_fields(text: str) -> _Plan:
    """Parse and translate ``text``; collects every field error before raising."""
    fields = text.split()
    if not fields:
        raise ValidationError(FieldError("expression", f"a cron expression is required: {_SHAPE}"))
    if len(fields) not in (5, 6, 7):
        raise ValidationError(FieldError("expression", f"{_SHAPE}, got {len(fields)}"))
    dialect: Dialect = "crontab" if len(fields) == 5 else "quartz"
    named = _fields_of(dialect, fields)
    dow_spec = _DOW_CRONTAB if dialect == "crontab" else _DOW_QUARTZ
    errors: list[FieldError] = []

    def attempt(key: str, fn: Callable[[], _T], spec: _Spec) -> _T | None:
        if "?" in named[key] and key not in ("dom", "dow"):
            errors.append(FieldError(spec.field, f"'?' is only allowed in day-of-month or day-of-week, "
                                                 f"not in {spec.field}"))
            return None
        try:
            return fn()
        except ValidationError as exc:
            errors.extend(exc.errors)
            return None

    second, minute, hour, month = (attempt(key, lambda s=spec, k=key: _parse_field(s, named[k]), spec)
                                   for key, spec in (("second", _SECOND), ("minute", _MINUTE),
                                                     ("hour", _HOUR), ("month", _MONTH)))
    dom_parsed = attempt("dom", lambda: _parse_dom(named["dom"]), _DOM)
    dow_parsed = attempt("dow", lambda: _parse_dow(dow_spec, named["dow"]), dow_spec)
    year = attempt("year", lambda: _parse_field(_YEAR, named["year"]), _YEAR) if "year" in named else None
    if errors:
        raise ValidationError(errors)
    assert second and minute and hour and month and dom_parsed and dow_parsed  # no errors: all parsed
    dom_days, dom_field = dom_parsed
    dow_days, dow_field = dow_parsed
    dom_restricted = dom_days.dom != "any"
    dow_restricted = dow_days.dow != "any"
    if dialect == "quartz" and (named["dom"] == "?") == (named["dow"] == "?"):
        # Quartz itself refuses these, so a schedule written here must not mean something else there.
        if dom_restricted and dow_restricted:
            raise ValidationError(FieldError(
                "day-of-week", f"day-of-month {named['dom']!r} and day-of-week {named['dow']!r} are both set: "
                               "Quartz needs '?' in one of them (e.g. '? * MON' or '15 * ?')"))
        raise ValidationError(FieldError(
            "day-of-week", f"day-of-month {named['dom']!r} and day-of-week {named['dow']!r}: Quartz needs '?' in "
                           "exactly one of them (e.g. '* * ?' for every day, '? * MON' or '15 * ?')"))
    days = _Days(dom=dom_days.dom, dom_values=dom_days.dom_values, dom_n=dom_days.dom_n,
                 dow=dow_days.dow, dow_values=dow_days.dow_values, nth=dow_days.nth,
                 either=dom_restricted and dow_restricted)

    def plain(f: _Field) -> str:
        return "*" if f.full else _list(f.values)

    cron = {"second": plain(second), "minute": plain(minute), "hour": plain(hour), "month": plain(month),
            "dom": "*", "dow": "*"}
    # croniter's own matching is used for what it spells like Quartz; the rest goes through _Days.
    native = not days.either or (days.dom == "set" and days.dow == "set")
    if days.dom == "set":
        cron["dom"] = _list(sorted(days.dom_values))
    elif days.dom == "last":
        cron["dom"] = "L"
    elif days.dom != "any":
        native = False
    weekday = min(days.dow_values) if days.dow_values else 0
    if days.dow == "set":
        cron["dow"] = _list(sorted(days.dow_values))
    elif days.dow == "nth":
        cron["dow"] = f"{weekday}#{days.nth}"
    elif days.dow == "last":
        cron["dow"] = f"L{weekday}"
    if not native:
        cron["dom"], cron["dow"] = "*", "*"
    return _Plan(dialect=dialect, raw=tuple(fields), second=second, minute=minute, hour=hour, month=month,
                 year=year, days=days, dom_field=dom_field, dow_field=dow_field, dow_spec=dow_spec,
                 native=native, cron_text=_croniter_text(cron, year), day_or=native and days.either,
                 hourly=_hour_repeats(hour))


def _normalize(text: str) -> str:
    return " ".join(text.split()).upper()


@lru_cache(maxsize=2048)
def _compile(text: str) -> _Plan:
    return _compile_fields(_normalize(text))


# --------------------------------------------------------------------------------------------------------
# Wall-clock iteration
# --------------------------------------------------------------------------------------------------------

def _croniter_next(cron_text: str, after: datetime, day_or: bool) -> datetime | None:
    """First croniter slot strictly after the naive wall time ``after``, naive; None when none is left.

    croniter is given the wall time as UTC so that no DST logic of its own (or of the host) interferes.
    """
    try:
        it = croniter(cron_text, after.replace(tzinfo=UTC), second_at_beginning=True, day_or=day_or)
        found = it.get_next(datetime)
    except (CroniterError, OverflowError, ValueError):
        return None
    return found.replace(tzinfo=None)


def _next_day(plan: _Plan, start: date) -> date | None:
    """The first date on or after ``start`` whose day, month and year fields all match.

    Pure date arithmetic (microseconds per day), so rejecting a day never costs a croniter call; bounded
    by the year field or :data:`_HORIZON_YEARS`, so an expression that cannot match does not loop.
    """
    last_year = max(plan.year.values) if plan.year else start.year + _HORIZON_YEARS
    until = date(min(last_year, 9998), 12, 31)
    d = start
    while d <= until:
        if plan.year is not None and d.year not in plan.year.values:
            d = date(d.year + 1, 1, 1)
            continue
        if d.month not in plan.month.values:
            d = date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)
            continue
        if plan.days.matches(d):
            return d
        d += timedelta(days=1)
    return None


def _next_wall(plan: _Plan, after: datetime) -> datetime | None:
    """The first wall-clock slot strictly after the naive ``after``; None when the expression is done."""
    if plan.native:
        return _croniter_next(plan.cron_text, after, plan.day_or)
    today = after.date()
    if plan.day_ok(today):
        found = _croniter_next(plan.cron_text, after, False)
        if found is not None and found.date() == today:
            return found
    try:
        day = _next_day(plan, today + timedelta(days=1))
    except OverflowError:
        return None
    if day is None:
        return None
    # croniter's day fields are relaxed here; it finds the first time of day on `day` itself.
    return _croniter_next(plan.cron_text, datetime.combine(day, time()) - _ONE_SECOND, False)


# --------------------------------------------------------------------------------------------------------
# Wall clock -> instants
# --------------------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1)


def _offset_at(zone: tzinfo, ts: int) -> timedelta:
    return datetime.fromtimestamp(ts, zone).utcoffset() or timedelta(0)


def _transition(zone: tzinfo, lo: int, hi: int) -> int:
    """The first UTC second in (lo, hi] whose offset differs from the offset at ``lo``."""
    before = _offset_at(zone, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_at(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


class _Slot(NamedTuple):
    """A wall-clock slot placed in a zone.

    ``first`` is the instant that fires for it (the only one unless the slot repeats in an overlap);
    ``second`` is the later occurrence in a fall-back overlap; ``region`` is the wall-clock span
    [start, end) of the gap or overlap the slot lies in.
    """

    kind: Literal["normal", "gap", "overlap"]
    first: datetime
    second: datetime | None
    region: tuple[datetime, datetime] | None


def _place(zone: tzinfo, wall: datetime) -> _Slot:
    """Where the naive wall time ``wall`` falls in ``zone`` (instants are aware, in UTC)."""
    early = wall.replace(tzinfo=zone, fold=0)
    late = wall.replace(tzinfo=zone, fold=1)
    off0, off1 = early.utcoffset() or timedelta(0), late.utcoffset() or timedelta(0)
    if off0 == off1:
        return _Slot("normal", early.astimezone(UTC), None, None)
    u0, u1 = wall - off0, wall - off1          # naive UTC readings of the two interpretations
    lo, hi = sorted((u0, u1))
    ts = _transition(zone, int((lo - _EPOCH).total_seconds()), int((hi - _EPOCH).total_seconds()) + 1)
    moment = _EPOCH + timedelta(seconds=ts)
    if off0 > off1:
        # Overlap (fold=0 is the earlier offset, e.g. EDT): walls [moment+off1, moment+off0) happen twice.
        return _Slot("overlap", early.astimezone(UTC), late.astimezone(UTC), (moment + off1, moment + off0))
    # Gap (fold=0 reads with the offset before the jump): the slot runs at the first instant after it.
    return _Slot("gap", moment.replace(tzinfo=UTC), None, (moment + off0, moment + off1))


def _next_instant(plan: _Plan, zone: tzinfo, after: datetime) -> datetime | None:
    """First fire strictly after the aware ``after``, in UTC (see the DST rule in the module docstring)."""
    after_utc = after.astimezone(UTC)
    local = after.astimezone(zone)
    start = local.replace(tzinfo=None, fold=0)
    best: datetime | None = None

    # Primary instants (gap -> end of gap, overlap -> first occurrence) never decrease along the wall
    # clock, so the first slot after `start` whose primary instant is later than `after` is the answer...
    wall = start
    while (wall_next := _next_wall(plan, wall)) is not None:
        slot = _place(zone, wall_next)
        if slot.first > after_utc:
            best = slot.first
            break
        # Only slots of a gap or overlap already passed can land here: jump over the rest of it.
        wall = max(wall_next, slot.region[1] - _ONE_SECOND) if slot.region else wall_next

    # ...except second occurrences in an overlap (hourly expressions only), which are out of wall order.
    # They can precede that answer only when `after` itself lies in the overlap.
    if plan.hourly:
        here = _place(zone, start)
        if here.kind == "overlap" and here.region is not None:
            region_start, region_end = here.region
            from_wall = start if local.fold == 1 else region_start - _ONE_SECOND
            candidate = _next_wall(plan, from_wall)
            if candidate is not None and candidate < region_end:
                again = _place(zone, candidate).second
                if again is not None and again > after_utc and (best is None or again < best):
                    best = again
    return best


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone), got {value!r}")


# --------------------------------------------------------------------------------------------------------
# Plain-language description
# --------------------------------------------------------------------------------------------------------

def _join(words: Sequence[str], conj: str = "and") -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conj} {words[-1]}"


def _describe_items(f: _Field, label: Callable[[int], str]) -> str:
    """The values of a plain field in words: ``Monday through Friday``, ``1 and 15``, ``0, 15, 30 and 45``."""
    if len(f.items) == 1:
        item = f.items[0]
        if item.step == 1 and item.start != item.end:
            return f"{label(item.start)} through {label(item.end)}"
    if all(i.step == 1 for i in f.items):
        words = [label(i.start) if i.start == i.end else f"{label(i.start)} through {label(i.end)}"
                 for i in f.items]
        return _join(words)
    return _join([label(v) for v in f.values])


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'s' if n != 1 else ''}"


def _step_phrase(f: _Field, spec: _Spec, unit: str) -> str | None:
    """``every 15 minutes`` for ``*/15`` or ``0/15``; ``every 10 minutes from minute 5`` for ``5/10``."""
    if len(f.items) != 1 or f.items[0].step == 1 or not (f.items[0].star or f.items[0].open_end):
        return None
    item = f.items[0]
    text = f"every {_plural(item.step, unit)}"
    return text if item.start == spec.lo else f"{text} from {unit} {item.start}"


def _clock(h: int, m: int, s: int, seconds: bool) -> str:
    return f"{h:02d}:{m:02d}:{s:02d}" if seconds else f"{h:02d}:{m:02d}"


def _time_phrase(plan: _Plan) -> tuple[str, bool]:
    """The time-of-day part, and whether it names fixed clock times (then "every day" reads well)."""
    sec, minute, hour = plan.second, plan.minute, plan.hour
    with_seconds = plan.dialect == "quartz"
    s, m = sec.single, minute.single
    hours = hour.singles
    if s is not None and m is not None and hours is not None and len(hours) <= 6:
        return "at " + _join([_clock(h, m, s, with_seconds) for h in hours]), True
    if s is not None and m is not None:
        past = "on the hour" if m == 0 and s == 0 else (
            f"at minute {m}" if s == 0 else f"at {m:02d}:{s:02d} past the hour")
        if hour.full:
            return f"every hour {past}" if past != "on the hour" else "every hour, on the hour", False
        item = hour.items[0]
        if len(hour.items) == 1 and item.step > 1 and (item.star or item.open_end):
            start = _clock(item.start, m, s, with_seconds)
            return f"every {item.step} hours from {start}", False
        if len(hour.items) == 1 and item.step == 1 and item.start != item.end:
            return (f"every hour from {_clock(item.start, m, s, with_seconds)} "
                    f"through {_clock(item.end, m, s, with_seconds)}"), False

    parts: list[str] = []
    if s is None:
        lead = "every second" if sec.full else (_step_phrase(sec, _SECOND, "second")
                                                or f"at seconds {_describe_items(sec, str)} of every minute")
        parts.append(lead)
        if not minute.full:
            parts.append(f"during minute {m}" if m is not None
                         else f"during minutes {_describe_items(minute, str)}")
    else:
        if minute.full:
            lead = "every minute"
        elif m is not None:
            lead = f"at minute {m}"
        else:
            lead = (_step_phrase(minute, _MINUTE, "minute")
                    or f"at minutes {_describe_items(minute, str)}")
        parts.append(lead if s == 0 else f"{lead} at second {s}")
    if not hour.full:
        h = hour.single
        if h is not None:
            parts.append(f"between {h:02d}:00 and {h:02d}:59")
        elif len(hour.items) == 1 and hour.items[0].step == 1:
            parts.append(f"between {hour.items[0].start:02d}:00 and {hour.items[0].end:02d}:59")
        else:
            parts.append("during hours " + _join([f"{v:02d}" for v in hour.values]))
    return ", ".join(parts), False


def _month_label(v: int) -> str:
    return MONTH_NAMES[v - 1]


def _day_phrases(plan: _Plan) -> tuple[str | None, str | None]:
    """(day-of-month phrase, day-of-week phrase); None for an unrestricted field."""
    days = plan.days
    months = None if plan.month.full else _describe_items(plan.month, _month_label)
    of_month = f" of {months}" if months else " of every month"
    in_month = f" in {months}" if months else ""
    dom: str | None = None
    if days.dom == "set" and plan.dom_field is not None:
        f = plan.dom_field
        dom = (f"on day {f.single}" if f.single is not None
               else f"on days {_describe_items(f, str)}") + of_month
    elif days.dom == "last":
        dom = "on the last day" + of_month
    elif days.dom == "last-weekday":
        dom = "on the last weekday (Monday-Friday)" + of_month
    elif days.dom == "before-last":
        dom = f"on the day {_plural(days.dom_n, 'day')} before the last day" + of_month
    elif days.dom == "nearest-weekday":
        dom = f"on the weekday (Monday-Friday) nearest day {days.dom_n}" + of_month
    dow: str | None = None
    weekday = DAY_NAMES[min(days.dow_values)] if days.dow_values else ""
    if days.dow == "set" and plan.dow_field is not None:
        spec = plan.dow_spec

        def label(v: int) -> str:
            return DAY_NAMES[v - 1 if spec is _DOW_QUARTZ else v % 7]

        dow = f"on {_describe_items(plan.dow_field, label)}" + in_month
    elif days.dow == "nth":
        dow = f"on the {_ORDINALS[days.nth - 1]} {weekday}" + of_month
    elif days.dow == "last":
        dow = f"on the last {weekday}" + of_month
    if dom is None and dow is None and months:
        dom = f"every day in {months}"
    return dom, dow


def _year_phrase(year: _Field | None) -> str:
    if year is None or year.full:
        return ""
    if len(year.items) == 1 and year.items[0].step > 1 and (year.items[0].star or year.items[0].open_end):
        return f", every {year.items[0].step} years from {year.items[0].start}"
    return f", in {_describe_items(year, str)}"


def _describe(plan: _Plan) -> str:
    when, fixed = _time_phrase(plan)
    dom, dow = _day_phrases(plan)
    if dom and dow:
        day = f"{dom}, and also {dow.replace('on ', 'on every ', 1) if plan.days.dow == 'set' else dow}"
    else:
        day = dom or dow or ("every day" if fixed else "")
    text = f"{when} {day}" if day else when
    return text + _year_phrase(plan.year)


# --------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression; stateless, cheap to keep around (the parse is cached by text).

    Build it with :func:`parse_cron`. Constructing it directly validates the syntax (and normalizes
    ``text``) but skips the "never fires" check, so a stored task whose last year has passed still loads.
    """

    text: str
    dialect: Dialect

    def __post_init__(self) -> None:
        normalized = _normalize(self.text)
        plan = _compile(normalized)
        if plan.dialect != self.dialect:
            raise ValidationError(FieldError(
                "expression", f"{normalized!r} has {len(plan.raw)} fields, which is the {plan.dialect} "
                              f"dialect, not {self.dialect}"))
        object.__setattr__(self, "text", normalized)

    @property
    def _plan(self) -> _Plan:
        return _compile(self.text)

    def describe(self) -> str:
        """The schedule in plain words, e.g. ``at 09:00:00 on the third Friday of every month``."""
        try:
            return _describe(self._plan)
        except Exception:  # a description must never break a screen
            return f"cron {self.text}"

    def next_after(self, zone: tzinfo, after: datetime) -> datetime | None:
        """First fire strictly after the aware instant ``after``, aware in ``zone``; None when done."""
        _check_aware(after, "after")
        found = _next_instant(self._plan, zone, after)
        return found.astimezone(zone) if found is not None else None

    def next_fires(self, zone: tzinfo, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fires after ``after`` (fewer when the expression runs out)."""
        fires: list[datetime] = []
        current = after
        while len(fires) < count:
            found = self.next_after(zone, current)
            if found is None:
                break
            fires.append(found)
            current = found
        return fires

    def fires_between(self, zone: tzinfo, start: datetime, end: datetime,
                      limit: int | None = None) -> list[datetime]:
        """Fires in (start, end] -- start exclusive, end inclusive -- at most ``limit`` of them."""
        _check_aware(end, "end")
        end_utc = end.astimezone(UTC)
        fires: list[datetime] = []
        current = start
        while limit is None or len(fires) < limit:
            found = self.next_after(zone, current)
            if found is None or found.astimezone(UTC) > end_utc:
                break
            fires.append(found)
            current = found
        return fires

    def dst_notes(self, zone: tzinfo, after: datetime, days: int = 400) -> list[str]:
        """Plain notes on fires in the next ``days`` that a DST change moves or merges; [] if none."""
        _check_aware(after, "after")
        start = after.astimezone(UTC)
        return _dst_notes(self._plan, zone, start, start + timedelta(days=days))


def _never_fires(plan: _Plan, today: date) -> FieldError | None:
    """Why ``plan`` can never fire from ``today`` on, or None. Bounded: a few thousand date checks at most."""
    days = plan.days
    if days.dom != "any" and not days.either and not any(
            days.dom_possible(m, leap) for m in plan.month.values for leap in (False, True)):
        months = _join([MONTH_NAMES[m - 1] for m in plan.month.values], "or")
        return FieldError("day-of-month",
                          f"never fires: day-of-month {plan.dom_text!r} never occurs in {months}")
    if plan.year is not None and max(plan.year.values) < today.year:
        return FieldError("year",
                          f"never fires: year {plan.raw[6]!r} is in the past (it is {today.year} now)")
    if _next_day(plan, today) is None:
        if plan.year is not None:
            return FieldError("year", f"never fires: no date from {today.isoformat()} on in year "
                                      f"{plan.raw[6]!r} matches the day and month fields")
        return FieldError("expression", "never fires: no date matches the day-of-month, month and "
                                        "day-of-week fields together")
    return None


def parse_cron(text: str) -> CronExpression:
    """Parse Quartz (6-7 fields) or crontab (5 fields) text; raises ValidationError naming the field.

    Also rejects expressions that can never fire again (Feb 30, a past year).
    """
    if not isinstance(text, str):
        raise ValidationError(FieldError("expression", f"a cron expression must be text, got {text!r}"))
    plan = _compile(text)
    problem = _never_fires(plan, (datetime.now(UTC) - timedelta(days=1)).date())
    if problem is not None:
        raise ValidationError(problem)
    return CronExpression(_normalize(text), plan.dialect)


def load_cron(text: str) -> CronExpression:
    """A stored expression, already validated when it was saved: syntax only, no "never fires" check, so a
    task whose last fire has passed still loads (and shows as done)."""
    return CronExpression(_normalize(text), _compile(text).dialect)


_SIMPLE_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_WEEK_ORDER = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def simple_to_cron(weekdays: Sequence[str], time_of_day: str) -> str:
    """The operator's simple form -> Quartz text: (["MON", "WED"], "02:30") -> ``0 30 2 ? * MON,WED``.

    ``weekdays`` takes day names (``MON``, ``monday``, any case) or ``daily`` for every day; errors name
    the fields ``weekdays`` and ``time``.
    """
    errors: list[FieldError] = []
    if isinstance(weekdays, str):
        weekdays = [w for w in re.split(r"[\s,]+", weekdays) if w]
    elif not isinstance(weekdays, Sequence):
        weekdays = []
    chosen: set[str] = set()
    daily = False
    for raw in weekdays:
        word = str(raw).strip().upper()
        if word in ("DAILY", "EVERY DAY", "*"):
            daily = True
        elif len(word) >= 3 and word[:3] in _DAY_ABBR and DAY_NAMES[_DAY_ABBR.index(word[:3])].upper(
        ).startswith(word):
            chosen.add(word[:3])
        else:
            errors.append(FieldError("weekdays", f"{raw!r} is not a day: use MON, TUE, WED, THU, FRI, SAT, "
                                                 "SUN or daily"))
    if not weekdays:
        errors.append(FieldError("weekdays", "pick at least one day (MON-SUN) or daily"))
    match = _SIMPLE_TIME.fullmatch(str(time_of_day).strip())
    hms: tuple[int, int, int] | None = None
    if match is not None:
        hh, mm, ss = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
        if hh <= 23 and mm <= 59 and ss <= 59:
            hms = (hh, mm, ss)
    if hms is None:
        errors.append(FieldError("time", f"time {time_of_day!r} must be HH:MM or HH:MM:SS between 00:00 "
                                         "and 23:59:59"))
    if errors or hms is None:
        raise ValidationError(errors)
    hh, mm, ss = hms
    if daily or len(chosen) == 7:
        return f"{ss} {mm} {hh} * * ?"
    return f"{ss} {mm} {hh} ? * {','.join(d for d in _WEEK_ORDER if d in chosen)}"


# --------------------------------------------------------------------------------------------------------
# DST notes
# --------------------------------------------------------------------------------------------------------

def _transitions(zone: tzinfo, start: datetime, end: datetime) -> list[tuple[int, timedelta, timedelta]]:
    """(UTC second, offset before, offset after) of every offset change in [start, end]."""
    step = 6 * 3600
    t = int(start.timestamp())
    stop = int(end.timestamp())
    found: list[tuple[int, timedelta, timedelta]] = []
    before = _offset_at(zone, t)
    while t < stop:
        nxt = min(t + step, stop)
        after = _offset_at(zone, nxt)
        if after != before:
            moment = _transition(zone, t, nxt)
            found.append((moment, before, after))
        t, before = nxt, after
    return found


def _slots_in(plan: _Plan, start: datetime, end: datetime, cap: int = 120) -> tuple[list[datetime], bool]:
    """Wall-clock slots in [start, end) (naive), at most ``cap``; and whether there were more."""
    slots: list[datetime] = []
    wall = _next_wall(plan, start - _ONE_SECOND)
    while wall is not None and wall < end:
        if len(slots) == cap:
            return slots, True
        slots.append(wall)
        wall = _next_wall(plan, wall)
    return slots, False


def _wall_text(slots: list[datetime], capped: bool, end: datetime) -> tuple[str, bool]:
    """``2026-03-08 02:30``, ``2026-03-08 02:00-02:59 (60 fire times)`` or, for second-by-second
    schedules, ``2026-03-08 02:00:00 and every later fire time before 03:00``; and whether it is plural.
    """
    def hm(w: datetime) -> str:
        return w.strftime("%H:%M" if w.second == 0 else "%H:%M:%S")

    first = slots[0]
    day = first.date().isoformat()
    if capped:
        return f"{day} {hm(first)} and every later fire time before {end:%H:%M}", True
    if len(slots) == 1:
        return f"{day} {hm(first)}", False
    return f"{day} {hm(first)}-{hm(slots[-1])} ({len(slots)} fire times)", True


def _dst_notes(plan: _Plan, zone: tzinfo, start: datetime, end: datetime) -> list[str]:
    notes: list[str] = []
    name = zone_name(zone)
    for moment, before, after in _transitions(zone, start, end):
        at = _EPOCH + timedelta(seconds=moment)
        instant = at.replace(tzinfo=UTC)
        if after > before:
            slots, capped = _slots_in(plan, at + before, at + after)
            if not slots:
                continue
            what, many = _wall_text(slots, capped, at + after)
            runs = instant.astimezone(zone)
            notes.append(f"{what} {'do' if many else 'does'} not exist in {name} (clocks spring forward): "
                         f"{'they run' if many else 'runs'} once at {runs:%H:%M} {zone_label(zone, instant)}")
        else:
            slots, capped = _slots_in(plan, at + after, at + before)
            if not slots:
                continue
            what, many = _wall_text(slots, capped, at + before)
            first_label = zone_label(zone, instant - _ONE_SECOND)
            second_label = zone_label(zone, instant)
            if plan.hourly:
                notes.append(f"{what} {'occur' if many else 'occurs'} twice in {name} (clocks fall back): "
                             f"the hour field repeats, so {'they run' if many else 'it runs'} in "
                             f"{first_label} and again in {second_label}")
            else:
                notes.append(f"{what} {'occur' if many else 'occurs'} twice in {name} (clocks fall back): "
                             f"{'each runs' if many else 'runs'} once, at the first occurrence "
                             f"({first_label})")
    return notes

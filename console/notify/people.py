"""People, shift scenarios, and the one answer to "who is on duty for role R of scenario S at time T".

Why this module exists
----------------------
A failure notice that reaches nobody is a silent failure (domain.md). Tasks do not name the people they page;
they name a shift *scenario* and its *roles* (``patch-duty`` / ``on-duty``), and whoever holds the role when the
event happens is notified. Getting that answer wrong pages someone who is asleep and leaves the person on shift
unaware, so the rules below are spelled out, tested at every boundary, and computed by exactly one function
(:meth:`Directory.on_duty`) that the router, the console and the CLI all call.

Rotation semantics
------------------
* The rota is ``people`` in the given order (a name may appear twice to take two turns).
* ``daily`` / ``weekly``: duty period ``k`` (k = 0, 1, 2, ...) starts at the wall-clock time ``handover`` in the
  role's ``timezone`` on the date ``start + k`` days (daily) or ``start + 7k`` days (weekly), and ends where
  period ``k + 1`` starts. Period ``k`` is held by ``people[k % len(people)]``. Before the start of period 0
  nobody holds the role (:meth:`Directory.on_duty` returns ``[]``).
* ``fixed``: everyone in ``people`` holds the role at all times (``start`` and ``handover`` are not used).
* Overrides win: while at least one override of the role is active (``start <= at < end``), the role is held by
  the people of all active overrides (in declaration order, each once) and by nobody else. An override applies
  to every rotation, before ``start`` too: it is an explicit statement about a span of time.

Handover times are wall-clock times, so periods follow daylight-saving time: across a change a daily period lasts
23 or 25 real hours, yet always changes at the stated local time. The two wall-clock times DST makes awkward
follow the scheduler's rule (:mod:`console.domain.cron`), so a shift changes exactly when a scan at that time
would run:

* a handover inside a spring-forward gap (02:30 on 2026-03-08 in America/New_York does not exist) happens at the
  first valid instant after the gap (03:00 EDT);
* a handover inside a fall-back overlap (01:30 on 2026-11-01 in America/New_York happens twice) happens at the
  first occurrence (01:30 EDT); the second 01:30 (EST) is an ordinary minute of the new period.

TOML format (``people.toml``)
-----------------------------
::

    [[person]]
    name = "alice"                      # required; letters, digits, '_', '.', '@', '-', ' ' (max 100)
    email = "alice@example.com"         # optional; one '@' and a dot in the domain
    mobile = "+8613800000001"           # optional; '+' and 6-15 digits (used for SMS)
    wecom = "alice"                     # optional; WeCom user id
    dingtalk = "+8613800000001"         # optional; DingTalk user id or mobile (the mobile is used when unset)
    apprise = ["tgram://TOKEN/CHAT"]    # optional; this person's apprise URLs, the mode "apprise" sends to
                                        # all of them (secrets: shown by scheme only)
    modes = ["dingtalk", "email"]       # optional; preferred fallback order; empty = the task's order

    [[scenario]]
    name = "patch-duty"
      [[scenario.role]]                 # roles in escalation order
      name = "on-duty"
      rotation = "daily"                # daily | weekly | fixed
      handover = "09:00"                # HH:MM wall clock in `timezone`; required unless fixed
      timezone = "Asia/Shanghai"        # IANA name or GMT+08:00; required unless fixed (fixed: default UTC)
      start = "2026-11-01"              # date of period 0; required unless fixed
      people = ["alice", "bob"]
        [[scenario.role.override]]
        person = "carol"
        from = "2026-12-24T09:00"       # read in the role's zone when it carries no offset
        until = "2026-12-26T09:00"      # exclusive; must be after `from`
      [scenario.escalation]             # optional; absent = the built-in policy (next role after escalate_after)
      repeat = "4h"                     # remind of an open, unacknowledged alarm this often; "off" = never
      ack_timeout = "off"               # an acknowledgement older than this re-opens the alarm; "off" = never
      loops = 0                         # how often the steps run again after the last one (0-10)
        [[scenario.escalation.step]]    # at most 20, in order
        after = "15m"                   # after the alarm's first notice (first step) or the previous step
        roles = ["on-duty"]             # roles of this scenario, and/or ...
        people = ["dave"]               # ... people by name (at least one of the two)
        modes = ["sms"]                 # optional; empty = the task's own modes

Dates and times may also be written as TOML date/time values instead of strings. Durations are written as
``90s``, ``15m``, ``4h``, ``1h30m`` or a number of seconds; ``repeat`` and ``ack_timeout`` are at least a minute.

Validation
----------
:func:`parse_people_toml` collects *every* problem of the file and raises one :class:`ValidationError`, so an
operator fixes the whole file in one round. Field paths are ``person[2].email`` (0-based position of the
``[[person]]`` block, as in the task form's lists), ``scenario[patch-duty].role[on-duty].people[1]`` (scenarios
and roles by name, or by 0-based position when the name itself is missing or invalid;
``scenario[patch-duty].escalation.step[1].after`` for escalation steps, by position). Unknown keys are problems
too: a misspelt ``emial`` would otherwise silently leave someone without email. A file must be self-contained:
rotas, overrides and escalation steps may only name people defined in the same file, and a step only roles of
its own scenario. A step's modes must be mode names; whether a channel provides a non-built-in one is checked
against the channels file (:func:`console.notify.recipients.check_escalation_modes`), which this file cannot see.

:meth:`Directory.to_dict` writes the same shape as the TOML file (as JSON-able values) and
:meth:`Directory.from_dict` reads it back through the same validator, so the store and an import can never
disagree on what a valid directory is.

Why one module of this length: people, rotas (daily, weekly, fixed) and overrides all answer one question,
who is on duty at a moment, in one function.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Literal, cast

from console.domain.alarm import DEFAULT_REPEAT_S, EscalationPolicy, EscalationStep
from console.domain.durations import format_duration, parse_duration
from console.domain.task import APPRISE_MODE, KNOWN_MODES
from console.domain.timezones import canonical_zone, parse_zone
from console.errors import FieldError, ValidationError

Rotation = Literal["daily", "weekly", "fixed"]
ROTATIONS: tuple[Rotation, ...] = ("daily", "weekly", "fixed")

#: Names of people, scenarios and roles. The same shape the task form accepts for them (console.domain.task),
#: so every name defined here can be referenced from a task.
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@ -]{0,99}$")
_NAME_RULE = "1-100 characters: letters, digits, '_', '.', '@', '-' and spaces, not starting with a space"
_MODE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_MOBILE_RE = re.compile(r"^\+\d{6,15}$")
_HANDOVER_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_ID_RE = re.compile(r"^\S{1,128}$")

_PERSON_KEYS = ("name", "email", "mobile", "wecom", "dingtalk", "apprise", "modes")
_SCENARIO_KEYS = ("name", "role", "escalation")
_ESCALATION_KEYS = ("repeat", "ack_timeout", "loops", "step")
_STEP_KEYS = ("after", "roles", "people", "modes")
#: Bounds of an escalation policy: more steps or passes than this is a paging storm, not a policy.
MAX_STEPS = 20
MAX_LOOPS = 10
#: Shortest reminder interval and acknowledgement timeout: anything shorter pages people faster than they can act.
MIN_INTERVAL_S = 60
#: How ``repeat`` and ``ack_timeout`` say "never".
OFF = "off"
_ROLE_KEYS = ("name", "rotation", "handover", "timezone", "start", "people", "override", "digest")
#: Coverage digests a role may ask for (``digest = "weekly"`` on a ``[[scenario.role]]``).
DIGESTS = ("weekly", "monthly")
_OVERRIDE_KEYS = ("person", "from", "until")

#: Defaults of the time fields a ``fixed`` role does not need.
_FIXED_HANDOVER = time(0, 0)
_FIXED_ZONE = "UTC"
_FIXED_START = date(1970, 1, 1)

#: Which attribute of a person each built-in mode sends to; dingtalk falls back to the mobile.
_ADDRESS_FIELD = {"email": "email", "sms": "mobile", "wecom": "wecom", "dingtalk": "dingtalk"}


def mask_url(url: str) -> str:
    """``tgram://123:abc/456`` -> ``tgram://***``: the scheme tells which channel, the rest may be a secret."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep and scheme.isascii() and scheme.replace("+", "").isalnum() else "***"


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Person:
    """Someone who can be notified, and where.

    ``modes`` is the person's own fallback order (``("dingtalk", "sms", "email")``); empty means the task's
    order. ``apprise`` holds extra apprise URLs, which carry tokens: :meth:`__repr__` masks them, so a person
    can be logged or shown without leaking them.
    """

    name: str
    email: str | None = None
    mobile: str | None = None
    wecom: str | None = None
    dingtalk: str | None = None
    apprise: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()

    def address(self, mode: str) -> str | None:
        """Where ``mode`` reaches this person, or None (unknown mode, or no address for it).

        ``sms`` uses the mobile; ``dingtalk`` uses the DingTalk id, else the mobile (DingTalk robots can @ a
        member by mobile). The ``apprise`` mode sends to every URL of :attr:`apprise`, not to one address.
        """
        attr = _ADDRESS_FIELD.get(mode)
        if attr is None:
            return None
        value = cast("str | None", getattr(self, attr))
        if value is None and mode == "dingtalk":
            return self.mobile
        return value

    def masked_apprise(self) -> tuple[str, ...]:
        """The apprise URLs as they may be shown: scheme only."""
        return tuple(mask_url(u) for u in self.apprise)

    def __repr__(self) -> str:
        return (f"Person(name={self.name!r}, email={self.email!r}, mobile={self.mobile!r}, wecom={self.wecom!r}, "
                f"dingtalk={self.dingtalk!r}, apprise={self.masked_apprise()!r}, modes={self.modes!r})")

    def to_dict(self) -> dict[str, Any]:
        """The ``[[person]]`` table; optional fields left out when unset."""
        out: dict[str, Any] = {"name": self.name}
        for key in ("email", "mobile", "wecom", "dingtalk"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.apprise:
            out["apprise"] = list(self.apprise)
        if self.modes:
            out["modes"] = list(self.modes)
        return out


@dataclass(frozen=True)
class Override:
    """``person`` holds the role during [start, end); both ends are aware datetimes."""

    person: str
    start: datetime
    end: datetime

    def active(self, at: datetime) -> bool:
        """True while ``at`` lies in [start, end). Compared in UTC: Python compares two datetimes that share a
        tzinfo by wall time and ignores ``fold``, which would misplace the repeated hour of a DST overlap."""
        instant = at.astimezone(UTC)
        return self.start.astimezone(UTC) <= instant < self.end.astimezone(UTC)


@dataclass(frozen=True)
class DutyPeriod:
    """One turn of a rotating role: period ``index`` held by ``person`` during [start, end) (UTC instants)."""

    index: int
    person: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Role:
    """A role of a scenario and its rota (see the module docstring for the rules)."""

    name: str
    rotation: Rotation
    people: tuple[str, ...]
    handover: time
    timezone: str
    start: date
    overrides: tuple[Override, ...] = ()
    #: ``weekly`` or ``monthly``: whoever holds the role then gets the coverage digest (console.engine.reports).
    digest: str | None = None

    def period_at(self, at: datetime) -> DutyPeriod | None:
        """The rotation period containing ``at`` (overrides ignored); None for ``fixed`` and before ``start``.

        Exposed so the console can show "on duty until ..." with the very boundaries :meth:`holders` uses.
        """
        if self.rotation == "fixed" or not self.people:
            return None
        zone = _zone(self.timezone)
        step = 1 if self.rotation == "daily" else 7
        instant = _aware(at).astimezone(UTC)

        def boundary(k: int) -> datetime:
            return wall_instant(self.start + timedelta(days=k * step), self.handover, zone)

        try:
            k = (instant.astimezone(zone).date() - self.start).days // step
            begin = boundary(k)
            # The local date is a guess: before the handover of that day, the previous period still runs.
            while begin > instant:
                k -= 1
                begin = boundary(k)
            end = boundary(k + 1)
            while end <= instant:
                k += 1
                begin, end = end, boundary(k + 1)
        except OverflowError:  # instants near year 1 or 9999: no rota reaches that far
            return None
        if k < 0:
            return None
        return DutyPeriod(k, self.people[k % len(self.people)], begin, end)

    def holders(self, at: datetime) -> tuple[str, ...]:
        """Names of the people holding this role at ``at``: active overrides, else the rotation."""
        active = [o.person for o in self.overrides if o.active(_aware(at))]
        if active:
            return tuple(dict.fromkeys(active))
        if self.rotation == "fixed":
            return tuple(dict.fromkeys(self.people))
        period = self.period_at(at)
        return () if period is None else (period.person,)

    def to_dict(self) -> dict[str, Any]:
        """The ``[[scenario.role]]`` table with JSON-able values (override ends keep their UTC offset)."""
        out: dict[str, Any] = {
            "name": self.name, "rotation": self.rotation, "handover": self.handover.strftime("%H:%M"),
            "timezone": self.timezone, "start": self.start.isoformat(), "people": list(self.people),
        }
        if self.overrides:
            out["override"] = [{"person": o.person, "from": o.start.isoformat(), "until": o.end.isoformat()}
                               for o in self.overrides]
        if self.digest:
            out["digest"] = self.digest
        return out


@dataclass(frozen=True)
class Scenario:
    """A shift scenario; the order of ``roles`` is the escalation order."""

    name: str
    roles: tuple[Role, ...]
    #: The scenario's ``[scenario.escalation]``; None when it states none (the engine uses ``default_policy``).
    escalation: EscalationPolicy | None = None

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "role": [r.to_dict() for r in self.roles]}
        if self.escalation is not None:
            out["escalation"] = _escalation_dict(self.escalation)
        return out


def _escalation_dict(policy: EscalationPolicy) -> dict[str, Any]:
    """The ``[scenario.escalation]`` table, durations written as in the file (``4h``) so an export reads well."""

    def duration(seconds: int | None) -> str:
        return OFF if seconds is None else format_duration(seconds)

    steps = []
    for step in policy.steps:
        table: dict[str, Any] = {"after": format_duration(step.after)}
        for key in ("roles", "people", "modes"):
            if getattr(step, key):
                table[key] = list(getattr(step, key))
        steps.append(table)
    return {"repeat": duration(policy.repeat), "ack_timeout": duration(policy.ack_timeout), "loops": policy.loops,
            "step": steps}


@dataclass(frozen=True)
class Directory:
    """Everyone who can be notified and every shift scenario, keyed by name (insertion order kept)."""

    people: dict[str, Person] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def scenario(self, name: str) -> Scenario:
        """The scenario ``name``; raises ValidationError on ``notify.scenario`` when there is none."""
        found = self.scenarios.get(name)
        if found is None:
            raise ValidationError.single("notify.scenario", f"unknown shift scenario {name!r}; "
                                         f"known: {_known(self.scenarios)}")
        return found

    def role(self, scenario: str, role: str) -> Role:
        """Role ``role`` of ``scenario``; raises ValidationError on notify.scenario / notify.roles."""
        found = self.scenario(scenario).role(role)
        if found is None:
            names = [r.name for r in self.scenarios[scenario].roles]
            raise ValidationError.single("notify.roles", f"scenario {scenario!r} has no role {role!r}; "
                                         f"its roles: {_known(names)}")
        return found

    def on_duty(self, scenario: str, role: str, at: datetime) -> list[Person]:
        """Who holds ``role`` of ``scenario`` at the aware instant ``at`` (``[]`` when nobody does).

        The one place that answers this question; the rules are in the module docstring.
        """
        return [self.person(name) for name in self.role(scenario, role).holders(at)]

    def next_role(self, scenario: str, role: str) -> str | None:
        """The role an unacknowledged alarm of ``role`` escalates to: the next in the scenario, None at the end."""
        self.role(scenario, role)
        names = [r.name for r in self.scenarios[scenario].roles]
        index = names.index(role)
        return names[index + 1] if index + 1 < len(names) else None

    def person(self, name: str) -> Person:
        """The person ``name``; raises ValidationError on ``notify.people`` when there is none."""
        found = self.people.get(name)
        if found is None:
            raise ValidationError.single("notify.people", f"unknown person {name!r}; known: {_known(self.people)}")
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, in the shape of the TOML file (``person`` and ``scenario`` lists)."""
        return {"person": [p.to_dict() for p in self.people.values()],
                "scenario": [s.to_dict() for s in self.scenarios.values()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Directory:
        """Read :meth:`to_dict` output back, through the same validator as an import."""
        return _build(data, "directory")


def merge(existing: Directory, incoming: Directory) -> Directory:
    """``existing`` with the people and scenarios of ``incoming`` added, or replacing those of the same name.

    Nothing is removed by an import, so every name a kept scenario refers to still resolves.
    """
    return Directory({**existing.people, **incoming.people}, {**existing.scenarios, **incoming.scenarios})


# --------------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    return parse_zone(name)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"on-duty questions need an aware datetime, got naive {at.isoformat()}")
    return at


def wall_instant(day: date, wall: time, zone: tzinfo) -> datetime:
    """The instant (aware, UTC) at which the wall-clock time ``wall`` of ``day`` happens in ``zone``.

    Inside a spring-forward gap: the first instant after the gap. Inside a fall-back overlap: the first
    occurrence. The same rule as the scheduler's, so a handover and a scan at the same local time agree.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    off_early = early.utcoffset() or timedelta(0)
    off_late = late.utcoffset() or timedelta(0)
    if off_early >= off_late:
        # Normal time, or an overlap where fold=0 is the first occurrence.
        return early.astimezone(UTC)
    # A gap: the wall time does not exist. The transition lies between its two readings; find it to the second.
    lo = int((naive - off_late).replace(tzinfo=UTC).timestamp())  # still on the old offset
    hi = int((naive - off_early).replace(tzinfo=UTC).timestamp())  # already on the new offset
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == off_early:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def _known(names: Any) -> str:
    listed = list(names)
    return ", ".join(repr(n) for n in listed) if listed else "none"


# --------------------------------------------------------------------------------------------------
# Validation and building
# --------------------------------------------------------------------------------------------------


class _Problems:
    """Collects every problem of a file; the file is rejected as a whole when there is one."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, rule: str) -> None:
        self.errors.append(FieldError(path, rule))

    def unknown_keys(self, path: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.add(f"{path}.{key}", f"unknown key; expected one of: {', '.join(allowed)}")

    def table(self, path: str, value: Any, what: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.add(path, f"must be a table ({what}), got {type(value).__name__}")
        return None

    def tables(self, path: str, value: Any, what: str) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.add(path, f"must be a list of {what} tables, got {type(value).__name__}")
        return []

    def text(self, path: str, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        self.add(path, f"must be a string, got {type(value).__name__}")
        return None


def parse_people_toml(text: str, source: str = "people.toml") -> Directory:
    """The directory described by a ``people.toml`` text; raises ValidationError listing every problem.

    ``source`` names the file in the one error a syntax error gives (there is no field to point at then).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError.single(source, f"not valid TOML: {exc}") from exc
    except RecursionError:
        raise ValidationError.single(source, "nests arrays or tables too deeply") from None
    return _build(data, source)


def _build(data: Mapping[str, Any], source: str) -> Directory:
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise ValidationError.single(source, "must be a table with [[person]] and [[scenario]] lists")
    problems.unknown_keys(source, data, ("person", "scenario"))

    people: dict[str, Person] = {}
    declared: dict[str, int] = {}  # every well-formed name, so one bad email does not orphan its rota entries
    for i, raw in enumerate(problems.tables("person", data.get("person"), "[[person]]")):
        _person(f"person[{i}]", i, raw, problems, people, declared)

    scenarios: dict[str, Scenario] = {}
    seen: set[str] = set()
    for i, raw in enumerate(problems.tables("scenario", data.get("scenario"), "[[scenario]]")):
        scenario = _scenario(i, raw, problems, declared, seen)
        if scenario is not None:
            scenarios[scenario.name] = scenario

    if problems.errors:
        raise ValidationError(problems.errors)
    return Directory(people, scenarios)


def _name(path: str, value: Any, problems: _Problems, what: str) -> str | None:
    if value is None:
        problems.add(path, f"a {what} needs a name ({_NAME_RULE})")
        return None
    if not isinstance(value, str) or not NAME_RE.match(value) or value != value.strip():
        problems.add(path, f"{value!r} is not a valid {what} name: {_NAME_RULE}")
        return None
    return value


def email_problem(text: str) -> str | None:
    """Why ``text`` is not an email address, or None. Deliberately loose (one ``@``, a dot in the domain):
    the mail server is the judge of the rest, but a missing ``@`` or domain is always a typo."""
    if not text or any(c.isspace() for c in text):
        return "must not be empty or contain spaces"
    if text.count("@") != 1:
        return "must contain exactly one @"
    local, domain = text.split("@")
    if not local:
        return "needs a name before the @"
    if "." not in domain or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return "the domain after the @ must contain a dot, e.g. example.com"
    return None


def _person(path: str, index: int, raw: Any, problems: _Problems, people: dict[str, Person],
            declared: dict[str, int]) -> None:
    table = problems.table(path, raw, "[[person]]")
    if table is None:
        return
    problems.unknown_keys(path, table, _PERSON_KEYS)
    before = len(problems.errors)
    name = _name(f"{path}.name", table.get("name"), problems, "person")
    if name is not None:
        if name in declared:
            problems.add(f"{path}.name", f"person {name!r} is already defined by person[{declared[name]}]; "
                                         "names must be unique")
        else:
            declared[name] = index

    email = problems.text(f"{path}.email", table.get("email"))
    if email is not None and (why := email_problem(email)) is not None:
        problems.add(f"{path}.email", f"{email!r} is not an email address: {why}")
        email = None
    mobile = problems.text(f"{path}.mobile", table.get("mobile"))
    if mobile is not None and not _MOBILE_RE.match(mobile):
        problems.add(f"{path}.mobile", f"{mobile!r} must be '+' and 6-15 digits, e.g. +8613800000001")
        mobile = None
    wecom = problems.text(f"{path}.wecom", table.get("wecom"))
    if wecom is not None and not _ID_RE.match(wecom):
        problems.add(f"{path}.wecom", f"{wecom!r} must be a WeCom user id: 1-128 characters, no spaces")
        wecom = None
    dingtalk = problems.text(f"{path}.dingtalk", table.get("dingtalk"))
    if dingtalk is not None:
        if dingtalk.startswith("+") and not _MOBILE_RE.match(dingtalk):
            problems.add(f"{path}.dingtalk", f"{dingtalk!r} looks like a mobile but is not '+' and 6-15 digits")
            dingtalk = None
        elif not _ID_RE.match(dingtalk):
            problems.add(f"{path}.dingtalk", f"{dingtalk!r} must be a DingTalk user id (no spaces) or a mobile")
            dingtalk = None

    apprise = _strings(f"{path}.apprise", table.get("apprise"), problems)
    for k, url in apprise:
        if not _URL_RE.match(url):
            # Never echo the value: an apprise URL carries tokens.
            problems.add(f"{path}.apprise[{k}]", "must be an apprise URL such as scheme://... "
                                                 "(value not shown: it may hold a secret)")

    modes = _strings(f"{path}.modes", table.get("modes"), problems)
    addresses = Person(name or "", email, mobile, wecom, dingtalk)
    for k, mode in modes:
        where = f"{path}.modes[{k}]"
        if not _MODE_RE.match(mode):
            problems.add(where, f"{mode!r} is not a notification mode (e.g. {', '.join(KNOWN_MODES)})")
        elif mode in [m for _, m in modes[:k]]:
            problems.add(where, f"mode {mode!r} is listed twice")
        elif mode in _ADDRESS_FIELD and addresses.address(mode) is None:
            # A preferred mode without an address would be skipped on every notice: say so now.
            needed = "dingtalk or mobile" if mode == "dingtalk" else _ADDRESS_FIELD[mode]
            problems.add(where, f"mode {mode!r} needs an address on this person: set {needed}")
        elif mode == APPRISE_MODE and not apprise:
            problems.add(where, f"mode {mode!r} sends to this person's apprise URLs: set apprise = [...]")

    if len(problems.errors) == before and name is not None:
        people[name] = Person(name, email, mobile, wecom, dingtalk, tuple(u for _, u in apprise),
                              tuple(m for _, m in modes))


def _strings(path: str, value: Any, problems: _Problems) -> list[tuple[int, str]]:
    """The strings of a list, with their positions (a single string is a list of one); bad items reported."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.add(path, f"must be a list of strings, got {type(value).__name__}")
        return []
    out: list[tuple[int, str]] = []
    for k, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            out.append((k, item))
        else:
            problems.add(f"{path}[{k}]", f"must be a non-empty string, got {item!r}")
    return out


def _scenario(index: int, raw: Any, problems: _Problems, declared: Mapping[str, int],
              seen: set[str]) -> Scenario | None:
    table = problems.table(f"scenario[{index}]", raw, "[[scenario]]")
    if table is None:
        return None
    name = _name(f"scenario[{index}].name", table.get("name"), problems, "scenario")
    path = f"scenario[{name}]" if name is not None else f"scenario[{index}]"
    problems.unknown_keys(path, table, _SCENARIO_KEYS)
    ok = name is not None
    if name is not None and name in seen:
        problems.add(f"{path}.name", f"scenario {name!r} is defined twice; names must be unique")
        ok = False
    if name is not None:
        seen.add(name)

    raw_roles = problems.tables(f"{path}.role", table.get("role"), "[[scenario.role]]")
    if not table.get("role"):
        problems.add(f"{path}.role", "a scenario needs at least one [[scenario.role]]")
        ok = False
    roles: list[Role] = []
    role_names: set[str] = set()
    for j, raw_role in enumerate(raw_roles):
        role = _role(path, j, raw_role, problems, declared, role_names)
        if role is None:
            ok = False
        else:
            roles.append(role)
    escalation: EscalationPolicy | None = None
    if table.get("escalation") is not None:
        before = len(problems.errors)
        escalation = _escalation(f"{path}.escalation", table["escalation"], problems, declared, role_names)
        ok = ok and len(problems.errors) == before
    return Scenario(name, tuple(roles), escalation) if ok and name is not None else None


def _escalation(path: str, raw: Any, problems: _Problems, declared: Mapping[str, int],
                role_names: set[str]) -> EscalationPolicy | None:
    """A ``[scenario.escalation]`` table; None (with the problems recorded) when any part of it is wrong.

    ``role_names`` holds every role name the scenario declares, valid or not, so one broken role is reported once
    rather than again by each step naming it."""
    table = problems.table(path, raw, "[scenario.escalation]")
    if table is None:
        return None
    problems.unknown_keys(path, table, _ESCALATION_KEYS)
    repeat = _interval(f"{path}.repeat", table.get("repeat", DEFAULT_REPEAT_S), problems)
    ack_timeout = _interval(f"{path}.ack_timeout", table.get("ack_timeout", OFF), problems)
    loops = table.get("loops", 0)
    if isinstance(loops, bool) or not isinstance(loops, int) or not 0 <= loops <= MAX_LOOPS:
        problems.add(f"{path}.loops", f"must be a whole number from 0 to {MAX_LOOPS} (how often the steps run "
                                      f"again after the last one), got {loops!r}")
    raw_steps = problems.tables(f"{path}.step", table.get("step"), "[[scenario.escalation.step]]")
    if len(raw_steps) > MAX_STEPS:
        problems.add(f"{path}.step", f"at most {MAX_STEPS} steps, got {len(raw_steps)}")
    steps = [_step(f"{path}.step[{k}]", raw_step, problems, declared, role_names)
             for k, raw_step in enumerate(raw_steps[:MAX_STEPS])]
    if any(step is None for step in steps):
        return None
    return EscalationPolicy(tuple(s for s in steps if s is not None), loops, repeat, ack_timeout)


def _interval(path: str, value: Any, problems: _Problems) -> int | None:
    """Seconds of a ``repeat`` or ``ack_timeout``, None for ``off``; at least a minute."""
    if isinstance(value, str) and value.strip().lower() == OFF:
        return None
    try:
        seconds = parse_duration(value, path)
    except ValidationError as exc:
        for error in exc.errors:
            problems.add(error.field, f"{error.rule}, or {OFF!r}")
        return None
    if seconds < MIN_INTERVAL_S:
        problems.add(path, f"must be at least 1 minute (or {OFF!r}), got {format_duration(seconds)}")
    return seconds


def _step(path: str, raw: Any, problems: _Problems, declared: Mapping[str, int],
          role_names: set[str]) -> EscalationStep | None:
    table = problems.table(path, raw, "[[scenario.escalation.step]]")
    if table is None:
        return None
    problems.unknown_keys(path, table, _STEP_KEYS)
    before = len(problems.errors)
    after: int | None = None
    if table.get("after") is None:
        problems.add(f"{path}.after", "required: the delay after the first notice or the previous step, e.g. 15m")
    else:
        try:
            after = parse_duration(table["after"], f"{path}.after")
        except ValidationError as exc:
            for error in exc.errors:
                problems.add(error.field, error.rule)
    roles = _strings(f"{path}.roles", table.get("roles"), problems)
    for k, role in roles:
        if role not in role_names:
            problems.add(f"{path}.roles[{k}]", f"this scenario has no role {role!r}; its roles: "
                                               f"{_known(sorted(role_names))}")
    people = _strings(f"{path}.people", table.get("people"), problems)
    for k, person in people:
        if person not in declared:
            problems.add(f"{path}.people[{k}]", f"unknown person {person!r}: define it in a [[person]] block")
    if not table.get("roles") and not table.get("people"):
        problems.add(path, "a step needs roles and/or people to notify")
    modes = _strings(f"{path}.modes", table.get("modes"), problems)
    for k, mode in modes:
        if not _MODE_RE.match(mode):
            problems.add(f"{path}.modes[{k}]", f"{mode!r} is not a notification mode (e.g. {', '.join(KNOWN_MODES)})")
        elif mode in [m for _, m in modes[:k]]:
            problems.add(f"{path}.modes[{k}]", f"mode {mode!r} is listed twice")
    if len(problems.errors) > before or after is None:
        return None
    return EscalationStep(after, tuple(dict.fromkeys(r for _, r in roles)), tuple(dict.fromkeys(p for _, p in people)),
                          tuple(m for _, m in modes))


def _role(scenario_path: str, index: int, raw: Any, problems: _Problems, declared: Mapping[str, int],
          seen: set[str]) -> Role | None:
    table = problems.table(f"{scenario_path}.role[{index}]", raw, "[[scenario.role]]")
    if table is None:
        return None
    name = _name(f"{scenario_path}.role[{index}].name", table.get("name"), problems, "role")
    path = f"{scenario_path}.role[{name}]" if name is not None else f"{scenario_path}.role[{index}]"
    problems.unknown_keys(path, table, _ROLE_KEYS)
    before = len(problems.errors)
    if name is not None:
        if name in seen:
            problems.add(f"{path}.name", f"role {name!r} is defined twice in this scenario; names must be unique")
        seen.add(name)

    rotation = table.get("rotation")
    if rotation not in ROTATIONS:
        problems.add(f"{path}.rotation", f"must be one of {', '.join(ROTATIONS)}, got {rotation!r}")
    fixed = rotation == "fixed"

    people = _strings(f"{path}.people", table.get("people"), problems)
    if not table.get("people"):
        problems.add(f"{path}.people", "a role needs at least one person")
    for k, person in people:
        if person not in declared:
            problems.add(f"{path}.people[{k}]", f"unknown person {person!r}: define it in a [[person]] block")

    handover = _handover(f"{path}.handover", table.get("handover"), problems, required=not fixed)
    zone_text = _zone_name(f"{path}.timezone", table.get("timezone"), problems, required=not fixed)
    start = _start(f"{path}.start", table.get("start"), problems, required=not fixed)

    overrides: list[Override] = []
    zone = _zone(zone_text) if zone_text is not None else None
    for k, raw_override in enumerate(problems.tables(f"{path}.override", table.get("override"),
                                                     "[[scenario.role.override]]")):
        override = _override(f"{path}.override[{k}]", raw_override, problems, declared, zone)
        if override is not None:
            overrides.append(override)

    digest = table.get("digest")
    if digest is not None and digest not in DIGESTS:
        problems.add(f"{path}.digest", f"must be one of {', '.join(DIGESTS)}, got {digest!r}")

    if len(problems.errors) > before or name is None or zone_text is None:
        return None
    return Role(name, cast(Rotation, rotation), tuple(p for _, p in people), handover or _FIXED_HANDOVER, zone_text,
                start or _FIXED_START, tuple(overrides), digest)


def _handover(path: str, value: Any, problems: _Problems, *, required: bool) -> time | None:
    if value is None:
        if required:
            problems.add(path, "a daily or weekly role needs a handover time HH:MM (e.g. 09:00)")
        return None
    if isinstance(value, time) and value.second == 0 and value.microsecond == 0 and value.tzinfo is None:
        return value
    match = _HANDOVER_RE.match(value) if isinstance(value, str) else None
    if match is None:
        problems.add(path, f"must be a wall-clock time HH:MM from 00:00 to 23:59, got {value!r}")
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _zone_name(path: str, value: Any, problems: _Problems, *, required: bool) -> str | None:
    if value is None:
        if required:
            problems.add(path, "a daily or weekly role needs a time zone (IANA name such as Asia/Shanghai, "
                               "or an offset such as GMT+08:00)")
            return None
        return _FIXED_ZONE
    if not isinstance(value, str):
        problems.add(path, f"must be a string, got {type(value).__name__}")
        return None
    try:
        return canonical_zone(value)
    except ValidationError as exc:
        for error in exc.errors:
            problems.add(path, error.rule)
        return None


def _start(path: str, value: Any, problems: _Problems, *, required: bool) -> date | None:
    if value is None:
        if required:
            problems.add(path, "a daily or weekly role needs the date of its first period (e.g. 2026-11-01)")
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.add(path, f"must be a date YYYY-MM-DD, got {value!r}")
    return None


def _override(path: str, raw: Any, problems: _Problems, declared: Mapping[str, int],
              zone: tzinfo | None) -> Override | None:
    table = problems.table(path, raw, "[[scenario.role.override]]")
    if table is None:
        return None
    problems.unknown_keys(path, table, _OVERRIDE_KEYS)
    before = len(problems.errors)
    person = table.get("person")
    if not isinstance(person, str) or not person:
        problems.add(f"{path}.person", "an override needs the name of the person who holds the role")
    elif person not in declared:
        problems.add(f"{path}.person", f"unknown person {person!r}: define it in a [[person]] block")
    start = _moment(f"{path}.from", table.get("from"), problems, zone)
    end = _moment(f"{path}.until", table.get("until"), problems, zone)
    if start is not None and end is not None and end <= start:
        problems.add(f"{path}.until", f"must be after from ({start.isoformat()}), got {end.isoformat()}")
    if len(problems.errors) > before or start is None or end is None:
        return None
    return Override(cast(str, person), start, end)


_MOMENT_RULE = "must be a date-time such as 2026-12-24T09:00 (an offset such as +08:00 is optional)"


def _moment(path: str, value: Any, problems: _Problems, zone: tzinfo | None) -> datetime | None:
    """An aware datetime; values without an offset are wall-clock times in the role's zone (DST rule applies)."""
    parsed: datetime | None = None
    if value is None:
        problems.add(path, f"required: {_MOMENT_RULE}")
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        problems.add(path, f"{_MOMENT_RULE}, got {value!r}")
        return None
    if parsed.tzinfo is not None and parsed.utcoffset() is not None:
        return parsed
    if zone is None:
        return None  # the role's zone is already reported as a problem
    return wall_instant(parsed.date(), parsed.time(), zone).astimezone(zone)


"""Coverage and compliance: per-host states and fleet figures over a period, as an auditor asks for them.

PCI DSS 6.3.3 asks for critical patches within a month, ISO 27001 A.8.8 for an audit trail of vulnerability
management. Both start from the same questions: which servers were not scanned successfully in the period,
which miss security updates, how fast was each scan failure noticed and closed. This module answers them from
plain data (inventory, tasks, slim scan entries, run acknowledgements); it reads nothing itself, so the engine,
the tests and the benchmark feed it the same way.

Definitions (the README's "Coverage report" section repeats them for operators):

* An *attempt* is a host result with status ``ok`` (a *success*) or ``failed``; skipped and cancelled hosts
  were never scanned and do not count. Times are UTC; days are UTC days.
* The period is ``[since, until)``. Only attempts before ``until`` are considered, so a report over a past
  period says what was true at its end.
* Host states, in order of precedence (the first that applies wins):

  1. ``untargeted``: in the inventory, in no enabled task. First because nothing will ever scan it again,
     whatever its past results say.
  2. ``never_scanned``: targeted, and no attempt on record (within the retention).
  3. ``scan_failed``: the latest attempt is in the period and failed (its category is shown). Before
     ``stale``: a host failing for weeks has a known cause to fix, and its days since the last success
     say how long.
  4. ``stale``: no success within the period (the latest attempt, if any, is older than the period).
  5. ``missing_security``: the latest attempt succeeded and lists security updates (counted).
  6. ``compliant``: the latest attempt succeeded and lists no security update (or the package manager
     cannot tell security updates apart).

* Coverage: hosts with a success within the period over the hosts in the inventory (in scope).
* Failure episode: one host's consecutive failed results in one task until a success. It starts at the
  first failure, is *acknowledged* at the earliest ``acknowledged_at`` of its failed runs, and *resolved*
  at the first later success. Episodes are counted in the period their first failure falls in; an episode
  still open at the end of the period counts, with no time to resolve. Means and p90 (nearest rank) are in
  seconds.
* Missed fires: schedule slots recorded as ``missed`` runs created in the period (per task and fleet-wide;
  a group has none of its own).
* Daily trend: per UTC day of the period, hosts with a success that day, hosts whose attempts that day all
  failed, and the day's coverage (successes that day over the hosts in scope).
* With a task in scope, only that task's results count, and only the hosts it targets are listed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple


class HostState(StrEnum):
    UNTARGETED = "untargeted"
    NEVER_SCANNED = "never_scanned"
    SCAN_FAILED = "scan_failed"
    STALE = "stale"
    MISSING_SECURITY = "missing_security"
    COMPLIANT = "compliant"


#: Precedence, first wins (see the module docstring); also the order states are listed in.
STATE_ORDER: tuple[HostState, ...] = tuple(HostState)
#: States an operator has to act on: everything but compliant.
NON_COMPLIANT = frozenset(STATE_ORDER) - {HostState.COMPLIANT}


class Entry(NamedTuple):
    """One scan attempt, as the history index keeps it (``console.store.history.FIELDS``), ids resolved."""

    #: when the host finished, epoch seconds (UTC)
    at: float
    task_id: str
    run_id: str
    status: str
    category: str | None
    missing: int
    security: int | None
    reboot: bool | None


@dataclass(frozen=True)
class InventoryHost:
    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskScope:
    """A task and the hosts it targets now (resolved against the inventory)."""

    id: str
    name: str
    enabled: bool
    hosts: frozenset[str]


@dataclass(frozen=True)
class Period:
    """``[since, until)``, aware UTC datetimes."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("a report period needs aware datetimes")
        if self.since >= self.until:
            raise ValueError("the period must end after it starts")

    @property
    def since_iso(self) -> str:
        return self.since.astimezone(UTC).isoformat()

    @property
    def until_iso(self) -> str:
        return self.until.astimezone(UTC).isoformat()

    @property
    def since_ts(self) -> float:
        return self.since.timestamp()

    @property
    def until_ts(self) -> float:
        return self.until.timestamp()

    def days(self) -> list[str]:
        """Every UTC day the period touches, ``YYYY-MM-DD``."""
        day = self.since.astimezone(UTC).date()
        last = (self.until.astimezone(UTC) - timedelta(microseconds=1)).date()
        out = []
        while day <= last:
            out.append(day.isoformat())
            day += timedelta(days=1)
        return out

    def months(self) -> list[str]:
        """Every ``YYYY-MM`` the period touches."""
        return sorted({d[:7] for d in self.days()})


@dataclass
class HostLine:
    """One host's row of the report."""

    host: str
    state: str
    groups: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    last_attempt_at: str | None = None
    last_attempt_status: str | None = None
    last_attempt_category: str | None = None
    last_attempt_run: str | None = None
    last_success_at: str | None = None
    last_success_run: str | None = None
    missing: int | None = None
    security: int | None = None
    reboot: bool | None = None
    days_since_success: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostLine:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Figures:
    """The figures of one scope (the fleet, a group, a task)."""

    hosts: int = 0
    covered: int = 0
    coverage: float = 0.0
    states: dict[str, int] = field(default_factory=dict)
    episodes: int = 0
    open_episodes: int = 0
    episodes_by_category: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0
    resolved: int = 0
    mean_ack_s: float | None = None
    p90_ack_s: float | None = None
    mean_resolve_s: float | None = None
    p90_resolve_s: float | None = None
    missed_fires: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figures:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrendDay:
    day: str
    ok: int
    failed: int
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class CoverageReport:
    """The whole report: period, scope, figures (fleet, per group, per task), the trend and the hosts."""

    since: str
    until: str
    generated_at: str
    group: str | None
    task: str | None
    fleet: Figures
    groups: dict[str, Figures]
    tasks: dict[str, Figures]
    trend: list[TrendDay]
    hosts: list[HostLine]

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "generated_at": self.generated_at, "group": self.group,
                "task": self.task, "fleet": self.fleet.to_dict(),
                "groups": {k: v.to_dict() for k, v in self.groups.items()},
                "tasks": {k: v.to_dict() for k, v in self.tasks.items()},
                "trend": [d.to_dict() for d in self.trend], "hosts": [h.to_dict() for h in self.hosts]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoverageReport:
        return cls(since=data["since"], until=data["until"], generated_at=data["generated_at"],
                   group=data.get("group"), task=data.get("task"), fleet=Figures.from_dict(data["fleet"]),
                   groups={k: Figures.from_dict(v) for k, v in data.get("groups", {}).items()},
                   tasks={k: Figures.from_dict(v) for k, v in data.get("tasks", {}).items()},
                   trend=[TrendDay(**d) for d in data.get("trend", [])],
                   hosts=[HostLine.from_dict(h) for h in data.get("hosts", [])])


@dataclass
class Episode:
    task_id: str
    host: str
    category: str | None
    started_at: float
    run_ids: list[str]
    resolved_at: float | None = None


# ------------------------------------------------------------------------------------------------ maths


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(ts: float) -> str:
    """Epoch seconds as the ISO-8601 UTC text every record carries."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile by nearest rank (an observed value, never an interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def host_state(entries: Sequence[Entry], targeted: bool, period: Period) -> tuple[HostState, Entry | None,
                                                                                Entry | None]:
    """The state of one host from its attempts (oldest first, all before the period's end), with its latest
    attempt and latest success."""
    last = entries[-1] if entries else None
    last_ok = next((e for e in reversed(entries) if e.status == "ok"), None)
    if not targeted:
        return HostState.UNTARGETED, last, last_ok
    if last is None:
        return HostState.NEVER_SCANNED, last, last_ok
    since = period.since_ts
    if last.status == "failed" and last.at >= since:
        return HostState.SCAN_FAILED, last, last_ok
    if last_ok is None or last_ok.at < since:
        return HostState.STALE, last, last_ok
    if (last_ok.security or 0) > 0:
        return HostState.MISSING_SECURITY, last, last_ok
    return HostState.COMPLIANT, last, last_ok


def episodes_of(entries: Iterable[Entry], host: str) -> list[Episode]:
    """Failure episodes of one host, per task (entries oldest first)."""
    open_by_task: dict[str, Episode] = {}
    done: list[Episode] = []
    for e in entries:
        current = open_by_task.get(e.task_id)
        if e.status == "failed":
            if current is None:
                open_by_task[e.task_id] = Episode(e.task_id, host, e.category, e.at, [e.run_id])
            else:
                current.run_ids.append(e.run_id)
        elif current is not None:
            current.resolved_at = e.at
            done.append(current)
            del open_by_task[e.task_id]
    return done + list(open_by_task.values())


class _Acc:
    """Accumulates one scope's figures."""

    def __init__(self, missed: int | None) -> None:
        self.figures = Figures(states={s.value: 0 for s in STATE_ORDER}, missed_fires=missed)
        self.acks: list[float] = []
        self.resolves: list[float] = []

    def host(self, state: HostState, covered: bool) -> None:
        self.figures.hosts += 1
        self.figures.states[state.value] += 1
        self.figures.covered += covered

    def episode(self, ep: Episode, ack_s: float | None, resolve_s: float | None) -> None:
        f = self.figures
        f.episodes += 1
        key = ep.category or "unknown"
        f.episodes_by_category[key] = f.episodes_by_category.get(key, 0) + 1
        if resolve_s is None:
            f.open_episodes += 1
        else:
            f.resolved += 1
            self.resolves.append(resolve_s)
        if ack_s is not None:
            f.acknowledged += 1
            self.acks.append(ack_s)

    def done(self) -> Figures:
        f = self.figures
        f.coverage = f.covered / f.hosts if f.hosts else 0.0
        f.mean_ack_s, f.p90_ack_s = mean(self.acks), p90(self.acks)
        f.mean_resolve_s, f.p90_resolve_s = mean(self.resolves), p90(self.resolves)
        f.episodes_by_category = dict(sorted(f.episodes_by_category.items()))
        return f


def compute(
    period: Period,
    inventory: Sequence[InventoryHost],
    tasks: Sequence[TaskScope],
    entries: Mapping[str, Sequence[Entry]],
    acks: Mapping[str, str | None],
    missed: Mapping[str, int],
    *,
    now: datetime,
    group: str | None = None,
    task: str | None = None,
) -> CoverageReport:
    """The report. ``entries``: every host's attempts before ``period.until``, oldest first (what precedes the
    period decides last success, staleness and episode starts). ``acks``: ``acknowledged_at`` by run id (the
    runs of failed entries). ``missed``: missed fires in the period, by task id. ``group``/``task`` (a task id)
    narrow the scope (see the module docstring)."""
    since, until = period.since_ts, period.until_ts
    in_scope_task = next((t for t in tasks if t.id == task), None) if task else None
    hosts = [h for h in inventory if (group is None or group in h.groups)
             and (in_scope_task is None or h.name in in_scope_task.hosts)]
    enabled = [t for t in tasks if t.enabled]
    task_names = {t.id: t.name for t in tasks}
    end = min(period.until, now)
    days = period.days()
    first_day = datetime.fromisoformat(days[0]).replace(tzinfo=UTC).timestamp()
    trend_ok = [0] * len(days)
    trend_failed = [0] * len(days)

    fleet = _Acc(sum(missed.get(t.id, 0) for t in tasks if in_scope_task is None or t.id == in_scope_task.id))
    group_accs: dict[str, _Acc] = {}
    task_accs = {t.id: _Acc(missed.get(t.id, 0)) for t in tasks if in_scope_task is None or t.id == task}
    lines: list[HostLine] = []

    until_iso = period.until_iso

    def ack_and_resolve(ep: Episode) -> tuple[float | None, float | None]:
        ack_times = [a for r in ep.run_ids if (a := acks.get(r)) and a < until_iso]
        ack_s = parse_time(min(ack_times)).timestamp() - ep.started_at if ack_times else None
        resolve_s = ep.resolved_at - ep.started_at if ep.resolved_at is not None else None
        return (max(0.0, ack_s) if ack_s is not None else None), resolve_s

    for h in hosts:
        all_entries = entries.get(h.name, [])
        if all_entries and all_entries[-1].at >= until:
            all_entries = [e for e in all_entries if e.at < until]
        mine = all_entries if in_scope_task is None else [e for e in all_entries if e.task_id == in_scope_task.id]
        targeting = [t for t in enabled if h.name in t.hosts and (in_scope_task is None or t.id == task)]
        state, last, last_ok = host_state(mine, bool(targeting), period)
        covered = any(e.status == "ok" and e.at >= since for e in mine)
        line = HostLine(host=h.name, state=state.value, groups=list(h.groups), tasks=sorted(t.name for t in targeting))
        if last is not None:
            line.last_attempt_at, line.last_attempt_status = iso(last.at), last.status
            line.last_attempt_category, line.last_attempt_run = last.category, last.run_id
        if last_ok is not None:
            line.last_success_at, line.last_success_run = iso(last_ok.at), last_ok.run_id
            line.missing, line.security, line.reboot = last_ok.missing, last_ok.security, last_ok.reboot
            line.days_since_success = max(0, (end - datetime.fromtimestamp(last_ok.at, UTC)).days)
        lines.append(line)

        # Trend: per day, did the host succeed, or only fail?
        per_day: dict[int, bool] = {}
        for e in mine:
            if e.at >= since:
                i = int((e.at - first_day) // 86400)
                per_day[i] = per_day.get(i, False) or e.status == "ok"
        for i, ok in per_day.items():
            if ok:
                trend_ok[i] += 1
            else:
                trend_failed[i] += 1

        scopes = [fleet] + [group_accs.setdefault(g, _Acc(None)) for g in h.groups]
        for acc in scopes:
            acc.host(state, covered)
        # Per task: the host's state as that task alone sees it.
        for t in tasks:
            if t.id not in task_accs or h.name not in t.hosts:
                continue
            own = [e for e in all_entries if e.task_id == t.id]
            t_state, _, _ = host_state(own, t.enabled, period)
            task_accs[t.id].host(t_state, any(e.status == "ok" and e.at >= since for e in own))
        for ep in episodes_of(mine, h.name):
            if not since <= ep.started_at < until:
                continue
            if ep.resolved_at is not None and ep.resolved_at >= until:
                ep.resolved_at = None
            ack_s, resolve_s = ack_and_resolve(ep)
            for acc in scopes:
                acc.episode(ep, ack_s, resolve_s)
            if ep.task_id in task_accs:
                task_accs[ep.task_id].episode(ep, ack_s, resolve_s)

    n = len(hosts)
    trend = [TrendDay(day=d, ok=trend_ok[i], failed=trend_failed[i], coverage=trend_ok[i] / n if n else 0.0)
             for i, d in enumerate(days)]
    order = {s.value: i for i, s in enumerate(STATE_ORDER)}
    lines.sort(key=lambda line: (order[line.state], line.host))
    return CoverageReport(
        since=period.since_iso, until=period.until_iso, generated_at=now.astimezone(UTC).isoformat(), group=group,
        task=task_names.get(task) if task else None, fleet=fleet.done(),
        groups={g: acc.done() for g, acc in sorted(group_accs.items())},
        tasks={task_names[tid]: acc.done() for tid, acc in task_accs.items()},
        trend=trend, hosts=lines)

"""The report service: coverage and compliance reports, the host-history index's upkeep, and retention.

It gathers what :func:`console.domain.coverage.compute` needs in one call on the store's thread (the months of
the history index the period needs, the acknowledgements of the failed runs, the missed fires) and leaves the
arithmetic to the domain. Reading the slim monthly index instead of the host results is what keeps a report
over a year of 1,000 daily-scanned hosts in seconds (``bench/report.py``).

Digests: a role of a shift scenario with ``digest = "weekly"`` (or ``"monthly"``) in people.toml gets, at
00:00 UTC each Monday (or on the 1st), the coverage figures of the past week (or month) by email through the
notification outbox, addressed to whoever holds the role then. A boundary passed while no owner process ran
is not made up.

Retention: host results older than ``retention_days`` (default 400, ``$PATCHWATCH_RETENTION_DAYS``) are
removed a whole shard at a time, and the index with them, when the engine opens and then once a day; each
pass that removes something records a ``history.pruned`` event saying what went.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from console.clock import Clock
from console.domain.coverage import CoverageReport, Entry, InventoryHost, Period, TaskScope, compute
from console.domain.coverage_render import figure_lines
from console.domain.events import EventKind
from console.domain.run import RunState
from console.domain.task import Task
from console.engine.broker import EventBroker
from console.engine.fleet import FleetService
from console.engine.tasks import TaskCatalogue
from console.errors import NotFoundError, ValidationError
from console.jobs import Target
from console.notify.notice import Notice, NoticeKind
from console.notify.service import NotificationService
from console.store.datastore import DataStore
from console.store.repositories import Repositories

RETENTION_ENV = "PATCHWATCH_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 400


def retention_from_env(default: int = DEFAULT_RETENTION_DAYS) -> int:
    value = os.environ.get(RETENTION_ENV)
    if not value:
        return default
    try:
        days = int(value)
    except ValueError as exc:
        raise ValidationError.single(RETENTION_ENV, f"must be a whole number of days, got {value!r}") from exc
    if days < 1:
        raise ValidationError.single(RETENTION_ENV, f"must be at least 1 day, got {days}")
    return days


def next_digest_boundary(now: datetime) -> datetime:
    """The next 00:00 UTC that is a Monday or a 1st, strictly after ``now``."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while day.weekday() != 0 and day.day != 1:
        day += timedelta(days=1)
    return day


def digest_period(cadence: str | None, at: datetime) -> tuple[datetime, datetime] | None:
    """The period a ``weekly``/``monthly`` digest sent at ``at`` covers, or None when none is due then."""
    at = at.astimezone(UTC)
    if (at.hour, at.minute, at.second) != (0, 0, 0):
        return None
    if cadence == "weekly" and at.weekday() == 0:
        return at - timedelta(days=7), at
    if cadence == "monthly" and at.day == 1:
        return (at - timedelta(days=1)).replace(day=1), at
    return None


def task_hosts(task: Task, inventory: list[Target]) -> frozenset[str]:
    """The inventory hosts a task targets now (the same rule as the fleet's target resolution)."""
    names = {t.name for t in inventory}
    chosen = {n for n in task.targets.instances if n in names}
    for group in task.targets.groups:
        chosen.update(t.name for t in inventory if group == "all" or group in t.groups)
    return frozenset(chosen)


def gather_entries(repos: Repositories, period: Period, hosts: set[str]) -> dict[str, list[Entry]]:
    """Every attempt of ``hosts`` that decides the report, oldest first: all of the months the period touches
    and of the month before it (episode starts), then, for a host with no success there, the month of its
    last success before the period's end, and for a host with no attempt there, the month of its last attempt
    (found in the index's per-host month lists, so no month in between is read)."""
    index = repos.host_history.index
    until_month = period.months()[-1]
    first = (period.since.astimezone(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    chunks: list[dict[str, list[Entry]]] = []
    attempted: set[str] = set()
    succeeded: set[str] = set()
    #: While reading an older month: only the hosts that asked for it (another host's older entries, joined to
    #: its recent ones across the months skipped, could merge two failure episodes into one).
    only: set[str] = hosts

    def visit(_month: str, stored: dict[str, dict[str, list[list[Any]]]], tasks: list[str], runs: list[str]) -> None:
        found: dict[str, list[Entry]] = {}
        for host, days in stored.items():
            if host not in only:
                continue
            out = found[host] = []
            ok = False
            for entries in days.values():
                for e in entries:
                    out.append(Entry(e[0], tasks[e[1]], runs[e[2]], "ok" if e[3] else "failed", e[4], e[5], e[6],
                                     e[7]))
                    ok = ok or bool(e[3])
            attempted.add(host)
            if ok:
                succeeded.add(host)
        chunks.append(found)

    recent = [m for m in index.months() if first <= m <= until_month]
    index.scan(recent, visit)
    extra: dict[str, set[str]] = {}
    for host, lists in index.host_months().items():
        if host not in hosts:
            continue
        for key, done in (("o", succeeded), ("a", attempted)):
            if host not in done:
                older = [m for m in lists.get(key, []) if m < first]
                if older:
                    extra.setdefault(older[-1], set()).add(host)
    for month in sorted(extra):
        only = extra[month]
        index.scan([month], visit)
    merged: dict[str, list[Entry]] = {}
    for chunk in chunks:
        for host, es in chunk.items():
            merged.setdefault(host, []).extend(es)
    for es in merged.values():
        es.sort()
    return merged


class ReportService:
    """Reports over the history index; keeps the index level with the results; prunes old history."""

    def __init__(self, store: DataStore, broker: EventBroker, clock: Clock, tasks: TaskCatalogue,
                 fleet: FleetService, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self._store = store
        self._broker = broker
        self._clock = clock
        self._tasks = tasks
        self._fleet = fleet
        self.retention_days = retention_days
        self._pruner: asyncio.Task[None] | None = None
        self._digester: asyncio.Task[None] | None = None
        #: Set by the engine when it notifies: where digests are queued.
        self.notifier: NotificationService | None = None

    async def load(self) -> int:
        """Bring the history index level with the results (rebuild when missing); returns entries added."""
        if self._store.read_only:
            return 0
        return await self._store.call(lambda r: r.host_history.catch_up())

    def start(self) -> None:
        """Prune once a day from now on (owners of the data directory only; the engine prunes at open)."""
        if self._pruner is None and not self._store.read_only:
            self._pruner = asyncio.create_task(self._prune_loop(), name="patchwatch-retention")
        if self._digester is None and self.notifier is not None:
            self._digester = asyncio.create_task(self._digest_loop(), name="patchwatch-digests")

    async def stop(self) -> None:
        for task in (self._pruner, self._digester):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._pruner = self._digester = None

    async def _digest_loop(self) -> None:
        while True:
            boundary = next_digest_boundary(self._clock.now())
            await self._clock.sleep_until(boundary)
            await self.send_digests(boundary)

    async def send_digests(self, at: datetime) -> int:
        """Queue the digests due at ``at`` (a Monday and/or a 1st, 00:00 UTC); returns how many records."""
        if self.notifier is None:
            return 0
        at = at.astimezone(UTC)
        queued = 0
        for scenario in self.notifier.directory.scenarios.values():
            for role in scenario.roles:
                period = digest_period(role.digest, at)
                if period is None:
                    continue
                since, until = period
                report = await self.coverage(since=since, until=until)
                last_day = (until - timedelta(days=1)).date().isoformat()
                notice = Notice(kind=NoticeKind.DIGEST, task_name=f"{role.digest} coverage digest", task_id="-",
                                at=at.isoformat(), timezone="UTC", detail=" · ".join(figure_lines(report.fleet)),
                                logs_command=f"patchwatch report coverage --from {since.date().isoformat()} "
                                f"--to {last_day} --format html --out coverage.html")
                queued += len(await self.notifier.queue_digest(scenario.name, role.name, notice))
        return queued

    async def _prune_loop(self) -> None:
        while True:
            await self._clock.sleep_until(self._clock.now() + timedelta(days=1))
            await self.prune()

    async def prune(self) -> dict[str, Any]:
        """Remove host results (whole shards) and index entries older than the retention; record what went."""
        await self._store.flush_if_dirty()
        before = (self._clock.now() - timedelta(days=self.retention_days)).astimezone(UTC).isoformat()
        results, shards, entries = await self._store.call(lambda r: r.host_history.prune(before))
        summary = {"before": before, "results": results, "shards": shards, "entries": entries,
                   "retention_days": self.retention_days}
        if results or entries:
            self._broker.publish(EventKind.HISTORY_PRUNED, f"retention: removed {results} host results "
                                 f"({shards} shards) and {entries} history entries older than {before[:10]} "
                                 f"({self.retention_days} days)", actor="retention", data=summary)
        return summary

    async def coverage(self, *, since: datetime, until: datetime, group: str | None = None,
                       task: str | None = None) -> CoverageReport:
        """The coverage report of ``[since, until)``, optionally of one inventory group or one task."""
        if since.tzinfo is None or until.tzinfo is None:
            raise ValidationError.single("period", "since and until need a time zone")
        if since >= until:
            raise ValidationError.single("--from/--to", f"the period must end after it starts "
                                         f"({since.isoformat()} is not before {until.isoformat()})")
        period = Period(since.astimezone(UTC), until.astimezone(UTC))
        inventory = await self._fleet.list_instances()
        if group is not None and not any(group in t.groups for t in inventory):
            known = sorted({g for t in inventory for g in t.groups})
            raise ValidationError.single("--group", f"no inventory group {group!r} (known: "
                                         f"{', '.join(known) or 'none'})")
        task_id = None
        if task is not None:
            try:
                task_id = self._tasks.find(task).id
            except NotFoundError as exc:
                raise ValidationError.single("--task", f"no task {task!r} (a task id or name)") from exc
        tasks = [TaskScope(t.id, t.name, t.enabled, task_hosts(t, inventory)) for t in self._tasks.sorted()]
        hosts = [InventoryHost(t.name, tuple(t.groups)) for t in inventory]
        names = {h.name for h in hosts}
        await self._store.flush_if_dirty()

        def gather(repos: Repositories) -> tuple[dict[str, list[Entry]], dict[str, str | None], dict[str, int]]:
            entries = gather_entries(repos, period, names)
            failed_runs = {e.run_id for es in entries.values() for e in es if e.status == "failed"}
            runs = repos.runs.get_many(failed_runs)
            acks = {rid: run.acknowledged_at for rid, run in runs.items()}
            missed: dict[str, int] = {}
            for run in repos.runs.created_between(period.since_iso, period.until_iso):
                if run.state is RunState.MISSED:
                    missed[run.task_id] = missed.get(run.task_id, 0) + max(1, run.missed_count)
            return entries, acks, missed

        entries, acks, missed = await self._store.call(gather)
        return compute(period, hosts, tasks, entries, acks, missed, now=self._clock.now(), group=group,
                       task=task_id)


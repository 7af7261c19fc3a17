"""A deterministic scan history written through the real store: what coverage reports are tested and
benchmarked on.

Why a builder and not the engine: a year of daily scans of 1,000 hosts through the scheduler and SSH would
take hours; what the report reads is what the repositories wrote, so the builder writes tasks, inventory, runs
and host results through the same repositories the engine uses (``HostResultRepository.insert_new`` also
maintains the history index, exactly as a live flush does).

The fleet (``hosts`` instances, seeded randomness, ``end`` the instant the history stops):

* groups ``web`` (40%), ``db`` (30%), ``batch`` (the rest but the last 2%), ``lab`` (the last 2%);
* task ``daily-web-db`` (groups web, db) and ``daily-batch`` (group batch) scan every day at 03:00 UTC; task
  ``lab-scan`` (group lab) scanned the lab for the first third of the history and is disabled since, so the lab
  hosts are *untargeted*;
* 1.5% of the batch hosts joined the inventory but were never scanned (*never_scanned*);
* 2.5% of the hosts stopped answering 40 days before the end and produce no result since (*stale*);
* 3% of the hosts fail the last three days (*scan_failed*); elsewhere each host-day fails with probability
  4%, and a failure continues the next day with probability 50% (episodes of a few days), in a category of
  the taxonomy;
* every success lists 0-30 missing updates, of which security updates on about 20% of hosts;
* a failed run is acknowledged 5 minutes to 30 hours after it finished, or never (25%);
* ``daily-batch`` missed its slot on a few days (``missed`` runs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.domain.run import Run, RunState, Trigger
from console.domain.task import task_from_input
from console.jobs import Target
from console.store.repositories import Repositories
from console.store.store import Store

CATEGORIES = ("network", "timeout", "permission", "host_key", "tool", "service")


@dataclass(frozen=True)
class HistoryPlan:
    """What was built: counts a test or a benchmark can print."""

    hosts: int
    days: int
    results: int
    runs: int
    start: datetime
    end: datetime


def _task(name: str, groups: list[str], task_id: str, now: datetime, enabled: bool = True) -> Any:
    data = {"name": name, "enabled": enabled, "schedule": {"timezone": "UTC", "cron": "0 0 3 * * ?"},
            "job": {"name": "Scan_OS_Patch"}, "targets": {"groups": groups}}
    return task_from_input(data, task_id=task_id, now=now, actor="history-builder")


def build_history(data_dir: str | Path, *, hosts: int = 1000, days: int = 90, end: datetime | None = None,
                  seed: int = 12, shard_sizes: dict[str, int] | None = None) -> HistoryPlan:
    """Write the history into a new data directory (see the module docstring); returns what was written."""
    end = end or datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    first_day = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    names = [f"srv-{i:04d}" for i in range(hosts)]
    n_lab = max(1, hosts * 2 // 100)
    groups: dict[str, str] = {}
    for i, name in enumerate(names):
        groups[name] = ("web" if i < hosts * 40 // 100 else "db" if i < hosts * 70 // 100
                        else "lab" if i >= hosts - n_lab else "batch")
    batch_hosts = [n for n in names if groups[n] == "batch"]
    never = set(batch_hosts[-max(1, hosts * 15 // 1000):])
    stale = set(rng.sample([n for n in names if n not in never and groups[n] != "lab"], max(1, hosts // 40)))
    failing_now = set(rng.sample([n for n in names if n not in never | stale and groups[n] != "lab"],
                                 max(1, hosts * 3 // 100)))
    secure_issue = {n for n in names if rng.random() < 0.2}
    stale_from = days - 40
    lab_until = days // 3

    store = Store(data_dir, shard_sizes=shard_sizes)
    repos = Repositories(store)
    try:
        tasks = {"web-db": _task("daily-web-db", ["web", "db"], "STdailywebdb0000000000000", first_day),
                 "batch": _task("daily-batch", ["batch"], "STdailybatch0000000000000", first_day),
                 "lab": _task("lab-scan", ["lab"], "STlabscan0000000000000000", first_day, enabled=False)}
        for task in tasks.values():
            repos.tasks.put(task)
        repos.inventory.put_many([Target(name=n, address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                                         groups=(groups[n],)).to_dict() for i, n in enumerate(names)])
        members = {"web-db": [n for n in names if groups[n] in ("web", "db")],
                   "batch": [n for n in batch_hosts if n not in never],
                   "lab": [n for n in names if groups[n] == "lab"]}
        failing_tomorrow: set[str] = set()
        n_results = n_runs = 0
        for d in range(days):
            day = first_day + timedelta(days=d)
            for key, task in tasks.items():
                if key == "lab" and d >= lab_until:
                    continue
                slot = day.replace(hour=3)
                run_id = f"RN{day:%Y%m%d}{key.replace('-', '')}"
                if key == "batch" and d % 29 == 7:
                    repos.runs.insert(Run(id=run_id, task_id=task.id, task_name=task.name, trigger=Trigger.SCHEDULE,
                                          state=RunState.MISSED, created_at=(slot + timedelta(minutes=5)).isoformat(),
                                          scheduled_for=slot.isoformat(), missed_slots=[slot.isoformat()],
                                          missed_count=1))
                    n_runs += 1
                    continue
                results: list[dict[str, Any]] = []
                failed_here: dict[str, int] = {}
                for i, host in enumerate(members[key]):
                    if host in stale and d >= stale_from:
                        continue
                    at = (slot + timedelta(seconds=i % 900, milliseconds=(i * 37) % 1000)).isoformat()
                    fails = (host in failing_now and d >= days - 3) or host in failing_tomorrow \
                        or rng.random() < 0.04
                    failing_tomorrow.discard(host)
                    doc: dict[str, Any] = {"id": f"{run_id}:{host}", "run_id": run_id, "task_id": task.id,
                                           "host": host, "address": "", "batch": 1, "started_at": at,
                                           "finished_at": at, "duration_s": 1.0, "packages": []}
                    if fails:
                        category = CATEGORIES[(i + d // 5) % len(CATEGORIES)]
                        doc.update(status="failed", category=category, reason=f"simulated {category} failure",
                                   missing_count=0, security_count=None, reboot_required=None)
                        failed_here[category] = failed_here.get(category, 0) + 1
                        if rng.random() < 0.5:
                            failing_tomorrow.add(host)
                    else:
                        missing = rng.randint(0, 30)
                        security = rng.randint(1, 5) if host in secure_issue else 0
                        doc.update(status="ok", category=None, reason=None, missing_count=missing + security,
                                   security_count=security, reboot_required=rng.random() < 0.05)
                    results.append(doc)
                finished = slot + timedelta(minutes=20)
                failed = sum(failed_here.values())
                run = Run(id=run_id, task_id=task.id, task_name=task.name, trigger=Trigger.SCHEDULE,
                          state=RunState.FAILED if failed else RunState.SUCCEEDED, created_at=slot.isoformat(),
                          scheduled_for=slot.isoformat(), started_at=slot.isoformat(),
                          finished_at=finished.isoformat(), hosts_total=len(results),
                          hosts_ok=len(results) - failed, hosts_failed=failed, categories=failed_here)
                if failed and rng.random() < 0.75:
                    run.acknowledged_by = "alice"
                    run.acknowledged_at = (finished + timedelta(minutes=rng.randint(5, 30 * 60))).isoformat()
                repos.runs.insert(run)
                repos.host_results.insert_new(results)
                n_runs += 1
                n_results += len(results)
        repos.host_history.index.mark_built()
    finally:
        store.close()
    return HistoryPlan(hosts=hosts, days=days, results=n_results, runs=n_runs, start=first_day, end=end)

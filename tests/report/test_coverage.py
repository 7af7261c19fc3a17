"""The coverage report against an independent, straightforward computation over the raw host results.

The history (1,000 hosts, 90 days, failures, recoveries, stale, never-scanned and untargeted hosts) is written
through the real store by ``console.sim.history.build_history``. The report reads the slim history index; the
reference below reads every stored host result and run and recomputes each figure the plain way. They must
agree on every figure, every host line and every trend day.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.clock import ManualClock
from console.domain.coverage import HostState, Period, host_state
from console.domain.events import EventKind
from console.engine import Engine
from console.sim.history import build_history
from console.store.store import Store

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("history") / "data"
    build_history(data_dir, hosts=1000, days=90, end=END)
    return data_dir


def raw_data(data_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]],
                                      list[dict[str, Any]]]:
    store = Store(data_dir, read_only=True)
    try:
        results = list(store.sharded("host_results").iter_oldest())
        runs = list(store.sharded("runs").iter_oldest())
        inventory = store.all_docs("inventory")
        tasks = store.all_docs("tasks")
    finally:
        store.close()
    return results, runs, inventory, tasks


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def reference(data_dir: Path, since: datetime, until: datetime) -> dict[str, Any]:
    """Every figure, computed directly from the stored results and runs."""
    results, runs, inventory, tasks = raw_data(data_dir)
    s, u = since.isoformat(), until.isoformat()
    acks = {r["id"]: r.get("acknowledged_at") for r in runs}
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if r["status"] in ("ok", "failed") and r["finished_at"] < u:
            by_host[r["host"]].append(r)
    for rs in by_host.values():
        rs.sort(key=lambda r: r["finished_at"])
    enabled_groups = {g for t in tasks if t["enabled"] for g in t["targets"]["groups"]}
    states: dict[str, int] = defaultdict(int)
    hosts: dict[str, dict[str, Any]] = {}
    covered = 0
    episodes: list[dict[str, Any]] = []
    for inst in inventory:
        name = inst["name"]
        rs = by_host.get(name, [])
        targeted = any(g in enabled_groups for g in inst["groups"])
        oks = [r for r in rs if r["status"] == "ok"]
        if not targeted:
            state = "untargeted"
        elif not rs:
            state = "never_scanned"
        elif rs[-1]["status"] == "failed" and rs[-1]["finished_at"] >= s:
            state = "scan_failed"
        elif not oks or oks[-1]["finished_at"] < s:
            state = "stale"
        elif (oks[-1]["security_count"] or 0) > 0:
            state = "missing_security"
        else:
            state = "compliant"
        states[state] += 1
        if any(r["finished_at"] >= s for r in oks):
            covered += 1
        hosts[name] = {"state": state, "last_attempt_at": rs[-1]["finished_at"] if rs else None,
                       "last_success_at": oks[-1]["finished_at"] if oks else None,
                       "security": oks[-1]["security_count"] if oks else None,
                       "days_since_success": (until - parse(oks[-1]["finished_at"])).days if oks else None}
        per_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rs:
            per_task[r["task_id"]].append(r)
        for task_rs in per_task.values():
            current: dict[str, Any] | None = None
            for r in task_rs:
                if r["status"] == "failed":
                    if current is None:
                        current = {"start": r["finished_at"], "category": r["category"], "runs": [r["run_id"]],
                                   "resolved": None}
                    else:
                        current["runs"].append(r["run_id"])
                elif current is not None:
                    current["resolved"] = r["finished_at"]
                    episodes.append(current)
                    current = None
            if current is not None:
                episodes.append(current)
    in_period = [e for e in episodes if s <= e["start"] < u]
    ack_s, resolve_s = [], []
    for e in in_period:
        times = [acks[r] for r in e["runs"] if acks.get(r) and acks[r] < u]
        if times:
            ack_s.append(max(0.0, (parse(min(times)) - parse(e["start"])).total_seconds()))
        if e["resolved"]:
            resolve_s.append((parse(e["resolved"]) - parse(e["start"])).total_seconds())
    categories: dict[str, int] = defaultdict(int)
    for e in in_period:
        categories[e["category"]] += 1
    trend: dict[str, list[int]] = {}
    day = since.date()
    while day <= (until - timedelta(microseconds=1)).date():
        trend[day.isoformat()] = [0, 0]
        day += timedelta(days=1)
    for rs in by_host.values():
        days: dict[str, bool] = {}
        for r in rs:
            if r["finished_at"] >= s:
                days[r["finished_at"][:10]] = days.get(r["finished_at"][:10], False) or r["status"] == "ok"
        for d, ok in days.items():
            trend[d][0 if ok else 1] += 1

    def p90(values: list[float]) -> float | None:
        return sorted(values)[math.ceil(0.9 * len(values)) - 1] if values else None

    missed = sum(max(1, r.get("missed_count", 0)) for r in runs
                 if r["state"] == "missed" and s <= r["created_at"] < u)
    return {"hosts": hosts, "states": dict(states), "covered": covered, "episodes": len(in_period),
            "open": sum(1 for e in in_period if not e["resolved"]), "categories": dict(categories),
            "acknowledged": len(ack_s), "mean_ack": sum(ack_s) / len(ack_s) if ack_s else None,
            "p90_ack": p90(ack_s), "mean_resolve": sum(resolve_s) / len(resolve_s) if resolve_s else None,
            "p90_resolve": p90(resolve_s), "trend": trend, "missed": missed, "inventory": len(inventory)}


async def report(data_dir: Path, since: datetime, until: datetime, **kwargs: Any) -> Any:
    engine = Engine(data_dir, clock=ManualClock(END), read_only=True)
    await engine.open()
    try:
        return await engine.coverage_report(since=since, until=until, **kwargs)
    finally:
        await engine.close()


@pytest.mark.parametrize("days", [30, 7, 89])
async def test_every_figure_matches_a_plain_computation_over_the_raw_results(history, days):
    since, until = END - timedelta(days=days), END
    got = await report(history, since, until)
    want = reference(history, since, until)
    f = got.fleet
    assert f.hosts == want["inventory"] == 1000
    assert f.covered == want["covered"]
    assert {k: v for k, v in f.states.items() if v} == want["states"]
    # Over 30 days the history has every kind of host the report distinguishes (over 89 the stale hosts
    # still have a success in the period).
    assert days != 30 or all(want["states"].get(s.value) for s in HostState), want["states"]
    assert f.episodes == want["episodes"] and f.episodes > 0
    assert f.open_episodes == want["open"]
    assert f.episodes_by_category == want["categories"]
    assert f.acknowledged == want["acknowledged"]
    assert f.mean_ack_s == pytest.approx(want["mean_ack"])
    assert f.p90_ack_s == pytest.approx(want["p90_ack"])
    assert f.mean_resolve_s == pytest.approx(want["mean_resolve"])
    assert f.p90_resolve_s == pytest.approx(want["p90_resolve"])
    assert f.missed_fires == want["missed"]
    assert {d.day: [d.ok, d.failed] for d in got.trend} == want["trend"]
    assert len(got.hosts) == 1000
    for line in got.hosts:
        expected = want["hosts"][line.host]
        assert (line.state, line.last_attempt_at, line.last_success_at, line.security,
                line.days_since_success) == (expected["state"], expected["last_attempt_at"],
                                             expected["last_success_at"], expected["security"],
                                             expected["days_since_success"]), line.host


async def test_group_and_task_scopes_partition_the_fleet(history):
    got = await report(history, END - timedelta(days=30), END)
    assert sum(g.hosts for g in got.groups.values()) == got.fleet.hosts
    assert sum(g.covered for g in got.groups.values()) == got.fleet.covered
    assert sum(g.episodes for g in got.groups.values()) == got.fleet.episodes
    web = await report(history, END - timedelta(days=30), END, group="web")
    assert web.fleet.hosts == got.groups["web"].hosts and web.fleet.covered == got.groups["web"].covered
    assert {h.host for h in web.hosts} == {h.host for h in got.hosts if "web" in h.groups}
    batch = await report(history, END - timedelta(days=30), END, task="daily-batch")
    assert batch.task == "daily-batch"
    assert batch.fleet.covered == got.tasks["daily-batch"].covered
    assert batch.fleet.missed_fires == got.tasks["daily-batch"].missed_fires


async def test_a_missing_index_is_rebuilt_from_the_results_at_open(history, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(history, copy)
    shutil.rmtree(copy / "host_history")
    engine = Engine(copy, clock=ManualClock(END), notify=False)
    await engine.open()
    await engine.close()
    since = END - timedelta(days=30)
    assert (await report(copy, since, END)).to_dict() | {"generated_at": ""} == \
        (await report(history, since, END)).to_dict() | {"generated_at": ""}


async def test_results_written_without_their_index_entries_are_caught_up_at_open(tmp_path):
    """A crash between the results and the index write leaves the index behind; the next open repairs it."""
    data = tmp_path / "data"
    build_history(data, hosts=30, days=5, end=END)
    store = Store(data)
    late = [{"id": f"RNlate:srv-{i:04d}", "run_id": "RNlate", "task_id": "STdailywebdb0000000000000",
             "host": f"srv-{i:04d}", "status": "failed", "category": "network", "finished_at": END.isoformat(),
             "missing_count": 0} for i in range(3)]
    store.sharded("host_results").insert_many(late)  # the results only, as if the process died right after
    store.close()
    before = await report(data, END - timedelta(days=1), END + timedelta(hours=1))
    assert all(h.last_attempt_run != "RNlate" for h in before.hosts)  # read-only: nothing repaired yet
    engine = Engine(data, clock=ManualClock(END), notify=False)
    await engine.open()
    await engine.close()
    after = await report(data, END - timedelta(days=1), END + timedelta(hours=1))
    assert {h.host for h in after.hosts if h.last_attempt_run == "RNlate"} == {"srv-0000", "srv-0001", "srv-0002"}
    assert {h.state for h in after.hosts if h.last_attempt_run == "RNlate"} == {"scan_failed"}


async def test_retention_removes_old_shards_and_records_it_in_the_trace(tmp_path):
    data = tmp_path / "data"
    build_history(data, hosts=30, days=60, end=END, shard_sizes={"host_results": 40})
    before, _, _, _ = raw_data(data)
    engine = Engine(data, clock=ManualClock(END), notify=False, retention_days=20)
    await engine.open()
    try:
        await engine.idle()
        events = await engine.query_events(kind=EventKind.HISTORY_PRUNED.value)
    finally:
        await engine.close()
    assert len(events) == 1
    payload = events[0].data
    after, _, _, _ = raw_data(data)
    assert payload["results"] == len(before) - len(after) > 0
    cutoff = (END - timedelta(days=20)).isoformat()
    assert all(r["finished_at"] >= cutoff for r in after[40:])  # only whole shards go: the boundary one stays
    assert min(r["finished_at"] for r in before) < cutoff
    assert payload["entries"] > 0 and payload["retention_days"] == 20
    store = Store(data, read_only=True)
    try:
        assert store.history("host_history").months()[0] >= cutoff[:7]
    finally:
        store.close()


def test_state_precedence():
    from console.domain.coverage import Entry

    period = Period(END - timedelta(days=30), END)
    old_ok = Entry((END - timedelta(days=40)).timestamp(), "T", "r1", "ok", None, 0, 0, None)
    new_fail = Entry((END - timedelta(days=1)).timestamp(), "T", "r2", "failed", "network", 0, None, None)
    new_ok_sec = Entry((END - timedelta(days=1)).timestamp(), "T", "r3", "ok", None, 4, 2, None)
    assert host_state([old_ok, new_fail], False, period)[0] is HostState.UNTARGETED
    assert host_state([], True, period)[0] is HostState.NEVER_SCANNED
    assert host_state([old_ok, new_fail], True, period)[0] is HostState.SCAN_FAILED
    assert host_state([old_ok], True, period)[0] is HostState.STALE
    assert host_state([old_ok, new_ok_sec], True, period)[0] is HostState.MISSING_SECURITY
    assert host_state([old_ok, new_fail, new_ok_sec._replace(security=0)], True, period)[0] is HostState.COMPLIANT

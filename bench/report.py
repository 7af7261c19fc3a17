"""The coverage report over a year of daily scans of 1,000 hosts (365,000 host results).

    python bench/report.py [--hosts 1000] [--days 365] [--data DIR]

A deterministic history is written through the real store (``console.sim.history.build_history``; kept in
``--data`` when given, so a second run skips the build). Then, each in a fresh process so that peak RSS is its
own, and in the same run:

* ``report 365d``: ``Engine.coverage_report`` over the whole year (reads the monthly history index);
* ``report 30d``: the same over the last 30 days (reads two months of the index);
* ``plain pass``: the plain reference: one pass over every host-result shard file (``json.loads`` of each,
  nothing else read twice), the same figures computed by ``console.domain.coverage.compute``.

Printed side by side: wall time, CPU time and peak RSS, and the coverage each found (they must agree). Aim for
the year report: under 2 s and under 250 MB. The host results carry no package lists here (real ones do, and
make the plain pass several times slower; the index does not grow with them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def measure_report(data: Path, days: int) -> dict[str, float]:
    from console.clock import ManualClock
    from console.engine import Engine

    async def go() -> float:
        engine = Engine(data, clock=ManualClock(END), read_only=True)
        await engine.open()
        try:
            report = await engine.coverage_report(since=END - timedelta(days=days), until=END)
        finally:
            await engine.close()
        return report.fleet.coverage

    return {"coverage": asyncio.run(go())}


def measure_plain(data: Path, days: int) -> dict[str, float]:
    from console.domain.coverage import Entry, InventoryHost, Period, TaskScope, compute
    from console.domain.task import Task
    from console.engine.reports import task_hosts
    from console.jobs import Target

    main = json.loads((data / "patchwatch.json").read_text())
    inventory = [Target.from_dict(d) for d in main["inventory"].values()]
    tasks = [Task.from_dict(d) for d in main["tasks"].values()]
    until = END.isoformat()
    entries: dict[str, list[Entry]] = {}
    for path in sorted((data / "host_results").glob("*.json")):
        for r in json.loads(path.read_bytes())["_default"].values():
            at = r.get("finished_at")
            if r["status"] in ("ok", "failed") and at and at < until:
                ts = datetime.fromisoformat(at).timestamp()
                entries.setdefault(r["host"], []).append(Entry(ts, r["task_id"], r["run_id"], r["status"],
                                                               r.get("category"), r.get("missing_count", 0),
                                                               r.get("security_count"),
                                                               r.get("reboot_required")))
    for es in entries.values():
        es.sort(key=lambda e: e.at)
    runs: dict[str, dict] = {}
    for path in sorted((data / "runs").glob("*.json")):
        for r in json.loads(path.read_bytes())["_default"].values():
            runs[r["id"]] = r
    period = Period(END - timedelta(days=days), END)
    acks = {rid: r.get("acknowledged_at") for rid, r in runs.items()}
    missed: dict[str, int] = {}
    for r in runs.values():
        if r["state"] == "missed" and period.since_iso <= r["created_at"] < period.until_iso:
            missed[r["task_id"]] = missed.get(r["task_id"], 0) + max(1, r.get("missed_count", 0))
    report = compute(period, [InventoryHost(t.name, t.groups) for t in inventory],
                     [TaskScope(t.id, t.name, t.enabled, task_hosts(t, inventory)) for t in tasks],
                     entries, acks, missed, now=END)
    return {"coverage": report.fleet.coverage}


def child(kind: str, data: Path, days: int) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    found = measure_report(data, days) if kind == "report" else measure_plain(data, days)
    found["wall_s"] = time.perf_counter() - wall
    found["cpu_s"] = time.process_time() - cpu
    found["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--data", type=Path, help="keep the history here (built once, reused)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    from console.sim.history import build_history

    temp = None
    data = args.data
    if data is None:
        temp = tempfile.TemporaryDirectory(prefix="pw-report-bench-")
        data = Path(temp.name) / "data"
    if not (data / "patchwatch.json").exists():
        started = time.perf_counter()
        plan = build_history(data, hosts=args.hosts, days=args.days, end=END)
        print(f"built {plan.results:,} host results of {plan.hosts:,} hosts over {plan.days} days, "
              f"{plan.runs} runs, in {time.perf_counter() - started:.0f} s ({data})")
    shards = len(list((data / "host_results").glob("*.json")))
    months = len(list((data / "host_history").glob("*.json")))
    print(f"{shards} host-result shards, {months} history-index months")
    rows = []
    for label, kind, days in (("report 365d (history index)", "report", 365),
                              ("report 30d (history index)", "report", 30),
                              ("plain pass 365d (every result shard)", "plain", 365)):
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(data), str(days)], check=True,
                             capture_output=True, text=True).stdout
        rows.append((label, json.loads(out.strip().splitlines()[-1])))
    print(f"{'':40} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'coverage':>9}")
    for label, r in rows:
        print(f"{label:40} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['rss_mb']:12.0f} {r['coverage'] * 100:8.1f}%")
    if temp is not None:
        temp.cleanup()


if __name__ == "__main__":
    main()

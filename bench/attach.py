"""Attached clients against in-process subscribers, in one run.

    python bench/attach.py [-n 1000] [--clients 10] [--runs 10000]

1. Event delivery: the engine (this process) scans N simulated hosts (the fleet in its own process) while it
   serves its socket; ``--clients`` EngineClients in a separate process follow the event stream, and as many
   in-process subscribers follow it here. Latency is from an event's publication (its ``at``) to its arrival
   at each subscriber: p50 and p99 over every event of the scan, side by side.
2. Listings: with ``--runs`` runs stored, the time of ``list_runs(limit=50)`` and ``query_events(limit=200)``
   through the socket against the same call in process (p50, p99 of 50 calls each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from simfleet import ROOT, running_fleet


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _summary(values: list[float]) -> dict[str, float]:
    return {"count": len(values), "p50": _pct(values, 0.5), "p99": _pct(values, 0.99),
            "max": max(values) if values else float("nan")}


def _latency(at: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(at)).total_seconds()


async def _follow(stream, sink: list[float], until_run: asyncio.Future) -> None:
    while True:
        event = await stream.get()
        if event.seq:
            sink.append(_latency(event.at))
        if event.kind == "run.finished":
            until_run.set_result(None) if not until_run.done() else None
            return


async def _clients_worker(socket_path: str, count: int) -> None:
    """The attached side: ``count`` clients, each following the stream until the run finishes."""
    from console.server.client import EngineClient

    clients = [await EngineClient(Path(socket_path)).connect() for _ in range(count)]
    streams = [await c.subscribe() for c in clients]
    print("ready", flush=True)
    sinks: list[list[float]] = [[] for _ in clients]
    loop = asyncio.get_running_loop()
    done = [loop.create_future() for _ in clients]
    await asyncio.gather(*(_follow(s, sink, d) for s, sink, d in zip(streams, sinks, done, strict=True)))
    for s in streams:
        s.close()
    for c in clients:
        await c.close()
    # The figures, not the samples: 10 clients x a 1,000-host scan is far more than one pipe line should carry.
    print(json.dumps(_summary([x for sink in sinks for x in sink])), flush=True)


async def _timed(call, repeat: int = 50) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    return out


async def _main(args: argparse.Namespace, fleet_dir: Path, data: Path) -> None:
    from console.domain import ids
    from console.domain.run import Run, RunState, Trigger
    from console.engine import Engine
    from console.scan.credentials import CredentialProfile
    from console.server.attach import socket_path
    from console.server.client import EngineClient
    from console.server.server import ApiServer

    async with Engine(data, notify=False) as engine:
        server = await ApiServer(engine, socket_path(data)).start()
        try:
            await engine.import_inventory((fleet_dir / "inventory.ini").read_text(), source="inventory.ini")
            await engine.put_credential(CredentialProfile(name="bench", key_files=(str(fleet_dir / "id_ed25519"),),
                                                          known_hosts=(str(fleet_dir / "known_hosts"),)))
            task = await engine.create_task({
                "name": "bench", "schedule": {"cron": "0 0 0 1 1 ?"},
                "job": {"credential": "bench", "params": {"concurrency": 100}},
                "targets": {"groups": ["all"], "batch": {"mode": "none"}}})
            worker = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--clients-worker", str(server.socket_path), "--clients", str(args.clients),
                stdout=asyncio.subprocess.PIPE, cwd=ROOT)
            assert worker.stdout is not None
            assert (await worker.stdout.readline()).strip() == b"ready"
            local = [await engine.subscribe() for _ in range(args.clients)]
            sinks: list[list[float]] = [[] for _ in local]
            loop = asyncio.get_running_loop()
            done = [loop.create_future() for _ in local]
            followers = [asyncio.create_task(_follow(s, sink, d)) for s, sink, d in zip(local, sinks, done,
                                                                                          strict=True)]
            run = await engine.run_now(task.id)
            run = await engine.wait_run(run.id)
            await asyncio.gather(*followers)
            remote = json.loads((await worker.stdout.readline()).decode())
            await worker.wait()
            inproc = _summary([x for sink in sinks for x in sink])
            print(f"event delivery during a {run.hosts_total}-host scan ({run.hosts_ok} ok), {args.clients} "
                  "subscribers each side, latency from publication to arrival")
            print(f"{'subscriber':<34}{'events':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
            for label, figures in (("in process (broker subscription)", inproc),
                                   ("attached (socket, another process)", remote)):
                print(f"{label:<34}{figures['count']:>8}{figures['p50'] * 1000:>9.1f}{figures['p99'] * 1000:>9.1f}"
                      f"{figures['max'] * 1000:>9.1f}")

            now = datetime.now(UTC).isoformat()
            filler = [Run(id=ids.new_id(ids.RUN), task_id=task.id, task_name="bench", trigger=Trigger.MANUAL,
                          state=RunState.SUCCEEDED, created_at=now, finished_at=now, hosts_total=1, hosts_ok=1)
                      for _ in range(args.runs)]
            await engine.store.call(lambda r: r.runs.insert_many(filler))
            async with EngineClient(server.socket_path) as client:
                print(f"\nlistings with {args.runs + 1} runs stored (50 calls each)")
                print(f"{'call':<34}{'p50 ms':>9}{'p99 ms':>9}")
                for label, call in (
                        ("list_runs(50), in process", lambda: engine.list_runs(limit=50)),
                        ("list_runs(50), socket", lambda: client.list_runs(limit=50)),
                        ("query_events(200), in process", lambda: engine.query_events(limit=200)),
                        ("query_events(200), socket", lambda: client.query_events(limit=200))):
                    times = await _timed(call)
                    print(f"{label:<34}{statistics.median(times) * 1000:>9.1f}{_pct(times, 0.99) * 1000:>9.1f}")
        finally:
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--clients-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients_worker:
        asyncio.run(_clients_worker(args.clients_worker, args.clients))
        return
    with tempfile.TemporaryDirectory() as tmp, running_fleet(Path(tmp) / "fleet", args.n) as fleet_dir:
        print(f"{os.cpu_count()} cores; engine and in-process subscribers here, attached clients in one other "
              "process, the fleet in a third")
        asyncio.run(_main(args, fleet_dir, Path(tmp) / "data"))

if __name__ == "__main__":
    main()

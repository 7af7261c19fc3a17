"""Scan throughput on a simulated fleet: Patchwatch (ad-hoc and stored task) against a minimal asyncssh loop.

    python bench/scan_throughput.py [-n 1000] [--concurrency 100]

The fleet runs in its own process (so its CPU and memory are not counted); each contender then runs in a
fresh process of its own. Seconds, hosts/s and CPU seconds cover the scan itself (from the first connection
to the last result; for the stored task, from "run now" until the run is recorded as finished), so the one-off
set-up (importing 1,000 inventory lines, creating the task) is not counted against any contender; it is
printed on its own line. Peak RSS is the whole process. All three send the same commands to the same hosts;
the minimal loop does nothing else (no parsing, classification, transcripts, events or storage), so it is
the ceiling the real paths are compared against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _usage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


class _Phase:
    """Wall and CPU seconds of the scan phase of one contender."""

    def __enter__(self) -> _Phase:
        self.cpu0, _ = _usage()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.t0
        self.cpu = _usage()[0] - self.cpu0


def _targets(fleet_dir: Path) -> list[dict]:
    return json.loads((fleet_dir / "fleet.json").read_text())["hosts"]


async def _minimal(fleet_dir: Path, concurrency: int, phase: _Phase) -> int:
    """The plainest correct client: load the key once, connect, run the family's commands, close."""
    import asyncssh

    from console.scan.commands import COMMANDS, OS_RELEASE, Family

    hosts = _targets(fleet_dir)
    key = asyncssh.read_private_key(fleet_dir / "id_ed25519")
    known = asyncssh.import_known_hosts((fleet_dir / "known_hosts").read_text())
    gate = asyncio.Semaphore(concurrency)

    async def one(host: dict) -> None:
        async with gate, asyncssh.connect(host["address"], host["port"], username=host["user"],
                                          client_keys=[key], known_hosts=known, config=None,
                                          agent_path=None) as conn:
            await conn.run(OS_RELEASE, check=False)
            commands = COMMANDS[Family(host["family"])]
            for cmd in (commands.list_updates, commands.security, commands.installed, commands.reboot):
                if cmd:
                    await conn.run(cmd, check=False)

    with phase:
        await asyncio.gather(*(one(h) for h in hosts))
    return len(hosts)


async def _adhoc(fleet_dir: Path, concurrency: int, phase: _Phase) -> int:
    from console.domain.inventory import parse_inventory
    from console.scan.adhoc import adhoc_scan
    from console.scan.credentials import CredentialProfile, load_credential
    from console.scan.executor import ScanOptions

    targets = parse_inventory((fleet_dir / "inventory.ini").read_text(), source="inventory.ini")
    cred = load_credential(CredentialProfile(name="bench", key_files=(str(fleet_dir / "id_ed25519"),),
                                             known_hosts=(str(fleet_dir / "known_hosts"),)))
    with phase:
        results = await adhoc_scan(targets, cred, ScanOptions(concurrency=concurrency),
                                   connection_limit=concurrency)
    return sum(r.status.value == "ok" for r in results)


async def _task(fleet_dir: Path, concurrency: int, phase: _Phase) -> int:
    from console.engine import Engine
    from console.scan.credentials import CredentialProfile

    with tempfile.TemporaryDirectory() as data:
        async with Engine(data) as engine:
            await engine.import_inventory((fleet_dir / "inventory.ini").read_text(), source="inventory.ini")
            await engine.put_credential(CredentialProfile(name="bench", key_files=(str(fleet_dir / "id_ed25519"),),
                                                          known_hosts=(str(fleet_dir / "known_hosts"),)))
            task = await engine.create_task({
                "name": "bench", "schedule": {"cron": "0 0 0 1 1 ?"},
                "job": {"credential": "bench", "params": {"concurrency": concurrency}},
                "targets": {"groups": ["all"], "batch": {"mode": "none"}}})
            with phase:
                run = await engine.run_now(task.id)
                run = await engine.wait_run(run.id)
            return run.hosts_ok


def _contender(name: str, fleet_dir: Path, concurrency: int) -> None:
    body = {"minimal": _minimal, "adhoc": _adhoc, "task": _task}[name]
    phase = _Phase()
    started = time.monotonic()
    ok = asyncio.run(body(fleet_dir, concurrency, phase))
    _, rss = _usage()
    print(json.dumps({"name": name, "ok": ok, "seconds": phase.seconds, "cpu": phase.cpu, "rss_mb": rss,
                      "setup": time.monotonic() - started - phase.seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--fleet-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        _contender(args.contender, Path(args.fleet_dir), args.concurrency)
        return

    with tempfile.TemporaryDirectory() as tmp:
        fleet_dir = Path(tmp) / "fleet"
        fleet = subprocess.Popen([sys.executable, "-m", "console", "sim", "fleet", "-n", str(args.n), "--seed", "1",
                                  "--out", str(fleet_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while not (fleet_dir / "fleet.json").exists():
                if fleet.poll() is not None or time.monotonic() > deadline:
                    output = fleet.stdout.read() if fleet.stdout else ""
                    raise SystemExit(f"the simulated fleet did not start: {output}")
                time.sleep(0.2)
            time.sleep(0.5)
            hosts = len(_targets(fleet_dir))
            print(f"{hosts} simulated hosts, concurrency {args.concurrency}, {os.cpu_count()} cores; "
                  "each contender in its own process")
            print(f"{'contender':<28}{'ok':>6}{'scan s':>9}{'hosts/s':>9}{'CPU s':>8}{'peak RSS MB':>13}"
                  f"{'vs minimal':>12}")
            rows = {}
            for name, label in (("minimal", "minimal asyncssh gather loop"), ("adhoc", "patchwatch scan (ad hoc)"),
                                ("task", "patchwatch stored task run")):
                out = subprocess.run([sys.executable, __file__, "--contender", name, "--fleet-dir", str(fleet_dir),
                                      "--concurrency", str(args.concurrency)], capture_output=True, text=True,
                                     cwd=ROOT, timeout=1800)
                if out.returncode != 0:
                    print(f"{label}: failed\n{out.stderr[-2000:]}")
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows[name] = row
                rate = hosts / row["seconds"]
                ratio = rate / (hosts / rows["minimal"]["seconds"]) if "minimal" in rows else float("nan")
                print(f"{label:<28}{row['ok']:>6}{row['seconds']:>9.1f}{rate:>9.1f}{row['cpu']:>8.1f}"
                      f"{row['rss_mb']:>13.0f}{ratio:>12.2f}")
            if "task" in rows:
                print(f"(set-up of the stored task, not counted above: {rows['task']['setup']:.1f} s for inventory "
                      "import, credential and task creation, engine open and close)")
        finally:
            fleet.send_signal(signal.SIGINT)
            try:
                fleet.wait(30)
            except subprocess.TimeoutExpired:
                fleet.kill()


if __name__ == "__main__":
    main()

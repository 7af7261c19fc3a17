"""Scan throughput on a simulated fleet, near and far: plain asyncssh clients against Patchwatch.

    python bench/scan_throughput.py [-n 1000] [--concurrency 100] [--rtt 0,50] [--rounds 2] [--jitter 0]

For each round-trip time (``--rtt``, milliseconds) one simulated fleet is started in its own process (its
CPU and memory are not counted) with every host that far away on the network (``console.sim`` delays both
directions of every SSH connection). Four contenders then scan it, each in a fresh process of its own,
interleaved: round after round, in an order rotated each round, so a slow moment of this shared machine
does not land on one contender only. A row is the mean of the rounds.

- plain per-step client: the plainest correct client sending the steps as Patchwatch did before the scan
  script (os-release, list updates, security advisories, installed versions, reboot check): one exec each.
  Load the key once, connect, run, close; no parsing, classification, transcripts, events or storage.
  It is the reference every ratio is taken against, unchanged from the earlier benchmark.
- plain one-exec client: the same plain loop sending the scan script (console.scan.script) as one exec and
  reading its output; nothing else. The ceiling of the one-exec design.
- patchwatch scan (ad hoc) and the stored task run: the product, with everything it does per host.

Seconds, hosts/s and CPU cover the scan itself (from the first connection to the last result; for the
stored task, from "run now" until the run is recorded as finished), so one-off set-up (importing 1,000
inventory lines, creating the task) is not counted against any contender; it is printed on its own line.
Peak RSS is the whole process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simfleet import ROOT, start_fleet, stop_fleet


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


async def _one_exec(fleet_dir: Path, concurrency: int, phase: _Phase) -> int:
    """The same plain loop, sending the scan script as one exec and reading its output; nothing else."""
    import asyncssh

    from console.scan.script import ScriptVariant, build_script, new_token

    hosts = _targets(fleet_dir)
    key = asyncssh.read_private_key(fleet_dir / "id_ed25519")
    known = asyncssh.import_known_hosts((fleet_dir / "known_hosts").read_text())
    gate = asyncio.Semaphore(concurrency)
    variant = ScriptVariant(refresh=False, sudo=False)

    async def one(host: dict) -> None:
        async with gate, asyncssh.connect(host["address"], host["port"], username=host["user"],
                                          client_keys=[key], known_hosts=known, config=None,
                                          agent_path=None) as conn:
            await conn.run(build_script(new_token(), variant), check=False)

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


CONTENDERS = {
    "minimal": ("plain per-step client", "_minimal"),
    "one_exec": ("plain one-exec client", "_one_exec"),
    "adhoc": ("patchwatch scan (ad hoc)", "_adhoc"),
    "task": ("patchwatch stored task run", "_task"),
}


def _contender(name: str, fleet_dir: Path, concurrency: int) -> None:
    body = globals()[CONTENDERS[name][1]]
    phase = _Phase()
    started = time.monotonic()
    ok = asyncio.run(body(fleet_dir, concurrency, phase))
    _, rss = _usage()
    print(json.dumps({"name": name, "ok": ok, "seconds": phase.seconds, "cpu": phase.cpu, "rss_mb": rss,
                      "setup": time.monotonic() - started - phase.seconds}))


def _start_fleet(n: int, rtt: float, jitter: float, fleet_dir: Path) -> subprocess.Popen[str]:
    return start_fleet(fleet_dir, n, "--rtt", str(rtt), "--jitter", str(jitter))


def _run_one(name: str, fleet_dir: Path, concurrency: int) -> dict | None:
    out = subprocess.run([sys.executable, __file__, "--contender", name, "--fleet-dir", str(fleet_dir),
                          "--concurrency", str(concurrency)], capture_output=True, text=True, cwd=ROOT,
                         timeout=1800)
    if out.returncode != 0:
        print(f"{CONTENDERS[name][0]}: failed\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rtt", default="0,50", help="round-trip times to measure at, ms (comma list)")
    parser.add_argument("--jitter", type=float, default=0.0, help="jitter of the round-trip time, +/- ms")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per RTT (rows are means)")
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--fleet-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        _contender(args.contender, Path(args.fleet_dir), args.concurrency)
        return

    rtts = [float(x) for x in args.rtt.split(",") if x.strip()]
    print(f"{args.n} simulated hosts, concurrency {args.concurrency}, {os.cpu_count()} cores, {args.rounds} "
          f"interleaved rounds per RTT (rows are means); each contender in its own process, the fleet in another")
    print(f"{'RTT ms':>6}  {'contender':<28}{'ok':>6}{'scan s':>8}{'hosts/s':>9}{'CPU ms/host':>13}"
          f"{'peak RSS MB':>13}{'hosts/s vs':>12}{'CPU vs':>10}")
    print(f"{'':>6}  {'':<28}{'':>6}{'':>8}{'':>9}{'':>13}{'':>13}{'per-step':>12}{'per-step':>10}")
    setups = []
    for rtt in rtts:
        with tempfile.TemporaryDirectory() as tmp:
            fleet_dir = Path(tmp) / "fleet"
            fleet = _start_fleet(args.n, rtt, args.jitter, fleet_dir)
            try:
                hosts = len(_targets(fleet_dir))
                runs: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
                names = list(CONTENDERS)
                for round_index in range(args.rounds):
                    shift = round_index % len(names)
                    for name in names[shift:] + names[:shift]:
                        row = _run_one(name, fleet_dir, args.concurrency)
                        if row is not None:
                            runs[name].append(row)
            finally:
                stop_fleet(fleet)
        means = {name: {key: sum(r[key] for r in rows) / len(rows) for key in ("seconds", "cpu", "rss_mb", "setup")}
                 | {"ok": min(r["ok"] for r in rows)} for name, rows in runs.items() if rows}
        ref = means.get("minimal")
        for name, row in means.items():
            rate = hosts / row["seconds"]
            cpu_ms = 1000 * row["cpu"] / hosts
            if ref is not None:
                rate_x = f"{rate / (hosts / ref['seconds']):.2f}x"
                cpu_x = f"{row['cpu'] / ref['cpu']:.2f}x"
            else:
                rate_x = cpu_x = "-"
            print(f"{rtt:>6g}  {CONTENDERS[name][0]:<28}{row['ok']:>6}{row['seconds']:>8.1f}{rate:>9.1f}"
                  f"{cpu_ms:>13.2f}{row['rss_mb']:>13.0f}{rate_x:>12}{cpu_x:>10}")
        if "task" in means:
            setups.append(f"{means['task']['setup']:.1f} s at RTT {rtt:g} ms")
    if setups:
        print(f"(set-up of the stored task, not counted above: {', '.join(setups)}: inventory import, credential "
              "and task creation, engine open and close)")


if __name__ == "__main__":
    main()

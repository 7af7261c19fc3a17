"""The benchmarks' simulated fleet: ``python -m console.sim.fleet`` in a process of its own, so its CPU and
memory are not counted against what is measured."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_fleet(fleet_dir: Path, n: int, *options: str, seed: int = 1) -> subprocess.Popen[str]:
    """Start ``n`` hosts writing their files into ``fleet_dir``; return once ``fleet.json`` is there."""
    fleet = subprocess.Popen([sys.executable, "-m", "console.sim.fleet", "-n", str(n), "--seed", str(seed),
                              *options, "--out", str(fleet_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    deadline = time.monotonic() + 180
    while not (fleet_dir / "fleet.json").exists():
        if fleet.poll() is not None or time.monotonic() > deadline:
            output = fleet.stdout.read() if fleet.stdout and fleet.poll() is not None else ""
            fleet.kill()
            raise SystemExit(f"the simulated fleet did not start: {output}")
        time.sleep(0.2)
    time.sleep(0.5)
    return fleet


def stop_fleet(fleet: subprocess.Popen[str]) -> None:
    fleet.send_signal(signal.SIGINT)
    try:
        fleet.wait(30)
    except subprocess.TimeoutExpired:
        fleet.kill()
        fleet.wait()


@contextlib.contextmanager
def running_fleet(fleet_dir: Path, n: int, *options: str, seed: int = 1) -> Iterator[Path]:
    """The fleet for the duration of a ``with`` block; yields ``fleet_dir``."""
    fleet = start_fleet(fleet_dir, n, *options, seed=seed)
    try:
        yield fleet_dir
    finally:
        stop_fleet(fleet)

"""SIGKILL at random moments never loses a committed write nor leaves a damaged file.

A child process (crash_writer.py) appends events one at a time and inserts/updates runs, printing
``committed <id>`` after each call returns. The parent kills it with SIGKILL after a seeded random delay, then
reopens the store and checks every committed record, in 30+ trials on one growing data directory (so kills hit
shard boundaries, new shard files and rewrites of full shards alike).
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.store import DataDirLock, Store

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WRITER = HERE / "crash_writer.py"
TRIALS = 32

_spec = importlib.util.spec_from_file_location("crash_writer_for_tests", WRITER)
assert _spec is not None and _spec.loader is not None
crash_writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_writer)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run_and_kill(data_dir: Path, delay: float) -> list[str]:
    """Start the writer, let it write ``delay`` seconds after it is ready, SIGKILL it, return its lines."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if first != "ready\n":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"writer did not start: {first!r} {err}")
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # Only whole lines count: a line is printed (and flushed) after its call returned.
    return [line for line in out.splitlines(keepends=True) if line.endswith("\n")]


def _verify(data_dir: Path, lines: list[str], expected_runs: dict[str, int]) -> int:
    """Check the store against what the child reported; return how many commits this trial reported."""
    committed_events: list[tuple[str, int]] = []
    begun_event: int | None = None
    begun_run: tuple[str, int] | None = None
    for line in lines:
        words = line.split()
        if words[:2] == ["begin", "event"]:
            begun_event = int(words[2])
        elif words[:2] == ["committed", "event"]:
            committed_events.append((words[2], int(words[3])))
            begun_event = None
        elif words[:2] == ["begin", "run"]:
            begun_run = (words[2], int(words[3]))
        elif words[:2] == ["committed", "run"]:
            expected_runs[words[2]] = int(words[3])
            begun_run = None

    # The lock died with the killed owner: the next owner gets it at once.
    with DataDirLock(data_dir), Store(data_dir, shard_sizes=crash_writer.SHARD_SIZES) as store:
        events = store.sharded("events")
        for event_id, step in committed_events:
            stored = events.get(event_id)
            assert stored is not None, f"committed event {event_id} lost"
            assert stored["i"] == step and stored["pad"] == crash_writer.pad(step)

        # Every stored event is complete, steps are gap-free 1..N and seq strictly increases.
        everything = list(events.iter_oldest())
        steps = [e["i"] for e in everything]
        assert steps == list(range(1, len(steps) + 1))
        assert all(e["pad"] == crash_writer.pad(e["i"]) for e in everything)
        seqs = [e["seq"] for e in everything]
        assert seqs == sorted(set(seqs))
        # The one in flight when the kill landed is either fully there or absent; nothing beyond it.
        last_committed = committed_events[-1][1] if committed_events else None
        if begun_event is not None:
            assert steps[-1] in (begun_event - 1, begun_event)
        elif last_committed is not None:
            assert steps[-1] == last_committed

        runs = store.sharded("runs")
        for run_id, counter in expected_runs.items():
            stored = runs.get(run_id)
            in_flight = begun_run is not None and begun_run[0] == run_id
            if stored is None:
                raise AssertionError(f"committed run {run_id} lost")
            assert stored["pad"] == crash_writer.pad(stored["n"])
            allowed = {counter, begun_run[1]} if in_flight and begun_run else {counter}
            assert stored["n"] in allowed, (run_id, stored["n"], allowed)
        if begun_run is not None:
            run_id, counter = begun_run
            stored = runs.get(run_id)
            if stored is not None:
                assert stored["pad"] == crash_writer.pad(stored["n"])
                expected_runs[run_id] = stored["n"]
        assert runs.count() == len(list(runs.iter_oldest()))

    # Reopening as the owner removed any temp file the kill left behind.
    assert not list(data_dir.rglob("*.tmp"))
    return len(committed_events)


def test_sigkill_at_random_moments_keeps_every_committed_write(tmp_path: Path) -> None:
    rng = random.Random(20261101)
    data_dir = tmp_path / "data"
    expected_runs: dict[str, int] = {}
    total_commits = 0
    started = time.monotonic()
    for _trial in range(TRIALS):
        lines = _run_and_kill(data_dir, rng.uniform(0.0, 0.12))
        total_commits += _verify(data_dir, lines, expected_runs)
    # The trials did real work across many shards (not just kills before the first write).
    assert total_commits > TRIALS
    assert len(list((data_dir / "events").glob("*.json"))) > 3
    assert time.monotonic() - started < 60

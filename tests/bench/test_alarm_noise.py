"""bench/alarm_noise.py keeps working: its help, and a short day of its simulation on the current tree.

The figures themselves (a day of 144 runs, against the baseline commit) are the benchmark's to print, not a
test's to assert: this only checks the simulation runs end to end and delivers what it records.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import datetime
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "alarm_noise.py"


def _load():
    spec = importlib.util.spec_from_file_location("alarm_noise", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_describes_the_benchmark():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "--baseline" in proc.stdout and "--silence" in proc.stdout


async def test_a_short_day_delivers_what_it_records_and_names_every_failing_host():
    bench = _load()
    result = await bench.simulate(4, (0, 1))
    assert result["current"] and result["run_states"] == {"failed": 4}
    assert len(result["mails"]) == len(result["sent"]) > 0 and not result["not_sent"]
    rows = bench._named_check(result, datetime.fromisoformat(bench.START))
    assert all(ok for _, ok, _ in rows), rows

"""The command line as a script or an operator uses it: real processes, exit codes, output."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
SEED_FILE = ROOT / "data" / "examples" / "scheduled-scan-os-patches.toml"


def patchwatch(*args: str, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process, the way a shell would (python -m console == patchwatch)."""
    env = dict(os.environ)
    env.pop("PATCHWATCH_DATA", None)
    cmd = [sys.executable, "-m", "console"]
    if data is not None:
        cmd += ["--data-dir", str(data)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


def test_cron_prints_the_seed_schedule_in_its_zone():
    out = patchwatch("cron", "0 15 3 5 * ?", "--tz", "GMT+08:00", "--next", "3", "--from",
                     "2026-11-26T00:00:00+08:00")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("at 03:15:00 on day 5 of every month")
    assert lines[1:] == ["2026-12-05T03:15:00+08:00", "2027-01-05T03:15:00+08:00", "2027-02-05T03:15:00+08:00"]


def test_installed_console_script_runs():
    # The script next to this interpreter (the README's .venv/bin/patchwatch, not on PATH), else PATH's.
    beside = Path(sys.executable).parent / "patchwatch"
    exe = str(beside) if os.access(beside, os.X_OK) else shutil.which("patchwatch")
    if exe is None:
        pytest.skip("the patchwatch script is not on PATH (package not installed with pip install -e .)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("patchwatch ")


@pytest.mark.parametrize("expr, tz, field", [
    ("0 0 0 30 2 ?", "UTC", "day-of-month"),
    ("0 0 25 * * ?", "UTC", "hour"),
    ("0 0 9 ? * 8", "UTC", "day-of-week"),
    ("0 0 1 * * ?", "Mars/Base", "timezone"),
    ("* * *", "UTC", "expression"),
])
def test_bad_cron_input_exits_2_naming_the_field(expr, tz, field, capsys):
    code = main(["cron", expr, "--tz", tz])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {field}: "), err


@pytest.mark.parametrize("expr, tz, start, expected", [
    ("0 0 9 ? * 2", "UTC", "2026-11-26T00:00:00+00:00",
     ["2026-11-30T09:00:00+00:00", "2026-12-07T09:00:00+00:00"]),  # Mondays
    ("0 0 9 ? * 6#3", "UTC", "2026-11-26T00:00:00+00:00",
     ["2026-12-18T09:00:00+00:00", "2027-01-15T09:00:00+00:00"]),  # third Fridays
    ("0 0 0 L * ?", "UTC", "2026-11-26T00:00:00+00:00",
     ["2026-11-30T00:00:00+00:00", "2026-12-31T00:00:00+00:00"]),  # last day of month
    ("0 30 2 * * ?", "America/New_York", "2026-03-07T12:00:00-05:00",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),  # spring forward: once, after the gap
    ("0 30 1 * * ?", "America/New_York", "2026-10-31T12:00:00-04:00",
     ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),  # fall back: once
])
def test_cron_fire_times(expr, tz, start, expected, capsys):
    assert main(["cron", expr, "--tz", tz, "--from", start, "--next", str(len(expected)), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["next"] == expected


def test_task_lifecycle_through_the_cli(tmp_path):
    data = tmp_path / "data"
    added = patchwatch("task", "add", "--file", str(SEED_FILE), data=data)
    assert added.returncode == 0, added.stderr
    assert "created task ScheduledscanOSpatches (ST" in added.stdout

    listed = patchwatch("task", "list", "--json", data=data)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["ScheduledscanOSpatches"]
    task_id = rows[0]["id"]
    assert rows[0]["schedule"]["cron"] == "0 15 3 5 * ?" and rows[0]["schedule"]["timezone"] == "GMT+08:00"

    shown = patchwatch("task", "show", "ScheduledscanOSpatches", data=data)
    assert shown.returncode == 0 and task_id in shown.stdout and "Scan_OS_Patch" in shown.stdout
    assert patchwatch("task", "show", task_id, "--json", data=data).returncode == 0

    again = patchwatch("task", "add", "--file", str(SEED_FILE), data=data)
    assert again.returncode == 2 and "error: name: must be unique" in again.stderr

    assert patchwatch("task", "disable", task_id, data=data).returncode == 0
    assert "disabled" in patchwatch("task", "list", data=data).stdout
    assert patchwatch("task", "enable", "ScheduledscanOSpatches", data=data).returncode == 0
    assert patchwatch("task", "delete", task_id, data=data).returncode == 0
    missing = patchwatch("task", "show", task_id, data=data)
    assert missing.returncode == 2 and "no task" in missing.stderr

    events = patchwatch("events", "--json", "--task", "x", data=data)
    assert events.returncode == 2
    trace = [json.loads(line) for line in patchwatch("events", "--json", data=data).stdout.splitlines()]
    assert [e["kind"] for e in trace] == ["task.created", "task.disabled", "task.enabled", "task.deleted"]
    assert all(e["actor"] == pwd.getpwuid(os.geteuid()).pw_name for e in trace)


def test_bad_task_file_lists_every_error_and_stores_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[schedule]\ntimezone = "Nowhere/City"\ncron = "0 0 0 30 2 ?"\n[targets]\n')
    data = tmp_path / "data"
    out = patchwatch("task", "add", "--file", str(bad), data=data)
    assert out.returncode == 2
    for field in ("name", "schedule.timezone", "targets"):
        assert f"error: {field}:" in out.stderr
    assert "no tasks yet" in patchwatch("task", "list", data=data).stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [unclosed\n")
    out = patchwatch("task", "add", "--file", str(broken), data=data)
    assert out.returncode == 2 and "not valid TOML" in out.stderr


def test_every_subcommand_has_help():
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"][0]
    for name, sub in actions.choices.items():
        text = sub.format_help()
        assert name in text and "usage" in text

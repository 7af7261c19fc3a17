"""What the CLI and the daemon do with a run's life, as an operator meets it: real ``patchwatch`` processes
against the demo's simulated fleet (real SSH on loopback) with the demo's local mail and robot servers.

- ``patchwatch run TASK`` with no daemon delivers the run's notices before it exits, and ``run.finished``
  is always in the trace;
- a daemon stopped by SIGTERM (every systemd restart) sends the ``interrupted`` notice of the run it stopped,
  exactly once, even across the next start;
- ``patchwatch approve RUN`` with no daemon runs the approved run to its end;
- ``patchwatch run`` on a run that pauses says so, and how to go on, instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from console.demo import Demo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FAILURE_NOTICES = {"execution_failed", "summary", "interrupted"}


class Cli:
    """Runs ``python -m console`` on the demo's store, with its channels file."""

    def __init__(self, demo: Demo) -> None:
        self.store = demo.data_dir / "store"
        self.env = {**os.environ, "PATCHWATCH_ACTOR": "tester", "SSH_AUTH_SOCK": "",
                    "PATCHWATCH_CHANNELS": str(demo.data_dir / "channels.toml")}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "console", "--data-dir", str(self.store), *args]

    async def __call__(self, *args: str, timeout: float = 120) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(*self.argv(*args), stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=self.env, cwd=ROOT)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def json_lines(self, *args: str) -> list[dict[str, Any]]:
        code, out, err = await self(*args, "--json")
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    """The demo's fleet and servers in this test's loop; its engine closed so the CLI owns the directory."""
    demo = Demo(tmp_path / "demo", hosts=10)
    engine = await demo.start(reset=True)
    # Stop serving and release the store: these tests are about a CLI (or daemon) that owns it.
    assert demo.server is not None
    await demo.server.stop()
    demo.server = None
    await engine.close()
    try:
        yield demo
    finally:
        await demo.close()


async def test_run_without_a_daemon_delivers_its_notices_before_it_exits(demo: Demo) -> None:
    cli = Cli(demo)
    run_ids = []
    for _ in range(3):
        code, out, err = await cli("run", "demo-scan")
        assert code == 1, (out, err)  # the demo plants failing hosts
        run_ids.append(out.split()[1])
        assert "still queued" not in err
    finished = await cli.json_lines("events", "--kind", "run.finished")
    assert {e["run_id"] for e in finished} == set(run_ids)
    records = await cli.json_lines("notifications", "--limit", "500")
    first, *again = run_ids
    notices = [r for r in records if r["run_id"] == first and r["kind"] in FAILURE_NOTICES]
    assert notices, f"no failure notice for run {first}"
    assert all(r["status"] == "sent" for r in notices), [(r["mode"], r["status"], r["error"]) for r in notices]
    assert any(first in mail.part("text/plain") for mail in demo.mail.messages
               if mail.part("text/plain")), f"no email mentions run {first}"
    # The same hosts failing again belong to the alarm the first run opened: nothing new to tell anyone.
    assert not [r for r in records if r["run_id"] in again and r["kind"] in FAILURE_NOTICES]


async def test_a_daemon_stopped_by_sigterm_sends_the_interrupted_notice_exactly_once(demo: Demo) -> None:
    cli = Cli(demo)
    # A task on the slow host only, every 5 seconds, so that a run is in progress when systemd stops the daemon.
    slow = next(h.name for h in demo.fleet.hosts if h.fault == "slow") if demo.fleet else ""
    task = Path(cli.store.parent / "slow.toml")
    task.write_text(f'''name = "slow-scan"
[schedule]
timezone = "UTC"
cron = "*/5 * * * * ?"
[job]
name = "Scan_OS_Patch"
credential = "default"
params = {{ command_timeout = 30 }}
[targets]
instances = ["{slow}"]
[targets.batch]
mode = "none"
[notify]
enabled = true
policies = ["execution_failed"]
scenario = "patch-duty"
roles = ["on-duty"]
modes = ["email"]
''')
    code, out, err = await cli("task", "add", "--file", str(task))
    assert code == 0, err

    async def daemon_until(*markers: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(*cli.argv("daemon"), stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT, env=cli.env, cwd=ROOT)
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, "the daemon ended early"
                if all(marker in line for marker in markers):
                    return proc

    # The slow task's own start: another task of the demo's directory may start first.
    daemon = await daemon_until("run.started", "slow-scan")
    daemon.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.wait(), 30) == 0

    interrupted = [r for r in await cli.json_lines("runs", "--task", "slow-scan") if r["state"] == "interrupted"]
    assert len(interrupted) == 1, await cli.json_lines("runs", "--task", "slow-scan")
    run_id = interrupted[0]["id"]

    def interrupted_mails() -> list[Any]:
        return [m for m in demo.mail.messages if "INTERRUPTED" in m.subject and run_id in (m.part("text/plain") or "")]

    assert interrupted_mails(), "the interrupted notice was not sent when the daemon stopped"
    sent_at_stop = len(interrupted_mails())
    # The next start (systemd's restart) must not send it again.
    daemon = await daemon_until("scheduler.started")
    await asyncio.sleep(2)
    daemon.send_signal(signal.SIGTERM)
    await asyncio.wait_for(daemon.wait(), 30)
    assert len(interrupted_mails()) == sent_at_stop
    records = [r for r in await cli.json_lines("notifications", "--run", run_id) if r["kind"] == "interrupted"]
    assert records and all(r["status"] == "sent" for r in records)
    assert len({r["person"] for r in records}) == len(records), "one interrupted notice per person"


async def test_approve_without_a_daemon_runs_the_approved_run_to_its_end(demo: Demo) -> None:
    cli = Cli(demo)
    healthy = [h.name for h in demo.fleet.hosts if h.fault is None][:2] if demo.fleet else []
    task = Path(cli.store.parent / "reviewed.toml")
    task.write_text(f'''name = "reviewed-scan"
risk = "high"
[schedule]
timezone = "UTC"
cron = "0 0 3 * * ?"
[job]
name = "Scan_OS_Patch"
credential = "default"
[targets]
instances = {json.dumps(healthy)}
[review]
required = true
''')
    code, out, err = await cli("task", "add", "--file", str(task))
    assert code == 0, err
    code, out, err = await cli("run", "reviewed-scan")
    assert code == 0 and "pending_review" in out, (out, err)
    run_id = out.split()[1]
    code, out, err = await cli("approve", run_id)
    assert code == 0, (out, err)
    assert f"run {run_id}: succeeded" in out
    [run] = [r for r in await cli.json_lines("runs", "--task", "reviewed-scan") if r["id"] == run_id]
    assert run["state"] == "succeeded" and run["hosts_ok"] == len(healthy)


async def test_run_on_a_run_that_pauses_says_so_instead_of_waiting_forever(demo: Demo) -> None:
    cli = Cli(demo)
    refused = next(h.name for h in demo.fleet.hosts if h.fault == "network_refused") if demo.fleet else ""
    task = Path(cli.store.parent / "canary.toml")
    # Automatic batches start with a canary of one host; a canary that fails pauses the run.
    task.write_text(f'''name = "canary-scan"
[schedule]
timezone = "UTC"
cron = "0 0 3 * * ?"
[job]
name = "Scan_OS_Patch"
credential = "default"
[targets]
instances = ["{refused}"]
groups = ["all"]
[targets.batch]
mode = "automatic"
''')
    code, out, err = await cli("task", "add", "--file", str(task))
    assert code == 0, err
    code, out, err = await cli("run", "canary-scan", "--wait", timeout=60)
    assert code == 1, (out, err)
    assert " is paused: " in out and "resume" in out
    run_id = out.split()[1]
    [run] = [r for r in await cli.json_lines("runs", "--task", "canary-scan") if r["id"] == run_id]
    assert run["state"] == "interrupted"

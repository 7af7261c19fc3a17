"""`patchwatch demo --headless`, as a newcomer's first command would run it: a real process, real SSH to the
simulated fleet, real SMTP and robot servers on loopback. Within 60 s of start a demo run must have failed
hosts in every category and at least one email and one DingTalk notice delivered."""

from __future__ import annotations

import json
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = {"network", "timeout", "permission", "host_key", "tool", "service"}


def test_demo_shows_every_failure_category_and_delivers_email_and_dingtalk_within_60_s(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PATCHWATCH_CHANNELS", None)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "console", "--data-dir", str(tmp_path), "demo", "--headless",
                             "--reset", "--json", "--for", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env)
    categories: set[str] = set()
    sent_modes: set[str] = set()
    received: set[str] = set()
    failed_run = None
    cli = ""
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    assert proc.stdout is not None
    selector.register(proc.stdout, selectors.EVENT_READ)
    try:
        while time.monotonic() - started < 60:
            if not selector.select(timeout=1):
                if proc.poll() is not None:
                    break
                continue
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            event = json.loads(line)
            data = event.get("data") or {}
            if event["kind"] == "demo.started":
                cli = data["cli"]
            if event["kind"] == "host.finished" and data.get("status") == "failed":
                categories.add(data["category"])
                failed_run = event["run_id"]
            elif event["kind"] == "notification.sent":
                sent_modes.add(data["mode"])
            elif event["kind"] in ("demo.mail_received", "demo.robot_received"):
                received.add(event["kind"] if event["kind"] == "demo.mail_received" else data["service"])
            if categories >= CATEGORIES and {"email", "dingtalk"} <= sent_modes and {
                    "demo.mail_received", "dingtalk"} <= received:
                break
        elapsed = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, err = proc.communicate()
    assert categories >= CATEGORIES, (categories, "".join(lines[-20:]), err[-2000:])
    assert {"email", "dingtalk"} <= sent_modes, (sent_modes, err[-2000:])
    assert {"demo.mail_received", "dingtalk"} <= received
    assert elapsed < 60
    assert proc.returncode == 0, err[-2000:]
    assert '"demo.stopped"' in rest
    # The run and its notices are in the demo's store, where the console reads them; the demo printed the
    # command line that reaches it, and it works as printed, from any directory.
    assert f"--data-dir {tmp_path / 'demo' / 'store'}" in cli, cli
    runs = subprocess.run(shlex.split(cli), capture_output=True, text=True, cwd="/", timeout=60)
    assert runs.returncode == 0 and failed_run in runs.stdout, (cli, runs.stderr)
    out = subprocess.run([*shlex.split(cli)[:-1], "hosts", failed_run, "--failed", "--json"], capture_output=True,
                         text=True, cwd="/", timeout=60)
    assert {json.loads(line)["category"] for line in out.stdout.splitlines()} >= CATEGORIES

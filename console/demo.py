"""``patchwatch demo``: the whole product on one machine, in one process, on loopback only.

What it starts, in a demo data directory (``data/demo`` by default; ``--reset`` empties it first):

- a simulated fleet of 40 SSH hosts over the apt, dnf/yum, zypper and apk families, with one host of each
  failure category (network, timeout, permission, host_key, tool, service), a slow host, a host with a
  pending reboot, and healthy hosts with planted updates;
- a local SMTP server that captures every email, and a local HTTP server answering like the DingTalk and
  WeCom robots, so every channel delivers for real;
- demo people, a shift scenario with two roles and a daily rota, and a channels file pointing at the local
  servers;
- the reference system's task ``ScheduledscanOSpatches`` (GMT+08:00, ``0 15 3 5 * ?``) exactly as it is
  described there, and a ``demo-scan`` task that scans the fleet every two minutes and notifies the on-duty
  role by email and DingTalk on failure. ``demo-scan`` also runs once at start, so failures show within
  seconds.

Then it opens the console, or with ``--headless`` prints the events (and what the local servers received)
until interrupted or until ``--for`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import shutil
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.clock import within
from console.commands import command_line
from console.domain.events import Event
from console.engine import Engine
from console.errors import ValidationError
from console.notify.channels import write_channels_file
from console.scan.credentials import CredentialProfile
from console.server.attach import socket_path
from console.server.server import ApiServer
from console.sim.fleet import Fleet, start_fleet
from console.sim.sinks import MailSink, RobotSink

DEMO_HOSTS = 40
#: One host of each failure category, plus the two benign oddities an operator should recognise.
DEMO_FAULTS = {
    "network_refused": 1,  # network
    "timeout_connect": 1,  # timeout
    "permission_sudo": 1,  # permission (sudo -n wants a password)
    "host_key": 1,  # host_key (the host presents another key)
    "tool_missing": 1,  # tool (package manager not installed)
    "service_lock": 1,  # service (package manager lock held)
    "slow": 1,  # healthy but slow
    "reboot_pending": 1,  # healthy, reboot pending
}
DING_SECRET = "SECdemo0000000000000000000000000000000000000000000000000000000000"
DING_TOKEN = "d" * 64
WECOM_KEY = "00000000-0000-4000-8000-000000000000"

SEED_TASK: dict[str, Any] = {
    "name": "ScheduledscanOSpatches",
    "risk": "low",
    "description": "The reference system's example: monthly OS patch scan at 03:15 on the 5th (GMT+08:00)",
    "schedule": {"timezone": "GMT+08:00", "type": "periodic", "cron": "0 15 3 5 * ?"},
    "job": {"name": "Scan_OS_Patch", "credential": "default", "target_mode": "consistent"},
    "targets": {"groups": ["all"], "batch": {"mode": "automatic"}},
    "review": {"required": False},
    "notify": {"enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
               "modes": ["email"]},
}

DEMO_TASK: dict[str, Any] = {
    "name": "demo-scan",
    "risk": "low",
    "description": "Scans the simulated fleet every two minutes; failures go to the on-duty role",
    "schedule": {"timezone": "UTC", "type": "periodic", "cron": "0 */2 * * * ?", "on_missed": "skip"},
    "job": {"name": "Scan_OS_Patch", "credential": "default",
            "params": {"refresh_metadata": True, "connect_timeout": 3, "command_timeout": 20, "concurrency": 50}},
    # No canary pause in the demo: a failing canary would hold the run until someone resumes it.
    "targets": {"groups": ["all"], "batch": {"mode": "none"}},
    "review": {"required": False},
    "notify": {"enabled": True, "policies": ["execution_failed", "recovered"], "scenario": "patch-duty",
               "roles": ["on-duty"], "modes": ["email", "dingtalk"]},
}

PEOPLE = """
[[person]]
name = "alice"
email = "alice@demo.example"
mobile = "+8613800000001"
wecom = "alice"
modes = ["dingtalk", "email"]

[[person]]
name = "bob"
email = "bob@demo.example"
mobile = "+8613800000002"
wecom = "bob"
modes = ["dingtalk", "email"]

[[person]]
name = "carol"
email = "carol@demo.example"
mobile = "+8613800000003"

[[scenario]]
name = "patch-duty"

  [[scenario.role]]
  name = "on-duty"
  rotation = "daily"
  handover = "09:00"
  timezone = "Asia/Shanghai"
  start = "2026-01-01"
  people = ["alice", "bob"]

  [[scenario.role]]
  name = "team-lead"
  rotation = "fixed"
  people = ["carol"]
"""


class Demo:
    """The running demo: fleet, local servers and an open engine."""

    def __init__(self, data_dir: Path, *, hosts: int = DEMO_HOSTS, seed: int = 7) -> None:
        self.data_dir = data_dir
        self.hosts = hosts
        self.seed = seed
        self.fleet: Fleet | None = None
        self.mail = MailSink()
        self.robot = RobotSink(dingtalk_secret=DING_SECRET, dingtalk_token=DING_TOKEN, wecom_key=WECOM_KEY)
        self.engine: Engine | None = None
        self.server: ApiServer | None = None

    @property
    def store_dir(self) -> Path:
        """The demo's data directory (what ``--data-dir`` takes): below the demo's own files (fleet keys,
        channels), so ``--reset`` can remove everything at once."""
        return self.data_dir / "store"

    async def start(self, *, reset: bool = False) -> Engine:
        if reset and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await self.mail.start()
        await self.robot.start()
        self.fleet = await start_fleet(self.hosts, faults=DEMO_FAULTS, seed=self.seed, slow_delay=2.0)
        files = self.fleet.write_files(self.data_dir / "fleet")
        channels = write_channels_file(self.data_dir / "channels.toml", "\n".join([
            "# Written by patchwatch demo: every channel points at a local server on loopback.",
            f'[email]\nurl = "{self.mail.url("patchwatch-demo@demo.example")}"',
            f'[dingtalk]\nurl = "dingtalk://{DING_SECRET}@{DING_TOKEN}"\nendpoint = "{self.robot.url("dingtalk")}"',
            f'[wecom]\nurl = "wecombot://{WECOM_KEY}"\nendpoint = "{self.robot.url("wecom")}"',
            "",
        ]))
        engine = Engine(self.store_dir, channels_path=channels)
        await engine.open()
        self.engine = engine
        # The demo owns its store: consoles and commands on it attach here (patchwatch --data-dir DEMO/store).
        self.server = await ApiServer(engine, socket_path(engine.data_dir)).start()
        # Every start serves the fleet on new ports with new keys: refresh what points at them.
        await engine.import_inventory(files.inventory_ini.read_text(), source="demo fleet", actor="demo")
        await engine.put_credential(CredentialProfile(
            name="default", user=self.fleet.user, key_files=(str(files.private_key),),
            known_hosts=(str(files.known_hosts),), sudo="sudo"), actor="demo")
        await engine.import_people(PEOPLE, source="demo people", actor="demo")
        existing = {t.name for t in await engine.list_tasks()}
        for form in (SEED_TASK, DEMO_TASK):
            if form["name"] not in existing:
                await engine.create_task(form, actor="demo")
        return engine

    async def kick_off(self) -> None:
        """Run the demo task once now, so the first failures arrive within seconds, not at the next slot."""
        assert self.engine is not None
        with contextlib.suppress(Exception):  # an active run from the schedule is as good
            await self.engine.run_now(DEMO_TASK["name"], actor="demo")

    async def close(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.engine is not None:
            await self.engine.close()
        if self.fleet is not None:
            await self.fleet.close()
        await self.robot.stop()
        await self.mail.stop()

    def received(self) -> list[str]:
        """One line per message the local servers received so far (the demo's mailbox)."""
        lines = [f"mail to {', '.join(m.rcpt_tos)}: {m.subject}" for m in self.mail.messages]
        for request in self.robot.received():
            text = request.text()
            lines.append(f"{request.service} robot: {text.splitlines()[0][:100] if text else ''}")
        return lines


def demo_dir(base: Path) -> Path:
    return base / "demo"


async def run_headless(data_dir: Path, *, reset: bool, seconds: float | None, as_json: bool,
                       echo: Callable[[str], None] = print) -> int:
    demo = Demo(data_dir)
    engine = await demo.start(reset=reset)
    queue = await engine.subscribe()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine.create_scheduler().start_background()
    assert demo.fleet is not None
    store = demo.store_dir
    echo(_line(as_json, "demo.started", f"demo: {len(demo.fleet.hosts)} simulated hosts, mail on "
               f"127.0.0.1:{demo.mail.port}, robots on {demo.robot.url('dingtalk')}; its data directory for the "
               f"CLI: {cli_hint(store)}",
               {"hosts": len(demo.fleet.hosts), "faults": demo.fleet.fault_summary(),
                "data_dir": str(store.absolute()), "cli": command_line(store, "runs")}))
    await demo.kick_off()
    seen_mail, seen_robot = 0, 0

    async def pump() -> None:
        nonlocal seen_mail, seen_robot
        while True:
            with contextlib.suppress(TimeoutError):
                event = await within(queue.get(), 0.5)
                echo(_event(as_json, event))
                while not queue.empty():
                    echo(_event(as_json, queue.get_nowait()))
            for message in demo.mail.messages[seen_mail:]:
                echo(_line(as_json, "demo.mail_received", f"mail to {', '.join(message.rcpt_tos)}: "
                           f"{message.subject}", {"to": list(message.rcpt_tos), "subject": message.subject}))
            seen_mail = len(demo.mail.messages)
            for request in demo.robot.received()[seen_robot:]:
                echo(_line(as_json, "demo.robot_received", f"{request.service} robot received a message",
                           {"service": request.service, "body": request.body}))
            seen_robot = len(demo.robot.received())

    printer = asyncio.create_task(pump())
    try:
        if seconds is not None:
            with contextlib.suppress(TimeoutError):
                await within(stop.wait(), seconds)
        else:
            await stop.wait()
    finally:
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer
        queue.close()
        await demo.close()
    echo(_line(as_json, "demo.stopped", "demo stopped", {}))
    return 0


async def run_with_console(data_dir: Path, *, reset: bool) -> int:
    from console.tui.app import PatchwatchApp  # the console is the only part that needs textual

    demo = Demo(data_dir)
    engine = await demo.start(reset=reset)
    app = PatchwatchApp(engine, duties=engine.run_scheduler)

    async def kick_off_when_ready() -> None:
        await asyncio.sleep(1.0)
        await demo.kick_off()

    starter = asyncio.create_task(kick_off_when_ready())
    try:
        await app.run_async()
    finally:
        starter.cancel()
        await demo.close()
    # Left on the terminal once the console is gone: how to look at the same data with the CLI.
    print(f"The demo's data directory for the CLI: {cli_hint(demo.store_dir)}")
    return app.return_code or 0


def cli_hint(store: Path) -> str:
    """``--data-dir /abs/store (e.g. patchwatch --data-dir /abs/store runs)``."""
    return f"--data-dir {shlex.quote(str(store.absolute()))} (e.g. {command_line(store, 'runs')})"


def _event(as_json: bool, event: Event) -> str:
    if as_json:
        return json.dumps(event.to_dict(), default=str, sort_keys=True)
    ids = " ".join(x for x in (event.run_id and f"run={event.run_id}", event.host and f"host={event.host}") if x)
    return f"{event.at}  {event.kind:<24} {event.message}" + (f"  [{ids}]" if ids else "")


def _line(as_json: bool, kind: str, message: str, data: dict[str, Any]) -> str:
    now = datetime.now(UTC).isoformat()
    if as_json:
        return json.dumps({"kind": kind, "at": now, "message": message, "data": data}, default=str, sort_keys=True)
    return f"{now}  {kind:<24} {message}"


def main(data_dir: Path, *, reset: bool, headless: bool, seconds: float | None, as_json: bool) -> int:
    if seconds is not None and seconds <= 0:
        raise ValidationError.single("--for", f"must be a positive number of seconds, got {seconds:g}")
    if headless:
        return asyncio.run(run_headless(data_dir, reset=reset, seconds=seconds, as_json=as_json))
    if not sys.stdout.isatty():
        raise ValidationError.single("demo", "the console needs a terminal; use --headless to print events")
    return asyncio.run(run_with_console(data_dir, reset=reset))

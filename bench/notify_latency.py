"""Failure-notice latency while a large scan runs: first failed host -> email accepted by the SMTP server.

    python bench/notify_latency.py [-n 1000] [--faults 0.1] [--people 20] [--runs 3]

A simulated fleet (real SSH servers, its own process) with a share of faulty hosts is scanned by a stored
task whose failures notify a fixed role of ``--people`` people by email, through a real SMTP server on
loopback in a process of its own (as a mail relay would be: in the scanner's process it would compete
with the scan for the same event loop and inflate the figures). For each first-failure email the latency
is the time the server accepted it minus the time the first failed host of that run finished. Printed
beside it, as the plain reference: the same number of emails sent with smtplib straight to the same
server, one after another, with no scan running (the cost of the mail path alone). Target for ours: p99
under 2 s (the reference system promises 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from simfleet import ROOT, running_fleet

sys.path.insert(0, str(ROOT))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _row(label: str, values: list[float]) -> str:
    return (f"{label:<44}{len(values):>8}{statistics.median(values):>9.3f}{_pct(values, 0.99):>9.3f}"
            f"{max(values):>9.3f}")


MAIL_SERVER = """
import asyncio, json, sys
from console.sim.sinks import MailSink

async def main():
    async with MailSink() as mail:
        print(json.dumps({"port": mail.port}), flush=True)
        seen = 0
        while True:
            await asyncio.sleep(0.01)
            for m in mail.messages[seen:]:
                print(json.dumps({"subject": m.subject, "to": list(m.rcpt_tos),
                                  "received_at": m.received_at.isoformat()}), flush=True)
            seen = len(mail.messages)

asyncio.run(main())
"""


class _MailServer:
    """The SMTP sink in its own process; every accepted message comes back as a JSON line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", MAIL_SERVER], stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        assert self.proc.stdout is not None
        self.port = json.loads(self.proc.stdout.readline())["port"]
        self.messages: list[dict] = []

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=patchwatch@example.com"

    async def wait_for(self, count: int, timeout: float) -> list[dict]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        assert self.proc.stdout is not None
        while len(self.messages) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"{count} messages did not arrive")
            line = await loop.run_in_executor(None, self.proc.stdout.readline)
            if line:
                self.messages.append(json.loads(line))
        return self.messages

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def _ours(fleet_dir: Path, people: int, runs: int, breakdown: bool) -> tuple[list[float], float]:
    from console.engine import Engine
    from console.notify.channels import write_channels_file
    from console.scan.credentials import CredentialProfile

    lines = [f'[[person]]\nname = "p{i:02d}"\nemail = "p{i:02d}@example.com"\n' for i in range(people)]
    roster = ", ".join(f'"p{i:02d}"' for i in range(people))
    lines.append(f'[[scenario]]\nname = "bench"\n[[scenario.role]]\nname = "all-hands"\nrotation = "fixed"\n'
                 f'people = [{roster}]\n')
    latencies: list[float] = []
    scan_seconds = 0.0
    mail = _MailServer()
    try:
        with tempfile.TemporaryDirectory() as data:
            channels = write_channels_file(Path(data) / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
            async with Engine(Path(data) / "store", channels_path=channels) as engine:
                await engine.import_people("\n".join(lines))
                await engine.import_inventory((fleet_dir / "inventory.ini").read_text(), source="inventory.ini")
                await engine.put_credential(CredentialProfile(
                    name="bench", key_files=(str(fleet_dir / "id_ed25519"),),
                    known_hosts=(str(fleet_dir / "known_hosts"),)))
                task = await engine.create_task({
                    "name": "latency-bench", "schedule": {"cron": "0 0 0 1 1 ?"},
                    "job": {"credential": "bench", "params": {"concurrency": 100, "connect_timeout": 3,
                                                              "command_timeout": 5}},
                    "targets": {"groups": ["all"], "batch": {"mode": "none"}},
                    "notify": {"enabled": True, "policies": ["execution_failed"], "scenario": "bench",
                               "roles": ["all-hands"], "modes": ["email"]}})
                for _ in range(runs):
                    already = len(mail.messages)
                    started = time.monotonic()
                    run = await engine.wait_run((await engine.run_now(task.id)).id)
                    scan_seconds += time.monotonic() - started
                    hosts = await engine.host_results(run.id)
                    first_failed = min(datetime.fromisoformat(h.finished_at) for h in hosts
                                       if h.status.value == "failed" and h.finished_at)
                    # The first-failure notices and then the summaries: 2 per person.
                    received = (await mail.wait_for(already + 2 * people, timeout=60))[already:]
                    for message in received:
                        if "summary" not in message["subject"].lower():
                            latencies.append((datetime.fromisoformat(message["received_at"])
                                              - first_failed).total_seconds())
                    if breakdown:
                        for r in await engine.list_notifications(run_id=run.id):
                            if r.kind == "execution_failed" and r.sent_at and r.detected_at:
                                det = datetime.fromisoformat(r.detected_at)
                                print(f"queued +{(datetime.fromisoformat(r.created_at) - det).total_seconds():.3f}"
                                      f" sent +{(datetime.fromisoformat(r.sent_at) - det).total_seconds():.3f}")
    finally:
        mail.close()
    return latencies, scan_seconds / max(1, runs)


def _reference(count: int) -> list[float]:
    """Plain smtplib sends to a real SMTP server on loopback: the floor of the mail path."""
    from console.sim.sinks import MailSink

    async def serve(ready: asyncio.Event, stop: asyncio.Event, port: list[int]) -> None:
        async with MailSink() as mail:
            port.append(mail.port)
            ready.set()
            await stop.wait()

    import threading

    loop = asyncio.new_event_loop()
    ready, stop, port = asyncio.Event(), asyncio.Event(), []  # type: ignore[var-annotated]
    thread = threading.Thread(target=lambda: loop.run_until_complete(serve(ready, stop, port)), daemon=True)
    thread.start()
    while not port:
        time.sleep(0.01)
    latencies = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "bench@example.com", f"p{i}@example.com", "reference"
        msg.set_content("reference")
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", port[0], local_hostname="bench") as smtp:
            smtp.send_message(msg)
        latencies.append(time.monotonic() - started)
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--faults", type=float, default=0.1)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--breakdown", action="store_true", help="print when each notice was queued and sent")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            running_fleet(Path(tmp) / "fleet", args.n, "--faults", str(args.faults), seed=3) as fleet_dir:
        truth = json.loads((fleet_dir / "fleet.json").read_text())
        faulty = sum(1 for h in truth["hosts"] if h["fault"] and h["expected_category"])
        latencies, scan = asyncio.run(_ours(fleet_dir, args.people, args.runs, args.breakdown))
    reference = _reference(len(latencies))
    print(f"{args.n} simulated hosts ({faulty} faulty), {args.runs} runs of about {scan:.1f} s each, "
          f"{args.people} people notified by email per run")
    print(f"{'latency, seconds':<44}{'samples':>8}{'p50':>9}{'p99':>9}{'max':>9}")
    print(_row("patchwatch: first failed host -> SMTP accepted", latencies))
    print(_row("reference: bare smtplib send, no scan running", reference))
    print("target: p99 under 2 s")


if __name__ == "__main__":
    main()

"""Alarm noise over one day: the notices today's main sent against the notices alarms with a lifecycle send.

    python bench/alarm_noise.py [--baseline c47f31b] [--runs 144] [--json OUT]

Issue 11's "must show". One simulated day (a ManualClock from 2026-11-05 00:00 UTC to 24:00): a task scans a
fleet of 20 hosts every 10 minutes (144 scheduled runs, fired as the scheduler fires them). Three hosts always
fail (network, permission, timeout), one host flaps (fails on every other run, category service), the rest
succeed. In the current tree a silence covers one of the always-failing hosts from 00:00 to 02:00 (a maintenance
window at the start of the day); the baseline has no silences. Nobody acknowledges anything: the worst case for
noise, every escalation step and reminder fires. Failures notify the on-duty role of the "patch-duty" scenario
by email (alice and bob take turns daily at 09:00 Asia/Shanghai, i.e. 01:00 UTC; dave is the team lead
escalations reach), with the engine's default escalation (15 min, two steps) and, in the current tree, its
default 4-hourly reminders.

Every notice is delivered for real, to an SMTP server on loopback (console.sim.sinks.MailSink): "sent" means
that server accepted the message, and the script checks that the server received as many messages as the
outbox recorded as sent.

Both versions run the same simulation function, each in a subprocess of its own: the baseline from
``git archive <baseline> console`` extracted into a temporary directory, the current tree from this
checkout, each selected with PYTHONPATH (so they are measured identically). The simulation only uses the
API both have (Engine(..., clock=ManualClock, jobs=..., channels_path=..., notify_options=...),
import_people, upsert_instances, create_task, fire, wait_run, list_notifications) and finds out by hasattr
which of ``engine.alarms.check_timers`` (current) and ``engine.notifier.escalate_due`` (baseline) times the
escalations.

The silence covers the host's first failures: its notice is held, then released as one ``update`` when the
silence ends (the check below shows it was named after the silence, not during it). A silence later in the
day (``--silence 11-13``) changes nothing: by then the alarm's first notice has named the host, and a host is
not named again in the same episode.

Printed: notices sent per kind, per person and per kind and person, total pages (every delivered message),
the ratio baseline/current, and the check that no failing host was left un-notified (each host that failed
at any point is named in at least one delivered notice). Target: pages fall by 10x or more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "c47f31b"  # today's main before issue 11 ("The trace screen redraws its rows on a resize ...")

START = "2026-11-05T00:00:00+00:00"
EVERY_S = 600
HOSTS = 20
ALWAYS_FAILING = {"host-003": "network", "host-007": "permission", "host-011": "timeout"}
FLAPPER = ("host-015", "service")
SILENCED = "host-007"
SILENCE_HOURS = (0, 2)  # UTC hours of the day, [from, until)

PEOPLE_TOML = """
[[person]]
name = "alice"
email = "alice@example.com"
modes = ["email"]

[[person]]
name = "bob"
email = "bob@example.com"
modes = ["email"]

[[person]]
name = "dave"
email = "dave@example.com"
modes = ["email"]

[[scenario]]
name = "patch-duty"

  [[scenario.role]]
  name = "on-duty"
  rotation = "daily"
  handover = "09:00"
  timezone = "Asia/Shanghai"
  start = "2026-11-01"
  people = ["alice", "bob"]

  [[scenario.role]]
  name = "team-lead"
  rotation = "fixed"
  people = ["dave"]
"""


# ------------------------------------------------------------------------------------------------- the simulation
# Runs inside a worker process, against whichever ``console`` package PYTHONPATH selects: everything it imports
# from console is imported here, and only what the baseline has too.


def _make_job() -> Any:
    from console.domain.run import HostResult, HostStatus

    class NoIoJob:
        """A Scan_OS_Patch stand-in that touches no host: each target gets the outcome planted for it."""

        name = "Scan_OS_Patch"
        batch_size = 0

        def __init__(self) -> None:
            self.outcomes: dict[str, str] = {}

        async def execute(self, ctx: Any) -> None:
            targets = list(ctx.targets)
            await ctx.checkpoint()
            await ctx.batch_started(1, 1, [t.name for t in targets])
            for target in targets:
                await ctx.checkpoint()
                outcome = self.outcomes.get(target.name, "ok")
                now = ctx.clock.now().isoformat()
                if outcome == "ok":
                    result = HostResult(run_id=ctx.run.id, task_id=ctx.task.id, host=target.name,
                                        status=HostStatus.OK, address=target.address, batch=1,
                                        started_at=now, finished_at=now)
                else:
                    result = HostResult(run_id=ctx.run.id, task_id=ctx.task.id, host=target.name,
                                        status=HostStatus.FAILED, category=outcome,
                                        reason=f"planted {outcome} failure", batch=1,
                                        started_at=now, finished_at=now)
                await ctx.host_finished(result)

    return NoIoJob()


async def _snapshot(engine: Any, mail: Any) -> tuple[Any, ...] | None:
    """What the engine has done so far, through its public API: the newest event's number, the notices recorded
    and the mail delivered; None while a recorded notice is still waiting to be sent."""
    records = await engine.list_notifications(limit=1_000_000)
    if any(r.status.value not in ("sent", "failed", "abandoned") for r in records):
        return None
    newest = await engine.query_events(limit=1)
    return (newest[0].seq if newest else 0), len(records), len(mail.messages)


async def _settle(engine: Any, mail: Any, timeout: float = 30.0) -> None:
    """Wait until nothing changes any more: no event published, no notice recorded or delivered, for a few
    polls in a row (the alarm book and the notifier react within milliseconds on this idle engine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    stable, last = 0, None
    while True:
        await asyncio.sleep(0.02)
        seen = await _snapshot(engine, mail)
        stable = stable + 1 if seen is not None and seen == last else 0
        last = seen
        if stable >= 4:
            return
        if loop.time() > deadline:
            raise TimeoutError("the notifier did not settle within 30 s")


async def simulate(runs: int, silence_hours: tuple[int, int] = SILENCE_HOURS) -> dict[str, Any]:
    import console
    from console.clock import ManualClock
    from console.domain.run import Trigger
    from console.engine import Engine
    from console.jobs import Target
    from console.notify.channels import write_channels_file
    from console.notify.outbox import RetryPolicy
    from console.sim.sinks import MailSink

    start = datetime.fromisoformat(START)
    day_end = start + timedelta(days=1)
    clock = ManualClock(start)
    job = _make_job()
    wall = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alarm-noise-") as tmp:
        async with MailSink() as mail:
            channels = write_channels_file(Path(tmp) / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
            engine = Engine(Path(tmp) / "data", clock=clock, jobs={"Scan_OS_Patch": job}, channels_path=channels,
                            notify_options={"retry": RetryPolicy(attempts_per_mode=2, first_backoff=0.1,
                                                                 max_backoff=0.3)})
            await engine.open()
            try:
                current = hasattr(engine, "add_silence")
                await engine.import_people(PEOPLE_TOML)
                await engine.upsert_instances([Target(name=f"host-{i:03d}", address="127.0.0.1", port=2200 + i,
                                                      groups=("all",)) for i in range(HOSTS)])
                task = await engine.create_task({
                    "name": "noise-bench", "schedule": {"timezone": "UTC", "cron": "0 */10 * * * ?"},
                    "job": {"name": "Scan_OS_Patch"}, "targets": {"groups": ["all"]},
                    "notify": {"enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty",
                               "roles": ["on-duty"], "modes": ["email"]}})
                silence = None
                if current:
                    silence = await engine.add_silence(
                        reason="planned maintenance of the permission-failing host", host=SILENCED,
                        starts_at=start + timedelta(hours=silence_hours[0]),
                        ends_at=start + timedelta(hours=silence_hours[1]))

                async def tick() -> None:
                    """Take the escalation and reminder steps due at the clock's time, and let them go out."""
                    if current and hasattr(engine.alarms, "check_timers"):
                        engine.alarms.check_timers()
                    elif hasattr(engine.notifier, "escalate_due"):
                        await engine.notifier.escalate_due()
                    await _settle(engine, mail)

                states: Counter[str] = Counter()
                for index in range(runs):
                    slot = start + timedelta(seconds=index * EVERY_S)
                    await clock.set(slot)
                    await tick()
                    job.outcomes = dict(ALWAYS_FAILING)
                    if index % 2 == 0:
                        job.outcomes[FLAPPER[0]] = FLAPPER[1]
                    run = await engine.fire(task, trigger=Trigger.SCHEDULE, actor="scheduler", slot=slot)
                    run = await engine.wait_run(run.id, timeout=30)
                    states[run.state.value] += 1
                    await _settle(engine, mail)
                    await clock.set(slot + timedelta(seconds=EVERY_S / 2))  # timers due in between
                    await tick()
                await clock.set(day_end - timedelta(seconds=1))  # the day is [00:00, 24:00)
                await tick()

                records = await engine.list_notifications(limit=1_000_000)
                alarm_events: Counter[str] = Counter()
                announced: Counter[str] = Counter()
                alarms: list[dict[str, Any]] = []
                if current:
                    for event in await engine.query_events(kind="alarm.", limit=None):
                        alarm_events[str(event.kind)] += 1
                        if event.data.get("announce") and event.host:
                            announced[event.host] += 1
                    alarms = [{"id": a.id, "state": a.state.value, "escalation_step": a.escalation_step,
                               "next_repeat_at": a.next_repeat_at, "failing": len(a.failing_hosts())}
                              for a in await engine.list_alarms(include_resolved=True)]
            finally:
                await engine.close()
            messages = [{"to": list(m.rcpt_tos), "subject": m.subject, "text": m.part("text/plain") or ""}
                        for m in mail.messages]

    sent = [r for r in records if r.status.value == "sent"]
    return {
        "console": str(Path(console.__file__).resolve().parent),
        "current": current,
        "runs": runs,
        "run_states": dict(states),
        "records": len(records),
        "not_sent": dict(Counter(r.status.value for r in records if r.status.value != "sent")),
        "sent": [{"kind": r.kind, "person": r.person, "mode": r.mode, "at": r.created_at,
                  "hosts": [h["host"] for h in r.notice.get("first_failed", ())]} for r in sent],
        "mails": messages,
        "silence": silence.to_dict() if silence is not None else None,
        "alarm_events": dict(alarm_events),
        "announced": dict(announced),
        "alarms": alarms,
        "wall_s": round(time.monotonic() - wall, 1),
    }


# ------------------------------------------------------------------------------------------------- the comparison


def _worker(pythonpath: Path, runs: int, silence: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "--runs", str(runs),
                           "--silence", silence],
                          env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"the simulation on {pythonpath} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(result["console"]).is_relative_to(pythonpath.resolve()):
        raise SystemExit(f"the worker imported {result['console']}, not the console package under {pythonpath}")
    return result


def _export_baseline(commit: str, into: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "console"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def _named_check(result: dict[str, Any], start: datetime) -> list[tuple[str, bool, str]]:
    """Each host that failed at any point is named in at least one delivered notice (email text checked too)."""
    rows = []
    failing = {**ALWAYS_FAILING, FLAPPER[0]: FLAPPER[1]}
    for host in sorted(failing):
        kinds = Counter(n["kind"] for n in result["sent"] if host in n["hosts"])
        in_mail = sum(1 for m in result["mails"] if host in m["text"])
        ok = bool(kinds) and in_mail > 0
        detail = ", ".join(f"{k} x{c}" for k, c in sorted(kinds.items())) or "never named"
        if host == SILENCED and result["silence"]:
            lo = datetime.fromisoformat(result["silence"]["starts_at"])
            hi = datetime.fromisoformat(result["silence"]["ends_at"])
            during = sum(1 for n in result["sent"] if host in n["hosts"]
                         and lo <= datetime.fromisoformat(n["at"]) < hi)
            after = sum(1 for n in result["sent"] if host in n["hosts"] and datetime.fromisoformat(n["at"]) >= hi)
            detail += f"; named during the silence: {during}, after it: {after}"
        rows.append((f"{host} ({failing[host]}{', flaps' if host == FLAPPER[0] else ''}"
                     f"{', silenced' if host == SILENCED and result['silence'] else ''})", ok,
                     f"{detail}; in {in_mail} emails"))
    return rows


def report(old: dict[str, Any], new: dict[str, Any], baseline: str) -> bool:
    start = datetime.fromisoformat(START)
    width = 40

    def table(title: str, key: Any) -> None:
        a, b = Counter(key(n) for n in old["sent"]), Counter(key(n) for n in new["sent"])
        print(f"\n{title:<{width}}{'baseline':>10}{'current':>10}")
        for name in sorted(set(a) | set(b)):
            print(f"  {name:<{width - 2}}{a.get(name, 0):>10}{b.get(name, 0):>10}")

    print(f"alarm noise over one day: {HOSTS} hosts, a run every {EVERY_S // 60} min ({old['runs']} runs) from "
          f"{START}; 3 hosts always fail, {FLAPPER[0]} fails every other run, nobody acknowledges")
    print(f"  baseline = {baseline} (console from {old['console']}), no silences")
    silence = new["silence"] or {}
    print(f"  current  = this tree (console from {new['console']}), silence on {SILENCED} "
          f"{silence.get('starts_at', '?')[11:16]}-{silence.get('ends_at', '?')[11:16]} UTC")
    print(f"  run states: baseline {old['run_states']}, current {new['run_states']}")
    table("notices sent per kind", lambda n: n["kind"])
    table("notices sent per person", lambda n: n["person"])
    table("per kind and person", lambda n: f"{n['kind']} -> {n['person']}")
    pages_old, pages_new = len(old["sent"]), len(new["sent"])
    print(f"\n{'total pages (delivered messages)':<{width}}{pages_old:>10}{pages_new:>10}")
    print(f"{'  of which accepted by the SMTP sink':<{width}}{len(old['mails']):>10}{len(new['mails']):>10}")
    print(f"{'  outbox records not sent':<{width}}{sum(old['not_sent'].values()):>10}"
          f"{sum(new['not_sent'].values()):>10}")
    ratio = pages_old / pages_new if pages_new else float("inf")
    target = ratio >= 10
    print(f"{'ratio baseline / current':<{width}}{ratio:>20.1f}x   target >= 10x: {'MET' if target else 'NOT MET'}")

    print("\nno failure left un-notified (current tree): each failing host named in a delivered notice")
    named_ok = True
    for label, ok, detail in _named_check(new, start):
        named_ok &= ok
        print(f"  {'ok  ' if ok else 'MISS'} {label}: {detail}")
    print(f"  -> {'every failing host was notified' if named_ok else 'SOME FAILING HOST WAS NEVER NOTIFIED'}")

    if new["alarm_events"]:
        print("\ncurrent tree, alarm events over the day: " + ", ".join(
            f"{k} {v}" for k, v in sorted(new["alarm_events"].items())))
        print("  announced failures per host: " + ", ".join(f"{h} {c}" for h, c in sorted(new["announced"].items())))
        for alarm in new["alarms"]:
            print(f"  alarm {alarm['id']}: {alarm['state']}, {alarm['failing']} failing at the end, escalation "
                  f"steps taken {alarm['escalation_step']}, next reminder {alarm['next_repeat_at']}")
    consistent = all(len(r["mails"]) == len(r["sent"]) and not r["not_sent"] for r in (old, new))
    if not consistent:
        print("\nWARNING: the SMTP sink and the outbox disagree, or some notices were not sent")
    print(f"\nwall time: baseline {old['wall_s']} s, current {new['wall_s']} s")
    return target and named_ok and consistent


def _hours(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FROM-UNTIL in whole hours, e.g. 11-13, got {text!r}") from None
    if not 0 <= lo < hi <= 24:
        raise argparse.ArgumentTypeError(f"expected 0 <= FROM < UNTIL <= 24, got {text!r}")
    return lo, hi


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--baseline", default=BASELINE, help=f"the commit to compare with (default {BASELINE})")
    parser.add_argument("--runs", type=int, default=24 * 3600 // EVERY_S,
                        help="runs to simulate, one every 10 minutes (default 144: one day)")
    parser.add_argument("--silence", default="{}-{}".format(*SILENCE_HOURS), type=_hours, metavar="FROM-UNTIL",
                        help=f"UTC hours the silence on {SILENCED} covers in the current tree (default "
                             f"%(default)s; 0-2 covers its first failures, to watch a held notice go out)")
    parser.add_argument("--json", type=Path, help="also write both results, every sent notice included, here")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when the target is not met or a failing host was never notified")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(simulate(args.runs, args.silence))))
        return 0
    with tempfile.TemporaryDirectory(prefix="alarm-noise-baseline-") as tmp:
        silence = "{}-{}".format(*args.silence)
        _export_baseline(args.baseline, Path(tmp))
        old = _worker(Path(tmp), args.runs, silence)
    new = _worker(ROOT, args.runs, silence)
    if args.json:
        args.json.write_text(json.dumps({"baseline": old, "current": new}, indent=1))
    ok = report(old, new, args.baseline)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())

"""``patchwatch``: the command line. Every subcommand is a thin call into the engine.

Exit codes: 0 ok; 1 the command worked but reports failures (a run failed, a scan found failed hosts);
2 bad input (a rule was broken, an unknown task, a busy data directory); 3 the daemon's scheduler loop
ended. Listings take ``--json`` and then
print one JSON object per line.

Why one module of this length: the parser and the thin command bodies read top to bottom as the CLI
reference that tests/cli/test_readme.py checks against the README; each body is a few lines over EngineAPI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from console import __version__
from console import cli_options as opt
from console.commands import command_line
from console.datadir import require_data_dir
from console.domain.input_files import parse_toml, read_text
from console.domain.limits import check_instant
from console.domain.terminal import json_safe, safe_text
from console.errors import ConflictError, PatchwatchError, ValidationError
from console.store.permissions import private_umask

if TYPE_CHECKING:
    from console.engine.api import EngineAPI, EventStream
    from console.server.client import EngineClient

EXIT_OK, EXIT_FAILURES, EXIT_BAD_INPUT = 0, 1, 2

DATA_ENV = "PATCHWATCH_DATA"


class CliError(Exception):
    """Bad command-line input that argparse could not catch; exit 2 with this message."""


#: The daemon's exit code when its scheduler loop ended by itself (a bug): non-zero, so systemd restarts it.
EXIT_SCHEDULER_DIED = 3


def data_dir_of(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or os.environ.get(DATA_ENV) or "data")


def paste_command(args: argparse.Namespace, *words: str) -> str:
    """A ``patchwatch`` command line for this data directory that works when pasted into another shell."""
    return command_line(data_dir_of(args), *words)


def _out(line: str = "") -> None:
    # Every line passes here: what a host printed or an operator typed never reaches the terminal raw.
    print(safe_text(line, multiline=True), flush=True)


def _json_line(obj: Any) -> None:
    # JSON escapes C0 controls itself; C1 controls and bidi/format characters are escaped here (inside strings
    # only, where ``\uXXXX`` is valid JSON).
    print(json_safe(json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)), flush=True)


def _table(rows: list[list[str]], headers: list[str]) -> None:
    rows = [[safe_text(cell) for cell in row] for row in rows]  # before measuring: escapes count in widths
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 60)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    _out(fmt.format(*headers).rstrip())
    for row in rows:
        _out(fmt.format(*[c if len(c) <= 60 else c[:59] + "…" for c in row]).rstrip())


# ----------------------------------------------------------------------------------------------- cron

def cmd_cron(args: argparse.Namespace) -> int:
    from console.domain.cron import parse_cron
    from console.domain.timezones import parse_zone

    zone = parse_zone(args.tz)
    expr = parse_cron(args.expression)
    if args.from_:
        try:
            start = datetime.fromisoformat(args.from_)
        except ValueError as exc:
            raise ValidationError.single("--from", f"must be an ISO-8601 date-time, got {args.from_!r}") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=zone)
        check_instant(start, "--from")
    else:
        start = datetime.now(UTC)
    fires = expr.next_fires(zone, start, args.next)
    if args.json:
        _json_line({"expression": expr.text, "dialect": expr.dialect, "description": expr.describe(),
                    "timezone": args.tz, "next": [f.isoformat() for f in fires],
                    "dst_notes": expr.dst_notes(zone, start)})
        return EXIT_OK
    _out(f"{expr.describe()} ({args.tz}, {expr.dialect})")
    for fire in fires:
        _out(fire.isoformat())
    for note in expr.dst_notes(zone, start):
        _out(f"note: {note}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------- engine use

async def _with_engine(args: argparse.Namespace, body: Callable[[EngineAPI], Awaitable[int]], *,
                       read_only: bool = False) -> int:
    """Run ``body`` on the engine of the data directory: attached to the daemon that serves it, or (nothing
    serves it) opened in this process. An in-process engine sends the notices the command caused before it
    exits (bounded); any still queued are counted, with where they will go from."""
    from console.engine import Engine
    from console.server.attach import attach

    if read_only and not args.connect:
        # A command that only reads must never create a directory or answer from an empty one.
        require_data_dir(data_dir_of(args), explicit=bool(args.data_dir or os.environ.get(DATA_ENV)))
    client = await attach(data_dir_of(args), Path(args.connect) if args.connect else None)
    if client is not None:
        try:
            return await body(client)
        finally:
            await client.close()
    engine = Engine(data_dir_of(args), read_only=read_only)
    await engine.open()
    try:
        return await body(engine)
    finally:
        await engine.close()
        if engine.undelivered:
            print(f"patchwatch: {engine.undelivered} notices are still queued in {data_dir_of(args)}; the next "
                  "Patchwatch process that opens it (the daemon, a console, or any command) sends them",
                  file=sys.stderr, flush=True)


def _attached(engine: EngineAPI) -> EngineClient | None:
    """The client, when ``engine`` is a daemon reached over its socket (it goes on when this command exits)."""
    from console.server.client import EngineClient

    return engine if isinstance(engine, EngineClient) else None


def _run_async(coro: Awaitable[int]) -> int:
    return asyncio.run(coro)  # type: ignore[arg-type]


def read_input_file(path: Path, field: str) -> str:
    """The text of an operator's input file; a missing, unreadable, oversized or non-UTF-8 one is bad input
    naming the field (console.domain.input_files)."""
    return read_text(path, field)


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 instance``, ``2 instances``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _task_row(task: Any, next_fire: str) -> list[str]:
    return [task.name, task.id, task.risk.value, task.schedule.describe(), next_fire,
            "enabled" if task.enabled else "disabled"]


def cmd_task_add(args: argparse.Namespace) -> int:
    path = Path(args.file)
    data = parse_toml(read_input_file(path, "--file"), "--file", str(path))

    async def body(engine: EngineAPI) -> int:
        task = await engine.create_task(data)
        fires = await engine.next_fires(task.id, 3)
        if args.json:
            _json_line(task.to_dict())
        else:
            _out(f"created task {task.name} ({task.id})")
            _out(f"  schedule: {task.schedule.describe()}")
            for fire in fires:
                _out(f"  next: {fire.isoformat()}")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_task_list(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        rows = []
        problems = await engine.task_problems()
        for task in await engine.list_tasks():
            fires = await engine.next_fires(task.id, 1)
            expired = task.id not in problems and task.schedule.is_expired(engine.clock.now())
            nxt = fires[0].isoformat() if fires else ("expired" if expired else "-")
            if args.json:
                _json_line({**task.to_dict(), "next_fire": nxt, "description_of_schedule":
                            task.schedule.describe(), "broken": problems.get(task.id)})
            else:
                row = _task_row(task, nxt)
                if task.id in problems:
                    row[-1] = f"broken: {problems[task.id]}"
                rows.append(row)
        if not args.json:
            if rows:
                _table(rows, ["NAME", "ID", "RISK", "SCHEDULE", "NEXT FIRE", "STATE"])
            else:
                _out("no tasks yet: patchwatch task add --file TASK.toml")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_task_show(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        task = await engine.get_task(args.task)
        fires = await engine.next_fires(task.id, 5)
        if args.json:
            _json_line({**task.to_dict(), "next_fires": [f.isoformat() for f in fires]})
            return EXIT_OK
        s, j, t, r, n = task.schedule, task.job, task.targets, task.review, task.notify
        lines = [
            f"{task.name} ({task.id})  risk {task.risk.value}  {'enabled' if task.enabled else 'disabled'}",
            f"  description   {task.description or '-'}",
            f"  schedule      {s.type.value}: {s.describe()}",
            f"  cron          {s.cron or '-'}   on missed fires: {s.on_missed.value}",
            f"  job           {j.name}  credential {j.credential}  params {json.dumps(j.params) if j.params else '-'}",
            f"  targets       instances {', '.join(t.instances) or '-'}; groups {', '.join(t.groups) or '-'}",
            f"  batches       {t.batch.mode.value}"
            + (f" {[list(b) for b in t.batch.batches]}" if t.batch.batches else ""),
            f"  threshold     max failed {_dash(t.error_threshold.max_failed)}, "
            f"max failed % {_dash(t.error_threshold.max_failed_percent)}",
            f"  review        {'required' if r.required else 'off'}"
            + (f", reviewers {', '.join(r.reviewers)}" if r.reviewers else ""),
            f"  notify        {'on' if n.enabled else 'off'}"
            + (f": {', '.join(p.value for p in n.policies)} -> "
               f"{(n.scenario + ' ' + '/'.join(n.roles)) if n.scenario else ''}"
               f"{' ' + ', '.join(n.people) if n.people else ''} by {', '.join(n.modes)}"
               + (f", after {n.after_consecutive} failed runs in a row" if n.after_consecutive > 1 else "")
               if n.enabled else ""),
            f"  created       {task.created_at} by {task.created_by}; updated {task.updated_at} by "
            f"{task.updated_by} (version {task.version})",
        ]
        for line in lines:
            _out(line)
        for fire in fires:
            _out(f"  next fire     {fire.isoformat()}")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_task_state(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        if args.task_command == "delete":
            task = await engine.delete_task(args.task)
            _out(f"deleted task {task.name} ({task.id}); its runs and events stay in the trace")
        else:
            task = await engine.set_enabled(args.task, args.task_command == "enable")
            _out(f"task {task.name} is {'enabled' if task.enabled else 'disabled'}")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def _run_row(run: Any) -> list[str]:
    hosts = f"{run.hosts_failed}/{run.hosts_total}" if run.hosts_total else "-"
    cats = ",".join(f"{k}:{v}" for k, v in sorted(run.categories.items())) or "-"
    return [run.id, run.task_name, run.state.value, run.trigger.value, run.scheduled_for or run.created_at,
            hosts, cats, run.acknowledged_by or "-"]


RUN_HEADERS = ["RUN", "TASK", "STATE", "TRIGGER", "SLOT/CREATED", "FAILED/TOTAL", "CATEGORIES", "ACK"]


def cmd_runs(args: argparse.Namespace) -> int:
    from console.domain.run import RunState

    states = None
    if args.state:
        try:
            states = {RunState(s) for s in args.state.split(",")}
        except ValueError as exc:
            raise ValidationError.single("--state", f"must be among {', '.join(s.value for s in RunState)}") \
                from exc

    async def body(engine: EngineAPI) -> int:
        runs = await engine.list_runs(task=args.task, states=states, limit=args.limit)
        if args.json:
            for run in runs:
                _json_line(run.to_dict())
        elif runs:
            _table([_run_row(r) for r in runs], RUN_HEADERS)
        else:
            _out("no runs")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def _event_line(event: Any) -> str:
    ids = " ".join(x for x in (event.run_id and f"run={event.run_id}", event.host and f"host={event.host}") if x)
    return f"{event.at}  {event.kind:<22} {event.message}" + (f"  [{ids}]" if ids else "")


def cmd_events(args: argparse.Namespace) -> int:
    filters: dict[str, Any] = {"limit": args.limit, "newest_first": False}
    for name in ("since", "until"):
        value = getattr(args, name)
        if value:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValidationError.single(f"--{name}", f"must be an ISO-8601 date-time, got {value!r}") from exc
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            filters[name] = moment.astimezone(UTC).isoformat()
    for key in ("run", "host", "kind", "grep"):
        value = getattr(args, key)
        if value:
            filters[{"run": "run_id", "grep": "text"}.get(key, key)] = value

    async def body(engine: EngineAPI) -> int:
        if args.task:
            filters["task_id"] = (await engine.get_task(args.task)).id
        # Newest N, printed oldest first so the trace reads top to bottom.
        events = await engine.query_events(**{**filters, "newest_first": True})
        for event in reversed(events):
            if args.json:
                _json_line(event.to_dict())
            else:
                _out(_event_line(event))
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_run(args: argparse.Namespace) -> int:
    started: list[str] = []
    on_daemon: list[bool] = []

    async def body(engine: EngineAPI) -> int:
        from console.domain.run import RunState

        stream = await engine.subscribe()
        run = await engine.run_now(args.task)
        started.append(run.id)
        on_daemon.append(_attached(engine) is not None)
        _out(f"run {run.id} of {run.task_name}: {run.state.value}")
        if run.state is RunState.PENDING_REVIEW:
            stream.close()
            _out(f"waiting for review: {paste_command(args, 'approve', run.id)}")
            return EXIT_OK
        return await _follow_run(engine, stream, run.id, args, echo=args.wait)

    try:
        return _run_async(_with_engine(args, body))
    except KeyboardInterrupt:
        if not started:
            raise
        if on_daemon and on_daemon[0]:
            print(f"stopped following (Ctrl+C): run {started[0]} goes on on the daemon; follow it again with "
                  f"{paste_command(args, 'follow', '--run', started[0])}", file=sys.stderr)
            return EXIT_INTERRUPTED
        # The engine closed on the way out, and closing records an active run as interrupted.
        print(f"interrupted (Ctrl+C): run {started[0]} stopped and was recorded as interrupted; hosts it had not "
              f"finished were not scanned. Its trace: {paste_command(args, 'logs', started[0])}", file=sys.stderr)
        return EXIT_INTERRUPTED


async def _follow_run(engine: EngineAPI, stream: EventStream, run_id: str, args: argparse.Namespace, *,
                      echo: bool) -> int:
    """Stay with a run this process executes until it ends, and report it. A run that pauses cannot be
    resumed while this command holds the data directory: say so, and how to go on, instead of waiting."""
    from console.domain.events import EventKind
    from console.domain.run import RunState

    waiter = asyncio.ensure_future(engine.wait_run(run_id))
    try:
        while not waiter.done():
            getter = asyncio.ensure_future(stream.get())
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                continue
            event = getter.result()
            if event.run_id != run_id:
                continue
            if echo:
                _out(_event_line(event))
            if event.kind is EventKind.RUN_PAUSED and _attached(engine):
                reason = event.data.get("reason", "paused")
                _out(f"run {run_id} is paused: {reason}; still waiting: resume it with "
                     f"{paste_command(args, 'resume', run_id)} (or cancel it)")
            elif event.kind is EventKind.RUN_PAUSED:
                reason = event.data.get("reason", "paused")
                _out(f"run {run_id} is paused: {reason}")
                _out("no other process can resume it while this command holds the data directory, so it stops "
                     "here and the run is recorded as interrupted; to be able to resume paused runs, run the "
                     f"task where it can wait: {paste_command(args, 'daemon')} (or the console), then "
                     f"{paste_command(args, 'resume', 'RUN')}")
                return EXIT_FAILURES
        # wait_run returned once the run and its events were committed: print the ones still in the stream.
        while echo and not stream.empty():
            event = stream.get_nowait()
            if event.run_id == run_id:
                _out(_event_line(event))
    finally:
        stream.close()
        if not waiter.done():
            waiter.cancel()
    run = waiter.result()
    _out(f"run {run.id}: {run.state.value}; {run.hosts_ok} ok, {run.hosts_failed} failed of "
         f"{run.hosts_total}" + (f"; {run.error}" if run.error else ""))
    return EXIT_OK if run.state is RunState.SUCCEEDED else EXIT_FAILURES


def cmd_run_action(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        daemon = _attached(engine)
        if args.command == "approve" and daemon is not None:
            run = await engine.approve(args.run, note=args.note)
            _out(f"run {run.id}: {run.state.value}; approved by {run.reviewed_by}: it runs on the daemon "
                 f"(pid {daemon.identity.get('daemon_pid')}); follow it with "
                 f"{paste_command(args, 'follow', '--run', run.id)}")
            return EXIT_OK
        if args.command == "approve":
            # This process executes the approved run: it stays until the run ends (an approved run left to a
            # process that exits would be interrupted at once).
            stream = await engine.subscribe()
            run = await engine.approve(args.run, note=args.note)
            _out(f"run {run.id}: {run.state.value}; approved by {run.reviewed_by}: running it here until it ends")
            return await _follow_run(engine, stream, run.id, args, echo=False)
        action = {"reject": engine.reject, "ack": engine.acknowledge}.get(args.command)
        if action is not None:
            run = await action(args.run, note=args.note)
        else:
            run = await {"cancel": engine.cancel, "pause": engine.pause, "resume": engine.resume}[args.command](
                args.run)
        _out(f"run {run.id}: {run.state.value}" + (f", acknowledged by {run.acknowledged_by}"
                                                     if args.command == "ack" else ""))
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_rescan(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        stream = await engine.subscribe()
        run = await engine.rescan_failed(args.run)
        _out(f"run {run.id} re-scans {len(run.only_hosts)} failed hosts of run {args.run} ({run.task_name}): "
             f"{run.state.value}")
        if _attached(engine) is not None and not args.wait:
            stream.close()
            return EXIT_OK
        return await _follow_run(engine, stream, run.id, args, echo=args.wait)

    return _run_async(_with_engine(args, body))


def cmd_follow(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        from console.domain.events import EventKind

        if _attached(engine) is None:
            raise ConflictError(f"no daemon serves {data_dir_of(args)}: nothing happens there to follow; start "
                                f"{paste_command(args, 'daemon')} (or the console), or pass --connect SOCKET")
        stream = await engine.subscribe(after_seq=args.after)
        try:
            while True:
                event = await stream.get()
                if args.run and event.run_id != args.run and event.kind not in _STREAM_NOTICES:
                    continue
                if args.json:
                    _json_line(event.to_dict())
                else:
                    _out(_event_line(event) if event.kind is not EventKind.STREAM_DISCONNECTED
                         else f"{event.at}  {event.kind:<22} {event.message}")
        finally:
            stream.close()

    try:
        return _run_async(_with_engine(args, body, read_only=True))
    except KeyboardInterrupt:
        return EXIT_OK


#: Said to a follower whatever it filters on: the stream itself broke, lagged or came back.
_STREAM_NOTICES = frozenset({"stream.lagged", "stream.disconnected", "stream.reconnected"})


# ----------------------------------------------------------------------------------------------- alarms, silences

ALARM_HEADERS = ["ALARM", "TASK", "STATE", "FAILING", "CATEGORIES", "OPENED", "ACK BY", "SILENCED"]


def _silenced(alarm: Any, silences: list[Any], now: datetime) -> list[str]:
    """The failing hosts of ``alarm`` an active silence covers now (their notices are withheld)."""
    return [h.host for h in alarm.failing_hosts()
            if any(s.active(now) and s.matches(alarm.task_id, h.host, h.category) for s in silences)]


def _alarm_row(alarm: Any, silenced: list[str]) -> list[str]:
    cats = ",".join(f"{k}:{v}" for k, v in sorted(alarm.categories().items()))
    if alarm.problem:
        cats = ",".join(c for c in (cats, f"{alarm.problem.value} run") if c)
    return [alarm.id, alarm.task_name, alarm.state.value, str(len(alarm.failing_hosts())), cats or "-",
            alarm.opened_at[:19], alarm.acknowledged_by or "-", str(len(silenced))]


def cmd_alarms(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        alarms = await engine.list_alarms(include_resolved=args.all, limit=args.limit)
        silences = await engine.list_silences()
        now = engine.clock.now()
        if args.json:
            for alarm in alarms:
                _json_line({**alarm.to_dict(), "silenced_hosts": _silenced(alarm, silences, now)})
        elif alarms:
            _table([_alarm_row(a, _silenced(a, silences, now)) for a in alarms], ALARM_HEADERS)
        else:
            _out("no open alarms" if not args.all else "no alarms")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def _when(value: str | None) -> str:
    return value or "-"


def cmd_alarm_show(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        alarm = await engine.get_alarm(args.alarm)
        silences = await engine.list_silences()
        silenced = _silenced(alarm, silences, engine.clock.now())
        if args.json:
            _json_line({**alarm.to_dict(), "silenced_hosts": silenced})
            return EXIT_OK
        # Each value goes through safe_text on its own: _out keeps newlines, and a host's reason or an
        # operator's note must never start a line of its own.
        s = safe_text
        lines = [f"alarm {alarm.id} of task {s(alarm.task_name)} ({alarm.task_id}): {alarm.state.value}, "
                 f"{alarm.summary()}",
                 f"  opened        {alarm.opened_at}" + (f" by run {alarm.opened_by_run}" if alarm.opened_by_run
                                                         else ""),
                 f"  latest run    {_when(alarm.latest_run)}"]
        if alarm.problem:
            mark = "notified" if alarm.problem_notified else "held by a silence" if alarm.problem_held else \
                "not notified"
            lines.append(f"  run problem   {alarm.problem.value}: {s(alarm.problem_detail) or '-'}"
                         + (f" (run {alarm.problem_run})" if alarm.problem_run else "") + f"; {mark}")
        else:
            lines.append("  run problem   -")
        if alarm.acknowledged_by:
            lines.append(f"  acknowledged  by {s(alarm.acknowledged_by)} at {alarm.acknowledged_at}"
                         + (f": {s(alarm.ack_note)}" if alarm.ack_note else "")
                         + (f"; opens again at {alarm.ack_expires_at} unless resolved" if alarm.ack_expires_at
                            else ""))
        else:
            lines.append("  acknowledged  no")
        if alarm.resolved_at:
            lines.append(f"  resolved      {alarm.resolved_at} ({alarm.resolved_reason})")
        lines.append(f"  escalation    step {alarm.escalation_step}, pass {alarm.escalation_pass}; next escalation "
                     f"{_when(alarm.next_escalation_at)}; next reminder {_when(alarm.next_repeat_at)}"
                     + (f"; re-triggered {alarm.retriggers} times" if alarm.retriggers else ""))
        # Announced (a notice was due) and who received one differ: a task may notify nobody.
        lines.append(f"  notified      {s(', '.join(alarm.notified_people)) or 'nobody'}"
                     + (f"; announced first {alarm.first_notified_at}, last {alarm.last_notified_at}"
                        if alarm.first_notified_at else "; not announced"))
        for line in lines:
            _out(line)
        if not alarm.hosts:
            return EXIT_OK
        _out()
        hosts = sorted(alarm.hosts.values(), key=lambda h: (not h.failing, h.host))
        _table([[h.host, h.category, h.first_failed_at, str(h.consecutive), _when(h.recovered_at),
                 "notified" if h.notified else "held" if h.held else "-",
                 "yes" if h.host in silenced else "-"] for h in hosts],
               ["HOST", "CATEGORY", "FIRST FAILED", "IN A ROW", "RECOVERED", "NOTICE", "SILENCED"])
        failing = [h for h in hosts if h.failing and h.reason]
        if failing:
            _out()
        for h in failing:
            _out(f"{s(h.host)}: {s(h.category)}: {s(h.reason)} (run {h.run_id})")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_alarm_ack(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        alarm = await engine.acknowledge_alarm(args.alarm, note=args.note)
        _out(f"alarm {alarm.id} of {safe_text(alarm.task_name)}: {alarm.state.value} by "
             f"{safe_text(alarm.acknowledged_by)}; escalation and reminders stop"
             + (f" until {alarm.ack_expires_at}" if alarm.ack_expires_at else ""))
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_alarm_rescan(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        stream = await engine.subscribe()
        run = await engine.rescan_alarm(args.alarm)
        _out(f"run {run.id} re-scans the {_count(len(run.only_hosts), 'failing host')} of alarm "
             f"{safe_text(args.alarm)} ({safe_text(run.task_name)}): {run.state.value}")
        if _attached(engine) is not None and not args.wait:
            stream.close()
            _out(f"it runs on the daemon; follow it with {paste_command(args, 'follow', '--run', run.id)}")
            return EXIT_OK
        # In this process the run lives only as long as the command: stay with it to its end.
        return await _follow_run(engine, stream, run.id, args, echo=args.wait)

    return _run_async(_with_engine(args, body))


#: The engine's field names for a silence, as the options an operator typed.
_SILENCE_OPTIONS = {"match": "--task/--host/--category", "host": "--host", "category": "--category",
                    "start": "--from", "reason": "--reason", "task": "--task"}


def _silence_state(silence: Any, now: datetime) -> str:
    if silence.expired_at and datetime.fromisoformat(silence.expired_at) <= now:
        return f"expired by {silence.expired_by}"
    if datetime.fromisoformat(silence.effective_end) <= now:
        return "ended"
    return "active" if silence.active(now) else "pending"


def _silence_errors(exc: ValidationError, end_option: str) -> ValidationError:
    """The same errors, named by the options an operator typed (``end`` is ``--for`` or ``--until``)."""
    from console.errors import FieldError

    names = {**_SILENCE_OPTIONS, "end": end_option}
    return ValidationError([FieldError(names.get(e.field, e.field), e.rule) for e in exc.errors])


def cmd_silence_add(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from console.domain.alarm import check_silence
    from console.domain.durations import parse_duration
    from console.domain.taxonomy import Category
    from console.errors import NotFoundError

    # Every option is read, and the silence's rules checked, before the engine is reached: a bad one changes
    # nothing (not even a new data directory in this process), and all of them are named at once.
    start = _parse_instant(args.from_, "--from") if args.from_ else None
    until = _parse_instant(args.until, "--until") if args.until else None
    span = parse_duration(args.for_, "--for") if args.for_ else None
    end_option = "--until" if until else "--for"

    def ends_at(now: datetime) -> datetime:
        return until or (start or now) + timedelta(seconds=span or 0)

    now = datetime.now(UTC)
    try:
        check_silence(host=args.host, category=args.category, task_id=args.task, starts_at=start or now,
                      ends_at=ends_at(now), reason=args.reason, categories=tuple(c.value for c in Category))
    except ValidationError as exc:
        raise _silence_errors(exc, end_option) from exc

    async def body(engine: EngineAPI) -> int:
        try:
            silence = await engine.add_silence(reason=args.reason, ends_at=ends_at(engine.clock.now()),
                                               starts_at=start, task=args.task, host=args.host,
                                               category=args.category)
        except ValidationError as exc:
            raise _silence_errors(exc, end_option) from exc
        except NotFoundError as exc:
            if not args.task:
                raise
            raise ValidationError.single("--task", f"must be the id or name of a task: {exc}") from exc
        now = engine.clock.now()
        covered = [a for a in await engine.list_alarms()
                   if any(silence.matches(a.task_id, h.host, h.category) for h in a.failing_hosts())]
        _out(f"silence {silence.id}: {safe_text(silence.describe())} from {silence.starts_at} until "
             f"{silence.ends_at} ({_silence_state(silence, now)}); reason: {safe_text(silence.reason)}")
        _out(f"failures it matches are recorded and shown but not notified; it covers failing hosts of "
             f"{_count(len(covered), 'open alarm')} now. End it early with "
             f"{paste_command(args, 'silence', 'expire', silence.id)}")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_silence_list(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        silences = await engine.list_silences(include_ended=args.all)
        now = engine.clock.now()
        if args.json:
            for silence in silences:
                _json_line({**silence.to_dict(), "state": _silence_state(silence, now)})
        elif silences:
            _table([[s.id, s.describe(), s.starts_at, s.effective_end, _silence_state(s, now), s.created_by,
                     s.reason] for s in silences], ["SILENCE", "MATCHES", "FROM", "UNTIL", "STATE", "BY", "REASON"])
        else:
            _out("no silences" if args.all else "no active or pending silences")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_silence_expire(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        silence = await engine.expire_silence(args.silence)
        _out(f"silence {silence.id} ({safe_text(silence.describe())}) expired by {safe_text(silence.expired_by)} "
             f"at {silence.expired_at}; failures it held back are notified now if their alarm is still open")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


# ----------------------------------------------------------------------------------------------- inventory

def cmd_inventory_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    text = read_input_file(path, "FILE")

    async def body(engine: EngineAPI) -> int:
        targets = await engine.import_inventory(text, source=path.name, fmt=args.format)
        groups = sorted({g for t in targets for g in t.groups})
        _out(f"imported {_count(len(targets), 'instance')} from {path} (groups: {', '.join(groups) or '-'})")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_inventory_list(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        targets = await engine.list_instances(group=args.group)
        if args.json:
            for t in targets:
                _json_line(t.to_dict())
        elif targets:
            _table([[t.name, t.address, str(t.port), t.user or "-", t.credential or "-", ",".join(t.groups)]
                    for t in targets], ["NAME", "ADDRESS", "PORT", "USER", "CREDENTIAL", "GROUPS"])
        else:
            _out("no instances" + (f" in group {args.group}" if args.group else "")
                 + ": patchwatch inventory import FILE")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_inventory_remove(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        removed = await engine.remove_instances(args.names)
        _out(f"removed {_count(len(removed), 'instance')}")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_credential_add(args: argparse.Namespace) -> int:
    from console.scan.credentials import CredentialProfile

    profile = CredentialProfile(name=args.name, user=args.user,
                                key_files=tuple(str(Path(k).expanduser().resolve()) for k in args.key),
                                use_agent=args.agent,
                                known_hosts=tuple(str(Path(k).expanduser().resolve()) for k in args.known_hosts),
                                sudo="sudo" if args.sudo else "none")

    async def body(engine: EngineAPI) -> int:
        await engine.put_credential(profile)
        _out(f"credential profile {profile.name} saved (user {profile.user or 'from inventory'}, "
             f"{len(profile.key_files)} key files{', agent' if profile.use_agent else ''}, sudo {profile.sudo})")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_credential_list(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        profiles = await engine.list_credentials()
        for p in profiles:
            if args.json:
                _json_line(p.to_dict())
            else:
                _out(f"{p.name}: user {p.user or '-'}, keys {', '.join(p.key_files) or '-'}, agent "
                     f"{'yes' if p.use_agent else 'no'}, known_hosts {', '.join(p.known_hosts) or '-'}, sudo {p.sudo}")
        if not profiles and not args.json:
            _out("no profiles: 'default' uses your ssh-agent or ~/.ssh keys and ~/.ssh/known_hosts")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


HOSTKEY_VERIFY = "on the host's own console: ssh-keygen -lf /etc/ssh/ssh_host_*.pub"


def _ask(question: str) -> bool:
    """A yes/no question on the terminal; anything but y/yes (or end of input) is no."""
    sys.stdout.write(question)
    sys.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_hostkey_accept(args: argparse.Namespace) -> int:
    # Trust is given only to a fingerprint the operator saw (and could verify out of band) first:
    # --fingerprint for scripts that verified it elsewhere, --yes to take what is presented, or a question.
    async def body(engine: EngineAPI) -> int:
        expected = args.fingerprint
        if expected is None and not args.yes:
            info = await engine.fetch_host_key(args.host, port=args.port)
            _out(f"{args.host} ({info.address}:{info.port}) presents {info.algorithm} key {info.fingerprint}")
            _out(f"compare it with the fingerprint {HOSTKEY_VERIFY}")
            if not sys.stdin.isatty():
                raise ValidationError.single(
                    "--yes or --fingerprint", "standard input is not a terminal, so nobody can be asked: "
                    f"give --fingerprint {info.fingerprint} once verified (or --yes); nothing was trusted")
            if not _ask("trust this key for scans from now on? [y/N] "):
                _out("not trusted; nothing changed")
                return EXIT_FAILURES
            expected = info.fingerprint  # a key that changes between the look and the trust is refused
        info = await engine.accept_host_key(args.host, port=args.port, fingerprint=expected)
        _out(f"accepted {info.algorithm} key {info.fingerprint} of {info.address}:{info.port}")
        if args.yes and args.fingerprint is None:
            _out(f"accepted without checking: compare the fingerprint {HOSTKEY_VERIFY}")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


# ----------------------------------------------------------------------------------------------- scans

# The reason is not a column: it is long, and a column would cut it. Failed hosts get it whole, with the
# hint, in lines of their own below the table (which then fits an 80-column terminal).
# Missing and security updates, reboot pending; the duration is in --json.
HOST_HEADERS = ["HOST", "STATUS", "OS", "CATEGORY", "MISSING", "SEC", "REBOOT"]
OS_WIDTH = 18


def _host_row(r: Any) -> list[str]:
    reboot = {True: "yes", False: "no", None: "-"}[r.reboot_required]
    os_name = r.os or "-"
    return [r.host, r.status.value, os_name if len(os_name) <= OS_WIDTH else os_name[:OS_WIDTH - 1] + "…",
            r.category or "-", str(r.missing_count) if r.status.value == "ok" else "-",
            "-" if r.security_count is None else str(r.security_count), reboot]


def _host_report(results: list[Any]) -> None:
    """The hosts table, then each host that did not succeed: ``HOST: CATEGORY: reason`` and its hint."""
    _table([_host_row(r) for r in results], HOST_HEADERS)
    failed = [r for r in results if r.status.value != "ok"]
    if failed:
        _out()
    for r in failed:
        _out(f"{r.host}: {r.category or r.status.value}: {r.reason or '-'}")
        if r.hint:
            _out(f"  hint: {r.hint}")


def _host_json(r: Any) -> dict[str, Any]:
    return {"host": r.host, "status": r.status.value, "os": r.os, "category": r.category, "reason": r.reason,
            "hint": r.hint, "packages": r.packages, "missing": r.missing_count, "security": r.security_count,
            "reboot": r.reboot_required, "duration": r.duration_s}


def cmd_scan(args: argparse.Namespace) -> int:
    from console.domain.inventory import parse_inventory
    from console.scan.adhoc import adhoc_scan
    from console.scan.credentials import CredentialProfile, default_profile, load_credential
    from console.scan.executor import ScanOptions

    path = Path(args.inventory)
    targets = parse_inventory(read_input_file(path, "--inventory"), source=path.name)
    base = default_profile()
    profile = CredentialProfile(
        name="adhoc", user=args.user,
        key_files=(str(Path(args.identity).expanduser()),) if args.identity else base.key_files,
        use_agent=base.use_agent and not args.identity,
        known_hosts=(str(Path(args.known_hosts).expanduser()),) if args.known_hosts else base.known_hosts,
        sudo="sudo" if args.sudo else "none")
    profile.validate()
    data_dir = data_dir_of(args)
    cred = load_credential(profile, data_dir if data_dir.is_dir() else None)
    options = ScanOptions(connect_timeout=args.timeout, command_timeout=args.command_timeout,
                          concurrency=args.concurrency, refresh_metadata=args.refresh)

    def on_result(result: Any) -> None:
        if args.json:
            _json_line(_host_json(result))

    results = asyncio.run(adhoc_scan(targets, cred, options, on_result))
    failed = [r for r in results if r.status.value != "ok"]
    if not args.json:
        _host_report(sorted(results, key=lambda r: (r.status.value == "ok", r.host)))
        _out(f"{len(results)} hosts: {len(results) - len(failed)} ok, {len(failed)} failed")
    return EXIT_FAILURES if failed else EXIT_OK


def cmd_hosts(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        run = await engine.get_run(args.run)
        results = await engine.host_results(run.id)
        if args.failed:
            results = [r for r in results if r.status.value == "failed"]
        if args.json:
            for r in results:
                _json_line(r.to_dict())
        elif results:
            _host_report(results)
        else:
            _out(f"run {run.id} has no host results" + (" that failed" if args.failed else ""))
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_logs(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        run = await engine.get_run(args.run)
        events = await engine.query_events(run_id=run.id, newest_first=False, limit=None)
        if args.host is None:
            for event in events:
                _out(_event_line(event))
            return EXIT_OK
        for event in (e for e in events if e.host in (None, args.host)):
            _out(_event_line(event))
        _out(f"---- transcript of {args.host} in run {run.id}")
        printed = False
        offset = 0
        while True:  # page by page, so a large transcript is never held whole
            page = await engine.transcript_page(run.id, args.host, offset=offset)
            sys.stdout.write(safe_text(page.text, multiline=True))  # a host's output, never raw
            printed = printed or bool(page.text)
            if page.at_end or page.next_offset <= offset:
                break
            offset = page.next_offset
        if not printed:
            _out("(no transcript: the host was not reached or the run did not start it)")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_sim_fleet(args: argparse.Namespace) -> int:
    from console.sim.fleet import run_fleet_forever

    if args.n < 1:
        raise ValidationError.single("-n", f"must be at least 1, got {args.n}")
    if not 0 <= args.faults <= 1:
        raise ValidationError.single("--faults", f"must be a fraction from 0 to 1, got {args.faults}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_fleet_forever(args.n, args.faults, args.seed, Path(args.out)))
    return EXIT_OK


# ----------------------------------------------------------------------------------------------- people, notifications

def cmd_people_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    text = read_input_file(path, "FILE")

    async def body(engine: EngineAPI) -> int:
        directory = await engine.import_people(text, source=path.name)
        _out(f"imported from {path}: now {_count(len(directory.people), 'person', 'people')}, "
             f"{_count(len(directory.scenarios), 'shift scenario')}")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


def cmd_oncall(args: argparse.Namespace) -> int:
    at = _parse_instant(args.at, "--at") if args.at else None

    async def body(engine: EngineAPI) -> int:
        rows = await engine.oncall(at)
        moment = (at or engine.clock.now()).isoformat()
        if args.json:
            for scenario, role, people in rows:
                _json_line({"at": moment, "scenario": scenario, "role": role, "people": people})
        elif rows:
            _out(f"on duty at {moment}")
            _table([[scenario, role, ", ".join(people) or "NOBODY"] for scenario, role, people in rows],
                   ["SCENARIO", "ROLE", "ON DUTY"])
        else:
            _out("no shift scenarios: patchwatch people import FILE.toml")
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def _parse_instant(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError.single(field, f"must be an ISO-8601 date-time, got {value!r}") from exc
    return check_instant(moment if moment.tzinfo else moment.replace(tzinfo=UTC), field)


def cmd_notify_test(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        record = await engine.notify_test(args.mode, args.to)
        attempt = record.attempts[-1] if record.attempts else {}
        if record.status.value == "sent":
            _out(f"sent to {record.person} by {record.mode} ({record.target}) in {attempt.get('seconds', 0):.2f} s")
            return EXIT_OK
        _out(f"FAILED to reach {record.person} by {record.mode} ({record.target}): {record.error}")
        return EXIT_FAILURES

    return _run_async(_with_engine(args, body))


def cmd_notifications(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        records = await engine.list_notifications(status=args.status, run_id=args.run, limit=args.limit)
        if args.json:
            for r in records:
                _json_line(r.to_dict())
        elif records:
            _table([[r.id, r.created_at[:19], r.kind, r.run_id or "-", r.person, r.mode, r.target, r.status.value,
                     str(len(r.attempts)), "-" if r.latency_s is None else f"{r.latency_s:.2f}", r.error or ""]
                    for r in records],
                   ["ID", "CREATED", "KIND", "RUN", "PERSON", "MODE", "TARGET", "STATUS", "TRIES", "LATENCY S",
                    "ERROR"])
        else:
            _out("no notifications" + (f" with status {args.status}" if args.status else ""))
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def cmd_demo(args: argparse.Namespace) -> int:
    from console import demo

    base = Path(args.data_dir or os.environ.get(DATA_ENV) or "data")
    return demo.main(demo.demo_dir(base), reset=args.reset, headless=args.headless, seconds=args.for_,
                     as_json=args.json)


def cmd_console(args: argparse.Namespace) -> int:
    # Imported here: the console is the only part that needs textual, and the core never imports it.
    from console.tui.app import run_console

    return _run_async(run_console(data_dir_of(args), connect=Path(args.connect) if args.connect else None))


def cmd_daemon(args: argparse.Namespace) -> int:
    async def main() -> int:
        from console.engine import Engine
        from console.server.attach import socket_path
        from console.server.server import ApiServer

        engine = Engine(data_dir_of(args), misfire_grace=args.grace)
        await engine.open()
        try:
            server = await ApiServer(engine, socket_path(engine.data_dir), mode=int(args.socket_mode, 8),
                                     group=args.socket_group).start()
        except BaseException:
            await engine.close()
            raise
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        queue = await engine.subscribe()
        scheduling = engine.create_scheduler().start_background()
        _out(f"patchwatch {__version__} daemon: data directory {engine.data_dir.resolve()}, pid {os.getpid()}, "
             f"serving {server.socket_path}")

        async def printer() -> None:
            while True:
                _out(_event_line(await queue.get()))

        printing = asyncio.create_task(printer())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, scheduling], return_when=asyncio.FIRST_COMPLETED)
        if scheduling.done():
            # The loop must never end by itself; if it does, exit non-zero so systemd (Restart=on-failure)
            # starts a fresh daemon rather than leaving a process that fires nothing.
            error = scheduling.exception() if not scheduling.cancelled() else None
            print(f"patchwatch: the scheduler loop ended: {error!r}", file=sys.stderr, flush=True)
            stopping.cancel()
            await engine.close()
            printing.cancel()
            return EXIT_SCHEDULER_DIED
        _out("stopping: finishing the store writes")
        await server.stop()
        await engine.close()
        printing.cancel()
        while not queue.empty():
            _out(_event_line(queue.get_nowait()))
        _out("stopped")
        return EXIT_OK

    return _run_async(main())


# ----------------------------------------------------------------------------------------------- report

REPORT_FORMATS = ("table", "json", "csv", "html")


def _report_instant(value: str, option: str, *, end: bool) -> datetime:
    """A ``--from``/``--to`` value: a date (a whole UTC day; ``--to`` includes it) or an ISO date-time."""
    from datetime import date, timedelta

    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError.single(option, f"must be a date (YYYY-MM-DD) or an ISO-8601 date-time, "
                                     f"got {value!r}") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def report_period(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    """``[since, until)`` from ``--since Nd`` or ``--from``/``--to`` (default: the last 30 days)."""
    import re
    from datetime import timedelta

    if args.since and (args.from_ or args.to):
        raise ValidationError.single("--since", "give either --since or --from/--to, not both")
    if args.from_ or args.to:
        until = _report_instant(args.to, "--to", end=True) if args.to else now
        since = _report_instant(args.from_, "--from", end=False) if args.from_ else until - timedelta(days=30)
        if since >= until:
            raise ValidationError.single("--from", f"must be before --to ({since.isoformat()} is not before "
                                         f"{until.isoformat()})")
        return since, until
    match = re.fullmatch(r"(\d+)([dwh])", args.since or "30d")
    if not match or int(match.group(1)) < 1:
        raise ValidationError.single("--since", f"must be a positive duration such as 30d, 12w or 48h, "
                                     f"got {args.since!r}")
    amount, unit = int(match.group(1)), match.group(2)
    span = {"d": timedelta(days=amount), "w": timedelta(weeks=amount), "h": timedelta(hours=amount)}[unit]
    return now - span, now


def report_command(args: argparse.Namespace, since: datetime, until: datetime) -> str:
    """The exact command that regenerates this report (an absolute period, so it gives the same figures)."""
    import shlex

    parts = ["patchwatch"]
    if args.data_dir:
        parts += ["--data-dir", args.data_dir]
    parts += ["report", "coverage", "--from", since.isoformat(), "--to", until.isoformat()]
    for option in ("group", "task", "state"):
        if getattr(args, option):
            parts += [f"--{option}", getattr(args, option)]
    parts += ["--format", args.format]
    if args.out:
        parts += ["--out", args.out]
    return shlex.join(parts)


def cmd_report_coverage(args: argparse.Namespace) -> int:
    from console.domain.coverage import HostState
    from console.domain.coverage_render import csv_text, html_report, json_objects, text_report

    states: set[str] | None = None
    if args.state:
        states = set(args.state.split(","))
        unknown = states - {s.value for s in HostState}
        if unknown:
            raise ValidationError.single("--state", f"must be among {', '.join(s.value for s in HostState)} "
                                         f"(comma-separated), got {', '.join(sorted(unknown))}")
    since, until = report_period(args, datetime.now(UTC))

    async def body(engine: EngineAPI) -> int:
        report = await engine.coverage_report(since=since, until=until, group=args.group, task=args.task)
        hosts = [h for h in report.hosts if states is None or h.state in states]
        if args.format == "json":
            text = "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n"
                           for o in json_objects(report, hosts))
        elif args.format == "csv":
            text = csv_text(hosts)
        elif args.format == "html":
            text = html_report(report, hosts, report_command(args, since, until))
        else:
            text = "\n".join(text_report(report, hosts)) + "\n"
        if args.out:
            try:
                Path(args.out).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ValidationError.single("--out", f"cannot write {args.out}: {exc.strerror or exc}") from exc
            print(f"wrote {args.out}: {len(hosts)} hosts, coverage {report.fleet.coverage * 100:.1f}%",
                  file=sys.stderr)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        return EXIT_OK

    return _run_async(_with_engine(args, body, read_only=True))


def add_report_parser(sub: Any) -> None:
    """``patchwatch report coverage``: its own parser block (the CLI reference in the README lists it)."""
    rep = sub.add_parser("report", help="coverage and compliance reports (what an auditor asks for)")
    rsub = rep.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    p = rsub.add_parser("coverage", help="per host: last attempt and success, state, missing security updates; "
                        "fleet, group and task coverage, failure episodes, time to acknowledge/resolve, trend")
    p.add_argument("--since", metavar="DURATION", help="the period ending now: 30d, 12w or 48h (default 30d)")
    p.add_argument("--from", dest="from_", metavar="DATE", help="period start: YYYY-MM-DD (UTC) or ISO date-time")
    p.add_argument("--to", metavar="DATE", help="period end: YYYY-MM-DD (that day included) or ISO date-time "
                   "(default now)")
    p.add_argument("--group", metavar="G", help="only the hosts of this inventory group")
    p.add_argument("--task", metavar="ID|NAME", help="only the hosts this task targets, and its results")
    p.add_argument("--state", metavar="S[,S]", help="list only hosts in these states: compliant, "
                   "missing_security, scan_failed, stale, never_scanned, untargeted")
    p.add_argument("--format", choices=REPORT_FORMATS, default="table",
                   help="table (default), json (one object per line: the fleet first, then one per host), "
                   "csv (one row per host), html (one printable file with charts)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=cmd_report_coverage)


# ----------------------------------------------------------------------------------------------- parser

class _Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command (Python 3.11's argparse has none)."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2))
            close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.6)
            if close:
                message = f"{message}; did you mean '{close[0]}'?"
        super().error(message)


def _command(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose own ``--help`` opens with what it does (not only its parent's listing)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="patchwatch",
        description="Scheduled OS patch scans that never fail silently. Without a command, opens the console.",
    )
    parser.add_argument("--version", action="version", version=f"patchwatch {__version__}")
    parser.add_argument("--data-dir", metavar="DIR",
                        help=f"data directory (default: ${DATA_ENV}, else ./data)")
    parser.add_argument("--connect", metavar="SOCKET",
                        help="attach to the daemon on this socket (e.g. one forwarded with ssh -L) instead of "
                             "DATA_DIR/patchwatch.sock")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("cron", help="explain a cron expression and list its next fire times")
    p.add_argument("expression", help="Quartz (6-7 fields, seconds first) or crontab (5 fields), quoted")
    p.add_argument("--tz", default="UTC", help="time zone: IANA name or GMT+08:00 (default UTC)")
    p.add_argument("--next", type=opt.number(1, 1000, integer=True), default=5, metavar="N",
                   help="how many fire times (default 5)")
    p.add_argument("--from", dest="from_", metavar="ISO-DATETIME", help="list fires after this instant "
                   "(default now; without an offset it is read in --tz)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_cron)

    task = sub.add_parser("task", help="create, list, show, enable, disable and delete scheduled tasks")
    tsub = task.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    p = tsub.add_parser("add", help="create a task from a TOML file (see data/examples/)")
    p.add_argument("--file", required=True, metavar="TASK.toml")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_task_add)
    p = tsub.add_parser("list", help="all tasks with their schedule and next fire")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_task_list)
    p = tsub.add_parser("show", help="every field of one task and its next five fires")
    p.add_argument("task", metavar="ID|NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_task_show)
    for action, text in (("enable", "resume firing (from now on; past slots are not made up)"),
                         ("disable", "stop firing"), ("delete", "delete (runs and events stay in the trace)")):
        p = tsub.add_parser(action, help=text)
        p.add_argument("task", metavar="ID|NAME")
        p.set_defaults(func=cmd_task_state)

    p = sub.add_parser("run", help="run a task now, in this process, and report its result (exit 1 if it failed)")
    p.add_argument("task", metavar="ID|NAME")
    p.add_argument("--wait", action="store_true", help="print every event of the run as it happens")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list runs, newest first")
    p.add_argument("--task", metavar="ID|NAME")
    p.add_argument("--state", metavar="STATE[,STATE]", help="e.g. failed,missed,interrupted")
    p.add_argument("--limit", type=opt.LIMIT, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    for action, text in (("approve", "approve a run waiting for review"),
                         ("reject", "reject a run waiting for review"),
                         ("ack", "acknowledge a failed, missed or interrupted run (recorded with who and when)")):
        p = sub.add_parser(action, help=text)
        p.add_argument("run", metavar="RUN")
        p.add_argument("--note", help="a note recorded with the decision")
        p.set_defaults(func=cmd_run_action)
    for action, text in (("cancel", "cancel a pending, running or paused run"),
                         ("pause", "pause a running run"), ("resume", "resume a paused run")):
        p = sub.add_parser(action, help=text)
        p.add_argument("run", metavar="RUN")
        p.set_defaults(func=cmd_run_action)
    p = sub.add_parser("rescan", help="re-scan the hosts that failed in a run (a new run of the same task)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--wait", action="store_true", help="print the new run's events as they happen")
    p.set_defaults(func=cmd_rescan)

    alarms = _command(sub, "alarms", "open alarms: one per task whose runs fail, from the first failure "
                            "until every host succeeded again; without ACTION, list them")
    alarms.add_argument("--all", action="store_true", help="resolved alarms too")
    alarms.add_argument("--limit", type=opt.LIMIT, default=200, help="the newest N (default 200)")
    alarms.add_argument("--json", action="store_true", help="one JSON object per alarm")
    alarms.set_defaults(func=cmd_alarms)
    asub = alarms.add_subparsers(dest="alarms_command", metavar="ACTION")
    p = _command(asub, "show", "one alarm: every host with its category, first failure, failures in a row "
                        "and recovery; the run-level problem, acknowledgement, escalation and who was notified")
    p.add_argument("alarm", metavar="ALARM", help="its id, or the last 6 or more characters of it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_alarm_show)
    p = _command(asub, "ack", "take an alarm: escalation and reminders stop (recorded with who and when); "
                        "it still resolves by itself when its hosts succeed again")
    p.add_argument("alarm", metavar="ALARM")
    p.add_argument("--note", help="a note recorded with the acknowledgement")
    p.set_defaults(func=cmd_alarm_ack)
    p = _command(asub, "rescan", "re-scan only the hosts of an alarm that are still failing (a new run of "
                        "its task)")
    p.add_argument("alarm", metavar="ALARM")
    p.add_argument("--wait", action="store_true", help="print the new run's events as they happen")
    p.set_defaults(func=cmd_alarm_rescan)

    sil = _command(sub, "silence", "mute notices of matching failures for a while (maintenance): they are "
                         "still recorded and shown, and notified when the silence ends if still failing")
    ssub = sil.add_subparsers(dest="silence_command", metavar="ACTION", required=True)
    p = _command(ssub, "add", "mute the notices of failures that match every matcher given (--task, --host, "
                 "--category: at least one) from --from (default now) for --for or until --until; the failures "
                 "are still recorded and shown; --reason says why (e.g. planned maintenance)")
    p.add_argument("--task", metavar="ID|NAME", help="only failures of this task")
    p.add_argument("--host", metavar="GLOB", help="only these hosts: a name or a shell glob such as 'web-*'")
    p.add_argument("--category", metavar="CAT", help="only this failure category: network, timeout, permission, "
                   "host_key, tool or service")
    end = p.add_mutually_exclusive_group(required=True)
    end.add_argument("--for", dest="for_", metavar="DURATION", help="how long from its start: 90m, 2h, 3d, 1h30m")
    end.add_argument("--until", metavar="ISO-DATETIME", help="when it ends (UTC without an offset)")
    p.add_argument("--from", dest="from_", metavar="ISO-DATETIME", help="when it starts (default now; UTC without "
                   "an offset)")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why these failures need not page anyone")
    p.set_defaults(func=cmd_silence_add)
    p = _command(ssub, "list", "active and pending silences (with --all, ended and expired ones too)")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_silence_list)
    p = _command(ssub, "expire", "end a silence now; failures it held back are notified if still failing")
    p.add_argument("silence", metavar="SILENCE", help="its id, or the last 6 or more characters of it")
    p.set_defaults(func=cmd_silence_expire)

    p = sub.add_parser("follow", help="the live event stream (of a daemon, or of this process's engine)")
    p.add_argument("--after", type=int, metavar="SEQ", help="first replay the stored events after this sequence "
                   "number (resume where a previous follow stopped)")
    p.add_argument("--run", metavar="RUN", help="only this run's events")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.set_defaults(func=cmd_follow)

    p = sub.add_parser("events", help="the trace: every state change, oldest first")
    p.add_argument("--since", metavar="ISO-DATETIME")
    p.add_argument("--until", metavar="ISO-DATETIME")
    p.add_argument("--task", metavar="ID|NAME")
    p.add_argument("--run", metavar="RUN")
    p.add_argument("--host")
    p.add_argument("--kind", help="a kind or a prefix such as run. or host.")
    p.add_argument("--grep", metavar="TEXT", help="case-insensitive text anywhere in the event")
    p.add_argument("--limit", type=opt.LIMIT, default=200, help="the newest N (default 200)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_events)

    inv = sub.add_parser("inventory", help="import, list and remove target instances")
    isub = inv.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    p = isub.add_parser("import", help="import an Ansible inventory (INI or YAML) or an OpenSSH client config; "
                        "a file with any bad line changes nothing")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=["auto", "ini", "yaml", "ssh_config"], default="auto")
    p.set_defaults(func=cmd_inventory_import)
    p = isub.add_parser("list", help="instances, optionally of one group")
    p.add_argument("--group", metavar="G")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inventory_list)
    p = isub.add_parser("remove", help="remove instances by name")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_inventory_remove)

    cred = sub.add_parser("credential", help="credential profiles: SSH user, keys/agent, known_hosts, sudo mode")
    csub = cred.add_subparsers(dest="credential_command", metavar="ACTION", required=True)
    p = csub.add_parser("add", help="add or replace a profile")
    p.add_argument("name")
    p.add_argument("--user", help="SSH user when the inventory gives none")
    p.add_argument("--key", action="append", default=[], metavar="FILE", help="private key file (repeatable)")
    p.add_argument("--agent", action="store_true", help="also use the ssh-agent (SSH_AUTH_SOCK)")
    p.add_argument("--known-hosts", action="append", default=[], metavar="FILE", help="known_hosts file (repeatable)")
    p.add_argument("--sudo", action="store_true", help="run root steps with sudo -n (never prompts)")
    p.set_defaults(func=cmd_credential_add)
    p = csub.add_parser("list", help="the profiles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_credential_list)

    hk = sub.add_parser("hostkey", help="accept a host's SSH key (an explicit, recorded operator action)")
    hsub = hk.add_subparsers(dest="hostkey_command", metavar="ACTION", required=True)
    p = hsub.add_parser("accept", help="show the key HOST presents now and, once confirmed, trust it from now on")
    p.add_argument("host", metavar="HOST", help="an inventory instance name, or an address")
    p.add_argument("--port", type=opt.PORT, help="port (default: the inventory's, else 22)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--fingerprint", metavar="SHA256:...", help="trust the key only if it has this fingerprint "
                     "(verified out of band); refused on mismatch. For scripts")
    how.add_argument("--yes", action="store_true", help="trust whatever key is presented, without asking")
    p.set_defaults(func=cmd_hostkey_accept)

    p = sub.add_parser("scan", help="scan an inventory now, without a task (exit 1 if any host failed)")
    p.add_argument("--inventory", required=True, metavar="FILE", help="Ansible INI/YAML or OpenSSH config")
    p.add_argument("--known-hosts", metavar="FILE", help="default: ~/.ssh/known_hosts (+ the data directory's)")
    p.add_argument("--identity", metavar="KEY", help="private key file (default: ssh-agent or ~/.ssh keys)")
    p.add_argument("--user", metavar="U", help="SSH user for hosts the inventory gives none")
    p.add_argument("--concurrency", type=opt.CONCURRENCY, default=50, metavar="N")
    p.add_argument("--timeout", type=opt.TIMEOUT, default=10.0, metavar="S", help="connect and login timeout")
    p.add_argument("--command-timeout", type=opt.TIMEOUT, default=300.0, metavar="S")
    p.add_argument("--refresh", action="store_true", help="refresh package metadata first (needs root or --sudo)")
    p.add_argument("--sudo", action="store_true", help="use sudo -n for root steps")
    p.add_argument("--json", action="store_true", help="one JSON object per host as it finishes")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("hosts", help="per-host results of a run")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--failed", action="store_true", help="only failed hosts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hosts)

    p = sub.add_parser("logs", help="the events of a run, and a host's transcript")
    p.add_argument("run", metavar="RUN")
    p.add_argument("host", nargs="?", metavar="HOST")
    p.set_defaults(func=cmd_logs)

    sim = sub.add_parser("sim", help="simulated SSH hosts on loopback, for trying Patchwatch out")
    ssub = sim.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    p = ssub.add_parser("fleet", help="serve N simulated hosts until Ctrl-C; writes inventory, known_hosts, key")
    p.add_argument("-n", type=opt.number(1, 10000, integer=True), default=20, metavar="N")
    p.add_argument("--faults", type=opt.number(0, 1), default=0.0, metavar="FRACTION",
                   help="share of faulty hosts, 0-1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_sim_fleet)

    ppl = sub.add_parser("people", help="personnel and shift scenarios (who is notified)")
    psub = ppl.add_subparsers(dest="people_command", metavar="ACTION", required=True)
    p = psub.add_parser("import", help="add or replace people and shift scenarios from a TOML file "
                        "(see data/examples/people.toml); a file with any error changes nothing")
    p.add_argument("file", metavar="FILE.toml")
    p.set_defaults(func=cmd_people_import)

    p = sub.add_parser("oncall", help="who is on duty for each role of each shift scenario")
    p.add_argument("--at", metavar="ISO-DATETIME", help="at this instant (default now; UTC without an offset)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_oncall)

    ntf = sub.add_parser("notify", help="notification tools")
    nsub = ntf.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    p = nsub.add_parser("test", help="send a test notice to a person by one mode now (exit 1 if it failed)")
    p.add_argument("--mode", required=True, help="email, sms, wecom, dingtalk, or another configured channel")
    p.add_argument("--to", required=True, metavar="PERSON")
    p.set_defaults(func=cmd_notify_test)

    p = sub.add_parser("notifications", help="the outbox: every notice with its status, attempts and latency")
    p.add_argument("--status", choices=["queued", "sending", "sent", "retrying", "failed", "abandoned"])
    p.add_argument("--run", metavar="RUN")
    p.add_argument("--limit", type=opt.LIMIT, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_notifications)

    add_report_parser(sub)

    p = sub.add_parser("demo", help="the whole product on this machine: a simulated fleet with faults, local mail "
                       "and robot servers, demo people and tasks, then the console (its data directory: "
                       "DATA_DIR/demo/store)")
    p.add_argument("--reset", action="store_true", help="start from an empty demo data directory")
    p.add_argument("--headless", action="store_true", help="no console: print events (and what the local "
                   "servers received) until Ctrl-C")
    p.add_argument("--for", dest="for_", type=opt.number(0.1, 366 * 86400), metavar="SECONDS",
                   help="with --headless: stop after this long")
    p.add_argument("--json", action="store_true", help="with --headless: one JSON object per line")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("console", help="open the terminal console (the default without a command); read-only "
                       "when a daemon owns the data directory")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("daemon", help="run the scheduler in the foreground and serve DATA_DIR/patchwatch.sock to "
                       "consoles and commands (stops cleanly on SIGTERM/SIGINT)")
    p.add_argument("--grace", type=opt.GRACE, default=60.0, metavar="SECONDS",
                   help="a fire later than this is recorded as missed instead of run (default 60)")
    p.add_argument("--socket-mode", default="660", metavar="OCTAL",
                   help="mode of the socket file (default 660: the daemon's user and group)")
    p.add_argument("--socket-group", metavar="GROUP", help="group of the socket file (e.g. patchwatch)")
    p.set_defaults(func=cmd_daemon)
    return parser


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl+C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as `yes | head -1` reports


def _role_of(args: argparse.Namespace) -> str:
    """What this process is, for the data directory's lock label: ``console``, ``daemon``, ``task add``..."""
    command = getattr(args, "command", None) or "console"
    action = next((getattr(args, k) for k in vars(args) if k.endswith("_command") and getattr(args, k)), None)
    return f"{command} {action}" if action else command


def main(argv: Sequence[str] | None = None) -> int:
    private_umask()  # every file Patchwatch writes is the operator's only (console.store.permissions)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        args.func = cmd_console
    from console.store.lock import set_process_role

    set_process_role(_role_of(args))
    try:
        return int(args.func(args))
    except ValidationError as exc:
        for error in exc.errors:
            print(safe_text(f"error: {error.field}: {error.rule}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except PatchwatchError as exc:
        print(safe_text(f"error: {exc}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted (Ctrl+C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): nothing is wrong. Point stdout at /dev/null so the interpreter's
        # final flush does not raise again, and exit as a process killed by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())

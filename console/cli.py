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
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console import __version__
from console import cli_options as opt
from console.domain.input_files import parse_toml, read_text
from console.domain.limits import check_instant
from console.domain.terminal import json_safe, safe_text
from console.errors import PatchwatchError, ValidationError
from console.store.permissions import private_umask

if TYPE_CHECKING:
    from console.engine.api import EngineAPI, EventStream

EXIT_OK, EXIT_FAILURES, EXIT_BAD_INPUT = 0, 1, 2

DATA_ENV = "PATCHWATCH_DATA"


class CliError(Exception):
    """Bad command-line input that argparse could not catch; exit 2 with this message."""


#: The daemon's exit code when its scheduler loop ended by itself (a bug): non-zero, so systemd restarts it.
EXIT_SCHEDULER_DIED = 3


def data_dir_of(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or os.environ.get(DATA_ENV) or "data")


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
    """Open the engine of the data directory in this process, run ``body`` on it, close it. Notices the command
    caused are sent before it exits (bounded); any still queued are counted, with where they will go from."""
    from console.engine import Engine

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


def _run_async(coro: Awaitable[int]) -> int:
    return asyncio.run(coro)  # type: ignore[arg-type]


def read_input_file(path: Path, field: str) -> str:
    """The text of an operator's input file; a missing, unreadable, oversized or non-UTF-8 one is bad input
    naming the field (console.domain.input_files)."""
    return read_text(path, field)


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
               f"{' ' + ', '.join(n.people) if n.people else ''} by {', '.join(n.modes)}" if n.enabled else ""),
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
    async def body(engine: EngineAPI) -> int:
        from console.domain.run import RunState

        stream = await engine.subscribe()
        run = await engine.run_now(args.task)
        _out(f"run {run.id} of {run.task_name}: {run.state.value}")
        if run.state is RunState.PENDING_REVIEW:
            stream.close()
            _out(f"waiting for review: patchwatch{_data_dir_option(args)} approve {run.id}")
            return EXIT_OK
        return await _follow_run(engine, stream, run.id, args, echo=args.wait)

    return _run_async(_with_engine(args, body))


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
            if event.kind is EventKind.RUN_PAUSED:
                reason = event.data.get("reason", "paused")
                _out(f"run {run_id} is paused: {reason}")
                _out("no other process can resume it while this command holds the data directory, so it stops "
                     "here and the run is recorded as interrupted; to be able to resume paused runs, run the "
                     f"task where it can wait: patchwatch{_data_dir_option(args)} daemon (or the console), then "
                     f"patchwatch{_data_dir_option(args)} resume RUN")
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


def _data_dir_option(args: argparse.Namespace) -> str:
    """`` --data-dir DIR`` when the command was pointed at a data directory, so a printed command works."""
    return f" --data-dir {args.data_dir}" if args.data_dir else ""


def cmd_run_action(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
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


# ----------------------------------------------------------------------------------------------- inventory

def cmd_inventory_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    text = read_input_file(path, "FILE")

    async def body(engine: EngineAPI) -> int:
        targets = await engine.import_inventory(text, source=path.name, fmt=args.format)
        groups = sorted({g for t in targets for g in t.groups})
        _out(f"imported {len(targets)} instances from {path} (groups: {', '.join(groups) or '-'})")
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
        _out(f"removed {len(removed)} instances")
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


def cmd_hostkey_accept(args: argparse.Namespace) -> int:
    async def body(engine: EngineAPI) -> int:
        info = await engine.accept_host_key(args.host, port=args.port)
        _out(f"accepted {info.algorithm} key {info.fingerprint} of {info.address}:{info.port}")
        _out("verify this fingerprint out of band (console of the host: ssh-keygen -lf /etc/ssh/ssh_host_*.pub)")
        return EXIT_OK

    return _run_async(_with_engine(args, body))


# ----------------------------------------------------------------------------------------------- scans

HOST_HEADERS = ["HOST", "STATUS", "OS", "CATEGORY", "REASON", "MISSING", "SECURITY", "REBOOT", "SECONDS"]


def _host_row(r: Any) -> list[str]:
    reboot = {True: "yes", False: "no", None: "-"}[r.reboot_required]
    return [r.host, r.status.value, r.os or "-", r.category or "-", r.reason or "-",
            str(r.missing_count) if r.status.value == "ok" else "-",
            "-" if r.security_count is None else str(r.security_count), reboot, f"{r.duration_s:.1f}"]


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
        _table([_host_row(r) for r in sorted(results, key=lambda r: (r.status.value == "ok", r.host))], HOST_HEADERS)
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
            _table([_host_row(r) for r in results], HOST_HEADERS)
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
        _out(f"imported from {path}: now {len(directory.people)} people, {len(directory.scenarios)} shift scenarios")
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

    return _run_async(run_console(data_dir_of(args)))


def cmd_daemon(args: argparse.Namespace) -> int:
    async def main() -> int:
        from console.engine import Engine

        engine = Engine(data_dir_of(args), misfire_grace=args.grace)
        await engine.open()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        queue = await engine.subscribe()
        scheduling = engine.create_scheduler().start_background()
        _out(f"patchwatch {__version__} daemon: data directory {engine.data_dir.resolve()}, pid {os.getpid()}")

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
        await engine.close()
        printing.cancel()
        while not queue.empty():
            _out(_event_line(queue.get_nowait()))
        _out("stopped")
        return EXIT_OK

    return _run_async(main())


# ----------------------------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patchwatch",
        description="Scheduled OS patch scans that never fail silently. Without a command, opens the console.",
    )
    parser.add_argument("--version", action="version", version=f"patchwatch {__version__}")
    parser.add_argument("--data-dir", metavar="DIR",
                        help=f"data directory (default: ${DATA_ENV}, else ./data)")
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
    p = hsub.add_parser("accept", help="fetch the key HOST presents now and trust it from now on")
    p.add_argument("host", metavar="HOST", help="an inventory instance name, or an address")
    p.add_argument("--port", type=opt.PORT, help="port (default: the inventory's, else 22)")
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

    p = sub.add_parser("demo", help="the whole product on this machine: a simulated fleet with faults, local mail "
                       "and robot servers, demo people and tasks, then the console (data in DATA_DIR/demo)")
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

    p = sub.add_parser("daemon", help="run the scheduler in the foreground (stops cleanly on SIGTERM/SIGINT)")
    p.add_argument("--grace", type=opt.GRACE, default=60.0, metavar="SECONDS",
                   help="a fire later than this is recorded as missed instead of run (default 60)")
    p.set_defaults(func=cmd_daemon)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    private_umask()  # every file Patchwatch writes is the operator's only (console.store.permissions)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        args.func = cmd_console
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
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The Scan_OS_Patch executor: asyncssh fan-out over a batch plan, one host result per target.

One mechanism serves scheduled runs and ad-hoc scans: :func:`execute_plan` drives the batches and talks to
its caller through :class:`ScanHooks` (the engine's JobContext is one; the ad-hoc CLI has its own).

Per host (all commands are constants from ``commands.py``; nothing user-typed reaches a command line):
1. connect and log in (host key verified against the profile's known_hosts; keys loaded once);
2. ``cat /etc/os-release``, pick the family; 3. optionally refresh metadata (``sudo -n`` when the profile
says so); 4. list updates (+ security advisories and installed versions where the family needs them);
5. reboot-pending check. Output streams into a bounded transcript; the parse buffer is capped too.
Failures become an Evidence that ``console.domain.taxonomy.classify`` turns into exactly one category.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import asyncssh

from console.domain.batching import has_canary, plan_batches
from console.domain.run import HostResult, HostStatus
from console.domain.task import BatchPolicy
from console.domain.taxonomy import Evidence, classify
from console.jobs import RunCancelled, Target
from console.scan.commands import COMMANDS, LIST_UPDATES_OK_EXIT, OS_RELEASE, Family, with_sudo
from console.scan.credentials import LoadedCredential
from console.scan.host_guard import guard_host
from console.scan.parsers import OsInfo, ParseError, UpdateReport, parse_os_release, parse_reboot, parse_updates
from console.scan.transcript import BoundedTranscript

#: The most output of one command kept for parsing. Real package managers print kilobytes; a host that
#: prints more is failed as a tool problem instead of exhausting memory.
PARSE_LIMIT = 8 * 1024 * 1024
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ScanOptions:
    connect_timeout: float = 10.0
    command_timeout: float = 300.0
    refresh_metadata: bool = False
    concurrency: int = 50


class ScanHooks(Protocol):
    """What the executor needs from whoever runs it (the engine's JobContext, or the ad-hoc scan)."""

    async def checkpoint(self) -> None: ...

    @property
    def cancelled(self) -> bool: ...

    async def wait_cancelled(self) -> None: ...

    async def batch_started(self, index: int, count: int, hosts: list[str]) -> None: ...

    async def host_finished(self, result: HostResult) -> None: ...

    async def request_pause(self, reason: str) -> None: ...

    def transcript_path(self, host: str) -> Path | None: ...


@dataclass
class _Output:
    """What one command produced: bounded stdout for parsing, the tail of stderr, and how it ended."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    stdout_bytes: int = 0
    exit_status: int | None = None
    exit_signal: str | None = None

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def err(self) -> str:
        return self.stderr[-4096:].decode("utf-8", "replace")


class _HostFailed(Exception):
    def __init__(self, evidence: Evidence) -> None:
        super().__init__(evidence.message)
        self.evidence = evidence


async def _run_command(conn: asyncssh.SSHClientConnection, step: str, command: str, timeout: float,
                       transcript: BoundedTranscript) -> _Output:
    """Run one constant command, streaming its output into the transcript with bounded memory."""
    out = _Output()
    transcript.note(f"$ {command}")
    try:
        async with asyncio.timeout(timeout):
            process = await conn.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
            try:
                async def pump_stdout() -> None:
                    while chunk := await process.stdout.read(READ_CHUNK):
                        transcript.write(chunk)
                        out.stdout_bytes += len(chunk)
                        if len(out.stdout) < PARSE_LIMIT:
                            out.stdout += chunk[: PARSE_LIMIT - len(out.stdout)]

                async def pump_stderr() -> None:
                    while chunk := await process.stderr.read(READ_CHUNK):
                        transcript.write(chunk)
                        out.stderr += chunk
                        del out.stderr[:-16384]

                await asyncio.gather(pump_stdout(), pump_stderr())
                await process.wait_closed()
                out.exit_status = process.exit_status
                signal = process.exit_signal
                out.exit_signal = signal[0] if signal else None
            finally:
                process.close()
    except TimeoutError as exc:
        transcript.note(f"no answer within {timeout:g} s: Patchwatch closed the command")
        raise _HostFailed(Evidence(stage="command", exception="TimeoutError", step=step, timed_out=True,
                                   message=f"no answer within {timeout:g} s", stdout=out.text()[-2048:],
                                   stderr=out.err())) from exc
    except (OSError, asyncssh.Error) as exc:
        transcript.note(f"connection error: {exc}")
        raise _HostFailed(Evidence(stage="command", exception=type(exc).__name__, message=str(exc), step=step,
                                   stdout=out.text()[-2048:], stderr=out.err())) from exc
    status = "none (connection dropped)" if out.exit_status is None and out.exit_signal is None else (
        out.exit_signal or out.exit_status)
    transcript.note(f"exit {status}")
    if out.exit_status is None and out.exit_signal is None:
        raise _HostFailed(Evidence(stage="command", step=step, dropped=True, stdout=out.text()[-2048:],
                                   stderr=out.err(), message="the connection closed before the command ended"))
    return out


def _check(out: _Output, step: str, ok: frozenset[int] = frozenset({0})) -> None:
    if out.exit_signal is not None or out.exit_status not in ok:
        raise _HostFailed(Evidence(stage="command", step=step, exit_status=out.exit_status,
                                   exit_signal=out.exit_signal, stdout=out.text()[-2048:], stderr=out.err()))
    if out.stdout_bytes > PARSE_LIMIT:
        raise _HostFailed(Evidence(stage="command", step=step, exception="ParseError",
                                   message=f"unparseable output of {step}: {out.stdout_bytes / 1e6:.1f} MB, more "
                                           f"than the {PARSE_LIMIT // 2**20} MB Patchwatch parses"))


def _check_refresh_warnings(out: _Output) -> None:
    """``apt-get update`` exits 0 when mirrors are unreachable and only warns (``W: Failed to fetch``); the
    scan would then report stale package lists as current. Read its warnings through the taxonomy."""
    evidence = Evidence(stage="command", step="refresh", exit_status=out.exit_status, stderr=out.err(),
                        stdout=out.text()[-2048:])
    if classify(evidence).rule == "service.repo_unreachable":
        raise _HostFailed(evidence)


@dataclass
class _Findings:
    os: OsInfo | None = None
    report: UpdateReport | None = None
    reboot: bool | None = None


async def _scan_steps(conn: asyncssh.SSHClientConnection, cred: LoadedCredential, options: ScanOptions,
                      transcript: BoundedTranscript, found: _Findings) -> None:
    timeout = options.command_timeout
    out = await _run_command(conn, "os_release", OS_RELEASE, timeout, transcript)
    _check(out, "os_release")
    try:
        found.os = parse_os_release(out.text())
    except ParseError as exc:
        raise _HostFailed(Evidence(stage="command", step="os_release", exception="ParseError",
                                   message=str(exc))) from exc
    family = found.os.family
    if family is None:
        raise _HostFailed(Evidence(stage="command", step="os_release",
                                   message=f"unsupported OS {found.os.pretty_name or found.os.id!r}: no apt, dnf, "
                                           "yum, zypper or apk family"))
    commands = COMMANDS[family]
    if options.refresh_metadata and commands.refresh:
        out = await _run_command(conn, "refresh", with_sudo(commands.refresh, cred.use_sudo), timeout, transcript)
        _check(out, "refresh")
        _check_refresh_warnings(out)
    listed = await _run_command(conn, "list_updates", commands.list_updates, timeout, transcript)
    _check(listed, "list_updates", LIST_UPDATES_OK_EXIT[family])
    # The next steps enrich the report; a failure there leaves the field unknown instead of failing the host.
    security = await _optional(conn, "security", commands.security, timeout, transcript)
    installed = await _optional(conn, "installed", commands.installed, timeout, transcript)
    if family is Family.YUM and found.os.id in ("centos",) and not security:
        security = None  # CentOS repositories carry no advisories: unknown, not zero
    try:
        found.report = parse_updates(family, listed.text(), security, installed)
    except ParseError as exc:
        raise _HostFailed(Evidence(stage="command", step="list_updates", exception="ParseError",
                                   message=str(exc))) from exc
    if commands.reboot:
        with contextlib.suppress(_HostFailed):
            out = await _run_command(conn, "reboot", commands.reboot, timeout, transcript)
            found.reboot = parse_reboot(family, out.exit_status, out.text())


async def _optional(conn: asyncssh.SSHClientConnection, step: str, command: str | None, timeout: float,
                    transcript: BoundedTranscript) -> str | None:
    if command is None:
        return None
    try:
        out = await _run_command(conn, step, command, timeout, transcript)
    except _HostFailed:
        return None
    return out.text() if out.exit_status == 0 else None


async def scan_host(target: Target, cred: LoadedCredential, options: ScanOptions, *, run_id: str = "",
                    task_id: str = "", batch: int = 0, transcript_path: Path | None = None,
                    transcript_label: str | None = None) -> HostResult:
    """Scan one target and return its final result (never raises for a host problem)."""
    started = time.time()
    started_mono = time.monotonic()
    transcript = BoundedTranscript()
    user = target.user or cred.profile.user
    transcript.note(f"{target.name}: ssh {user or '?'}@{target.address}:{target.port}")
    found = _Findings()
    evidence: Evidence | None = None
    conn: asyncssh.SSHClientConnection | None = None
    try:
        try:
            async with asyncio.timeout(options.connect_timeout * 2 + 1):
                conn = await asyncssh.connect(
                    target.address, target.port, username=user, connect_timeout=options.connect_timeout,
                    login_timeout=options.connect_timeout, **cred.connect_options())
        except TimeoutError:
            evidence = Evidence(stage="connect", exception="TimeoutError", timed_out=True,
                                message=f"no answer within {options.connect_timeout:g} s")
        except asyncssh.HostKeyNotVerifiable as exc:
            evidence = Evidence(stage="connect", exception="HostKeyNotVerifiable", message=str(exc))
        except asyncssh.PermissionDenied as exc:
            detail = f": {exc}" if str(exc).strip() else ""
            evidence = Evidence(stage="auth", exception="PermissionDenied",
                                message=f"SSH authentication denied for user {user}{detail}")
        except socket.gaierror as exc:
            evidence = Evidence(stage="connect", exception="gaierror", message=str(exc))
        except (OSError, asyncssh.Error) as exc:
            evidence = Evidence(stage="connect", exception=type(exc).__name__, message=str(exc))
        if conn is not None:
            try:
                await _scan_steps(conn, cred, options, transcript, found)
            except _HostFailed as failed:
                evidence = failed.evidence
    finally:
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)
    result = HostResult(run_id=run_id, task_id=task_id, host=target.name, address=f"{target.address}:{target.port}",
                        status=HostStatus.OK, batch=batch, started_at=_iso(started), finished_at=_iso(time.time()),
                        duration_s=round(time.monotonic() - started_mono, 3))
    if found.os is not None:
        result.os = found.os.pretty_name or f"{found.os.id} {found.os.version_id}".strip()
        result.family = found.os.family.value if found.os.family else None
    if evidence is not None:
        verdict = classify(evidence)
        result.status, result.category = HostStatus.FAILED, verdict.category.value
        result.reason, result.hint, result.rule = verdict.reason, verdict.hint, verdict.rule
        transcript.note(f"FAILED {verdict.category.value}: {verdict.reason}")
    elif found.report is not None:
        result.packages = [{"name": p.name, "installed": p.installed, "available": p.available, "arch": p.arch,
                            "repository": p.repository, "security": p.security} for p in found.report.packages]
        result.missing_count = found.report.total
        result.security_count = found.report.security_count
        result.reboot_required = found.reboot
        transcript.note(f"ok: {found.report.total} updates, security {found.report.security_count}, "
                        f"reboot {'pending' if found.reboot else 'no' if found.reboot is False else 'unknown'}")
    if transcript_path is not None:
        # At most head + tail bytes to the page cache, no fsync: cheaper inline than a thread hand-off, which
        # makes the event loop give up the GIL to a worker once per host.
        transcript.save(transcript_path)
        result.transcript = transcript_label or str(transcript_path)
    return result


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


async def execute_plan(targets: Sequence[Target], policy: BatchPolicy, cred: LoadedCredential,
                       options: ScanOptions, hooks: ScanHooks, *, connection_limit: asyncio.Semaphore,
                       run_id: str = "", task_id: str = "", relative: Callable[[Path], str] | None = None) -> None:
    """Scan ``targets`` batch by batch. Pauses come through ``hooks.checkpoint`` (the engine pauses a run
    when the error threshold is exceeded); a canary batch that fails entirely pauses here. On cancel, open
    connections close, and every host not finished is reported ``cancelled``."""
    by_name = {t.name: t for t in targets}
    plan = plan_batches([t.name for t in targets], policy)
    finished: set[str] = set()
    per_task = asyncio.Semaphore(max(1, options.concurrency))

    async def one(name: str, batch_index: int) -> HostResult | None:
        async with per_task:
            await hooks.checkpoint()
            async with connection_limit:
                if hooks.cancelled:
                    raise RunCancelled()
                path = hooks.transcript_path(name)
                return await guard_host(by_name[name], scan_host(  # one host's bad data fails that host only
                    by_name[name], cred, options, run_id=run_id, task_id=task_id, batch=batch_index,
                    transcript_path=path, transcript_label=relative(path) if relative and path else None),
                    run_id=run_id, task_id=task_id, batch=batch_index)

    async def guarded(name: str, batch_index: int) -> HostResult | None:
        result = await one(name, batch_index)
        if result is not None:
            finished.add(name)
            await hooks.host_finished(result)
        return result

    try:
        for index, batch in enumerate(plan, 1):
            await hooks.checkpoint()
            await hooks.batch_started(index, len(plan), batch)
            jobs = [asyncio.create_task(guarded(name, index)) for name in batch]
            cancel_wait = asyncio.create_task(hooks.wait_cancelled())
            try:
                pending: set[asyncio.Task[HostResult | None]] = set(jobs)
                while pending:
                    done, pending = await asyncio.wait(pending | {cancel_wait},  # type: ignore[arg-type]
                                                       return_when=asyncio.FIRST_COMPLETED)
                    pending.discard(cancel_wait)  # type: ignore[arg-type]
                    if cancel_wait in done:
                        raise RunCancelled()
                    for job in done:
                        if job is not cancel_wait and job.exception() is not None:
                            raise job.exception()  # type: ignore[misc]
            finally:
                cancel_wait.cancel()
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
            if index == 1 and has_canary(policy, plan):
                results = [j.result() for j in jobs if not j.cancelled() and j.exception() is None]
                if results and all(r is not None and r.status is HostStatus.FAILED for r in results):
                    await hooks.request_pause(
                        f"canary batch failed entirely ({len(results)} of {len(batch)} hosts): "
                        "check the first failure before the other batches run")
    except RunCancelled:
        for name in by_name:
            if name not in finished:
                await hooks.host_finished(HostResult(
                    run_id=run_id, task_id=task_id, host=name, status=HostStatus.CANCELLED,
                    reason="the run was cancelled before this host finished", finished_at=_iso(time.time())))
        raise

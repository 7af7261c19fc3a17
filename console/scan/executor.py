"""The Scan_OS_Patch executor: asyncssh fan-out over a batch plan, one host result per target.

One mechanism serves scheduled runs and ad-hoc scans: :func:`execute_plan` drives the batches and talks to
its caller through :class:`ScanHooks` (the engine's JobContext is one; the ad-hoc CLI has its own).

Per host (all commands are constants from ``commands.py``; nothing user-typed reaches a command line):
1. connect and log in (host key verified against the profile's known_hosts; keys loaded once);
2. ``cat /etc/os-release``, pick the family; 3. optionally refresh metadata (``sudo -n`` when the profile
says so); 4. list updates (+ security advisories and installed versions where the family needs them);
5. reboot-pending check. Output streams into a bounded transcript; the parse buffer is capped too.
Failures become an Evidence that ``console.domain.taxonomy.classify`` turns into exactly one category.

How the steps reach the host: by default all of them in ONE exec, the scan script of
``console.scan.script`` (one channel instead of five: two round trips and a channel's CPU saved per step).
:func:`_scan_steps` is written once against a step runner and does not know which way its steps travel:
:class:`_PerStepRunner` sends each command as its own exec (today's way, and the fallback);
:class:`_ScriptRunner` hands it the matching token-framed section of the script's output, and falls back
to per-step execution for the rest of the host when the script's output is not what that step needs
(a forced-command or restricted shell, markers missing, another family or step than expected), saying so
in the transcript. So parsing, exit-code checks, per-step time limits and classification are the same code
on both paths.

Why one module of this length: the two step runners, the step sequence they share and the batch fan-out
only make sense together, and keeping them in one file keeps the one-exec and per-step paths identical.
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
from typing import Literal, Protocol

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
from console.scan.script import ScriptDemux, ScriptVariant, build_script, new_token, script_command
from console.scan.transcript import BoundedTranscript

#: The most output of one command kept for parsing. Real package managers print kilobytes; a host that
#: prints more is failed as a tool problem instead of exhausting memory.
PARSE_LIMIT = 8 * 1024 * 1024
READ_CHUNK = 64 * 1024
#: How long the scan script's second end marker of a step may trail the first (see _ScriptRunner).
FRAMING_GRACE = 2.0


class CredentialUnavailable(Exception):
    """The credential profile a target needs cannot be used (unknown, or its key or known_hosts unreadable)."""


@dataclass(frozen=True)
class ScanOptions:
    connect_timeout: float = 10.0
    command_timeout: float = 300.0
    refresh_metadata: bool = False
    concurrency: int = 50
    #: Send every step in one exec (the scan script); False sends each step as its own exec, as a host
    #: that cannot run the script gets anyway (tests use it to keep the per-step path under the same checks).
    one_exec: bool = True


class ScanHooks(Protocol):
    """What the executor needs from whoever runs it (the engine's JobContext, or the ad-hoc scan)."""

    async def checkpoint(self) -> None: ...

    @property
    def cancelled(self) -> bool: ...

    async def wait_cancelled(self) -> None: ...

    async def batch_started(self, index: int, count: int, hosts: list[str]) -> None: ...

    async def host_finished(self, result: HostResult) -> None: ...

    async def request_pause(self, reason: str) -> None: ...

    def save_transcript(self, host: str, data: bytes) -> str | None: ...


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


class _StepRunner(Protocol):
    """How one step's command reaches the host and comes back as an :class:`_Output` (or _HostFailed)."""

    async def run(self, step: str, command: str, timeout: float) -> _Output: ...

    async def aclose(self) -> None: ...


class _PerStepRunner:
    """Each step as its own exec: one channel per command."""

    def __init__(self, conn: asyncssh.SSHClientConnection, transcript: BoundedTranscript) -> None:
        self._conn = conn
        self._transcript = transcript

    async def run(self, step: str, command: str, timeout: float) -> _Output:
        return await _run_command(self._conn, step, command, timeout, self._transcript)

    async def aclose(self) -> None:
        return None


@dataclass
class _Section:
    """One step of the script as it arrived: parse buffers, a bounded log of both streams, its markers."""

    step: str
    family: str
    out: _Output = field(default_factory=_Output)
    log: BoundedTranscript = field(default_factory=BoundedTranscript)
    ended_out: bool = False
    ended_err: bool = False


class _ScriptSession(asyncssh.SSHClientSession[bytes]):
    """asyncssh callbacks of the script's channel, handed straight to the runner (no stream objects and no
    reader tasks per host: the bytes go from the channel into the demultiplexers)."""

    def __init__(self, runner: _ScriptRunner) -> None:
        self._runner = runner

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._runner.received(data, datatype == asyncssh.EXTENDED_DATA_STDERR)

    def eof_received(self) -> bool:
        self._runner.stream_ended()
        return False

    def exit_status_received(self, status: int) -> None:
        self._runner.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self._runner.exit_signal = signal

    def connection_lost(self, exc: Exception | None) -> None:
        self._runner.finished(exc)


class _ScriptRunner:
    """All steps in one exec: starts the scan script at the first step, then answers each step with its
    section. Falls back to :class:`_PerStepRunner` for the rest of the host when a section is not exactly
    what the step needs; after a step's time limit (the script is closed), further steps go per step too.

    A section counts only when both its stdout and its stderr were framed (begin and end marker on each
    stream): stdout and stderr travel as separate SSH streams and a section's stderr may arrive after the
    next section's stdout, so a section is complete when both end markers are in."""

    def __init__(self, conn: asyncssh.SSHClientConnection, variant: ScriptVariant,
                 transcript: BoundedTranscript) -> None:
        self._conn = conn
        self._variant = variant
        self._transcript = transcript
        self._per_step = _PerStepRunner(conn, transcript)
        self._token = new_token()
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None
        self._started = False
        self._done_with_script = False
        self._sections: list[_Section] = []
        self._by_step: dict[str, _Section] = {}
        self._consumed = 0
        self._outside = BoundedTranscript(head=8192, tail=8192)
        self._eof = False
        self._finished = False
        self._lost: Exception | None = None
        self._changed = asyncio.Event()
        self.exit_status: int | None = None
        self.exit_signal: str | None = None
        self._out = ScriptDemux(self._token, self._content_out, lambda kind, f: self._marker(kind, f, False))
        self._err = ScriptDemux(self._token, self._content_err, lambda kind, f: self._marker(kind, f, True))

    # -- callbacks from the channel --------------------------------------------------------------------

    def received(self, data: bytes, stderr: bool) -> None:
        (self._err if stderr else self._out).feed(data)
        self._changed.set()

    def stream_ended(self) -> None:
        if not self._eof:
            self._eof = True
            self._out.close()
            self._err.close()
        self._changed.set()

    def finished(self, exc: Exception | None) -> None:
        self.stream_ended()
        self._lost = exc
        self._finished = True
        self._changed.set()

    def _content_out(self, step: str | None, data: bytes) -> None:
        section = self._by_step.get(step) if step is not None else None
        if section is None:
            self._outside.write(data)
            return
        section.log.write(data)
        out = section.out
        out.stdout_bytes += len(data)
        if len(out.stdout) < PARSE_LIMIT:
            out.stdout += data[: PARSE_LIMIT - len(out.stdout)]

    def _content_err(self, step: str | None, data: bytes) -> None:
        section = self._by_step.get(step) if step is not None else None
        if section is None:
            self._outside.write(data)
            return
        section.log.write(data)
        section.out.stderr += data
        del section.out.stderr[:-16384]

    def _marker(self, kind: str, fields: tuple[str, ...], stderr: bool) -> None:
        if kind == "B":
            if fields[0] not in self._by_step:
                section = _Section(step=fields[0], family=fields[1])
                self._sections.append(section)
                self._by_step[section.step] = section
        elif kind == "E":
            ended = self._by_step.get(fields[0])
            if ended is None:
                return
            if stderr:
                ended.ended_err = True
            else:
                ended.ended_out = True
                ended.out.exit_status = int(fields[1])

    # -- the runner ------------------------------------------------------------------------------------

    async def run(self, step: str, command: str, timeout: float) -> _Output:
        section: _Section | None = None
        if not self._done_with_script:
            try:
                async with asyncio.timeout(timeout) as deadline:
                    if not self._started:
                        await self._start()
                    if not self._done_with_script:
                        section = await self._section_for(step, command, deadline)
            except TimeoutError as exc:
                late = self._by_step.get(step)
                out = late.out if late is not None else _Output()
                self._log_section(command, late)
                self._transcript.note(f"no answer within {timeout:g} s: Patchwatch closed the command")
                self._close_script("the scan script was closed at the time limit; any further step runs as its "
                                   "own exec")
                raise _HostFailed(Evidence(stage="command", exception="TimeoutError", step=step, timed_out=True,
                                           message=f"no answer within {timeout:g} s", stdout=out.text()[-2048:],
                                           stderr=out.err())) from exc
        if section is None:
            return await self._per_step.run(step, command, timeout)
        return section.out

    async def _start(self) -> None:
        self._started = True
        script = build_script(self._token, self._variant)
        try:
            self._chan, _ = await self._conn.create_session(lambda: _ScriptSession(self), script, encoding=None)
        except (OSError, asyncssh.Error) as exc:
            self._fall_back(f"the scan script could not start ({type(exc).__name__}: {exc})", None)
            return
        self._chan.write_eof()
        self._transcript.note("one exec: the scan script runs the steps below, each in a section framed by this "
                              "scan's token")

    async def _section_for(self, step: str, command: str, deadline: asyncio.Timeout) -> _Section | None:
        """The complete section of ``step``, or None after falling back (the caller then runs the step on
        its own). Raises _HostFailed when the connection dropped before the step's end.

        The script writes a step's end marker to stderr and then to stdout, so once one stream has it the
        step is over on the host and the other stream's marker is at most a read behind. If it is not there
        within :data:`FRAMING_GRACE`, that stream is not framed (a wrapper rewrote it): fall back rather
        than wait for the script's end, which could outlast the step's time limit while every step is fast.
        """
        while True:
            self._changed.clear()
            verdict = self._judge(step, command)
            if verdict is not None:
                return verdict or None
            section = self._by_step.get(step)
            if section is None or section.ended_out == section.ended_err:
                await self._changed.wait()
                continue
            deadline.reschedule(None)  # the step has ended on the host: its time limit no longer applies
            try:
                async with asyncio.timeout(FRAMING_GRACE):
                    while section.ended_out != section.ended_err and not self._finished:
                        self._changed.clear()
                        await self._changed.wait()
            except TimeoutError:
                missing = "stderr" if section.ended_out else "stdout"
                self._fall_back(f"the scan script's output was not usable (its {missing} carries no step markers; "
                                f"one stream ended step {step}, the other did not within {FRAMING_GRACE:g} s)",
                                section)
                return None

    def _judge(self, step: str, command: str) -> _Section | Literal[False] | None:
        """The complete section of ``step``; False when the script cannot serve it (fell back); None to wait."""
        index = self._consumed
        section = self._sections[index] if index < len(self._sections) else None
        if section is not None:
            family = None if section.family == "-" else _family_or_none(section.family)
            if section.step != step or script_command(section.step, family, self._variant) != command:
                return self._fall_back(f"the scan script ran step {section.step} ({section.family}) where the "
                                       f"scan needs {step}: {command}", section)
            if section.ended_out and section.ended_err:
                self._consumed += 1
                self._log_section(command, section)
                self._transcript.note(f"exit {section.out.exit_status}")
                return section
        if not self._finished:
            return None
        # The script's channel is closed and this step's section is not complete.
        if self._lost is not None and self.exit_status is None and self.exit_signal is None:
            # The connection itself was lost: reported as a per-step exec reports it (the exception).
            out = section.out if section is not None else _Output()
            self._log_section(command, section)
            self._transcript.note(f"connection error: {self._lost}")
            raise _HostFailed(Evidence(stage="command", exception=type(self._lost).__name__, message=str(self._lost),
                                       step=step, stdout=out.text()[-2048:], stderr=out.err()))
        if self.exit_status is None and self.exit_signal is None and (section is not None or self._consumed > 0):
            # Neither exit status nor signal: the channel dropped (asyncssh raises nothing for it).
            self._log_section(command, section)
            self._transcript.note("exit none (connection dropped)")
            out = section.out if section is not None else _Output()
            raise _HostFailed(Evidence(stage="command", step=step, dropped=True, stdout=out.text()[-2048:],
                                       stderr=out.err(), message="the connection closed before the command ended"))
        if section is not None and section.ended_out:
            why = "its stderr carries no step markers"
        elif section is not None:
            why = f"its output stopped inside step {step}"
        elif not self._sections:
            why = "its output carries no step markers"
        else:
            why = f"it ended before step {step}"
        status = self.exit_signal or ("none" if self.exit_status is None else self.exit_status)
        return self._fall_back(f"the scan script's output was not usable ({why}; exit {status})", section)

    def _log_section(self, command: str, section: _Section | None) -> None:
        self._transcript.note(f"$ {command}")
        if section is not None:
            self._transcript.write(section.log.render())

    def _fall_back(self, reason: str, section: _Section | None) -> Literal[False]:
        if section is not None and section.log.total_bytes:
            self._transcript.note(f"output of the scan script's unused section {section.step}:")
            self._transcript.write(section.log.render())
        if self._outside.total_bytes:
            self._transcript.note("output of the scan script outside its step sections:")
            self._transcript.write(self._outside.render())
        self._close_script(f"fallback: {reason}; each step from here runs as its own exec")
        return False

    def _close_script(self, note: str) -> None:
        if not self._done_with_script:
            self._done_with_script = True
            self._transcript.note(note)
        if self._chan is not None and not self._finished:
            self._chan.close()

    async def aclose(self) -> None:
        if self._chan is not None and not self._finished:
            self._chan.close()


def _family_or_none(value: str) -> Family | None:
    try:
        return Family(value)
    except ValueError:
        return None


async def _scan_steps(runner: _StepRunner, cred: LoadedCredential, options: ScanOptions, found: _Findings) -> None:
    timeout = options.command_timeout
    out = await runner.run("os_release", OS_RELEASE, timeout)
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
        out = await runner.run("refresh", with_sudo(commands.refresh, cred.use_sudo), timeout)
        _check(out, "refresh")
        _check_refresh_warnings(out)
    listed = await runner.run("list_updates", commands.list_updates, timeout)
    _check(listed, "list_updates", LIST_UPDATES_OK_EXIT[family])
    # The next steps enrich the report; a failure there leaves the field unknown instead of failing the host.
    security = await _optional(runner, "security", commands.security, timeout)
    installed = await _optional(runner, "installed", commands.installed, timeout)
    if family is Family.YUM and found.os.id in ("centos",) and not security:
        security = None  # CentOS repositories carry no advisories: unknown, not zero
    try:
        found.report = parse_updates(family, listed.text(), security, installed)
    except ParseError as exc:
        raise _HostFailed(Evidence(stage="command", step="list_updates", exception="ParseError",
                                   message=str(exc))) from exc
    if commands.reboot:
        with contextlib.suppress(_HostFailed):
            out = await runner.run("reboot", commands.reboot, timeout)
            found.reboot = parse_reboot(family, out.exit_status, out.text())


async def _optional(runner: _StepRunner, step: str, command: str | None, timeout: float) -> str | None:
    if command is None:
        return None
    try:
        out = await runner.run(step, command, timeout)
    except _HostFailed:
        return None
    return out.text() if out.exit_status == 0 else None


async def scan_host(target: Target, cred: LoadedCredential, options: ScanOptions, *, run_id: str = "",
                    task_id: str = "", batch: int = 0, transcript_path: Path | None = None,
                    save_transcript: Callable[[str, bytes], str | None] | None = None) -> HostResult:
    """Scan one target and return its final result (never raises for a host problem).

    The transcript goes to ``save_transcript(host, bytes)`` (a run's hooks: the result says what it returns),
    or to a plain file at ``transcript_path`` (tests, and a scan of one host by hand)."""
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
                # No user named anywhere: log in as the local user, as ssh does (asyncssh's own default; it
                # must not be handed None).
                login = {"username": user} if user else {}
                conn = await asyncssh.connect(
                    target.address, target.port, connect_timeout=options.connect_timeout,
                    login_timeout=options.connect_timeout, **login, **cred.connect_options())
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
            runner: _StepRunner = (
                _ScriptRunner(conn, ScriptVariant(refresh=options.refresh_metadata, sudo=cred.use_sudo), transcript)
                if options.one_exec else _PerStepRunner(conn, transcript))
            try:
                await _scan_steps(runner, cred, options, found)
            except _HostFailed as failed:
                evidence = failed.evidence
            finally:
                await runner.aclose()
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
    if save_transcript is not None:
        # Handed over, not written here: the store appends it to the run's one transcript file in its next
        # batch, ahead of this result (a file per host cost the kernel 0.02 to 0.9 ms each to create).
        result.transcript = save_transcript(target.name, transcript.render())
    if transcript_path is not None:
        # In a worker thread: creating a file (a new inode) can take the kernel up to a millisecond on a busy
        # disk, and on the event loop that stalls every host in flight.
        await asyncio.to_thread(transcript.save, transcript_path)
        result.transcript = result.transcript or str(transcript_path)
    return result


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


async def execute_plan(targets: Sequence[Target], policy: BatchPolicy,
                       cred: LoadedCredential | Callable[[Target], LoadedCredential],
                       options: ScanOptions, hooks: ScanHooks, *, connection_limit: asyncio.Semaphore,
                       run_id: str = "", task_id: str = "") -> None:
    """Scan ``targets`` batch by batch. Pauses come through ``hooks.checkpoint`` (the engine pauses a run
    when the error threshold is exceeded); a canary batch that fails entirely pauses here. On cancel, open
    connections close, and every host not finished is reported ``cancelled``.

    ``cred`` is one credential for every target, or a function choosing each target's (an instance may name
    its own profile); a choice that fails (:class:`CredentialUnavailable`) fails that host as ``permission``,
    never the run."""
    choose = cred if callable(cred) else (lambda _target: cred)
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
                try:
                    host_cred = choose(by_name[name])
                except CredentialUnavailable as exc:
                    return HostResult(run_id=run_id, task_id=task_id, host=name, status=HostStatus.FAILED,
                                      category="permission", reason=str(exc), rule="credential.unavailable",
                                      hint="add the profile with patchwatch credential add, or fix the instance's "
                                           "patchwatch_credential", batch=batch_index, finished_at=_iso(time.time()))
                return await guard_host(by_name[name], scan_host(  # one host's bad data fails that host only
                    by_name[name], host_cred, options, run_id=run_id, task_id=task_id, batch=batch_index,
                    save_transcript=hooks.save_transcript),
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

"""A fleet of simulated Linux hosts: real SSH servers on loopback, each with planted updates and,
for some, a planted fault.

Why real servers: the scanner's hard part is not parsing, it is surviving what a network and a fleet
do to it (refused ports, silent listeners, rejected keys, changed host keys, sudo that wants a
password, tools that hang, stream 100 MB or drop the connection mid-output). Every one of those is
reproduced here at the protocol level with asyncssh, so the scanner is tested against the same
exceptions and partial results it meets in production.

Cost is kept low so a thousand hosts fit in one process: the client key and the host key are
generated once per fleet (a second host key only if some host must present a wrong one), a host is
just a listening socket plus a small object, and commands are answered from precomputed profiles
(``console.sim.distros``). ``fleet.json`` written by :meth:`Fleet.write_files` is the ground truth
tests compare scan results with.

Why one module of this length: the simulated fleet is one SSH server with a fault model; its hosts, endpoints
and fault plan only make sense together.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from console.errors import ValidationError
from console.scan.commands import COMMANDS, OS_RELEASE, Family
from console.scan.script import ScriptVariant, parse_script, script_family, script_steps, stops_after
from console.sim.distros import (
    DISTROS,
    TOOL_STEPS,
    DistroProfile,
    Package,
    Reply,
    Step,
    garbage_text,
    respond,
    split_sudo,
)
from console.sim.hostile import hostile_reply

__all__ = [
    "FAULTS",
    "FAULT_CATEGORY",
    "SCRIPT_FAULTS",
    "Fleet",
    "FleetFiles",
    "Latency",
    "SimHost",
    "fault_steps",
    "main",
    "parse_faults",
    "run_fleet_forever",
    "start_fleet",
]

#: Fault kinds a host can be given. The fault is recorded in fleet.json, never in the host name.
FAULTS: tuple[str, ...] = (
    "network_refused",  # the port is reserved and closed: connect() is refused
    "timeout_connect",  # a TCP listener that accepts and never speaks SSH
    "permission_auth",  # the server rejects the client's key
    "permission_sudo",  # "sudo -n ..." answers "sudo: a password is required", exit 1
    "host_key",  # the host presents a key other than the one in known_hosts
    "tool_missing",  # the package manager is not installed (shell: command not found, 127)
    "tool_garbage",  # list-updates prints unparseable text and exits 0
    "service_lock",  # another process holds the package manager's lock
    "service_mirror",  # repositories unreachable (DNS failure)
    "hang",  # refresh and list-updates never return
    "slow",  # every command answers after a delay (slow_delay)
    "huge_output",  # list-updates streams huge_bytes of filler before its normal output
    "drop_mid_output",  # list-updates writes part of its output, then the TCP connection is reset
    "reboot_pending",  # healthy, but a reboot is pending
)

#: Faults of the way commands reach a host, for the one-exec scan script. Only given by exact counts
#: (``faults={"restricted_shell": 1}``): a fraction keeps drawing from FAULTS alone, so fleets planned from
#: a seed stay what they were.
SCRIPT_FAULTS: tuple[str, ...] = (
    "restricted_shell",  # a forced command that runs only the listed scan commands: the script is refused
    "stderr_prefixed",  # a forced-command wrapper tags each stderr line ("[audit] ..."): stderr markers unusable
    "forged_marker",  # list-updates prints marker-shaped lines (made-up token) claiming success, then fails
)
_KNOWN_FAULTS = FAULTS + SCRIPT_FAULTS

#: The failure category (domain taxonomy) a correct scanner reports for each fault, or None when the
#: host should scan fine. ``huge_output`` is ``tool`` only if the scanner caps output below the
#: streamed size; ``slow`` fails (``timeout``) only if the command timeout is shorter than the delay.
FAULT_CATEGORY: dict[str, str | None] = {
    "network_refused": "network",
    "timeout_connect": "timeout",
    "permission_auth": "permission",
    "permission_sudo": "permission",
    "host_key": "host_key",
    "tool_missing": "tool",
    "tool_garbage": "tool",
    "service_lock": "service",
    "service_mirror": "service",
    "hang": "timeout",
    "slow": None,
    "huge_output": "tool",
    "drop_mid_output": "network",
    "reboot_pending": None,
    "restricted_shell": None,  # the scanner falls back to one exec per step
    "stderr_prefixed": None,  # likewise
    "forged_marker": "tool",  # the real exit status (2) counts, not the forged one
}

DEFAULT_USER = "patchwatch"
DEFAULT_SLOW_DELAY = 2.0
DEFAULT_HUGE_BYTES = 100 * 1024 * 1024
_FILLER_CHUNK_BYTES = 64 * 1024
_HANG_STEPS = frozenset({Step.REFRESH, Step.LIST_UPDATES})


def fault_steps(profile: DistroProfile, fault: str | None) -> list[str]:
    """The steps where ``fault`` shows on a host of ``profile`` ("connect" = before any command).

    A scan that skips those steps cannot see the fault: permission_sudo only shows on commands sent
    with ``sudo -n`` (the refresh step); apt and apk list updates from their local cache, so a
    lock or a dead mirror only shows on refresh there.
    """
    if fault is None:
        return []
    if fault in ("network_refused", "timeout_connect", "permission_auth", "host_key"):
        return ["connect"]
    if fault in ("restricted_shell", "stderr_prefixed"):
        return ["script"]
    commands = COMMANDS[profile.family]
    present = [Step.OS_RELEASE, *(s for s in TOOL_STEPS if getattr(commands, s.value) is not None)]
    steps: Iterable[Step]
    if fault == "permission_sudo":
        steps = [Step.REFRESH]
    elif fault == "tool_missing":
        steps = [s for s in present if s in TOOL_STEPS and not _shell_only(profile, s)]
    elif fault in ("tool_garbage", "huge_output", "drop_mid_output", "forged_marker"):
        steps = [Step.LIST_UPDATES]
    elif fault == "service_lock":
        steps = profile.lock_steps()
    elif fault == "service_mirror":
        steps = profile.mirror_steps()
    elif fault == "hang":
        steps = _HANG_STEPS
    elif fault == "slow":
        steps = present
    else:  # reboot_pending
        steps = [Step.REBOOT]
    order = list(Step)
    return [s.value for s in sorted(set(steps) & set(present), key=order.index)]


def _shell_only(profile: DistroProfile, step: Step) -> bool:
    """apt's reboot check is shell syntax (``if [ -f ... ]``): it works without apt installed."""
    return profile.family is Family.APT and step is Step.REBOOT


def _compatible(fault: str, profile: DistroProfile) -> bool:
    """Whether the fault can be observed on this distro (Alpine has no reboot-pending marker)."""
    return not (fault == "reboot_pending" and COMMANDS[profile.family].reboot is None)


# ------------------------------------------------------------------------------------------------
# Hosts
# ------------------------------------------------------------------------------------------------


@dataclass
class SimHost:
    """One simulated host, as a scanner's inventory and a test's ground truth see it."""

    name: str
    address: str
    port: int
    distro: str
    packages: list[Package]
    fault: str | None
    user: str
    reboot_pending: bool

    @property
    def profile(self) -> DistroProfile:
        return DISTROS[self.distro]

    @property
    def family(self) -> Family:
        return self.profile.family

    @property
    def security_count(self) -> int | None:
        """Security updates as the family counts them: packages (apt, dnf, yum), needed security
        patches (zypper); None for apk, which cannot tell."""
        if not self.profile.can_flag_security():
            return None
        if self.family is Family.ZYPPER:
            return len({p.advisory for p in self.packages if p.security})
        return sum(1 for p in self.packages if p.security)

    def to_dict(self) -> dict[str, Any]:
        """The fleet.json record: everything a test needs to judge a scan of this host."""
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "distro": self.distro,
            "family": self.family.value,
            "user": self.user,
            "fault": self.fault,
            "expected_category": FAULT_CATEGORY.get(self.fault) if self.fault else None,
            "fault_steps": fault_steps(self.profile, self.fault),
            "reboot_pending": self.reboot_pending,
            "security_count": self.security_count,
            "packages": [p.to_dict() for p in self.packages],
        }


@dataclass
class _Plan:
    name: str
    distro: str
    fault: str | None
    packages: list[Package]
    reboot_pending: bool


def _plan_fleet(
    n: int,
    faults: float | Mapping[str, int],
    seed: int,
    distros: Sequence[str],
    package_range: tuple[int, int],
) -> list[_Plan]:
    """Who is who: distro round-robin, faults seeded, packages seeded per host."""
    host_distros = [distros[i % len(distros)] for i in range(n)]
    assigned: list[str | None] = [None] * n
    rng = random.Random(f"patchwatch-sim-faults:{seed}")

    if isinstance(faults, Mapping):
        unknown = sorted(set(faults) - set(_KNOWN_FAULTS))
        if unknown:
            raise ValidationError.single(
                "faults", f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(_KNOWN_FAULTS)}")
        if any(c < 0 for c in faults.values()):
            raise ValidationError.single("faults", "counts must be >= 0")
        if sum(faults.values()) > n:
            raise ValidationError.single("faults", f"{sum(faults.values())} faulty hosts asked for, fleet has {n}")
        for fault in _KNOWN_FAULTS:
            count = faults.get(fault, 0)
            if not count:
                continue
            free = [i for i in range(n) if assigned[i] is None and _compatible(fault, DISTROS[host_distros[i]])]
            if len(free) < count:
                raise ValidationError.single("faults", f"not enough hosts able to show {fault}")
            for i in rng.sample(free, count):
                assigned[i] = fault
    else:
        if not 0.0 <= faults <= 1.0:
            raise ValidationError.single("faults", "a fraction must be between 0 and 1")
        k = min(n, round(n * faults))
        kinds = [FAULTS[i % len(FAULTS)] for i in range(k)]
        rng.shuffle(kinds)
        for i, fault in zip(rng.sample(range(n), k), kinds, strict=True):
            profile = DISTROS[host_distros[i]]
            while not _compatible(fault, profile):
                fault = FAULTS[(FAULTS.index(fault) + 1) % len(FAULTS)]
            assigned[i] = fault

    counters: dict[Family, int] = {}
    plans = []
    lo, hi = package_range
    for i in range(n):
        profile = DISTROS[host_distros[i]]
        counters[profile.family] = counters.get(profile.family, 0) + 1
        host_rng = random.Random(f"patchwatch-sim-host:{seed}:{i}")
        count = min(host_rng.randint(lo, hi), len(profile.catalog))
        if assigned[i] in ("drop_mid_output", "huge_output", "tool_garbage", "forged_marker"):
            count = max(count, 3)  # something to cut or to bury
        packages = profile.plant(host_rng, count)
        plans.append(
            _Plan(
                name=f"sim-{profile.family.value}-{counters[profile.family]:03d}",
                distro=host_distros[i],
                fault=assigned[i],
                packages=packages,
                reboot_pending=assigned[i] == "reboot_pending",
            )
        )
    return plans



# ------------------------------------------------------------------------------------------------
# Network latency: a link with a round-trip time, on loopback
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """How far away every simulated host is: ``rtt`` and ``jitter`` in milliseconds.

    Each byte the host receives is handed to its SSH server half a round trip after it arrived, and each
    byte it sends leaves half a round trip after it was written, so every request/answer exchange of the
    SSH protocol (key exchange, each authentication message, each channel open, exec request, output,
    close) costs one RTT, as on a real link. The TCP handshake costs one more RTT (the server sees the
    connection 1.5 RTT after the client asked). Jitter: each one-way delay is ``(rtt + U(-jitter,
    +jitter)) / 2``, never negative, and bytes stay in order (a TCP stream does not reorder).
    """

    rtt_ms: float = 0.0
    jitter_ms: float = 0.0

    def one_way(self, rng: random.Random) -> float:
        jitter = rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
        return max(0.0, (self.rtt_ms + jitter) / 2000.0)

    def __bool__(self) -> bool:
        return self.rtt_ms > 0 or self.jitter_ms > 0


class _DelayLine:
    """Calls in FIFO order, each no earlier than its due time (one timer at a time, not one per call)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: collections.deque[tuple[float, Callable[[], None]]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0

    def put(self, delay: float, call: Callable[[], None]) -> None:
        due = max(self._loop.time() + delay, self._last)
        self._last = due
        self._queue.append((due, call))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._run)

    def _run(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._queue and self._queue[0][0] <= now:
            _, call = self._queue.popleft()
            call()
        if self._queue:
            self._timer = self._loop.call_at(self._queue[0][0], self._run)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()


class _LaggedTransport(asyncio.Transport):
    """What the SSH server writes to: writes leave after the link's one-way delay; closes and aborts
    happen after the bytes written before them (a reset still follows the data already in flight)."""

    def __init__(self, real: asyncio.Transport, outgoing: _DelayLine, link: _LaggedProtocol) -> None:
        super().__init__()
        self._real = real
        self._outgoing = outgoing
        self._link = link
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        chunk = bytes(data)
        self._outgoing.put(self._link.delay(), lambda: None if self._real.is_closing() else self._real.write(chunk))

    def close(self) -> None:
        self._closing = True
        self._outgoing.put(0.0, self._real.close)

    def abort(self) -> None:
        self._closing = True
        self._outgoing.put(0.0, self._real.abort)

    def is_closing(self) -> bool:
        return self._closing or self._real.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._real.pause_reading()

    def resume_reading(self) -> None:
        self._real.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._real.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return False


class _LaggedProtocol(asyncio.Protocol):
    """Sits between the socket and asyncssh's server connection and delays both directions."""

    def __init__(self, inner: asyncio.Protocol, latency: Latency, rng: random.Random) -> None:
        self._inner = inner
        self._latency = latency
        self._rng = rng
        loop = asyncio.get_running_loop()
        self._incoming = _DelayLine(loop)
        self._outgoing = _DelayLine(loop)

    def delay(self) -> float:
        return self._latency.one_way(self._rng)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        lagged = _LaggedTransport(transport, self._outgoing, self)  # type: ignore[arg-type]
        # The TCP handshake: the client's connect() returned at once on loopback; on the link the server
        # would see the connection 1.5 RTT after the client asked, and everything after it shifts too.
        handshake = 3 * self.delay()
        self._incoming.put(handshake, lambda: self._inner.connection_made(lagged))

    def data_received(self, data: bytes) -> None:
        self._incoming.put(self.delay(), lambda: self._inner.data_received(data))

    def eof_received(self) -> bool | None:
        self._incoming.put(self.delay(), self._inner.eof_received)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._outgoing.cancel()
        self._incoming.put(self.delay(), lambda: self._inner.connection_lost(exc))

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _LaggedListener:
    """An asyncssh ``tunnel`` for :func:`asyncssh.listen`: it only creates the listening socket, with every
    accepted connection behind a :class:`_LaggedProtocol`. (asyncssh calls ``create_server`` of the object
    given as ``tunnel``; nothing is tunnelled anywhere.)"""

    def __init__(self, latency: Latency, seed: int) -> None:
        self._latency = latency
        self._rng = random.Random(f"patchwatch-sim-latency:{seed}")

    async def create_server(self, session_factory: Callable[[str, int], Any], listen_host: str,
                            listen_port: int) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: _LaggedProtocol(session_factory("", 0), self._latency, self._rng), listen_host, listen_port)


# ------------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------------


class _Endpoint:
    """The network side of one host; subclasses differ in how little of SSH they speak."""

    host: SimHost

    async def close(self) -> None:
        raise NotImplementedError


class _RefusedEndpoint(_Endpoint):
    """A port bound but never listening: the kernel answers connects with RST (refused), and no
    other process can take the port while the fleet runs."""

    def __init__(self, host: SimHost, sock: socket.socket) -> None:
        self.host = host
        self._sock = sock

    async def close(self) -> None:
        self._sock.close()


class _SilentEndpoint(_Endpoint):
    """Accepts TCP and never sends the SSH banner: the client waits until its connect timeout."""

    def __init__(self, host: SimHost) -> None:
        self.host = host
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, address: str) -> int:
        self._server = await asyncio.start_server(self._swallow, address, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await reader.read(4096):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None


class _SimServer(asyncssh.SSHServer):
    """Per-connection auth: the fleet's client key and the fleet's user, nothing else."""

    def __init__(self, endpoint: _SshEndpoint) -> None:
        self._endpoint = endpoint
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._endpoint.conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._endpoint.conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._endpoint.accepts(username, key)


class _SshEndpoint(_Endpoint):
    """A real SSH server answering the Scan_OS_Patch commands from the host's profile."""

    def __init__(self, fleet: Fleet, host: SimHost) -> None:
        self.fleet = fleet
        self.host = host
        self.profile = DISTROS[host.distro]
        self.conns: set[asyncssh.SSHServerConnection] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None

    async def start(self, address: str, options: asyncssh.SSHServerConnectionOptions) -> int:
        extra: dict[str, Any] = {}
        if self.fleet.latency:
            extra["tunnel"] = _LaggedListener(self.fleet.latency, self.fleet.seed)
        self._acceptor = await asyncssh.listen(
            address,
            0,
            options=options,
            server_factory=lambda: _SimServer(self),
            process_factory=self._run,
            **extra,
        )
        return self._acceptor.get_port()

    def accepts(self, username: str, key: asyncssh.SSHKey) -> bool:
        return (
            self.host.fault != "permission_auth"
            and username == self.host.user
            and key.public_data == self.fleet.client_key.public_data
        )

    async def _run(self, process: asyncssh.SSHServerProcess[str]) -> None:
        """One exec request. Errors from a client that went away are expected and swallowed: an
        exception escaping here would make asyncssh log an internal error and drop the connection."""
        task = asyncio.current_task()
        if task is not None:
            self.fleet.track(task)
        try:
            await self._answer(process)
        except (BrokenPipeError, ConnectionError, asyncssh.Error, OSError):
            pass
        finally:
            if task is not None:
                self.fleet.untrack(task)

    async def _answer(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command
        if command is None:
            await _send(process, Reply(stderr="This simulated host runs commands only.\n", exit_status=1))
            return
        if self.host.fault == "stderr_prefixed":
            process = _StderrPrefixed(process)  # type: ignore[assignment]
        script = parse_script(command)
        if script is not None and self.host.fault != "restricted_shell":
            await self._run_script(process, *script)
            return
        if self.host.fault == "restricted_shell" and self.profile.step_of(split_sudo(command)[0]) is None:
            # A forced command that lets only the listed scan commands through (the usual way to give a scan
            # key least privilege): anything else, the one-exec script included, is refused.
            await _send(process, Reply(stderr="patchwatch-only: refused: this key may run the scan commands only\n",
                                       exit_status=1))
            return
        status = await self._answer_command(process, command)
        if status is not None:
            process.exit(status)

    async def _run_script(self, process: asyncssh.SSHServerProcess[str], token: str, variant: ScriptVariant) -> None:
        """Run the one-exec scan script as its sh text would: each step through :meth:`_answer_command` (the
        same per-command logic and faults), framed by the script's markers, stopping where the script stops."""
        real = process
        process = _Batched(real)  # type: ignore[assignment]

        def frame(kind: str, *fields: str) -> None:
            text = f"\n{token}:{kind}:{':'.join(fields)}\n"
            if kind == "E":
                process.stderr.write(text)
                process.stdout.write(text)
            else:
                process.stdout.write(text)
                process.stderr.write(text)

        frame("B", "os_release", "-")
        status = await self._answer_command(process, OS_RELEASE)
        if status is None:
            return
        frame("E", "os_release", str(status))
        family = script_family(self.profile.os_release) if status == 0 else None
        if status == 0:
            process.stdout.write(f"\n{token}:F:{family.value if family else '-'}\n")
            for step, command in script_steps(family, variant) if family else []:
                frame("B", step, family.value if family else "-")
                status = await self._answer_command(process, command)
                if status is None:
                    return
                frame("E", step, str(status))
                if stops_after(step, family, status):
                    break
        await process.stdout.drain()
        real.exit(0)

    async def _answer_command(self, process: asyncssh.SSHServerProcess[str], command: str) -> int | None:
        """Write the answer of one command to the process's streams; its exit status, or None when the
        answer ended the session (a hang until the client closed, a dropped connection)."""
        host, profile, fault = self.host, self.profile, self.host.fault
        if fault in ("slow", "hang") and isinstance(process, _Batched):
            process.flush()  # what the script printed so far leaves before this command takes its time
        if fault == "slow" and not await _wait_unless_closed(process, self.fleet.slow_delay):
            return None
        inner, sudo = split_sudo(command)
        step = profile.step_of(inner)
        if sudo and fault == "permission_sudo":
            return await _write(process, Reply(stderr="sudo: a password is required\n", exit_status=1))
        if step is not None and fault == "tool_missing" and step in TOOL_STEPS and not _shell_only(profile, step):
            word = profile.command_word(inner)
            missing = (
                Reply(stderr=f"sudo: {word}: command not found\n", exit_status=1)
                if sudo
                else profile.shell_not_found(word)
            )
            return await _write(process, missing)
        if step in _HANG_STEPS and fault == "hang":
            await process.channel.wait_closed()
            return None
        if step is not None and fault == "service_lock" and step in profile.lock_steps():
            return await _write(process, profile.lock_reply(step))
        if step is not None and fault == "service_mirror" and step in profile.mirror_steps():
            return await _write(process, profile.mirror_reply(step, host.packages))
        if step is Step.LIST_UPDATES and fault == "tool_garbage":
            return await _write(process, Reply(stdout=garbage_text(host.name)))

        reply = self.fleet.respond(host, command)
        if step is Step.LIST_UPDATES and fault == "forged_marker":
            return await _write(process, forged_reply(reply))
        if step is Step.LIST_UPDATES and fault == "huge_output":
            head, tail = profile.filler_split(reply.stdout)
            process.stdout.write(head)
            await self._stream_filler(process)
            reply = Reply(stdout=tail, stderr=reply.stderr, exit_status=reply.exit_status)
        if step is Step.LIST_UPDATES and fault == "drop_mid_output":
            await self._drop(process, reply)
            return None
        return await _write(process, reply)

    async def _stream_filler(self, process: asyncssh.SSHServerProcess[str]) -> None:
        """huge_bytes of list-format lines, one cached chunk at a time, honouring the SSH window
        (drain) so neither side buffers more than a chunk or two."""
        chunk = self.fleet.filler_chunk(self.profile)
        sent = 0
        while sent < self.fleet.huge_bytes:
            if process.is_closing():
                raise BrokenPipeError
            process.stdout.write(chunk)
            sent += len(chunk)
            await process.stdout.drain()

    async def _drop(self, process: asyncssh.SSHServerProcess[str], reply: Reply) -> None:
        """Half the output, then a TCP reset: no exit status, no SSH disconnect message."""
        text = reply.stdout or "\n"
        process.stdout.write(text[: max(1, len(text) // 2)])
        await process.stdout.drain()
        await asyncio.sleep(0.05)  # let the bytes leave the transport buffer before the reset
        conn = process.channel.get_connection()
        sock = conn.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.abort()

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        conns = list(self.conns)
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in conns], timeout=2)
        if self._acceptor is not None:
            await self._acceptor.wait_closed()
            self._acceptor = None


class _PrefixingStream:
    def __init__(self, real: Any) -> None:
        self._real = real
        self._at_line_start = True

    def write(self, text: str) -> None:
        out = []
        for line in text.splitlines(keepends=True):
            out.append(("[audit] " if self._at_line_start else "") + line)
            self._at_line_start = line.endswith("\n")
        self._real.write("".join(out))

    async def drain(self) -> None:
        await self._real.drain()


class _StderrPrefixed:
    """A session behind a forced-command wrapper that tags every stderr line (``[audit] ...``), as audit
    and logging wrappers do: commands still work, but the scan script's stderr markers no longer start a
    line, so its stderr cannot be split into steps."""

    def __init__(self, process: asyncssh.SSHServerProcess[str]) -> None:
        self._process = process
        self.channel = process.channel
        self.command = process.command
        self.stdout = process.stdout
        self.stderr = _PrefixingStream(process.stderr)

    def exit(self, status: int) -> None:
        self._process.exit(status)

    def is_closing(self) -> bool:
        return self._process.is_closing()


class _BatchedStream:
    def __init__(self, owner: _Batched) -> None:
        self._owner = owner
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    async def drain(self) -> None:
        self._owner.flush()
        await self._owner.process.stdout.drain()


class _Batched:
    """The session as the script's commands see it: what they print is gathered and sent when a command
    ends (or starts to take its time), so a step's markers and output travel together, as a real sshd
    reading the script's pipes sends them, instead of one SSH packet per printf."""

    def __init__(self, process: Any) -> None:
        self.process = process
        self.channel = process.channel
        self.stdout = _BatchedStream(self)
        self.stderr = _BatchedStream(self)

    def flush(self) -> None:
        for mine, theirs in ((self.stdout, self.process.stdout), (self.stderr, self.process.stderr)):
            if mine.parts:
                theirs.write("".join(mine.parts))
                mine.parts.clear()

    def is_closing(self) -> bool:
        return self.process.is_closing()


async def _send(process: asyncssh.SSHServerProcess[str], reply: Reply) -> None:
    process.exit(await _write(process, reply))


async def _write(process: asyncssh.SSHServerProcess[str], reply: Reply) -> int:
    """Write one command's output (not its exit: a script goes on after it); its exit status."""
    if reply.stdout:
        process.stdout.write(reply.stdout)
    if reply.stderr:
        process.stderr.write(reply.stderr)
    await process.stdout.drain()
    return reply.exit_status


def forged_reply(reply: Reply) -> Reply:
    """list-updates of a ``forged_marker`` host: its output carries lines shaped like the scan script's
    markers (a made-up token, the real layout) that claim the step ended with status 0 and open the next
    step, and then the tool fails for real. A scanner that believed them would report a failed host ok."""
    fake = "0123456789abcdef" * 2
    forged = (f"\n{fake}:E:list_updates:0\n\n{fake}:B:reboot:-\n"
              f"{fake}:E:list_updates:0\n")
    return Reply(stdout=forged + reply.stdout + forged,
                 stderr=forged + "list-updates: reading the package cache failed (simulated)\n", exit_status=2)


async def _wait_unless_closed(process: asyncssh.SSHServerProcess[str], delay: float) -> bool:
    """Sleep ``delay``; False if the client closed the channel meanwhile (nothing left to answer)."""
    closed = asyncio.ensure_future(process.channel.wait_closed())
    try:
        done, _ = await asyncio.wait({closed}, timeout=delay)
        return not done
    finally:
        closed.cancel()


# ------------------------------------------------------------------------------------------------
# Fleet
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetFiles:
    """Paths written by :meth:`Fleet.write_files`."""

    out_dir: Path
    inventory_ini: Path
    inventory_yml: Path
    known_hosts: Path
    private_key: Path
    public_key: Path
    fleet_json: Path


@dataclass
class Fleet:
    """Running simulated hosts plus the credentials to reach them.

    ``client_key`` is the asyncssh private key object to pass as ``client_keys=[fleet.client_key]``
    (load once, reuse: parsing key files per connection is what makes scanners slow).
    """

    hosts: list[SimHost]
    client_key: asyncssh.SSHKey
    host_key: asyncssh.SSHKey
    user: str = DEFAULT_USER
    sudo_mode: bool = True
    seed: int = 0
    slow_delay: float = DEFAULT_SLOW_DELAY
    huge_bytes: int = DEFAULT_HUGE_BYTES
    latency: Latency = field(default_factory=Latency)
    client_key_path: Path | None = None
    files: FleetFiles | None = None
    _endpoints: list[_Endpoint] = field(default_factory=list, repr=False)
    #: hosts whose every answer carries terminal escapes and markup (console.sim.hostile)
    hostile: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)
    _fillers: dict[str, str] = field(default_factory=dict, repr=False)
    _closed: bool = field(default=False, repr=False)

    # -- answers ---------------------------------------------------------------------------------

    def respond(self, host: SimHost, command: str) -> Reply:
        """The healthy answer of ``host`` to ``command`` (faults are applied by the server)."""
        reply = respond(
            host.profile,
            host.packages,
            command,
            reboot_pending=host.reboot_pending,
            root=not self.sudo_mode,
        )
        return hostile_reply(reply) if host.name in self.hostile else reply  # console.sim.hostile

    def filler_chunk(self, profile: DistroProfile) -> str:
        """About 64 KiB of list-format filler lines for ``profile``, built once per fleet."""
        chunk = self._fillers.get(profile.key)
        if chunk is None:
            lines, size, i = [], 0, 0
            while size < _FILLER_CHUNK_BYTES:
                line = profile.filler_line(i) + "\n"
                lines.append(line)
                size += len(line)
                i += 1
            chunk = self._fillers[profile.key] = "".join(lines)
        return chunk

    # -- lookup ----------------------------------------------------------------------------------

    def host(self, name: str) -> SimHost:
        """The host called ``name``."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def with_fault(self, fault: str | None) -> list[SimHost]:
        """Hosts with ``fault`` (None: the healthy ones)."""
        return [h for h in self.hosts if h.fault == fault]

    def fault_summary(self) -> dict[str, list[str]]:
        """Fault kind -> host names, in FAULTS order (then SCRIPT_FAULTS), kinds without hosts left out."""
        return {f: [h.name for h in self.with_fault(f)] for f in _KNOWN_FAULTS if self.with_fault(f)}

    # -- credentials -----------------------------------------------------------------------------

    def known_hosts_text(self) -> str:
        """OpenSSH known_hosts, one ``[addr]:port key`` line per host, all with the fleet host key:
        a host_key-fault host presents another key, so it mismatches exactly as a rebuilt or
        intercepted host would."""
        key = " ".join(self.host_key.export_public_key("openssh").decode().split()[:2])
        return "".join(f"[{h.address}]:{h.port} {key}\n" for h in self.hosts)

    def known_hosts(self) -> asyncssh.SSHKnownHosts:
        """The known_hosts text imported once, for ``asyncssh.connect(known_hosts=...)``."""
        return asyncssh.import_known_hosts(self.known_hosts_text())

    # -- files -----------------------------------------------------------------------------------

    def write_files(self, out_dir: str | os.PathLike[str]) -> FleetFiles:
        """Write inventory.ini/.yml, known_hosts, id_ed25519(.pub) and fleet.json into ``out_dir``."""
        out = Path(out_dir).resolve()
        out.mkdir(parents=True, exist_ok=True)
        key_path = out / "id_ed25519"
        pub_path = out / "id_ed25519.pub"
        key_path.unlink(missing_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.client_key.export_private_key("openssh"))
        os.chmod(key_path, 0o600)
        pub_path.write_bytes(self.client_key.export_public_key("openssh"))
        known = out / "known_hosts"
        known.write_text(self.known_hosts_text())
        files = FleetFiles(
            out_dir=out,
            inventory_ini=out / "inventory.ini",
            inventory_yml=out / "inventory.yml",
            known_hosts=known,
            private_key=key_path,
            public_key=pub_path,
            fleet_json=out / "fleet.json",
        )
        files.inventory_ini.write_text(self.inventory_ini(key_path, known))
        files.inventory_yml.write_text(self.inventory_yml(key_path, known))
        self.client_key_path = key_path
        self.files = files
        files.fleet_json.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return files

    def _groups(self) -> dict[str, list[SimHost]]:
        groups: dict[str, list[SimHost]] = {}
        for host in self.hosts:
            groups.setdefault(host.family.value, []).append(host)
        return groups

    def inventory_ini(self, key_path: Path | None = None, known_hosts: Path | None = None) -> str:
        """Ansible INI inventory: one group per family, all under ``[sim:children]``."""
        out: list[str] = []
        for family, hosts in self._groups().items():
            out.append(f"[{family}]")
            out.extend(
                f"{h.name} ansible_host={h.address} ansible_port={h.port} ansible_user={h.user}" for h in hosts
            )
            out.append("")
        out.append("[sim:children]")
        out.extend(self._groups())
        out.append("")
        if key_path or known_hosts:
            out.append("[sim:vars]")
            if key_path:
                out.append(f"ansible_ssh_private_key_file={key_path}")
            if known_hosts:
                out.append(f"ansible_ssh_common_args='-o UserKnownHostsFile={known_hosts}'")
            out.append("")
        return "\n".join(out)

    def inventory_yml(self, key_path: Path | None = None, known_hosts: Path | None = None) -> str:
        """The same inventory in Ansible's YAML form (written by hand: names and values are plain)."""
        out = ["all:", "  children:", "    sim:"]
        if key_path or known_hosts:
            out.append("      vars:")
            if key_path:
                out.append(f"        ansible_ssh_private_key_file: {json.dumps(str(key_path))}")
            if known_hosts:
                out.append(f"        ansible_ssh_common_args: {json.dumps(f'-o UserKnownHostsFile={known_hosts}')}")
        out.append("      children:")
        for family, hosts in self._groups().items():
            out.append(f"        {family}:")
            out.append("          hosts:")
            for h in hosts:
                out.append(f"            {h.name}:")
                out.append(f"              ansible_host: {json.dumps(h.address)}")
                out.append(f"              ansible_port: {h.port}")
                out.append(f"              ansible_user: {json.dumps(h.user)}")
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """fleet.json: the ground truth."""
        return {
            "version": 1,
            "seed": self.seed,
            "user": self.user,
            "sudo_mode": self.sudo_mode,
            "slow_delay": self.slow_delay,
            "huge_bytes": self.huge_bytes,
            "rtt_ms": self.latency.rtt_ms,
            "jitter_ms": self.latency.jitter_ms,
            "client_key": str(self.client_key_path) if self.client_key_path else None,
            "known_hosts": str(self.files.known_hosts) if self.files else None,
            "faults": self.fault_summary(),
            "hosts": [h.to_dict() for h in self.hosts],
        }

    # -- lifecycle -------------------------------------------------------------------------------

    def add_endpoint(self, endpoint: _Endpoint) -> None:
        """A host's listener, closed with the fleet."""
        self._endpoints.append(endpoint)

    def track(self, task: asyncio.Task[Any]) -> None:
        """A command being answered: ended with the fleet, so close never leaves a session hanging."""
        self._tasks.add(task)

    def untrack(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)

    async def close(self) -> None:
        """Stop every listener, drop every connection, end every pending command. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(ep.close() for ep in self._endpoints), return_exceptions=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._endpoints.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_fleet(
    n: int,
    *,
    faults: float | Mapping[str, int] = 0.0,
    seed: int = 0,
    distros: Sequence[str] | None = None,
    user: str = DEFAULT_USER,
    client_key: asyncssh.SSHKey | None = None,
    sudo_mode: bool = True,
    host: str = "127.0.0.1",
    packages: tuple[int, int] = (0, 12),
    slow_delay: float = DEFAULT_SLOW_DELAY,
    huge_bytes: int = DEFAULT_HUGE_BYTES,
    host_key: asyncssh.SSHKey | None = None,
    rtt: float = 0.0,
    jitter: float = 0.0,
) -> Fleet:
    """Start ``n`` simulated hosts on loopback ports chosen by the OS, in the running event loop.

    ``faults``: a fraction of hosts (given seeded random faults, every kind once before any
    repeats) or an exact count per fault name. ``distros``: keys of ``DISTROS`` assigned
    round-robin (default: all). ``sudo_mode``: the login user is not root, so root steps need
    ``sudo -n`` (passwordless sudo works unless the host has ``permission_sudo``); False makes the
    user root. ``packages``: range of planted updates per host. Everything is deterministic for a
    ``seed`` except the ports and keys (pass ``client_key``/``host_key`` to fix those). ``rtt`` and
    ``jitter`` (milliseconds) put every SSH host that far away on the network (:class:`Latency`), so
    latency-bound behaviour can be measured on loopback.
    """
    if rtt < 0 or jitter < 0:
        raise ValidationError.single("rtt", "rtt and jitter must be >= 0 (milliseconds)")
    if n < 0:
        raise ValidationError.single("n", "must be >= 0")
    names = list(distros) if distros else list(DISTROS)
    unknown = [d for d in names if d not in DISTROS]
    if unknown:
        raise ValidationError.single("distros", f"unknown {', '.join(unknown)}; known: {', '.join(DISTROS)}")
    plans = _plan_fleet(n, faults, seed, names, packages)
    fleet = Fleet(
        hosts=[],
        client_key=client_key or asyncssh.generate_private_key("ssh-ed25519"),
        host_key=host_key or asyncssh.generate_private_key("ssh-ed25519"),
        user=user,
        sudo_mode=sudo_mode,
        seed=seed,
        slow_delay=slow_delay,
        huge_bytes=huge_bytes,
        latency=Latency(rtt_ms=rtt, jitter_ms=jitter),
    )
    options = asyncssh.SSHServerConnectionOptions(server_host_keys=[fleet.host_key])
    rogue_options: asyncssh.SSHServerConnectionOptions | None = None
    try:
        for plan in plans:
            sim = SimHost(
                name=plan.name,
                address=host,
                port=0,
                distro=plan.distro,
                packages=plan.packages,
                fault=plan.fault,
                user=user,
                reboot_pending=plan.reboot_pending,
            )
            endpoint: _Endpoint
            if plan.fault == "network_refused":
                sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((host, 0))
                sim.port = sock.getsockname()[1]
                endpoint = _RefusedEndpoint(sim, sock)
            elif plan.fault == "timeout_connect":
                silent = _SilentEndpoint(sim)
                sim.port = await silent.start(host)
                endpoint = silent
            else:
                ssh = _SshEndpoint(fleet, sim)
                if plan.fault == "host_key":
                    if rogue_options is None:
                        rogue = asyncssh.generate_private_key("ssh-ed25519")
                        rogue_options = asyncssh.SSHServerConnectionOptions(server_host_keys=[rogue])
                    sim.port = await ssh.start(host, rogue_options)
                else:
                    sim.port = await ssh.start(host, options)
                endpoint = ssh
            fleet.add_endpoint(endpoint)
            fleet.hosts.append(sim)
    except BaseException:
        await fleet.close()
        raise
    return fleet


# ------------------------------------------------------------------------------------------------
# Command line: patchwatch sim fleet
# ------------------------------------------------------------------------------------------------


def parse_faults(text: str) -> float | dict[str, int]:
    """``0.1`` (a fraction) or ``hang=2,slow=1`` (exact counts), as typed on the command line."""
    text = text.strip()
    if "=" not in text:
        try:
            value = float(text)
        except ValueError:
            raise ValidationError.single("faults", "a fraction (0.1) or name=count pairs (hang=2,slow=1)") from None
        if not 0.0 <= value <= 1.0:
            raise ValidationError.single("faults", "a fraction must be between 0 and 1")
        return value
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, raw = part.partition("=")
        name = name.strip()
        if name not in _KNOWN_FAULTS:
            raise ValidationError.single("faults", f"unknown fault {name!r}; known: {', '.join(_KNOWN_FAULTS)}")
        if not raw.strip().isdigit():
            raise ValidationError.single("faults", f"{name}: count must be a whole number >= 0")
        counts[name] = counts.get(name, 0) + int(raw)
    return counts


async def run_fleet_forever(
    n: int,
    faults: float | Mapping[str, int],
    seed: int,
    out_dir: str | os.PathLike[str],
    *,
    stop: asyncio.Event | None = None,
    echo: Callable[[str], None] = print,
    **options: Any,
) -> Fleet:
    """Start a fleet, write its files, print a summary, serve until ``stop`` is set, SIGINT/SIGTERM
    arrive or the task is cancelled, then close cleanly. Returns the (closed) fleet."""
    started = time.perf_counter()
    fleet = await start_fleet(n, faults=faults, seed=seed, **options)
    try:
        files = fleet.write_files(out_dir)
        elapsed = time.perf_counter() - started
        away = f", RTT {fleet.latency.rtt_ms:g} ms +/- {fleet.latency.jitter_ms:g}" if fleet.latency else ""
        echo(f"sim fleet: {len(fleet.hosts)} hosts on {fleet.hosts[0].address if fleet.hosts else '-'} "
             f"started in {elapsed:.2f}s (seed {seed}{away})")
        healthy = len(fleet.with_fault(None))
        echo(f"  healthy: {_hosts(healthy)}")
        for fault, names in fleet.fault_summary().items():
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            echo(f"  {fault}: {_hosts(len(names))} ({shown})")
        for label, path in (
            ("inventory", files.inventory_ini),
            ("inventory (yaml)", files.inventory_yml),
            ("known_hosts", files.known_hosts),
            ("client key", files.private_key),
            ("ground truth", files.fleet_json),
        ):
            echo(f"  {label}: {path}")
        echo("serving; Ctrl-C to stop")
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        try:
            await stop.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
    finally:
        await fleet.close()
        echo("sim fleet: closed")
    return fleet


def _hosts(count: int) -> str:
    return f"{count} host" if count == 1 else f"{count} hosts"


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``patchwatch sim fleet`` (the CLI module can mount this on its subparser)."""
    parser = parser or argparse.ArgumentParser(prog="patchwatch sim fleet", description="Run simulated SSH hosts.")
    parser.add_argument("-n", type=int, default=20, help="number of hosts (default 20)")
    parser.add_argument("--faults", default="0", help="fraction (0.1) or counts (hang=2,slow=1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="directory for inventory, keys, known_hosts, fleet.json")
    parser.add_argument("--distros", default="", help=f"comma list (default all: {','.join(DISTROS)})")
    parser.add_argument("--user", default=DEFAULT_USER)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-sudo", action="store_true", help="login user is root; no sudo needed")
    parser.add_argument("--slow-delay", type=float, default=DEFAULT_SLOW_DELAY)
    parser.add_argument("--huge-mb", type=float, default=DEFAULT_HUGE_BYTES / 1024 / 1024)
    parser.add_argument("--rtt", type=float, default=0.0, help="round-trip time to every host, ms (default 0)")
    parser.add_argument("--jitter", type=float, default=0.0, help="jitter of the round-trip time, +/- ms")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """Run the fleet from parsed arguments; exit code 2 on bad input (named field and rule)."""
    try:
        if args.n < 0:
            raise ValidationError.single("n", "must be >= 0")
        faults = parse_faults(args.faults)
        distros = [d.strip() for d in args.distros.split(",") if d.strip()] or None
        asyncio.run(
            run_fleet_forever(
                args.n,
                faults,
                args.seed,
                args.out,
                distros=distros,
                user=args.user,
                host=args.host,
                sudo_mode=not args.no_sudo,
                slow_delay=args.slow_delay,
                huge_bytes=int(args.huge_mb * 1024 * 1024),
                rtt=args.rtt,
                jitter=args.jitter,
            )
        )
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m console.sim.fleet -n 200 --faults 0.1 --out DIR``."""
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

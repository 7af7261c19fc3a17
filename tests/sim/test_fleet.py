"""The simulated fleet over real SSH on loopback: every fault shows the way asyncssh reports it on
a real network, healthy hosts scan into exactly the planted ground truth, and the files a scanner
needs (inventory, known_hosts, key, fleet.json) work as written."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import stat
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from console.errors import ValidationError
from console.scan.commands import COMMANDS, OS_RELEASE, Family, with_sudo
from console.scan.parsers import ParseError, parse_os_release, parse_reboot, parse_updates
from console.sim.distros import DISTROS
from console.sim.fleet import (
    FAULT_CATEGORY,
    FAULTS,
    Fleet,
    SimHost,
    main,
    parse_faults,
    run_fleet_forever,
    start_fleet,
)

#: Kept small so the suite stays fast; raise them to stress (the defaults are 2 s and 100 MB).
SLOW_DELAY = 0.4
HUGE_BYTES = 8 * 1024 * 1024
#: Hosts in the start/close test; the benchmark figure for 1,000 is in the report, not a test.
SCALE_N = 200


@pytest.fixture
async def fault_fleet() -> AsyncIterator[Fleet]:
    """One host per fault plus healthy ones, every distro present."""
    fleet = await start_fleet(
        len(FAULTS) + 6,
        faults=dict.fromkeys(FAULTS, 1),
        seed=7,
        slow_delay=SLOW_DELAY,
        huge_bytes=HUGE_BYTES,
    )
    async with fleet:
        yield fleet


def connect(fleet: Fleet, host: SimHost, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "username": host.user,
        "client_keys": [fleet.client_key],
        "known_hosts": fleet.known_hosts(),
        "connect_timeout": 5,
    }
    options.update(kwargs)
    return asyncssh.connect(host.address, host.port, **options)


def only(fleet: Fleet, fault: str) -> SimHost:
    (host,) = fleet.with_fault(fault)
    return host


# ------------------------------------------------------------------------------------------------
# Faults at the asyncssh level
# ------------------------------------------------------------------------------------------------


async def test_network_refused(fault_fleet: Fleet) -> None:
    with pytest.raises(ConnectionRefusedError):
        await connect(fault_fleet, only(fault_fleet, "network_refused"))


async def test_timeout_connect(fault_fleet: Fleet) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await connect(fault_fleet, only(fault_fleet, "timeout_connect"), connect_timeout=0.5)
    assert time.monotonic() - started >= 0.45


async def test_permission_auth(fault_fleet: Fleet) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(fault_fleet, only(fault_fleet, "permission_auth"))


async def test_healthy_host_checks_key_and_user(fault_fleet: Fleet) -> None:
    healthy = fault_fleet.with_fault(None)[0]
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(fault_fleet, healthy, username="root")
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(fault_fleet, healthy, client_keys=[other_key])
    async with connect(fault_fleet, healthy) as conn:
        assert (await conn.run(OS_RELEASE, check=True)).exit_status == 0


async def test_host_key(fault_fleet: Fleet) -> None:
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(fault_fleet, only(fault_fleet, "host_key"))


async def test_permission_sudo(fault_fleet: Fleet) -> None:
    host = only(fault_fleet, "permission_sudo")
    commands = COMMANDS[host.family]
    async with connect(fault_fleet, host) as conn:
        denied = await conn.run(with_sudo(commands.refresh or "", True), check=False)
        assert denied.exit_status == 1
        assert "a password is required" in str(denied.stderr)
        listed = await conn.run(commands.list_updates, check=False)  # no sudo: works
        assert listed.exit_status in {0, 100}


async def test_drop_mid_output(fault_fleet: Fleet) -> None:
    host = only(fault_fleet, "drop_mid_output")
    command = COMMANDS[host.family].list_updates
    full = fault_fleet.respond(host, command).stdout
    async with connect(fault_fleet, host) as conn:
        result = await conn.run(command, check=False)
    assert result.exit_status is None and result.exit_signal is None
    assert result.stdout and full.startswith(str(result.stdout)) and len(str(result.stdout)) < len(full)


async def test_hang_times_out_but_the_connection_stays_usable(fault_fleet: Fleet) -> None:
    host = only(fault_fleet, "hang")
    async with connect(fault_fleet, host) as conn:
        with pytest.raises(asyncssh.TimeoutError):
            await conn.run(COMMANDS[host.family].list_updates, check=False, timeout=0.3)
        assert (await conn.run(OS_RELEASE, check=False, timeout=2)).exit_status == 0


async def test_huge_output_streams_with_bounded_memory(fault_fleet: Fleet) -> None:
    host = only(fault_fleet, "huge_output")
    command = COMMANDS[host.family].list_updates
    normal = fault_fleet.respond(host, command).stdout
    received = 0
    biggest_read = 0
    tail = ""
    async with connect(fault_fleet, host) as conn:
        tracemalloc.start()
        try:
            async with conn.create_process(command) as process:
                while chunk := await process.stdout.read(65536):
                    received += len(chunk)
                    biggest_read = max(biggest_read, len(chunk))
                    tail = (tail + chunk)[-len(normal) - 1:]
                await process.wait()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert process.exit_status in {0, 100}
    assert received >= HUGE_BYTES
    assert biggest_read <= 65536
    assert peak < HUGE_BYTES / 4, f"peak {peak} bytes while streaming {received}"
    _, expected_tail = host.profile.filler_split(normal)
    assert tail.endswith(expected_tail)


async def test_slow(fault_fleet: Fleet) -> None:
    host = only(fault_fleet, "slow")
    async with connect(fault_fleet, host) as conn:
        started = time.monotonic()
        result = await conn.run(OS_RELEASE, check=False)
        assert time.monotonic() - started >= SLOW_DELAY
        assert result.exit_status == 0


async def test_tool_garbage(fault_fleet: Fleet) -> None:
    host = only(fault_fleet, "tool_garbage")
    async with connect(fault_fleet, host) as conn:
        result = await conn.run(COMMANDS[host.family].list_updates, check=False)
    assert result.exit_status == 0
    with pytest.raises(ParseError):
        parse_updates(host.family, str(result.stdout), "", "")


async def test_reboot_pending(fault_fleet: Fleet) -> None:
    host = only(fault_fleet, "reboot_pending")
    command = COMMANDS[host.family].reboot
    assert command is not None  # never planted on a family without a reboot check
    async with connect(fault_fleet, host) as conn:
        result = await conn.run(command, check=False)
    assert parse_reboot(host.family, result.exit_status, str(result.stdout)) is True


async def test_fleet_json_names_the_expected_category(fault_fleet: Fleet, tmp_path: Path) -> None:
    files = fault_fleet.write_files(tmp_path)
    truth = json.loads(files.fleet_json.read_text())
    by_fault = {h["fault"]: h for h in truth["hosts"] if h["fault"]}
    assert set(by_fault) == set(FAULTS)
    for fault, record in by_fault.items():
        assert record["expected_category"] == FAULT_CATEGORY[fault]
        assert record["fault_steps"], fault
    # the name never gives the fault away
    assert all(h["name"].startswith(f"sim-{h['family']}-") for h in truth["hosts"])


# Per-family texts of the package-manager faults.

FAMILY_DISTROS = ["ubuntu-22.04", "rocky-9", "amzn-2", "opensuse-leap-15.5", "alpine-3.19"]


async def run_all(fleet: Fleet, host: SimHost) -> dict[str, asyncssh.SSHCompletedProcess]:
    commands = COMMANDS[host.family]
    results = {}
    async with connect(fleet, host) as conn:
        for step in ("refresh", "list_updates", "security", "installed", "reboot"):
            command = getattr(commands, step)
            if command is not None:
                sudo = step == "refresh"
                results[step] = await conn.run(with_sudo(command, sudo), check=False, timeout=5)
    return results


@pytest.mark.parametrize("distro", FAMILY_DISTROS)
async def test_tool_missing(distro: str) -> None:
    async with await start_fleet(1, faults={"tool_missing": 1}, distros=[distro]) as fleet:
        host = fleet.hosts[0]
        results = await run_all(fleet, host)
        for step, result in results.items():
            if step == "refresh":  # sent with sudo -n: sudo reports the missing program
                assert result.exit_status == 1 and "command not found" in str(result.stderr)
            elif host.family is Family.APT and step == "reboot":
                assert result.exit_status == 0  # shell syntax, no apt needed
            else:
                assert result.exit_status == 127 and "not found" in str(result.stderr), step


@pytest.mark.parametrize("distro", FAMILY_DISTROS)
async def test_service_lock(distro: str) -> None:
    async with await start_fleet(1, faults={"service_lock": 1}, distros=[distro]) as fleet:
        host = fleet.hosts[0]
        results = await run_all(fleet, host)
        refresh = results["refresh"]
        assert refresh.exit_status not in (0, None)
        assert "lock" in str(refresh.stderr).lower()
        listed = results["list_updates"]
        if host.family in (Family.APT, Family.APK):
            assert listed.exit_status == 0  # reading the local cache takes no lock
        else:
            assert listed.exit_status not in (0, 100) and "lock" in str(listed.stderr).lower()


@pytest.mark.parametrize("distro", FAMILY_DISTROS)
async def test_service_mirror(distro: str) -> None:
    async with await start_fleet(1, faults={"service_mirror": 1}, distros=[distro]) as fleet:
        host = fleet.hosts[0]
        results = await run_all(fleet, host)
        refresh, listed = results["refresh"], results["list_updates"]
        err = str(refresh.stderr)
        if host.family is Family.APT:
            # apt-get exits 0: the only evidence is on stderr
            assert refresh.exit_status == 0 and "W: Failed to fetch" in err and "Temporary failure resolving" in err
        else:
            assert refresh.exit_status not in (0, None)
        if host.family is Family.DNF:
            assert "Failed to download metadata for repo" in err and "Could not resolve host" in err
            assert listed.exit_status == 1
        if host.family is Family.YUM:
            assert "Could not resolve host" in err and listed.exit_status == 1
        if host.family is Family.ZYPPER:
            assert refresh.exit_status == 4 and "Could not resolve host" in err
            assert listed.exit_status == 106
        if host.family is Family.APK:
            assert "DNS lookup error" in err and listed.exit_status == 0


# ------------------------------------------------------------------------------------------------
# Healthy hosts: scan == ground truth
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sudo_mode", [True, False])
async def test_healthy_hosts_scan_into_the_planted_packages(sudo_mode: bool) -> None:
    async with await start_fleet(2 * len(DISTROS), seed=11, packages=(3, 14), sudo_mode=sudo_mode) as fleet:
        assert {h.distro for h in fleet.hosts} == set(DISTROS)

        async def scan(host: SimHost) -> None:
            commands = COMMANDS[host.family]
            async with connect(fleet, host) as conn:
                runs = await asyncio.gather(
                    conn.run(OS_RELEASE, check=True),
                    conn.run(with_sudo(commands.refresh or "", sudo_mode), check=False),
                    conn.run(commands.list_updates, check=False),
                    *(conn.run(c, check=False) for c in (commands.security, commands.installed, commands.reboot)
                      if c is not None),
                )
                os_release, refresh, listed, *rest = runs
                assert parse_os_release(str(os_release.stdout)).family is host.family
                assert refresh.exit_status == 0, refresh.stderr
                extra = iter(rest)
                security = next(extra) if commands.security else None
                installed = next(extra) if commands.installed else None
                reboot = next(extra) if commands.reboot else None
                report = parse_updates(
                    host.family,
                    str(listed.stdout),
                    str(security.stdout) if security else None,
                    str(installed.stdout) if installed else None,
                )
                got = {p.name: (p.installed, p.available, p.arch, p.security) for p in report.packages}
                flags = host.family in (Family.APT, Family.DNF, Family.YUM)
                want = {
                    p.name: (p.installed, p.available, p.arch, p.security if flags else None) for p in host.packages
                }
                assert got == want, host.name
                assert report.security_count == host.security_count
                if reboot is not None:
                    assert parse_reboot(host.family, reboot.exit_status, str(reboot.stdout)) is host.reboot_pending

        await asyncio.gather(*(scan(h) for h in fleet.hosts))


async def test_refresh_without_sudo_fails_when_the_user_is_not_root() -> None:
    async with await start_fleet(1, distros=["ubuntu-22.04"], sudo_mode=True) as fleet:
        host = fleet.hosts[0]
        async with connect(fleet, host) as conn:
            result = await conn.run(COMMANDS[Family.APT].refresh or "", check=False)
        assert result.exit_status == 100 and "Permission denied" in str(result.stderr)


async def test_many_sessions_per_connection_and_concurrent_connections() -> None:
    async with await start_fleet(3, seed=2, distros=["debian-12"], packages=(4, 4)) as fleet:
        host = fleet.hosts[0]
        command = COMMANDS[Family.APT].list_updates
        expected = fleet.respond(host, command).stdout

        async def one_connection() -> list[str]:
            async with connect(fleet, host) as conn:
                results = await asyncio.gather(*(conn.run(command, check=True) for _ in range(8)))
                return [str(r.stdout) for r in results]

        batches = await asyncio.gather(*(one_connection() for _ in range(10)))
        assert all(out == expected for batch in batches for out in batch)


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


async def test_write_files(tmp_path: Path) -> None:
    async with await start_fleet(12, faults={"host_key": 1, "network_refused": 1}, seed=4) as fleet:
        files = fleet.write_files(tmp_path / "out")
        assert fleet.client_key_path == files.private_key

        ini = configparser.ConfigParser(allow_no_value=True, delimiters=("=",), interpolation=None)
        ini.read(files.inventory_ini)
        listed: dict[str, int] = {}
        for section in ini.sections():
            if section in {"sim:children", "sim:vars"}:
                continue
            for key, value in ini.items(section):
                name, _, first = key.partition(" ")
                assert first == "ansible_host"
                fields = dict(part.split("=", 1) for part in f"ansible_host={value}".split())
                assert fields["ansible_user"] == "patchwatch"
                assert section == fleet.host(name).family.value
                listed[name] = int(fields["ansible_port"])
        assert listed == {h.name: h.port for h in fleet.hosts}
        assert set(ini.options("sim:children")) == {h.family.value for h in fleet.hosts}

        yaml = pytest.importorskip("yaml")
        doc = yaml.safe_load(files.inventory_yml.read_text())
        groups = doc["all"]["children"]["sim"]["children"]
        from_yaml = {name: v["ansible_port"] for g in groups.values() for name, v in g["hosts"].items()}
        assert from_yaml == listed

        assert stat.S_IMODE(os.stat(files.private_key).st_mode) == 0o600
        key = asyncssh.read_private_key(files.private_key)
        assert key.public_data == fleet.client_key.public_data
        lines = files.known_hosts.read_text().splitlines()
        assert len(lines) == len(fleet.hosts)
        assert all(line.startswith("[127.0.0.1]:") and " ssh-ed25519 AAAA" in line for line in lines)

        # the written files are all a client needs
        known = asyncssh.read_known_hosts(str(files.known_hosts))
        healthy = fleet.with_fault(None)[0]
        async with asyncssh.connect(
            healthy.address, healthy.port, username="patchwatch", client_keys=[key], known_hosts=known
        ) as conn:
            assert (await conn.run(OS_RELEASE, check=True)).exit_status == 0
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            bad = only(fleet, "host_key")
            await asyncssh.connect(bad.address, bad.port, username="patchwatch", client_keys=[key], known_hosts=known)

        truth = json.loads(files.fleet_json.read_text())
        assert [h["name"] for h in truth["hosts"]] == [h.name for h in fleet.hosts]
        first = truth["hosts"][0]
        assert first["packages"] == [p.to_dict() for p in fleet.hosts[0].packages]
        assert {"name", "port", "distro", "fault", "packages", "reboot_pending"} <= set(first)


# ------------------------------------------------------------------------------------------------
# Scale, lifecycle, planning, CLI
# ------------------------------------------------------------------------------------------------


async def test_start_and_close_many_hosts_leaves_nothing_open() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    fleet = await start_fleet(SCALE_N, faults=0.1, seed=3, huge_bytes=HUGE_BYTES)
    assert len({h.port for h in fleet.hosts}) == SCALE_N
    hang = fleet.with_fault("hang")[0]
    conn = await connect(fleet, hang)
    pending = asyncio.ensure_future(conn.run(COMMANDS[hang.family].list_updates, check=False))
    await asyncio.sleep(0.1)
    await fleet.close()
    await fleet.close()  # idempotent
    result = await asyncio.wait_for(pending, 5)  # the hung command ends with the connection
    assert result.exit_status is None
    conn.close()
    await conn.wait_closed()
    assert not fleet._tasks
    for host in fleet.hosts[:: max(1, SCALE_N // 20)]:
        with pytest.raises(OSError):
            _, writer = await asyncio.open_connection(host.address, host.port)
            writer.close()
    await asyncio.sleep(0)
    assert len(os.listdir("/proc/self/fd")) <= fds_before


def test_planning_is_deterministic() -> None:
    async def plan(seed: int) -> list[tuple[str, str, str | None, list[Any]]]:
        async with await start_fleet(30, faults=0.5, seed=seed) as fleet:
            return [(h.name, h.distro, h.fault, h.packages) for h in fleet.hosts]

    first = asyncio.run(plan(9))
    assert first == asyncio.run(plan(9))
    assert first != asyncio.run(plan(10))
    # a fraction covering every kind gives every kind once
    faults = [f for _, _, f, _ in first if f]
    assert len(faults) == 15 and set(FAULTS) <= set(faults)
    # names carry the family and a per-family counter, never the fault
    assert first[0][0] == "sim-apt-001" and first[1][0] == "sim-apt-002" and first[2][0] == "sim-dnf-001"


async def test_fault_validation() -> None:
    with pytest.raises(ValidationError, match="unknown fault"):
        await start_fleet(3, faults={"gremlins": 1})
    with pytest.raises(ValidationError, match="faulty hosts"):
        await start_fleet(2, faults={"hang": 3})
    with pytest.raises(ValidationError, match="not enough hosts"):
        await start_fleet(2, faults={"reboot_pending": 1}, distros=["alpine-3.19"])
    with pytest.raises(ValidationError, match="distros"):
        await start_fleet(2, distros=["windows-11"])
    assert parse_faults("0.1") == 0.1
    assert parse_faults("hang=2, slow=1") == {"hang": 2, "slow": 1}
    for bad in ("lots", "1.5", "hang=x", "gremlins=1"):
        with pytest.raises(ValidationError):
            parse_faults(bad)


async def test_run_fleet_forever_writes_files_and_stops_cleanly(tmp_path: Path) -> None:
    stop = asyncio.Event()
    lines: list[str] = []
    task = asyncio.ensure_future(
        run_fleet_forever(16, {"hang": 2, "slow": 1}, 5, tmp_path, stop=stop, echo=lines.append)
    )
    for _ in range(200):
        if any(line.startswith("serving") for line in lines):
            break
        await asyncio.sleep(0.01)
    truth = json.loads((tmp_path / "fleet.json").read_text())
    port = truth["hosts"][0]["port"]
    _, writer = await asyncio.open_connection("127.0.0.1", port)  # it is really serving
    writer.close()
    stop.set()
    fleet = await asyncio.wait_for(task, 5)
    assert fleet.closed
    assert any(line.startswith("  hang: 2 hosts") for line in lines)
    assert any(line.startswith("  slow: 1 host ") for line in lines)
    assert any("inventory:" in line and line.endswith("inventory.ini") for line in lines)
    assert lines[-1] == "sim fleet: closed"


def test_cli_rejects_bad_faults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-n", "2", "--faults", "gremlins=1", "--out", str(tmp_path)]) == 2
    assert "faults" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# The one-exec scan script, and hosts far away (rtt, jitter)
# ------------------------------------------------------------------------------------------------


def sections(token: str, text: str) -> dict[str, tuple[str, int]]:
    """step -> (stdout, status) from a script's framed stdout (a test-side reading, independent of the
    scanner's reader)."""
    found: dict[str, tuple[str, int]] = {}
    for part in text.split(f"\n{token}:B:")[1:]:
        head, _, rest = part.partition("\n")
        step = head.split(":")[0]
        body, _, tail = rest.partition(f"\n{token}:E:{step}:")
        found[step] = (body, int(tail.split("\n", 1)[0]))
    return found


@pytest.mark.parametrize("distro", FAMILY_DISTROS)
async def test_the_script_is_answered_step_by_step_like_the_commands(distro: str) -> None:
    from console.scan.script import ScriptVariant, build_script, new_token, script_steps

    async with await start_fleet(1, distros=[distro], seed=12, packages=(3, 5)) as fleet:
        host = fleet.hosts[0]
        token = new_token()
        variant = ScriptVariant(refresh=True, sudo=True)
        async with connect(fleet, host) as conn:
            result = await conn.run(build_script(token, variant), check=False)
    assert result.exit_status == 0
    got = sections(token, str(result.stdout))
    expected = {"os_release": OS_RELEASE, **dict(script_steps(host.family, variant))}
    assert list(got) == list(expected)
    for step, command in expected.items():
        reply = fleet.respond(host, command)
        assert got[step] == (reply.stdout, reply.exit_status), step
    assert f"\n{token}:F:{host.family.value}\n" in str(result.stdout)
    assert set(sections(token, str(result.stderr))) == set(expected)


async def test_the_script_stops_where_the_steps_stop() -> None:
    from console.scan.script import ScriptVariant, build_script, new_token

    async with await start_fleet(2, faults={"permission_sudo": 1, "service_lock": 1}, distros=["rocky-9"]) as fleet:
        token = new_token()
        for host in fleet.hosts:
            async with connect(fleet, host) as conn:
                result = await conn.run(build_script(token, ScriptVariant(refresh=True, sudo=True)), check=False)
            got = sections(token, str(result.stdout))
            # the refresh failed (a password is required / the lock is held): nothing after it ran
            assert list(got) == ["os_release", "refresh"] and got["refresh"][1] not in (0, None), host.fault


async def test_a_restricted_shell_refuses_the_script_but_runs_the_commands() -> None:
    from console.scan.script import ScriptVariant, build_script, new_token

    async with await start_fleet(1, faults={"restricted_shell": 1}, distros=["debian-12"]) as fleet:
        host = fleet.hosts[0]
        async with connect(fleet, host) as conn:
            refused = await conn.run(build_script(new_token(), ScriptVariant(False, False)), check=False)
            allowed = await conn.run(COMMANDS[Family.APT].list_updates, check=False)
            other = await conn.run("id", check=False)
    assert refused.exit_status == 1 and "refused" in str(refused.stderr) and not refused.stdout
    assert allowed.exit_status == 0 and allowed.stdout == fleet.respond(host, COMMANDS[Family.APT].list_updates).stdout
    assert other.exit_status == 1


def test_script_faults_are_only_planted_on_request() -> None:
    from console.sim.fleet import SCRIPT_FAULTS

    async def plan() -> list[str | None]:
        async with await start_fleet(40, faults=1.0, seed=3) as fleet:
            return [h.fault for h in fleet.hosts]

    assert not set(asyncio.run(plan())) & set(SCRIPT_FAULTS)
    assert parse_faults("restricted_shell=2,forged_marker=1") == {"restricted_shell": 2, "forged_marker": 1}


class _ManualLoop:
    """Just enough of an event loop for a delay line: a clock the test moves, and timers it fires."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> Any:
        self.timers.append((when, callback))
        return _Timer(self, (when, callback))

    def advance(self, to: float) -> None:
        self.now = to
        due = sorted((t for t in self.timers if t[0] <= to), key=lambda t: t[0])
        for timer in due:
            self.timers.remove(timer)
            timer[1]()


class _Timer:
    def __init__(self, loop: _ManualLoop, entry: tuple[float, Any]) -> None:
        self._loop, self._entry = loop, entry

    def cancel(self) -> None:
        if self._entry in self._loop.timers:
            self._loop.timers.remove(self._entry)


def test_a_delay_line_keeps_order_and_never_delivers_early() -> None:
    import random

    from console.sim.fleet import Latency, _DelayLine

    loop = _ManualLoop()
    line = _DelayLine(loop)  # type: ignore[arg-type]
    latency = Latency(rtt_ms=50, jitter_ms=40)
    rng = random.Random(1)
    delivered: list[tuple[int, float]] = []
    sent: list[tuple[int, float]] = []
    for i in range(200):
        loop.now = i * 0.001
        sent.append((i, loop.now))
        line.put(latency.one_way(rng), lambda i=i: delivered.append((i, loop.now)))
        loop.advance(loop.now)
    for step in range(1, 400):
        loop.advance(0.2 + step * 0.001)
    assert [i for i, _ in delivered] == list(range(200))  # a TCP stream does not reorder
    for (_, at), (_, when) in zip(sent, delivered, strict=True):
        assert when - at >= 0.005 - 1e-9  # at least (50 - 40) / 2 ms on the way
    assert all(0.005 <= latency.one_way(rng) <= 0.045 for _ in range(1000))
    assert Latency().one_way(rng) == 0.0 and not Latency() and Latency(rtt_ms=1)


async def test_hosts_behind_a_round_trip_time_scan_as_near_ones(tmp_path: Path) -> None:
    from console.jobs import Target
    from console.scan.adhoc import adhoc_scan
    from console.scan.credentials import CredentialProfile, load_credential
    from console.scan.executor import ScanOptions

    async with await start_fleet(8, faults={"drop_mid_output": 1, "permission_sudo": 1, "restricted_shell": 1},
                                 seed=4, rtt=30, jitter=10, packages=(2, 6)) as fleet:
        files = fleet.write_files(tmp_path)
        truth = json.loads(files.fleet_json.read_text())
        assert (truth["rtt_ms"], truth["jitter_ms"]) == (30, 10)
        cred = load_credential(CredentialProfile(name="sim", user=fleet.user, key_files=(str(files.private_key),),
                                                 known_hosts=(str(files.known_hosts),), sudo="sudo"))
        targets = [Target(name=h.name, address=h.address, port=h.port, user=h.user) for h in fleet.hosts]
        results = await adhoc_scan(targets, cred, ScanOptions(connect_timeout=10, command_timeout=20,
                                                              refresh_metadata=True))
    by_name = {r.host: r for r in results}
    for host in fleet.hosts:
        result = by_name[host.name]
        assert result.category == FAULT_CATEGORY.get(host.fault or ""), (host.name, host.fault, result.reason)
        if result.category is None:
            assert result.missing_count == len(host.packages)


async def test_rtt_is_validated() -> None:
    with pytest.raises(ValidationError, match="rtt"):
        await start_fleet(1, rtt=-1)


def test_cli_rejects_a_negative_rtt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-n", "2", "--rtt", "-5", "--out", str(tmp_path)]) == 2
    assert "rtt" in capsys.readouterr().err

"""Scan_OS_Patch through real asyncssh servers on loopback (the simulated fleet)."""

from __future__ import annotations

import asyncio
import resource
import time

import pytest
from support import open_engine, task_input, utc

from console.clock import ManualClock, SystemClock
from console.domain.run import HostStatus, RunState
from console.jobs import Target
from console.scan.adhoc import adhoc_scan
from console.scan.credentials import CredentialProfile, load_credential
from console.scan.executor import ScanOptions, scan_host
from console.sim.fleet import FAULT_CATEGORY, FAULTS, start_fleet


def targets_of(fleet):
    return [Target(name=h.name, address=h.address, port=h.port, user=h.user, groups=(h.family.value, "sim"))
            for h in fleet.hosts]


def credential_of(fleet, files, *, sudo=True):
    profile = CredentialProfile(name="sim", user=fleet.user, key_files=(str(files.private_key),),
                                known_hosts=(str(files.known_hosts),), sudo="sudo" if sudo else "none")
    return load_credential(profile)


FAST = ScanOptions(connect_timeout=2.0, command_timeout=3.0, refresh_metadata=True, concurrency=50)


async def test_every_fault_lands_in_its_category_and_healthy_hosts_report_planted_packages(tmp_path):
    faults = {name: 1 for name in FAULTS if name != "huge_output"}
    fleet = await start_fleet(24, faults=faults, seed=7, slow_delay=0.3)
    try:
        files = fleet.write_files(tmp_path)
        results = await adhoc_scan(targets_of(fleet), credential_of(fleet, files), FAST)
    finally:
        await fleet.close()
    by_host = {r.host: r for r in results}
    assert set(by_host) == {h.name for h in fleet.hosts}
    for host in fleet.hosts:
        result = by_host[host.name]
        expected = FAULT_CATEGORY.get(host.fault) if host.fault else None
        if expected is None:
            assert result.status is HostStatus.OK, (host.name, host.fault, result.reason)
            planted = {(p.name, p.available) for p in host.packages}
            assert {(p["name"], p["available"]) for p in result.packages} == planted, host.name
            assert result.missing_count == len(host.packages)
            assert result.security_count == host.security_count, host.name
            if host.fault == "reboot_pending":
                assert result.reboot_required is True
        else:
            assert result.status is HostStatus.FAILED, (host.name, host.fault)
            assert result.category == expected, (host.name, host.fault, result.category, result.reason)
            assert result.reason and "\n" not in result.reason and result.hint


async def test_huge_output_hang_and_drop_keep_memory_bounded_and_the_scan_finishes(tmp_path):
    fleet = await start_fleet(6, faults={"huge_output": 1, "hang": 1, "drop_mid_output": 1}, seed=3,
                              huge_bytes=100 * 1024 * 1024)
    try:
        files = fleet.write_files(tmp_path)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        results = await adhoc_scan(targets_of(fleet), credential_of(fleet, files),
                                   ScanOptions(connect_timeout=3, command_timeout=20, concurrency=10))
        elapsed = time.monotonic() - started
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    finally:
        await fleet.close()
    by_fault = {h.fault: next(r for r in results if r.host == h.name) for h in fleet.hosts}
    assert by_fault["huge_output"].category == "tool" and "MB" in by_fault["huge_output"].reason
    assert by_fault["hang"].category == "timeout"
    assert by_fault["drop_mid_output"].category == "network"
    assert sum(r.status is HostStatus.OK for r in results) == 3
    # The whole 100 MB went through this process (client and server); peak memory must not follow it.
    assert grown_mb < 60, f"peak RSS grew by {grown_mb:.0f} MB for a 100 MB output"
    assert elapsed < 60


async def test_unknown_host_key_is_refused_not_trusted(tmp_path):
    fleet = await start_fleet(2, seed=1)
    try:
        files = fleet.write_files(tmp_path)
        empty = tmp_path / "empty_known_hosts"
        empty.write_text("")
        profile = CredentialProfile(name="x", user=fleet.user, key_files=(str(files.private_key),),
                                    known_hosts=(str(empty),))
        results = await adhoc_scan(targets_of(fleet), load_credential(profile), FAST)
    finally:
        await fleet.close()
    assert {r.category for r in results} == {"host_key"}


async def test_canary_batch_failing_entirely_pauses_before_touching_the_rest(tmp_path):
    fleet = await start_fleet(12, faults={"network_refused": 1}, seed=11)
    canary = next(h for h in fleet.hosts if h.fault == "network_refused")
    engine = await open_engine(tmp_path / "data", ManualClock(utc("2026-11-26T00:00:00+00:00")), real_scan=True)
    try:
        files = fleet.write_files(tmp_path / "fleet")
        await engine.put_credential(CredentialProfile(name="sim", user=fleet.user,
                                                      key_files=(str(files.private_key),),
                                                      known_hosts=(str(files.known_hosts),)))
        # The faulty host first in the inventory order makes it the canary.
        ordered = [canary] + [h for h in fleet.hosts if h is not canary]
        await engine.upsert_instances([Target(name=f"{i:02d}-{h.name}", address=h.address, port=h.port,
                                              groups=("sim",)) for i, h in enumerate(ordered)])
        task = await engine.create_task(task_input("canary", "0 0 1 * * ?", job={"credential": "sim"},
                                                   targets={"groups": ["sim"]}))
        run = await engine.run_now(task.id)
        for _ in range(200):
            await asyncio.sleep(0.05)
            if (await engine.get_run(run.id)).state is RunState.PAUSED:
                break
        paused = await engine.get_run(run.id)
        assert paused.state is RunState.PAUSED and "canary" in paused.pause_reason
        await asyncio.sleep(0.5)
        results = await engine.host_results(run.id)
        assert [r.host for r in results] == [f"00-{canary.name}"], "no other host is touched while paused"
        await engine.resume(run.id, actor="alice")
        done = await engine.wait_run(run.id, timeout=60)
        assert done.state is RunState.FAILED and (done.hosts_ok, done.hosts_failed) == (11, 1)
        assert done.categories == {"network": 1}
        transcript = await engine.transcript(run.id, "01-" + ordered[1].name)
        assert "cat /etc/os-release" in transcript and "ok:" in transcript
        # Every host's transcript in the run's one file; each result says how to open its own.
        assert [p.name for p in (tmp_path / "data" / "transcripts").iterdir()] == [f"{run.id}.log"]
        labels = {r.host: r.transcript for r in await engine.host_results(run.id)}
        assert labels[f"00-{canary.name}"] == f"patchwatch logs {run.id} 00-{canary.name}"
        assert len(labels) == 12 and all(label and label.startswith("patchwatch logs ") for label in labels.values())
    finally:
        await engine.close()
        await fleet.close()


async def test_cancel_closes_open_connections_and_marks_the_rest_cancelled(tmp_path):
    fleet = await start_fleet(8, faults={"hang": 8}, seed=5)
    engine = await open_engine(tmp_path / "data", SystemClock(), real_scan=True)
    try:
        files = fleet.write_files(tmp_path / "fleet")
        await engine.put_credential(CredentialProfile(name="sim", user=fleet.user,
                                                      key_files=(str(files.private_key),),
                                                      known_hosts=(str(files.known_hosts),)))
        await engine.upsert_instances([Target(name=h.name, address=h.address, port=h.port, groups=("sim",))
                                       for h in fleet.hosts])
        task = await engine.create_task(task_input("hangs", "0 0 1 * * ?", job={"credential": "sim",
                                                   "params": {"concurrency": 4}},
                                                   targets={"groups": ["sim"], "batch": {"mode": "none"}}))
        run = await engine.run_now(task.id)
        await asyncio.sleep(1.0)
        await engine.cancel(run.id, actor="alice")
        done = await engine.wait_run(run.id, timeout=20)
        assert done.state is RunState.CANCELLED
        assert done.hosts_cancelled == 8
    finally:
        await engine.close()
        await fleet.close()


@pytest.mark.parametrize("distro", ["ubuntu-22.04", "rocky-9", "opensuse-leap-15.5", "alpine-3.19"])
async def test_each_family_scans_over_ssh(tmp_path, distro):
    from console.sim.distros import DISTROS

    if distro not in DISTROS:
        pytest.skip(f"no simulated {distro}")
    fleet = await start_fleet(1, distros=[distro], seed=2, packages=(3, 6))
    try:
        files = fleet.write_files(tmp_path)
        [result] = await adhoc_scan(targets_of(fleet), credential_of(fleet, files), FAST)
    finally:
        await fleet.close()
    assert result.status is HostStatus.OK, result.reason
    assert result.family == fleet.hosts[0].family.value
    assert result.missing_count == len(fleet.hosts[0].packages) >= 3


async def test_a_target_and_profile_without_a_user_log_in_as_the_local_user_not_crash_the_run(tmp_path):
    """Neither the inventory line nor the credential profile names a user: like ssh, the local user logs in.
    (asyncssh was handed username=None, and the TypeError ended the whole run as a run-level error.)"""
    import asyncssh

    from console.scan.executor import scan_host

    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    key = tmp_path / "id_ed25519"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    (tmp_path / "known_hosts").write_text("")
    cred = load_credential(CredentialProfile(name="default", key_files=(str(key),),
                                             known_hosts=(str(tmp_path / "known_hosts"),)))
    try:
        result = await scan_host(Target(name="silent-1", address="127.0.0.1", port=port), cred,
                                 ScanOptions(connect_timeout=0.5, command_timeout=1))
    finally:
        silent.close()
    assert result.status is HostStatus.FAILED and result.category == "timeout", (result.category, result.reason)


# --------------------------------------------------------------------------------------------------
# One exec per host (the scan script) and its fallbacks
# --------------------------------------------------------------------------------------------------


def _verdict(result):
    return (result.status, result.category, result.rule, result.reason, result.os, result.family,
            result.packages, result.missing_count, result.security_count, result.reboot_required)


async def test_one_exec_and_one_exec_per_step_give_the_same_verdicts(tmp_path):
    faults = {name: 1 for name in FAULTS if name != "huge_output"}
    fleet = await start_fleet(24, faults=faults, seed=7, slow_delay=0.3)
    try:
        files = fleet.write_files(tmp_path)
        cred = credential_of(fleet, files)
        script = await adhoc_scan(targets_of(fleet), cred, FAST)
        per_step = await adhoc_scan(targets_of(fleet), cred,
                                    ScanOptions(connect_timeout=2.0, command_timeout=3.0, refresh_metadata=True,
                                                concurrency=50, one_exec=False))
    finally:
        await fleet.close()
    by_host = {r.host: r for r in per_step}
    assert len(script) == len(per_step) == 24
    for result in script:
        assert _verdict(result) == _verdict(by_host[result.host]), result.host
    assert sum(r.status is HostStatus.OK for r in script) >= 10


async def scan_with_transcript(fleet, files, host, tmp_path, **options):
    path = tmp_path / f"{host.name}.log"
    opts = {"connect_timeout": 2.0, "command_timeout": 3.0, "refresh_metadata": True, **options}
    result = await scan_host(Target(name=host.name, address=host.address, port=host.port, user=host.user),
                             credential_of(fleet, files), ScanOptions(**opts), transcript_path=path)
    return result, path.read_text()


def assert_planted(result, host):
    assert result.status is HostStatus.OK, (host.name, host.fault, result.reason)
    assert {(p["name"], p["available"]) for p in result.packages} == {(p.name, p.available) for p in host.packages}
    assert result.security_count == host.security_count


@pytest.mark.parametrize("fault", ["restricted_shell", "stderr_prefixed"])
@pytest.mark.parametrize("distro", ["ubuntu-22.04", "rocky-9", "opensuse-leap-15.5", "alpine-3.19"])
async def test_a_host_that_cannot_run_the_script_falls_back_to_one_exec_per_step(tmp_path, fault, distro):
    fleet = await start_fleet(2, faults={fault: 1}, distros=[distro], seed=4, packages=(2, 5))
    try:
        files = fleet.write_files(tmp_path)
        results = {h.fault: (h, *(await scan_with_transcript(fleet, files, h, tmp_path))) for h in fleet.hosts}
    finally:
        await fleet.close()
    host, result, transcript = results[fault]
    assert_planted(result, host)
    assert "## fallback: the scan script's output was not usable" in transcript
    after = transcript.split("## fallback:", 1)[1]
    # every step is then sent on its own, and recorded as today
    assert after.count("## $ ") >= 3 and "## $ cat /etc/os-release" in after and "## exit 0" in after
    if fault == "restricted_shell":
        assert "refused: this key may run the scan commands only" in transcript
    else:
        assert "its stderr carries no step markers" in transcript and "[audit] " in transcript
    healthy, result, transcript = results[None]
    assert_planted(result, healthy)
    assert "## one exec:" in transcript and "fallback" not in transcript
    assert transcript.count("## $ cat /etc/os-release") == 1


async def test_a_forged_marker_in_host_output_cannot_fake_a_steps_status(tmp_path):
    fleet = await start_fleet(3, faults={"forged_marker": 3}, distros=["ubuntu-22.04", "rocky-9", "alpine-3.19"],
                              seed=5, packages=(3, 5))
    try:
        files = fleet.write_files(tmp_path)
        scanned = [(h, *(await scan_with_transcript(fleet, files, h, tmp_path))) for h in fleet.hosts]
    finally:
        await fleet.close()
    for host, result, transcript in scanned:
        # The host printed "<token>:E:list_updates:0" lines with a token it had to guess; its real exit is 2.
        assert result.status is HostStatus.FAILED and result.category == "tool", (host.name, result.reason)
        assert "exit status 2" in result.reason and "step list_updates" in result.reason
        assert "fallback" not in transcript and ":E:list_updates:0" in transcript
        assert "## exit 2" in transcript and result.packages == []


async def test_a_family_the_script_reads_otherwise_falls_back_and_still_scans(tmp_path, monkeypatch):
    from dataclasses import replace

    from console.sim import distros

    # "ID=Ubuntu", "ID_LIKE=Debian": the parser lower-cases IDs, the script's sh rule does not, so the script
    # stops after os-release (no family) where the scan goes on with apt.
    text = distros.DISTROS["ubuntu-22.04"].os_release.replace("ID=ubuntu", "ID=Ubuntu")
    upper = replace(distros.DISTROS["ubuntu-22.04"], key="ubuntu-upper",
                    os_release=text.replace("ID_LIKE=debian", "ID_LIKE=Debian"))
    monkeypatch.setitem(distros.DISTROS, "ubuntu-upper", upper)
    fleet = await start_fleet(1, distros=["ubuntu-upper"], seed=6, packages=(2, 4))
    try:
        files = fleet.write_files(tmp_path)
        host = fleet.hosts[0]
        result, transcript = await scan_with_transcript(fleet, files, host, tmp_path)
    finally:
        await fleet.close()
    assert_planted(result, host)
    assert result.family == "apt"
    assert "it ended before step refresh" in transcript and "## fallback:" in transcript


async def test_the_script_path_keeps_per_step_sections_and_limits(tmp_path):
    fleet = await start_fleet(3, faults={"huge_output": 1, "hang": 1}, distros=["rocky-9"], seed=8, packages=(3, 4),
                              huge_bytes=12 * 1024 * 1024)
    try:
        files = fleet.write_files(tmp_path)
        scanned = {h.fault: (h, *(await scan_with_transcript(fleet, files, h, tmp_path, command_timeout=2.0)))
                   for h in fleet.hosts}
    finally:
        await fleet.close()
    host, result, transcript = scanned[None]
    assert_planted(result, host)
    sections = [line for line in transcript.splitlines() if line.startswith("## $ ")]
    assert sections == ["## $ cat /etc/os-release", "## $ sudo -n dnf -q makecache", "## $ dnf -q check-update",
                        "## $ dnf -q updateinfo list --security",
                        "## $ rpm -qa --qf '%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'",
                        "## $ needs-restarting -r"]
    assert transcript.count("## exit ") == 6
    _, huge, transcript = scanned["huge_output"]
    assert huge.category == "tool" and "MB" in huge.reason and "bytes cut" in transcript
    _, hang, transcript = scanned["hang"]
    assert hang.category == "timeout" and "step refresh" in hang.reason
    assert "no answer within 2 s: Patchwatch closed the command" in transcript


async def test_an_unframed_stream_falls_back_even_when_the_whole_script_outlasts_a_step_limit(tmp_path, monkeypatch):
    from console.sim import fleet as sim

    # Every command of this host takes 0.6 s: each step is well inside the 1.5 s limit, the script as a
    # whole is not. Its stderr is tagged line by line, so no step of the script ever completes; waiting for
    # the script's end would fail the host as a timeout of its first step.
    original = sim._SshEndpoint._answer_command

    async def slowly(self, process, command):
        await asyncio.sleep(0.6)
        return await original(self, process, command)

    monkeypatch.setattr(sim._SshEndpoint, "_answer_command", slowly)
    fleet = await start_fleet(1, faults={"stderr_prefixed": 1}, distros=["rocky-9"], seed=9, packages=(2, 4))
    try:
        files = fleet.write_files(tmp_path)
        host = fleet.hosts[0]
        result, transcript = await scan_with_transcript(fleet, files, host, tmp_path, command_timeout=1.5)
    finally:
        await fleet.close()
    assert_planted(result, host)
    assert "the other did not within" in transcript and "## fallback:" in transcript

"""Against the real thing: OpenSSH's sshd on a loopback port, scanning this very machine.

The fixture starts ``sshd -D`` with a throwaway configuration, host key and authorized_keys, and logs in as
an unprivileged user it creates (``pwscan``). ``tests/provision.py`` installs openssh-server and sudo when
missing (``.ci/run`` runs it first); without root, these tests skip and say why.
"""

from __future__ import annotations

import logging
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import asyncssh
import pytest
from slowlink import client_packets, slow_link
from support import open_engine, task_input

from console.clock import SystemClock
from console.domain.run import HostStatus, RunState
from console.jobs import Target
from console.scan.adhoc import adhoc_scan
from console.scan.commands import COMMANDS, OS_RELEASE, Family
from console.scan.credentials import CredentialProfile, load_credential
from console.scan.executor import ScanOptions, scan_host

USER = "pwscan"
#: A second login whose shell is rbash (restricted bash), where it exists.
RBASH_USER = "pwrbash"
TESTS = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_user(user: str = USER, shell: str = "/bin/sh") -> None:
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", shell, user], check=True)
    # useradd leaves the account locked ("!"), and sshd without PAM refuses locked accounts even for keys;
    # "*" means: no password login, but not locked.
    subprocess.run(["usermod", "-p", "*", user], check=True)


@pytest.fixture(scope="module")
def sshd():
    import provision

    problem = provision.ensure()
    if problem:
        pytest.skip(f"real sshd tests: {problem}")
    if os.geteuid() != 0:
        pytest.skip("real sshd tests: need root to create the login user and run sshd")
    if shutil.which("apt") is None:
        pytest.skip("real sshd tests compare with apt, the package manager of this machine; no apt here")
    _ensure_user()
    if shutil.which("rbash"):
        _ensure_user(RBASH_USER, shutil.which("rbash") or "")
    # Not pytest's tmp_path: its parents are private to root, and sshd reads authorized_keys as the user.
    root = Path(tempfile.mkdtemp(prefix="patchwatch-sshd-"))
    root.chmod(0o755)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "client_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "other_host_key")], check=True)
    # A second key for the same user, tied to a forced command that runs only the scan's own commands.
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "restricted_key")], check=True)
    wrapper = root / "scan-commands-only"
    wrapper.write_text(_forced_command_wrapper())
    wrapper.chmod(0o755)
    keys_dir = root / "authorized"
    keys_dir.mkdir()
    (keys_dir / USER).write_text((root / "client_key.pub").read_text() + f'command="{wrapper}",no-pty '
                                 + (root / "restricted_key.pub").read_text())
    (keys_dir / RBASH_USER).write_text((root / "client_key.pub").read_text())
    for path in (keys_dir, keys_dir / USER, keys_dir / RBASH_USER):
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = _free_port()
    config = root / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {root / 'host_key'}", f"PidFile {root / 'sshd.pid'}",
        f"AuthorizedKeysFile {keys_dir}/%u", "StrictModes no", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no", "PermitRootLogin no",
        "LogLevel ERROR", "",
    ]))
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([provision.sshd_binary(), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
    host_pub = (root / "host_key.pub").read_text().split()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    other_pub = (root / "other_host_key.pub").read_text().split()
    (root / "wrong_known_hosts").write_text(f"[127.0.0.1]:{port} {other_pub[0]} {other_pub[1]}\n")
    yield {"port": port, "root": root}
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(root, ignore_errors=True)


def _forced_command_wrapper() -> str:
    """A forced command as admins write them for a scan key: the exact scan commands pass, nothing else."""
    allowed = [OS_RELEASE, COMMANDS[Family.APT].list_updates, COMMANDS[Family.APT].reboot or ""]
    patterns = "|".join(shlex.quote(command) for command in allowed)
    return ("#!/bin/sh\n"
            f'case "$SSH_ORIGINAL_COMMAND" in\n  {patterns}) exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;\nesac\n'
            'echo "refused: this key runs the scan commands only" >&2\nexit 1\n')


def _target(sshd) -> Target:
    return Target(name="this-machine", address="127.0.0.1", port=sshd["port"], user=USER, groups=("local",))


def _cred(sshd, known: str = "known_hosts", sudo: str = "none", key: str = "client_key"):
    return load_credential(CredentialProfile(name="real", user=USER, key_files=(str(sshd["root"] / key),),
                                             known_hosts=(str(sshd["root"] / known),), sudo=sudo))


def _local_upgradable() -> set[tuple[str, str]]:
    """What apt says here, read without Patchwatch's parser: (name, candidate version) pairs."""
    out = subprocess.run(["apt", "list", "--upgradable"], capture_output=True, text=True,
                         env={**os.environ, "LC_ALL": "C"}, check=True).stdout
    pairs = set()
    for line in out.splitlines():
        if "/" in line and "[upgradable from:" in line:
            name_suite, version = line.split()[:2]
            pairs.add((name_suite.split("/")[0], version))
    return pairs


async def test_scanning_this_machine_reports_what_apt_says(sshd):
    [result] = await adhoc_scan([_target(sshd)], _cred(sshd), ScanOptions(connect_timeout=10, command_timeout=120))
    assert result.status is HostStatus.OK, (result.category, result.reason)
    assert result.family == "apt" and result.os
    reported = {(p["name"], p["available"]) for p in result.packages}
    assert reported == _local_upgradable()
    assert result.missing_count == len(reported)


async def test_a_user_without_root_gets_permission(sshd):
    options = ScanOptions(connect_timeout=10, command_timeout=120, refresh_metadata=True)
    [plain] = await adhoc_scan([_target(sshd)], _cred(sshd), options)
    assert plain.status is HostStatus.FAILED and plain.category == "permission", plain.reason
    [with_sudo] = await adhoc_scan([_target(sshd)], _cred(sshd, sudo="sudo"), options)
    assert with_sudo.category == "permission", with_sudo.reason
    assert "sudo" in with_sudo.reason


async def test_a_wrong_or_unknown_host_key_stops_the_connection(sshd):
    [wrong] = await adhoc_scan([_target(sshd)], _cred(sshd, known="wrong_known_hosts"), ScanOptions())
    assert wrong.category == "host_key" and wrong.packages == []
    empty = sshd["root"] / "empty_known_hosts"
    empty.write_text("")
    [unknown] = await adhoc_scan([_target(sshd)], _cred(sshd, known="empty_known_hosts"), ScanOptions())
    assert unknown.category == "host_key"


async def test_accepting_the_host_key_is_recorded_and_lets_the_scheduled_scan_through(sshd, tmp_path):
    engine = await open_engine(tmp_path / "data", SystemClock(), real_scan=True)
    try:
        await engine.put_credential(CredentialProfile(name="real", user=USER,
                                                      key_files=(str(sshd["root"] / "client_key"),)))
        await engine.upsert_instances([_target(sshd)])
        task = await engine.create_task(task_input("local-scan", "0 0 3 * * ?", job={"credential": "real"},
                                                   targets={"groups": ["local"]}))
        first = await engine.wait_run((await engine.run_now(task.id)).id, timeout=60)
        assert first.state is RunState.FAILED and first.categories == {"host_key": 1}

        info = await engine.accept_host_key("this-machine", actor="alice")
        expected = subprocess.run(["ssh-keygen", "-lf", str(sshd["root"] / "host_key.pub")], capture_output=True,
                                  text=True, check=True).stdout.split()[1]
        assert info.fingerprint == expected
        events = await engine.query_events(kind="hostkey.accepted")
        assert events[0].actor == "alice" and expected in events[0].message

        second = await engine.wait_run((await engine.run_now(task.id)).id, timeout=120)
        assert second.state is RunState.SUCCEEDED, second.error
        [result] = await engine.host_results(second.id)
        assert {(p["name"], p["available"]) for p in result.packages} == _local_upgradable()
    finally:
        await engine.close()


async def _scan_with_transcript(sshd, cred, options: ScanOptions):
    path = sshd["root"] / f"transcript-{len(list(sshd['root'].glob('transcript-*')))}.log"
    result = await scan_host(_target(sshd), cred, options, transcript_path=path)
    return result, path.read_text()


async def test_the_scan_runs_as_one_exec_under_a_real_sshd_and_sh(sshd):
    options = ScanOptions(connect_timeout=10, command_timeout=120)
    result, transcript = await _scan_with_transcript(sshd, _cred(sshd), options)
    assert result.status is HostStatus.OK, (result.category, result.reason)
    assert {(p["name"], p["available"]) for p in result.packages} == _local_upgradable()
    assert "## one exec:" in transcript and "fallback" not in transcript
    assert [line for line in transcript.splitlines() if line.startswith("## $ ")] == [
        f"## $ {OS_RELEASE}", f"## $ {COMMANDS[Family.APT].list_updates}", f"## $ {COMMANDS[Family.APT].reboot}"]
    # apt's stderr warning stays in its own step (stdout and stderr chunks interleave inside it, as they did
    # when each step was its own exec), never in the step before or after
    before, listing = transcript.split(f"## $ {COMMANDS[Family.APT].list_updates}")
    listing, after = listing.split(f"## $ {COMMANDS[Family.APT].reboot}")
    assert "WARNING" not in before and "WARNING" not in after
    assert "WARN" in listing or "caution" in listing  # split by a chunk boundary at most once
    per_step, _ = await _scan_with_transcript(sshd, _cred(sshd), ScanOptions(connect_timeout=10, command_timeout=120,
                                                                            one_exec=False))
    for field in ("status", "category", "reason", "os", "family", "packages", "missing_count", "security_count",
                  "reboot_required"):
        assert getattr(result, field) == getattr(per_step, field), field


async def test_sshd_takes_the_login_pipelined_behind_the_service_request(sshd, caplog):
    # Behind a link 100 ms long each way, the login request leaves before the service accept is back, and sshd
    # still logs the scan user in and runs a command (console.scan.sshconnect).
    cred = _cred(sshd)
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    asyncssh.set_debug_level(3)
    try:
        async with slow_link(sshd["port"], 0.1) as port:
            host_key = (sshd["root"] / "known_hosts").read_text().split(" ", 1)[1]
            cred.known_hosts = asyncssh.import_known_hosts(f"[127.0.0.1]:{port} {host_key}")
            async with asyncssh.connect("127.0.0.1", port, username=USER, **cred.connect_options()) as conn:
                ran = await conn.run("id -un", check=False)
    finally:
        asyncssh.set_debug_level(1)
    assert (ran.exit_status, ran.stdout.strip()) == (0, USER)
    order = client_packets(caplog.records)
    assert order.index("Sent MSG_SERVICE_REQUEST") < order.index("Sent MSG_USERAUTH_REQUEST") \
        < order.index("Received MSG_SERVICE_ACCEPT") < order.index("Received MSG_USERAUTH_SUCCESS"), order
    assert order.count("Sent MSG_USERAUTH_REQUEST") == 1  # signed at once: no none request, no query


async def test_a_forced_command_key_falls_back_to_one_exec_per_step(sshd):
    result, transcript = await _scan_with_transcript(sshd, _cred(sshd, key="restricted_key"),
                                                     ScanOptions(connect_timeout=10, command_timeout=120))
    assert result.status is HostStatus.OK, (result.category, result.reason)
    assert {(p["name"], p["available"]) for p in result.packages} == _local_upgradable()
    assert "refused: this key runs the scan commands only" in transcript
    assert "## fallback: the scan script's output was not usable (its output carries no step markers; exit 1)" \
        in transcript
    after = transcript.split("## fallback:")[1]
    assert f"## $ {OS_RELEASE}" in after and f"## $ {COMMANDS[Family.APT].list_updates}" in after


async def test_sudo_without_a_password_rule_is_permission_through_the_script_too(sshd):
    options = ScanOptions(connect_timeout=10, command_timeout=120, refresh_metadata=True)
    result, transcript = await _scan_with_transcript(sshd, _cred(sshd, sudo="sudo"), options)
    assert result.category == "permission" and "sudo" in result.reason, result.reason
    assert "## one exec:" in transcript and "fallback" not in transcript
    assert f"## $ sudo -n {COMMANDS[Family.APT].refresh}" in transcript
    assert f"## $ {COMMANDS[Family.APT].list_updates}" not in transcript  # the scan stopped at the refresh


async def test_a_restricted_bash_login_still_runs_the_script_as_one_exec(sshd):
    if not shutil.which("rbash"):
        pytest.skip("no rbash on this machine")
    target = Target(name="this-machine", address="127.0.0.1", port=sshd["port"], user=RBASH_USER, groups=("local",))
    path = sshd["root"] / "rbash-transcript.log"
    result = await scan_host(target, _cred(sshd), ScanOptions(connect_timeout=10, command_timeout=120),
                             transcript_path=path)
    transcript = path.read_text()
    assert result.status is HostStatus.OK, (result.category, result.reason)
    assert {(p["name"], p["available"]) for p in result.packages} == _local_upgradable()
    # rbash refuses redirections to files, not to a descriptor: the script's ">&2" markers pass
    assert "## one exec:" in transcript and "fallback" not in transcript

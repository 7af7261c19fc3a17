"""Against the real thing: OpenSSH's sshd on a loopback port, scanning this very machine.

The fixture starts ``sshd -D`` with a throwaway configuration, host key and authorized_keys, and logs in as
an unprivileged user it creates (``pwscan``). ``tests/provision.py`` installs openssh-server and sudo when
missing (``.ci/run`` runs it first); without root, these tests skip and say why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from support import open_engine, task_input

from console.clock import SystemClock
from console.domain.run import HostStatus, RunState
from console.jobs import Target
from console.scan.adhoc import adhoc_scan
from console.scan.credentials import CredentialProfile, load_credential
from console.scan.executor import ScanOptions

USER = "pwscan"
TESTS = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_user() -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
    # useradd leaves the account locked ("!"), and sshd without PAM refuses locked accounts even for keys;
    # "*" means: no password login, but not locked.
    subprocess.run(["usermod", "-p", "*", USER], check=True)


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
    # Not pytest's tmp_path: its parents are private to root, and sshd reads authorized_keys as the user.
    root = Path(tempfile.mkdtemp(prefix="patchwatch-sshd-"))
    root.chmod(0o755)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "client_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "other_host_key")], check=True)
    keys_dir = root / "authorized"
    keys_dir.mkdir()
    (keys_dir / USER).write_text((root / "client_key.pub").read_text())
    for path in (keys_dir, keys_dir / USER):
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


def _target(sshd) -> Target:
    return Target(name="this-machine", address="127.0.0.1", port=sshd["port"], user=USER, groups=("local",))


def _cred(sshd, known: str = "known_hosts", sudo: str = "none"):
    return load_credential(CredentialProfile(name="real", user=USER, key_files=(str(sshd["root"] / "client_key"),),
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

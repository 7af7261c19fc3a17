"""Inventory, ad-hoc scans, host keys, per-host results and logs through the CLI, against a simulated fleet
served by ``patchwatch sim fleet`` in its own process (as an operator trying Patchwatch would)."""

from __future__ import annotations

import json
import os
import pty
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def patchwatch(*args: str, data: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SSH_AUTH_SOCK": ""}
    cmd = [sys.executable, "-m", "console"] + (["--data-dir", str(data)] if data else [])
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    proc = subprocess.Popen([sys.executable, "-m", "console", "sim", "fleet", "-n", "10", "--faults", "0.3",
                             "--seed", "4", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (out / "fleet.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.1)
    time.sleep(0.3)
    yield out, json.loads((out / "fleet.json").read_text())
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    assert proc.returncode == 0


def test_adhoc_scan_prints_json_lines_and_exits_1_on_failures(fleet):
    out, truth = fleet
    result = patchwatch("scan", "--inventory", str(out / "inventory.ini"), "--known-hosts", str(out / "known_hosts"),
                        "--identity", str(out / "id_ed25519"), "--timeout", "3", "--command-timeout", "5", "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1, result.stderr
    by_host = {r["host"]: r for r in rows}
    assert set(by_host) == {h["name"] for h in truth["hosts"]}
    for host in truth["hosts"]:
        row = by_host[host["name"]]
        assert set(row) >= {"host", "status", "os", "category", "reason", "packages", "security", "reboot", "duration"}
        if host["expected_category"] and "refresh" not in (host["fault_steps"] or ["x"]):
            assert row["category"] == host["expected_category"], (host["name"], host["fault"], row)
        elif host["fault"] is None:
            assert row["status"] == "ok" and row["missing"] == len(host["packages"])

    table = patchwatch("scan", "--inventory", str(out / "inventory.yml"), "--known-hosts", str(out / "known_hosts"),
                       "--identity", str(out / "id_ed25519"), "--timeout", "3", "--command-timeout", "5")
    assert table.returncode == 1
    assert table.stdout.splitlines()[0].split()[:3] == ["HOST", "STATUS", "OS"]
    assert f"{len(truth['hosts'])} hosts:" in table.stdout


def test_inventory_import_with_a_bad_line_changes_nothing(tmp_path, fleet):
    out, truth = fleet
    data = tmp_path / "data"
    good = patchwatch("inventory", "import", str(out / "inventory.ini"), data=data)
    assert good.returncode == 0, good.stderr
    listed = [json.loads(line) for line in patchwatch("inventory", "list", "--json", data=data).stdout.splitlines()]
    assert len(listed) == len(truth["hosts"])

    bad = tmp_path / "bad.ini"
    bad.write_text("[web]\nweb-1 ansible_host=10.0.0.1\nweb-2 ansible_port=99999\n[db\n")
    refused = patchwatch("inventory", "import", str(bad), data=data)
    assert refused.returncode == 2
    assert "bad.ini:3" in refused.stderr and "99999" in refused.stderr and "bad.ini:4" in refused.stderr
    after = [json.loads(line) for line in patchwatch("inventory", "list", "--json", data=data).stdout.splitlines()]
    assert after == listed

    group = truth["hosts"][0]["family"]
    by_group = patchwatch("inventory", "list", "--group", group, "--json", data=data).stdout.splitlines()
    assert by_group and all(group in json.loads(line)["groups"] for line in by_group)
    assert patchwatch("inventory", "remove", truth["hosts"][0]["name"], data=data).returncode == 0
    assert patchwatch("inventory", "remove", "no-such-host", data=data).returncode == 2


def test_a_task_run_with_host_results_logs_and_hostkey_accept(tmp_path, fleet):
    out, truth = fleet
    data = tmp_path / "data"
    assert patchwatch("inventory", "import", str(out / "inventory.ini"), data=data).returncode == 0
    # No known_hosts for this profile: every reachable host is unknown, hence refused (host_key).
    added = patchwatch("credential", "add", "sim", "--user", truth["user"], "--key", str(out / "id_ed25519"), data=data)
    assert added.returncode == 0, added.stderr
    task_file = tmp_path / "task.toml"
    task_file.write_text('name = "sim-scan"\n[schedule]\ncron = "0 0 3 * * ?"\n[job]\ncredential = "sim"\n'
                         '[job.params]\nconnect_timeout = 3\ncommand_timeout = 5\n'
                         '[targets]\ngroups = ["all"]\nbatch = "none"\n')
    assert patchwatch("task", "add", "--file", str(task_file), data=data).returncode == 0
    first = patchwatch("run", "sim-scan", data=data)
    assert first.returncode == 1
    run_id = first.stdout.split()[1]
    hosts = [json.loads(line) for line in patchwatch("hosts", run_id, "--json", data=data).stdout.splitlines()]
    reachable = [h for h in truth["hosts"] if h["fault"] not in ("network_refused", "timeout_connect")]
    assert {h["host"]: h["category"] for h in hosts if h["host"] in {r["name"] for r in reachable}} == {
        r["name"]: "host_key" for r in reachable}

    healthy = next(h for h in truth["hosts"] if h["fault"] is None)
    accepted = patchwatch("hostkey", "accept", healthy["name"], "--yes", data=data)
    assert accepted.returncode == 0 and "SHA256:" in accepted.stdout
    second = patchwatch("run", "sim-scan", "--wait", data=data)
    run2 = second.stdout.split()[1]
    assert "host.finished" in second.stdout
    rows = {json.loads(line)["host"]: json.loads(line)
            for line in patchwatch("hosts", run2, "--json", data=data).stdout.splitlines()}
    assert rows[healthy["name"]]["status"] == "ok"
    assert rows[healthy["name"]]["missing_count"] == len(healthy["packages"])

    failed_only = patchwatch("hosts", run2, "--failed", data=data)
    assert healthy["name"] not in failed_only.stdout
    logs = patchwatch("logs", run2, healthy["name"], data=data)
    assert "cat /etc/os-release" in logs.stdout and "host.finished" in logs.stdout
    trace = patchwatch("events", "--kind", "hostkey.", data=data)
    assert f"accepted by {pwd.getpwuid(os.geteuid()).pw_name}" in trace.stdout


def _one_healthy(tmp_path: Path, fleet) -> tuple[Path, dict]:
    out, truth = fleet
    data = tmp_path / "data"
    assert patchwatch("inventory", "import", str(out / "inventory.ini"), data=data).returncode == 0
    return data, next(h for h in truth["hosts"] if h["fault"] is None)


def _trusted(data: Path) -> str:
    path = data / "known_hosts"
    return path.read_text() if path.exists() else ""


def test_hostkey_accept_shows_the_fingerprint_and_trusts_nothing_without_an_answer(tmp_path, fleet):
    data, host = _one_healthy(tmp_path, fleet)
    shown = patchwatch("hostkey", "accept", host["name"], data=data)  # stdin is not a terminal here
    assert shown.returncode == 2, shown.stdout
    assert "SHA256:" in shown.stdout and "--yes" in shown.stderr and "--fingerprint" in shown.stderr
    assert _trusted(data) == ""
    assert "hostkey.accepted" not in patchwatch("events", data=data).stdout


def test_hostkey_accept_refuses_a_fingerprint_that_does_not_match(tmp_path, fleet):
    data, host = _one_healthy(tmp_path, fleet)
    wrong = "SHA256:" + "A" * 43
    refused = patchwatch("hostkey", "accept", host["name"], "--fingerprint", wrong, data=data)
    assert refused.returncode == 2
    assert "fingerprint" in refused.stderr and wrong in refused.stderr and "nothing" in refused.stderr
    assert _trusted(data) == ""


def test_hostkey_accept_with_the_verified_fingerprint_or_yes_trusts_the_key(tmp_path, fleet):
    data, host = _one_healthy(tmp_path, fleet)
    shown = patchwatch("hostkey", "accept", host["name"], data=data)
    fingerprint = next(w for w in shown.stdout.split() if w.startswith("SHA256:"))
    accepted = patchwatch("hostkey", "accept", host["name"], "--fingerprint", fingerprint, data=data)
    assert accepted.returncode == 0, accepted.stderr
    assert f"127.0.0.1]:{host['port']}" in _trusted(data)
    again = patchwatch("hostkey", "accept", host["name"], "--yes", data=data)
    assert again.returncode == 0 and fingerprint in again.stdout


@pytest.mark.parametrize(("answer", "trusted"), [("y", True), ("n", False), ("", False)])
def test_hostkey_accept_asks_on_a_terminal_before_trusting(tmp_path, fleet, answer, trusted):
    data, host = _one_healthy(tmp_path, fleet)
    controller, terminal = pty.openpty()
    env = {**os.environ, "SSH_AUTH_SOCK": ""}
    proc = subprocess.Popen([sys.executable, "-m", "console", "--data-dir", str(data), "hostkey", "accept",
                             host["name"]], stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=ROOT)
    os.close(terminal)
    assert proc.stdout is not None
    seen = b""
    while b"[y/N]" not in seen:
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, seen
        seen += chunk
    assert b"SHA256:" in seen  # the fingerprint is shown before the question
    assert _trusted(data) == ""  # and nothing is trusted while it waits
    os.write(controller, answer.encode() + b"\n")
    rest, err = proc.communicate(timeout=60)
    os.close(controller)
    assert (proc.returncode == 0) is trusted, (rest, err)
    assert bool(_trusted(data)) is trusted


def test_the_scan_table_gives_each_failed_host_its_whole_reason_and_hint(fleet):
    out, _ = fleet
    common = ["scan", "--inventory", str(out / "inventory.ini"), "--known-hosts", str(out / "known_hosts"),
              "--identity", str(out / "id_ed25519"), "--timeout", "3", "--command-timeout", "5"]
    rows = [json.loads(line) for line in patchwatch(*common, "--json").stdout.splitlines()]
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed
    table = patchwatch(*common).stdout
    for row in failed:
        assert f"{row['host']}: {row['category']}: {row['reason']}" in table, (row, table)
        assert f"hint: {row['hint']}" in table
    # The table itself (up to the first blank line) fits an 80-column terminal.
    rows_part = table[:table.index("\n\n")].splitlines()
    assert rows_part[0].split()[:3] == ["HOST", "STATUS", "OS"]
    assert max(len(line) for line in rows_part) <= 80, rows_part

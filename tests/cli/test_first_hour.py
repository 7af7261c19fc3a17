"""A newcomer's first hour with the CLI (issue 13): wrong data directories, pipes, typos, who acts, Ctrl+C.

Every test runs the real command in a child process, the way a shell would, except where it says otherwise.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from console.store.lock import DataDirLock

ROOT = Path(__file__).resolve().parents[2]
SEED_FILE = ROOT / "data" / "examples" / "scheduled-scan-os-patches.toml"
LOGIN = pwd.getpwuid(os.geteuid()).pw_name

#: Commands that only read a data directory.
READ_COMMANDS = [
    ["runs"], ["task", "list"], ["task", "show", "x"], ["events"], ["hosts", "RN1"], ["logs", "RN1"],
    ["notifications"], ["inventory", "list"], ["credential", "list"], ["oncall"],
]


def patchwatch(*args: str, data: Path | None = None, env: dict[str, str] | None = None,
               cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    environ = dict(env if env is not None else os.environ)
    environ.pop("PATCHWATCH_DATA", None)
    cmd = [sys.executable, "-m", "console"] + (["--data-dir", str(data)] if data else [])
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=environ, timeout=120, cwd=cwd)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    made = patchwatch("task", "add", "--file", str(SEED_FILE), data=path)
    assert made.returncode == 0, made.stderr
    return path


# ------------------------------------------------------------------------------------ data directories


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_on_a_missing_directory_fails_and_creates_nothing(tmp_path: Path, command: list[str]):
    missing = tmp_path / "nowhere"
    out = patchwatch(*command, data=missing)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert str(missing) in out.stderr and "not a Patchwatch data directory" in out.stderr
    assert not missing.exists()


def test_a_read_command_on_the_default_directory_that_does_not_exist_says_so(tmp_path: Path):
    out = patchwatch("runs", cwd=tmp_path)
    assert out.returncode == 2
    assert "data" in out.stderr and "--data-dir" in out.stderr
    assert not (tmp_path / "data").exists()


def test_a_directory_holding_a_data_directory_names_the_one_to_use(tmp_path: Path, data: Path):
    """The demo's layout: DIR/demo/store is the data directory; pointing at DIR/demo is the classic mistake."""
    demo = tmp_path / "demo"
    demo.mkdir()
    data.rename(demo / "store")
    before = sorted(p.name for p in demo.iterdir())
    out = patchwatch("runs", data=demo)
    assert out.returncode == 2
    assert f"--data-dir {demo / 'store'}" in out.stderr
    assert sorted(p.name for p in demo.iterdir()) == before
    assert patchwatch("runs", data=demo / "store").returncode == 0


def test_an_empty_directory_is_not_a_data_directory_and_stays_empty(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = patchwatch("events", "--json", data=empty)
    assert out.returncode == 2 and out.stdout == ""
    assert list(empty.iterdir()) == []


def test_commands_that_write_still_make_a_new_data_directory(tmp_path: Path):
    fresh = tmp_path / "fresh"
    assert patchwatch("task", "add", "--file", str(SEED_FILE), data=fresh).returncode == 0
    assert patchwatch("task", "list", data=fresh).returncode == 0


# ------------------------------------------------------------------------------------ pipes, typos


def test_json_into_head_prints_no_traceback(data: Path):
    """`patchwatch ... | head -1`: the reader goes away early; that is not an error worth a traceback."""
    import fcntl

    # A pipe of one page, so the 1,000 fire times (about 26 KB) cannot all fit before the reader goes away.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    proc = subprocess.Popen([sys.executable, "-m", "console", "cron", "0 * * * * ?", "--next", "1000"],
                            stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    os.close(write_end)
    assert proc.stderr is not None
    with os.fdopen(read_end, encoding="utf-8") as reader:
        first = reader.readline()
    err = proc.stderr.read()
    proc.wait(60)
    assert first.startswith("every minute"), first
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141, proc.returncode  # 128 + SIGPIPE, as `yes | head -1` reports


@pytest.mark.parametrize(("typed", "meant"), [(["rnus"], "runs"), (["task", "lsit"], "list"),
                                                (["evnets"], "events"), (["hostkey", "acept", "h"], "accept")])
def test_a_subcommand_typo_suggests_the_command_meant(typed: list[str], meant: str):
    out = patchwatch(*typed)
    assert out.returncode == 2
    assert f"did you mean '{meant}'?" in out.stderr, out.stderr


def test_a_typo_far_from_every_command_still_lists_the_choices():
    out = patchwatch("xyzzyq")
    assert out.returncode == 2
    assert "did you mean" not in out.stderr and "runs" in out.stderr


# ------------------------------------------------------------------------------------ who acts


@pytest.mark.parametrize("claimed", [None, "mallory"])
def test_the_actor_is_the_login_name_from_the_os_never_the_environment(tmp_path: Path, claimed: str | None):
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "PATCHWATCH_ACTOR")}
    if claimed:
        env.update(USER=claimed, LOGNAME=claimed, PATCHWATCH_ACTOR=claimed)
    path = tmp_path / "data"
    assert patchwatch("task", "add", "--file", str(SEED_FILE), data=path, env=env).returncode == 0
    events = [json.loads(line) for line in patchwatch("events", "--json", data=path).stdout.splitlines()]
    created = next(e for e in events if e["kind"] == "task.created")
    assert created["actor"] == LOGIN


# ------------------------------------------------------------------------------------ wording


def test_counts_are_spelled_for_one(tmp_path: Path):
    inventory = tmp_path / "one.ini"
    inventory.write_text("[web]\nweb-1 ansible_host=127.0.0.1\n")
    path = tmp_path / "data"
    out = patchwatch("inventory", "import", str(inventory), data=path)
    assert out.returncode == 0, out.stderr
    assert "imported 1 instance from" in out.stdout
    removed = patchwatch("inventory", "remove", "web-1", data=path)
    assert removed.stdout.startswith("removed 1 instance"), removed.stdout
    assert "1 instances" not in out.stdout + removed.stdout


# ------------------------------------------------------------------------------------ the lock's owner


@pytest.mark.parametrize("role", ["console", "demo", "daemon"])
def test_a_busy_data_directory_names_what_owns_it(tmp_path: Path, role: str):
    lock = DataDirLock(tmp_path, role=role)
    with lock:
        out = patchwatch("task", "add", "--file", str(SEED_FILE), data=tmp_path)
    assert out.returncode == 2
    assert f"(patchwatch {role})" in out.stderr, out.stderr
    assert "daemon?" not in out.stderr


# ------------------------------------------------------------------------------------ Ctrl+C in run --wait


@pytest.fixture
def silent_host() -> Iterator[int]:
    """A TCP port that accepts connections and never says anything: an SSH connect that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_ctrl_c_in_run_wait_says_what_happened_to_the_run(tmp_path: Path, silent_host: int):
    path = tmp_path / "data"
    inventory = tmp_path / "hang.ini"
    inventory.write_text(f"[hang]\nhang-1 ansible_host=127.0.0.1 ansible_port={silent_host}\n")
    assert patchwatch("inventory", "import", str(inventory), data=path).returncode == 0
    key = tmp_path / "id_ed25519"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    assert patchwatch("credential", "add", "default", "--user", "x", "--key", str(key), data=path).returncode == 0
    task = tmp_path / "task.toml"
    task.write_text('name = "hangs"\n[schedule]\ncron = "0 0 3 * * ?"\n[job.params]\nconnect_timeout = 600\n'
                    '[targets]\ngroups = ["all"]\n')
    assert patchwatch("task", "add", "--file", str(task), data=path).returncode == 0
    # Ctrl+C as a terminal delivers it: a suite started in the background (``.ci/run &``) hands its children
    # SIGINT ignored, as shells do for background jobs, and a process started so rightly ignores Ctrl+C.
    proc = subprocess.Popen([sys.executable, "-m", "console", "--data-dir", str(path), "run", "hangs", "--wait"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "batch.started" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    run_id = seen[0].split()[1]
    assert proc.returncode == 130
    said = rest + err
    assert "interrupted" in said and run_id in said, said
    assert "Traceback" not in said
    runs = [json.loads(line) for line in patchwatch("runs", "--json", data=path).stdout.splitlines()]
    assert [(r["id"], r["state"]) for r in runs] == [(run_id, "interrupted")]
    # The printed command works as printed.
    logs = said[said.index("Its trace: ") + len("Its trace: "):].split()
    shown = subprocess.run(logs, capture_output=True, text=True, timeout=60, cwd="/")
    assert shown.returncode == 0 and "run.interrupted" in shown.stdout, (logs, shown.stderr)


# ------------------------------------------------------------------------------------ task recipients

PEOPLE = ROOT / "tests" / "notify" / "fixtures" / "people.toml"


@pytest.mark.parametrize(("notify", "field", "words"), [
    ('people = ["alice", "zed"]\nmodes = ["email"]', "notify.people", "'zed'"),
    ('people = ["alice"]\nmodes = ["email", "pigeon"]', "notify.modes", "'pigeon'"),
])
def test_a_task_notifying_nobody_real_or_by_no_real_mode_is_refused(tmp_path: Path, notify: str, field: str,
                                                                    words: str):
    """Nothing would ever be delivered: refused at once, naming the field, and nothing is stored."""
    path = tmp_path / "data"
    assert patchwatch("people", "import", str(PEOPLE), data=path).returncode == 0
    task = tmp_path / "task.toml"
    task.write_text(f'name = "notified"\n[schedule]\ncron = "0 0 3 * * ?"\n[targets]\ngroups = ["all"]\n'
                    f'[notify]\n{notify}\n')
    out = patchwatch("task", "add", "--file", str(task), data=path)
    assert out.returncode == 2
    assert f"error: {field}: " in out.stderr and words in out.stderr, out.stderr
    assert "no tasks yet" in patchwatch("task", "list", data=path).stdout
    fixed = task.read_text().replace(', "zed"', "").replace(', "pigeon"', "")
    task.write_text(fixed)
    assert patchwatch("task", "add", "--file", str(task), data=path).returncode == 0

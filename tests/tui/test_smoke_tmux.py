"""Smoke tests of the installed ``patchwatch`` command in a real terminal (tmux), driven as an operator would:
the first at 120x40 (start, navigate, help, quit), the second at 80x24 walking the on-shift loop (a failure
on the dashboard, its log, acknowledge, re-scan).

It proves what the headless tests cannot: the console script is installed and starts, Textual draws in a real
terminal of 120x40, typed keys reach the app through a pty (``:tasks`` Enter, ``?``, Esc), and ``:q`` Enter
ends the process (exit status 0) so the terminal session closes. The screen is read with
``tmux capture-pane -p`` and polled against a deadline; nothing sleeps a fixed time.

The tmux server is a private one (``-S``: its own socket in a temporary directory), so no session of the
person running the tests is touched; it is killed in ``finally``. Skipped, with the reason, when tmux or the
installed script is missing (nothing is installed here).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASK_FILE = ROOT / "data" / "examples" / "scheduled-scan-os-patches.toml"
WIDTH, HEIGHT = 120, 40
SESSION = "patchwatch-smoke"
#: Generous: the first start of Python + Textual on a loaded CI machine can take seconds.
DEADLINE = 30.0
#: The placeholder of the ``:`` command line: it is open and has the focus.
COMMAND_LINE = "command (tasks, runs, failures"

TMUX = shutil.which("tmux")
#: The script installed next to this interpreter (the README's `.venv/bin/patchwatch`, not on PATH), else PATH's.
_BESIDE = Path(sys.executable).parent / "patchwatch"
PATCHWATCH = str(_BESIDE) if os.access(_BESIDE, os.X_OK) else shutil.which("patchwatch")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (the smoke test drives the console in tmux)"),
    pytest.mark.skipif(PATCHWATCH is None,
                       reason="the patchwatch console script is not installed: pip install -e '.[test]'"),
]


class Terminal:
    """One detached tmux session on a private server: send keys, read the screen, wait for text."""

    def __init__(self, socket: Path, env: dict[str, str]) -> None:
        assert TMUX is not None
        self.base = [TMUX, "-S", str(socket), "-f", os.devnull]
        self.env = env

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], env=self.env, capture_output=True, text=True, timeout=10,
                              check=check)

    def start(self, command: str, size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
        self.tmux("new-session", "-d", "-s", SESSION, "-x", str(size[0]), "-y", str(size[1]), command)

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", SESSION, check=False).returncode == 0

    def screen(self) -> str:
        result = self.tmux("capture-pane", "-p", "-t", SESSION, check=False)
        return result.stdout if result.returncode == 0 else ""

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", SESSION, *keys)

    def type(self, text: str) -> None:
        """Literal text (``-l``: ``:`` or ``?`` are not taken as tmux key names)."""
        self.tmux("send-keys", "-t", SESSION, "-l", text)

    def wait_for(self, what: str, test: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + DEADLINE
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if test(screen):
                return screen
            if not self.alive():
                raise AssertionError(f"the session ended while waiting for {what}; last screen:\n{screen}")
            time.sleep(0.05)
        raise AssertionError(f"timed out after {DEADLINE:.0f} s waiting for {what}; screen:\n{screen}")

    def wait_text(self, text: str) -> str:
        return self.wait_for(repr(text), lambda screen: text in screen)

    def wait_ended(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"the session did not end; screen:\n{self.screen()}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.tmux("kill-session", "-t", SESSION, check=False)
        self.tmux("kill-server", check=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory with the reference task, made with the installed CLI."""
    assert PATCHWATCH is not None
    path = tmp_path / "data"
    done = subprocess.run([PATCHWATCH, "--data-dir", str(path), "task", "add", "--file", str(TASK_FILE)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "created task ScheduledscanOSpatches" in done.stdout
    return path


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("TMUX", None)  # inside a tmux session, still use our own server
    # The server's socket in a short directory of its own (a socket path must stay under ~100 bytes).
    socket_dir = Path(tempfile.mkdtemp(prefix="pw-tmux-"))
    term = Terminal(socket_dir / "sock", env)
    try:
        yield term
    finally:
        term.kill()
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_console_in_a_real_terminal(terminal: Terminal, data_dir: Path, tmp_path: Path) -> None:
    status = tmp_path / "exit-status"
    # The shell records the console's exit status, then ends, and with it the session.
    command = (f"{shlex.quote(str(PATCHWATCH))} --data-dir {shlex.quote(str(data_dir))}; "
               f"echo $? > {shlex.quote(str(status))}")
    terminal.start(f"sh -c {shlex.quote(command)}")

    # The dashboard: status line, the calm panel naming the task and its next fire, upcoming fires, footer.
    screen = terminal.wait_for("the dashboard", lambda s: "No failures. 1 task scheduled" in s
                               and "Upcoming fires" in s and "Acknowledge" in s)
    assert "0 open alarms · 0 failing hosts" in screen
    assert "ScheduledscanOSpatches" in screen
    assert len(screen.splitlines()[0]) <= WIDTH

    # `:tasks` Enter: the tasks screen with the task in its table.
    terminal.type(":")
    terminal.wait_text(COMMAND_LINE)
    terminal.type("tasks")
    terminal.keys("Enter")
    screen = terminal.wait_for("the tasks screen", lambda s: "Tasks: 1" in s and "Run now" in s)
    assert "at 03:15:00 on day 5 of every month" in screen
    assert "GMT+08:00" in screen

    # `?`: help for the tasks screen; Esc closes it.
    terminal.type("?")
    screen = terminal.wait_text("Keys: Tasks")
    assert "Commands (press : then Enter)" in screen
    terminal.keys("Escape")
    terminal.wait_for("help to close", lambda s: "Keys: Tasks" not in s and "Tasks: 1" in s)

    # `:q` Enter: the console exits cleanly and the session ends.
    terminal.type(":")
    terminal.wait_text(COMMAND_LINE)
    terminal.type("q")
    terminal.keys("Enter")
    terminal.wait_ended()
    assert status.read_text().strip() == "0"


SMALL = (80, 24)


@pytest.fixture
def failed_run(tmp_path: Path) -> tuple[Path, str]:
    """A data directory whose task ran once and failed: its one host refuses connections (a loopback port
    nobody listens on), so the failure is a real ``network`` one, made with the installed CLI."""
    assert PATCHWATCH is not None
    import asyncssh

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path / "data"
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"[web]\nweb-refuses ansible_host=127.0.0.1 ansible_port={port}\n")
    key = tmp_path / "id_ed25519"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    task = tmp_path / "task.toml"
    task.write_text('name = "nightly-web"\n[schedule]\ncron = "0 0 3 * * ?"\n[targets]\ngroups = ["web"]\n')
    for args in (["inventory", "import", str(inventory)], ["credential", "add", "default", "--user", "scan",
                                                           "--key", str(key)],
                 ["task", "add", "--file", str(task)]):
        done = subprocess.run([PATCHWATCH, "--data-dir", str(data), *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    ran = subprocess.run([PATCHWATCH, "--data-dir", str(data), "run", "nightly-web"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert ran.returncode == 1 and "failed" in ran.stdout, (ran.stdout, ran.stderr)
    return data, ran.stdout.split()[1]


def fits(screen: str, width: int) -> bool:
    return all(len(line) <= width for line in screen.splitlines())


def test_the_on_shift_loop_at_80x24(terminal: Terminal, failed_run: tuple[Path, str], tmp_path: Path) -> None:
    data, run_id = failed_run
    status = tmp_path / "exit-status"
    command = (f"{shlex.quote(str(PATCHWATCH))} --data-dir {shlex.quote(str(data))}; "
               f"echo $? > {shlex.quote(str(status))}")
    terminal.start(f"sh -c {shlex.quote(command)}", size=SMALL)

    # The failure, on the dashboard: host, category and the start of the reason, and who was told or took it.
    screen = terminal.wait_for("the failure", lambda s: "web-refuses" in s and "network" in s
                               and "1 failing host (1 unacknowledged)" in s and ": Command" in s)
    row = next((line for line in screen.splitlines() if re.search(r"\d\d:\d\d +web-refuses +network", line)),
               screen)
    assert "connection refu" in row and row.rstrip(" ┃▁▂▃▄▅▆▇█").endswith("no"), row
    footer = next(line for line in screen.splitlines() if ": Command" in line)
    assert footer.lstrip().startswith(": Command  ? Help"), footer
    assert fits(screen, SMALL[0])

    # l: the run, its host and the evidence in the log pane.
    terminal.type("l")
    screen = terminal.wait_for("the run's log", lambda s: f"Run {run_id}" in s and "log: web-refuses" in s
                               and "## result: failed" in s)
    assert "not acknowledged" in screen

    # a: acknowledged, with the operator's login name.
    terminal.type("a")
    screen = terminal.wait_text("acknowledged by")
    assert "not acknowledged" not in screen

    # R asks first; y starts the re-scan of the failed host and opens it.
    terminal.type("R")
    terminal.wait_text("Re-scan the 1 failed hosts")
    terminal.type("y")
    screen = terminal.wait_for("the re-scan run", lambda s: f"re-scan of {run_id[:20]}" in s
                               and "web-refuses" in s and "network" in s)
    assert fits(screen, SMALL[0])

    # Esc back to the first run, then :q.
    terminal.keys("Escape")
    terminal.wait_for("the first run again", lambda s: f"Run {run_id}" in s and "re-scan of" not in s)
    terminal.type(":")
    terminal.wait_text(COMMAND_LINE)
    terminal.type("q")
    terminal.keys("Enter")
    terminal.wait_ended()
    assert status.read_text().strip() == "0"

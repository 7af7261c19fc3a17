"""A simulated fleet served from a thread's event loop, so a test can drive the CLI as plain subprocesses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from console.sim.fleet import Fleet, FleetFiles, start_fleet

ROOT = Path(__file__).resolve().parents[2]


class ThreadFleet:
    """``start_fleet`` in a background loop; ``files`` once started; ``stop()`` closes it."""

    def __init__(self, out: Path, n: int, *, hostile: int = 0, **options: Any) -> None:
        self.out, self.n, self.hostile, self.options = out, n, hostile, options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.fleet: Fleet | None = None
        self.files: FleetFiles | None = None

    def __enter__(self) -> ThreadFleet:
        self.thread.start()
        self.fleet = self._call(start_fleet(self.n, **self.options))
        for host in [h for h in self.fleet.hosts if h.fault is None][: self.hostile]:
            self.fleet.hostile.add(host.name)
        self.files = self.fleet.write_files(self.out)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fleet is not None:
            self._call(self.fleet.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    def call(self, coro: Any) -> Any:
        """Run ``coro`` in the fleet's loop and return its result (a sink can live there too)."""
        return self._call(coro)

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(120)


def patchwatch(*args: str, data: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATCHWATCH_ACTOR": "tester", "SSH_AUTH_SOCK": ""}
    env.pop("PATCHWATCH_DATA", None)
    cmd = [sys.executable, "-m", "console", "--data-dir", str(data), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def setup_data(data: Path, files: FleetFiles, user: str, task_toml: str) -> None:
    """Inventory, a credential with the fleet's key and known_hosts, and one task, through the CLI."""
    for args in (("inventory", "import", str(files.inventory_ini)),
                 ("credential", "add", "default", "--user", user, "--key", str(files.private_key),
                  "--known-hosts", str(files.known_hosts))):
        done = patchwatch(*args, data=data)
        assert done.returncode == 0, done.stderr
    task_file = data.parent / "task.toml"
    task_file.write_text(task_toml)
    added = patchwatch("task", "add", "--file", str(task_file), data=data)
    assert added.returncode == 0, added.stderr


class LoopThread:
    """An event loop of its own in a thread: a mail sink served here answers at once, not behind the SSH work
    of a few hundred simulated hosts (a late "250 OK" would widen the window between the sink recording a
    message and the sender learning it was accepted, which no sender can close)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LoopThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

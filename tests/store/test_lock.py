"""DataDirLock: one owner per data directory, and a killed owner never blocks the next one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.errors import DataDirLockedError
from console.store import LOCK_FILE_NAME, DataDirLock, Store

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from console.store import DataDirLock
lock = DataDirLock(sys.argv[1]).acquire()  # keep a reference: GC would release it
print("locked", flush=True)
time.sleep(60)
"""


def _clock() -> datetime:
    return datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def test_acquire_writes_the_owner_label_and_release_clears_it(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path / "data", clock=_clock, role="console")
    assert lock.owner() is None
    with lock:
        assert lock.held
        label = (tmp_path / "data" / LOCK_FILE_NAME).read_text().split()
        assert label == [str(os.getpid()), socket.gethostname(), "2026-11-01T08:30:00+00:00", "console"]
        assert lock.owner() == {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": "2026-11-01T08:30:00+00:00",
            "role": "console",
            "alive": True,
        }
        lock.acquire()  # already held by this object: no-op
    assert not lock.held
    assert lock.owner() is None
    assert (tmp_path / "data" / LOCK_FILE_NAME).exists()  # never unlinked (see lock.py)


def test_second_lock_in_the_same_process_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path, clock=_clock).acquire()
    second = DataDirLock(tmp_path)
    with pytest.raises(DataDirLockedError) as info:
        second.acquire()
    message = str(info.value)
    assert f"data directory {tmp_path} is in use by process {os.getpid()}" in message
    assert "since 2026-11-01T08:30:00+00:00" in message
    assert message.endswith("stop it or use --data-dir")
    assert not second.held
    first.release()
    second.acquire()
    assert second.held
    second.release()


def test_killed_owner_releases_the_lock(tmp_path: Path) -> None:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n"
        lock = DataDirLock(tmp_path)
        owner = lock.owner()
        assert owner is not None and owner["pid"] == child.pid and owner["alive"] is True
        with pytest.raises(DataDirLockedError) as info:
            lock.acquire()
        assert f"data directory {tmp_path} is in use by process {child.pid} (patchwatch)" in str(
            info.value
        )
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        # The killed owner could not clear its label; a viewer sees it is dead, and the lock is free.
        stale = lock.owner()
        assert stale is not None and stale["pid"] == child.pid and stale["alive"] is False
        lock.acquire()
        assert lock.owner()["pid"] == os.getpid()  # type: ignore[index]
        lock.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_store_does_not_lock_so_a_read_only_viewer_can_open_an_owned_directory(tmp_path: Path) -> None:
    with DataDirLock(tmp_path), Store(tmp_path) as owner:
        owner.put_doc("tasks", {"id": "t1"})
        with Store(tmp_path, read_only=True) as viewer:
            assert viewer.get_doc("tasks", "t1") == {"id": "t1"}

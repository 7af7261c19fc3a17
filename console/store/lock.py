"""One owning process per data directory.

TinyDB has no locking at all, and two processes writing one file corrupt it (library-notes.md). The store is
safe only with a single writer, so the process that writes (the daemon, or a CLI command that changes data)
takes :class:`DataDirLock` first.

The lock is an exclusive ``fcntl.flock`` on ``<data_dir>/.patchwatch.lock``. The kernel drops a flock when the
last descriptor of its open file description closes, which includes the process being killed, so a crashed
or SIGKILLed owner never blocks the next start and no stale-lock cleanup is ever needed. The file's contents
(``pid host started_at role``) are only a label for error messages and for a read-only viewer to say who is
running (``role`` is what the owner is: ``daemon``, ``console``, ``demo``, or the CLI command holding it);
they never decide who holds the lock.

The lock file is never deleted: unlinking a flock file lets a newcomer lock a fresh inode while someone still
holds the old one, and then two processes both believe they own the directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from console.errors import DataDirLockedError

__all__ = ["LOCK_FILE_NAME", "DataDirLock", "set_process_role"]

LOCK_FILE_NAME = ".patchwatch.lock"

#: What this process is, for the label of the locks it takes (set once by the command line at start).
_process_role = "patchwatch"


def set_process_role(role: str) -> None:
    """Name what this process is (``daemon``, ``console``, ``demo``, ``run``...) in the locks it takes, so a
    second process is told who holds the directory instead of a guess."""
    global _process_role
    _process_role = "-".join(role.split()) or "patchwatch"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists on this machine (it may be another program that reused the number)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class DataDirLock:
    """Exclusive ownership of a data directory for the life of this object (or of the process).

    Use as a context manager or call :meth:`acquire` / :meth:`release`. Two ``DataDirLock`` objects for the
    same directory conflict even inside one process, because each opens its own file description and flock
    conflicts between descriptions, not between processes; so an engine cannot accidentally be started twice
    on one directory in one interpreter either.
    """

    def __init__(
        self, data_dir: str | os.PathLike[str], *, clock: Callable[[], datetime] | None = None,
        role: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.role = "-".join(role.split()) if role else None
        self.path = self.data_dir / LOCK_FILE_NAME
        self._clock = clock or _utc_now
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object owns the directory."""
        return self._fd is not None

    def acquire(self) -> DataDirLock:
        """Take the lock without waiting, or raise :class:`DataDirLockedError` naming the current owner.

        Calling it again on an object that already holds the lock does nothing.
        """
        if self._fd is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DataDirLockedError(self._locked_message()) from None
            raise
        try:
            started = self._clock().astimezone(UTC).isoformat(timespec="seconds")
            role = self.role or _process_role
            label = f"{os.getpid()} {socket.gethostname()} {started} {role}\n".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, label, 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the directory up; the label is cleared first so nobody reads a stale owner."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def owner(self) -> dict[str, Any] | None:
        """Who holds (or last held) the directory, read without locking; ``None`` if nobody is recorded.

        Returns ``{"pid", "host", "started_at", "role", "alive"}`` (``role`` is ``None`` for a label written
        before roles were recorded). ``alive`` is a hint for a read-only viewer:
        ``True``/``False`` when the owner ran on this host (a killed owner leaves its label behind, since it
        never got to clear it), ``None`` when it ran elsewhere and cannot be checked. It never decides
        anything: only :meth:`acquire` knows for sure.
        """
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            return None
        parts = text.split()
        if len(parts) < 3 or not parts[0].isdigit():
            return None
        pid, host, started_at = int(parts[0]), parts[1], parts[2]
        role = parts[3] if len(parts) > 3 else None
        alive = _pid_alive(pid) if host == socket.gethostname() else None
        return {"pid": pid, "host": host, "started_at": started_at, "role": role, "alive": alive}

    def _locked_message(self) -> str:
        info = self.owner()
        if info is None:
            who = "another process (it has not written its pid yet)"
            since = ""
        else:
            pid = info["pid"]
            if pid == os.getpid() and info["host"] == socket.gethostname():
                who = f"process {pid} (this process, through another DataDirLock)"
            else:
                role = info["role"] if info["role"] not in (None, "patchwatch") else ""
                who = f"process {pid} (patchwatch{' ' + role.replace('-', ' ') if role else ''})"
            if info["host"] != socket.gethostname():
                who += f" on host {info['host']}"
            since = f" since {info['started_at']}"
        return f"data directory {self.data_dir} is in use by {who}{since}; stop it or use --data-dir"

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # Closing the descriptor is what frees a flock; do it even if the owner forgot to release.
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

"""Crash-safe JSON storage for TinyDB.

TinyDB's stock ``JSONStorage`` rewrites its file in place (seek, write, truncate), so a process killed in
the middle of a write leaves a truncated, unreadable file (library-notes.md measured 3 corrupt files in 40
kill trials). :class:`AtomicJSONStorage` never touches the live file: it writes the whole database to a
temporary file in the same directory, flushes and fsyncs it, renames it over the target with ``os.replace``
(atomic on POSIX) and fsyncs the directory so the rename itself survives a power cut. Whatever moment a kill
lands on, the target holds either the previous or the new complete document.

The storage also keeps the last data it read or wrote in memory. Patchwatch has exactly one writer per data
directory (see :mod:`console.store.lock`), so the file can only change through this object and re-parsing it
on every TinyDB read would be pure waste.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb import Storage

from console.errors import StoreError

__all__ = ["AtomicJSONStorage", "dumps_compact", "fsync_directory", "remove_stray_temp_files"]

_TEMP_SUFFIX = ".tmp"

# Files we create ourselves are private: a data directory holds host inventory and contact details.
_NEW_FILE_MODE = 0o600


def dumps_compact(data: Any) -> str:
    """Serialise ``data`` the way every Patchwatch JSON file is written.

    Compact separators because every write serialises a whole file and indentation would roughly double the
    bytes; ``allow_nan=False`` so the files stay standard JSON that any other tool can read.
    """
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush a directory's entries to disk.

    A rename or a new file is only durable once the directory that names it is synced; without this a power
    cut right after ``os.replace`` could bring back the old name.
    """
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(target_name: str) -> str:
    return f".{target_name}."


def remove_stray_temp_files(directory: str | os.PathLike[str], target_name: str | None = None) -> list[Path]:
    """Delete temporary files left behind by a writer that was killed before its rename.

    Such files are never the live data (the rename had not happened), so removing them loses nothing. With
    ``target_name`` only the temporaries of that one file are removed; otherwise every ``.*.tmp`` file in the
    directory. Must only be called by the single writer of the directory: another process's in-flight temp
    file would otherwise vanish under it.
    """
    root = Path(directory)
    pattern = f"{_temp_prefix(target_name)}*{_TEMP_SUFFIX}" if target_name else f".*{_TEMP_SUFFIX}"
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for stray in root.glob(pattern):
        if stray.is_file():
            with contextlib.suppress(FileNotFoundError):
                stray.unlink()
                removed.append(stray)
    return removed


class AtomicJSONStorage(Storage):
    """A TinyDB storage whose every write is atomic and durable, with an in-memory copy for reads.

    ``read_only=True`` makes :meth:`write` raise :class:`StoreError` and leaves the directory untouched (no
    temp-file cleanup), for a viewer that runs beside the owning process. ``on_write`` is called with the
    number of bytes after every successful write, so owners of many storages (sharded tables) can add up the
    cost without holding on to each storage object.

    Counters: ``writes`` (successful writes) and ``bytes_written`` (bytes of JSON written) let tests and
    benchmarks show the cost of each commit without timing anything.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        on_write: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.read_only = read_only
        self._on_write = on_write
        self.writes = 0
        self.bytes_written = 0
        self._cached = False
        self._cache: dict[str, dict[str, Any]] | None = None
        if not read_only:
            remove_stray_temp_files(self.path.parent, self.path.name)

    # -- reading -------------------------------------------------------------------------------------------

    def read(self) -> dict[str, dict[str, Any]] | None:
        """Return the database (TinyDB's convention: ``None`` for an empty one).

        The returned object is the cache itself, as TinyDB's own CachingMiddleware does: TinyDB builds new
        dictionaries for what it hands to callers, and it mutates this one only right before calling
        :meth:`write`. Direct users must treat it as read-only.
        """
        if not self._cached:
            self._cache = self._load()
            self._cached = True
        return self._cache

    def _load(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        if not raw.strip():
            # Only TinyDB's own touch() makes empty files; there is nothing in them to lose.
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(
                f"cannot read {self.path}: not valid JSON ({exc}); the file was left untouched: "
                f"restore it from a backup or move it aside"
            ) from exc
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise StoreError(
                f"cannot read {self.path}: not a TinyDB database (expected an object of tables); "
                f"the file was left untouched"
            )
        return data

    def drop_cache(self) -> None:
        """Forget the in-memory copy so the next read loads the file again."""
        self._cached = False
        self._cache = None

    # -- writing -------------------------------------------------------------------------------------------

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        """Replace the file with ``data`` atomically; on any failure the cache is dropped.

        TinyDB mutates the dictionary returned by :meth:`read` before it calls ``write``, so after a failed
        write the cache no longer matches the file; dropping it makes the next read reload what is really on
        disk. ``OSError`` is reported as :class:`StoreError` naming the file.
        """
        if self.read_only:
            self.drop_cache()
            raise StoreError(f"{self.path} is open read-only; this process does not own the data directory")
        try:
            payload = dumps_compact(data).encode("utf-8")
            self._replace(payload)
        except OSError as exc:
            self.drop_cache()
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        except BaseException:
            self.drop_cache()
            raise
        self._cache = data
        self._cached = True
        self.writes += 1
        self.bytes_written += len(payload)
        if self._on_write is not None:
            self._on_write(len(payload))

    def _replace(self, payload: bytes) -> None:
        directory = self.path.parent
        fd, temp_name = tempfile.mkstemp(
            prefix=_temp_prefix(self.path.name), suffix=_TEMP_SUFFIX, dir=directory
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                try:
                    mode = os.stat(self.path).st_mode & 0o777
                except FileNotFoundError:
                    mode = _NEW_FILE_MODE
                os.fchmod(handle.fileno(), mode)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
        fsync_directory(directory)

    def close(self) -> None:
        """Release the in-memory copy; there is no open file handle to close."""
        self.drop_cache()

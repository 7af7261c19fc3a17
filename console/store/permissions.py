"""Who may read a data directory: its owner only.

Why: the data directory was 0755 and transcripts, ``known_hosts`` and the lock file 0644, so another local user
could read what every host printed, learn the fleet's host keys, and take the lock (a second process that
opens the lock file can hold it). Now the directory is 0700 (nobody else can even enter it) and files are
created 0600: the CLI sets the process umask to :data:`UMASK` before anything is written, and
:func:`secure_data_dir` tightens a directory made by an older version.

The one exception is the owner's socket (``patchwatch.sock``), whose mode and group say who may attach:
:func:`admit_to_socket` lets exactly those users pass through the directory (search permission only: they
can reach the socket by its name, not list the directory or open anything else in it, every file being
0600).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
#: The process umask: new files 0600, new directories 0700.
UMASK = 0o077


def private_umask() -> int:
    """Make every file this process creates from now on owner-only; returns the previous umask."""
    return os.umask(UMASK)


def secure_data_dir(data_dir: Path) -> None:
    """The directory 0700, and its top-level files and directories tightened (an older version left them
    world-readable; deeper entries are unreachable to others once the directory is 0700)."""
    os.chmod(data_dir, DIR_MODE)
    for entry in os.scandir(data_dir):
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode) and stat.S_IMODE(mode) & 0o077:
            os.chmod(entry.path, 0o700)
        elif stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
            os.chmod(entry.path, FILE_MODE)


def admit_to_socket(data_dir: Path, socket_mode: int) -> None:
    """Let whoever the socket's mode admits (its group, or everyone) pass through the directory to reach it:
    search permission only, for exactly those classes of users."""
    search = (0o010 if socket_mode & 0o060 else 0) | (0o001 if socket_mode & 0o006 else 0)
    os.chmod(data_dir, DIR_MODE | search)

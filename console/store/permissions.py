"""Who may read a data directory: its owner only.

Why: the data directory was 0755 and transcripts, ``known_hosts`` and the lock file 0644, so another local user
could read what every host printed, learn the fleet's host keys, and take the lock (a second process that
opens the lock file can hold it). Now the directory is 0700 (nobody else can even enter it) and files are
created 0600: the CLI sets the process umask to :data:`UMASK` before anything is written, and
:func:`secure_data_dir` tightens a directory made by an older version.

Hook for later: a Unix socket for attached consoles will want group access for an operators' group.
:data:`GROUP_ACCESS` is the one place to grant it (for example ``0o050`` on the directory, then the socket
itself ``0o660`` and chgrp'd); nothing grants it today.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Extra permission bits for a future operators' group (see the module docstring); 0: owner only.
GROUP_ACCESS = 0o000
DIR_MODE = 0o700 | GROUP_ACCESS
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

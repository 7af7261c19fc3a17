"""Command lines that Patchwatch prints for an operator to paste: in notices, hints and error messages.

Why a module: "Open the logs: patchwatch logs RUN" failed as printed whenever the data directory was not
the one a bare ``patchwatch`` finds in the pasting shell, or when ``patchwatch`` was installed in a virtual
environment that is not on ``PATH``. A printed command therefore names:

* the program as this process was started: ``patchwatch`` when that is what ``PATH`` finds, else the
  installed script's absolute path, else ``PYTHON -m console``;
* ``--data-dir`` with the absolute path, always: the default (``./data``) is relative to the current
  directory, and a notice is read, and pasted, somewhere else (a phone, another shell, another directory).

Arguments are quoted with :func:`shlex.quote`, so a path with spaces pastes as one word. Core module: no
textual.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["command_line", "program"]


def program() -> str:
    """How to call Patchwatch again on this machine, as a shell would need it."""
    beside = Path(sys.executable).parent / "patchwatch"
    on_path = shutil.which("patchwatch")
    if on_path and os.access(beside, os.X_OK) and os.path.samefile(on_path, beside):
        return "patchwatch"
    if os.access(beside, os.X_OK):
        return shlex.quote(str(beside.absolute()))
    return f"{shlex.quote(sys.executable)} -m console"


def command_line(data_dir: str | os.PathLike[str], *words: str) -> str:
    """``patchwatch --data-dir /abs/dir WORDS...``, ready to paste."""
    path = Path(data_dir).absolute()
    return " ".join([program(), "--data-dir", shlex.quote(os.path.normpath(path)), *map(shlex.quote, words)])

"""Is this a Patchwatch data directory? Asked before a command that only reads opens one.

Why: a read command pointed at the wrong directory used to create it (or open an empty store in it) and
answer "no runs" with exit 0. For an operator on shift that is a false all-clear, so a read command refuses
any directory that holds no store, says which path it looked at, and names the data directory it can see
below it (the demo keeps its store in ``DIR/demo/store``, one level below the obvious guess).

Core module: no textual, no engine; it only looks at the file system and never creates anything.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from console.errors import ValidationError
from console.store.store import MAIN_FILE_NAME

__all__ = ["is_data_dir", "nearby_data_dirs", "require_data_dir"]

#: How deep below the given path to look for the store a newcomer meant (``demo`` -> ``demo/store``).
SEARCH_DEPTH = 2
#: At most this many suggestions, so a huge tree is never walked.
MAX_SUGGESTIONS = 3


def is_data_dir(path: Path) -> bool:
    """A data directory is one that holds the store's main file (written when a writer first opens it)."""
    return (path / MAIN_FILE_NAME).is_file()


def nearby_data_dirs(path: Path) -> list[Path]:
    """Data directories up to :data:`SEARCH_DEPTH` levels below ``path``, nearest first."""
    if not path.is_dir():
        return []
    found: list[Path] = []
    level = [path]
    for _ in range(SEARCH_DEPTH):
        below: list[Path] = []
        for parent in level:
            try:
                children = sorted(p for p in parent.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
            for child in children:
                if is_data_dir(child):
                    found.append(child)
                    if len(found) >= MAX_SUGGESTIONS:
                        return found
                below.append(child)
        level = below[:200]
    return found


def require_data_dir(path: Path, *, explicit: bool) -> None:
    """Raise a ValidationError (field ``--data-dir``, exit 2) unless ``path`` is a data directory.

    ``explicit`` says whether the operator named the path (``--data-dir``/``$PATCHWATCH_DATA``) or it is the
    default ``./data``; the message then says where the default came from.
    """
    if is_data_dir(path):
        return
    shown = str(path) if path.is_absolute() else f"{path} ({path.resolve()})"
    if not path.exists():
        why = "it does not exist"
    elif not path.is_dir():
        why = "it is a file, so it cannot be used as a data directory"
    else:
        why = f"it has no {MAIN_FILE_NAME}"
    rule = f"{shown} is not a Patchwatch data directory: {why}"
    if not explicit:
        rule += " (the default when neither --data-dir nor $PATCHWATCH_DATA is given)"
    nearby = nearby_data_dirs(path)
    if nearby:
        rule += "; use " + " or ".join(f"--data-dir {shlex.quote(str(p))}" for p in nearby)
    else:
        rule += ("; give the right one with --data-dir DIR (patchwatch demo prints its own; a daemon's is "
                 "in its unit's PATCHWATCH_DATA)")
    raise ValidationError.single("--data-dir", rule)

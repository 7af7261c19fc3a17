"""Fixtures of the daemon tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory other local users can reach (pytest's own tmp dirs are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="pw-attach-", dir="/tmp"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    data.chmod(0o755)
    try:
        yield data
    finally:
        shutil.rmtree(base, ignore_errors=True)

"""The store stays a core package: importing it pulls in no UI, SSH or notification library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_store_imports_no_textual_asyncssh_or_apprise() -> None:
    code = (
        "import sys, console.store, console.store.store, console.store.sharded, console.store.lock\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'textual', 'asyncssh', 'apprise'})\n"
        "print(bad)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"

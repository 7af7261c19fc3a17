"""The HTML coverage report, opened in a real headless browser (Debian's chromium): it renders, as a page
of the expected size that is not blank, and the DOM the browser built carries the report's figures."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.cli import main
from console.sim.history import build_history

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import provision  # noqa: E402

WIDTH, HEIGHT = 1000, 1400


def chromium(binary: str, args: list[str], profile: Path) -> subprocess.CompletedProcess[bytes]:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, timeout=180, check=False)


def png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed pixels): a blank page has almost none."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], len(set(zlib.decompress(idat)))


def test_the_html_report_renders_in_headless_chromium(tmp_path, capsys):
    problem = provision.ensure_chromium()
    if problem:
        pytest.skip(f"no chromium: {problem}")
    binary = provision.chromium_binary()
    assert binary is not None
    data = tmp_path / "data"
    build_history(data, hosts=120, days=40, end=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    page = tmp_path / "report.html"
    args = ["--data-dir", str(data), "report", "coverage", "--from", "2026-11-10", "--to", "2026-11-29"]
    assert main([*args, "--format", "html", "--out", str(page)]) == 0
    assert main([*args, "--format", "json"]) == 0
    fleet = json.loads(capsys.readouterr().out.splitlines()[0])

    shot = tmp_path / "shot.png"
    done = chromium(binary, [f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri()],
                    tmp_path / "profile-1")
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    width, height, colours = png_size_and_colours(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert colours > 50, "the screenshot is blank"

    dom = chromium(binary, ["--dump-dom", page.as_uri()], tmp_path / "profile-2").stdout.decode()
    assert "Patch scan coverage and compliance" in dom
    assert f"{fleet['coverage'] * 100:.1f}%" in dom
    assert dom.count("<svg") == 3 and "<polyline" in dom
    for state, count in fleet["states"].items():
        assert f'font-size="12">{state}</text>' in dom and f">{count}</text>" in dom, state
    assert "report coverage --from 2026-11-10T00:00:00+00:00" in dom

"""Regenerate docs/report.png: the HTML coverage report of a simulated 1,000-host, 90-day history, rendered
by headless Chromium (Debian's ``chromium``; ``python tests/provision.py`` installs it).

    python scripts/report_screenshot.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium with a fresh profile and nothing that reaches the network; never built from a shell."""
    binary = next((b for b in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(b).exists()), "chromium")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, timeout=180, check=False)


def main() -> None:
    from console.cli import main as cli
    from console.sim.history import build_history

    with tempfile.TemporaryDirectory() as temp:
        data = Path(temp) / "data"
        build_history(data, hosts=1000, days=90)
        page = Path(temp) / "report.html"
        cli(["--data-dir", str(data), "report", "coverage", "--from", "2026-11-01", "--to", "2026-11-29",
             "--state", "scan_failed,stale,never_scanned,untargeted", "--format", "html", "--out", str(page)])
        out = ROOT / "docs" / "report.png"
        done = chromium([f"--screenshot={out}", "--window-size=1000,1400", page.as_uri()], Path(temp) / "profile")
        if done.returncode != 0 or not out.exists():
            sys.exit(f"chromium failed: {done.stderr.decode(errors='replace')[-500:]}")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Regenerate the README's screenshot of the console: ``python scripts/screenshot.py [OUT.svg]``.

It starts the demo (simulated fleet with one fault per category, local mail and robot servers) in a
temporary directory, opens the console headless at 160x48, waits until the demo run's failures are on the
dashboard and its notices were delivered, and saves Textual's SVG export of the screen.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CATEGORIES = {"network", "timeout", "permission", "host_key", "tool", "service"}


async def main(out: Path) -> None:
    from console.demo import Demo
    from console.tui.app import PatchwatchApp

    with tempfile.TemporaryDirectory() as tmp:
        demo = Demo(Path(tmp) / "demo")
        engine = await demo.start(reset=True)
        try:
            app = PatchwatchApp(engine, scheduler=False)
            async with app.run_test(size=(160, 48)) as pilot:
                await demo.kick_off()
                for _ in range(600):
                    await pilot.pause(0.1)
                    runs = await engine.list_runs(limit=1)
                    if runs and runs[0].state.terminal and set(runs[0].categories) >= CATEGORIES:
                        sent = await engine.list_notifications(status="sent")
                        if len(sent) >= 4:
                            break
                await pilot.pause(1.5)
                out.parent.mkdir(parents=True, exist_ok=True)
                app.save_screenshot(filename=out.name, path=str(out.parent))
        finally:
            await demo.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "console.svg"))

"""The operator's main flow against the demo's simulated fleet, over real SSH on loopback.

A scan of 40 simulated hosts (one per failure category planted by the demo) runs while the console is open;
the dashboard must show a failed host of every category, ``l`` on one of them must open that host's log in
the run detail, and ``a`` back on the dashboard must acknowledge the failure's alarm in the engine (who).
Keys only, as an operator would; the test waits on conditions with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.demo import Demo
from console.domain.run import RunState
from console.engine import default_actor as engine_actor
from console.sim.fleet import FAULT_CATEGORY
from console.tui.app import PatchwatchApp
from console.tui.screens.home import HomeScreen
from console.tui.screens.run_detail import RunDetailScreen
from console.tui.widgets.home_failures import Failure

pytestmark = pytest.mark.slow

CATEGORIES = ("network", "timeout", "permission", "host_key", "tool", "service")
#: The category whose log is opened: its host connected and ran commands, so its transcript has output.
OPENED = "permission"
SIZE = (160, 48)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := condition()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)
    return value


def status_line(home: HomeScreen) -> str:
    return str(home.query_one("#home-status").render())


def failures_by_category(home: HomeScreen) -> dict[str, Failure]:
    """The newest visible failure of each category."""
    found: dict[str, Failure] = {}
    for failure in home.visible_failures():
        found.setdefault(failure.category, failure)
    return found


async def test_demo_failures_logs_and_acknowledge(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo")
    engine = await demo.start(reset=True)
    try:
        assert demo.fleet is not None
        # Ground truth: which host carries which fault (the demo plants one of each category).
        faulty = {FAULT_CATEGORY[kind]: hosts for kind, hosts in demo.fleet.fault_summary().items()
                  if kind in FAULT_CATEGORY and FAULT_CATEGORY[kind] in CATEGORIES}
        assert set(faulty) == set(CATEGORIES)

        app = PatchwatchApp(engine)
        async with app.run_test(size=SIZE) as pilot:
            home = app.screen
            assert isinstance(home, HomeScreen)
            await wait_for(pilot, lambda: home._loaded, "the dashboard to load")
            assert list(home.visible_failures()) == []

            await demo.kick_off()
            await wait_for(pilot, lambda: set(CATEGORIES) <= set(failures_by_category(home)),
                           f"failed hosts of all of {CATEGORIES} on the dashboard", timeout=60)
            shown = failures_by_category(home)
            for category in CATEGORIES:
                assert shown[category].host in faulty[category], (category, shown[category], faulty[category])
            run_ids = {f.run_id for f in shown.values()}
            assert len(run_ids) == 1, run_ids
            run_id = run_ids.pop()
            hosts = home.failures.model.unacknowledged_hosts()
            assert hosts >= len(CATEGORIES) and f"{hosts} failing hosts ({hosts} unacknowledged)" in status_line(home)

            # Select the permission failure with the arrow keys, then `l`: its run detail with its log.
            home.failures.focus()
            await pilot.press("home")
            for _ in range(home.failures.row_count):
                selected = home.failures.selected()
                if selected is not None and selected.category == OPENED:
                    break
                await pilot.press("down")
            chosen = home.failures.selected()
            assert chosen is not None and chosen.category == OPENED
            await pilot.press("l")
            detail = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen,
                                    "the run detail")
            assert detail.run_id == run_id
            assert detail.log_host == chosen.host
            await wait_for(pilot, lambda: f"## events of {chosen.host}" in detail.log_view.text(),
                           f"the log of {chosen.host}")
            text = detail.log_view.text()
            assert "cat /etc/os-release" in text or chosen.reason in text, text[:2000]
            assert "cat /etc/os-release" in text  # the host connected: its transcript starts with the OS probe
            assert chosen.reason in text  # the result line quotes the evidence
            assert detail.log_view.border_title == f"log: {chosen.host}"

            # The run must be over to be acknowledged (the slow host finishes a little later).
            finished = await engine.wait_run(run_id, timeout=60)
            assert finished.state is RunState.FAILED
            assert finished.acknowledged_by is None

            # Esc back to the dashboard, `a` on the same failure: the run is acknowledged in the engine.
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is home, "the dashboard again")
            selected_again = home.failures.selected()
            assert selected_again is not None and selected_again.key == chosen.key
            await pilot.press("a")

            # `a` takes the alarm the failure belongs to (one per task and failure episode).
            async def acknowledged_by() -> str | None:
                return (await engine.get_alarm(chosen.alarm_id)).acknowledged_by

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not await acknowledged_by():
                assert loop.time() < deadline, "the alarm was not acknowledged"
                await pilot.pause(0.05)
            assert await acknowledged_by() == engine_actor()
            await wait_for(pilot, lambda: all(f.acked for f in home.visible_failures()
                                              if f.alarm_id == chosen.alarm_id), "the alarm's rows acknowledged")
            assert home.query_one("#failures-panel").has_class("-alarm") == bool(
                home.failures.model.unacknowledged_alarms())
            errors = [m for m in app.messages if m.startswith("Failed")]
            assert errors == [], errors
    finally:
        await demo.close()

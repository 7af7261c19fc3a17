"""Fixtures of the console tests: an engine on a temporary directory with a manual clock and a job that does
no I/O, and ``ui``: keyboard helpers that wait (with Pilot pauses) for a condition instead of sleeping a fixed
time. (Tests run with ``--import-mode=importlib``, so helpers are handed out as a fixture, not imported.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from support import NoIoJob, open_engine, utc

from console.clock import ManualClock
from console.engine import Engine

START = "2026-11-26T00:00:00+00:00"


@pytest.fixture
def job() -> NoIoJob:
    return NoIoJob()


@pytest.fixture
async def engine(tmp_path: Any, job: NoIoJob) -> AsyncIterator[Engine]:
    engine = await open_engine(tmp_path / "data", ManualClock(utc(START)), job, notify=False)
    try:
        yield engine
    finally:
        await engine.close()


class Ui:
    """Keyboard-driving helpers for Pilot."""

    @staticmethod
    async def wait_for(pilot: Any, condition: Callable[[], Any], *, tries: int = 250,
                       what: str = "condition") -> Any:
        """Pause the app until ``condition()`` is truthy (engine work and workers run meanwhile)."""
        for _ in range(tries):
            value = condition()
            if value:
                return value
            await pilot.pause(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    @staticmethod
    async def focus(pilot: Any, widget_id: str, *, limit: int = 80) -> None:
        """Move the focus to ``#widget_id`` with Tab only, as an operator would."""
        app = pilot.app
        for _ in range(limit):
            if app.focused is not None and app.focused.id == widget_id:
                return
            await pilot.press("tab")
        raise AssertionError(f"could not tab to #{widget_id}; focus is on {app.focused!r}")

    @staticmethod
    async def command(pilot: Any, text: str) -> None:
        """Type ``:text`` Enter on the command line."""
        await pilot.press("colon")
        await pilot.pause(0.06)
        await pilot.press(*text, "enter")
        await pilot.pause(0.06)


@pytest.fixture
def ui() -> Ui:
    return Ui()

"""Helpers for tests of one console screen: a bare app that hosts it, and polling for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen


class Host(App[None]):
    """A bare app that pushes the screen under test (so those tests do not depend on the console app)."""

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self._make = make

    def on_mount(self) -> None:
        self.push_screen(self._make())


async def wait_for(pilot: Any, predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def notices(app: App[Any]) -> list[str]:
    """The texts of the notifications the app is showing."""
    return [n.message for n in app._notifications]

"""Injected time.

Everything that asks "what time is it" or "wake me at T" goes through a :class:`Clock`, so tests can drive
months of schedule in moments with :class:`ManualClock` and production uses :class:`SystemClock`.
All instants are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float) -> T:
    """``await awaitable`` for at most ``timeout`` seconds (then TimeoutError), cancellable at any moment.

    Why not ``asyncio.wait_for``: in Python 3.11 it swallows a cancellation that arrives as the awaited thing
    completes, and a loop cancelled at shutdown then goes round forever (the notifier's dispatcher did, so a
    console never exited after Ctrl-C)."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        raise TimeoutError
    return task.result()


class Clock(Protocol):
    """Source of the current instant and of timed waits."""

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        """Return at ``when`` or as soon as ``wake`` is set, whichever comes first."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        delay = max(0.0, (when - self.now()).total_seconds())
        if wake is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await within(wake.wait(), delay)


class ManualClock:
    """A clock that only moves when a test moves it.

    Sleepers wake when :meth:`set` or :meth:`advance` reaches their deadline, so a scheduler driven by this
    clock behaves as it would in real time, only as fast as the test advances it.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    async def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards) and let the sleepers that are due run."""
        when = when.astimezone(UTC)
        if when > self._now:
            self._now = when
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()
        for _ in range(5):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        await self.set(self._now + timedelta(seconds=seconds))

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        while self._now < when and not (wake is not None and wake.is_set()):
            waits = [asyncio.ensure_future(self._moved.wait())]
            if wake is not None:
                waits.append(asyncio.ensure_future(wake.wait()))
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for fut in pending:
                fut.cancel()

"""A resumable event stream: the stored events after a sequence number, then the live ones, each once.

A client that lost its connection (a console whose daemon restarted) subscribes again with the last ``seq``
it saw: it first gets what it missed from the trace, then the live feed, with no gap (the live subscription
starts before the trace is read) and no duplicate (live events at or below the last replayed ``seq`` are
skipped).
"""

from __future__ import annotations

from collections import deque

from console.domain.events import Event, EventKind
from console.engine.broker import Subscription


class ResumedStream:
    """Queue-like: ``await get()``, ``get_nowait()``, ``empty()``, ``close()``; iterable with ``async for``."""

    def __init__(self, live: Subscription, backlog: list[Event], after_seq: int) -> None:
        self._live = live
        self._backlog = deque(backlog)
        self.last_seq = backlog[-1].seq if backlog else after_seq

    def _accept(self, event: Event) -> bool:
        if event.kind is EventKind.STREAM_LAGGED:
            return True
        if event.seq <= self.last_seq:
            return False
        self.last_seq = event.seq
        return True

    async def get(self) -> Event:
        if self._backlog:
            return self._backlog.popleft()
        while True:
            event = await self._live.get()
            if self._accept(event):
                return event

    def get_nowait(self) -> Event:
        """The next event, or ``asyncio.QueueEmpty``."""
        if self._backlog:
            return self._backlog.popleft()
        while True:
            event = self._live.get_nowait()
            if self._accept(event):
                return event

    def empty(self) -> bool:
        return not self._backlog and self._live.empty()

    def close(self) -> None:
        self._live.close()

    def __aiter__(self) -> ResumedStream:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


__all__ = ["ResumedStream"]

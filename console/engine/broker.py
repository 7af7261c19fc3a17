"""The event broker: publishes typed events to the trace and to live subscribers.

It owns event numbering: every event gets its ``seq`` when it is published (not when it is written), so a
subscriber, the trace and a client resuming a stream all see the same numbers, strictly increasing and
continued across restarts. It hands each published event to the store's write buffer (the trace) and to
every subscription.

Committed first: a subscription made with ``committed=True`` (every client: ``run --wait``, the daemon's
output, the console) is handed an event only once the store has committed it (the data store calls
:meth:`EventBroker.committed` after each successful batch write, which writes host results and run progress
before the events that announce them). So whatever a client printed as done survives a SIGKILL; the price is
at most one flush interval (0.5 s) of delay. The engine's own services subscribe uncommitted (they act on
events, they do not show them). ``engine.store_error``/``engine.store_recovered`` are about the disk itself and
reach everyone at once: while the disk refuses writes nothing else would arrive.

A subscription is a bounded queue (or an unbounded one, for the engine's own services, which must see
everything). When a bounded one overflows the broker does not drop events silently: it empties the queue and
delivers one ``stream.lagged`` event carrying the last sequence number the subscriber was given, so the
subscriber knows it must re-read (resync) from the trace.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from console.clock import Clock
from console.domain import ids
from console.domain.events import Event, EventKind, check_payload

#: Queue bound of a live subscriber (a console, a CLI follower): past it, it is told it lagged.
DEFAULT_CAPACITY = 50_000
#: Kinds a committed subscriber gets at once: they report on the store itself (it may be refusing writes).
UNHELD = frozenset({EventKind.STORE_ERROR, EventKind.STORE_RECOVERED})


class Subscription:
    """Events published after the subscription started, in order; ``stream.lagged`` when it fell behind."""

    def __init__(self, broker: EventBroker, capacity: int | None, *, committed: bool = False) -> None:
        self._broker = broker
        self.capacity = capacity
        #: given events only once they are on disk (see the module docstring)
        self.committed = committed
        #: events numbered up to this were published before the subscription began
        self.start_seq = broker.last_seq
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._last_seq = 0
        self._lagged = False
        self.closed = False

    def offer(self, event: Event) -> None:
        """Called by the broker for every published event."""
        if self._lagged:
            return
        if self.capacity is not None and self._queue.qsize() >= self.capacity:
            # Too far behind: drop what it has not read and tell it so, instead of losing events silently.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._lagged = True
            self._queue.put_nowait(Event(kind=EventKind.STREAM_LAGGED, at=event.at,
                                         message="this subscriber fell behind; re-read from the trace",
                                         data={"after_seq": self._last_seq}, seq=0))
            return
        self._queue.put_nowait(event)

    def _taken(self, event: Event) -> Event:
        if event.kind is EventKind.STREAM_LAGGED:
            self._lagged = False
        else:
            self._last_seq = event.seq
        return event

    async def get(self) -> Event:
        return self._taken(await self._queue.get())

    def get_nowait(self) -> Event:
        """The next event, or ``asyncio.QueueEmpty``."""
        return self._taken(self._queue.get_nowait())

    def empty(self) -> bool:
        return self._queue.empty()

    def qsize(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self.closed = True
        self._broker.unsubscribe(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventBroker:
    """Publish events; subscribe to them."""

    def __init__(self, clock: Clock, *, next_seq: int = 1,
                 record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._clock = clock
        self._next_seq = next_seq
        self._record = record
        self._subscriptions: set[Subscription] = set()
        #: published, not yet committed: committed subscribers get them from :meth:`committed`
        self._held: deque[Event] = deque()

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest published event (0 before the first)."""
        return self._next_seq - 1

    def publish(self, kind: EventKind, message: str, *, task_id: str | None = None, run_id: str | None = None,
                host: str | None = None, actor: str | None = None, data: dict[str, Any] | None = None) -> Event:
        """Number ``kind`` and hand it to the trace and every subscriber. The payload must be in the catalogue."""
        payload = data or {}
        check_payload(kind, payload)
        event = Event(kind=kind, at=self._clock.now().isoformat(), message=message, task_id=task_id,
                      run_id=run_id, host=host, actor=actor, data=payload, id=ids.new_id(ids.EVENT),
                      seq=self._next_seq)
        self._next_seq += 1
        held = self._record is not None and kind not in UNHELD
        if self._record is not None:
            self._record(event.to_dict())
        if held:
            self._held.append(event)
        for subscription in list(self._subscriptions):
            if not (held and subscription.committed):
                subscription.offer(event)
        return event

    def committed(self, up_to_seq: int) -> None:
        """The store committed every event numbered up to ``up_to_seq``: hand them to committed subscribers."""
        committed_subs = [s for s in self._subscriptions if s.committed]
        while self._held and self._held[0].seq <= up_to_seq:
            event = self._held.popleft()
            for subscription in committed_subs:
                if event.seq > subscription.start_seq:
                    subscription.offer(event)

    def subscribe(self, *, capacity: int | None = DEFAULT_CAPACITY, committed: bool = False) -> Subscription:
        """Every event published from now on (``capacity=None``: never lags; for the engine's own services;
        ``committed``: only once stored, for anything that shows events to people)."""
        subscription = Subscription(self, capacity, committed=committed)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

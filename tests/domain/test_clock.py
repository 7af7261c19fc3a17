"""The clocks' sleeps: a cancelled sleeper stops, even when its wake event fires in the same moment.

Found by a console that never exited after Ctrl-C (and a ``patchwatch task enable`` that hung after kill -9
recovery): the notifier's dispatcher was cancelled at shutdown while a finished send set its wake event, and
``asyncio.wait_for`` in Python 3.11 returned the event instead of raising CancelledError, so the dispatcher
went round again and shutdown waited for it forever.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from support import utc

from console.clock import ManualClock, SystemClock


@pytest.mark.parametrize("make_clock", [SystemClock, lambda: ManualClock(utc("2026-11-05T00:00:00+00:00"))],
                         ids=["system", "manual"])
async def test_a_sleeper_cancelled_as_its_wake_event_is_set_is_cancelled(make_clock) -> None:
    clock = make_clock()
    for _ in range(20):
        wake = asyncio.Event()
        sleeper = asyncio.create_task(clock.sleep_until(clock.now() + timedelta(hours=1), wake))
        await asyncio.sleep(0)  # the sleeper is now waiting on its event
        wake.set()
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(sleeper, timeout=5)
        assert sleeper.cancelled()


async def test_a_sleeper_wakes_early_on_its_event_and_on_time_without_it() -> None:
    clock = SystemClock()
    wake = asyncio.Event()
    sleeper = asyncio.create_task(clock.sleep_until(clock.now() + timedelta(hours=1), wake))
    await asyncio.sleep(0.01)
    wake.set()
    await asyncio.wait_for(sleeper, timeout=2)
    await asyncio.wait_for(clock.sleep_until(clock.now() + timedelta(seconds=0.05), asyncio.Event()), timeout=2)

"""Pure decisions of the scheduler: which slots are due, which were missed.

Kept free of I/O and asyncio so the rules (grace, caps, never twice) are tested in isolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from console.domain.task import Schedule

#: How many missed slots one ``missed`` record lists by name; the count goes on beyond.
MISSED_LISTED = 100
#: How far the scheduler enumerates missed slots of one task (a per-second task down for a year would
#: otherwise enumerate millions); beyond it the record says "at least".
MISSED_COUNTED = 10_000


@dataclass(frozen=True)
class DueSlots:
    """What to do for one task at one tick."""

    on_time: list[datetime]  # fire these now (late by at most the grace)
    missed: list[datetime]  # record these as missed (the first MISSED_LISTED)
    missed_count: int
    missed_capped: bool  # True when counting stopped at MISSED_COUNTED
    next_fire: datetime | None  # the first slot after everything handled here


def due_slots(schedule: Schedule, next_fire: datetime, now: datetime, grace: timedelta) -> DueSlots:
    """Split the slots from ``next_fire`` (inclusive) up to ``now`` into on-time and missed.

    A slot is on time while ``now - slot <= grace``; older ones were missed (the process was down or
    blocked). ``next_fire`` must be a slot of ``schedule`` that has not been handled yet.
    """
    on_time: list[datetime] = []
    missed: list[datetime] = []
    count = 0
    capped = False
    slot: datetime | None = next_fire
    while slot is not None and slot <= now:
        if now - slot <= grace:
            on_time.append(slot)
        else:
            count += 1
            if len(missed) < MISSED_LISTED:
                missed.append(slot)
            if count >= MISSED_COUNTED:
                capped = True
                # Jump to the slots near now instead of walking the rest one by one.
                slot = schedule.next_after(now - grace - timedelta(microseconds=1))
                continue
        slot = schedule.next_after(slot)
    return DueSlots(on_time, missed, count, capped, slot)

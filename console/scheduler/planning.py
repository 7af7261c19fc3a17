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
    blocked). At most one slot is on time, the newest: older slots inside the grace are missed too, so the
    whole gap is one record. ``next_fire`` must be a slot of ``schedule`` that has not been handled yet.
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
    if len(on_time) > 1:
        # Only the newest on-time slot fires. The older ones (a frequent task after downtime or a blocked loop)
        # join the one missed record: firing them one after another found the first still running and made a
        # "slot skipped" record, and a notice, for each.
        older, on_time = on_time[:-1], on_time[-1:]
        count += len(older)
        missed = (missed + older)[:MISSED_LISTED]
    return DueSlots(on_time, missed, count, capped, slot)

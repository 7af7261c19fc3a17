"""#15: what a client is shown as done is committed first; a sent notice's status is committed at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support import NoIoJob, fleet, task_input, utc

from console.clock import ManualClock, SystemClock
from console.domain.events import EventKind
from console.engine import Engine
from console.notify.channels import write_channels_file
from console.sim.sinks import MailSink

PEOPLE = Path(__file__).parents[1] / "notify" / "fixtures" / "people.toml"


async def test_a_subscriber_is_given_an_event_only_once_it_is_stored(tmp_path):
    engine = Engine(tmp_path, clock=ManualClock(utc("2026-11-26T00:00:00+00:00")), jobs={"Scan_OS_Patch": NoIoJob()},
                    flush_interval=3600)
    await engine.open()
    stream = await engine.subscribe()
    event = engine.broker.publish(EventKind.SCHEDULER_STARTED, "held until stored")
    await asyncio.sleep(0)
    assert stream.empty(), "a client was shown an event the store did not have yet"
    await engine.store.flush()
    shown = stream.get_nowait()
    assert shown.id == event.id
    stored = await engine.query_events(kind="scheduler.started")
    assert [e.id for e in stored] == [event.id]
    await engine.close()


async def until(predicate, timeout=15.0, step=0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def test_a_sent_notice_is_stored_as_sent_without_waiting_for_the_next_batch(tmp_path):
    """With batches that never come by themselves (flush interval of an hour), a reader of the data directory
    still finds the notice ``sent`` right after the send: a kill then cannot make it go out twice."""
    async with MailSink() as mail:
        channels_file = write_channels_file(tmp_path / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
        engine = Engine(tmp_path / "data", clock=SystemClock(), channels_path=channels_file, flush_interval=3600,
                        jobs={"Scan_OS_Patch": NoIoJob(outcomes={"host-000": "network"})},
                        notify_options={"coalesce": 0.05})
        await engine.open()
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(1, "all"))
            task = await engine.create_task(task_input(
                "notify-me", "0 15 3 5 * ?", notify={"enabled": True, "policies": ["execution_failed"],
                                                      "scenario": "patch-duty", "roles": ["on-duty"],
                                                      "modes": ["email"]}))
            await engine.run_now(task.id)

            async def mailed():
                return len(mail.messages) >= 1

            await until(mailed)

            async def stored_sent():
                # A fresh reader each time: it sees what is on disk, nothing buffered in the writer.
                reader = Engine(tmp_path / "data", read_only=True, notify=False)
                await reader.open()
                try:
                    return [r for r in await reader.list_notifications() if r.status.value == "sent"]
                finally:
                    await reader.close()

            assert await until(stored_sent, timeout=5)
        finally:
            await engine.close()


def test_the_sent_journal_survives_a_torn_last_line(tmp_path):
    from console.store.sent_journal import SENT_JOURNAL, clear_sent, journal_sent, read_sent

    journal_sent(tmp_path, "NT1", "2026-12-02T00:00:00+00:00")
    journal_sent(tmp_path, "NT2", "2026-12-02T00:00:01+00:00")
    with open(tmp_path / SENT_JOURNAL, "a", encoding="utf-8") as torn:
        torn.write("NT3 2026-12-02T00:0\nNT")  # killed mid-line twice: a torn time, then a torn id
    assert read_sent(tmp_path) == {"NT1": "2026-12-02T00:00:00+00:00", "NT2": "2026-12-02T00:00:01+00:00",
                                   "NT3": ""}
    clear_sent(tmp_path)
    assert read_sent(tmp_path) == {}


async def test_a_broken_task_is_notified(tmp_path):
    """The scheduler marking a task broken reaches the people on duty (as a missed-run notice)."""
    from hostile.test_scheduler_isolation import plant

    async with MailSink() as mail:
        channels_file = write_channels_file(tmp_path / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
        clock = ManualClock(utc("2026-11-26T00:00:00+00:00"))
        data = tmp_path / "data"

        def engine() -> Engine:
            return Engine(data, clock=clock, channels_path=channels_file, jobs={"Scan_OS_Patch": NoIoJob()},
                          notify_options={"coalesce": 0.05})

        first = await engine().open()
        await first.import_people(PEOPLE.read_text())
        await first.upsert_instances(fleet(1, "all"))
        await first.create_task(task_input("breaks", "0 * * * * ?", review={"required": True}, notify={
            "enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
            "modes": ["email"]}))
        await first.close()
        plant(data, "breaks", review__expires_after=10**15)
        second = await engine().open()
        try:
            scheduler = second.create_scheduler()
            await scheduler.start()
            await clock.advance(60)
            await scheduler.tick()

            async def mailed():
                return [m for m in mail.messages if "cannot be scheduled" in (m.part("text/plain") or "")]

            assert await until(mailed, timeout=10)
        finally:
            await second.close()

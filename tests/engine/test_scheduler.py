"""The scheduler on an injected clock: on time, never twice, missed fires recorded, expiry, one owner."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from support import NoIoJob, fleet, open_engine, task_input, utc

from console.clock import ManualClock
from console.domain.run import RunState, Trigger
from console.errors import DataDirLockedError
from console.scheduler.scheduler import Scheduler

START = "2026-11-26T00:00:00+00:00"


async def drive(clock: ManualClock, scheduler: Scheduler, engine, until, step: float = 60.0) -> None:
    """Advance the clock in ``step`` seconds, ticking the scheduler after each move."""
    end = utc(until) if isinstance(until, str) else until
    while clock.now() < end:
        await clock.advance(step)
        await scheduler.tick()
        await engine.idle()


async def all_runs(engine, task=None):
    return await engine.list_runs(task=task, limit=100_000)


async def test_per_minute_task_fires_1440_times_in_a_day_and_no_slot_twice(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(2, "all"))
    task = await engine.create_task(task_input("every-minute", "0 * * * * ?"))
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await drive(clock, scheduler, engine, "2026-11-27T00:00:00+00:00")
    runs = await all_runs(engine, task.id)
    slots = [r.scheduled_for for r in runs]
    assert len(runs) == 1440
    assert len(set(slots)) == 1440, "a slot fired twice"
    assert all(r.state is RunState.SUCCEEDED for r in runs)
    expected = {(utc(START) + timedelta(minutes=m)).isoformat() for m in range(1, 1441)}
    assert set(slots) == expected
    await engine.close()


async def test_the_real_loop_fires_on_time_with_the_injected_clock(tmp_path):
    clock = ManualClock(utc(START))
    job = NoIoJob()
    engine = await open_engine(tmp_path, clock, job)
    await engine.upsert_instances(fleet(1, "all"))
    await engine.create_task(task_input("hourly", "0 0 * * * ?"))
    scheduler = engine.create_scheduler()
    loop = scheduler.start_background()
    await scheduler.settled()
    for _ in range(6 * 60):
        await clock.advance(60)
        await scheduler.settled()
    runs = await all_runs(engine)
    assert [r.scheduled_for for r in reversed(runs)] == [
        f"2026-11-26T0{h}:00:00+00:00" for h in range(1, 7)]
    loop.cancel()
    await engine.close()


async def test_restart_after_three_hours_down_records_missed_slots_once_per_task(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    quarter = await engine.create_task(task_input("quarter-hourly", "0 */15 * * * ?"))
    hourly = await engine.create_task(task_input("hourly-catch-up", "0 0 * * * ?",
                                                 schedule={"on_missed": "run_once"}))
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await drive(clock, scheduler, engine, "2026-11-26T01:00:00+00:00")
    await engine.close()  # the process stops at 01:00 ...

    await clock.set(utc("2026-11-26T04:00:30+00:00"))  # ... and starts again three hours later
    job = NoIoJob()
    engine = await open_engine(tmp_path, clock, job)
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await scheduler.tick()
    await engine.idle()

    missed_q = await engine.list_runs(task=quarter.id, states={RunState.MISSED})
    assert len(missed_q) == 1, "one missed record per task, not one per slot"
    assert missed_q[0].missed_count == 11  # 01:15 .. 03:45 (04:00 is within the grace and fires)
    assert missed_q[0].missed_slots[0] == "2026-11-26T01:15:00+00:00"
    assert missed_q[0].missed_slots[-1] == "2026-11-26T03:45:00+00:00"
    fired_q = [r for r in await engine.list_runs(task=quarter.id) if r.state is RunState.SUCCEEDED]
    assert "2026-11-26T04:00:00+00:00" in {r.scheduled_for for r in fired_q}

    missed_h = await engine.list_runs(task=hourly.id, states={RunState.MISSED})
    assert len(missed_h) == 1 and missed_h[0].missed_count == 2  # 02:00, 03:00
    # 04:00 is on time, so no extra catch-up run is needed for run_once.
    assert not [r for r in await engine.list_runs(task=hourly.id) if r.trigger is Trigger.CATCH_UP]

    events = await engine.query_events(kind="run.missed")
    assert len(events) == 2
    # Nothing is fired twice: every slot appears once across all records.
    seen = Counter()
    for run in await all_runs(engine):
        for slot in run.missed_slots or ([run.scheduled_for] if run.scheduled_for else []):
            seen[(run.task_id, slot)] += 1
    assert max(seen.values()) == 1
    await engine.close()


async def test_run_once_policy_runs_once_after_missed_slots(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task(task_input("daily-catch-up", "0 30 2 * * ?",
                                               schedule={"on_missed": "run_once"}))
    await engine.close()
    await clock.set(utc("2026-11-29T12:00:00+00:00"))
    engine = await open_engine(tmp_path, clock)
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await scheduler.tick()
    await engine.idle()
    runs = await engine.list_runs(task=task.id)
    assert [r.state for r in runs] == [RunState.SUCCEEDED, RunState.MISSED]
    assert runs[0].trigger is Trigger.CATCH_UP
    assert runs[1].missed_count == 4  # 02:30 on the 26th, 27th, 28th and 29th
    await engine.close()


async def test_a_slot_is_never_fired_twice_even_if_the_schedule_state_was_not_advanced(tmp_path):
    """A kill between storing the run and advancing next_fire must not fire the slot again."""
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task(task_input("hourly", "0 0 * * * ?"))
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await drive(clock, scheduler, engine, "2026-11-26T01:00:10+00:00", step=10)
    # Simulate the crash window: put next_fire back to the slot that already has a run.
    await engine.put_schedule_state(task.id, next_fire=utc("2026-11-26T01:00:00+00:00"))
    await engine.close()
    engine = await open_engine(tmp_path, clock)
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await scheduler.tick()
    await engine.idle()
    slots = [r.scheduled_for for r in await engine.list_runs(task=task.id)]
    assert slots.count("2026-11-26T01:00:00+00:00") == 1
    await engine.close()


async def test_expired_task_stops_firing(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task(task_input("short-lived", "0 0 * * * ?",
                                               schedule={"expires": "2026-11-26T03:30:00"}))
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await drive(clock, scheduler, engine, "2026-11-26T10:00:00+00:00")
    runs = await engine.list_runs(task=task.id)
    assert sorted(r.scheduled_for for r in runs) == [
        "2026-11-26T01:00:00+00:00", "2026-11-26T02:00:00+00:00", "2026-11-26T03:00:00+00:00"]
    expired = await engine.query_events(kind="task.expired")
    assert len(expired) == 1 and expired[0].task_id == task.id
    assert await engine.next_fires(task.id) == []
    await engine.close()


async def test_single_execution_fires_once(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task({**task_input("one-shot", "x"), "schedule": {
        "timezone": "Asia/Shanghai", "type": "single", "at": "2026-11-26T12:00:00"}})
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await drive(clock, scheduler, engine, "2026-11-27T00:00:00+00:00", step=300)
    runs = await engine.list_runs(task=task.id)
    assert [r.scheduled_for for r in runs] == ["2026-11-26T04:00:00+00:00"]  # 12:00 in Shanghai
    await engine.close()


async def test_task_zone_decides_the_fire_instant(tmp_path):
    clock = ManualClock(utc("2026-12-04T00:00:00+00:00"))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task(task_input("seed-like", "0 15 3 5 * ?", schedule={"timezone": "GMT+08:00"}))
    fires = await engine.next_fires(task.id, 2)
    assert [f.isoformat() for f in fires] == ["2026-12-05T03:15:00+08:00", "2027-01-05T03:15:00+08:00"]
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await drive(clock, scheduler, engine, "2026-12-05T00:00:00+00:00", step=600)
    runs = await engine.list_runs(task=task.id)
    assert [r.scheduled_for for r in runs] == ["2026-12-04T19:15:00+00:00"]
    await engine.close()


async def test_overlapping_fire_is_recorded_as_missed_not_queued(tmp_path):
    clock = ManualClock(utc(START))
    gate = asyncio.Event()
    engine = await open_engine(tmp_path, clock, NoIoJob(gate=gate))
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task(task_input("slow", "0 * * * * ?"))
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await clock.advance(60)
    await scheduler.tick()
    await clock.advance(60)
    await scheduler.tick()
    gate.set()
    await engine.idle()
    runs = await engine.list_runs(task=task.id)
    assert [r.state for r in runs] == [RunState.MISSED, RunState.SUCCEEDED]
    assert "still running" in (runs[0].error or "")
    await engine.close()


async def test_manual_review_waits_then_approve_or_expire(tmp_path):
    clock = ManualClock(utc(START))
    job = NoIoJob()
    engine = await open_engine(tmp_path, clock, job)
    await engine.upsert_instances(fleet(2, "all"))
    task = await engine.create_task(task_input("reviewed", "0 0 * * * ?", risk="high",
                                               review={"expires_after": "30m"}))
    assert task.review.required  # high risk turns review on by default
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await drive(clock, scheduler, engine, "2026-11-26T01:00:00+00:00")
    pending = await engine.list_runs(task=task.id)
    assert pending[0].state is RunState.PENDING_REVIEW and job.executed == []
    approved = await engine.approve(pending[0].id, actor="alice", note="ok for tonight")
    await engine.idle()
    assert approved.reviewed_by == "alice"
    assert (await engine.get_run(approved.id)).state is RunState.SUCCEEDED
    await drive(clock, scheduler, engine, "2026-11-26T02:40:00+00:00")
    runs = await engine.list_runs(task=task.id)
    assert runs[0].state is RunState.REVIEW_EXPIRED  # the 02:00 run nobody reviewed
    assert len(job.executed) == 1
    events = [e.kind for e in await engine.query_events(task_id=task.id, newest_first=False)]
    assert "run.approved" in events and "run.review_expired" in events
    await engine.close()


async def test_a_second_engine_on_the_same_data_directory_is_refused(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    with pytest.raises(DataDirLockedError) as info:
        await open_engine(tmp_path, clock)
    assert str(tmp_path) in str(info.value)
    await engine.close()
    again = await open_engine(tmp_path, clock)
    await again.close()


def test_a_second_daemon_process_exits_with_a_clear_message(tmp_path):
    import subprocess
    import sys
    import time

    env = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen([sys.executable, "-m", "console", "--data-dir", str(tmp_path), "daemon"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = first.stdout.readline()
        assert "daemon" in line
        second = subprocess.run([sys.executable, "-m", "console", "--data-dir", str(tmp_path), "daemon"],
                                capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 2
        assert "in use by process" in second.stderr and str(first.pid) in second.stderr
    finally:
        first.terminate()
        out, _ = first.communicate(timeout=30)
    assert first.returncode == 0
    assert "stopped" in out
    time.sleep(0)

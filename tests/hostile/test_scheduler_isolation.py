"""#15: one task never stops the scheduler; every date and duration is range-checked at validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import NoIoJob, fleet, open_engine, task_input, utc

from console.clock import ManualClock
from console.domain.events import EventKind
from console.domain.run import Trigger
from console.errors import ValidationError

START = "2026-11-26T00:00:00+00:00"


def plant(data_dir: Path, name: str, **schedule: object) -> None:
    """Rewrite a stored task's schedule/review as an older version (or a hand edit) could have left it."""
    path = data_dir / "patchwatch.json"
    doc = json.loads(path.read_text())
    for record in doc["tasks"].values():
        if record["name"] == name:
            for key, value in schedule.items():
                section, field = key.split("__")
                record[section][field] = value
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("field,value,error", [
    ("review__expires_after", 99999999999 * 86400, "OverflowError"),
    ("schedule__timezone", "Mars/Olympus_Mons", "Error"),  # a zone this machine's tzdata does not know
])
async def test_a_task_whose_dates_overflow_is_marked_broken_and_the_others_fire(tmp_path, field, value, error):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    await engine.create_task(task_input("aa-bad", "0 * * * * ?", review={"required": True}))
    good = await engine.create_task(task_input("zz-good", "0 * * * * ?"))
    await engine.close()
    plant(tmp_path, "aa-bad", **{"schedule__timezone": "GMT+14:00", field: value})

    engine = await open_engine(tmp_path, clock)
    stream = await engine.subscribe()
    scheduler = engine.create_scheduler()
    await scheduler.start()
    for _ in range(3):
        await clock.advance(60)
        await scheduler.tick()
        await engine.idle()
    runs = await engine.list_runs(task=good.id, limit=100)
    assert len([r for r in runs if r.trigger is Trigger.SCHEDULE]) == 3, "the good task must fire on time"
    problems = await engine.task_problems()
    bad = (await engine.list_tasks())[0]
    assert bad.name == "aa-bad" and error in problems[bad.id]
    broken = [e for e in await engine.query_events(kind="task.broken") if e.task_id == bad.id]
    assert len(broken) == 1, "broken once, not at every tick"
    assert broken[0].kind is EventKind.TASK_BROKEN
    seen = []
    while not stream.empty():
        seen.append(stream.get_nowait().kind)
    assert EventKind.TASK_BROKEN in seen
    await engine.close()


@pytest.mark.parametrize("section,key,value,rule", [
    ("review", "expires_after", "99999999999d", "between 1s and 366d"),
    ("review", "expires_after", float("nan"), "positive duration"),
    ("review", "expires_after", float("inf"), "between 1s"),
    ("schedule", "expires", "9999-12-31T23:59:59", "between 1970 and 2099"),
    ("job", "params", {"connect_timeout": float("nan")}, "between"),
])
async def test_out_of_range_values_are_refused_at_validation(tmp_path, section, key, value, rule):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    data = task_input("t-range", "0 * * * * ?", **{section: {key: value}})
    data["schedule"]["timezone"] = "GMT-14:00"
    with pytest.raises(ValidationError) as err:
        await engine.create_task(data)
    assert rule in str(err.value)
    assert await engine.list_tasks() == []
    await engine.close()


async def test_a_single_run_in_year_9999_west_of_utc_is_refused(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    data = task_input("t-single", "0 * * * * ?")
    data["schedule"] = {"timezone": "GMT-14:00", "type": "single", "at": "9999-12-31T23:00:00"}
    with pytest.raises(ValidationError) as err:
        await engine.create_task(data)
    assert "schedule.at" in str(err.value)
    assert await engine.list_tasks() == []
    await engine.close()


def test_daemon_exits_non_zero_when_the_scheduler_loop_ends(tmp_path, monkeypatch):
    """The loop ending by itself (here: a bug that raises) must not leave a daemon that
    fires nothing: it exits 3 and systemd restarts it."""
    from console import cli
    from console.scheduler.scheduler import Scheduler

    async def dies(self):  # noqa: ANN001
        raise RuntimeError("scheduler loop bug")

    monkeypatch.setattr(Scheduler, "run_forever", dies)
    assert cli.main(["--data-dir", str(tmp_path), "daemon"]) == cli.EXIT_SCHEDULER_DIED


_ = NoIoJob


async def test_slots_missed_during_downtime_inside_and_outside_the_grace_make_one_record(tmp_path):
    """A task every 10 s, the scheduler away for 5 minutes: 29 older slots (6 of them inside the 60 s grace)
    become ONE missed run and one run.missed event; only the newest slot fires."""
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock, NoIoJob(delay=0.05))
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task(task_input("every-10s", "*/10 * * * * ?"))
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await clock.advance(300)
    await scheduler.tick()
    await engine.idle()
    runs = await engine.list_runs(task=task.id, limit=100)
    missed = [r for r in runs if r.state.value == "missed"]
    fired = [r for r in runs if r.state.value != "missed"]
    assert len(missed) == 1, [r.error for r in missed]
    assert missed[0].missed_count == 29
    assert len(fired) == 1 and fired[0].scheduled_for == clock.now().isoformat()
    events = await engine.query_events(kind="run.missed")
    assert len(events) == 1
    await engine.close()


async def test_the_console_tasks_list_shows_a_broken_task_as_broken(tmp_path):
    from screen_host import Host, wait_for

    from console.tui.screens.tasks import TasksScreen

    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    await engine.upsert_instances(fleet(1, "all"))
    await engine.create_task(task_input("aa-bad", "0 * * * * ?"))
    await engine.create_task(task_input("zz-good", "0 * * * * ?"))
    await engine.close()
    plant(tmp_path, "aa-bad", schedule__timezone="Mars/Olympus_Mons")
    engine = await open_engine(tmp_path, clock)
    scheduler = engine.create_scheduler()
    await scheduler.start()
    await clock.advance(60)
    await scheduler.tick()
    await engine.idle()
    app = Host(lambda: TasksScreen(engine))
    async with app.run_test(size=(160, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.table.row_count == 2)
        states = {str(screen.table.get_row_at(i)[0]): str(screen.table.get_row_at(i)[1]) for i in range(2)}
    await engine.close()
    assert states == {"aa-bad": "broken", "zz-good": "scheduled"}

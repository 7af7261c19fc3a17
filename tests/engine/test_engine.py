"""The engine facade: commands, validation that changes nothing, run control, the trace."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest
from support import SEED_TASK, NoIoJob, fleet, open_engine, task_input, utc

from console.clock import ManualClock
from console.domain.run import HostResult, HostStatus, RunState, Trigger
from console.engine import Engine
from console.errors import ConflictError, NotFoundError, ValidationError

START = "2026-11-26T00:00:00+00:00"


def snapshot(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*.json"))}


async def test_seed_task_is_created_with_every_field(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc(START)))
    task = await engine.create_task(SEED_TASK, actor="alice")
    assert task.id.startswith("ST") and len(task.id) == 26
    assert task.schedule.timezone == "GMT+08:00"
    assert task.schedule.describe().startswith("at 03:15:00 on day 5 of every month")
    assert [f.isoformat() for f in await engine.next_fires(task.id, 2)] == [
        "2026-12-05T03:15:00+08:00", "2027-01-05T03:15:00+08:00"]
    assert task.review.required is False and task.notify.modes == ("email",)
    assert (await engine.get_task("ScheduledscanOSpatches")).id == task.id
    created = await engine.query_events(kind="task.created")
    assert created[0].actor == "alice" and created[0].task_id == task.id
    await engine.close()
    # Committed: a new engine on the same directory sees it.
    engine = await open_engine(tmp_path, ManualClock(utc(START)))
    assert (await engine.get_task(task.id)).to_dict() == task.to_dict()
    await engine.close()


@pytest.mark.parametrize("change, field", [
    ({"name": "ab"}, "name"),
    ({"name": "rm -rf /; echo"}, "name"),
    ({"name": "../../etc/passwd"}, "name"),
    ({"risk": "extreme"}, "risk"),
    ({"schedule": {"timezone": "Mars/Base", "cron": "0 0 1 * * ?"}}, "schedule.timezone"),
    ({"schedule": {"timezone": "UTC", "cron": "0 0 0 30 2 ?"}}, "schedule.cron.day-of-month"),
    ({"schedule": {"timezone": "UTC", "cron": "0 0 25 * * ?"}}, "schedule.cron.hour"),
    ({"schedule": {"timezone": "UTC", "cron": "* * *"}}, "schedule.cron.expression"),
    ({"schedule": {"timezone": "UTC", "type": "single", "at": "2020-01-01T00:00:00"}}, "schedule.at"),
    ({"schedule": {"timezone": "UTC", "cron": "0 0 1 * * ?", "expires": "2020-01-01T00:00:00"}},
     "schedule.expires"),
    ({"job": {"name": "Format_Disks"}}, "job.name"),
    ({"job": {"name": "Scan_OS_Patch", "params": {"concurrency": 0}}}, "job.params.concurrency"),
    ({"job": {"name": "Scan_OS_Patch", "params": {"rm": True}}}, "job.params.rm"),
    ({"targets": {}}, "targets"),
    ({"targets": {"instances": ["ok-1", "bad host;"]}}, "targets.instances[1]"),
    ({"targets": {"groups": ["all"], "batch": {"mode": "manual"}}}, "targets.batch.batches"),
    ({"targets": {"groups": ["all"], "error_threshold": {"max_failed_percent": 150}}},
     "targets.error_threshold.max_failed_percent"),
    ({"review": {"required": True, "expires_after": "soon"}}, "review.expires_after"),
    ({"notify": {"enabled": True, "roles": ["on-duty"]}}, "notify.scenario"),
    ({"notify": {"enabled": True, "people": ["bob"], "policies": ["whenever"]}}, "notify.policies[0]"),
    ({"colour": "blue"}, "colour"),
])
async def test_bad_input_names_the_field_and_changes_nothing(tmp_path, change, field):
    engine = await open_engine(tmp_path, ManualClock(utc(START)))
    await engine.create_task(task_input("existing", "0 0 1 * * ?"))
    await engine.flush()
    before = snapshot(tmp_path)
    data = {**task_input("new-task", "0 0 2 * * ?"), **change}
    with pytest.raises(ValidationError) as info:
        await engine.create_task(data)
    fields = [e.field for e in info.value.errors]
    assert field in fields, fields
    assert all(e.rule for e in info.value.errors)
    await engine.flush()
    assert snapshot(tmp_path) == before
    assert [t.name for t in await engine.list_tasks()] == ["existing"]
    await engine.close()


async def test_duplicate_name_is_refused(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc(START)))
    await engine.create_task(task_input("twin", "0 0 1 * * ?"))
    with pytest.raises(ValidationError, match="name: must be unique"):
        await engine.create_task(task_input("twin", "0 0 2 * * ?"))
    await engine.close()


async def test_update_enable_disable_delete_are_traced(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock)
    task = await engine.create_task(task_input("editable", "0 0 1 * * ?"), actor="alice")
    updated = await engine.update_task(task.id, task_input("editable", "0 30 1 * * ?"), actor="bob")
    assert updated.version == 2 and updated.created_by == "alice" and updated.updated_by == "bob"
    assert (await engine.next_fires(task.id, 1))[0].isoformat() == "2026-11-26T01:30:00+00:00"
    await engine.set_enabled(task.id, False, actor="bob")
    assert await engine.next_fires(task.id) == []
    await engine.set_enabled(task.id, True, actor="bob")
    await engine.delete_task("editable", actor="carol")
    with pytest.raises(NotFoundError):
        await engine.get_task(task.id)
    kinds = [(e.kind, e.actor) for e in await engine.query_events(task_id=task.id, newest_first=False)]
    assert kinds == [("task.created", "alice"), ("task.updated", "bob"), ("task.disabled", "bob"),
                     ("task.enabled", "bob"), ("task.deleted", "carol")]
    await engine.close()


async def test_run_now_records_every_host_and_classifies_the_run(tmp_path):
    job = NoIoJob(outcomes={"host-001": "network", "host-003": "permission"})
    engine = await open_engine(tmp_path, ManualClock(utc(START)), job)
    await engine.upsert_instances(fleet(5, "web"))
    task = await engine.create_task(task_input("adhoc", "0 0 1 * * ?", targets={"groups": ["web"],
                                                                                 "instances": ["ghost"]}))
    run = await engine.run_now(task.name, actor="alice")
    assert run.trigger is Trigger.MANUAL
    run = await engine.wait_run(run.id, timeout=10)
    assert run.state is RunState.FAILED
    assert (run.hosts_total, run.hosts_ok, run.hosts_failed) == (6, 3, 3)
    assert run.categories == {"network": 2, "permission": 1}
    results = {r.host: r for r in await engine.host_results(run.id)}
    assert results["ghost"].status is HostStatus.FAILED and "not in the inventory" in results["ghost"].reason
    assert results["host-003"].category == "permission"
    kinds = [e.kind for e in await engine.query_events(run_id=run.id, newest_first=False)
             if not e.kind.startswith("alarm.")]  # the run's own events (its alarm's follow them)
    assert kinds[:2] == ["run.fired", "run.started"]
    assert kinds.count("host.finished") == 6 and kinds[-1] == "run.finished"
    await engine.close()


async def test_no_targets_is_a_run_level_error(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc(START)))
    task = await engine.create_task(task_input("empty", "0 0 1 * * ?", targets={"groups": ["nothing-here"]}))
    run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=10)
    assert run.state is RunState.FAILED  # the unknown group is one failed "host" that says why
    engine2_task = await engine.create_task(task_input("no-job", "0 0 1 * * ?"))
    await engine.close()
    engine = await Engine(tmp_path, clock=ManualClock(utc(START)), jobs={}).open()  # no job installed
    run = await engine.wait_run((await engine.run_now(engine2_task.id)).id, timeout=10)
    assert run.state is RunState.ERROR and "not installed" in run.error
    await engine.close()


async def test_error_threshold_pauses_until_resumed_and_cancel_stops(tmp_path):
    job = NoIoJob(outcomes={f"host-{i:03d}": "timeout" for i in range(2)}, batch_size=2)
    engine = await open_engine(tmp_path, ManualClock(utc(START)), job)
    await engine.upsert_instances(fleet(6, "all"))
    task = await engine.create_task(task_input("guarded", "0 0 1 * * ?",
                                               targets={"error_threshold": {"max_failed": 1}}))
    run = await engine.run_now(task.id)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if (await engine.get_run(run.id)).state is RunState.PAUSED:
            break
    paused = await engine.get_run(run.id)
    assert paused.state is RunState.PAUSED and "error threshold" in paused.pause_reason
    await asyncio.sleep(0.05)
    assert job.touched == ["host-000", "host-001"], "no host is touched while paused"
    await engine.resume(run.id, actor="alice")
    run = await engine.wait_run(run.id, timeout=10)
    assert run.state is RunState.FAILED and run.hosts_ok == 4

    gate = asyncio.Event()
    job.gate, job2 = gate, job  # the same job, now held at its gate before each host
    job.touched.clear()
    run = await engine.run_now(task.id)
    await asyncio.sleep(0.05)
    await engine.cancel(run.id, actor="alice")
    gate.set()
    run = await engine.wait_run(run.id, timeout=10)
    assert run.state is RunState.CANCELLED
    assert len(job2.touched) == 1
    await engine.close()


async def test_acknowledge_records_who_and_when_once(tmp_path):
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock, NoIoJob(outcomes={"host-000": "service"}))
    await engine.upsert_instances(fleet(1, "all"))
    task = await engine.create_task(task_input("acked", "0 0 1 * * ?"))
    run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=10)
    acked = await engine.acknowledge(run.id, actor="alice", note="dpkg lock, rerunning")
    assert acked.acknowledged_by == "alice" and acked.acknowledged_at == START
    with pytest.raises(ConflictError, match="already acknowledged by alice"):
        await engine.acknowledge(run.id, actor="bob")
    await engine.close()
    engine = await open_engine(tmp_path, clock)
    assert (await engine.get_run(run.id)).acknowledged_by == "alice"
    await engine.close()


async def test_rescan_runs_only_the_failed_hosts(tmp_path):
    job = NoIoJob(outcomes={"host-002": "network"})
    engine = await open_engine(tmp_path, ManualClock(utc(START)), job)
    await engine.upsert_instances(fleet(4, "all"))
    task = await engine.create_task(task_input("rescan-me", "0 0 1 * * ?"))
    first = await engine.wait_run((await engine.run_now(task.id)).id, timeout=10)
    job.outcomes.clear()
    job.touched.clear()
    again = await engine.wait_run((await engine.rescan_failed(first.id)).id, timeout=10)
    assert again.trigger is Trigger.RESCAN and again.parent_run_id == first.id
    assert job.touched == ["host-002"] and again.state is RunState.SUCCEEDED
    await engine.close()


INTERRUPT_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {tests!r})
    from support import NoIoJob, fleet, open_engine, task_input, utc
    from console.clock import ManualClock

    async def main():
        gate = asyncio.Event()
        engine = await open_engine({data!r}, ManualClock(utc("2026-11-26T00:00:00+00:00")), NoIoJob(gate=gate))
        await engine.upsert_instances(fleet(3, "all"))
        task = await engine.create_task(task_input("doomed", "0 0 1 * * ?"))
        run = await engine.run_now(task.id)
        await asyncio.sleep(0.3)
        print(run.id, flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
""")


async def test_a_run_left_running_by_a_killed_process_becomes_interrupted(tmp_path):
    import pathlib
    tests_dir = str(pathlib.Path(__file__).parent.parent)
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_SCRIPT.format(tests=tests_dir, data=str(tmp_path))],
                            stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    proc.kill()
    proc.wait()
    engine = await open_engine(tmp_path, ManualClock(utc("2026-11-26T00:05:00+00:00")))
    run = await engine.get_run(run_id)
    assert run.state is RunState.INTERRUPTED and "died" in run.error
    events = await engine.query_events(run_id=run_id, kind="run.interrupted")
    assert len(events) == 1
    await engine.close()


async def test_event_stream_delivers_live_events(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc(START)))
    await engine.upsert_instances(fleet(2, "all"))
    seen = []

    async def listen():
        async for event in await engine.subscribe():
            seen.append(event.kind)
            if event.kind == "run.finished":
                return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    task = await engine.create_task(task_input("streamed", "0 0 1 * * ?"))
    await engine.run_now(task.id)
    await asyncio.wait_for(listener, 10)
    assert seen[0] == "task.created" and "host.finished" in seen and seen[-1] == "run.finished"
    await engine.close()


def test_core_imports_without_textual():
    code = ("import sys, importlib\n"
            "for m in ['console.domain.task', 'console.domain.cron', 'console.domain.run', 'console.store',"
            " 'console.scheduler.scheduler', 'console.engine', 'console.jobs', 'console.cli', 'console.scan',"
            " 'console.notify']:\n"
            "    importlib.import_module(m)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


async def test_failures_can_be_acknowledged_while_the_run_is_still_going(tmp_path):
    gate = asyncio.Event()
    # host-000 fails at once; host-001 then waits at the gate, holding the run open.
    job = NoIoJob(outcomes={"host-000": "network"})
    engine = await open_engine(tmp_path, ManualClock(utc(START)), job)
    await engine.upsert_instances(fleet(2, "all"))
    task = await engine.create_task(task_input("live-ack", "0 0 1 * * ?"))
    quiet = await engine.create_task(task_input("quiet", "0 0 1 * * ?", targets={"instances": ["host-001"]}))

    original = NoIoJob.execute

    async def gated(self, ctx):
        if ctx.task.id == quiet.id:
            self.gate = gate
        await original(self, ctx)

    job.execute = gated.__get__(job)  # type: ignore[method-assign]
    quiet_run = await engine.run_now(quiet.id)
    await asyncio.sleep(0.05)
    with pytest.raises(ConflictError, match="no failed host"):
        await engine.acknowledge(quiet_run.id, actor="bob")  # running, nothing failed: nothing to take on
    gate.set()
    await engine.wait_run(quiet_run.id, timeout=10)

    gate.clear()
    job.gate = None
    job.outcomes["host-000"] = "network"

    async def fail_then_hold(self, ctx):
        self.gate = None
        await ctx.batch_started(1, 1, [t.name for t in ctx.targets])
        await ctx.host_finished(HostResult(run_id=ctx.run.id, task_id=ctx.task.id, host="host-000",
                                           status=HostStatus.FAILED, category="network", reason="planted"))
        await gate.wait()

    job.execute = fail_then_hold.__get__(job)  # type: ignore[method-assign]
    run = await engine.run_now(task.id)
    await asyncio.sleep(0.05)
    acked = await engine.acknowledge(run.id, actor="alice")
    assert acked.state is RunState.RUNNING and acked.acknowledged_by == "alice"
    gate.set()
    done = await engine.wait_run(run.id, timeout=10)
    assert done.state is RunState.FAILED and done.acknowledged_by == "alice"
    await engine.close()

"""Run-lifecycle defects that lived in the seams of the one-class engine, each reproduced for real.

- two concurrent run-now of one task (and a scheduled fire racing a run-now) started two runs;
- a store write that failed (disk full) dropped the buffered host results, run progress and events for good;
- after a restart, an escalation fired for a run whose task had recovered since.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from support import NoIoJob, fleet, open_engine, task_input, utc

from console.clock import ManualClock, SystemClock
from console.domain.events import EventKind
from console.domain.run import HostStatus, Run, RunState, Trigger
from console.engine import Engine
from console.errors import ConflictError
from console.notify.outbox import RetryPolicy
from console.sim.sinks import MailSink

START = "2026-11-26T00:00:00+00:00"
PEOPLE = Path(__file__).parents[1] / "notify" / "fixtures" / "people.toml"


async def test_two_concurrent_run_now_start_exactly_one_run(tmp_path):
    gate = asyncio.Event()
    engine = await open_engine(tmp_path, SystemClock(), NoIoJob(gate=gate))
    try:
        await engine.upsert_instances(fleet(2))
        task = await engine.create_task(task_input("raced", "0 0 3 * * ?"))
        outcomes = await asyncio.gather(engine.run_now(task.id, actor="alice"), engine.run_now(task.id, actor="bob"),
                                        return_exceptions=True)
        runs = [o for o in outcomes if isinstance(o, Run)]
        refused = [o for o in outcomes if isinstance(o, ConflictError)]
        assert len(runs) == 1 and len(refused) == 1, outcomes
        assert f"already has an active run ({runs[0].id})" in str(refused[0])
        gate.set()
        await engine.wait_run(runs[0].id, timeout=10)
        assert [r.id for r in await engine.list_runs(task=task.id)] == [runs[0].id]
    finally:
        gate.set()
        await engine.close()


async def test_a_scheduled_fire_racing_a_run_now_starts_one_run_and_records_the_slot_missed(tmp_path):
    gate = asyncio.Event()
    clock = ManualClock(utc(START))
    engine = await open_engine(tmp_path, clock, NoIoJob(gate=gate))
    try:
        await engine.upsert_instances(fleet(2))
        task = await engine.create_task(task_input("raced", "0 0 3 * * ?"))
        slot = utc("2026-11-26T03:00:00+00:00")
        outcomes = await asyncio.gather(engine.fire(task, trigger=Trigger.SCHEDULE, actor="scheduler", slot=slot),
                                        engine.run_now(task.id, actor="alice"), return_exceptions=True)
        runs = [o for o in outcomes if isinstance(o, Run)]
        executed = [r for r in runs if r.state is not RunState.MISSED]
        assert len(executed) == 1, outcomes
        # Whichever came second: the scheduled slot is recorded missed, or the run-now is refused.
        assert (len(runs) == 2 and outcomes[0].state is RunState.MISSED) or isinstance(outcomes[1], ConflictError)
        gate.set()
        await engine.idle()
        stored = await engine.list_runs(task=task.id)
        assert len([r for r in stored if r.state is not RunState.MISSED]) == 1
    finally:
        gate.set()
        await engine.close()


# ----------------------------------------------------------------------------------------------- disk full

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MiB tmpfs mounted for this test (needs root, as CI runs): a disk that really fills up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte; return the filler to delete later."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: nothing is left to fail at close
        for size in (65536, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    return filler


async def test_a_full_disk_keeps_buffered_results_reports_it_and_loses_nothing_once_space_is_back(small_disk):
    data = small_disk / "data"
    gate = asyncio.Event()
    hosts = 40
    engine = await open_engine(data, SystemClock(), NoIoJob(gate=gate, outcomes={"host-003": "network"}),
                               flush_interval=0.05)
    stream = await engine.subscribe()
    try:
        await engine.upsert_instances(fleet(hosts))
        task = await engine.create_task(task_input("full-disk", "0 0 3 * * ?"))
        run = await engine.run_now(task.id, actor="alice")
        filler = fill(small_disk)
        gate.set()  # every host now finishes while nothing can be written

        async def event_of(kind: EventKind) -> None:
            while (await stream.get()).kind is not kind:
                pass

        await asyncio.wait_for(event_of(EventKind.STORE_ERROR), 10)
        assert (await engine.get_run(run.id)).state in (RunState.RUNNING, RunState.FAILED)
        filler.unlink()  # space is back
        await asyncio.wait_for(event_of(EventKind.STORE_RECOVERED), 10)
        finished = await engine.wait_run(run.id, timeout=10)
        assert finished.state is RunState.FAILED and finished.hosts_failed == 1
    finally:
        gate.set()
        stream.close()
        await engine.close()

    reopened = await Engine(data, jobs={"Scan_OS_Patch": NoIoJob()}).open()
    try:
        stored = await reopened.get_run(run.id)
        assert stored.state is RunState.FAILED and stored.hosts_ok == hosts - 1
        results = await reopened.host_results(run.id)
        assert len(results) == hosts and sum(r.status is HostStatus.FAILED for r in results) == 1
        kinds = [e.kind for e in await reopened.query_events(run_id=run.id, newest_first=False)
                 if not e.kind.startswith("alarm.")]  # the run's own events (its alarm's follow them)
        assert kinds.count(EventKind.HOST_FINISHED) == hosts and kinds[-1] == EventKind.RUN_FINISHED
        errors = await reopened.query_events(kind="engine.store_error")
        assert len(errors) == 1 and "kept in memory" in errors[0].message
        seqs = [e.seq for e in await reopened.query_events(newest_first=False)]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    finally:
        await reopened.close()


# ----------------------------------------------------------------------------------------------- escalation

async def test_no_escalation_after_a_restart_for_a_task_that_recovered(tmp_path):
    clock = ManualClock(utc("2026-11-05T02:00:00+00:00"))
    job = NoIoJob(outcomes={"host-000": "permission"})
    async with MailSink() as mail:
        channels = tmp_path / "channels.toml"
        from console.notify.channels import write_channels_file
        write_channels_file(channels, f'[email]\nurl = "{mail.url()}"\n')
        options = {"retry": RetryPolicy(attempts_per_mode=2, first_backoff=0.1, max_backoff=0.3), "coalesce": 0.2,
                   "escalate_after": 600}

        async def open_it() -> Engine:
            return await Engine(tmp_path / "data", clock=clock, jobs={"Scan_OS_Patch": job},
                                channels_path=channels, notify_options=options).open()

        engine = await open_it()
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(1, "all"))
            rule = {"enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty",
                    "roles": ["on-duty"], "modes": ["email"]}
            task = await engine.create_task(task_input("recovers", "0 0 3 * * ?", notify=rule))
            failed = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            await clock.advance(2)
            await mail.wait_for(1)
            job.outcomes.clear()
            ok = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            assert failed.state is RunState.FAILED and ok.state is RunState.SUCCEEDED
        finally:
            await engine.close()

        engine = await open_it()  # a restart: the in-memory alarm state is gone
        try:
            await clock.advance(700)
            engine.alarms.check_timers()
            await asyncio.sleep(0.3)
            escalations = [r for r in await engine.list_notifications() if r.kind == "escalation"]
            assert escalations == [], [(r.person, r.run_id) for r in escalations]
        finally:
            await engine.close()


# ----------------------------------------------------------------------------------------------- credentials

async def test_an_instances_own_credential_profile_is_used_and_an_unknown_one_fails_that_host(tmp_path):
    """``patchwatch_credential=NAME`` on an inventory line (documented in the README) was ignored: every host
    used the task's ``job.credential``. Here the task's profile cannot log in (wrong user); the host that names
    the right profile must scan, and the one naming a profile that does not exist fails as ``permission``."""
    from console.scan.credentials import CredentialProfile
    from console.sim.fleet import start_fleet

    fleet = await start_fleet(3, seed=3)
    try:
        files = fleet.write_files(tmp_path / "fleet")
        engine = await Engine(tmp_path / "data", notify=False).open()
        try:
            keys = {"key_files": (str(files.private_key),), "known_hosts": (str(files.known_hosts),)}
            await engine.put_credential(CredentialProfile(name="task-default", user="nobody-here", **keys))
            await engine.put_credential(CredentialProfile(name="fleet", user=fleet.user, sudo="sudo", **keys))
            own, unknown, plain = fleet.hosts
            await engine.import_inventory("\n".join([
                "[sim]",
                f"{own.name} ansible_host={own.address} ansible_port={own.port} patchwatch_credential=fleet",
                f"{unknown.name} ansible_host={unknown.address} ansible_port={unknown.port} "
                "patchwatch_credential=no-such-profile",
                f"{plain.name} ansible_host={plain.address} ansible_port={plain.port}",
            ]) + "\n")
            task = await engine.create_task(task_input("own-credentials", "0 0 3 * * ?", targets={"groups": ["sim"]},
                                                       job={"credential": "task-default"}))
            run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=60)
            results = {r.host: r for r in await engine.host_results(run.id)}
        finally:
            await engine.close()
    finally:
        await fleet.close()
    assert run.state is RunState.FAILED, run.error
    assert results[own.name].status is HostStatus.OK, results[own.name].reason
    assert results[unknown.name].category == "permission" and "no-such-profile" in results[unknown.name].reason
    assert results[plain.name].category == "permission", "the task's own profile is still used by default"

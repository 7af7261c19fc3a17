"""Notifications end to end: engine events -> outbox -> real SMTP and robot servers on loopback."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest
from support import NoIoJob, fleet, task_input, utc

from console.clock import ManualClock, SystemClock
from console.domain.run import RunState
from console.engine import Engine
from console.notify.channels import write_channels_file
from console.notify.outbox import RetryPolicy
from console.sim.sinks import MailSink, RobotSink

PEOPLE = Path(__file__).parent / "fixtures" / "people.toml"
FAST_RETRY = RetryPolicy(attempts_per_mode=2, first_backoff=0.1, max_backoff=0.3)
DING_SECRET = "SECdingsecret0123456789"
DING_TOKEN = "0123456789abcdef0123456789abcdef"


def channels(tmp_path: Path, mail: MailSink, robot: RobotSink | None = None) -> Path:
    lines = [f'[email]\nurl = "{mail.url()}"\n']
    if robot is not None:
        lines.append(f'[dingtalk]\nurl = "dingtalk://{DING_SECRET}@{DING_TOKEN}"\n'
                     f'endpoint = "{robot.url("dingtalk")}"\n')
        lines.append(f'[wecom]\nurl = "wecombot://0123456789abcdef"\nendpoint = "{robot.url("wecom")}"\n')
    return write_channels_file(tmp_path / "channels.toml", "\n".join(lines))


def notify_rule(modes=("email",), **extra):
    return {"enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
            "modes": list(modes), **extra}


async def open_notifying(tmp_path: Path, clock, job: NoIoJob, channels_file: Path, **options) -> Engine:
    options = {"retry": FAST_RETRY, "coalesce": 0.2, **options}
    engine = Engine(tmp_path / "data", clock=clock, jobs={"Scan_OS_Patch": job}, channels_path=channels_file,
                    notify_options=options)
    await engine.open()
    return engine


async def until(predicate, timeout=10.0, step=0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def test_a_failing_run_gives_one_grouped_email_and_dingtalk_notice_with_every_field(tmp_path):
    failing = {f"host-{i:03d}": ("network" if i % 2 else "permission") for i in range(30)}
    async with MailSink() as mail, RobotSink(dingtalk_secret=DING_SECRET) as robot:
        # 100 hosts at 20 ms each: the run outlasts the coalescing window, so the first notice goes out
        # while it runs and a summary follows at its end.
        engine = await open_notifying(tmp_path, SystemClock(), NoIoJob(outcomes=failing, delay=0.02),
                                      channels(tmp_path, mail, robot))
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(100, "all"))
            task = await engine.create_task(task_input("ScheduledscanOSpatches", "0 15 3 5 * ?",
                                                       schedule={"timezone": "GMT+08:00"},
                                                       notify=notify_rule(("email", "dingtalk"))))
            run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            assert run.state is RunState.FAILED
            on_duty = (await engine.oncall())[0][2]
            assert len(on_duty) == 1
            person = on_duty[0]

            async def delivered():
                records = await engine.list_notifications(run_id=run.id)
                done = len(records) >= 4 and all(r.status.value == "sent" for r in records)
                return records if done else None

            records = await until(delivered)
            kinds = sorted((r.kind, r.mode) for r in records)
            # One grouped notice per run and mode (the first failures), then one summary: never one per host.
            assert kinds == [("execution_failed", "dingtalk"), ("execution_failed", "email"),
                             ("summary", "dingtalk"), ("summary", "email")]
            first_email = next(r for r in records if r.kind == "execution_failed" and r.mode == "email")
            assert first_email.person == person and first_email.latency_s is not None and first_email.latency_s < 5

            messages = await mail.wait_for(2)
            first = messages[0]
            assert f"{person}@example.com" in str(first.message["To"])
            text = first.part("text/plain") or ""
            for needle in ("ScheduledscanOSpatches", task.id, run.id, "network", "permission",
                           f"--data-dir {(tmp_path / 'data').absolute()} logs {run.id}", "UTC", "GMT+08:00"):
                assert needle in text, needle
            assert first.part("text/html")

            requests = await robot.wait_for(2, service="dingtalk")
            body = requests[0].body
            assert body["msgtype"] == "markdown" and run.id in json.dumps(body)
            assert requests[0].query.get("sign")  # signed with the secret
            trace = [e.kind for e in await engine.query_events(run_id=run.id, kind="notification.")]
            assert trace.count("notification.sent") == 4
            # The secret never reaches the store or the trace.
            data_dir = tmp_path / "data"
            for path in data_dir.rglob("*.json"):
                assert DING_SECRET not in path.read_text(), path
        finally:
            await engine.close()


async def test_robot_errors_sent_as_http_200_are_failures_and_are_retried(tmp_path):
    async with MailSink() as mail, RobotSink(dingtalk_secret=DING_SECRET) as robot:
        robot.set_behaviour("dingtalk", "errcode")
        engine = await open_notifying(tmp_path, SystemClock(), NoIoJob(outcomes={"host-000": "tool"}),
                                      channels(tmp_path, mail, robot), retry=RetryPolicy(
                                          attempts_per_mode=50, first_backoff=0.1, max_backoff=0.2))
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(2, "all"))
            task = await engine.create_task(task_input("robot-errors", "0 0 3 * * ?",
                                                       notify=notify_rule(("dingtalk",))))
            run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)

            async def retrying():
                records = await engine.list_notifications(run_id=run.id)
                return [r for r in records if r.status.value == "retrying" and r.attempts] or None

            [record, *_] = await until(retrying)
            assert "310000" in (record.error or "") or "keywords" in (record.error or "")
            robot.set_behaviour("dingtalk", "http500")
            await until(retrying)
            robot.set_behaviour("dingtalk", "ok")

            async def sent():
                records = await engine.list_notifications(run_id=run.id)
                return records if records and all(r.status.value == "sent" for r in records) else None

            records = await until(sent)
            first = next(r for r in records if r.kind == "execution_failed")
            statuses = [a["status"] for a in first.attempts]
            assert statuses[-1] == "sent" and "failed" in statuses
            events = [e.kind for e in await engine.query_events(run_id=run.id, kind="notification.")]
            assert "notification.retrying" in events and "notification.sent" in events
        finally:
            await engine.close()


async def test_a_robot_that_times_out_is_retried_then_falls_back_to_email(tmp_path):
    async with MailSink() as mail, RobotSink(dingtalk_secret=DING_SECRET) as robot:
        robot.set_behaviour("dingtalk", "timeout")
        engine = await open_notifying(tmp_path, SystemClock(), NoIoJob(outcomes={"host-000": "timeout"}),
                                      channels(tmp_path, mail, robot), send_timeout=0.5)
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(1, "all"))
            task = await engine.create_task(task_input("fallback", "0 0 3 * * ?", notify=notify_rule(("dingtalk",))))
            run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)

            async def fell_back():
                records = await engine.list_notifications(run_id=run.id)
                emails = [r for r in records if r.mode == "email" and r.status.value == "sent"]
                return records if emails else None

            records = await until(fell_back, timeout=20)
            ding = [r for r in records if r.mode == "dingtalk"]
            assert ding and all(r.status.value == "failed" and r.fallback_to for r in ding)
            assert all(a["status"] == "timeout" for r in ding for a in r.attempts)
            assert {r.fallback_from for r in records if r.mode == "email"} == {r.id for r in ding}
            assert await mail.wait_for(1)
        finally:
            await engine.close()


async def test_smtp_outage_notices_survive_a_restart_and_are_delivered_once(tmp_path):
    mail = await MailSink().start()
    path = channels(tmp_path, mail)
    await mail.down()
    job = NoIoJob(outcomes={f"host-{i:03d}": "network" for i in range(3)})
    engine = await open_notifying(tmp_path, SystemClock(), job, path)
    try:
        await engine.import_people(PEOPLE.read_text())
        await engine.upsert_instances(fleet(5, "all"))
        task = await engine.create_task(task_input("outage", "0 0 3 * * ?", notify=notify_rule()))
        run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)

        async def waiting():
            records = await engine.list_notifications(run_id=run.id)
            retrying = [r for r in records if r.status.value == "retrying" and len(r.attempts) >= 2]
            return records if records and len(retrying) == len(records) else None

        waiting_records = await until(waiting)
        # A run this fast ends inside the coalescing window: its one notice carries the final counts.
        assert [r.kind for r in waiting_records] == ["execution_failed"]
        assert all("refused" in (r.error or "").lower() for r in waiting_records), waiting_records[0].error
    finally:
        await engine.close()  # the process stops while the mail server is down

    await mail.up()
    engine = await open_notifying(tmp_path, SystemClock(), job, path)
    try:
        async def delivered():
            records = await engine.list_notifications(run_id=run.id)
            return records if records and all(r.status.value == "sent" for r in records) else None

        records = await until(delivered, timeout=20)
        assert [r.id for r in records] == [r.id for r in waiting_records]
        await asyncio.sleep(1.0)  # nothing else arrives later
        assert len(mail.messages) == 1, [m.subject for m in mail.messages]
    finally:
        await engine.close()
        await mail.stop()


async def test_the_same_failure_at_two_times_reaches_two_different_people(tmp_path):
    # alice holds on-duty from 2026-11-01 09:00 Asia/Shanghai, bob from 2026-11-02 09:00, and so on.
    clock = ManualClock(utc("2026-11-05T02:00:00+00:00"))  # 10:00 in Shanghai on the 5th: alice (period 4)
    async with MailSink() as mail:
        job = NoIoJob(outcomes={"host-000": "service"})
        engine = await open_notifying(tmp_path, clock, job, channels(tmp_path, mail))
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(1, "all"))
            task = await engine.create_task(task_input("routed", "0 0 3 * * ?", notify=notify_rule()))
            first = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            await clock.advance(2)
            await mail.wait_for(1)
            await engine.acknowledge(first.id, actor="alice")  # else a day later it escalates to the lead
            failing = dict(job.outcomes)
            job.outcomes.clear()  # the host recovers: the alarm resolves, and its recovered notice goes to alice
            await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            await mail.wait_for(2)
            job.outcomes.update(failing)
            await clock.set(utc("2026-11-06T02:00:00+00:00"))  # a day later, a new failure: bob
            second = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            await clock.advance(2)
            await mail.wait_for(3)
            people = {}
            for run in (first, second):
                records = await engine.list_notifications(run_id=run.id)
                people[run.id] = {r.person for r in records}
            assert people[first.id] != people[second.id]
            assert people[first.id] | people[second.id] == {"alice", "bob"}
        finally:
            await engine.close()


async def test_unacknowledged_failure_escalates_to_the_next_role_and_ack_stops_it(tmp_path):
    clock = ManualClock(utc("2026-11-05T02:00:00+00:00"))
    async with MailSink() as mail:
        engine = await open_notifying(tmp_path, clock, NoIoJob(outcomes={"host-000": "permission"}),
                                      channels(tmp_path, mail), escalate_after=600)
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(1, "all"))
            task = await engine.create_task(task_input("escalating", "0 0 3 * * ?", notify=notify_rule()))
            run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            await clock.advance(2)
            await mail.wait_for(1)
            await clock.advance(601)
            engine.alarms.check_timers()
            messages = await mail.wait_for(3)
            escalation = [r for r in await engine.list_notifications(run_id=run.id) if r.kind == "escalation"]
            assert {r.person for r in escalation} == {"alice", "dave"}  # on-duty again, plus the team lead
            assert all(r.escalation_level == 1 for r in escalation)
            assert any("dave@example.com" in str(m.message["To"]) for m in messages)

            await engine.acknowledge(run.id, actor="alice")
            await asyncio.sleep(0.1)
            await clock.advance(700)
            engine.alarms.check_timers()
            await asyncio.sleep(0.3)
            assert len([r for r in await engine.list_notifications(run_id=run.id) if r.kind == "escalation"]) == 2
        finally:
            await engine.close()


async def test_missed_interrupted_and_recovered_notices(tmp_path):
    async with MailSink() as mail:
        job = NoIoJob(outcomes={"host-000": "network"})
        engine = await open_notifying(tmp_path, SystemClock(), job, channels(tmp_path, mail))
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(1, "all"))
            task = await engine.create_task(task_input("lifecycle", "0 0 3 * * ?", notify=notify_rule()))
            failed = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            await engine.record_missed(task, [datetime.fromisoformat("2026-11-01T03:00:00+00:00")], 1, capped=False)
            job.outcomes.clear()
            ok = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            assert failed.state is RunState.FAILED and ok.state is RunState.SUCCEEDED

            async def kinds():
                records = await engine.list_notifications()
                found = {r.kind for r in records if r.status.value == "sent"}
                return found if {"execution_failed", "missed", "recovered"} <= found else None

            await until(kinds)
            recovered = await mail.wait_for(3)
            assert any("recovered" in m.subject.lower() for m in recovered)
        finally:
            await engine.close()


async def test_notify_test_and_channel_file_problems(tmp_path):
    async with MailSink() as mail:
        path = channels(tmp_path, mail)
        engine = await open_notifying(tmp_path, SystemClock(), NoIoJob(), path)
        try:
            await engine.import_people(PEOPLE.read_text())
            record = await engine.notify_test("email", "alice")
            assert record.status.value == "sent"
            [message] = await mail.wait_for(1)
            assert "alice@example.com" in str(message.message["To"])
            await mail.down()
            failed = await engine.notify_test("email", "bob")
            assert failed.status.value == "failed" and failed.error
            [event] = await engine.query_events(kind="notification.failed")
            assert event.data["notification"] == failed.id and "bob" in event.message
        finally:
            await engine.close()
    path.chmod(0o644)
    engine = await open_notifying(tmp_path, SystemClock(), NoIoJob(), path)
    try:
        assert "readable by others" in (engine.notifier.channels_error or "")
        events = await engine.query_events(kind="notification.config_error")
        assert events
    finally:
        await engine.close()


@pytest.mark.parametrize("n_failing", [300])
async def test_three_hundred_failing_hosts_give_one_first_notice(tmp_path, n_failing):
    async with MailSink() as mail:
        engine = await open_notifying(tmp_path, SystemClock(),
                                      NoIoJob(outcomes={f"host-{i:03d}": "timeout" for i in range(n_failing)},
                                              delay=0.005),
                                      channels(tmp_path, mail))
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(n_failing, "all"))
            task = await engine.create_task(task_input("storm", "0 0 3 * * ?", notify=notify_rule()))
            run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=30)
            await mail.wait_for(2)
            await asyncio.sleep(0.5)
            records = await engine.list_notifications(run_id=run.id)
            assert sorted(r.kind for r in records) == ["execution_failed", "summary"]
            assert len(mail.messages) == 2
        finally:
            await engine.close()

"""Alarms on a manual clock, every transition: open, update, acknowledge, re-trigger, resolve, silence start and
end, escalation steps, reminders, and a restart in the middle of each (nothing lost, nothing sent twice).

Every notice is checked where it is recorded (the outbox) and where it arrives (a real SMTP server on loopback).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from support import NoIoJob, fleet, task_input, utc

from console.clock import ManualClock
from console.domain.alarm import AlarmState, EscalationPolicy, EscalationStep
from console.domain.run import RunState
from console.engine import Engine
from console.errors import ConflictError, NotFoundError, ValidationError
from console.notify.channels import write_channels_file
from console.notify.outbox import RetryPolicy
from console.sim.sinks import MailSink

PEOPLE = Path(__file__).parent / "fixtures" / "people.toml"
START = utc("2026-11-05T02:00:00+00:00")  # 10:00 in Shanghai: alice is on duty, dave is the team lead


class Desk:
    """One engine with notifications to a real SMTP sink, a manual clock and a job whose outcomes a test sets."""

    def __init__(self, tmp_path: Path, mail: MailSink, policy: EscalationPolicy | None = None) -> None:
        self.tmp_path, self.mail, self.policy = tmp_path, mail, policy
        self.clock = ManualClock(START)
        self.job = NoIoJob()
        self.engine: Engine | None = None
        self.task_id = ""

    async def open(self) -> Engine:
        channels = write_channels_file(self.tmp_path / "channels.toml", f'[email]\nurl = "{self.mail.url()}"\n')
        self.engine = Engine(self.tmp_path / "data", clock=self.clock, jobs={"Scan_OS_Patch": self.job},
                             channels_path=channels,
                             notify_options={"retry": RetryPolicy(attempts_per_mode=2, first_backoff=0.1,
                                                                  max_backoff=0.3), "coalesce": 0.2,
                                             "escalate_after": 600})
        await self.engine.open()
        if self.policy is not None:
            self.engine.alarms.policy_for = lambda task: self.policy
        return self.engine

    async def setup(self, hosts: int = 4, **notify: object) -> None:
        engine = await self.open()
        await engine.import_people(PEOPLE.read_text())
        await engine.upsert_instances(fleet(hosts, "all"))
        rule = {"enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
                "modes": ["email"], **notify}
        self.task_id = (await engine.create_task(task_input("alarmed", "0 0 3 * * ?", notify=rule))).id

    async def restart(self) -> None:
        assert self.engine is not None
        await self.engine.close()
        await self.open()

    async def run(self, failing: dict[str, str]) -> str:
        assert self.engine is not None
        self.job.outcomes = dict(failing)
        run = await self.engine.wait_run((await self.engine.run_now(self.task_id)).id, timeout=20)
        await self.settle()
        return run.id

    async def settle(self, seconds: float = 1.0) -> None:
        """Let coalescing windows close (on the manual clock) and the sender deliver."""
        for _ in range(3):
            await self.clock.advance(seconds)
            await asyncio.sleep(0.05)
        assert self.engine is not None
        await until_sent(self.engine)

    async def advance(self, seconds: float) -> None:
        assert self.engine is not None
        await self.clock.advance(seconds)
        self.engine.alarms.check_timers()
        await self.settle()

    async def notices(self) -> Counter[str]:
        assert self.engine is not None
        return Counter(r.kind for r in await self.engine.list_notifications(limit=1000))

    async def named(self, kind: str) -> list[set[str]]:
        """For each notice record of ``kind``, the hosts it names."""
        assert self.engine is not None
        return [{h["host"] for h in r.notice.get("first_failed", ())}
                for r in await self.engine.list_notifications(limit=1000) if r.kind == kind]

    async def alarm(self):
        assert self.engine is not None
        alarms = await self.engine.list_alarms(include_resolved=True)
        return alarms[0] if alarms else None


async def until_sent(engine: Engine, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        records = await engine.list_notifications(limit=1000)
        if all(r.status.value in ("sent", "failed", "abandoned") for r in records):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"notices not sent: {[(r.kind, r.status.value) for r in records]}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def mail():
    async with MailSink() as sink:
        yield sink


async def test_open_update_and_resolve_notify_once_each(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.run({"host-000": "network", "host-001": "permission"})
        alarm = await desk.alarm()
        assert alarm.state is AlarmState.OPEN and {h.host for h in alarm.failing_hosts()} == {"host-000", "host-001"}
        # The run ends inside the coalescing window: one notice with its final counts, no summary.
        assert await desk.notices() == Counter({"execution_failed": 1})
        assert await desk.named("execution_failed") == [{"host-000", "host-001"}]

        await desk.run({"host-000": "network", "host-001": "permission"})  # the same hosts again: nothing new
        assert await desk.notices() == Counter({"execution_failed": 1})
        assert (await desk.alarm()).hosts["host-000"].consecutive == 2

        await desk.run({"host-000": "network", "host-001": "permission", "host-002": "timeout"})  # one newly
        assert await desk.notices() == Counter({"execution_failed": 1, "update": 1})
        assert await desk.named("update") == [{"host-002"}]

        await desk.run({"host-001": "permission", "host-002": "timeout"})  # host-000 recovers: still open
        alarm = await desk.alarm()
        assert alarm.is_open and not alarm.hosts["host-000"].failing
        await desk.run({})
        alarm = await desk.alarm()
        assert alarm.state is AlarmState.RESOLVED and alarm.resolved_reason == "recovered"
        assert await desk.notices() == Counter({"execution_failed": 1, "update": 1, "recovered": 1})
        assert len(mail.messages) == 3 and all(m.rcpt_tos == ("alice@example.com",) for m in mail.messages)

        await desk.run({"host-000": "network"})  # a new episode: a new alarm, a new first notice
        alarms = await desk.engine.list_alarms(include_resolved=True)
        assert len(alarms) == 2 and alarms[0].is_open and alarms[0].id != alarm.id
        assert (await desk.notices())["execution_failed"] == 2
    finally:
        await desk.engine.close()


async def test_acknowledging_covers_later_runs_and_rescan_resolves(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        alarm = await desk.alarm()
        acked = await desk.engine.acknowledge_alarm(alarm.id, actor="alice", note="on it")
        assert acked.state is AlarmState.ACKNOWLEDGED and acked.acknowledged_by == "alice"
        with pytest.raises(ConflictError):
            await desk.engine.acknowledge_alarm(alarm.id, actor="bob")
        await desk.run({"host-000": "network", "host-003": "service"})  # a new failure in an acknowledged alarm
        assert await desk.notices() == Counter({"execution_failed": 1})
        await desk.advance(24 * 3600)  # no escalation, no reminder while acknowledged
        assert await desk.notices() == Counter({"execution_failed": 1})

        desk.job.outcomes = {}
        rescan = await desk.engine.rescan_alarm(alarm.id, actor="alice")
        done = await desk.engine.wait_run(rescan.id, timeout=20)
        await desk.settle()
        assert done.state is RunState.SUCCEEDED and sorted(done.only_hosts) == ["host-000", "host-003"]
        assert (await desk.alarm()).state is AlarmState.RESOLVED
        assert await desk.notices() == Counter({"execution_failed": 1, "recovered": 1})
        with pytest.raises(ConflictError):
            await desk.engine.rescan_alarm(alarm.id, actor="alice")
    finally:
        await desk.engine.close()


async def test_acknowledging_a_run_acknowledges_its_alarm(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        run_id = await desk.run({"host-000": "network"})
        await desk.engine.acknowledge(run_id, actor="alice")
        await desk.settle()
        assert (await desk.alarm()).acknowledged_by == "alice"
    finally:
        await desk.engine.close()


async def test_escalation_steps_loop_then_stop_and_acknowledge_stops_them(tmp_path, mail):
    policy = EscalationPolicy(steps=(EscalationStep(600, roles=("on-duty", "team-lead")),
                                     EscalationStep(600, people=("carol",))), loops=1, repeat=None)
    desk = Desk(tmp_path, mail, policy)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        for _ in range(4):
            await desk.advance(601)
        escalations = [r for r in await desk.engine.list_notifications(limit=100) if r.kind == "escalation"]
        assert [r.escalation_level for r in sorted(escalations, key=lambda r: r.created_at)] == [1, 1, 2, 3, 3, 4]
        assert {r.person for r in escalations if r.escalation_level in (1, 3)} == {"alice", "dave"}
        assert {r.person for r in escalations if r.escalation_level in (2, 4)} == {"carol"}
        await desk.advance(3600)  # two passes done: no more
        assert (await desk.notices())["escalation"] == 6
    finally:
        await desk.engine.close()

    desk2 = Desk(tmp_path / "second", mail, policy)
    (tmp_path / "second").mkdir()
    await desk2.setup()
    try:
        await desk2.run({"host-000": "network"})
        await desk2.advance(601)
        alarm = await desk2.alarm()
        await desk2.engine.acknowledge_alarm(alarm.id, actor="alice")
        await desk2.advance(3600)
        assert (await desk2.notices())["escalation"] == 2  # step 1 only (alice and dave)
    finally:
        await desk2.engine.close()


async def test_reminders_repeat_until_acknowledged(tmp_path, mail):
    desk = Desk(tmp_path, mail, EscalationPolicy(repeat=3600))
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        await desk.advance(1800)
        assert (await desk.notices())["reminder"] == 0
        await desk.advance(1801)
        await desk.advance(3601)
        assert (await desk.notices())["reminder"] == 2
        await desk.engine.acknowledge_alarm((await desk.alarm()).id, actor="alice")
        await desk.advance(4 * 3600)
        assert (await desk.notices())["reminder"] == 2
    finally:
        await desk.engine.close()


async def test_an_acknowledgement_times_out_and_retriggers(tmp_path, mail):
    policy = EscalationPolicy(steps=(EscalationStep(600, roles=("team-lead",)),), repeat=None, ack_timeout=1800)
    desk = Desk(tmp_path, mail, policy)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        alarm = await desk.alarm()
        acked = await desk.engine.acknowledge_alarm(alarm.id, actor="alice")
        assert acked.ack_expires_at == (desk.clock.now() + timedelta(seconds=1800)).isoformat()
        await desk.advance(1000)
        assert (await desk.alarm()).state is AlarmState.ACKNOWLEDGED
        await desk.advance(1000)  # past the time-out: open again, reminded, and escalation starts over
        alarm = await desk.alarm()
        assert alarm.state is AlarmState.OPEN and alarm.retriggers == 1 and alarm.acknowledged_by is None
        counts = await desk.notices()
        assert counts["reminder"] == 1 and counts["escalation"] == 0
        await desk.advance(601)
        assert (await desk.notices())["escalation"] == 1
    finally:
        await desk.engine.close()


async def test_a_silence_holds_notices_and_its_end_releases_them(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        engine = desk.engine
        with pytest.raises(ValidationError) as refused:
            await engine.add_silence(reason=" ", ends_at=START + timedelta(hours=2))
        assert {f.field for f in refused.value.errors} == {"match", "reason"}
        assert await engine.list_silences(include_ended=True) == []
        silence = await engine.add_silence(reason="planned maintenance", ends_at=START + timedelta(hours=2),
                                           host="host-00[01]", actor="alice")
        await desk.run({"host-000": "network", "host-001": "network"})
        alarm = await desk.alarm()
        assert alarm.is_open and all(h.held for h in alarm.failing_hosts())
        assert await desk.notices() == Counter()  # recorded and shown, not notified
        await desk.run({"host-000": "network", "host-001": "network", "host-002": "service"})  # not covered
        assert await desk.named("execution_failed") == [{"host-002"}]

        await desk.advance(2 * 3600)  # the silence ends with both hosts still failing: notified then
        assert await desk.named("update") == [{"host-000", "host-001"}]
        alarm = await desk.alarm()
        assert not any(h.held for h in alarm.failing_hosts()) and all(h.notified for h in alarm.failing_hosts())
        kinds = [e.kind for e in await engine.query_events(limit=500, newest_first=False)]
        assert "silence.created" in kinds and "silence.ended" in kinds and "alarm.released" in kinds
        assert (await engine.list_silences()) == [] and len(await engine.list_silences(include_ended=True)) == 1
        assert silence.created_by == "alice"
    finally:
        await desk.engine.close()


async def test_an_expired_silence_releases_at_once(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        silence = await desk.engine.add_silence(reason="maintenance", ends_at=START + timedelta(hours=8),
                                                task="alarmed", category="network")
        await desk.run({"host-000": "network"})
        assert await desk.notices() == Counter()
        await desk.engine.expire_silence(silence.id, actor="alice")
        await desk.settle()
        assert await desk.notices() == Counter({"execution_failed": 1})
        assert await desk.named("execution_failed") == [{"host-000"}]
    finally:
        await desk.engine.close()


async def test_after_consecutive_opens_at_once_but_notifies_on_the_nth_failure(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup(after_consecutive=2)
    try:
        await desk.run({"host-000": "network", "host-001": "network"})
        assert (await desk.alarm()).is_open and await desk.notices() == Counter()
        await desk.run({"host-000": "network"})  # host-001 recovered before its second failure: never notified
        assert await desk.named("execution_failed") == [{"host-000"}]
        await desk.run({"host-001": "network"})
        assert (await desk.notices())["update"] == 0  # host-001's first failure in a row again
    finally:
        await desk.engine.close()


async def test_missed_and_interrupted_runs_open_alarms_a_completed_run_clears(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        engine = desk.engine
        task = await engine.get_task("alarmed")
        await engine.record_missed(task, [START - timedelta(hours=1)], 1, capped=False)
        await desk.settle()
        alarm = await desk.alarm()
        assert alarm.is_open and alarm.problem.value == "missed"
        assert await desk.notices() == Counter({"missed": 1})
        await desk.run({})
        assert (await desk.alarm()).state is AlarmState.RESOLVED
        assert await desk.notices() == Counter({"missed": 1, "recovered": 1})
    finally:
        await desk.engine.close()


async def test_deleting_or_disabling_the_task_resolves_its_alarm(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        await desk.engine.set_enabled("alarmed", False)
        await desk.settle()
        alarm = await desk.alarm()
        assert alarm.state is AlarmState.RESOLVED and alarm.resolved_reason == "task disabled"
    finally:
        await desk.engine.close()


# ---------------------------------------------------------------------------- restarts in the middle


async def test_restart_with_an_escalation_pending_sends_it_once(tmp_path, mail):
    policy = EscalationPolicy(steps=(EscalationStep(600, roles=("team-lead",)),), repeat=3600)
    desk = Desk(tmp_path, mail, policy)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        await desk.restart()
        await desk.advance(601)
        await desk.restart()
        await desk.advance(10)
        assert (await desk.notices()) == Counter({"execution_failed": 1, "escalation": 1})
        await desk.advance(3000)
        await desk.restart()
        await desk.advance(10)
        assert (await desk.notices()) == Counter({"execution_failed": 1, "escalation": 1, "reminder": 1})
        assert len(mail.messages) == 3
    finally:
        await desk.engine.close()


async def test_restart_keeps_acknowledgements_silences_and_held_failures(tmp_path, mail):
    desk = Desk(tmp_path, mail, EscalationPolicy(steps=(EscalationStep(600, roles=("team-lead",)),), repeat=None))
    await desk.setup()
    try:
        await desk.engine.add_silence(reason="maintenance", ends_at=START + timedelta(hours=1), host="host-001")
        await desk.run({"host-000": "network", "host-001": "network"})
        alarm = await desk.alarm()
        await desk.engine.acknowledge_alarm(alarm.id, actor="alice")
        await desk.restart()
        alarm = await desk.alarm()
        assert alarm.state is AlarmState.ACKNOWLEDGED and alarm.hosts["host-001"].held
        assert len(await desk.engine.list_silences()) == 1
        await desk.advance(3700)  # silence over, alarm acknowledged: held failure cleared, nothing sent
        await desk.restart()
        await desk.advance(10)
        alarm = await desk.alarm()
        assert not alarm.hosts["host-001"].held
        assert await desk.notices() == Counter({"execution_failed": 1})
        await desk.run({})
        await desk.restart()
        await desk.settle()
        assert (await desk.alarm()).state is AlarmState.RESOLVED
        assert await desk.notices() == Counter({"execution_failed": 1, "recovered": 1})
    finally:
        await desk.engine.close()


async def test_restart_with_a_silence_ending_while_down_releases_once(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.engine.add_silence(reason="maintenance", ends_at=START + timedelta(hours=1), host="host-000")
        await desk.run({"host-000": "network"})
        await desk.engine.close()
        await desk.clock.advance(7200)  # the console was down when the silence ended
        await desk.open()
        await desk.advance(1)
        await desk.restart()
        await desk.advance(1)
        assert await desk.notices() == Counter({"execution_failed": 1})
    finally:
        await desk.engine.close()


async def test_a_flapping_host_is_announced_once_per_episode(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        for index in range(5):  # host-000 always fails and keeps the alarm open; host-001 fails every other run
            await desk.run({"host-000": "network", **({"host-001": "service"} if index % 2 == 0 else {})})
        assert await desk.notices() == Counter({"execution_failed": 1})
        alarm = await desk.alarm()
        assert alarm.hosts["host-001"].flaps == 2 and alarm.hosts["host-001"].failing
        # While silenced, a host's failures are recorded once as held, not once per run, in the trace.
        await desk.engine.add_silence(reason="maintenance", ends_at=START + timedelta(hours=8), host="host-002")
        for _ in range(3):
            await desk.run({"host-000": "network", "host-002": "timeout"})
        held = [e for e in await desk.engine.query_events(kind="alarm.host_failing", limit=100)
                if e.host == "host-002"]
        assert len(held) == 1 and held[0].data["silence"]
    finally:
        await desk.engine.close()


async def test_each_missed_run_is_told_once_even_inside_an_open_alarm(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        task = await desk.engine.get_task("alarmed")
        for hours in (3, 2):
            await desk.engine.record_missed(task, [START - timedelta(hours=hours)], 1, capped=False)
            await desk.settle()
        assert await desk.notices() == Counter({"missed": 2})
        assert len(await desk.engine.list_alarms()) == 1
    finally:
        await desk.engine.close()


async def test_a_silence_reason_that_would_command_a_terminal_is_refused(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        for reason in ("maint \u202eenance", "kernel\x1b]0;owned\x07", "a\x85b"):
            with pytest.raises(ValidationError) as refused:
                await desk.engine.add_silence(reason=reason, host="host-*", ends_at=START + timedelta(hours=1))
            assert [f.field for f in refused.value.errors] == ["reason"]
        assert await desk.engine.list_silences(include_ended=True) == []
    finally:
        await desk.engine.close()


async def test_an_escalation_step_by_a_mode_no_channel_provides_is_refused_at_import(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        before = await desk.engine.directory()
        people = PEOPLE.read_text() + '\n  [scenario.escalation]\n    [[scenario.escalation.step]]\n' \
            '    after = "10m"\n    roles = ["team-lead"]\n    modes = ["pager"]\n'
        with pytest.raises(ValidationError) as refused:
            await desk.engine.import_people(people)
        assert "escalation.step[0].modes[0]" in str(refused.value) and "pager" in str(refused.value)
        assert (await desk.engine.directory()).to_dict() == before.to_dict()
    finally:
        await desk.engine.close()


async def test_every_alarm_notice_says_how_to_take_the_alarm(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        alarm = await desk.alarm()
        [message] = mail.messages
        assert f"patchwatch alarms ack {alarm.id}" in message.part("text/plain")
        assert f"patchwatch alarms ack {alarm.id}" in message.part("text/html")
    finally:
        await desk.engine.close()


async def test_an_announcement_whose_notice_was_never_queued_is_sent_at_the_next_start(tmp_path, mail):
    """Stands for a kill between the alarm book committing an announcement and the notifier queueing its notice
    (a coalescing window later): the outbox then holds nothing for the alarm. Removing the outbox's files after
    a clean stop leaves the data directory in exactly that state."""
    import shutil

    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.run({"host-000": "network", "host-001": "timeout"})
        assert len(mail.messages) == 1
        await desk.engine.close()
        shutil.rmtree(tmp_path / "data" / "outbox")
        await desk.open()
        await desk.settle()
        assert len(mail.messages) == 2
        assert await desk.named("execution_failed") == [{"host-000", "host-001"}]
        await desk.restart()  # told now: not again
        await desk.settle()
        assert len(mail.messages) == 2
    finally:
        await desk.engine.close()


async def test_alarms_handed_out_are_snapshots(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        [listed] = await desk.engine.list_alarms()
        listed.hosts.clear()
        listed.state = AlarmState.RESOLVED
        await desk.run({"host-000": "network", "host-001": "network"})
        [again] = await desk.engine.list_alarms()
        assert again.id == listed.id and again.state is AlarmState.OPEN and set(again.hosts) == {"host-000", "host-001"}
        assert set(listed.hosts) == set()  # and the first snapshot did not change under its reader either
    finally:
        await desk.engine.close()


async def test_a_run_that_ends_inside_the_coalescing_window_says_it_ended(tmp_path, mail):
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        await desk.run({"host-000": "network"})
        [record] = await desk.engine.list_notifications()
        assert record.kind == "execution_failed" and record.notice["run_state"] == "failed"
        assert record.notice["detail"] == "run failed"  # not "the run is still going"
    finally:
        await desk.engine.close()


async def test_an_ambiguous_id_tail_expires_nothing(tmp_path, mail, monkeypatch):
    from console.engine import alarms as alarm_book

    made = iter(["silAAAA000001", "silBBBB000001"])
    new_id = alarm_book.ids.new_id
    monkeypatch.setattr(alarm_book.ids, "new_id", lambda prefix: next(made) if prefix == "sil" else new_id(prefix))
    desk = Desk(tmp_path, mail)
    await desk.setup()
    try:
        for host in ("host-000", "host-001"):
            await desk.engine.add_silence(reason="maintenance", host=host, ends_at=START + timedelta(hours=1))
        with pytest.raises(NotFoundError, match="several"):
            await desk.engine.expire_silence("000001", actor="alice")
        assert len(await desk.engine.list_silences()) == 2
        await desk.engine.expire_silence("A000001", actor="alice")
        assert [s.id for s in await desk.engine.list_silences()] == ["silBBBB000001"]
    finally:
        await desk.engine.close()

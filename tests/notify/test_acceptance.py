"""A notice is noted as sent the moment its channel accepts it, not when the sender is done saying goodbye.

The kill test (#15) needs this: the sent journal is what stops a restart from sending a notice again, so the line
must be on disk before the SMTP QUIT, and before the answer waits for a busy event loop. The SMTP server here
accepts DATA (or refuses it with 550) and then holds QUIT until the test lets it go, so "journalled before the
goodbye" is observed directly instead of inferred from timings.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from support import NoIoJob, fleet, task_input

from console.clock import SystemClock
from console.engine import Engine
from console.notify.channels import parse_channels, write_channels_file
from console.notify.delivery import deliver
from console.notify.notice import Notice, NoticeKind
from console.notify.outbox import RetryPolicy
from console.notify.people import Person
from console.sim.sinks import RobotSink
from console.store.sent_journal import read_sent

PEOPLE = Path(__file__).parent / "fixtures" / "people.toml"
ALICE = Person("alice", email="alice@example.com", mobile="+8613800000001", wecom="alice.w")
NOTICE = Notice(kind=NoticeKind.EXECUTION_FAILED, task_name="acceptance", task_id="ST01JACCEPT",
                at="2026-11-26T10:00:00+00:00", timezone="UTC", run_id="RN01JACCEPT", run_state="running",
                failed=1, total=1, categories={"network": 1}, logs_command="patchwatch runs logs RN01JACCEPT")
NOTIFY = {"enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
          "modes": ["email"]}


class HoldingSmtp:
    """An SMTP server on loopback answering DATA with ``answer`` and holding every QUIT until :meth:`release`."""

    def __init__(self, answer: str = "250 Message accepted for delivery") -> None:
        self.answer = answer
        self.data_seen = asyncio.Event()
        self.quit_seen = asyncio.Event()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd)
        self.data_seen.set()
        return self.answer

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd)
        self.quit_seen.set()
        await self._release.wait()
        return "221 Bye"

    def release(self) -> None:
        self._release.set()

    async def __aenter__(self) -> HoldingSmtp:
        loop = asyncio.get_running_loop()
        # A fixed hostname: aiosmtpd would otherwise look up the FQDN, which can take seconds.
        self._server = await loop.create_server(lambda: SMTP(self, hostname="holding-sink", loop=loop),
                                                host="127.0.0.1", port=0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=patchwatch@example.com"


class Calls:
    """An ``on_accepted`` callback that remembers each call and its thread."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.called = threading.Event()

    def __call__(self) -> None:
        self.threads.append(threading.get_ident())
        self.called.set()


@pytest.fixture
async def robot() -> AsyncIterator[RobotSink]:
    sink = await RobotSink().start()
    yield sink
    await sink.stop()


def _email(smtp: HoldingSmtp):  # noqa: ANN202 - a DeliveryTarget
    target = parse_channels({"email": {"url": smtp.url()}}).target("email", ALICE)
    assert target is not None
    return target


# ------------------------------------------------------------------------------------------------ deliver()


async def test_email_acceptance_is_told_from_the_sending_thread_before_quit() -> None:
    async with HoldingSmtp() as smtp:
        calls = Calls()
        sending = asyncio.create_task(deliver(_email(smtp), NOTICE, timeout=5, on_accepted=calls))
        await asyncio.wait_for(smtp.quit_seen.wait(), 5)
        # QUIT is held: the sender has not said goodbye, deliver() has not returned, and the acceptance is known.
        assert await asyncio.to_thread(calls.called.wait, 2)
        assert not sending.done()
        assert threading.get_ident() not in calls.threads
        smtp.release()
        result = await sending
        assert (result.ok, result.status) == (True, "sent")
        assert len(calls.threads) == 1


async def test_a_refused_message_is_never_told_accepted() -> None:
    async with HoldingSmtp("550 5.7.1 Message rejected") as smtp:
        smtp.release()
        calls = Calls()
        result = await deliver(_email(smtp), NOTICE, timeout=5, on_accepted=calls)
        assert smtp.data_seen.is_set()
        assert (result.ok, result.status) == (False, "failed")
        assert calls.threads == []


async def test_accepted_then_a_goodbye_past_the_deadline_is_sent_not_a_timeout() -> None:
    # A timeout would be retried: the message, already accepted, would be sent twice by a live process.
    async with HoldingSmtp() as smtp:
        calls = Calls()
        result = await deliver(_email(smtp), NOTICE, timeout=1, on_accepted=calls)
        assert smtp.quit_seen.is_set()
        assert (result.ok, result.status) == (True, "sent")
        assert len(calls.threads) == 1


@pytest.mark.parametrize("mode", ["dingtalk", "wecom"])
async def test_robots_tell_acceptance_only_for_errcode_0(robot: RobotSink, mode: str) -> None:
    channels = parse_channels({
        "dingtalk": {"url": "dingtalk://dingAccessTok7373", "endpoint": robot.url("dingtalk")},
        "wecom": {"url": "wecombot://wecomBotKey5151", "endpoint": robot.url("wecom")},
    })
    target = channels.target(mode, ALICE)
    assert target is not None
    accepted = Calls()
    assert (await deliver(target, NOTICE, timeout=5, on_accepted=accepted)).ok
    assert len(accepted.threads) == 1 and threading.get_ident() not in accepted.threads
    robot.set_behaviour(mode, "errcode")
    refused = Calls()
    assert not (await deliver(target, NOTICE, timeout=5, on_accepted=refused)).ok
    assert refused.threads == []


async def test_other_apprise_plugins_tell_acceptance_when_apprise_reports_success(robot: RobotSink) -> None:
    hooks = parse_channels({"other": {
        "ok": {"url": f"json://127.0.0.1:{robot.port}/robot/send?-to={{mobile}}"},
        "missing": {"url": f"json://127.0.0.1:{robot.port}/no/such/path?-to={{mobile}}"},
    }})
    accepted, refused = Calls(), Calls()
    ok_target, missing_target = hooks.target("ok", ALICE), hooks.target("missing", ALICE)
    assert ok_target is not None and missing_target is not None
    assert (await deliver(ok_target, NOTICE, timeout=5, on_accepted=accepted)).ok
    assert len(accepted.threads) == 1
    assert not (await deliver(missing_target, NOTICE, timeout=5, on_accepted=refused)).ok
    assert refused.threads == []


# ------------------------------------------------------------------------------------------------ the service


async def _failing_run(tmp_path: Path, smtp: HoldingSmtp) -> tuple[Engine, str]:
    path = write_channels_file(tmp_path / "channels.toml", f'[email]\nurl = "{smtp.url()}"\n')
    engine = Engine(tmp_path / "data", clock=SystemClock(), jobs={"Scan_OS_Patch": NoIoJob(outcomes={
        "host-000": "network"})}, channels_path=path, notify_options={
        "retry": RetryPolicy(attempts_per_mode=50, first_backoff=5, max_backoff=5), "coalesce": 0.1})
    await engine.open()
    await engine.import_people(PEOPLE.read_text())
    await engine.upsert_instances(fleet(2, "all"))
    task = await engine.create_task(task_input("acceptance", "0 0 3 * * ?", notify=NOTIFY))
    run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
    return engine, run.id


async def test_the_sent_journal_has_the_notice_while_its_quit_is_still_held(tmp_path: Path) -> None:
    async with HoldingSmtp() as smtp:
        engine, run_id = await _failing_run(tmp_path, smtp)
        try:
            await asyncio.wait_for(smtp.quit_seen.wait(), 10)
            (record,) = await engine.list_notifications(run_id=run_id)
            # Accepted, goodbye not said: a SIGKILL now must not send it again at the next start.
            assert record.id in read_sent(tmp_path / "data")
            smtp.release()
            for _ in range(100):
                (record,) = await engine.list_notifications(run_id=run_id)
                if record.status.value == "sent":
                    break
                await asyncio.sleep(0.05)
            assert record.status.value == "sent" and len(record.attempts) == 1
            assert list(read_sent(tmp_path / "data")) == [record.id]  # journalled once
        finally:
            smtp.release()
            await engine.close()


async def test_a_refused_notice_journals_nothing(tmp_path: Path) -> None:
    async with HoldingSmtp("550 5.7.1 Message rejected") as smtp:
        smtp.release()
        engine, run_id = await _failing_run(tmp_path, smtp)
        try:
            for _ in range(200):
                records = await engine.list_notifications(run_id=run_id)
                if records and records[0].attempts:
                    break
                await asyncio.sleep(0.05)
            (record,) = records
            assert record.status.value == "retrying" and not record.attempts[0]["ok"]
            assert smtp.data_seen.is_set()
            assert read_sent(tmp_path / "data") == {}
        finally:
            await engine.close()

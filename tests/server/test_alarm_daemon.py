"""Alarms through the production path: a real ``patchwatch daemon`` times escalation from people.toml's policy,
mails a real SMTP server on loopback, survives kill -9 in the middle of an alarm without sending anything twice,
and takes acknowledgements and silences from attached clients."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from server.test_attach import Daemon, cli

from console.notify.channels import write_channels_file
from console.server.client import EngineClient
from console.sim.sinks import MailSink

pytestmark = pytest.mark.slow

PEOPLE = """
[[person]]
name = "alice"
email = "alice@example.com"

[[person]]
name = "dave"
email = "dave@example.com"

[[scenario]]
name = "shift"

  [[scenario.role]]
  name = "on-duty"
  rotation = "fixed"
  people = ["alice"]

  [[scenario.role]]
  name = "team-lead"
  rotation = "fixed"
  people = ["dave"]

  [scenario.escalation]
  repeat = "off"

    [[scenario.escalation.step]]
    after = "3s"
    roles = ["team-lead"]
"""

TASK = """name = "alarmed-scan"
[schedule]
timezone = "UTC"
cron = "0 0 3 * * ?"
[job]
name = "Scan_OS_Patch"
[targets]
instances = ["ghost-1", "ghost-2"]
[notify]
enabled = true
policies = ["execution_failed"]
scenario = "shift"
roles = ["on-duty"]
modes = ["email"]
"""


def subjects_to(mail: MailSink) -> Counter[tuple[str, str]]:
    """(first recipient, notice tag) for every message received."""
    found: Counter[tuple[str, str]] = Counter()
    for message in mail.messages:
        tag = message.subject.split("]", 1)[1].split()[0] if "]" in message.subject else message.subject
        found[(message.rcpt_tos[0], tag)] += 1
    return found


async def wait_for_mail(mail: MailSink, count: int, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while len(mail.messages) < count:
            await asyncio.sleep(0.05)


async def test_a_daemon_escalates_by_policy_survives_a_kill_and_takes_ack_and_silence(data_dir: Path) -> None:
    async with MailSink() as mail:
        write_channels_file(data_dir / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
        (data_dir.parent / "people.toml").write_text(PEOPLE)
        (data_dir.parent / "task.toml").write_text(TASK)
        assert (await cli(data_dir, "people", "import", str(data_dir.parent / "people.toml")))[0] == 0
        assert (await cli(data_dir, "task", "add", "--file", str(data_dir.parent / "task.toml")))[0] == 0

        daemon = await Daemon(data_dir).start()
        try:
            client = await EngineClient(daemon.socket).connect()
            run = await client.run_now("alarmed-scan")
            await client.wait_run(run.id, timeout=30)
            await wait_for_mail(mail, 1)
            assert subjects_to(mail) == Counter({("alice@example.com", "FAILED"): 1})
            await wait_for_mail(mail, 2)  # three seconds later nobody has acknowledged: the team lead
            assert subjects_to(mail)[("dave@example.com", "ESCALATION")] == 1
            await asyncio.sleep(0.5)
            await client.close()
        finally:
            await daemon.stop(signal.SIGKILL)

        # The escalation step was taken before the kill: a restart must not take it again.
        daemon = await Daemon(data_dir).start()
        try:
            client = await EngineClient(daemon.socket).connect()
            await asyncio.sleep(4)
            assert len(mail.messages) == 2, subjects_to(mail)
            [alarm] = await client.list_alarms()
            assert alarm.escalation_step == 1 and alarm.next_escalation_at is None

            code, out, err = await cli(data_dir, "alarms", "ack", alarm.id[-8:], "--note", "on it")
            assert code == 0, err
            again = await client.run_now("alarmed-scan")  # the same hosts fail again: nothing new is sent
            await client.wait_run(again.id, timeout=30)
            silence = await client.add_silence(reason="decommissioning", host="ghost-*",
                                               ends_at=datetime.now(UTC) + timedelta(hours=1))
            assert [s.id for s in await client.list_silences()] == [silence.id]
            await asyncio.sleep(1.5)
            assert len(mail.messages) == 2, subjects_to(mail)
            [alarm] = await client.list_alarms()
            assert alarm.state.value == "acknowledged" and alarm.acknowledged_by
            assert alarm.hosts["ghost-1"].consecutive == 2
            kinds = {e.kind for e in await client.query_events(limit=200)}
            assert {"alarm.opened", "alarm.escalated", "alarm.acknowledged", "silence.created"} <= kinds
        finally:
            await client.close()
            assert await daemon.stop() == 0

"""The coverage digest: a role with ``digest = "weekly"`` gets the past week's figures by email, through the
outbox, at 00:00 UTC on Monday; a role without one gets nothing; a bad cadence is refused at import."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from console.clock import ManualClock
from console.engine import Engine
from console.engine.reports import digest_period, next_digest_boundary
from console.errors import ValidationError
from console.notify.channels import write_channels_file
from console.notify.outbox import RetryPolicy
from console.sim.history import build_history
from console.sim.sinks import MailSink

PEOPLE = """
[[person]]
name = "alice"
email = "alice@example.com"

[[person]]
name = "bob"
email = "bob@example.com"

[[scenario]]
name = "patch-duty"

  [[scenario.role]]
  name = "on-duty"
  rotation = "fixed"
  people = ["alice"]
  digest = "weekly"

  [[scenario.role]]
  name = "team-lead"
  rotation = "fixed"
  people = ["bob"]
"""

SUNDAY_NIGHT = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def test_boundaries():
    assert next_digest_boundary(SUNDAY_NIGHT) == MONDAY
    assert next_digest_boundary(MONDAY) == datetime(2026, 12, 1, tzinfo=UTC)  # the 1st comes first
    assert digest_period("weekly", MONDAY) == (datetime(2026, 11, 23, tzinfo=UTC), MONDAY)
    assert digest_period("monthly", MONDAY) is None
    assert digest_period("monthly", datetime(2026, 12, 1, tzinfo=UTC)) == (datetime(2026, 11, 1, tzinfo=UTC),
                                                                           datetime(2026, 12, 1, tzinfo=UTC))
    assert digest_period(None, MONDAY) is None


async def test_a_weekly_digest_is_mailed_to_the_role_at_monday_midnight(tmp_path):
    data = tmp_path / "data"
    build_history(data, hosts=40, days=20, end=SUNDAY_NIGHT)
    clock = ManualClock(SUNDAY_NIGHT)
    async with MailSink() as mail:
        channels = write_channels_file(tmp_path / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
        engine = Engine(data, clock=clock, channels_path=channels,
                        notify_options={"retry": RetryPolicy(attempts_per_mode=2, first_backoff=0.1, max_backoff=0.3)})
        await engine.open()
        try:
            await engine.import_people(PEOPLE)
            report = await engine.coverage_report(since=datetime(2026, 11, 23, tzinfo=UTC), until=MONDAY)
            await clock.set(MONDAY)
            received = await mail.wait_for(1, timeout=20)
            for _ in range(200):  # let the outbox record reach "sent"
                records = [r for r in await engine.list_notifications() if r.kind == "digest"]
                if records and all(r.status.value == "sent" for r in records):
                    break
                await asyncio.sleep(0.05)
        finally:
            await engine.close()
    assert [m.rcpt_tos for m in received] == [("alice@example.com",)]
    message = received[0].message
    plain = [part.get_payload(decode=True).decode() for part in message.walk()
             if part.get_content_type() == "text/plain"]
    text = received[0].subject + "\n" + "\n".join(plain)
    assert "weekly coverage digest" in text
    assert f"coverage {report.fleet.coverage * 100:.1f}%" in text
    assert "--from 2026-11-23 --to 2026-11-29" in text
    assert [(r.person, r.mode, r.status.value) for r in records] == [("alice", "email", "sent")]


def test_an_unknown_digest_cadence_is_refused():
    from console.notify.people import parse_people_toml

    with pytest.raises(ValidationError) as caught:
        parse_people_toml(PEOPLE.replace('digest = "weekly"', 'digest = "daily"'), "people.toml")
    assert any(e.field.endswith(".digest") and "weekly, monthly" in e.rule for e in caught.value.errors)

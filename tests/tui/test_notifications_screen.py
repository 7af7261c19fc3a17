"""NotificationsScreen against real outbox records: an engine whose notices go to a real SMTP server and a real
DingTalk-like robot on loopback (console.sim.sinks), a NoIoJob run with planted failures, a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from screen_host import Host, wait_for
from support import NoIoJob, fleet, task_input, utc
from textual.app import App
from textual.widgets import DataTable, Static

from console.clock import ManualClock
from console.engine import Engine
from console.notify.channels import write_channels_file
from console.notify.notice import Notice
from console.notify.outbox import OutboxRecord, RetryPolicy
from console.notify.render import render_email
from console.sim.sinks import MailSink, RobotSink
from console.tui.screens.help import keys_of
from console.tui.screens.notifications import NotificationsScreen, rendered_message
from console.tui.screens.run_detail import RunDetailScreen

PEOPLE = Path(__file__).parents[1] / "notify" / "fixtures" / "people.toml"
#: alice holds patch-duty/on-duty then (10:00 in Shanghai on the 5th).
START = "2026-11-05T02:00:00+00:00"
DING_SECRET = "SECdingsecret0123456789"
DING_TOKEN = "0123456789abcdef0123456789abcdef"
#: Two attempts per mode, and a back-off long enough that a retrying record stays retrying on a manual clock.
RETRY = RetryPolicy(attempts_per_mode=2, first_backoff=30.0, max_backoff=60.0)
PLANTED = {"host-000": "network", "host-002": "permission"}


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait (outside any app) for an async predicate to return something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def keys(table: DataTable[Any]) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def cell(table: DataTable[Any], key: str, column: str) -> Any:
    return table.get_cell(key, column)


def detail(screen: NotificationsScreen) -> str:
    return str(screen.query_one("#notification-detail", Static).render())


def toasts(app: App[Any]) -> list[str]:
    return [n.message for n in app._notifications]


async def open_engine_with_channels(tmp_path: Path, clock: ManualClock, mail: MailSink,
                                    robot: RobotSink | None = None) -> Engine:
    lines = [f'[email]\nurl = "{mail.url()}"\n']
    if robot is not None:
        lines.append(f'[dingtalk]\nurl = "dingtalk://{DING_SECRET}@{DING_TOKEN}"\n'
                     f'endpoint = "{robot.url("dingtalk")}"\n')
    channels = write_channels_file(tmp_path / "channels.toml", "\n".join(lines))
    engine = Engine(tmp_path / "data", clock=clock, jobs={"Scan_OS_Patch": NoIoJob(outcomes=dict(PLANTED))},
                    channels_path=channels, notify_options={"coalesce": 0.2, "retry": RETRY})
    await engine.open()
    await engine.import_people(PEOPLE.read_text())
    await engine.upsert_instances(fleet(4, "all"))
    modes = ["email", "dingtalk"] if robot is not None else ["email"]
    await engine.create_task(task_input("nightly-scan", "0 0 3 * * ?", notify={
        "enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
        "modes": modes}))
    return engine


async def failed_run(engine: Engine, clock: ManualClock) -> str:
    run = await engine.wait_run((await engine.run_now("nightly-scan", actor="alice")).id, timeout=20)
    await clock.advance(1)  # past the coalescing window: the grouped notice is queued and sent
    return run.id


async def records_where(engine: Engine, check: Callable[[list[OutboxRecord]], bool]) -> list[OutboxRecord]:
    async def probe() -> list[OutboxRecord] | None:
        records = await engine.list_notifications()
        return records if check(records) else None

    return await until(probe)  # type: ignore[no-any-return]


@pytest.fixture
async def delivered(tmp_path):
    """An email that went through, and a DingTalk notice the robot kept refusing, which fell back to email."""
    clock = ManualClock(utc(START))
    async with MailSink() as mail, RobotSink(dingtalk_secret=DING_SECRET) as robot:
        robot.set_behaviour("dingtalk", "errcode")
        engine = await open_engine_with_channels(tmp_path, clock, mail, robot)
        try:
            run_id = await failed_run(engine, clock)
            await records_where(engine, lambda rs: any(r.mode == "dingtalk" and r.status.value == "retrying"
                                                       for r in rs))
            await clock.advance(31)  # the second DingTalk attempt fails too: failed, fallback to email
            records = await records_where(engine, lambda rs: len(rs) == 3 and all(
                r.status.value in ("sent", "failed") for r in rs))
            await mail.wait_for(2)
            yield engine, run_id, records, mail
        finally:
            await engine.close()


@pytest.fixture
async def outage(tmp_path):
    """The mail server is down: the one email notice is retrying (30 s back-off on a clock that stands still)."""
    clock = ManualClock(utc(START))
    mail = await MailSink().start()
    await mail.down()
    engine = await open_engine_with_channels(tmp_path, clock, mail)
    try:
        run_id = await failed_run(engine, clock)
        records = await records_where(engine, lambda rs: len(rs) == 1 and rs[0].status.value == "retrying")
        yield engine, clock, mail, run_id, records[0]
    finally:
        await engine.close()
        await mail.stop()


async def test_lists_records_shows_attempts_fallbacks_and_the_message_as_sent_and_filters(delivered):
    engine, run_id, records, mail = delivered
    by_id = {r.id: r for r in records}
    ding = next(r for r in records if r.mode == "dingtalk")
    first_email = next(r for r in records if r.mode == "email" and r.fallback_from is None)
    fallback_email = next(r for r in records if r.fallback_from == ding.id)
    assert ding.fallback_to == fallback_email.id

    app = Host(lambda: NotificationsScreen(engine))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, NotificationsScreen)
        table = screen.table
        await wait_for(pilot, lambda: table.row_count == 3)
        # Newest first: the fallback email was created last.
        assert keys(table) == [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)]
        assert keys(table)[0] == fallback_email.id
        assert str(cell(table, ding.id, "status")) == "failed"
        assert cell(table, ding.id, "status").style == "bold red"  # failures stand out
        assert "errcode 310000" in str(cell(table, ding.id, "error"))
        assert str(cell(table, ding.id, "attempts")) == "2"
        assert str(cell(table, first_email.id, "status")) == "sent"
        assert str(cell(table, first_email.id, "task")) == "nightly-scan"
        assert str(cell(table, first_email.id, "person")) == "alice"
        assert "alice@example.com" in str(cell(table, first_email.id, "target"))
        assert str(cell(table, first_email.id, "run")) == run_id
        assert str(cell(table, first_email.id, "latency")).endswith("s")

        # The failed DingTalk record: every attempt with its status and error, and where it fell back to.
        table.move_cursor(row=table.get_row_index(ding.id))
        await wait_for(pilot, lambda: screen.detail_id == ding.id)
        text = detail(screen)
        assert "Attempts (2)" in text
        assert text.count("errcode 310000") >= 2
        assert f"fell back to {fallback_email.id}" in text
        assert "Robot markdown" in text and f"logs {run_id}" in text
        assert DING_SECRET not in text and DING_TOKEN not in text

        # The fallback email says what it replaced.
        table.move_cursor(row=table.get_row_index(fallback_email.id))
        await wait_for(pilot, lambda: f"fallback of {ding.id}" in detail(screen))

        # The mailbox view: the subject and text exactly as the mail server received them.
        table.move_cursor(row=table.get_row_index(first_email.id))
        await wait_for(pilot, lambda: screen.detail_id == first_email.id)
        text = detail(screen)
        subject, body, _ = render_email(Notice.from_dict(by_id[first_email.id].notice))
        assert "Email subject" in text and subject in text
        assert subject in {m.subject for m in mail.messages}
        assert "Attempts (1)" in text
        for line in body.strip().splitlines():
            assert line in text
        received = next(m for m in mail.messages if m.subject == subject).part("text/plain") or ""
        assert "network 1, permission 1" in received and "network 1, permission 1" in text

        # f: failed or abandoned only; then retrying (none), sent, and back to all.
        await pilot.press("f")
        await wait_for(pilot, lambda: keys(table) == [ding.id])
        assert "failed or abandoned" in str(screen.query_one("#notifications-status", Static).render())
        await pilot.press("f")
        await wait_for(pilot, lambda: table.row_count == 0)
        assert "No notification matches" in detail(screen)
        await pilot.press("f")
        await wait_for(pilot, lambda: set(keys(table)) == {first_email.id, fallback_email.id})
        await pilot.press("f")
        await wait_for(pilot, lambda: table.row_count == 3)

        # /: text filter (person, mode, error...); Esc clears it.
        await pilot.press("slash", *"dingtalk", "enter")
        await wait_for(pilot, lambda: keys(table) == [ding.id])
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 3)
        assert isinstance(app.screen, NotificationsScreen)

        # Enter opens the run the notice is about; Esc comes back; l does the same.
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == run_id  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # R on a sent record: the engine refuses, the console says why.
        table.move_cursor(row=table.get_row_index(first_email.id))
        await pilot.press("R")
        await wait_for(pilot, lambda: any("already sent" in m for m in toasts(app)))


async def test_run_filter_and_empty_outbox(delivered):
    engine, run_id, records, _ = delivered
    app = Host(lambda: NotificationsScreen(engine, run_id=run_id))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, NotificationsScreen)
        await wait_for(pilot, lambda: screen.table.row_count == len(records))
        assert screen.sub_title == f"run {run_id}"
    app = Host(lambda: NotificationsScreen(engine, run_id="RN00000000000000000000NONE"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, NotificationsScreen)
        await wait_for(pilot, lambda: "No notifications yet" in detail(screen))
        assert screen.table.row_count == 0


async def test_retrying_row_stands_out_retry_now_and_a_live_sent_updates_the_row_in_place(outage):
    engine, clock, mail, run_id, record = outage
    app = Host(lambda: NotificationsScreen(engine))
    async with app.run_test(size=(80, 24)) as pilot:  # the smallest terminal an operator may have
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, NotificationsScreen)
        table = screen.table
        await wait_for(pilot, lambda: keys(table) == [record.id])
        assert str(cell(table, record.id, "status")) == "retrying"
        assert cell(table, record.id, "status").style == "bold yellow"
        assert "refused" in str(cell(table, record.id, "error")).lower()
        assert table.size.height >= 5 and screen.query_one("#notification-pane").size.height >= 7
        await wait_for(pilot, lambda: "next attempt at" in detail(screen))
        assert "Attempts (1)" in detail(screen)

        # R: retry now, while the server is still down: the engine records the request, the attempt fails
        # again and the row shows the second attempt.
        await pilot.press("R")
        await wait_for(pilot, lambda: any("retrying execution_failed notice to alice" in m for m in toasts(app)))
        requested = await engine.query_events(kind="notification.retry_requested")
        assert [e.data["notification"] for e in requested] == [record.id]
        await wait_for(pilot, lambda: str(cell(table, record.id, "attempts")) == "2")
        assert str(cell(table, record.id, "status")) == "retrying"

        # The server comes back and the back-off elapses: the live notification.sent turns the row green where
        # it is (updated by key, never removed and re-added), with the cursor still on it.
        removed: list[Any] = []
        remove_row = table.remove_row

        def spy(key: Any) -> Any:
            removed.append(key)
            return remove_row(key)

        table.remove_row = spy  # type: ignore[method-assign]
        cursor = table.cursor_row
        await mail.up()
        await clock.advance(61)
        await wait_for(pilot, lambda: str(cell(table, record.id, "status")) == "sent")
        assert cell(table, record.id, "status").style == "green"
        assert str(cell(table, record.id, "attempts")) == "3"
        assert removed == [] and table.row_count == 1 and table.cursor_row == cursor
        await wait_for(pilot, lambda: "Email subject" in detail(screen) and "sent 2026-11-05" in detail(screen))
        sent = await engine.query_events(kind="notification.sent")
        assert [e.data["notification"] for e in sent] == [record.id]
        assert await mail.wait_for(1)


def test_every_key_has_a_description_for_the_footer_and_the_help():
    described = {b.key: b.description for b in NotificationsScreen.BINDINGS}  # type: ignore[union-attr]
    assert all(described.values()), described
    assert {"escape", "enter", "l", "f", "slash", "R"} <= described.keys()


async def test_help_lists_the_screen_keys(delivered):
    engine, *_ = delivered
    app = Host(lambda: NotificationsScreen(engine))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        descriptions = {k.description for k in keys_of(app.screen, app)}
        assert {"Retry now", "Status filter", "Open run", "Filter", "Back"} <= descriptions


def test_rendered_message_per_channel():
    notice = {"kind": "execution_failed", "task_name": "nightly-scan", "task_id": "TK1", "at": START,
              "timezone": "GMT+08:00", "run_id": "RN1", "failed": 2, "total": 4,
              "categories": {"network": 1, "permission": 1}}
    base = {"id": "NT1", "created_at": START, "notice": notice, "kind": "execution_failed", "task_id": "TK1",
            "run_id": "RN1", "person": "bob", "target": "-", "status": "sent"}
    sms = rendered_message(OutboxRecord.from_dict({**base, "mode": "sms"}))
    assert sms[0][0].startswith("SMS text (") and len(sms[0][1]) <= 160
    robot = dict(rendered_message(OutboxRecord.from_dict({**base, "mode": "wecom"})))
    assert any(heading.startswith("Robot markdown") for heading in robot)
    other = rendered_message(OutboxRecord.from_dict({**base, "mode": "slack"}))
    assert other[0][0] == "slack title" and "nightly-scan" in other[1][1]
    broken = rendered_message(OutboxRecord.from_dict({**base, "mode": "email", "notice": {"kind": "nonsense"}}))
    assert "cannot be read" in broken[0][1]

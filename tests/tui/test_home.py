"""The dashboard: calm when all is well, live and loud when hosts fail, acknowledgement by key, a failures
table that stays small however many hosts fail, and the notices that went out (or did not) for them: real
outbox records sent to a real SMTP server on loopback (console.sim.sinks.MailSink)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import NoIoJob, fleet, task_input, utc

from console.clock import ManualClock
from console.domain.alarm import Alarm, AlarmHost, ResolvedReason, RunProblem, Silence
from console.domain.events import Event
from console.domain.run import RunState
from console.engine import Engine
from console.notify.channels import write_channels_file
from console.notify.outbox import OutboxRecord, RetryPolicy
from console.sim.sinks import MailSink
from console.tui.app import PatchwatchApp
from console.tui.screens.home import HomeScreen
from console.tui.widgets.home_failures import MAX_RENDERED, FailuresTable
from console.tui.widgets.home_notices import PROBLEM_ROW_STYLES, PROBLEM_STATUS_STYLES, NoticeLog

PEOPLE = Path(__file__).parents[1] / "notify" / "fixtures" / "people.toml"
#: alice holds patch-duty/on-duty then (10:00 in Shanghai on the 5th).
NOTICE_START = "2026-11-05T02:00:00+00:00"
#: A back-off long enough that a retrying record stays retrying while the manual clock stands still.
RETRY = RetryPolicy(attempts_per_mode=50, first_backoff=30.0, max_backoff=60.0)


@pytest.fixture
def job() -> NoIoJob:
    return NoIoJob(outcomes={"host-001": "network", "host-003": "permission"})


def status_text(app: PatchwatchApp) -> str:
    return str(app.screen.query_one("#home-status").render())


def categories(home: HomeScreen) -> dict[str, str]:
    return {f.host: f.category for f in home.visible_failures()}


async def test_calm_when_nothing_failed(engine, ui):
    await engine.create_task(task_input("nightly", "0 0 3 * * ?"))
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        assert isinstance(home, HomeScreen)
        calm = home.query_one("#failures-calm")
        await ui.wait_for(pilot, lambda: "No failures" in str(calm.render()), what="the calm line")
        text = str(calm.render())
        assert "1 task scheduled; next fire nightly at 2026-11-26 03:00 UTC" in text
        assert calm.display and not home.query_one("#failures").display
        assert not home.query_one("#failures-panel").has_class("-alarm")
        assert "0 open alarms · 0 failing hosts" in status_text(app)
        assert home.upcoming.row_count == 3


async def test_failing_run_shows_live_and_a_acknowledges(engine, ui):
    await engine.upsert_instances(fleet(5))
    task = await engine.create_task(task_input("nightly", "0 0 3 * * ?", targets={"groups": ["web"]}))
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        assert list(home.visible_failures()) == []

        run = await engine.run_now(task.id)
        await ui.wait_for(pilot, lambda: len(categories(home)) == 2, what="two failure rows")
        assert categories(home) == {"host-001": "network", "host-003": "permission"}
        assert {f.run_id for f in home.visible_failures()} == {run.id}
        [alarm] = await engine.list_alarms()
        assert {f.alarm_id for f in home.visible_failures()} == {alarm.id}
        # At 120 columns the run column gives way (so reason, Notified and Acknowledged fit); the detail line
        # has the full id.
        assert home.failures.layout_name == "medium" and "run" not in home.failures.widths
        assert f"run {run.id}" in str(home.query_one("#failure-detail").render())
        # Impossible to miss: a red count and the panel drawn as an alarm.
        await ui.wait_for(pilot, lambda: "1 open alarm (1 unacknowledged) · 2 failing hosts (2 unacknowledged)"
                          in status_text(app), what="the count")
        assert home.query_one("#failures-panel").has_class("-alarm")
        assert "ALARMS" in str(home.query_one("#failures-panel").border_title)
        await engine.wait_run(run.id, timeout=5)

        # `a` on a failure row acknowledges its alarm.
        home.failures.focus()
        await pilot.press("a")

        async def acknowledged() -> str | None:
            return (await engine.get_alarm(alarm.id)).acknowledged_by

        for _ in range(100):
            if await acknowledged():
                break
            await pilot.pause(0.02)
        assert await acknowledged()
        await ui.wait_for(pilot, lambda: "(all acknowledged)" in status_text(app), what="count cleared")
        assert not home.query_one("#failures-panel").has_class("-alarm")
        ack_cell = home.failures.get_cell(f"{alarm.id}:host-001", "ack")
        assert ack_cell.plain.startswith((await acknowledged() or "?")[:7])  # medium layout: the name first
        # A second `a` says so instead of failing.
        await pilot.press("a")
        await pilot.pause()
        assert any("already acknowledged" in m for m in app.messages)
        # `l` opens the logs of the selected host (the run detail screen, when it is there).
        selected = home.failures.selected()
        await pilot.press("l")
        await ui.wait_for(pilot, lambda: app.screen is not home or any("not available" in m for m in app.messages),
                          what="the logs")
        if app.screen is not home:
            assert type(app.screen).__name__ == "RunDetailScreen"
            assert getattr(app.screen, "run_id", run.id) == run.id
            assert getattr(app.screen, "host", selected.host) == selected.host


async def test_backfill_shows_failures_that_happened_before_the_console_opened(engine, ui):
    await engine.upsert_instances(fleet(5))
    task = await engine.create_task(task_input("nightly", "0 0 3 * * ?", targets={"groups": ["web", "db"]}))
    run = await engine.run_now(task.id)
    await engine.wait_run(run.id, timeout=5)
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        # The unknown group "db" fails as a host of its own; runs today counts the run.
        assert categories(home) == {"host-001": "network", "host-003": "permission", "group:db": "network"}
        assert "runs today 1" in status_text(app)
        assert "1 open alarm (1 unacknowledged) · 3 failing hosts (3 unacknowledged)" in status_text(app)


async def test_active_run_progress_and_pending_review(engine, ui):
    await engine.upsert_instances(fleet(3))
    reviewed = await engine.create_task(task_input("reviewed", "0 0 3 * * ?", review={"required": True}))
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        run = await engine.run_now(reviewed.id)
        assert run.state is RunState.PENDING_REVIEW
        await ui.wait_for(pilot, lambda: home.active.row_count == 1, what="the pending review row")
        assert "pending review" in home.active.get_row(run.id)[1].plain
        assert "1 awaiting review" in status_text(app)
        home.active.focus()
        await pilot.press("v")
        await engine.wait_run(run.id, timeout=5)
        await ui.wait_for(pilot, lambda: home.active.row_count == 0, what="the run to finish")
        assert (await engine.get_run(run.id)).reviewed_by


NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _alarm(alarm_id: str, task_id: str, hosts: list[AlarmHost], *, opened: datetime, acked_by: str | None = None,
           run_id: str = "RN1") -> Alarm:
    alarm = Alarm(id=alarm_id, task_id=task_id, task_name=f"task {task_id}", opened_at=opened.isoformat(),
                  opened_by_run=run_id, hosts={h.host: h for h in hosts}, latest_run=run_id)
    if acked_by:
        alarm.acknowledge(acked_by, opened.isoformat(), None, None)
    return alarm


def _hosts(count: int, *, run_id: str = "RN1", category: str = "timeout", host: str = "h{}",
           reason: str = "[Errno {}] no answer") -> list[AlarmHost]:
    start = datetime(2026, 11, 26, tzinfo=UTC)
    return [AlarmHost(host.format(i), category, reason.format(i), first_failed_at=at, last_failed_at=at, run_id=run_id)
            for i in range(count) for at in [(start + timedelta(seconds=i)).isoformat()]]


async def test_failures_table_keeps_ten_thousand_failing_hosts_smooth(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        alarm = _alarm("AL1", "ST1", _hosts(10_000), opened=NOW)
        with app.batch_update():
            home.failures.show([alarm], [], NOW)
            home._render_summary()
        await pilot.pause()
        table = home.failures
        assert len(table.model) == 10_000
        assert table.row_count == MAX_RENDERED
        assert table.hidden == 10_000 - MAX_RENDERED
        # Newest first, and the newest are the ones drawn.
        assert str(table.ordered_rows[0].key.value) == "AL1:h9999"
        assert str(table.ordered_rows[-1].key.value) == f"AL1:h{10_000 - MAX_RENDERED}"
        more = home.query_one("#failures-more")
        assert more.display and "+8,000 more failing hosts not shown" in str(more.render())
        assert "1 open alarm (1 unacknowledged) · 10000 failing hosts (10000 unacknowledged)" in status_text(app)
        # Reasons are shown as typed, not read as markup.
        assert table.get_cell("AL1:h9999", "reason").plain == "[Errno 9999] no answer"
        # A host that recovered goes, in place; the others stay.
        alarm.host_succeeded("h9999", "RN2", NOW.isoformat())
        with app.batch_update():
            home.failures.show([alarm], [], NOW)
        assert str(table.ordered_rows[0].key.value) == "AL1:h9998"
        assert len(table.model) == 9_999


def test_failures_window_in_isolation():
    table = FailuresTable(limit=3)
    newer = _alarm("AL2", "ST2", _hosts(2, run_id="RN2"), opened=NOW)
    older = _alarm("AL1", "ST1", _hosts(3), opened=NOW - timedelta(hours=1), acked_by="alice")
    older.run_problem(RunProblem.MISSED, "the slot was missed", None)
    table.model.replace([older, newer], [], NOW)
    # Newest alarm first; an alarm's run-level problem before its hosts, newest host first.
    assert table.model.keys == ["AL2:h1", "AL2:h0", "AL1:(run)", "AL1:h2", "AL1:h1", "AL1:h0"]
    assert table.model.first(3) == ["AL2:h1", "AL2:h0", "AL1:(run)"]
    assert (table.model.open_alarms(), table.model.unacknowledged_alarms()) == (2, 1)
    assert (table.model.failing_hosts(), table.model.unacknowledged_hosts()) == (5, 2)
    assert table.model.items["AL1:h0"].acked.startswith("alice ")
    # A resolved alarm drops out; a silence marks the rows it covers (and only while it is in force).
    newer.resolve(NOW.isoformat(), ResolvedReason.RECOVERED)
    silence = Silence(id="SI1", created_by="bob", created_at=NOW.isoformat(), starts_at=NOW.isoformat(),
                      ends_at=(NOW + timedelta(hours=1)).isoformat(), reason="maintenance", task_id="ST1",
                      host="h[01]")
    table.model.replace([older, newer], [silence], NOW)
    assert table.model.keys == ["AL1:(run)", "AL1:h2", "AL1:h1", "AL1:h0"]
    assert {k: f.silenced for k, f in table.model.items.items()} == {
        "AL1:(run)": "", "AL1:h2": "", "AL1:h1": "SI1", "AL1:h0": "SI1"}
    table.model.replace([older], [silence], NOW + timedelta(hours=2))
    assert not any(f.silenced for f in table.model.items.values())


def test_notified_column_follows_each_notice_record():
    table = FailuresTable()
    model = table.model
    assert model.notified_text("RN1") == "-"
    model.note_notification("RN1", "NT1", "queued")
    assert model.notified_text("RN1") == "queued"
    model.note_notification("RN1", "NT1", "sent")
    model.note_notification("RN1", "NT2", "retrying")
    assert model.notified_text("RN1") == "1 sent, 1 retrying"
    model.note_notification("RN1", "NT2", "fallback")  # superseded by a new record on another mode
    model.note_notification("RN1", "NT3", "failed")
    assert model.notified_text("RN1") == "1 sent, 1 failed"
    model.note_notification("RN1", "NT4", "retry_requested")  # not a status: ignored
    assert model.notified_text("RN1") == "1 sent, 1 failed"


class CrashingJob(NoIoJob):
    """A job that dies: the run ends in ``error`` with no failed host to show for it."""

    async def execute(self, ctx):
        raise RuntimeError("the scanner crashed")


async def test_run_level_failure_is_a_row_of_its_own(tmp_path, ui):
    from support import open_engine, utc

    from console.clock import ManualClock

    engine = await open_engine(tmp_path / "crash", ManualClock(utc("2026-11-26T00:00:00+00:00")), CrashingJob(),
                               notify=False)
    try:
        await engine.upsert_instances(fleet(2))
        task = await engine.create_task(task_input("crashy", "0 0 3 * * ?"))
        app = PatchwatchApp(engine)
        async with app.run_test(size=(120, 40)) as pilot:
            home = app.screen
            await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
            run = await engine.run_now(task.id)
            await ui.wait_for(pilot, lambda: list(home.visible_failures()), what="the run-level row")
            [failure] = home.visible_failures()
            assert (failure.run_id, failure.host, failure.category) == (run.id, "(run)", "error")
            assert "the scanner crashed" in failure.reason
            await ui.wait_for(pilot, lambda: "1 open alarm (1 unacknowledged) · 0 failing hosts" in status_text(app),
                              what="the count")
            assert home.query_one("#failures-panel").has_class("-alarm")
    finally:
        await engine.close()


# ---------------------------------------------------------------------- notifications


async def open_notifying_engine(tmp_path: Path, clock: ManualClock, mail: MailSink) -> Engine:
    """An engine whose failure notices go by email to the SMTP sink; alice is on duty; host-000 and host-002
    of four fail."""
    channels = write_channels_file(tmp_path / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
    job = NoIoJob(outcomes={"host-000": "network", "host-002": "permission"})
    engine = Engine(tmp_path / "data", clock=clock, jobs={"Scan_OS_Patch": job}, channels_path=channels,
                    notify_options={"coalesce": 0.2, "retry": RETRY})
    await engine.open()
    await engine.import_people(PEOPLE.read_text())
    await engine.upsert_instances(fleet(4, "all"))
    await engine.create_task(task_input("nightly-scan", "0 0 3 * * ?", notify={
        "enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
        "modes": ["email"]}))
    return engine


async def failed_run(engine: Engine, clock: ManualClock) -> str:
    run = await engine.wait_run((await engine.run_now("nightly-scan", actor="alice")).id, timeout=20)
    await clock.advance(1)  # past the coalescing window: the grouped notice is queued
    return run.id


async def outbox_where(engine: Engine, check: Callable[[list[OutboxRecord]], bool],
                       timeout: float = 10.0) -> list[OutboxRecord]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        records = await engine.list_notifications()
        if check(records):
            return records
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox never matched: {[(r.mode, r.status.value) for r in records]}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def mail() -> AsyncIterator[MailSink]:
    sink = await MailSink().start()
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.fixture
async def notifying(tmp_path: Path, mail: MailSink) -> AsyncIterator[tuple[Engine, ManualClock]]:
    clock = ManualClock(utc(NOTICE_START))
    engine = await open_notifying_engine(tmp_path, clock, mail)
    try:
        yield engine, clock
    finally:
        await engine.close()


def notice_cell(home: HomeScreen, record_id: str, column: str) -> Any:
    return home.notices.get_cell(record_id, column)


def backlog_span_style(app: PatchwatchApp) -> str | None:
    """The style of the "outbox backlog" part of the status line (None when it has no style of its own)."""
    content = app.screen.query_one("#home-status").render()
    text = str(content)
    start = text.index("outbox backlog")
    for span in getattr(content, "spans", []):
        if span.start <= start < span.end:
            return str(span.style)
    return None


async def test_notices_show_live_on_the_dashboard(notifying, mail, ui):
    engine, clock = notifying
    app = PatchwatchApp(engine)
    async with app.run_test(size=(160, 50)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        assert home.notices.row_count == 0
        assert "outbox backlog 0" in status_text(app)
        assert "Notifications: none yet" in str(home.query_one("#notices-panel").border_title)

        run_id = await failed_run(engine, clock)
        [record] = await outbox_where(engine, lambda rs: len(rs) == 1 and rs[0].status.value == "sent")
        await mail.wait_for(1)
        # The row arrives by itself, keyed by the record id, and ends as sent.
        await ui.wait_for(pilot, lambda: record.id in home.notices.rows
                          and str(notice_cell(home, record.id, "status")) == "sent", what="the sent row")
        assert str(notice_cell(home, record.id, "kind")) == "execution failed"
        assert str(notice_cell(home, record.id, "task")) == "nightly-scan"
        assert str(notice_cell(home, record.id, "person")) == "alice"
        assert str(notice_cell(home, record.id, "mode")) == "email"
        assert str(notice_cell(home, record.id, "target")) == "alice@example.com"  # the recipient of the URL
        assert str(notice_cell(home, record.id, "attempts")) == "1"
        assert str(notice_cell(home, record.id, "latency")).endswith(" s")
        assert notice_cell(home, record.id, "status").style == "green"  # calm: nothing stands out
        assert not home.query_one("#notices-panel").has_class("-attention")
        await ui.wait_for(pilot, lambda: "outbox backlog 0" in status_text(app), what="no backlog")
        # The failures panel says the run's notice went out.
        def notified(host: str) -> str:
            row = next((f for f in home.visible_failures() if f.host == host and f.run_id == run_id), None)
            return home.failures.get_cell(row.key, "notified").plain if row else ""

        await ui.wait_for(pilot, lambda: notified("host-000") == "sent", what="notified: sent")


async def test_a_retrying_notice_stands_out_and_the_header_counts_the_backlog(notifying, mail, ui):
    engine, clock = notifying
    await mail.down()
    app = PatchwatchApp(engine)
    async with app.run_test(size=(160, 50)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        await failed_run(engine, clock)
        [record] = await outbox_where(engine, lambda rs: len(rs) == 1 and rs[0].status.value == "retrying")

        def retrying_row() -> bool:
            return record.id in home.notices.rows and str(notice_cell(home, record.id, "status")) == "retrying"

        await ui.wait_for(pilot, retrying_row, what="the retrying row")
        # The whole row is drawn as a problem, the status cell strongest.
        assert notice_cell(home, record.id, "status").style == PROBLEM_STATUS_STYLES["retrying"]
        for column in ("kind", "task", "person", "mode", "target", "attempts"):
            assert notice_cell(home, record.id, column).style == PROBLEM_ROW_STYLES["retrying"], column
        assert home.notices.selected().problem
        panel = home.query_one("#notices-panel")
        assert panel.has_class("-attention")
        assert "1 retrying" in str(panel.border_title) and "1 waiting in the outbox" in str(panel.border_title)
        # The status line counts the notice still on its way, and it stands out.
        await ui.wait_for(pilot, lambda: "outbox backlog 1" in status_text(app), what="the backlog")
        style = backlog_span_style(app) or ""
        assert "bold" in style and "on ansi_yellow" in style, style

        # The mail server comes back and the back-off runs out: sent, and the backlog is gone.
        await mail.up()
        await clock.advance(31)
        await ui.wait_for(pilot, lambda: str(notice_cell(home, record.id, "status")) == "sent", what="sent")
        await ui.wait_for(pilot, lambda: "outbox backlog 0" in status_text(app), what="the backlog cleared")
        assert backlog_span_style(app) is None
        assert not panel.has_class("-attention")
        assert home.notices.row_count == 1


async def test_the_dashboard_opens_with_the_outbox_as_it_is(notifying, mail, ui):
    engine, clock = notifying
    await mail.down()
    await failed_run(engine, clock)
    [record] = await outbox_where(engine, lambda rs: len(rs) == 1 and rs[0].status.value == "retrying")
    app = PatchwatchApp(engine)
    async with app.run_test(size=(160, 50)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        assert [str(row.key.value) for row in home.notices.ordered_rows] == [record.id]
        assert str(notice_cell(home, record.id, "status")) == "retrying"
        assert "outbox backlog 1" in status_text(app)
        await mail.up()
        await clock.advance(31)
        await ui.wait_for(pilot, lambda: "outbox backlog 0" in status_text(app), what="the backlog cleared")


def _notice_event(event_kind: str, record: str, at: str, **data: Any) -> Event:
    return Event(kind=event_kind, at=at, message="", task_id="ST1", run_id="RN1", data={"notification": record, **data})


def test_notice_log_follows_events_keeps_the_newest_and_counts_the_backlog():
    log = NoticeLog(limit=3)
    fields = {"person": "alice", "mode": "email", "target": "a***@example.com", "kind": "execution_failed"}
    for i in range(4):
        rows, refetch = log.apply(_notice_event("notification.queued", f"NT{i}", f"2026-11-05T02:00:0{i}+00:00",
                                                **fields))
        assert not refetch
        for row in rows:
            log.upsert(row)
    assert log.newest() == ["NT1", "NT2", "NT3"]  # bounded: the oldest went
    assert log.backlog == 4  # ... but it is still counted while it waits
    rows, _ = log.apply(_notice_event("notification.sent", "NT0", "2026-11-05T02:00:05+00:00", attempts=1,
                                      latency_s=0.5, **fields))
    for row in rows:
        log.upsert(row)
    assert log.backlog == 3 and "NT0" not in log.items
    # A fallback: the failed record leaves the backlog, its successor (on another mode) joins it, and the run's
    # records are re-read for the successor's address.
    rows, refetch = log.apply(_notice_event("notification.fallback", "NT3", "2026-11-05T02:00:06+00:00",
                                            attempts=4, error="refused", fallback="NT9", fallback_mode="sms",
                                            **fields))
    assert refetch and [r.id for r in rows] == ["NT3", "NT9"]
    for row in rows:
        log.upsert(row)
    assert log.items["NT3"].status == "failed" and log.items["NT3"].problem
    assert log.items["NT9"].mode == "sms" and log.items["NT9"].pending
    assert log.pending == {"NT1": "queued", "NT2": "queued", "NT9": "queued"}
    # A notice that could not be addressed says only its error: the run is re-read for the rest.
    rows, refetch = log.apply(Event(kind="notification.failed", at="2026-11-05T02:00:07+00:00", message="",
                                    run_id="RN1", data={"notification": "NT10", "error": "no recipient"}))
    assert refetch and rows[0].status == "failed"


async def test_layout_at_80x24_keeps_failures_and_at_160_shows_notified_and_acknowledged(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded, what="the dashboard to load")
        assert home.has_class("-short")
        assert not home.query_one("#notices-panel").display
        assert home.query_one("#failures-panel").region.height >= 6
        await pilot.resize_terminal(160, 40)
        await ui.wait_for(pilot, lambda: home.has_class("-tall"), what="the tall layout")
        assert home.query_one("#notices-panel").display
        reason = ("sudo: a terminal is required to read the password; either use the -S option or configure an "
                  "askpass helper")
        alarms = [_alarm(f"AL01JD3Z8K7Q0M4X9B2C5V6N{i:02d}", "ST01JD3Z8K7Q0M4X9B2C5V6N7P",
                         _hosts(1, run_id=f"RN01JD3Z8K7Q0M4X9B2C5V6N{i:02d}", category="permission", reason=reason,
                                host=f"web-{i:02d}.eu-central-1.prod.example.internal"),
                         opened=NOW + timedelta(seconds=i), run_id=f"RN01JD3Z8K7Q0M4X9B2C5V6N{i:02d}",
                         acked_by="alice.operator" if i == 1 else None)
                  for i in range(3)]
        table = home.failures
        with app.batch_update():
            table.task_names["ST01JD3Z8K7Q0M4X9B2C5V6N7P"] = "ScheduledscanOSpatches-production-eu-central"
            table.show(alarms, [], NOW)
            table.note_notification(alarms[0].latest_run, "NT1", "sent")
            table.note_notification(alarms[0].latest_run, "NT2", "retrying")
            home._render_summary()
        events = [next(iter(f"{a.id}:{h}" for h in a.hosts)) for a in alarms]
        await pilot.pause()
        # Every column, Notified and Acknowledged included, fits without scrolling sideways.
        assert table.virtual_size.width <= table.scrollable_content_region.width, (
            table.virtual_size.width, table.scrollable_content_region.width)
        # The detail line keeps what the cells cut short.
        table.move_cursor(row=table.get_row_index(events[2]))
        await pilot.pause()
        detail = str(home.query_one("#failure-detail").render())
        assert alarms[2].latest_run in detail and "web-02.eu-central-1.prod.example.internal" in detail

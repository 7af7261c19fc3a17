"""Snapshot (SVG) tests of the console's main screens at 120x40, with content that is the same on every run.

What makes the pictures reproducible:

* ids: every id the engine makes goes through ``console.domain.ids.new_id``; it is patched for the whole
  test with a counter (``ST000...001``, ``RN000...002``, ...), so the task, run and event ids on screen are
  the same on every run (they are otherwise random and time-based);
* time: the data directory is built, and then shown, with a :class:`ManualClock` stopped at a fixed instant,
  the actor is fixed (``console.actor.login_name`` is patched), and the process's local zone is UTC for the
  test (the dashboard shows local times);
* content: fixed task names and inventory, and one run of a :class:`NoIoJob` with one planted failure per
  category (plus a written transcript per host, so the log pane has text);
* engine and app share one event loop: the data directory is built in its own ``asyncio.run`` and closed;
  the console then opens its own engine on it inside the app's loop (``on_load``) and closes it on unmount,
  because ``snap_compare`` runs the app with ``App.run`` (a fresh loop) and engines are bound to a loop;
* the cursor of a focused input does not blink while the screenshot is taken.

Update the pictures with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at them
(``snapshot_report.html`` is written when one differs).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import NoIoJob, task_input, utc
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from console import actor
from console.clock import ManualClock
from console.domain import ids
from console.engine import Engine
from console.jobs import JobContext, Target
from console.notify import service as notify_service
from console.notify.notice import Notice, NoticeKind
from console.notify.outbox import OutboxRecord, OutboxStatus
from console.tui.app import PatchwatchApp
from console.tui.screens.events import EventsScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.home import HomeScreen
from console.tui.screens.notifications import NotificationsScreen
from console.tui.screens.report import ReportScreen
from console.tui.screens.run_detail import RunDetailScreen
from console.tui.screens.silence_form import SilenceForm
from console.tui.screens.task_form import TaskFormScreen
from console.tui.screens.tasks import TasksScreen
from console.tui.widgets.form_dialogs import ConfirmDialog

SIZE = (120, 40)
#: The instant the data directory is built at (the run fires, scans and finishes at it).
BUILT_AT = "2026-11-26T08:00:00+00:00"
#: The instant the console is looked at: five minutes later.
SHOWN_AT = "2026-11-26T08:05:00+00:00"
ACTOR = "snapshot-operator"

INVENTORY = [
    *(Target(name=f"web-{i:02d}", address="127.0.0.1", port=2200 + i, groups=("web",)) for i in range(1, 6)),
    *(Target(name=f"db-{i:02d}", address="127.0.0.1", port=2300 + i, groups=("db",)) for i in range(1, 4)),
]
#: One failed host per category; web-05 and db-03 succeed.
PLANTED = {"web-01": "network", "web-02": "timeout", "web-03": "permission", "web-04": "host_key",
           "db-01": "tool", "db-02": "service"}

PEOPLE = Path(__file__).resolve().parents[1] / "notify" / "fixtures" / "people.toml"
NO_CHANNELS = "snapshot-has-no-channels.toml"
#: Snapshot sizes: an operator's small tmux pane and a big terminal (issue 13); 120x40 for the rest.
SIZES = [(80, 24), (160, 45)]

TASKS: list[dict[str, Any]] = [
    task_input("nightly-web", "0 0 2 * * ?", description="Nightly scan of the web and db tiers"),
    task_input("ScheduledscanOSpatches", "0 15 3 5 * ?",
               schedule={"timezone": "GMT+08:00", "cron": "0 15 3 5 * ?"},
               description="The reference system's monthly scan"),
    task_input("weekly-db-review", "0 30 4 ? * SUN", risk="high", targets={"groups": ["db"]},
               review={"required": True, "expires_after": "12h"}),
    task_input("legacy-scan", "0 0 5 * * ?", enabled=False, targets={"groups": ["web"]}),
]


class TranscriptJob(NoIoJob):
    """A NoIoJob that also writes a short, fixed transcript for every host (what the log pane shows)."""

    async def execute(self, ctx: JobContext) -> None:
        for target in ctx.targets:
            outcome = self.outcomes.get(target.name, "ok")
            lines = [f"$ ssh {target.name} ({target.address}:{target.port})", "$ cat /etc/os-release",
                     'NAME="Debian GNU/Linux"', 'VERSION_ID="12"']
            if outcome == "ok":
                lines += ["$ apt list --upgradable", "openssl/stable-security 3.0.15-1 amd64 [upgradable]"]
            else:
                lines += [f"! planted {outcome} failure"]
            ctx.save_transcript(target.name, ("\n".join(lines) + "\n").encode())
        await super().execute(ctx)


def counted_ids() -> Callable[..., str]:
    """A stand-in for ``ids.new_id``: ``RN000000000000000000000010`` for the tenth id asked for."""
    counter = itertools.count(1)

    def counted_id(prefix: str, *, millis: int | None = None) -> str:
        return f"{prefix}{next(counter):024d}"

    return counted_id


@pytest.fixture
def fixed_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Counter ids, a fixed actor and UTC as the local zone, for the whole test."""
    monkeypatch.setattr(ids, "new_id", counted_ids())
    # The notices' "open the logs" command names this machine's program and data directory: fixed here.
    monkeypatch.setattr(notify_service, "command_line", lambda data_dir, *words: " ".join(
        ["patchwatch", "--data-dir", "/srv/patchwatch/data", *words]))
    monkeypatch.setattr(actor, "login_name", lambda: ACTOR)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def _build(data_dir: Path) -> str:
    """People, tasks, inventory, one finished run with six failed hosts, and two test notices that could not
    go out (there is no channels file: a fixed, relative name, so the error reads the same everywhere);
    returns the run id."""
    engine = Engine(data_dir, clock=ManualClock(utc(BUILT_AT)), jobs={"Scan_OS_Patch": TranscriptJob(
        outcomes=dict(PLANTED))}, channels_path=Path(NO_CHANNELS))
    await engine.open()
    try:
        await engine.import_people(PEOPLE.read_text())
        await engine.upsert_instances(INVENTORY)
        for form in TASKS:
            await engine.create_task(form)
        run = await engine.run_now("nightly-web")
        await engine.wait_run(run.id, timeout=10)
        await engine.idle()
        # The run's failure notice to two people, as the notifier records it when no channel can carry it
        # (recorded here directly: the notifier's own notices leave on timers, which a stopped clock never
        # fires, and whether they are recorded before the engine closes would be a race).
        task = await engine.get_task("nightly-web")
        finished = await engine.get_run(run.id)
        now = engine.clock.now().isoformat()
        notice = Notice(kind=NoticeKind.EXECUTION_FAILED, task_name=task.name, task_id=task.id, at=now,
                        timezone=task.schedule.timezone, run_id=run.id, run_state="failed",
                        failed=finished.hosts_failed, total=finished.hosts_total,
                        categories=dict(finished.categories), detail="run failed",
                        logs_command=notify_service.command_line(data_dir, "logs", run.id))
        records = [OutboxRecord(id=ids.new_id(ids.NOTICE), created_at=now, notice=notice.to_dict(),
                                kind=notice.kind.value, task_id=task.id, run_id=run.id, person=person, mode=mode,
                                target="-", status=OutboxStatus.FAILED, error=f"no channels file at {NO_CHANNELS}",
                                detected_at=BUILT_AT, tried_modes=[mode])
                   for person, mode in (("alice", "email"), ("bob", "dingtalk"))]
        await engine.store.call(lambda repos: repos.outbox.insert_many([r.to_dict() for r in records]))
        return run.id
    finally:
        await engine.close()


@pytest.fixture
def data_dir(tmp_path: Path, fixed_world: None) -> Path:
    path = tmp_path / "data"
    asyncio.run(_build(path))
    return path


async def _review_run(data_dir: Path) -> None:
    """A second alarm: the db review, approved, fails db-01 and db-02 five minutes after the first run."""
    engine = Engine(data_dir, clock=ManualClock(utc(SHOWN_AT)), jobs={"Scan_OS_Patch": TranscriptJob(
        outcomes=dict(PLANTED))}, notify=False)
    await engine.open()
    try:
        run = await engine.run_now("weekly-db-review")
        await engine.approve(run.id)
        await engine.wait_run(run.id, timeout=10)
        await engine.idle()
    finally:
        await engine.close()


@pytest.fixture
def two_alarms(data_dir: Path) -> Path:
    asyncio.run(_review_run(data_dir))
    return data_dir


class SnapshotConsole(PatchwatchApp):
    """The real console, opening (and closing) its engine in the loop it runs in."""

    async def on_load(self) -> None:
        await self.engine.open()

    async def on_unmount(self) -> None:
        await self.engine.close()


def console_on(data_dir: Path, job: TranscriptJob | None = None) -> SnapshotConsole:
    engine = Engine(data_dir, clock=ManualClock(utc(SHOWN_AT)),
                    jobs={"Scan_OS_Patch": job or TranscriptJob(outcomes=dict(PLANTED))}, notify=False)
    return SnapshotConsole(engine)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker finish but the endless live-event followers (the screens' ``*-live`` groups), then
    stop input cursors blinking."""
    app = pilot.app
    deadline = time.monotonic() + 10
    while any(w.is_running and not w.group.endswith("-live") for w in app.workers):
        if time.monotonic() > deadline:
            raise AssertionError(f"workers still running: {[w.description for w in app.workers]}")
        await pilot.pause(0.02)
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def home_loaded(pilot: Pilot[Any]) -> HomeScreen:
    home = pilot.app.screen
    assert isinstance(home, HomeScreen)
    await wait_until(pilot, lambda: home._loaded and home.failures.row_count == len(PLANTED), "the dashboard")
    return home


async def command(pilot: Pilot[Any], text: str) -> None:
    await pilot.press("colon")
    await pilot.pause(0.06)
    await pilot.press(*text, "enter")


async def log_settled(pilot: Pilot[Any], screen: RunDetailScreen) -> None:
    """The log pane at its end, following: whether it still followed when the last lines came depends on
    timing (a short pane scrolls as they arrive), so End is pressed for it, and the scroll waited for."""
    lines = screen.log_view.lines
    screen.log_view.follow()
    await wait_until(pilot, lambda: lines.scroll_y == lines.max_scroll_y and not lines.is_scrolling,
                     "the log to reach its end")
    await pilot.pause(0.05)


def shot(run: Callable[[Pilot[Any]], Awaitable[None]]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """``run_before``: the steps of ``run``, then a settled app."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await run(pilot)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_home_with_failures(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """The dashboard in alarm: six failed hosts (one per category), unacknowledged, the first one detailed."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)

    assert snap_compare(console_on(data_dir), terminal_size=size, run_before=shot(steps))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_home_alarms_acknowledged_and_silenced(snap_compare: Any, two_alarms: Path, size: tuple[int, int]) -> None:
    """The failures panel as open alarms (issue 11): the db review's alarm on top (newest) with db-02 silenced by
    ``s`` (dimmed, "silenced"), and the nightly alarm below it acknowledged by ``a`` (its rows say who)."""

    async def steps(pilot: Pilot[Any]) -> None:
        home = pilot.app.screen
        assert isinstance(home, HomeScreen)
        await wait_until(pilot, lambda: home._loaded and home.failures.row_count == len(PLANTED) + 2,
                         "the two alarms")
        home.failures.focus()
        await pilot.press("ctrl+home", "down", "down")  # the first row of the nightly alarm
        await pilot.press("a")
        await wait_until(pilot, lambda: home.failures.model.unacknowledged_alarms() == 1, "the acknowledgement")
        await wait_until(pilot, lambda: all(f.acked for f in home.visible_failures() if f.task_name == "nightly-web"),
                         "the acknowledged rows")
        await pilot.press("ctrl+home")  # db-02 of the review's alarm (the newest row first)
        selected = home.failures.selected()
        assert selected is not None and selected.host == "db-02"
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, SilenceForm), "the silence form")
        await pilot.press(*"disk replaced tonight", "enter")
        await wait_until(pilot, lambda: pilot.app.screen is home, "the dashboard again")
        await wait_until(pilot, lambda: [f.host for f in home.visible_failures() if f.silenced] == ["db-02"],
                         "the silenced row")
        pilot.app.clear_notifications()

    assert snap_compare(console_on(two_alarms), terminal_size=size, run_before=shot(steps))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_home_alarm_recovered_after_rescan(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """The end of the on-shift loop (issue 11): ``a``, ``s`` (a reason, Enter), then ``R`` ``y`` re-scans the
    alarm's six failing hosts; they all succeed now, the alarm resolves and the panel is calm again."""
    job = TranscriptJob(outcomes=dict(PLANTED))

    async def steps(pilot: Pilot[Any]) -> None:
        home = await home_loaded(pilot)
        home.failures.focus()
        await pilot.press("a")
        await wait_until(pilot, lambda: home.failures.model.unacknowledged_alarms() == 0, "the acknowledgement")
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, SilenceForm), "the silence form")
        await pilot.press(*"rebooting web-04", "enter")
        await wait_until(pilot, lambda: any(f.silenced for f in home.visible_failures()), "the silenced row")
        job.outcomes.clear()  # the hosts were fixed meanwhile
        # Held at its start until the active runs table shows it: the table's columns are as wide as the widest
        # row it ever showed, so the picture must not depend on whether the run was seen running.
        job.gate = asyncio.Event()
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: home.active.row_count == 1 and home.active.get_row_at(0)[2] == "1 of 1",
                         "the re-scan's batch in the active runs")
        job.gate.set()
        await wait_until(pilot, lambda: home.failures.row_count == 0 and home.query_one("#failures-calm").display,
                         "the alarm to resolve", timeout=30)
        await wait_until(pilot, lambda: not home._open_runs, "the re-scan run to end")
        pilot.app.clear_notifications()

    assert snap_compare(console_on(data_dir, job), terminal_size=size, run_before=shot(steps))


def test_tasks_list(snap_compare: Any, data_dir: Path) -> None:
    """``:tasks``: four tasks with schedule in words, zone, next fire, last result and state."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)
        await command(pilot, "tasks")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TasksScreen)
                         and pilot.app.screen.table.row_count == len(TASKS), "the tasks table")

    assert snap_compare(console_on(data_dir), terminal_size=SIZE, run_before=shot(steps))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_task_form_new(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """``n`` on the tasks screen: an empty task form with its schedule preview."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)
        await command(pilot, "tasks")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TasksScreen)
                         and pilot.app.screen.table.row_count == len(TASKS), "the tasks table")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TaskFormScreen), "the task form")

    assert snap_compare(console_on(data_dir), terminal_size=size, run_before=shot(steps))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_run_detail_with_host(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """``l`` on the third failure of the dashboard: the run, its hosts, and that host's transcript and events."""

    async def steps(pilot: Pilot[Any]) -> None:
        home = await home_loaded(pilot)
        home.failures.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        wanted = home.failures.selected()
        assert wanted is not None
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen), "the run detail")
        screen = pilot.app.screen
        assert isinstance(screen, RunDetailScreen)
        await wait_until(pilot, lambda: screen.log_host == wanted.host and "## events of" in screen.log_view.text(),
                         "the host's log")
        await wait_until(pilot, lambda: screen.hosts_table.row_count == len(INVENTORY), "the hosts table")
        await log_settled(pilot, screen)

    assert snap_compare(console_on(data_dir), terminal_size=size, run_before=shot(steps))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_run_detail_right_after_rescan(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """``R`` then ``y`` on the run: the re-scan run of the six failed hosts, laid out like any other run."""

    async def steps(pilot: Pilot[Any]) -> None:
        home = await home_loaded(pilot)
        home.failures.focus()
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen), "the run detail")
        first = pilot.app.screen
        assert isinstance(first, RunDetailScreen)
        await wait_until(pilot, lambda: first.hosts_table.row_count == len(INVENTORY), "the hosts table")
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen)
                         and pilot.app.screen is not first, "the re-scan run")
        rescan = pilot.app.screen
        assert isinstance(rescan, RunDetailScreen)
        engine = pilot.app.engine  # type: ignore[attr-defined]
        await engine.idle()
        # The run is over: r reloads the screen once, so the picture does not depend on which live events
        # arrived before the screen subscribed.
        await pilot.press("r")
        await wait_until(pilot, lambda: rescan.run is not None and rescan.run.state.terminal
                         and rescan.hosts_table.row_count == len(PLANTED)
                         and all(h in rescan.results for h in PLANTED)
                         and rescan.log_host is not None and "## events of" in rescan.log_view.text(),
                         "the re-scan to finish", timeout=30)
        await log_settled(pilot, rescan)
        # The toast that confirmed the start would otherwise be in the picture for a few seconds.
        pilot.app.clear_notifications()

    assert snap_compare(console_on(data_dir), terminal_size=size, run_before=shot(steps))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_notifications(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """``:notifications``: the outbox with the run's failure notice to two people, both failed (no channels
    file), and the newest one's detail with the message as rendered."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)
        await command(pilot, "notifications")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, NotificationsScreen)
                         and pilot.app.screen.table.row_count > 0
                         and pilot.app.screen.detail_id is not None, "the outbox")

    assert snap_compare(console_on(data_dir), terminal_size=size, run_before=shot(steps))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_events(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """``:events``: the trace, newest first, with the filter fields."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)
        await command(pilot, "events")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EventsScreen)
                         and pilot.app.screen.table.row_count > 0, "the events table")

    assert snap_compare(console_on(data_dir), terminal_size=size, run_before=shot(steps))


def test_help(snap_compare: Any, data_dir: Path) -> None:
    """``?`` on the dashboard: the dashboard's keys, the focused table's keys, and the commands."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen)
                         and pilot.app.screen.query_one(DataTable).row_count > 0, "the help dialog")

    assert snap_compare(console_on(data_dir), terminal_size=SIZE, run_before=shot(steps))


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_report(snap_compare: Any, data_dir: Path, size: tuple[int, int]) -> None:
    """``:report``: coverage figures, the trend sparkline and the six hosts whose latest scan failed, at the
    smallest and a large terminal."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)
        await command(pilot, "report")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReportScreen)
                         and pilot.app.screen.table.row_count == len(PLANTED), "the report's hosts")

    assert snap_compare(console_on(data_dir), terminal_size=size, run_before=shot(steps))


def test_report_enter_opens_the_hosts_latest_run(snap_compare: Any, data_dir: Path) -> None:
    """Enter on a host of ``:report``: its latest run, with that host's log."""

    async def steps(pilot: Pilot[Any]) -> None:
        await home_loaded(pilot)
        await command(pilot, "report")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReportScreen)
                         and pilot.app.screen.table.row_count == len(PLANTED), "the report's hosts")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen), "the run detail")
        screen = pilot.app.screen
        assert isinstance(screen, RunDetailScreen)
        await wait_until(pilot, lambda: screen.log_host == "db-01" and "## events of" in screen.log_view.text(),
                         "the host's log")
        await wait_until(pilot, lambda: screen.hosts_table.row_count == len(INVENTORY), "the hosts table")

    assert snap_compare(console_on(data_dir), terminal_size=(80, 24), run_before=shot(steps))


async def _dump(data_dir: Path) -> dict[str, Any]:
    """Everything the screens above show, as plain data."""
    engine = Engine(data_dir, clock=ManualClock(utc(SHOWN_AT)), read_only=True, notify=False)
    await engine.open()
    try:
        runs = await engine.list_runs()
        return {
            "tasks": [t.to_dict() for t in await engine.list_tasks()],
            "runs": [r.to_dict() for r in runs],
            "hosts": [h.to_dict() for r in runs for h in await engine.host_results(r.id)],
            "events": [e.to_dict() for e in await engine.query_events(limit=10_000)],
            "notifications": [n.to_dict() for n in await engine.list_notifications(limit=10_000)],
        }
    finally:
        await engine.close()


def test_the_data_shown_is_the_same_every_time(tmp_path: Path, fixed_world: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The precondition of the pictures, with a readable failure: two builds give identical records, with
    valid-looking counter ids and only the frozen instant (a new random id or wall-clock time would show
    here first, not as an SVG diff)."""
    run_id = asyncio.run(_build(tmp_path / "first"))
    first = asyncio.run(_dump(tmp_path / "first"))
    monkeypatch.setattr(ids, "new_id", counted_ids())
    assert asyncio.run(_build(tmp_path / "second")) == run_id
    assert asyncio.run(_dump(tmp_path / "second")) == first

    assert ids.looks_like(ids.RUN, run_id) and run_id.startswith("RN0000")
    assert [r["id"] for r in first["runs"]] == [run_id]
    assert sorted((n["status"], n["person"]) for n in first["notifications"]) == [("failed", "alice"),
                                                                                   ("failed", "bob")]
    assert len(first["hosts"]) == len(INVENTORY)
    assert {e["at"] for e in first["events"]} == {utc(BUILT_AT).isoformat()}
    assert all(ids.looks_like(ids.EVENT, e["id"]) for e in first["events"])
    assert {e["actor"] for e in first["events"] if e["actor"]} <= {ACTOR, "engine", "scheduler"}

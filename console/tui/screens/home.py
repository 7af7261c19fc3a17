"""The dashboard (``:failures``): what an operator on shift must see at a glance.

Calm when all is well (one line: no failures, how many tasks, the next fire), impossible to miss when a scan
failed (a red count in the status line, the failures panel drawn as an alarm). Everything is live from the
engine's event stream; on start (and on ctrl+r) the panels are backfilled from the trace, the run list and the
outbox, so a console opened in the middle of the night shows what already happened.

Panels, top to bottom: failures (always, and always the largest), notifications (were the people on shift
told?), active runs with pending reviews beside the upcoming fires. A short terminal (under 32 rows, e.g.
80x24) hides the notifications panel; the status line still counts the notices waiting in the outbox.

Why one module of this length: the dashboard composes four live panels from one event subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from console.domain.alarm import Alarm, Silence
from console.domain.events import Event, EventKind
from console.domain.run import Run, RunState
from console.domain.task import Task
from console.domain.terminal import safe_text
from console.domain.timezones import parse_zone, zone_label
from console.engine.api import EngineAPI
from console.errors import DisconnectedError, PatchwatchError
from console.tui.screens import ConsoleScreen
from console.tui.widgets.footer import ConsoleFooter
from console.tui.widgets.home_failures import MAX_RENDERED, Failure, FailuresTable
from console.tui.widgets.home_notices import (
    MAX_NOTICES,
    PENDING_STATUSES,
    Notice,
    NoticesTable,
    notice_from_record,
)
from console.tui.widgets.home_tables import cursor_key, sync_rows

__all__ = ["HomeScreen"]

#: How much history the dashboard reads when it opens.
BACKFILL_EVENTS = 10_000
BACKFILL_RUNS = 2_000
#: Fires shown in "upcoming".
UPCOMING = 8
#: A burst of events (a 1,000-host scan) is applied in one repaint at most this often.
COALESCE_SECONDS = 0.05
#: At most this many waiting records are read per status to count the outbox backlog when the dashboard opens.
BACKLOG_SCAN = 100_000

#: Open alarms the dashboard reads at most (one per task is open at a time).
BACKFILL_ALARMS = 1_000

ACTIVE_COLUMNS = (("task", "Task"), ("state", "State"), ("batch", "Batch"), ("hosts", "Hosts done"),
                  ("failed", "Failed"), ("since", "Since / review by"), ("run", "Run"))
# The task first: in a half-width panel of an 80-column terminal, which task fires, and when, must show.
UPCOMING_COLUMNS = (("task", "Task"), ("in", "In"), ("when", "Next fire (task zone)"), ("local", "Local time"))

_STATE_STYLE = {RunState.RUNNING: "bold green", RunState.PAUSED: "bold yellow", RunState.QUEUED: "cyan",
                RunState.PENDING_REVIEW: "bold yellow"}
_STATE_RANK = {RunState.RUNNING: 0, RunState.PAUSED: 1, RunState.QUEUED: 2, RunState.PENDING_REVIEW: 3}


def _notice_of(event: Event) -> tuple[str, str, str]:
    """(run id, notification record id, status) of a ``notification.*`` event."""
    status = event.kind.split(".", 1)[1]
    return event.run_id or "", str(event.data.get("notification") or event.id), status


def local_text(value: str | datetime | None, fmt: str = "%m-%d %H:%M:%S") -> str:
    """An instant in the operator's local time (the machine's zone), short."""
    if value is None:
        return "-"
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    return moment.astimezone().strftime(fmt)


def plural(count: int, noun: str) -> str:
    """``1 open alarm``, ``3 open alarms``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def in_words(seconds: float) -> str:
    """``3d 4h``, ``2h 05m``, ``7m``: how far away a fire is."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else "<1m"


def zoned_text(moment: datetime, zone: tzinfo) -> str:
    """``2026-12-05 03:15 GMT+08:00``: a fire as the task's zone reads it."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_label(zone, local)}"


class HomeScreen(ConsoleScreen):
    """Failures, notifications, active runs and pending reviews, upcoming fires; live."""

    TITLE = "Dashboard"
    #: ``-short`` (under 32 rows) hides the notifications panel: the failures panel always wins the space.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "Acknowledge"),
        Binding("s", "silence", "Silence"),
        Binding("R", "rescan", "Re-scan"),
        Binding("enter", "open", "Open latest run"),
        Binding("l", "logs", "Logs"),
        Binding("v", "approve", "Approve review"),
        Binding("x", "reject", "Reject review"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__(engine, id="home")
        self._tasks: dict[str, Task] = {}
        self._runs_today: dict[str, str] = {}
        self._upcoming: list[tuple[datetime, Task]] = []
        #: Runs not yet terminal, as of the last event batch that touched runs.
        self._open_runs: list[Run] = []
        #: Why the dashboard is not live (the daemon it is attached to went away), else None.
        self._disconnected: str | None = None
        self._loaded = False
        #: The open alarms and the silences not yet over, as last read: the failures panel and the header.
        self._alarms: list[Alarm] = []
        self._silences: list[Silence] = []

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(id="home-status")
        with Vertical(id="failures-panel"):
            yield Static(id="failures-calm", markup=False)
            yield FailuresTable(id="failures")
            yield Static(id="failures-more")
            yield Static(id="failure-detail")
        with Vertical(id="notices-panel"):
            yield NoticesTable(id="notices")
        with Horizontal(id="home-lower"):
            with Vertical(id="active-panel"):
                yield DataTable(id="active", cursor_type="row", zebra_stripes=True)
            with Vertical(id="upcoming-panel"):
                yield DataTable(id="upcoming", cursor_type="row", zebra_stripes=True)
        yield ConsoleFooter()

    @property
    def failures(self) -> FailuresTable:
        return self.query_one("#failures", FailuresTable)

    @property
    def notices(self) -> NoticesTable:
        return self.query_one("#notices", NoticesTable)

    @property
    def active(self) -> DataTable[Any]:
        return self.query_one("#active", DataTable)

    @property
    def upcoming(self) -> DataTable[Any]:
        return self.query_one("#upcoming", DataTable)

    def on_mount(self) -> None:
        self.query_one("#failures-panel").border_title = "Failures"
        self.query_one("#notices-panel").border_title = "Notifications"
        self.query_one("#active-panel").border_title = "Active runs and pending reviews"
        self.query_one("#upcoming-panel").border_title = "Upcoming fires"
        for key, label in ACTIVE_COLUMNS:
            self.active.add_column(label, key=key)
        for key, label in UPCOMING_COLUMNS:
            self.upcoming.add_column(label, key=key)
        self.failures.focus()
        self._render_summary()
        self.follow_engine()
        self.set_interval(30, self._minute_tick)

    # ------------------------------------------------------------------ live data

    @work(exclusive=True, exit_on_error=False, group="home-live",
          description="dashboard: backfill from the trace, then follow the engine's events")
    async def follow_engine(self) -> None:
        """Subscribe first, then backfill, so no event falls between the two; then apply events in bursts."""
        queue = await self.engine.subscribe()
        try:
            await self._backfill()
            while True:
                batch = [await queue.get()]
                await asyncio.sleep(COALESCE_SECONDS)
                while not queue.empty() and len(batch) < 20_000:
                    batch.append(queue.get_nowait())
                try:
                    await self._apply_events(batch)
                except DisconnectedError:
                    # The daemon went away while this batch was read (its stream.disconnected comes with or
                    # after it): show what is known now; after the reconnect the dashboard reloads.
                    with self.app.batch_update():
                        self._render_summary()
        finally:
            queue.close()

    async def _backfill(self) -> None:
        engine = self.engine
        self._tasks = {t.id: t for t in await engine.list_tasks()}
        await self._read_alarms()
        notices = [e for e in reversed(await engine.query_events(kind="notification.", limit=BACKFILL_EVENTS))
                   if e.run_id]
        today = self._today()
        for run in await engine.list_runs(limit=BACKFILL_RUNS):
            if local_text(run.created_at, "%Y-%m-%d") == today:
                self._runs_today[run.id] = run.created_at
        await self._compute_upcoming()
        self._open_runs = await engine.list_open_runs()
        records, pending = await self._read_outbox()
        table = self.failures
        self._loaded = True
        with self.app.batch_update():
            for task in self._tasks.values():
                table.task_names[task.id] = task.name
                self.notices.task_names[task.id] = task.name
            self.notices.model.seed_backlog(pending)
            self.notices.upsert(reversed(records))
            for event in notices:
                table.model.note_notification(*_notice_of(event))
            self._show_alarms()
            self._render_active()
            self._render_upcoming()
            self._render_summary()

    async def _read_alarms(self) -> None:
        """The open alarms and the silences not yet over, as the engine has them now (the panel and the header
        are drawn from these two lists only)."""
        self._alarms = await self.engine.list_alarms(limit=BACKFILL_ALARMS)
        self._silences = await self.engine.list_silences()

    def _show_alarms(self) -> None:
        """Redraw the failures panel from the alarms last read (call inside ``app.batch_update()``)."""
        self.failures.show(self._alarms, self._silences, self.engine.clock.now())

    async def _read_outbox(self) -> tuple[list[Notice], dict[str, str]]:
        """The newest records (newest first) and every record still waiting (id -> status)."""
        engine = self.engine
        if not callable(getattr(engine, "list_notifications", None)):
            return [], {}
        records = [notice_from_record(r) for r in await engine.list_notifications(limit=MAX_NOTICES)]
        pending: dict[str, str] = {}
        for status in sorted(PENDING_STATUSES):
            for record in await engine.list_notifications(status=status, limit=BACKLOG_SCAN):
                if notice_from_record(record).pending:
                    pending[record.id] = status
        return records, pending

    async def _notice_rows(self, events: list[Event]) -> list[Notice]:
        """Fold ``notification.*`` events into the notices model; re-read the runs whose records the events
        do not describe in full. Returns the rows to redraw."""
        rows: list[Notice] = []
        runs: set[str] = set()
        recent = False
        for event in events:
            changed, refetch = self.notices.model.apply(event)
            rows.extend(changed)
            if refetch and event.run_id:
                runs.add(event.run_id)
            elif refetch:
                recent = True
        with contextlib.suppress(PatchwatchError):
            for run_id in sorted(runs):
                records = await self.engine.list_notifications(run_id=run_id, limit=MAX_NOTICES)
                rows.extend(notice_from_record(r) for r in reversed(records))
            if recent:
                records = await self.engine.list_notifications(limit=50)
                rows.extend(notice_from_record(r) for r in reversed(records))
        return rows

    async def _apply_events(self, events: list[Event]) -> None:
        for event in events:
            if event.kind is EventKind.STREAM_DISCONNECTED:
                self._disconnected = f"{event.message} (since {local_text(event.at, '%H:%M:%S')})"
                self.app_connection(self._disconnected)
            elif event.kind is EventKind.STREAM_RECONNECTED:
                self._disconnected = None
                self.app_connection(None)
                await self._backfill()  # what happened while away, from the trace
        notices: list[Event] = []
        notice_events: list[Event] = []
        tasks_changed = runs_changed = alarms_changed = False
        for event in events:
            kind = event.kind
            if kind.startswith(("alarm.", "silence.")):
                # The alarm book already holds the change the event reports: one re-read per burst.
                alarms_changed = True
            elif kind == "host.finished":
                runs_changed = True
            elif kind.startswith("run.") or kind == "batch.started":
                runs_changed = True
                if kind in ("run.fired", "run.missed") and event.run_id:
                    self._runs_today[event.run_id] = event.at
                if kind == "run.fired":
                    tasks_changed = True  # the task's next fire moved on
            elif kind.startswith("task."):
                tasks_changed = True
            elif kind.startswith("notification."):
                notice_events.append(event)
                if event.run_id:
                    notices.append(event)
        notice_rows = await self._notice_rows(notice_events) if notice_events else []
        if runs_changed:
            self._open_runs = await self.engine.list_open_runs()
        if tasks_changed:
            self._tasks = {t.id: t for t in await self.engine.list_tasks()}
            await self._compute_upcoming()
        if alarms_changed:
            await self._read_alarms()
        table = self.failures
        with self.app.batch_update():
            if tasks_changed:
                for task in self._tasks.values():
                    table.rename_task(task.id, task.name)
                    self.notices.rename_task(task.id, task.name)
                self._render_upcoming()
            if notice_rows:
                self.notices.upsert(notice_rows)
            for event in notices:
                table.model.note_notification(*_notice_of(event))
            if alarms_changed:
                self._show_alarms()
            for event in notices:
                table.refresh_run(event.run_id or "")
            if runs_changed:
                self._render_active()
            self._render_summary()

    async def _compute_upcoming(self) -> None:
        fires: list[tuple[datetime, Task]] = []
        now = self.engine.clock.now()
        for task in self._tasks.values():
            if not task.enabled or task.schedule.is_expired(now):
                continue
            try:
                fires.extend((moment, task) for moment in await self.engine.next_fires(task.id, 3))
            except PatchwatchError:
                continue
        fires.sort(key=lambda item: item[0])
        self._upcoming = fires[:UPCOMING]

    @work(exclusive=True, exit_on_error=False, group="home-upcoming",
          description="dashboard: recompute the upcoming fires as time passes")
    async def refresh_upcoming(self) -> None:
        await self._compute_upcoming()
        with self.app.batch_update():
            self._render_upcoming()
            self._render_summary()

    def _minute_tick(self) -> None:
        if self._loaded:
            self.refresh_upcoming()
            # A silence that starts (or ends) as time passes dims (or lights) its rows without an event.
            with self.app.batch_update():
                self._show_alarms()
                self._render_summary()

    # ------------------------------------------------------------------ rendering

    def _today(self) -> str:
        return self.engine.clock.now().astimezone().strftime("%Y-%m-%d")

    def _render_active(self) -> None:
        runs = sorted(self._open_runs, key=lambda r: (_STATE_RANK.get(r.state, 9), r.created_at))
        rows: dict[str, list[Any]] = {}
        for run in runs:
            rows[run.id] = self._active_cells(run)
        sync_rows(self.active, rows, [key for key, _ in ACTIVE_COLUMNS])
        self.query_one("#active-panel").set_class(any(r.state is RunState.PENDING_REVIEW for r in runs),
                                                  "-attention")

    def _active_cells(self, run: Run) -> list[Any]:
        name = self._tasks[run.task_id].name if run.task_id in self._tasks else run.task_name
        batch = f"{run.batch_index} of {run.batch_count}" if run.batch_count else "-"
        hosts = f"{run.hosts_done}/{run.hosts_total}" if run.hosts_total else "-"
        failed = Text(str(run.hosts_failed), style="bold red" if run.hosts_failed else "")
        if run.state is RunState.PENDING_REVIEW:
            since = Text(f"review by {local_text(run.review_deadline, '%m-%d %H:%M')}", style="yellow")
        else:
            since = Text(local_text(run.started_at or run.created_at))
        state = run.state.value.replace("_", " ")
        if run.state is RunState.PAUSED and run.pause_reason:
            state += f": {run.pause_reason}"
        return [Text(name), Text(state, style=_STATE_STYLE.get(run.state, "")), batch, hosts, failed, since,
                Text(run.id)]

    def _render_upcoming(self) -> None:
        now = self.engine.clock.now()
        rows: dict[str, list[Any]] = {}
        for index, (moment, task) in enumerate(self._upcoming):
            zone = parse_zone(task.schedule.timezone)
            rows[str(index)] = [Text(task.name), in_words((moment - now).total_seconds()), zoned_text(moment, zone),
                                local_text(moment, "%a %m-%d %H:%M")]
        sync_rows(self.upcoming, rows, [key for key, _ in UPCOMING_COLUMNS])

    def _render_summary(self) -> None:
        """The status line, the calm sentence or the alarm, and the "+N older" hint."""
        table = self.failures
        log = table.model
        alarms, unacked_alarms = log.open_alarms(), log.unacknowledged_alarms()
        hosts, unacked_hosts = log.failing_hosts(), log.unacknowledged_hosts()
        enabled = sum(1 for t in self._tasks.values() if t.enabled)
        open_runs = self._open_runs
        reviews = sum(1 for r in open_runs if r.state is RunState.PENDING_REVIEW)
        today = self._today()
        runs_today = sum(1 for at in self._runs_today.values() if local_text(at, "%Y-%m-%d") == today)
        parts: list[tuple[str, str]] = []
        if self._disconnected:
            # Never a stale all-clear: without the daemon nothing here is live.
            parts.append((f" DISCONNECTED: {self._disconnected} ", "bold white on red"))
            parts.append(("  ", ""))
        problem = getattr(self.app, "scheduler_problem", None)
        if problem:
            parts.append((f" {problem} ", "bold white on red"))
            parts.append(("  ", ""))
        # Counted from the same alarms the panel lists: open alarms and their failing hosts, and how many of
        # each nobody has taken yet.
        if unacked_alarms:
            parts.append((f" {plural(alarms, 'open alarm')} ({unacked_alarms} unacknowledged) · "
                          f"{plural(hosts, 'failing host')} ({unacked_hosts} unacknowledged) ", "bold white on red"))
        elif alarms:
            parts.append((f" {plural(alarms, 'open alarm')} (all acknowledged) · {plural(hosts, 'failing host')} ",
                          "bold black on yellow"))
        if not parts:
            parts.append(("0 open alarms · 0 failing hosts", "bold green"))
        backlog = self.notices.model.backlog
        if backlog:
            # Notices still on their way stand out: a mail server down means nobody was told yet.
            parts.append(("  ", ""))
            parts.append((f" outbox backlog {backlog} ", "bold black on yellow"))
        if reviews:
            parts.append((f"  {reviews} awaiting review", "bold yellow"))
        # One line, most urgent first: a narrow terminal cuts the tail, which is the calm part.
        parts.append((f"  tasks {len(self._tasks)} ({enabled} enabled) · runs today {runs_today} · "
                      f"open runs {len(open_runs)}", ""))
        if not backlog:
            parts.append((" · outbox backlog 0", ""))
        status = Text.assemble(*parts)
        self.query_one("#home-status", Static).update(status)
        panel = self.query_one("#failures-panel")
        panel.set_class(bool(unacked_alarms), "-alarm")
        if unacked_alarms:
            panel.border_title = (f"ALARMS: {unacked_alarms} of {alarms} unacknowledged, {unacked_hosts} of "
                                  f"{plural(hosts, 'failing host')} (a acknowledge, s silence, R re-scan, "
                                  "Enter latest run, l logs)")
        elif alarms:
            panel.border_title = (f"Alarms: {alarms} open, all acknowledged (s silence, R re-scan, "
                                  "Enter latest run, l logs)")
        else:
            panel.border_title = "Failures"
        empty = len(log) == 0
        calm = self.query_one("#failures-calm", Static)
        calm.display = empty
        table.display = not empty
        self.query_one("#failure-detail").display = not empty
        if empty:
            calm.update(self._calm_text(enabled))
        more = self.query_one("#failures-more", Static)
        more.display = table.hidden > 0
        if table.hidden:
            more.update(f"+{table.hidden:,} more failing hosts not shown: the table keeps the first "
                        f"{MAX_RENDERED:,} rendered (all are counted above; see :events for the full trace)")
        self._render_notices_title(backlog)
        self._render_detail()

    def _render_notices_title(self, backlog: int) -> None:
        notices = self.notices
        counts: dict[str, int] = {}
        for notice in notices.model.items.values():
            if notice.problem:
                counts[notice.status] = counts.get(notice.status, 0) + 1
        troubles = [f"{n} {status}" for status, n in sorted(counts.items())]
        if backlog:
            troubles.append(f"{backlog} waiting in the outbox")
        panel = self.query_one("#notices-panel")
        panel.set_class(bool(troubles), "-attention")
        if troubles:
            panel.border_title = f"Notifications: {', '.join(troubles)} (Enter opens the run, :notifications)"
        elif len(notices.model):
            panel.border_title = f"Notifications (newest {len(notices.model)})"
        else:
            panel.border_title = "Notifications: none yet"

    def app_connection(self, problem: str | None) -> None:
        """Tell the app's header whether the console is attached (it shows whom to, or the problem)."""
        show = getattr(self.app, "show_connection", None)
        if show is not None:
            show(problem)

    def refresh_summary(self) -> None:
        """Redraw the status line (the app calls this when something outside the event stream changed)."""
        if not self._loaded:
            return  # the first load draws it, with whatever the app reports by then
        with self.app.batch_update():
            self._render_summary()

    def _calm_text(self, enabled: int) -> str:
        if not self._loaded:
            return "Loading ..."
        if self._disconnected:
            return f"Not connected to the daemon: {self._disconnected}. What is shown may be out of date."
        text = f"No failures. {enabled} task{'s' if enabled != 1 else ''} scheduled"
        if self._upcoming:
            moment, task = self._upcoming[0]
            zone = parse_zone(task.schedule.timezone)
            text += (f"; next fire {task.name} at {zoned_text(moment, zone)} "
                     f"(local {local_text(moment, '%Y-%m-%d %H:%M')})")
        return text + "."

    def _render_detail(self) -> None:
        failure = self.failures.selected()
        detail = self.query_one("#failure-detail", Static)
        if failure is None:
            detail.update("")
            return
        acked = failure.acked
        task = self.failures.task_names.get(failure.task_id) or failure.task_name or failure.task_id
        runs = f"failed {failure.consecutive} runs in a row  |  " if failure.consecutive > 1 else ""
        # What and whether anyone took it first: a short pane shows two lines, the ids come last.
        parts: list[tuple[str, str] | str] = [
            (f"{safe_text(failure.host)} ", "bold"), (failure.category, "bold red" if not acked else "dim"),
            f": {safe_text(failure.reason)}  |  ",
            (f"acknowledged by {safe_text(acked)}" if acked else "not acknowledged", "green" if acked else "bold red"),
        ]
        if failure.silenced:
            parts.append((f"  |  silenced by {failure.silenced} ({safe_text(failure.silence_text)})", "dim"))
        parts.append(f"  |  {runs}task {safe_text(task)} ({failure.task_id})  run {failure.run_id}  |  alarm "
                     f"{failure.alarm_id} since {local_text(failure.alarm_opened_at, '%m-%d %H:%M')}")
        detail.update(Text.assemble(*parts))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "failures":
            self._render_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open_row(event.data_table, logs=False)

    # ------------------------------------------------------------------ actions

    def _selected_active(self) -> Run | None:
        key = cursor_key(self.active)
        return next((r for r in self._open_runs if r.id == key), None) if key else None

    def _open_row(self, table: DataTable[Any], *, logs: bool) -> None:
        if table.id == "active":
            run = self._selected_active()
            if run is not None:
                self.app.open_run_detail(run.id)  # type: ignore[attr-defined]
            return
        if table.id == "upcoming":
            self.app.run_console_command("tasks")  # type: ignore[attr-defined]
            return
        if table.id == "notices":
            notice = self.notices.selected()
            if notice is None or not notice.run_id:
                self.notify("This notice is not about a run.", severity="warning")
                return
            self.app.open_run_detail(notice.run_id)  # type: ignore[attr-defined]
            return
        failure = self.failures.selected()
        if failure is None:
            self.notify("No failure selected.", severity="warning")
            return
        if logs:
            # The host's log is in the run it last failed in.
            host = failure.host if not failure.run_level else None
            self.app.open_run_detail(failure.run_id, host)  # type: ignore[attr-defined]
        else:
            self.app.open_run_detail(failure.latest_run or failure.run_id)  # type: ignore[attr-defined]

    def action_open(self) -> None:
        focused = self.focused
        self._open_row(focused if isinstance(focused, DataTable) else self.failures, logs=False)

    def action_logs(self) -> None:
        focused = self.focused
        table = focused if isinstance(focused, DataTable) and focused.id == "active" else self.failures
        self._open_row(table, logs=True)

    def _selected_failure(self, doing: str) -> Failure | None:
        failure = self.failures.selected()
        if failure is None:
            self.notify(f"No alarm selected to {doing}.", severity="warning")
        return failure

    def action_acknowledge(self) -> None:
        if self.refuse_if_read_only():
            return
        failure = self._selected_failure("acknowledge")
        if failure is None:
            return
        if failure.acked:
            self.notify(f"Alarm {failure.alarm_id} of {failure.task_name} was already acknowledged by "
                        f"{failure.acked}.")
            return
        self.acknowledge_alarm(failure.alarm_id)

    @work(exclusive=False, exit_on_error=False, group="home-commands", description="acknowledge an alarm")
    async def acknowledge_alarm(self, alarm_id: str) -> None:
        try:
            alarm = await self.engine.acknowledge_alarm(alarm_id)
            await self._read_alarms()
        except PatchwatchError as exc:  # a refusal is an answer for the operator, not a broken worker
            self.notify(str(exc), severity="warning")
            return
        with self.app.batch_update():
            self._show_alarms()
            self._render_summary()
        self.notify(f"Alarm of {alarm.task_name} acknowledged by {alarm.acknowledged_by} ({alarm.summary()}).")

    def action_silence(self) -> None:
        if self.refuse_if_read_only():
            return
        failure = self._selected_failure("silence")
        if failure is None:
            return
        from console.tui.screens.silence_form import SilenceForm

        task = self.failures.task_names.get(failure.task_id) or failure.task_name or failure.task_id
        # Prefilled from the row: its task, its host and its category (a run-level row has neither).
        form = SilenceForm(self.engine, task=task, host="" if failure.run_level else failure.host,
                           category="" if failure.run_level else failure.category)

        def done(silence: Silence | None) -> None:
            if silence is not None:
                self.notify(f"Silence {silence.id} until {local_text(silence.ends_at, '%m-%d %H:%M')}: "
                            f"{safe_text(silence.describe())}. Failures it covers stay listed, dimmed.")
                self.reload_alarms()

        self.app.push_screen(form, done)

    def action_rescan(self) -> None:
        if self.refuse_if_read_only():
            return
        failure = self._selected_failure("re-scan")
        if failure is None:
            return
        alarm = self.failures.model.alarms.get(failure.alarm_id)
        failing = len(alarm.failing_hosts()) if alarm is not None else 0
        if not failing:
            self.notify(f"Alarm {failure.alarm_id} has no failing host to re-scan (a run-level problem: use run "
                        "now on the task).", severity="warning")
            return
        from console.tui.widgets.form_dialogs import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self.rescan_alarm(failure.alarm_id)

        # Asked first, like R on a run: a re-scan connects to the hosts again.
        self.app.push_screen(ConfirmDialog(
            f"Re-scan the {plural(failing, 'failing host')} of the alarm of {safe_text(failure.task_name)}?",
            yes="Re-scan", no="Cancel"), answered)

    @work(exclusive=False, exit_on_error=False, group="home-commands", description="re-scan an alarm's hosts")
    async def rescan_alarm(self, alarm_id: str) -> None:
        try:
            run = await self.engine.rescan_alarm(alarm_id)
        except PatchwatchError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.notify(f"Re-scan run {run.id} of {run.task_name} started ({plural(run.hosts_total, 'host')}); "
                    "Enter opens it.")

    @work(exclusive=True, exit_on_error=False, group="home-alarms", description="dashboard: re-read the alarms")
    async def reload_alarms(self) -> None:
        with contextlib.suppress(PatchwatchError):
            await self._read_alarms()
            with self.app.batch_update():
                self._show_alarms()
                self._render_summary()

    def _pending_review(self) -> Run | None:
        run = self._selected_active()
        if run is None or run.state is not RunState.PENDING_REVIEW:
            reviews = [r for r in self._open_runs if r.state is RunState.PENDING_REVIEW]
            if run is None and len(reviews) == 1:
                return reviews[0]
            self.notify("Select a run that is pending review (in the active runs table).", severity="warning")
            return None
        return run

    def action_approve(self) -> None:
        if self.refuse_if_read_only():
            return
        run = self._pending_review()
        if run is not None:
            self.review_run(run.id, True)

    def action_reject(self) -> None:
        if self.refuse_if_read_only():
            return
        run = self._pending_review()
        if run is None:
            return
        from console.tui.widgets.form_dialogs import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self.review_run(run.id, False)

        self.app.push_screen(ConfirmDialog(f"Reject run {run.id} of {run.task_name}? It will not scan.",
                                           yes="Reject", no="Keep"), answered)

    @work(exclusive=False, exit_on_error=False, group="home-commands", description="approve or reject a run")
    async def review_run(self, run_id: str, approve: bool) -> None:
        run = await (self.engine.approve(run_id) if approve else self.engine.reject(run_id))
        self.notify(f"Run {run_id} {'approved' if approve else 'rejected'}: now {run.state.value}.")

    def action_reload(self) -> None:
        self.follow_engine()

    def visible_failures(self) -> Iterable[Failure]:
        """The failures the table renders, newest first (for tests and for the help of other screens)."""
        table = self.failures
        for row in table.ordered_rows:
            yield table.model.items[str(row.key.value)]

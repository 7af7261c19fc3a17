"""The failures panel of the dashboard: the failing hosts of every open alarm (and a row for an alarm's run-level
problem: a missed slot, an interrupted or errored run), newest alarm first, redrawn in place as alarms change.

Why alarms, not runs: the panel used to list every failed host of every run and only grew (the demo reached
"54 failed hosts unacknowledged" after 20 minutes, while the header said "0 failed runs unacknowledged"). An
alarm (``console.domain.alarm``) is one failure episode of one task: a host that fails again in the next run is
the same row, a host that succeeded since drops out, and an alarm whose hosts all recovered (it resolves) leaves
the panel. Rows of an acknowledged alarm say who took it; rows a silence covers are dimmed and marked "silenced"
(the silence mutes notices, not the record). The panel is rebuilt from ``list_alarms()``/``list_silences()``
(:meth:`FailuresTable.show`), so what it shows and what the header counts come from the same data.

Why a window: a DataTable repaints and sorts all of its rows, and 100,000 rows take seconds (library-notes.md).
A bad night can fail thousands of hosts in one alarm, so the table renders only the first :data:`MAX_RENDERED`
rows and says how many it holds back (they stay counted in the header).

Why the columns depend on the width: the "Notified" and "Acknowledged" columns answer "was anyone told, did
anyone take it", and host, category and the start of the reason say what failed and why, so all of them must be
on screen without scrolling sideways, in a 160-column terminal and in an 80x24 tmux pane alike. The table
picks one of three layouts (:func:`plan_failure_columns`) from its own width: wide (every column), medium (no run
column, shorter time), narrow (time of day, host, category, reason, notified, acknowledged; task and run are in
the detail line). The reason always takes the width the others leave. The run id is drawn by its last 10
characters (ids are 26 long; the tail is the random part, unique enough to tell runs apart on one screen)
and long task names, hosts and reasons are cut with an ellipsis; the detail line under the table shows the
selected failure in full. Every text from a host or an operator goes through ``safe_text`` (no escape sequence
reaches the terminal) and into a ``Text`` (never read as markup).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable

from console.domain.alarm import Alarm, AlarmState, Silence
from console.domain.terminal import safe_text
from console.tui.widgets.columns import plan_columns
from console.tui.widgets.home_tables import clip, cursor_key, restore_cursor, same_cell

__all__ = ["MAX_RENDERED", "Failure", "FailureLog", "FailuresTable", "failures_of_alarm", "short_id"]

#: Rows the table renders at most; the others are counted, not drawn.
MAX_RENDERED = 2000

#: Columns of the table: key and label.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "Since"), ("task", "Task"), ("run", "Run"), ("host", "Host"), ("category", "Category"),
    ("reason", "Reason"), ("notified", "Notified"), ("ack", "Acknowledged"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)

#: Statuses of a notification record that the "Notified" column reports.
NOTICE_STATUSES = ("sent", "queued", "retrying", "failed", "abandoned")

#: Host shown for an alarm's run-level problem (missed, error, interrupted, broken): it has no host.
RUN_LEVEL_HOST = "(run)"
#: What the "Notified" column says of a row a silence covers (its notices are muted).
SILENCED = "silenced"

#: Widest a cell of these columns gets (the detail line shows the selected failure in full).
TASK_WIDTH, HOST_WIDTH, REASON_WIDTH, NOTIFIED_WIDTH, ACK_WIDTH = 18, 22, 30, 18, 18

#: Fixed content widths per layout (the reason takes the rest); a column missing from a layout is not shown.
LAYOUTS: dict[str, dict[str, int]] = {
    "wide": {"time": 14, "task": 18, "run": 11, "host": 22, "category": 11, "notified": 18, "ack": 18},
    "medium": {"time": 11, "task": 14, "host": 16, "category": 11, "notified": 10, "ack": 12},
    "narrow": {"time": 5, "host": 14, "category": 10, "notified": 8, "ack": 7},
}
#: Shorter labels where a layout's column is narrower than its usual label.
NARROW_LABELS = {"ack": "Ack"}
TIME_FORMATS = {"wide": "%m-%d %H:%M:%S", "medium": "%m-%d %H:%M", "narrow": "%H:%M"}
#: Least room the reason gets; a layout that cannot give it this much gives way to a narrower one.
MIN_REASON, MAX_REASON = 20, 90


def plan_failure_columns(width: int) -> tuple[str, dict[str, int]]:
    """The layout for a table ``width`` columns wide and every shown column's content width, in order."""
    return plan_columns(width, COLUMN_KEYS, LAYOUTS, "reason", MIN_REASON, MAX_REASON)


def short_id(value: str, keep: int = 10) -> str:
    """``…5V6N7PQ2RS``: the last ``keep`` characters of a long id."""
    return value if len(value) <= keep + 1 else "…" + value[-keep:]


def _parse_at(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat(text) if text else datetime.min
    except ValueError:
        return datetime.min


def _stamp(moment: datetime) -> float:
    return moment.timestamp() if moment != datetime.min else 0.0


@dataclass
class Failure:
    """One row of the panel: a failing host of an open alarm, or the alarm's run-level problem."""

    key: str
    at: datetime
    task_id: str
    #: The run the host last failed in (its log is there); for a run-level row, the run with the problem.
    run_id: str
    host: str
    category: str
    reason: str
    alarm_id: str = ""
    #: The alarm's latest run (Enter opens it).
    latest_run: str = ""
    #: "alice 11-26 03:10" when the alarm is acknowledged, else "".
    acked: str = ""
    #: The id of the active silence that covers this failure, else "".
    silenced: str = ""
    silence_text: str = ""
    consecutive: int = 1
    task_name: str = ""
    alarm_opened_at: str = ""
    #: Where the row sorts: newest alarm first, its run-level problem first, then its hosts, newest first.
    order: tuple[Any, ...] = field(default=(), compare=False)

    @property
    def run_level(self) -> bool:
        return self.host == RUN_LEVEL_HOST


def ack_text(actor: str | None, at: str | None) -> str:
    """``alice 11-26 03:10``: who acknowledged, when (local time)."""
    moment = _parse_at(at)
    when = moment.astimezone().strftime("%m-%d %H:%M") if moment != datetime.min else "?"
    return f"{actor or '?'} {when}"


def covering_silence(silences: Sequence[Silence], task_id: str, host: str | None, category: str | None,
                     now: datetime) -> Silence | None:
    """The silence muting a failure now, if any (the engine's rule: console.domain.alarm.Silence)."""
    return next((s for s in silences if s.active(now) and s.matches(task_id, host, category)), None)


def failures_of_alarm(alarm: Alarm, silences: Sequence[Silence], now: datetime) -> list[Failure]:
    """The rows of one alarm: its run-level problem (if one stands), then every host still failing."""
    if not alarm.is_open:
        return []
    acked = ack_text(alarm.acknowledged_by, alarm.acknowledged_at) if alarm.state is AlarmState.ACKNOWLEDGED \
        else ""
    opened = _stamp(_parse_at(alarm.opened_at))
    latest = alarm.latest_run or alarm.opened_by_run or ""
    rows: list[Failure] = []
    if alarm.problem is not None:
        silence = covering_silence(silences, alarm.task_id, None, None, now)
        rows.append(Failure(
            key=f"{alarm.id}:{RUN_LEVEL_HOST}", at=_parse_at(alarm.opened_at), task_id=alarm.task_id,
            run_id=alarm.problem_run or latest, host=RUN_LEVEL_HOST, category=alarm.problem.value,
            reason=alarm.problem_detail or alarm.problem.value, alarm_id=alarm.id, latest_run=latest, acked=acked,
            silenced=silence.id if silence else "", silence_text=silence.describe() if silence else "",
            task_name=alarm.task_name, alarm_opened_at=alarm.opened_at, order=(-opened, alarm.id, 0, 0.0, 0)))
    # Hosts are held in the order they started failing: among hosts failing since the same instant, the one
    # recorded last is the newest (and shows first, as a table of failures always did).
    for index, host in enumerate(alarm.failing_hosts()):
        silence = covering_silence(silences, alarm.task_id, host.host, host.category, now)
        first = _parse_at(host.first_failed_at)
        rows.append(Failure(
            key=f"{alarm.id}:{host.host}", at=first, task_id=alarm.task_id, run_id=host.run_id, host=host.host,
            category=host.category, reason=host.reason, alarm_id=alarm.id, latest_run=latest, acked=acked,
            silenced=silence.id if silence else "", silence_text=silence.describe() if silence else "",
            consecutive=host.consecutive, task_name=alarm.task_name, alarm_opened_at=alarm.opened_at,
            order=(-opened, alarm.id, 1, -_stamp(first), -index)))
    return rows


class _Stamp(str):
    """The time cell: shows a short local time, sorts by the row's place (:attr:`Failure.order`)."""

    order: tuple[Any, ...]


class FailureLog:
    """The open alarms as rows (in order), what the header counts, and the notices of each alarm's runs."""

    def __init__(self) -> None:
        self.items: dict[str, Failure] = {}
        self.keys: list[str] = []
        self.alarms: dict[str, Alarm] = {}
        #: Alarm id -> the runs its rows came from (their notices are the alarm's notices).
        self.alarm_runs: dict[str, set[str]] = {}
        self.by_run: dict[str, list[str]] = {}
        #: Per run: notification record id -> its latest status (queued, sent, retrying, failed, ...).
        self.notices: dict[str, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def replace(self, alarms: Iterable[Alarm], silences: Sequence[Silence], now: datetime) -> None:
        """Take the open alarms (and the silences in force) as they are now."""
        self.alarms = {a.id: a for a in alarms if a.is_open}
        rows = [row for alarm in self.alarms.values() for row in failures_of_alarm(alarm, silences, now)]
        rows.sort(key=lambda row: row.order)
        self.items = {row.key: row for row in rows}
        self.keys = [row.key for row in rows]
        self.alarm_runs = {}
        for alarm in self.alarms.values():
            runs = {alarm.opened_by_run, alarm.latest_run, alarm.problem_run,
                    *(h.run_id for h in alarm.hosts.values())}
            self.alarm_runs[alarm.id] = {r for r in runs if r}
        self.by_run = {}
        for row in rows:
            for run_id in self.alarm_runs.get(row.alarm_id, ()):
                self.by_run.setdefault(run_id, []).append(row.key)

    def first(self, count: int) -> list[str]:
        """Keys of the first ``count`` rows, in order."""
        return self.keys[:count] if count > 0 else []

    # ------------------------------------------------------------------ counts (the header)

    def open_alarms(self) -> int:
        return len(self.alarms)

    def unacknowledged_alarms(self) -> int:
        return sum(1 for a in self.alarms.values() if a.state is AlarmState.OPEN)

    def failing_hosts(self) -> int:
        return sum(len(a.failing_hosts()) for a in self.alarms.values())

    def unacknowledged_hosts(self) -> int:
        return sum(len(a.failing_hosts()) for a in self.alarms.values() if a.state is AlarmState.OPEN)

    def run_problems(self) -> int:
        return sum(1 for a in self.alarms.values() if a.problem is not None)

    # ------------------------------------------------------------------ notices

    def note_notification(self, run_id: str, record: str, status: str) -> None:
        """Remember the latest status of one notification record of ``run_id``.

        A record that fell back to another mode is superseded by the new record, so it stops counting.
        """
        records = self.notices.setdefault(run_id, {})
        if status == "fallback":
            records.pop(record, None)
        elif status in NOTICE_STATUSES:
            records[record] = status

    def notified_text(self, run_id: str, fallback: str = "-") -> str:
        """``sent``, ``2 sent, 1 failed``, ``queued``...: what became of the run's notices."""
        return self._summary(self.notices.get(run_id, {}), fallback)

    def alarm_notified_text(self, alarm_id: str, fallback: str = "-") -> str:
        """What became of the notices of every run of the alarm."""
        records: dict[str, str] = {}
        for run_id in sorted(self.alarm_runs.get(alarm_id, ())):
            records.update(self.notices.get(run_id, {}))
        return self._summary(records, fallback)

    @staticmethod
    def _summary(records: dict[str, str], fallback: str) -> str:
        if not records:
            return fallback
        counts: dict[str, int] = {}
        for status in records.values():
            counts[status] = counts.get(status, 0) + 1
        if len(counts) == 1 and sum(counts.values()) == 1:
            return next(iter(counts))
        ranked = sorted(counts.items(), key=lambda kv: NOTICE_STATUSES.index(kv[0]))
        return ", ".join(f"{n} {status}" for status, n in ranked)


class FailuresTable(DataTable[Any]):
    """The rendered window over a :class:`FailureLog`; call its methods inside ``app.batch_update()``."""

    def __init__(self, *, limit: int = MAX_RENDERED, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.limit = limit
        self.model = FailureLog()
        self.task_names: dict[str, str] = {}
        self._rendered: dict[str, tuple[Any, ...]] = {}
        self.layout_name = ""
        self.widths: dict[str, int] = {}

    def on_mount(self) -> None:
        self._set_layout(*plan_failure_columns(160))

    def on_resize(self) -> None:
        self.fit_width()

    def on_show(self) -> None:
        self.fit_width()

    def fit_width(self) -> None:
        """Take the layout for the table's width now. Also called when rows arrive: a table that was hidden
        (the calm panel) gets no resize of its own when it is shown at an unchanged size."""
        width = self.size.width or (self.parent.size.width if isinstance(self.parent, Widget) else 0)
        if width <= 0:
            return
        name, widths = plan_failure_columns(width)
        if (name, widths) != (self.layout_name, self.widths):
            self._set_layout(name, widths)

    def _set_layout(self, name: str, widths: dict[str, int]) -> None:
        """Rebuild the columns for a new width; rows are drawn again, the selected failure stays selected."""
        selected = cursor_key(self) if self.row_count else None
        self.layout_name, self.widths = name, widths
        self.clear(columns=True)
        for key, label in COLUMNS:
            if key in widths:
                shown = NARROW_LABELS.get(key, label) if len(label) > widths[key] else label
                self.add_column(shown, key=key, width=widths[key])
        self._rendered = {}
        if len(self.model):
            self._apply_window()
            restore_cursor(self, selected)

    @property
    def hidden(self) -> int:
        """Rows held in the model but not drawn (beyond the first ``limit``)."""
        return len(self.model) - len(self._rendered)

    def _task_name(self, failure: Failure) -> str:
        return self.task_names.get(failure.task_id) or failure.task_name or failure.task_id

    def _cells(self, failure: Failure) -> list[Any]:
        """The row's cells for the shown columns, each clipped (with an ellipsis) to its column's width.

        An acknowledged alarm's rows say who took it (green); a row a silence covers is dimmed throughout and
        its "Notified" cell says "silenced" (its notices are muted, the failure still stands)."""
        widths = self.widths
        acked, silenced = failure.acked, bool(failure.silenced)
        quiet = "dim" if (acked or silenced) else ""
        fmt = TIME_FORMATS.get(self.layout_name, TIME_FORMATS["wide"])
        when = failure.at.astimezone().strftime(fmt) if failure.at != datetime.min else "?"
        time_cell = _Stamp(when)
        time_cell.order = failure.order
        category_style = "dim" if quiet else ("bold red" if not failure.run_level else "bold magenta")
        cells: dict[str, Any] = {
            "time": time_cell,
            "task": Text(clip(safe_text(self._task_name(failure)), widths.get("task", TASK_WIDTH)), style=quiet),
            "run": Text(short_id(failure.run_id), style=quiet),
            "host": Text(clip(safe_text(failure.host), widths.get("host", HOST_WIDTH)), style=quiet or "bold"),
            "category": Text(clip(failure.category, widths.get("category", 11)), style=category_style),
            "reason": Text(clip(safe_text(failure.reason), widths.get("reason", REASON_WIDTH)), style=quiet),
            "notified": self._notified_cell(failure),
            "ack": self._ack_cell(failure),
        }
        return [cells[key] for key in COLUMN_KEYS if key in widths]

    def _notified_cell(self, failure: Failure) -> Text:
        width = self.widths.get("notified", NOTIFIED_WIDTH)
        if failure.silenced:
            return Text(clip(SILENCED, width), style="dim italic")
        text = self.model.alarm_notified_text(failure.alarm_id)
        bad = any(word in text for word in ("failed", "abandoned"))
        return Text(clip(text, width), style="bold red" if bad else ("green" if "sent" in text else ""))

    def _ack_cell(self, failure: Failure) -> Text:
        width = self.widths.get("ack", ACK_WIDTH)
        if failure.acked:
            # "ack alice 11-26 03:10" where there is room; a narrow column keeps the name, not the prefix.
            text = f"ack {failure.acked}" if width >= ACK_WIDTH else failure.acked
            return Text(clip(safe_text(text), width), style="green")
        return Text("no", style="dim" if failure.silenced else "bold red")

    def show(self, alarms: Iterable[Alarm], silences: Sequence[Silence], now: datetime) -> None:
        """Show the open ``alarms``, ``silences`` marking what they cover; rows of recovered hosts and resolved
        alarms go, changed cells are redrawn in place."""
        self.fit_width()
        self.model.replace(alarms, silences, now)
        self._apply_window()

    def _apply_window(self) -> None:
        selected = cursor_key(self)
        at_top = self.cursor_row <= 0
        wanted = self.model.first(self.limit)
        keep = set(wanted)
        for key in [k for k in self._rendered if k not in keep]:
            self.remove_row(key)
            del self._rendered[key]
        reorder = False
        for key in wanted:
            failure = self.model.items[key]
            if key in self._rendered:
                reorder = reorder or self._rendered[key] != failure.order
                self._update_row(key, force_time=self._rendered[key] != failure.order)
            else:
                self.add_row(*self._cells(failure), key=key)
                reorder = True
            self._rendered[key] = failure.order
        if reorder:
            # Sort only when rows came or moved (dolphie): newest alarm first.
            self.sort("time", key=lambda cell: cell.order)
        if at_top:
            # An operator watching the top keeps watching the newest alarm.
            if self.row_count:
                self.move_cursor(row=0, animate=False)
        else:
            restore_cursor(self, selected)

    def _update_row(self, key: str, *, force_time: bool = False) -> None:
        cells = self._cells(self.model.items[key])
        shown = [k for k in COLUMN_KEYS if k in self.widths]
        for column, before, after in zip(shown, self.get_row(key), cells, strict=False):
            # The time cell compares by its text; its sort place changes without the text changing.
            if (force_time and column == "time") or not same_cell(before, after):
                self.update_cell(key, column, after)

    def refresh_run(self, run_id: str) -> None:
        """Redraw the rows whose alarm has ``run_id`` among its runs (a notice of it went out)."""
        for key in self.model.by_run.get(run_id, []):
            if key in self._rendered:
                self._update_row(key)

    def note_notification(self, run_id: str, record: str, status: str) -> None:
        self.model.note_notification(run_id, record, status)
        self.refresh_run(run_id)

    def rename_task(self, task_id: str, name: str) -> None:
        if self.task_names.get(task_id) == name:
            return
        self.task_names[task_id] = name
        for key in self._rendered:
            if self.model.items[key].task_id == task_id:
                self._update_row(key)

    def selected(self) -> Failure | None:
        key = cursor_key(self)
        return self.model.items.get(key) if key else None

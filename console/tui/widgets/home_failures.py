"""The failures panel of the dashboard: every failed host (and every run that failed without a host), newest
first, updated in place as events arrive.

Why a window: a DataTable repaints and sorts all of its rows, and 100,000 rows take seconds (library-notes.md).
A bad night can fail thousands of hosts, so the table renders only the newest :data:`MAX_RENDERED` failures and
says how many older ones it holds back (they stay counted in the header and are in the trace: ``:events``).
All failures are kept in a light model (:class:`FailureLog`, plain Python) so counts stay exact.

Why the columns depend on the width: the "Notified" and "Acknowledged" columns answer "was anyone told, did
anyone take it", and host, category and the start of the reason say what failed and why, so all of them must be
on screen without scrolling sideways, in a 160-column terminal and in an 80x24 tmux pane alike. The table
picks one of three layouts (:func:`plan_failure_columns`) from its own width: wide (every column), medium (no run
column, shorter time), narrow (time of day, host, category, reason, notified, acknowledged; task and run are in
the detail line). The reason always takes the width the others leave. The run id is drawn by its last 10
characters (ids are 26 long; the tail is the random part, unique enough to tell runs apart on one screen)
and long task names, hosts and reasons are cut with an ellipsis; the detail line under the table shows the
selected failure in full.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable

from console.domain.events import Event
from console.domain.run import Run
from console.tui.widgets.columns import plan_columns
from console.tui.widgets.home_tables import clip, cursor_key, restore_cursor, same_cell

__all__ = ["MAX_RENDERED", "Failure", "FailureLog", "FailuresTable", "failure_from_event", "failure_from_run",
           "short_id"]

#: Rows the table renders at most; older failures are counted, not drawn.
MAX_RENDERED = 2000

#: Columns of the table: key and label.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "Time"), ("task", "Task"), ("run", "Run"), ("host", "Host"), ("category", "Category"),
    ("reason", "Reason"), ("notified", "Notified"), ("ack", "Acknowledged"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)

#: Statuses of a notification record that the "Notified" column reports.
NOTICE_STATUSES = ("sent", "queued", "retrying", "failed", "abandoned")

#: Host shown for a run that failed as a whole (missed, error, interrupted): it has no host.
RUN_LEVEL_HOST = "(run)"

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


@dataclass
class Failure:
    """One row of the panel: a failed host of a run, or a run-level failure."""

    key: str
    at: datetime
    task_id: str
    run_id: str
    host: str
    category: str
    reason: str
    notified: str = "-"
    task_name: str = ""

    @property
    def run_level(self) -> bool:
        return self.host == RUN_LEVEL_HOST


def _parse_at(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat(text) if text else datetime.min
    except ValueError:
        return datetime.min


def failure_from_event(event: Event) -> Failure | None:
    """The failure a ``host.finished`` event reports, or None when the host did not fail."""
    if event.kind != "host.finished" or event.data.get("status") != "failed" or not event.run_id:
        return None
    host = event.host or "?"
    # Who was notified is not in the host's event: the panel reads it from the notification events of the run.
    return Failure(
        key=f"{event.run_id}:{host}", at=_parse_at(event.at), task_id=event.task_id or "", run_id=event.run_id,
        host=host, category=str(event.data.get("category") or "unknown"),
        reason=str(event.data.get("reason") or event.message),
    )


def failure_from_run(run: Run) -> Failure:
    """A row for a run that failed without a failed host (missed, error, interrupted, review expired)."""
    return Failure(
        key=f"{run.id}:{RUN_LEVEL_HOST}", at=_parse_at(run.finished_at or run.created_at), task_id=run.task_id,
        run_id=run.id, host=RUN_LEVEL_HOST, category=run.state.value,
        reason=run.error or run.state.value.replace("_", " "), task_name=run.task_name,
    )


class _Stamp(str):
    """The time cell: shows a short local time, sorts by the failure's position (newest first)."""

    order: tuple[float, int]


class FailureLog:
    """Every failure seen, ordered by time then arrival; which runs are acknowledged; notification state."""

    def __init__(self) -> None:
        self.items: dict[str, Failure] = {}
        self._order: list[tuple[float, int, str]] = []
        self._seq = 0
        self._orders: dict[str, tuple[float, int]] = {}
        self.by_run: dict[str, list[str]] = {}
        self.acknowledged: dict[str, str] = {}
        #: Per run: notification record id -> its latest status (queued, sent, retrying, failed, ...).
        self.notices: dict[str, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, failure: Failure) -> bool:
        """Record ``failure``; True when it is new (a repeated key only refreshes the stored row)."""
        if failure.key in self.items:
            old = self.items[failure.key]
            failure.at = old.at
            self.items[failure.key] = failure
            return False
        self._seq += 1
        stamp = failure.at.timestamp() if failure.at != datetime.min else 0.0
        entry = (stamp, self._seq, failure.key)
        if not self._order or entry > self._order[-1]:
            self._order.append(entry)
        else:
            bisect.insort(self._order, entry)
        self.items[failure.key] = failure
        self._orders[failure.key] = (stamp, self._seq)
        self.by_run.setdefault(failure.run_id, []).append(failure.key)
        return True

    def order_of(self, key: str) -> tuple[float, int]:
        return self._orders.get(key, (0.0, 0))

    def newest(self, count: int) -> list[str]:
        """Keys of the newest ``count`` failures, oldest of them first."""
        return [key for _, _, key in self._order[-count:]] if count > 0 else []

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
        records = self.notices.get(run_id)
        if not records:
            return fallback
        counts: dict[str, int] = {}
        for status in records.values():
            counts[status] = counts.get(status, 0) + 1
        if len(counts) == 1 and sum(counts.values()) == 1:
            return next(iter(counts))
        ranked = sorted(counts.items(), key=lambda kv: NOTICE_STATUSES.index(kv[0]))
        return ", ".join(f"{n} {status}" for status, n in ranked)

    def unacknowledged_hosts(self) -> int:
        return sum(1 for run, keys in self.by_run.items() if run not in self.acknowledged
                   for key in keys if not self.items[key].run_level)

    def unacknowledged_runs(self) -> int:
        """Runs with at least one failure that nobody acknowledged yet."""
        return sum(1 for run in self.by_run if run not in self.acknowledged)

    def unacknowledged_run_alarms(self) -> int:
        """Run-level failures (missed, error, interrupted) nobody acknowledged yet."""
        return sum(1 for run, keys in self.by_run.items() if run not in self.acknowledged
                   for key in keys if self.items[key].run_level)


class FailuresTable(DataTable[Any]):
    """The rendered window over a :class:`FailureLog`; call its methods inside ``app.batch_update()``."""

    def __init__(self, *, limit: int = MAX_RENDERED, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.limit = limit
        self.model = FailureLog()
        self.task_names: dict[str, str] = {}
        self._rendered: dict[str, tuple[float, int]] = {}
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
        """Failures held in the model but not drawn (older than the newest ``limit``)."""
        return len(self.model) - len(self._rendered)

    def _task_name(self, failure: Failure) -> str:
        return self.task_names.get(failure.task_id) or failure.task_name or failure.task_id

    def _cells(self, failure: Failure, stamp: tuple[float, int]) -> list[Any]:
        """The row's cells for the shown columns, each clipped (with an ellipsis) to its column's width."""
        widths = self.widths
        acked = self.model.acknowledged.get(failure.run_id)
        fmt = TIME_FORMATS.get(self.layout_name, TIME_FORMATS["wide"])
        when = failure.at.astimezone().strftime(fmt) if failure.at != datetime.min else "?"
        time_cell = _Stamp(when)
        time_cell.order = stamp
        category_style = "dim" if acked else ("bold red" if not failure.run_level else "bold magenta")
        cells: dict[str, Any] = {
            "time": time_cell,
            "task": Text(clip(self._task_name(failure), widths.get("task", TASK_WIDTH))),
            "run": Text(short_id(failure.run_id)),
            "host": Text(clip(failure.host, widths.get("host", HOST_WIDTH)), style="bold" if not acked else "dim"),
            "category": Text(clip(failure.category, widths.get("category", 11)), style=category_style),
            "reason": Text(clip(failure.reason, widths.get("reason", REASON_WIDTH)), style="dim" if acked else ""),
            "notified": self._notified_cell(failure),
            "ack": Text(clip(acked, widths.get("ack", ACK_WIDTH)) if acked else "no",
                        style="green" if acked else "bold red"),
        }
        return [cells[key] for key in COLUMN_KEYS if key in widths]

    def _notified_cell(self, failure: Failure) -> Text:
        text = self.model.notified_text(failure.run_id, failure.notified)
        bad = any(word in text for word in ("failed", "abandoned"))
        return Text(clip(text, self.widths.get("notified", NOTIFIED_WIDTH)),
                    style="bold red" if bad else ("green" if "sent" in text else ""))

    def add_failures(self, failures: Iterable[Failure]) -> int:
        """Add or refresh failures; keeps the newest ``limit`` rendered, newest first. Returns new ones."""
        self.fit_width()
        added = 0
        refreshed: list[str] = []
        for failure in failures:
            if self.model.add(failure):
                added += 1
            elif failure.key in self._rendered:
                refreshed.append(failure.key)
        for key in refreshed:
            self._update_row(key)
        if added:
            self._apply_window()
        return added

    def _apply_window(self) -> None:
        selected = cursor_key(self)
        at_top = self.cursor_row <= 0
        newest = self.model.newest(self.limit)
        wanted = set(newest)
        for key in [k for k in self._rendered if k not in wanted]:
            self.remove_row(key)
            del self._rendered[key]
        for key in newest:
            if key not in self._rendered:
                stamp = self.model.order_of(key)
                self.add_row(*self._cells(self.model.items[key], stamp), key=key)
                self._rendered[key] = stamp
        # Sort only when rows were added (dolphie): newest first.
        self.sort("time", key=lambda cell: cell.order, reverse=True)
        if at_top:
            # An operator watching the top keeps watching the newest failure.
            if self.row_count:
                self.move_cursor(row=0, animate=False)
        else:
            restore_cursor(self, selected)

    def _update_row(self, key: str) -> None:
        failure = self.model.items[key]
        cells = self._cells(failure, self._rendered[key])
        shown = [k for k in COLUMN_KEYS if k in self.widths]
        for column, before, after in zip(shown[1:], self.get_row(key)[1:], cells[1:], strict=False):
            if not same_cell(before, after):
                self.update_cell(key, column, after)

    def refresh_run(self, run_id: str) -> None:
        """Redraw the rows of one run (it was acknowledged, or its notice went out)."""
        for key in self.model.by_run.get(run_id, []):
            if key in self._rendered:
                self._update_row(key)

    def set_acknowledged(self, run_id: str, text: str) -> None:
        self.model.acknowledged[run_id] = text
        self.refresh_run(run_id)

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

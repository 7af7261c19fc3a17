"""The notifications panel of the dashboard: the newest notices and what became of each, live.

An operator who sees a red count wants to know at once whether the people on shift were told. This panel
answers that on the dashboard itself: one row per outbox record (one notice to one person on one mode),
newest first, updated in place by row key (the record id) as ``notification.*`` events arrive. Rows that
need a look - a notice that keeps failing (retrying), gave up (abandoned) or could not go out (failed) - are
drawn in warning colours.

Most events carry everything a row needs (person, mode, masked target, attempts, latency). The few that do
not (a notice that could not be addressed, the new record a fallback creates, a retry asked for by hand)
name the run; the screen then re-reads that run's records from the engine (:meth:`NoticeLog.apply` says
which). The table keeps only the newest :data:`MAX_NOTICES` records, so a long night stays cheap to draw; the
full outbox is one ``:notifications`` away.

The model also keeps the outbox backlog (records queued, sending or retrying), seeded from the engine when
the dashboard opens and kept current by the same events, so the status line can say how many notices are
still waiting without reading the outbox again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rich.text import Text
from textual.widgets import DataTable

from console.domain.events import Event
from console.tui.widgets.home_tables import clip, cursor_key, restore_cursor, same_cell

__all__ = ["MAX_NOTICES", "PENDING_STATUSES", "Notice", "NoticeLog", "NoticesTable", "notice_from_record",
           "recipient"]

#: Records the panel keeps and draws (newest first).
MAX_NOTICES = 200

#: Statuses of a record still on its way: together they are the outbox backlog.
PENDING_STATUSES = frozenset({"queued", "sending", "retrying"})

#: Columns of the table: key and label.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "Time"), ("kind", "Kind"), ("task", "Task"), ("person", "Person"), ("mode", "Mode"),
    ("target", "Target"), ("status", "Status"), ("attempts", "Tries"), ("latency", "Latency"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)

#: Rows that need a look: every cell in this style, the status cell in the stronger one.
PROBLEM_ROW_STYLES = {"failed": "red", "abandoned": "red", "retrying": "yellow"}
PROBLEM_STATUS_STYLES = {"failed": "bold white on red", "abandoned": "bold white on red",
                         "retrying": "bold black on yellow"}
STATUS_STYLES = {"sent": "green", "queued": "cyan", "sending": "cyan", **PROBLEM_STATUS_STYLES}

#: Event kind -> the status it leaves its record in.
_EVENT_STATUS = {"notification.queued": "queued", "notification.sent": "sent",
                 "notification.retrying": "retrying", "notification.abandoned": "abandoned",
                 "notification.failed": "failed", "notification.fallback": "failed",
                 "notification.retry_requested": "retrying"}


def recipient(target: str) -> str:
    """Who a masked target reaches, short: ``alice@example.com`` of ``mailto://host:25/alice@example.com?...``.

    The recipient is the ``to=`` argument or the last path segment of the (already masked) URL; a URL without
    one (a group robot) is shown by its scheme and host. Display only: ``:notifications`` shows the whole target.
    """
    if "://" not in target:
        return target
    split = urlsplit(target)
    to = dict(parse_qsl(split.query)).get("to")
    if to:
        return to
    segments = [part for part in split.path.split("/") if part]
    return segments[-1] if segments else f"{split.scheme}://{split.netloc}"


def _stamp(text: str | None) -> float:
    try:
        return datetime.fromisoformat(text).timestamp() if text else 0.0
    except ValueError:
        return 0.0


@dataclass
class Notice:
    """One row: an outbox record as the dashboard last heard of it."""

    id: str
    created_at: str
    kind: str = "-"
    task_id: str = ""
    run_id: str | None = None
    person: str = "-"
    mode: str = "-"
    target: str = "-"
    status: str = "queued"
    attempts: int = 0
    latency_s: float | None = None
    error: str | None = None
    fallback_mode: str | None = None

    @property
    def problem(self) -> bool:
        """Failed, abandoned or retrying: the row stands out."""
        return self.status in PROBLEM_ROW_STYLES

    @property
    def pending(self) -> bool:
        """Still on its way (a test notice is never retried in the background, so it never waits)."""
        return self.status in PENDING_STATUSES and self.kind != "test"


def notice_from_record(record: Any) -> Notice:
    """A row from an outbox record as ``engine.list_notifications`` returns it."""
    status = str(getattr(record.status, "value", record.status))
    latency = record.latency_s
    return Notice(id=record.id, created_at=record.created_at, kind=record.kind, task_id=record.task_id,
                  run_id=record.run_id, person=record.person, mode=record.mode, target=record.target,
                  status=status, attempts=len(record.attempts or []),
                  latency_s=float(latency) if latency is not None else None, error=record.error)


class _Stamp(str):
    """The time cell: shows a short local time, sorts by creation time then arrival (newest first)."""

    order: tuple[float, int]


class NoticeLog:
    """The newest notices by record id, in creation order, and the outbox backlog."""

    def __init__(self, limit: int = MAX_NOTICES) -> None:
        self.limit = limit
        self.items: dict[str, Notice] = {}
        self._order: list[tuple[float, int, str]] = []
        self._orders: dict[str, tuple[float, int]] = {}
        self._seq = 0
        #: Record id -> status, for every record on its way (not only the ones drawn).
        self.pending: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.items)

    @property
    def backlog(self) -> int:
        """Notices queued, being sent or waiting to retry."""
        return len(self.pending)

    def seed_backlog(self, pending: dict[str, str]) -> None:
        """Start from the engine's view of the outbox (when the dashboard opens or reloads)."""
        self.pending = dict(pending)

    def _track(self, notice: Notice) -> None:
        if notice.pending:
            self.pending[notice.id] = notice.status
        else:
            self.pending.pop(notice.id, None)

    def upsert(self, notice: Notice) -> bool:
        """Record or refresh ``notice``; True when it is new to the log. Keeps only the newest ``limit``."""
        self._track(notice)
        if notice.id in self.items:
            self.items[notice.id] = notice
            return False
        self._seq += 1
        entry = (_stamp(notice.created_at), self._seq, notice.id)
        if self._order and entry[:2] < self._order[0][:2] and len(self._order) >= self.limit:
            return False  # older than everything kept: not drawn (its backlog state is tracked above)
        if not self._order or entry > self._order[-1]:
            self._order.append(entry)
        else:
            bisect.insort(self._order, entry)
        self.items[notice.id] = notice
        self._orders[notice.id] = entry[:2]
        while len(self._order) > self.limit:
            _, _, old = self._order.pop(0)
            self.items.pop(old, None)
            self._orders.pop(old, None)
        return notice.id in self.items

    def order_of(self, record_id: str) -> tuple[float, int]:
        return self._orders.get(record_id, (0.0, 0))

    def newest(self) -> list[str]:
        """Record ids kept, oldest first."""
        return [record_id for _, _, record_id in self._order]

    def apply(self, event: Event) -> tuple[list[Notice], bool]:
        """Fold one ``notification.*`` event in: (rows to redraw, whether the run's records must be re-read).

        A re-read is needed when the event lacks what a row shows: a notice that could not be addressed names
        only its error, and the new record a fallback creates has an address only the outbox knows. An event
        about a record older than every row kept changes only the backlog.
        """
        status = _EVENT_STATUS.get(event.kind)
        record_id = str(event.data.get("notification") or "")
        if status is None or not record_id:
            return [], False
        data = event.data
        rows: list[Notice] = []
        refetch = False
        notice = self.items.get(record_id)
        if notice is None and event.kind in ("notification.queued", "notification.failed"):
            # Emitted as the record is created: the event's time is the record's. Into the log at once, so the
            # next event of the same burst (its "sent", say) finds it.
            created = Notice(id=record_id, created_at=event.at, kind=str(data.get("kind") or "-"),
                             task_id=event.task_id or "", run_id=event.run_id, person=str(data.get("person") or "-"),
                             mode=str(data.get("mode") or "-"), target=str(data.get("target") or "-"),
                             status=status)
            refetch = "person" not in data
            if self.upsert(created):
                notice = created
        if notice is None:
            if status in PENDING_STATUSES and data.get("kind") != "test":
                self.pending[record_id] = status
            else:
                self.pending.pop(record_id, None)
        else:
            notice.status = status
            if "attempts" in data:
                notice.attempts = int(data["attempts"])
            if event.kind == "notification.sent":
                notice.latency_s = data.get("latency_s")
                notice.error = None
            elif "error" in data:
                notice.error = str(data["error"]) if data["error"] else None
            if event.kind == "notification.fallback":
                notice.fallback_mode = str(data.get("fallback_mode") or "") or None
            self._track(notice)
            rows.append(notice)
        successor = str(data.get("fallback") or "") if event.kind == "notification.fallback" else ""
        if successor and successor not in self.items:
            follower = Notice(id=successor, created_at=event.at, kind=str(data.get("kind") or "-"),
                              task_id=event.task_id or "", run_id=event.run_id, person=str(data.get("person") or "-"),
                              mode=str(data.get("fallback_mode") or "-"))
            if self.upsert(follower):
                rows.append(follower)
            refetch = True  # its masked target is only in the outbox
        return rows, refetch


class NoticesTable(DataTable[Any]):
    """The rendered notices; call its methods inside ``app.batch_update()``."""

    def __init__(self, *, limit: int = MAX_NOTICES, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.model = NoticeLog(limit)
        self.task_names: dict[str, str] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def _task_name(self, notice: Notice) -> str:
        if notice.task_id in ("", "-"):
            return "-"
        return self.task_names.get(notice.task_id, notice.task_id)

    def cells(self, notice: Notice) -> list[Any]:
        """The row of ``notice``: every cell of a problem row in its warning style."""
        row_style = PROBLEM_ROW_STYLES.get(notice.status, "")
        when = _Stamp(datetime.fromisoformat(notice.created_at).astimezone().strftime("%m-%d %H:%M:%S")
                      if _stamp(notice.created_at) else "?")
        when.order = self.model.order_of(notice.id)
        status = notice.status
        if notice.status == "failed" and notice.fallback_mode:
            status = f"failed, now {notice.fallback_mode}"
        latency = f"{notice.latency_s:.2f} s" if notice.latency_s is not None else "-"
        return [
            when,
            Text(notice.kind.replace("_", " "), style=row_style),
            Text(clip(self._task_name(notice), 20), style=row_style),
            Text(clip(notice.person, 16), style=row_style),
            Text(notice.mode, style=row_style),
            Text(clip(recipient(notice.target), 28), style=row_style),
            Text(status, style=STATUS_STYLES.get(notice.status, "")),
            Text(str(notice.attempts), style=row_style, justify="right"),
            Text(latency, style=row_style, justify="right"),
        ]

    def upsert(self, notices: Iterable[Notice]) -> int:
        """Add or refresh rows in place (by record id); keeps the newest ``limit``, newest first.

        ``notices`` may already be in the model (:meth:`NoticeLog.apply` puts new records there); the table
        catches up with it. Returns the number of rows added.
        """
        touched: list[str] = []
        for notice in notices:
            self.model.upsert(notice)
            if notice.id in self.model.items:
                touched.append(notice.id)
        missing = [key for key in self.model.items if key not in self.rows]
        if missing or len(self.rows) != len(self.model.items):
            self._apply_window()
        for key in dict.fromkeys(touched):
            if key in self.rows and key not in missing:
                self._update_row(key)
        return len(missing)

    def _apply_window(self) -> None:
        selected = cursor_key(self)
        at_top = self.cursor_row <= 0
        wanted = set(self.model.items)
        for key in [str(row.value) for row in self.rows if str(row.value) not in wanted]:
            self.remove_row(key)
        for key in self.model.newest():
            if key not in self.rows:
                self.add_row(*self.cells(self.model.items[key]), key=key)
        # Sort only when rows were added (dolphie): newest first.
        self.sort("time", key=lambda cell: cell.order, reverse=True)
        if at_top:
            if self.row_count:
                self.move_cursor(row=0, animate=False)
        else:
            restore_cursor(self, selected)

    def _update_row(self, key: str) -> None:
        cells = self.cells(self.model.items[key])
        for column, before, after in zip(COLUMN_KEYS[1:], self.get_row(key)[1:], cells[1:], strict=False):
            if not same_cell(before, after):
                self.update_cell(key, column, after)

    def rename_task(self, task_id: str, name: str) -> None:
        if self.task_names.get(task_id) == name:
            return
        self.task_names[task_id] = name
        for key, notice in self.model.items.items():
            if notice.task_id == task_id and key in self.rows:
                self._update_row(key)

    def selected(self) -> Notice | None:
        key = cursor_key(self)
        return self.model.items.get(key) if key else None

    @property
    def problems(self) -> int:
        """Rows drawn as problems (failed, abandoned, retrying)."""
        return sum(1 for notice in self.model.items.values() if notice.problem)

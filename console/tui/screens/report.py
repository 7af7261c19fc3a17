"""``:report``: coverage and compliance in the console, the figures an auditor asks for and the hosts to fix.

The same report as ``patchwatch report coverage`` (one ``EngineAPI.coverage_report`` call, computed by the
engine from its history index): the fleet's coverage, hosts per state, failure episodes and the times to
acknowledge and resolve, a sparkline of the daily coverage, and the hosts that are not compliant. ``p``
cycles the period, ``s`` the state shown, ``g`` the inventory group, ``/`` filters by text; Enter opens the
host's latest run. The figures follow finished runs (``run.finished`` events reload them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Input, Static

from console.domain.coverage import NON_COMPLIANT, STATE_ORDER, CoverageReport, HostLine
from console.domain.coverage_render import duration, percent, sparkline
from console.domain.events import Event, EventKind
from console.engine.api import EngineAPI, EventStream
from console.errors import PatchwatchError
from console.tui.screens import FilteredTableScreen, read_only_banner, words_match
from console.tui.screens.run_detail import RunDetailScreen, SortCell, consume_events, plain, row_key_text, sync_table

__all__ = ["PERIODS", "ReportScreen"]

#: The periods ``p`` cycles through, in days (the first is the default: PCI DSS's month).
PERIODS = (30, 7, 90, 365)

_COLUMNS = ("host", "state", "attempt", "category", "success", "security", "tasks")
_LABELS = ("Host", "State", "Last attempt", "Category", "Last success", "Sec", "Tasks")
#: How many days the sparkline shows at most (the newest): it fits an 80-column terminal.
_TREND_DAYS = 70
_STATE_RANK = {s.value: i for i, s in enumerate(STATE_ORDER)}


class ReportScreen(FilteredTableScreen):
    """Coverage figures, a trend sparkline and the non-compliant hosts."""

    FILTER_ID = "report-filter"
    CSS_PATH = "report.tcss"
    TITLE = "Coverage report"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("p", "cycle_period", "Period"),
        Binding("s", "cycle_state", "State"),
        Binding("g", "cycle_group", "Group"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__(engine)
        self.days = PERIODS[0]
        #: None: every non-compliant state; else one state (compliant included, to check a host).
        self.state: str | None = None
        self.group: str | None = None
        self.groups: list[str] = []
        self.report: CoverageReport | None = None

    def compose(self) -> ComposeResult:
        yield read_only_banner(self.app)
        yield Static("loading the report...", id="report-figures", markup=False)
        yield Input(placeholder="filter: host, state, category, task (Esc clears)", id="report-filter", compact=True)
        table: DataTable[Any] = DataTable(id="report-hosts", cursor_type="row", zebra_stripes=True)
        for key, label in zip(_COLUMNS, _LABELS, strict=True):
            table.add_column(label, key=key)
        yield table
        yield Static("", id="report-status", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        await self.start_table()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#report-hosts", DataTable)

    # ------------------------------------------------------------------ data

    @work(group="report-load", exclusive=True, exit_on_error=False, description="compute the coverage report")
    async def _load(self) -> None:
        now = self.engine.clock.now()
        try:
            self.report = await self.engine.coverage_report(since=now - timedelta(days=self.days), until=now,
                                                            group=self.group)
            if self.group is None:
                self.groups = sorted(self.report.groups)
        except PatchwatchError as exc:
            self.notify(str(exc), title="Cannot compute the report", severity="error", markup=False)
            return
        self._show()

    def _wanted(self, line: HostLine) -> bool:
        if self.state is None and line.state not in NON_COMPLIANT:
            return False
        if self.state is not None and line.state != self.state:
            return False
        return words_match(self.text_filter, line.host, line.state, line.last_attempt_category or "", *line.tasks,
                           *line.groups)

    @staticmethod
    def _row(line: HostLine) -> list[Any]:
        """Short dates (month-day, UTC) so the row fits 80 columns; the CLI and HTML give full times."""
        attempt = "never" if line.last_attempt_at is None else f"{line.last_attempt_at[5:16].replace('T', ' ')} " \
            f"{'ok' if line.last_attempt_status == 'ok' else 'fail'}"
        success = "never" if line.last_success_at is None else \
            f"{line.last_success_at[5:10]} ({line.days_since_success}d)"
        return [plain(line.host), SortCell(line.state, (_STATE_RANK[line.state], line.host)), plain(attempt),
                plain(line.last_attempt_category or "-"), plain(success),
                plain("-" if line.security is None else line.security), plain(", ".join(line.tasks) or "-")]

    def _show(self) -> None:
        report = self.report
        if report is None:
            return
        f = report.fleet
        n = f.states.get
        cats = " ".join(f"{k} {v}" for k, v in f.episodes_by_category.items()) or "none"
        scope = f" · group {self.group}" if self.group else ""
        # Six lines that fit 80 columns whatever the counts (a 1,000-host fleet included).
        self.query_one("#report-figures", Static).update(
            f"Last {self.days} days{scope} · coverage {percent(f.coverage)} ({f.covered}/{f.hosts} scanned OK)\n"
            f"compliant {n('compliant', 0)} · missing_security {n('missing_security', 0)} · "
            f"scan_failed {n('scan_failed', 0)}\n"
            f"stale {n('stale', 0)} · never_scanned {n('never_scanned', 0)} · untargeted {n('untargeted', 0)} · "
            f"missed fires {f.missed_fires or 0}\n"
            f"episodes {f.episodes} ({f.open_episodes} open) · ack {duration(f.mean_ack_s)}/"
            f"{duration(f.p90_ack_s)} · resolve {duration(f.mean_resolve_s)}/{duration(f.p90_resolve_s)} (mean/p90)\n"
            f"failures: {cats}\n"
            f"trend {sparkline(report.trend[-_TREND_DAYS:])}")
        rows = {line.host: self._row(line) for line in report.hosts if self._wanted(line)}
        with self.app.batch_update():
            sync_table(self.table, rows, sort_column="state")
        shown = self.state or "not compliant"
        text = f" matching {self.text_filter!r}" if self.text_filter else ""
        self.query_one("#report-status", Static).update(
            f"{len(rows)} hosts {shown}{text} · p period, s state, g group, Enter latest run")

    @work(group="report-live", exclusive=True, exit_on_error=False, description="follow finished runs")
    async def _watch_events(self, queue: EventStream) -> None:
        await consume_events(self.engine, queue, self._on_events, pace=2.0)

    async def _on_events(self, batch: list[Event]) -> None:
        if any(event.kind in (EventKind.RUN_FINISHED, EventKind.HISTORY_PRUNED) for event in batch):
            self._load()

    # ------------------------------------------------------------------ keys

    def filter_changed(self) -> None:
        self._show()

    def action_cycle_period(self) -> None:
        self.days = PERIODS[(PERIODS.index(self.days) + 1) % len(PERIODS)]
        self._load()

    def action_cycle_state(self) -> None:
        cycle: list[str | None] = [None, *(s.value for s in STATE_ORDER)]
        self.state = cycle[(cycle.index(self.state) + 1) % len(cycle)]
        self._show()

    def action_cycle_group(self) -> None:
        cycle: list[str | None] = [None, *self.groups]
        self.group = cycle[(cycle.index(self.group) + 1) % len(cycle)] if self.group in cycle else None
        self._load()

    def action_reload(self) -> None:
        self._load()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter: the host's latest run, with that host selected."""
        if event.row_key is None or self.report is None:
            return
        event.stop()
        host = row_key_text(event.row_key)
        line = next((h for h in self.report.hosts if h.host == host), None)
        if line is None or line.last_attempt_run is None:
            self.notify(f"{host} has no run on record", severity="warning")
            return
        self.app.push_screen(RunDetailScreen(self.engine, line.last_attempt_run, host=host))

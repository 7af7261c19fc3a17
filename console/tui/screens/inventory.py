"""Inventory: the instances scans can target, read-only.

Why read-only: an import replaces what a scan touches, and the importer refuses a whole file when any line is
wrong (console.domain.inventory), which is a shell workflow with an editor at hand, not a form. This screen
answers "is that host in the inventory, with which address, user, credential and groups?" and says how to
change it: ``patchwatch inventory import FILE``. It follows ``inventory.*`` events, so an import made from a
shell shows up here without a key press.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from console.domain.events import Event
from console.engine.api import EngineAPI, EventStream
from console.errors import PatchwatchError
from console.jobs import Target
from console.tui.screens import FilteredTableScreen, read_only_banner, words_match
from console.tui.screens.run_detail import SortCell, consume_events, plain, sync_table
from console.tui.widgets.footer import ConsoleFooter

__all__ = ["IMPORT_HINT", "InventoryScreen"]

IMPORT_HINT = "patchwatch inventory import FILE"

_COLUMNS = ("name", "address", "port", "user", "credential", "groups")
_LABELS = ("Name", "Address", "Port", "User", "Credential", "Groups")


class InventoryScreen(FilteredTableScreen):
    """Instances with a text filter and a group filter; changes come from the CLI."""

    FILTER_ID = "inventory-filter"

    CSS_PATH = "inventory.tcss"
    TITLE = "Inventory"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("g", "cycle_group", "Group"),
        Binding("G", "all_groups", "All groups"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__(engine)
        self.instances: list[Target] = []
        self.group: str | None = None

    def compose(self) -> ComposeResult:
        yield read_only_banner(self.app)
        yield Static(f"Read-only. To add or change instances, run in a shell:  {IMPORT_HINT}",
                     id="inventory-hint", markup=False)
        yield Input(placeholder="filter: name, address, user, credential, group, label (Esc clears)",
                    id="inventory-filter", compact=True)
        table: DataTable[Any] = DataTable(id="inventory", cursor_type="row", zebra_stripes=True)
        for key, label in zip(_COLUMNS, _LABELS, strict=True):
            table.add_column(label, key=key)
        yield table
        yield Static("", id="inventory-status", markup=False)
        yield ConsoleFooter()

    async def on_mount(self) -> None:
        await self.start_table()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#inventory", DataTable)

    @property
    def groups(self) -> list[str]:
        return sorted({group for target in self.instances for group in target.groups})

    # ------------------------------------------------------------------ data

    @work(group="inventory-load", exclusive=True, exit_on_error=False, description="list the inventory")
    async def _load(self) -> None:
        try:
            self.instances = await self.engine.list_instances()
        except PatchwatchError as exc:
            self.notify(str(exc), title="Cannot read the inventory", severity="error", markup=False)
            return
        if self.group is not None and self.group not in self.groups:
            self.group = None
        self._show()

    def _matches(self, target: Target) -> bool:
        if self.group is not None and self.group not in target.groups:
            return False
        return words_match(self.text_filter, target.name, target.address, str(target.port), target.user or "",
                           target.credential or "", *target.groups, *(f"{k}={v}" for k, v in target.labels.items()))

    @staticmethod
    def _row(target: Target) -> list[Any]:
        return [SortCell(target.name, target.name), plain(target.address), plain(target.port),
                plain(target.user or "-"), plain(target.credential or "default"), plain(", ".join(target.groups))]

    def _show(self) -> None:
        rows = {t.name: self._row(t) for t in self.instances if self._matches(t)}
        with self.app.batch_update():
            sync_table(self.table, rows, sort_column="name")
        group = f"group {self.group}" if self.group else "all groups"
        text = f" matching {self.text_filter!r}" if self.text_filter else ""
        empty = f" · the inventory is empty: {IMPORT_HINT}" if not self.instances else ""
        self.query_one("#inventory-status", Static).update(
            f"{len(rows)} of {len(self.instances)} instances · {group}{text} (g cycles groups){empty}")

    @work(group="inventory-live", exclusive=True, exit_on_error=False, description="follow inventory changes")
    async def _watch_events(self, queue: EventStream) -> None:
        await consume_events(self.engine, queue, self._on_events, pace=0.5)

    async def _on_events(self, batch: list[Event]) -> None:
        if any(event.kind.startswith("inventory.") for event in batch):
            self._load()

    # ------------------------------------------------------------------ keys

    def filter_changed(self) -> None:
        self._show()

    def action_cycle_group(self) -> None:
        cycle: list[str | None] = [None, *self.groups]
        position = cycle.index(self.group) if self.group in cycle else 0
        self.group = cycle[(position + 1) % len(cycle)]
        self._show()

    def action_all_groups(self) -> None:
        self.group = None
        self._show()

    def action_reload(self) -> None:
        self._load()

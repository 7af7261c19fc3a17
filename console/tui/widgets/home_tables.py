"""In-place DataTable updates by row key (the dolphie pattern), shared by the console's live tables.

A live table is never cleared and refilled on every event: that loses the operator's cursor and scroll
position and repaints everything. Instead the wanted rows (row key -> cell values) are compared with what the
table shows: new keys are added, ``update_cell`` runs only where a value changed, vanished keys are removed.
Only when the wanted order of the rows differs is the table rebuilt (small tables only) - and the cursor is
put back on the row it was on. Callers wrap the call in ``app.batch_update()`` so the screen repaints once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

__all__ = ["clip", "cursor_key", "restore_cursor", "row_key_text", "same_cell", "sync_rows"]


def clip(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with a trailing ellipsis (keeps live tables narrow)."""
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def same_cell(before: Any, after: Any) -> bool:
    """Whether a cell would look the same: rich ``Text`` equality ignores the base style, so a row that only
    changed colour (acknowledged, a notice now retrying) would otherwise never be redrawn."""
    if isinstance(before, Text) and isinstance(after, Text):
        return (before.plain == after.plain and before.style == after.style and before.spans == after.spans
                and before.justify == after.justify)
    return bool(before == after)


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None when the table is empty."""
    if table.row_count == 0:
        return None
    try:
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    except CellDoesNotExist:
        return None
    return row_key.value


def restore_cursor(table: DataTable[Any], key: str | None) -> None:
    """Put the cursor back on row ``key`` if it is still there (after a sort or a rebuild)."""
    if key is None:
        return
    try:
        index = table.get_row_index(key)
    except Exception:  # the row is gone: leave the cursor where the table put it
        return
    if index != table.cursor_row:
        table.move_cursor(row=index, animate=False)


def sync_rows(table: DataTable[Any], rows: Mapping[str, Sequence[Any]], columns: Sequence[str], *,
              keep_order: bool = True) -> int:
    """Make ``table`` show exactly ``rows`` (in mapping order when ``keep_order``); return cells changed.

    ``columns`` are the table's column keys, in the order of the values of each row.
    """
    wanted = list(rows)
    current: list[str] = [str(row.key.value) for row in table.ordered_rows]
    if keep_order and current != wanted and set(current) == set(wanted):
        # Same rows, new order (a rename, a next fire that moved): rebuild, small tables only.
        return _rebuild(table, rows)
    changed = 0
    present = set(current)
    for key in current:
        if key not in rows:
            table.remove_row(key)
            changed += 1
    for key, values in rows.items():
        if key in present:
            old = table.get_row(key)
            for column, before, after in zip(columns, old, values, strict=False):
                if not same_cell(before, after):
                    table.update_cell(key, column, after)
                    changed += 1
        else:
            table.add_row(*values, key=key)
            changed += 1
    if keep_order and [str(row.key.value) for row in table.ordered_rows] != wanted:
        return changed + _rebuild(table, rows)
    return changed


def _rebuild(table: DataTable[Any], rows: Mapping[str, Sequence[Any]]) -> int:
    selected = cursor_key(table)
    table.clear()
    for key, values in rows.items():
        table.add_row(*values, key=key)
    restore_cursor(table, selected)
    return len(rows)


def row_key_text(key: RowKey | str) -> str:
    """The plain text of a row key (DataTable hands out RowKey objects)."""
    return str(key.value) if isinstance(key, RowKey) else key

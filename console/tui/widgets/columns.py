"""Column layouts by width: which columns a table shows, and how wide, in 80 columns and in 160.

Why: a DataTable sizes columns to the cells it has when they are added, so a table filled while a run is
still going (empty cells, "scanning") kept squeezed columns forever, and a wide table in an 80-column tmux
pane pushed what matters off to the right. Tables here declare layouts instead: fixed widths for the columns
each layout shows, one flexible column (the reason) that takes the width left, and they switch layout when
they are resized. Cells are cut to their width with an ellipsis by the caller (``clip``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["CELL_PADDING", "SCROLLBAR", "plan_columns"]

#: Each cell has one column of padding on either side; the vertical scrollbar may take two.
CELL_PADDING, SCROLLBAR = 2, 2


def plan_columns(width: int, order: Sequence[str], layouts: Mapping[str, Mapping[str, int]], flex: str,
                 min_flex: int, max_flex: int) -> tuple[str, dict[str, int]]:
    """The first layout (in ``layouts`` order, widest first) that leaves ``flex`` at least ``min_flex``
    columns in a table ``width`` wide (the last layout always fits), and every shown column's width in
    ``order``. ``flex`` gets what the fixed columns leave, at most ``max_flex``."""
    names = list(layouts)
    for name in names:
        fixed = layouts[name]
        shown = [key for key in order if key in fixed or key == flex]
        rest = width - SCROLLBAR - CELL_PADDING * len(shown) - sum(fixed.values())
        if rest >= min_flex or name == names[-1]:
            widths = {key: fixed.get(key, 0) for key in shown}
            widths[flex] = max(8, min(rest, max_flex))
            return name, widths
    raise ValueError("no layouts given")

"""Argument types for the CLI's numeric and date options, built on :mod:`console.domain.limits`.

Why: argparse's plain ``type=int``/``type=float`` accepts ``-1``, ``0``, ``nan`` and ``inf`` for a timeout, a
concurrency or a port, and a huge ``--limit`` reached the store as a number no slice could take. These types
refuse such values while parsing, so argparse prints ``argument --timeout: must be ...`` and exits 2 before
anything runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from console.domain.limits import check_number
from console.errors import ValidationError

#: The largest ``--limit`` a listing accepts (more rows than any terminal or file reader wants at once).
MAX_LIMIT = 1_000_000


def number(minimum: float, maximum: float, *, integer: bool = False) -> Callable[[str], float]:
    """An argparse ``type=`` that accepts a finite number within ``minimum``..``maximum``."""

    def parse(text: str) -> float:
        try:
            return check_number(text, "value", minimum, maximum, integer=integer)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(exc.errors[0].rule) from None

    parse.__name__ = "whole number" if integer else "number"
    return parse


#: Common option types.
PORT = number(1, 65535, integer=True)
LIMIT = number(1, MAX_LIMIT, integer=True)
CONCURRENCY = number(1, 1000, integer=True)
TIMEOUT = number(0.1, 86400)
GRACE = number(0, 86400)

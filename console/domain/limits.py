"""The ranges every date, duration and number Patchwatch accepts must fall in, checked at validation.

Why this module exists: a value that passes a loose check ("a positive duration", "an ISO date-time") can still
be one that the standard library cannot compute with. ``99999999999d`` overflows ``timedelta``; 9999-12-31 in a
-14:00 zone overflows ``datetime`` when converted to UTC; ``nan`` compares false with every bound and so passes
``value < minimum``. Such a value, once stored, raised inside the scheduler loop later. Every entry point (task
files, the form, CLI options, daemon options) checks with these helpers, so the error is raised at input time,
names the field and the rule, and nothing is stored.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from console.errors import ValidationError

#: Dates a schedule may name: croniter's year field covers 1970-2099, and a bound far below ``datetime.max``
#: leaves room for any zone offset and for the scheduler's arithmetic.
MIN_YEAR = 1970
MAX_YEAR = 2099
#: The longest duration an operator may give (a review window, an expiry): one year.
MAX_DURATION_S = 366 * 86400
#: Digits a number in a duration or an option may carry (longer strings are refused before ``int()``, whose
#: conversion of very long strings is itself a cost and, past 4300 digits, an error).
MAX_DIGITS = 12


def check_instant(value: datetime, field: str) -> datetime:
    """``value`` (aware) if it lies within :data:`MIN_YEAR`..:data:`MAX_YEAR` in its zone and in UTC."""
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not MIN_YEAR <= value.year <= MAX_YEAR or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValidationError.single(field, f"must be a date between {MIN_YEAR} and {MAX_YEAR}, "
                                            f"got {value.isoformat()}")
    return value


def check_number(value: object, field: str, minimum: float, maximum: float, *, integer: bool = False) -> float:
    """``value`` as a finite number within ``minimum``..``maximum`` (a whole number when ``integer``).

    Refuses booleans, NaN and infinities, which slip through plain ``<``/``>`` comparisons."""
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool):
        raise ValidationError.single(field, f"must be {kind} between {_n(minimum)} and {_n(maximum)}, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DIGITS + 8:
            raise ValidationError.single(field, f"must be {kind} between {_n(minimum)} and {_n(maximum)}")
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise ValidationError.single(field, f"must be {kind}, got {text!r}") from None
    if not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ValidationError.single(field, f"must be {kind}, got {value!r}")
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise ValidationError.single(field, f"must be {kind} between {_n(minimum)} and {_n(maximum)}, got {value!r}")
    return value


def _n(value: float) -> str:
    """A bound as people write it: ``1000000``, ``0.1``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_duration(seconds: float, field: str, maximum: float = MAX_DURATION_S) -> float:
    """``seconds`` if positive, finite and at most ``maximum``."""
    if not math.isfinite(seconds) or seconds <= 0 or seconds > maximum:
        raise ValidationError.single(field, f"must be a duration between 1s and {int(maximum) // 86400}d")
    return seconds

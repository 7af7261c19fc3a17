"""Durations written the way operators write them: ``90s``, ``15m``, ``24h``, ``2d``, ``1h30m``."""

from __future__ import annotations

import re

from console.domain.limits import MAX_DIGITS, MAX_DURATION_S, check_duration
from console.errors import ValidationError

_PART = re.compile(r"(\d{1,12})\s*([smhdw])")  # at most MAX_DIGITS digits
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | int | float, field: str, maximum: float = MAX_DURATION_S) -> int:
    """Seconds in ``value``; a bare number is seconds. Raises ValidationError naming ``field``.

    At most ``maximum`` seconds (a year by default): a longer one overflows the date arithmetic it feeds."""
    return int(check_duration(_parse_duration(value, field), field, maximum))


def _parse_duration(value: str | int | float, field: str) -> float:
    if isinstance(value, bool):
        raise ValidationError.single(field, f"must be a duration such as 30m, 24h or 2d, not {value!r}")
    if isinstance(value, int | float):
        if not value > 0:  # NaN too
            raise ValidationError.single(field, f"must be a positive duration, got {value!r}")
        return value
    text = str(value).strip().lower().replace(" ", "")
    if text.isdigit() and len(text) <= MAX_DIGITS and int(text) > 0:
        return int(text)
    pos, total = 0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if not text or pos != len(text) or total <= 0:
        raise ValidationError.single(field, f"must be a duration such as 30m, 24h or 2d, got {str(value)[:40]!r}")
    return total


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``; for display."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)

"""Durations written the way operators write them: ``90s``, ``15m``, ``24h``, ``2d``, ``1h30m``."""

from __future__ import annotations

import re

from console.errors import ValidationError

_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | int | float, field: str) -> int:
    """Seconds in ``value``; a bare number is seconds. Raises ValidationError naming ``field``."""
    if isinstance(value, bool):
        raise ValidationError.single(field, f"must be a duration such as 30m, 24h or 2d, not {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValidationError.single(field, f"must be a positive duration, got {value!r}")
        return int(value)
    text = str(value).strip().lower().replace(" ", "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    pos, total = 0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if not text or pos != len(text) or total <= 0:
        raise ValidationError.single(field, f"must be a duration such as 30m, 24h or 2d, got {value!r}")
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

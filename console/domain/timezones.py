"""Time zones as operators write them: IANA names (``Asia/Shanghai``) or fixed offsets (``GMT+08:00``).

Every schedule computes in the zone its task names, so a zone must be parsed the same way on every machine
(the IANA database comes from the ``tzdata`` package when the OS has none). Fixed offsets are common in
the reference system (``GMT+08:00``) but are not IANA keys -- ``ZoneInfo("GMT+08:00")`` does not exist and
``Etc/GMT-8`` means +08:00, the opposite sign -- so they are parsed here into ``datetime.timezone``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from console.errors import FieldError, ValidationError

FIELD = "timezone"

#: ``GMT``/``UTC`` (any case), optionally followed by ``+8``, ``+08``, ``+08:00`` or ``+0800``.
_OFFSET = re.compile(r"(?:GMT|UTC)(?:([+-])(\d{1,2})(?::?(\d{2}))?)?", re.IGNORECASE)

#: Real offsets lie within -12:00..+14:00; we accept the symmetric +-14:00 the brief allows.
_MAX_OFFSET = timedelta(hours=14)

_EXAMPLE = "use an IANA name such as Asia/Shanghai or an offset such as GMT+08:00"


def _unknown(text: str) -> ValidationError:
    return ValidationError(FieldError(FIELD, f"unknown time zone {text!r}: {_EXAMPLE}"))


def format_offset(offset: timedelta) -> str:
    """``timedelta(hours=8)`` -> ``GMT+08:00``: the one spelling stored and shown for fixed offsets."""
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"GMT{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=1)
def _keys_by_lower() -> dict[str, str]:
    """Lower-cased IANA key -> its real spelling, so ``asia/shanghai`` is stored as ``Asia/Shanghai``.

    Scanning the database is slow (tens of ms), hence cached; it is only consulted when the exact key
    fails or to fix the case of a key that a case-insensitive file system accepted.
    """
    return {key.lower(): key for key in available_timezones()}


def _parse_offset(text: str) -> timezone | None:
    """A fixed-offset zone for ``GMT+08:00``-style text, None when ``text`` is not of that shape."""
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    sign, hours_text, minutes_text = match.groups()
    hours = int(hours_text) if hours_text else 0
    minutes = int(minutes_text) if minutes_text else 0
    if minutes > 59:
        raise ValidationError(FieldError(
            FIELD, f"offset {text!r} has minutes {minutes_text}: minutes must be 00-59 (e.g. GMT+05:30)"))
    offset = timedelta(hours=hours, minutes=minutes)
    if sign == "-":
        offset = -offset
    if abs(offset) > _MAX_OFFSET:
        raise ValidationError(FieldError(
            FIELD, f"offset {text!r} is out of range: it must lie between GMT-14:00 and GMT+14:00"))
    return timezone(offset, name=format_offset(offset))


def _iana_key(text: str) -> str | None:
    """The properly spelled IANA key for ``text``, or None when there is no such zone."""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        # ValueError: keys such as '../etc' or absolute paths; OSError: a directory such as 'America'.
        return _keys_by_lower().get(text.lower())
    # A case-insensitive file system accepts 'asia/shanghai': store the real spelling so it loads anywhere.
    real = _keys_by_lower().get(text.lower())
    return text if real is None or real.lower() != text.lower() else real


def _resolve(text: str) -> tuple[tzinfo, str]:
    """The zone and its canonical spelling; raises ValidationError for anything unknown."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped:
        raise ValidationError(FieldError(FIELD, f"a time zone is required: {_EXAMPLE}"))
    if stripped.upper() == "UTC":
        return ZoneInfo("UTC"), "UTC"
    fixed = _parse_offset(stripped)
    if fixed is not None:
        return fixed, format_offset(fixed.utcoffset(None))
    key = _iana_key(stripped)
    if key is None:
        raise _unknown(stripped)
    return ZoneInfo(key), key


def parse_zone(text: str) -> tzinfo:
    """The zone named by ``text`` (IANA name or GMT/UTC offset); raises ValidationError on ``timezone``."""
    return _resolve(text)[0]


def canonical_zone(text: str) -> str:
    """The spelling to store: ``GMT+08:00`` for any offset form, else the IANA key (``utc`` -> ``UTC``)."""
    return _resolve(text)[1]


def zone_name(tz: tzinfo) -> str:
    """The name an operator typed for ``tz``: the IANA key, ``GMT+08:00``, or the tzinfo's own name."""
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    if isinstance(tz, timezone):
        return format_offset(tz.utcoffset(None))
    return str(tz)


def zone_label(tz: tzinfo, at: datetime) -> str:
    """Short label of ``tz`` at the instant ``at``: the abbreviation (``EST``/``EDT``/``CST``) when the
    database has a real one, else the offset (``GMT+08:00``), since numeric abbreviations like ``+04`` read
    like arithmetic. A naive ``at`` is taken as wall time in ``tz``.
    """
    local = at.replace(tzinfo=tz) if at.tzinfo is None else at.astimezone(tz)
    name = local.tzname()
    if name and name.isalpha():
        return name
    offset = local.utcoffset()
    return format_offset(offset if offset is not None else timedelta(0))

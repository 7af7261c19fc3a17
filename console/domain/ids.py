"""Short, stable, time-ordered identifiers.

The reference system shows 26-character task ids starting with ``ST``. Ours have the same shape: a two-letter
kind prefix and 24 Crockford base-32 characters (48 bits of milliseconds, then 72 random bits), so ids sort by
creation time, can be typed and read aloud, and never collide in practice.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U

TASK = "ST"
RUN = "RN"
EVENT = "EV"
NOTICE = "NT"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, *, millis: int | None = None) -> str:
    """A new id such as ``ST01JD3Z8K7Q0M4X9B2C5V6N7P``."""
    if millis is None:
        millis = time.time_ns() // 1_000_000
    randomness = int.from_bytes(os.urandom(9), "big")
    return prefix + _encode(millis & ((1 << 48) - 1), 10) + _encode(randomness, 14)


def looks_like(prefix: str, text: str) -> bool:
    """True when ``text`` has the shape of an id of kind ``prefix`` (used to tell ids from names)."""
    return (
        len(text) == len(prefix) + 24
        and text.startswith(prefix)
        and all(c in _ALPHABET for c in text[len(prefix):])
    )

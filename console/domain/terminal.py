"""Text from hosts and operators, made safe to show in a terminal: the one function every output uses.

Why: whatever a scanned host prints (``/etc/os-release``, stderr, package names) and whatever an operator
typed (a description, a note) reached ``hosts``, ``events``, ``logs``, ``run --wait``, the daemon's output and
the console raw. An escape sequence set the operator's tmux pane title, a cursor move shifted table columns,
an OSC 8 sequence made a link, a bidi override (U+202E) reversed what a line appeared to say, and Rich markup
(``[bold red]``) styled a cell. The notice renderers already reduce data to one visible line
(:func:`console.notify.render.one_line`); this module does the same for terminals, but keeps what was there
visible instead of dropping it, so an operator can still see that a host sent something odd:

* C0/C1 control characters (ESC, BEL, CSI ``\\x9b`` ...), DEL, format characters (bidi overrides and
  isolates, zero-width characters), surrogates, and line/paragraph separators become ``\\x1b``-style
  escapes (``\\u202e`` beyond one byte). Newlines and tabs are kept only in ``multiline`` text (transcripts);
  in one-line fields a newline becomes ``\\n`` so a value can never forge a second line.
* :func:`safe_markup` additionally escapes Rich console markup (``[bold]`` -> ``\\[bold]``), for widgets that
  interpret markup. It follows rich.markup.escape's rule without importing rich (the core stays UI-free).
"""

from __future__ import annotations

import re
import unicodedata

from console.domain.run import HostResult
from console.errors import ValidationError

#: Unicode categories never written to a terminal as they are: control, format, surrogate, private-use is
#: allowed (fonts use it), line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def safe_text(value: object, *, multiline: bool = False) -> str:
    """``value`` as text a terminal shows literally (see the module docstring); ``None`` is ``""``."""
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():
        return text  # the common case, kept cheap for tables of thousands of rows
    out: list[str] = []
    for ch in text:
        if multiline and ch in "\n\t":
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def safe_markup(value: object, *, multiline: bool = False) -> str:
    """:func:`safe_text`, with Rich markup escaped too (for widgets that interpret markup)."""
    return escape_markup(safe_text(value, multiline=multiline))


def escape_markup(text: str) -> str:
    """Rich markup in ``text`` shown literally: ``[tag]`` becomes ``\\[tag]`` (backslashes before it doubled)."""

    def repl(match: re.Match[str]) -> str:
        backslashes, tag = match.groups()
        return f"{backslashes}{backslashes}\\{tag}"

    text = _MARKUP_TAG.sub(repl, text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


def has_unsafe(value: str) -> bool:
    """Whether ``value`` holds a character :func:`safe_text` would neutralise (validation refuses such input
    where no legitimate value needs one: names, descriptions, notes)."""
    return any(unicodedata.category(ch) in _UNSAFE_CATEGORIES or ch == "\t" for ch in value
               if ch not in "\n") if not (value.isascii() and value.isprintable()) else False


def clean_host_result(result: HostResult) -> HostResult:
    """Neutralise, in place, every field of ``result`` whose text a scanned host controls (OS name, family,
    reason, hint, package fields), before it is stored, published or shown anywhere."""
    for name in ("os", "family", "reason", "hint"):
        value = getattr(result, name)
        if isinstance(value, str):
            setattr(result, name, safe_text(value))
    # Package fields are thousands of short strings per run and nearly always plain ASCII: one test over all
    # of a host's strings at once, and field by field only when something in them needs neutralising.
    texts = "".join(v for p in result.packages for v in p.values() if isinstance(v, str))
    if not (texts.isascii() and texts.isprintable()):
        result.packages = [{k: safe_text(v) if isinstance(v, str) else v for k, v in p.items()}
                           for p in result.packages]
    return result


def json_safe(encoded: str) -> str:
    """A JSON document (from ``json.dumps(..., ensure_ascii=False)``) with every character :func:`safe_text`
    neutralises written as a ``\\uXXXX`` escape: still the same JSON value, but inert on a terminal."""
    if encoded.isascii() and encoded.isprintable():
        return encoded
    return "".join(_json_escape(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in encoded)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair, as JSON spells characters beyond the basic plane
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def check_note(note: str | None) -> None:
    """Refuse an operator's note (review, acknowledgement) that carries characters a terminal would obey."""
    if note is not None and (has_unsafe(note) or len(note) > 2000):
        raise ValidationError.single("note", "must be text of at most 2000 characters without control, escape or "
                                             "bidi/format characters")

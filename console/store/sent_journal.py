"""The sent journal: one fsync'd line per notice the moment its channel accepted it.

Why: the outbox lives in TinyDB shards written by the data store's single I/O thread, in batches. A notice's
``sent`` status written through that thread waits behind whatever batch is being written (hundreds of
milliseconds under a 1,000-host load), and a SIGKILL inside that wait made the next start send the notice
again: the kill test saw it twice in 20 kills on a busy machine. Appending ``ID AT`` to this small file and
fsyncing it takes a millisecond and waits for nobody; at the next start the notifier reads it, marks those
records ``sent`` in the store and empties it. The append is made by the sending thread as soon as it reads the
channel's acceptance (``on_accepted`` of :func:`console.notify.delivery.deliver`), before the channel's goodbye
and before the event loop hears of it; what remains is that read and the append, documented in the README.
Appends come from several sending threads: each line is one ``O_APPEND`` write, so lines never interleave.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

#: File name inside the data directory.
SENT_JOURNAL = "outbox-sent.journal"
_LINE = re.compile(r"^(\S+) (\S+)$")


def journal_sent(data_dir: Path, record_id: str, at: str) -> None:
    """Durably note that outbox record ``record_id`` was accepted by its channel at ``at``."""
    fd = os.open(data_dir / SENT_JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{record_id} {at}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_sent(data_dir: Path) -> dict[str, str]:
    """Record id -> when it was sent ("" if a kill tore the time off), from the journal; a line without its
    separating space (the id itself torn) is ignored."""
    try:
        text = (data_dir / SENT_JOURNAL).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    return {m.group(1): _instant(m.group(2)) for line in text.splitlines() if (m := _LINE.match(line))}


def _instant(text: str) -> str:
    """The time as written, or "" when a kill tore it (the id before it was complete: the notice was sent)."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return ""
    return text


def clear_sent(data_dir: Path) -> None:
    """Empty the journal once the store holds every status it recorded."""
    with open(data_dir / SENT_JOURNAL, "w", encoding="utf-8"):
        pass

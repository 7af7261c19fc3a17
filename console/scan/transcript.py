"""Bounded per-host transcripts.

A host may print anything, including 100 MB. The transcript keeps the first ``head`` bytes and the last
``tail`` bytes of everything the host sent, counts what it dropped in between, and says so where the cut
is, so memory per host is bounded whatever the host does.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

DEFAULT_HEAD = 64 * 1024
DEFAULT_TAIL = 64 * 1024


class BoundedTranscript:
    """Head + tail of a host's session, with step markers."""

    def __init__(self, head: int = DEFAULT_HEAD, tail: int = DEFAULT_TAIL) -> None:
        self._head_limit = head
        self._tail_limit = tail
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.cut_bytes = 0
        self.total_bytes = 0

    def write(self, data: bytes) -> None:
        self.total_bytes += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size > self._tail_limit:
            excess = self._tail_size - self._tail_limit
            first = self._tail[0]
            if len(first) <= excess:
                self._tail.popleft()
                self._tail_size -= len(first)
                self.cut_bytes += len(first)
            else:
                self._tail[0] = first[excess:]
                self._tail_size -= excess
                self.cut_bytes += excess

    def note(self, text: str) -> None:
        """A line of Patchwatch's own (step headers, exit codes), marked with ``##``."""
        self.write(f"## {text}\n".encode())

    def render(self) -> bytes:
        if not self.cut_bytes:
            return bytes(self._head) + b"".join(self._tail)
        marker = (f"\n## [... {self.cut_bytes:,} bytes cut: the transcript keeps the first "
                  f"{self._head_limit:,} and the last {self._tail_limit:,} bytes ...]\n").encode()
        return bytes(self._head) + marker + b"".join(self._tail)

    def save(self, path: Path) -> None:
        path.write_bytes(self.render())

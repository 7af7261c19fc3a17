"""A run's SSH transcripts in one append-only file: the record format, the writer and the per-run index.

Layout (since issue 14)::

    <data_dir>/transcripts/<run_id>.log          every host's transcript of the run, one record each

Runs stored by earlier versions keep their old layout, one plain file per host, and stay readable::

    <data_dir>/transcripts/<run_id>/<host>.log

Why one file per run: a new file per host is a new inode, and creating one cost the kernel 0.02 to 0.9 ms on
this kind of disk (0.6 to 1.1 s of system CPU per 1,000 hosts, more than the rest of the store's writing).
Appending to one file that is already there costs a ``write`` into the page cache. The store's I/O thread is
the only writer: the transcripts of the hosts a batch reports are appended in that batch, just before their
results are written (:meth:`console.store.datastore.DataStore.flush`), so a transcript is on disk no later
than the result that points at it, and one ``write`` carries every record of a run in a batch.

A record is a header line, the transcript's bytes, and a newline::

    PWT1 <length> <crc32 as 8 hex digits> <host as a JSON string>\\n<length bytes>\\n

The host is JSON (ASCII, quoted), so whatever a host is called (spaces, newlines, ``../``) the header stays
one line and the name comes back exactly. The length says where the record ends without looking inside the
transcript, which may contain anything, even text that looks like a header. A process killed in the middle
of an append (a fatal signal can cut a large ``write`` short) leaves a torn last record: shorter than its
length, or without its header's newline. Readers stop there and see every record before it; the writer,
the next time a store opens that run's file for appending, cuts the torn tail off first, so records appended
after it stay readable. A record whose length and closing newline are intact but whose checksum is wrong
(a disk that lost data under it) is skipped, and the records after it are read. A failed ``write`` (a full
disk) is cut back to where the file ended, so a retried batch starts on a record boundary.

If a host has several records in one run's file (a batch written again after a failed write of its
results), the last one is its transcript, as the last write of the old per-host file was.

Why an index built on first read instead of offsets kept in the host results: the result is written after
the transcript and names how an operator opens it (``patchwatch logs RUN HOST``), not where the bytes are; a
file whose results were lost in a kill, or a file a read-only viewer watches grow, is read the same way; and
scanning a run's headers is one sequential read of a file of a few megabytes per 1,000 hosts, done once:
the index remembers how far it has read and only reads what was appended since (the writer also adds its
own appends to it), so paging through one host's transcript costs a seek and a read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MAGIC",
    "TranscriptIndex",
    "append_records",
    "encode_record",
    "read_span",
    "transcript_label",
]

MAGIC = b"PWT1"
#: The longest header line read (host names are far shorter; anything longer is not a record of ours).
_MAX_HEADER = 64 * 1024
_HEADER = re.compile(rb"PWT1 (\d{1,12}) ([0-9a-f]{8}) (\"[^\n]*\")\n")
#: How much of the file one read takes while indexing.
_READ = 1024 * 1024


def encode_record(host: str, data: bytes) -> bytes:
    """One record: header line, ``data``, newline."""
    name = json.dumps(host, ensure_ascii=True)
    return b"%s %d %08x %s\n" % (MAGIC, len(data), zlib.crc32(data), name.encode("ascii")) + data + b"\n"


def transcript_label(run_id: str, host: str) -> str:
    """What a host result says about its transcript: the command that shows it (quoted for a shell)."""
    return f"patchwatch logs {shlex.quote(run_id)} {shlex.quote(host)}"


@dataclass
class TranscriptIndex:
    """Where each host's transcript is in one run's file: ``spans[host] = (offset of the bytes, length)``.

    ``end`` is how far the file has been read (the end of the last complete record seen); :meth:`extend`
    reads on from there, so a growing file is never read twice.
    """

    end: int = 0
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def extend(self, path: Path) -> None:
        """Read the records appended after :attr:`end` (none if the file does not exist)."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(self.end)
            while self.end < size:
                line = handle.readline(_MAX_HEADER)
                match = _HEADER.fullmatch(line)
                if match is None:
                    return  # a torn header (or not a record at all): nothing after it is trusted
                length = int(match.group(1))
                start = self.end + len(line)
                if start + length + 1 > size:
                    return  # torn: the record's bytes are not all there yet (or never will be)
                crc = 0
                left = length
                while left:
                    chunk = handle.read(min(_READ, left))
                    if not chunk:  # pragma: no cover - the file shrank under us
                        return
                    crc = zlib.crc32(chunk, crc)
                    left -= len(chunk)
                if handle.read(1) != b"\n":
                    return  # the length does not end where a record ends: framing lost, stop here
                if crc == int(match.group(2), 16):
                    try:
                        host = json.loads(match.group(3))
                    except ValueError:
                        host = None
                    if isinstance(host, str):
                        self.spans[host] = (start, length)
                self.end = start + length + 1

    def add(self, host: str, offset: int, length: int) -> None:
        self.spans[host] = (offset, length)


def append_records(path: Path, records: Iterable[tuple[str, bytes]]) -> list[tuple[str, int, int]]:
    """Append ``(host, data)`` records to ``path`` (created 0600) in one write; returns ``(host, offset,
    length)`` of each transcript's bytes. A failed write is cut back to where the file ended before it."""
    encoded: list[bytes] = []
    spans: list[tuple[str, int, int]] = []
    position = 0
    for host, data in records:
        record = encode_record(host, data)
        header = len(record) - len(data) - 1
        spans.append((host, position + header, len(data)))
        encoded.append(record)
        position += len(record)
    if not encoded:
        return []
    blob = memoryview(b"".join(encoded))
    # O_APPEND: every write lands at the end whatever the offset; 0o600 on top of the process umask
    # (console.store.permissions), so a transcript is the owner's only even if the umask was not set.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        start = os.fstat(fd).st_size
        try:
            while blob:
                written = os.write(fd, blob)
                blob = blob[written:]
        except BaseException:
            # Whatever part was written would be a torn record in the middle once the batch is retried.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
    return [(host, start + offset, length) for host, offset, length in spans]


def cut_torn_tail(path: Path, index: TranscriptIndex) -> None:
    """Truncate ``path`` to the end of its last complete record (a process killed mid-append left more)."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > index.end:
            os.truncate(path, index.end)


def read_span(path: Path, offset: int, length: int) -> bytes:
    """``length`` bytes of ``path`` from ``offset``."""
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)

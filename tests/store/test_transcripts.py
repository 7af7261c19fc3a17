"""A run's transcripts in one append-only file: records, torn tails, the index, the old per-host layout.

The durability side: a record a killed writer left half-written is ignored by readers and cut off by the
next writer, so every record before it (and every one appended after it) reads back exactly; a failed write
is undone; a flush appends a batch's transcripts before its results and never twice.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import console.store.transcripts as transcripts_module
from console.errors import StoreError
from console.store import Store
from console.store.datastore import DataStore
from console.store.repositories import HostResultRepository
from console.store.transcripts import TranscriptIndex, encode_record, transcript_label

REPO = Path(__file__).resolve().parents[2]


def _text(host: str, lines: int = 5) -> bytes:
    return "".join(f"## step {i} on {host}\n" for i in range(lines)).encode()


def test_every_host_of_a_run_goes_to_one_owner_only_file(tmp_path: Path) -> None:
    old = os.umask(0o022)  # even a loose umask leaves a transcript readable by its owner only
    try:
        with Store(tmp_path) as store:
            store.append_transcripts([("run-1", f"h{i}", _text(f"h{i}")) for i in range(50)])
            store.append_transcripts([("run-1", "late", b"late\n"), ("run-2", "h0", b"other run\n")])
            for i in range(50):
                assert store.read_transcript("run-1", f"h{i}") == _text(f"h{i}").decode()
            assert store.read_transcript("run-1", "late") == "late\n"
            assert store.read_transcript("run-2", "h0") == "other run\n"
    finally:
        os.umask(old)
    files = sorted(p.name for p in (tmp_path / "transcripts").iterdir())
    assert files == ["run-1.log", "run-2.log"]
    assert stat.S_IMODE((tmp_path / "transcripts" / "run-1.log").stat().st_mode) == 0o600


def test_the_label_tells_how_to_open_it() -> None:
    assert transcript_label("RN01", "web-1") == "patchwatch logs RN01 web-1"
    assert transcript_label("RN01", "odd host;rm") == "patchwatch logs RN01 'odd host;rm'"


def test_a_torn_last_record_is_ignored_at_every_cut_and_cut_off_by_the_next_writer(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.append_transcripts([("run-1", "a", _text("a")), ("run-1", "b", _text("b"))])
        path = store.run_transcript_file("run-1")
    whole = path.read_bytes()
    last = encode_record("c", _text("c", 40))
    for cut in range(1, len(last)):  # every byte of the header, the transcript and the closing newline
        path.write_bytes(whole + last[:cut])
        with Store(tmp_path, read_only=True) as viewer:
            assert viewer.read_transcript("run-1", "a") == _text("a").decode()
            assert viewer.read_transcript("run-1", "b") == _text("b").decode()
            assert viewer.read_transcript("run-1", "c") == ""
            assert viewer.read_transcript_page("run-1", "c", 0, 100) == ("", 0, 0)
    path.write_bytes(whole + last[: len(last) // 2])
    with Store(tmp_path) as writer:
        writer.append_transcripts([("run-1", "d", b"after the kill\n")])
    assert path.read_bytes() == whole + encode_record("d", b"after the kill\n")
    with Store(tmp_path, read_only=True) as viewer:
        assert viewer.read_transcript("run-1", "d") == "after the kill\n"
        assert viewer.read_transcript("run-1", "b") == _text("b").decode()


def test_a_damaged_record_in_the_middle_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.append_transcripts([("run-1", h, _text(h)) for h in ("a", "b", "c")])
        path = store.run_transcript_file("run-1")
    data = bytearray(path.read_bytes())
    where = data.index(b"## step 2 on b")
    data[where:where + 4] = b"\0\0\0\0"  # a disk that lost a block: same length, wrong checksum
    path.write_bytes(bytes(data))
    with Store(tmp_path, read_only=True) as viewer:
        assert viewer.read_transcript("run-1", "a") == _text("a").decode()
        assert viewer.read_transcript("run-1", "b") == ""
        assert viewer.read_transcript("run-1", "c") == _text("c").decode()


def test_a_transcript_that_looks_like_records_is_only_data(tmp_path: Path) -> None:
    forged = encode_record("victim", b"forged\n") + b"PWT1 99999 00000000 \"x\"\n"
    with Store(tmp_path) as store:
        store.append_transcripts([("run-1", "evil", forged), ("run-1", "victim", b"real\n")])
    with Store(tmp_path, read_only=True) as viewer:
        assert viewer.read_transcript("run-1", "evil") == forged.decode()
        assert viewer.read_transcript("run-1", "victim") == "real\n"


def test_the_last_record_of_a_host_is_its_transcript(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.append_transcripts([("run-1", "a", b"first\n"), ("run-1", "b", b"b\n")])
        store.append_transcripts([("run-1", "a", b"second\n")])
        assert store.read_transcript("run-1", "a") == "second\n"
    with Store(tmp_path, read_only=True) as viewer:
        assert viewer.read_transcript("run-1", "a") == "second\n"


def test_a_failed_write_is_undone_so_a_retry_starts_on_a_record_boundary(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def half_then_full(fd: int, data: memoryview) -> int:
        if len(data) > 10:
            real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    with Store(tmp_path) as store:
        store.append_transcripts([("run-1", "a", _text("a"))])
        path = store.run_transcript_file("run-1")
        size = path.stat().st_size
        monkeypatch.setattr(transcripts_module.os, "write", half_then_full)
        with pytest.raises(StoreError, match="No space left"):
            store.append_transcripts([("run-1", "b", _text("b", 100))])
        monkeypatch.undo()
        assert path.stat().st_size == size
        store.append_transcripts([("run-1", "b", _text("b", 100))])
        assert store.read_transcript("run-1", "b") == _text("b", 100).decode()
    with Store(tmp_path, read_only=True) as viewer:
        assert viewer.read_transcript("run-1", "a") == _text("a").decode()
        assert viewer.read_transcript("run-1", "b") == _text("b", 100).decode()


def test_a_viewer_sees_hosts_appended_after_its_first_read(tmp_path: Path) -> None:
    with Store(tmp_path) as owner, Store(tmp_path, read_only=True) as viewer:
        owner.append_transcripts([("run-1", "a", b"a\n")])
        assert viewer.read_transcript("run-1", "a") == "a\n"
        assert viewer.read_transcript("run-1", "b") == ""
        owner.append_transcripts([("run-1", "b", b"b\n")])
        assert viewer.read_transcript("run-1", "b") == "b\n"


def test_the_index_reads_the_file_once_and_then_only_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(b"".join(encode_record(f"h{i}", _text(f"h{i}")) for i in range(1000)))
    index = TranscriptIndex()
    index.extend(path)
    assert len(index.spans) == 1000 and index.end == path.stat().st_size
    offset, length = index.spans["h999"]
    assert path.read_bytes()[offset:offset + length] == _text("h999")
    with path.open("ab") as handle:
        handle.write(encode_record("new", b"new\n"))
    index.extend(path)
    assert index.spans["new"][1] == 4 and index.end == path.stat().st_size


def test_pages_stay_inside_the_hosts_record(tmp_path: Path) -> None:
    text = "".join(f"line {i} é\n" for i in range(3000)).encode()
    with Store(tmp_path) as store:
        store.append_transcripts([("run-1", "before", b"x\n" * 500), ("run-1", "h", text),
                                  ("run-1", "after", b"y\n" * 500)])
        pages, offset = [], 0
        while True:
            page, offset_next, size = store.read_transcript_page("run-1", "h", offset, 1000)
            assert size == len(text) and page.endswith("\n")
            pages.append(page)
            if offset_next >= size:
                break
            offset = offset_next
        assert "".join(pages).encode() == text
        assert store.read_transcript_page("run-1", "h", len(text) + 50, 1000) == ("", len(text) + 50, len(text))
        assert store.read_transcript_page("run-1", "h", 0, 10 ** 9)[0].encode() == text


def test_a_run_stored_by_an_earlier_version_reads_from_its_per_host_files(tmp_path: Path) -> None:
    """The layout of earlier versions: transcripts/<run>/<host>.log, plain text, one file per host."""
    old = tmp_path / "transcripts" / "RN-old"
    old.mkdir(parents=True)
    (old / "web-1.log").write_bytes(b"## web-1: ssh ...\nline\n")
    text = "".join(f"l{i}\n" for i in range(400)).encode()
    (old / "db-1.log").write_bytes(text)
    with Store(tmp_path) as store:  # the store of today, on a directory an older version wrote
        assert store.read_transcript("RN-old", "web-1") == "## web-1: ssh ...\nline\n"
        assert store.read_transcript("RN-old", "missing") == ""
        first, next_offset, size = store.read_transcript_page("RN-old", "db-1", 0, 100)
        assert size == len(text) and first.endswith("\n") and text.startswith(first.encode())
        rest, end, _ = store.read_transcript_page("RN-old", "db-1", next_offset, 10_000)
        assert (first + rest).encode() == text and end == size
        # A new run beside it uses today's layout; the old run's files are left as they are.
        store.append_transcripts([("RN-new", "web-1", b"new\n")])
        assert store.read_transcript("RN-new", "web-1") == "new\n"
        assert store.read_transcript("RN-old", "web-1") == "## web-1: ssh ...\nline\n"
    assert sorted(p.name for p in (tmp_path / "transcripts").iterdir()) == ["RN-new.log", "RN-old"]


# -- the batch writer ------------------------------------------------------------------------------------------


async def test_a_flush_appends_transcripts_before_results_and_a_retry_never_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await DataStore(tmp_path).open()
    seen: list[bool] = []
    real_insert = HostResultRepository.insert_new
    failures = [OSError(errno.ENOSPC, "No space left on device")]

    def insert_new(self: HostResultRepository, results: list[dict]) -> None:
        # What is on disk when the results are written: the transcript they point at must already be.
        with Store(tmp_path, read_only=True) as viewer:
            seen.append(viewer.read_transcript("RN1", "h1") == "out\n")
        if failures:
            raise failures.pop()
        real_insert(self, results)

    monkeypatch.setattr(HostResultRepository, "insert_new", insert_new)
    try:
        store.buffer_transcript("RN1", "h1", b"out\n")
        store.buffer_result({"id": "RN1:h1", "run_id": "RN1", "task_id": "t", "host": "h1", "status": "ok"})
        assert not await store.flush()  # the results' write failed: the batch stays buffered
        assert await store.flush()
    finally:
        await store.close()
    assert seen == [True, True]
    assert (tmp_path / "transcripts" / "RN1.log").read_bytes() == encode_record("h1", b"out\n")


# -- a real kill in the middle of appends --------------------------------------------------------------------

_WRITER = """
import sys
from console.store import Store
store = Store(sys.argv[1])
step = int(sys.argv[2])
print("ready", flush=True)
while True:
    step += 1
    # Records of a few MB, so a kill often lands inside a write.
    store.append_transcripts([("RN-kill", f"h{step}", (f"{step}:" * (200_000 + step % 7 * 50_000)).encode())])
    print(f"committed {step}", flush=True)
"""


def test_sigkill_during_appends_leaves_every_finished_record_readable(tmp_path: Path) -> None:
    rng = random.Random(14)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    committed: list[int] = []
    step = 0
    for _trial in range(8):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(step)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        done = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed ")]
        committed += done
        # The next child starts after whatever this one got to (its last record may be torn).
        step = (done[-1] if done else step) + 2
        with Store(tmp_path, read_only=True) as viewer:
            for n in committed[-3:] + committed[:2]:
                text = viewer.read_transcript("RN-kill", f"h{n}")
                assert text == f"{n}:" * (200_000 + n % 7 * 50_000), f"record {n} damaged"
    assert committed
    index = TranscriptIndex()
    path = tmp_path / "transcripts" / "RN-kill.log"
    index.extend(path)
    # Every torn tail was cut off by the next writer: only the last child's may remain.
    assert {f"h{n}" for n in committed} <= set(index.spans)
    assert path.stat().st_size - index.end < 4_000_000

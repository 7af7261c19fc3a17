"""AtomicJSONStorage: atomic replace, cache, corrupt files, temp cleanup; and no stock JSONStorage used."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
import tinydb.storages
from tinydb import TinyDB

from console.errors import StoreError
from console.store import AtomicJSONStorage, Store

CONSOLE = Path(__file__).resolve().parents[2] / "console"


def test_round_trip_compact_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    storage = AtomicJSONStorage(path)
    assert storage.read() is None  # a missing file reads as empty
    assert not path.exists()
    data = {"t": {"1": {"id": "a", "name": "é"}}}
    storage.write(data)
    raw = path.read_bytes()
    assert raw == json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    assert storage.writes == 1 and storage.bytes_written == len(raw)
    assert AtomicJSONStorage(path).read() == data
    # New files are private (the data directory holds inventory and contacts).
    assert path.stat().st_mode & 0o777 == 0o600


def test_reads_come_from_memory_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    storage = AtomicJSONStorage(path)
    storage.write({"t": {"1": {"id": "a"}}})
    path.write_text('{"t": {}}')  # nobody else writes in real life; this proves there is no re-parse
    assert storage.read() == {"t": {"1": {"id": "a"}}}
    storage.drop_cache()
    assert storage.read() == {"t": {}}


def test_failed_write_keeps_old_file_and_drops_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.json"
    db = TinyDB(path, storage=AtomicJSONStorage)
    db.table("t").insert({"id": "a"})
    before = path.read_bytes()

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StoreError, match=re.escape(str(path))):
        db.table("t").insert({"id": "b"})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))  # its temp file was removed
    # TinyDB had already changed the cached dict; the next read reloads the truth from disk.
    assert [d["id"] for d in db.table("t").all()] == ["a"]
    db.table("t").insert({"id": "c"})
    assert [d["id"] for d in TinyDB(path, storage=AtomicJSONStorage).table("t").all()] == ["a", "c"]


@pytest.mark.parametrize("content", [b'{"t": {"1": {"id": "a"', b"\xff\xfe garbage", b"[1, 2]", b'{"t": 3}'])
def test_corrupt_file_raises_naming_the_path_and_is_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(content)
    storage = AtomicJSONStorage(path)
    with pytest.raises(StoreError) as info:
        storage.read()
    assert str(path) in str(info.value)
    assert path.read_bytes() == content


def test_stray_temp_files_are_removed_on_open_but_not_read_only(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    AtomicJSONStorage(path).write({"t": {}})
    stray = tmp_path / ".db.json.k1l2l3.tmp"
    stray.write_text('{"half')
    other = tmp_path / ".other.json.abc.tmp"
    other.write_text("x")
    AtomicJSONStorage(path, read_only=True)
    assert stray.exists()
    AtomicJSONStorage(path)
    assert not stray.exists()
    assert other.exists()  # only its own temp files


def test_read_only_storage_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    AtomicJSONStorage(path).write({"t": {"1": {"id": "a"}}})
    db = TinyDB(path, storage=AtomicJSONStorage, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        db.table("t").insert({"id": "b"})
    assert [d["id"] for d in db.table("t").all()] == ["a"]


def test_existing_file_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_text("{}")
    path.chmod(0o640)
    AtomicJSONStorage(path).write({"t": {}})
    assert path.stat().st_mode & 0o777 == 0o640


def test_stock_json_storage_is_not_used_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Statically: no code of the console package names it (docstrings may), and since TinyDB(path) without
    # storage= would use it too, every TinyDB(...) call passes storage=.
    tinydb_calls = 0
    for source in CONSOLE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None)
            assert name != "JSONStorage", f"{source}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "TinyDB":
                tinydb_calls += 1
                assert any(k.arg == "storage" for k in node.keywords), f"{source}:{node.lineno}"
    assert tinydb_calls >= 2  # the check looked at the real calls (main file and shards)

    # At run time: a full tour of the store with the stock storage booby-trapped.
    def trap(self: object, *args: object, **kwargs: object) -> None:
        raise AssertionError("tinydb JSONStorage was used")

    monkeypatch.setattr(tinydb.storages.JSONStorage, "__init__", trap)
    with Store(tmp_path / "data", shard_sizes={"events": 2}) as store:
        store.put_doc("tasks", {"id": "t1"})
        store.append_events([{"kind": "k", "at": "2026"} for _ in range(5)])
        for name in ("runs", "host_results", "outbox"):
            store.sharded(name).insert({"id": "x", "run_id": "r", "task_id": "t"})
            store.sharded(name).update("x", {"n": 1})
    with Store(tmp_path / "data", read_only=True) as store:
        assert len(store.query_events()) == 5

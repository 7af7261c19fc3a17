"""ShardedTable: shard boundaries, one write per touched shard, indexes rebuilt at open, ordering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.errors import NotFoundError, StoreError
from console.store import AtomicJSONStorage, ShardedTable


def _ids(docs: list[dict[str, object]]) -> list[object]:
    return [d["id"] for d in docs]


def _records_in(path: Path) -> list[str]:
    return [doc["id"] for doc in json.loads(path.read_text())["_default"].values()]


def test_insert_many_fills_the_newest_shard_then_opens_new_ones_one_write_each(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 3)
    table.insert_many([{"id": "a"}, {"id": "b"}])
    table.insert_many([{"id": c} for c in "cdefg"])
    assert table.shard_numbers == [1, 2, 3]
    assert _records_in(tmp_path / "000001.json") == ["a", "b", "c"]
    assert _records_in(tmp_path / "000002.json") == ["d", "e", "f"]
    assert _records_in(tmp_path / "000003.json") == ["g"]
    # Shard 1 was written twice (its two batches), the others once: one write per touched shard per batch.
    assert dict(table.writes_by_shard) == {1: 2, 2: 1, 3: 1}
    assert table.count() == 7
    # A full shard is not rewritten by later inserts.
    table.insert({"id": "h"})
    assert dict(table.writes_by_shard) == {1: 2, 2: 1, 3: 2}


def test_insert_many_without_copies_stores_the_same_detached_records(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 2, index_fields=("run_id",))
    docs = [{"id": f"r{i}", "run_id": "x", "packages": [{"name": "a"}]} for i in range(3)]
    assert table.insert_many(docs, copies=False) == []
    docs[0]["packages"][0]["name"] = "changed by the caller afterwards"
    assert [d["packages"] for d in table.find_by("run_id", "x")] == [[{"name": "a"}]] * 3
    assert _records_in(tmp_path / "000001.json") == ["r0", "r1"]


def test_update_in_an_old_shard_rewrites_only_that_shard(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 2, index_fields=("run_id",))
    table.insert_many([{"id": f"r{i}", "run_id": "x", "n": i} for i in range(6)])
    files = {n: tmp_path / f"{n:06d}.json" for n in (1, 2, 3)}
    before = {n: (p.stat().st_ino, p.read_bytes()) for n, p in files.items()}
    writes_before = dict(table.writes_by_shard)

    updated = table.update("r3", {"n": 99, "status": "done"})

    assert updated == {"id": "r3", "run_id": "x", "n": 99, "status": "done"}
    assert table.writes_by_shard[2] == writes_before[2] + 1
    assert table.writes_by_shard[1] == writes_before[1] and table.writes_by_shard[3] == writes_before[3]
    after = {n: (p.stat().st_ino, p.read_bytes()) for n, p in files.items()}
    assert after[1] == before[1] and after[3] == before[3]  # same inode, same bytes: untouched
    assert after[2] != before[2]
    with pytest.raises(NotFoundError):
        table.update("nope", {"n": 1})
    with pytest.raises(ValueError, match="cannot change"):
        table.update("r3", {"id": "other"})


def test_get_and_find_by_after_reopen(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 2, index_fields=("run_id",))
    table.insert_many(
        [
            {"id": "h1", "run_id": "run-b", "host": "web1"},
            {"id": "h2", "run_id": "run-a", "host": "web2"},
            {"id": "h3", "run_id": "run-b", "host": "db1"},
            {"id": "h4", "run_id": "run-a", "host": "db2"},
            {"id": "h5", "run_id": "run-b", "host": "mx1"},
        ]
    )
    table.update("h2", {"run_id": "run-b"})  # index follows an update of an indexed field
    table.close()

    reopened = ShardedTable(tmp_path, 2, index_fields=("run_id",))
    assert reopened.count() == 5
    assert reopened.get("h3") == {"id": "h3", "run_id": "run-b", "host": "db1"}
    assert reopened.get("missing") is None
    assert _ids(reopened.find_by("run_id", "run-b")) == ["h1", "h2", "h3", "h5"]
    assert _ids(reopened.find_by("run_id", "run-b", newest_first=True)) == ["h5", "h3", "h2", "h1"]
    assert _ids(reopened.find_by("run_id", "run-a")) == ["h4"]
    assert reopened.find_by("run_id", "none") == []
    with pytest.raises(ValueError, match="not an indexed field"):
        reopened.find_by("host", "web1")
    # Appending after reopen continues in the newest shard.
    reopened.insert({"id": "h6", "run_id": "run-a"})
    assert reopened.shard_numbers == [1, 2, 3]
    assert _records_in(tmp_path / "000003.json") == ["h5", "h6"]


def test_iteration_follows_insertion_order_not_id_order(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 2)
    order = ["zeta", "alpha", "mike", "bravo", "yankee"]
    for record_id in order:
        table.insert({"id": record_id, "even": len(record_id) % 2 == 0})
    assert _ids(list(table.iter_oldest())) == order
    assert _ids(list(table.iter_newest())) == order[::-1]
    assert _ids(list(table.iter_newest(lambda d: d["even"]))) == ["yankee", "mike", "zeta"]
    table.close()
    assert _ids(list(ShardedTable(tmp_path, 2).iter_oldest())) == order


def test_duplicate_ids_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 10)
    table.insert({"id": "a"})
    with pytest.raises(ValueError, match="duplicate id 'a'"):
        table.insert({"id": "a"})
    with pytest.raises(ValueError, match="duplicate id 'b'"):
        table.insert_many([{"id": "b"}, {"id": "c"}, {"id": "b"}])
    with pytest.raises(ValueError, match="string 'id'"):
        table.insert({"id": 7})
    with pytest.raises(ValueError, match="JSON"):
        table.insert_many([{"id": "d"}, {"id": "e", "bad": object()}])
    assert _ids(list(table.iter_oldest())) == ["a"]
    assert sum(table.writes_by_shard.values()) == 1


def test_returned_records_are_copies(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 10)
    doc = {"id": "a", "packages": ["openssl"]}
    stored = table.insert(doc)
    doc["packages"].append("caller-change")
    stored["packages"].append("returned-change")
    got = table.get("a")
    assert got == {"id": "a", "packages": ["openssl"]}
    assert got is not None
    got["packages"].clear()
    assert table.get("a") == {"id": "a", "packages": ["openssl"]}


def test_a_limited_scan_reads_only_the_shards_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = ShardedTable(tmp_path, 10, cached_shards=1)
    table.insert_many([{"id": f"e{i:03d}", "i": i} for i in range(100)])
    table.close()
    reopened = ShardedTable(tmp_path, 10, cached_shards=1)

    loaded: list[str] = []
    original = AtomicJSONStorage._load

    def spy(self: AtomicJSONStorage) -> object:
        loaded.append(self.path.name)
        return original(self)

    monkeypatch.setattr(AtomicJSONStorage, "_load", spy)
    first = [d["i"] for _, d in zip(range(15), reopened.iter_oldest(), strict=False)]
    assert first == list(range(15))
    assert loaded == ["000001.json", "000002.json"]  # 2 of 10 shards parsed
    loaded.clear()
    newest = [d["i"] for _, d in zip(range(5), reopened.iter_newest(), strict=False)]
    assert newest == [99, 98, 97, 96, 95]
    assert loaded == []  # the newest shard stays parsed


def test_corrupt_shard_raises_naming_it(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 2)
    table.insert_many([{"id": c} for c in "abc"])
    table.close()
    (tmp_path / "000001.json").write_text('{"_default": {"1": {"id": "a"}')
    with pytest.raises(StoreError, match="000001.json"):
        ShardedTable(tmp_path, 2)
    (tmp_path / "000001.json").write_text('{"_default": {"1": {"no_id": 1}}}')
    with pytest.raises(StoreError, match="000001.json.*no string 'id'"):
        ShardedTable(tmp_path, 2)


def test_stray_temp_files_of_a_killed_writer_are_cleaned(tmp_path: Path) -> None:
    table = ShardedTable(tmp_path, 2)
    table.insert({"id": "a"})
    table.close()
    (tmp_path / ".000001.json.abc123.tmp").write_text("{")
    (tmp_path / ".000002.json.def456.tmp").write_text("{")  # a shard whose first write never landed
    reopened = ShardedTable(tmp_path, 2)
    assert not list(tmp_path.glob("*.tmp"))
    assert _ids(list(reopened.iter_oldest())) == ["a"]


def test_read_only_table_refuses_writes_and_creates_nothing(tmp_path: Path) -> None:
    missing = ShardedTable(tmp_path / "absent", 2, read_only=True)
    assert missing.count() == 0 and list(missing.iter_newest()) == []
    assert not (tmp_path / "absent").exists()
    ShardedTable(tmp_path / "t", 2).insert({"id": "a"})
    viewer = ShardedTable(tmp_path / "t", 2, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        viewer.insert({"id": "b"})
    with pytest.raises(StoreError, match="read-only"):
        viewer.update("a", {"n": 1})
    assert viewer.get("a") == {"id": "a"}


def test_update_many_writes_each_touched_shard_once(tmp_path):
    from console.store import ShardedTable

    table = ShardedTable(tmp_path / "t", 10, index_fields=("status",))
    table.insert_many([{"id": f"r{i:02d}", "status": "queued"} for i in range(25)])
    before = dict(table.writes_by_shard)
    assert table.update_many({f"r{i:02d}": {"status": "sent"} for i in (0, 3, 11, 12, 24)}) == 5
    delta = {n: table.writes_by_shard[n] - before.get(n, 0) for n in table.writes_by_shard}
    assert delta == {1: 1, 2: 1, 3: 1}
    assert {d["id"] for d in table.find_by("status", "sent")} == {"r00", "r03", "r11", "r12", "r24"}
    table.close()
    reopened = ShardedTable(tmp_path / "t", 10, index_fields=("status",))
    assert reopened.get("r11")["status"] == "sent" and reopened.get("r10")["status"] == "queued"
    try:
        reopened.update_many({"r01": {"status": "x"}, "nope": {"status": "x"}})
    except Exception as exc:  # noqa: BLE001
        assert "nope" in str(exc)
    assert reopened.get("r01")["status"] == "queued", "nothing is written when one id is unknown"

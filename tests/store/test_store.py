"""Store: layout, schema versions and migrations, small-table helpers, events, transcripts, read-only mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

import console.store.store as store_module
from console.errors import StoreError
from console.store import MAIN_FILE_NAME, SCHEMA_VERSION, AtomicJSONStorage, Store, safe_file_name


def _set_version(data_dir: Path, version: int) -> None:
    """Rewrite the recorded schema version behind the store's back (as an old or newer release would)."""
    with TinyDB(data_dir / MAIN_FILE_NAME, storage=AtomicJSONStorage) as db:
        db.table("meta").update({"schema_version": version}, doc_ids=[1])


# -- layout and schema ---------------------------------------------------------------------------------------


def test_new_store_writes_the_schema_version_and_layout(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store(data) as store:
        assert store.schema_version == SCHEMA_VERSION == 1
        store.append_events([{"kind": "k", "at": "2026"}])
        for name in ("runs", "host_results", "outbox"):
            store.sharded(name).insert({"id": "x"})
        store.append_transcripts([("run-1", "web1", b"ok\n"), ("run-1", "db1", b"fine\n")])
    assert (data / MAIN_FILE_NAME).is_file()
    for name in ("runs", "host_results", "events", "outbox"):
        assert (data / name / "000001.json").is_file()
    # One file per run, every host's transcript in it: no directory, no file per host.
    assert [p.name for p in (data / "transcripts").iterdir()] == ["run-1.log"]
    with Store(data) as again:
        assert again.schema_version == 1


def test_default_shard_sizes_and_indexes(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert {n: store.sharded(n).shard_size for n in ("runs", "host_results", "events", "outbox")} == {
            "runs": 200,
            "host_results": 100,
            "events": 500,
            "outbox": 200,
        }
        assert store.sharded("events").index_fields == ("run_id", "task_id")
        with pytest.raises(ValueError, match="unknown sharded table"):
            store.sharded("nope")
    with pytest.raises(ValueError, match="positive"):
        Store(tmp_path, shard_sizes={"events": 0})


def test_older_store_is_migrated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(tmp_path) as store:
        store.put_doc("tasks", {"id": "t1", "cron": "0 3 * * *"})
    _set_version(tmp_path, 0)
    calls: list[int] = []

    def rename_cron(store: Store) -> None:
        calls.append(1)
        for doc in store.all_docs("tasks"):
            doc["schedule"] = {"cron": doc.pop("cron")}
            store.put_doc("tasks", doc)

    monkeypatch.setitem(store_module.MIGRATIONS, 0, rename_cron)
    with Store(tmp_path) as store:
        assert store.schema_version == 1
        assert store.get_doc("tasks", "t1") == {"id": "t1", "schedule": {"cron": "0 3 * * *"}}
    with Store(tmp_path):
        pass
    assert calls == [1]


def test_migration_chain_runs_in_order_and_resumes_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(tmp_path).close()
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 3)
    steps: list[str] = []
    fail = [True]

    def one_to_two(store: Store) -> None:
        steps.append("1->2")

    def two_to_three(store: Store) -> None:
        if fail[0]:
            raise RuntimeError("interrupted")
        steps.append("2->3")

    monkeypatch.setattr(store_module, "MIGRATIONS", {1: one_to_two, 2: two_to_three})
    with pytest.raises(RuntimeError, match="interrupted"):
        Store(tmp_path)
    fail[0] = False
    with Store(tmp_path) as store:
        assert store.schema_version == 3
    assert steps == ["1->2", "2->3"]  # step 1->2 was saved and not repeated


def test_register_migration_and_missing_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", {})
    Store(tmp_path).close()
    _set_version(tmp_path, 0)
    with pytest.raises(StoreError, match="no migration from schema 0 to 1"):
        Store(tmp_path)

    @store_module.register_migration(0)
    def noop(store: Store) -> None:
        pass

    assert {0: noop} == store_module.MIGRATIONS
    with pytest.raises(ValueError, match="already registered"):
        store_module.register_migration(0)(noop)
    with pytest.raises(StoreError, match="needs an upgrade"):
        Store(tmp_path, read_only=True)  # a viewer cannot migrate
    with Store(tmp_path) as store:
        assert store.schema_version == 1


def test_newer_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    Store(tmp_path).close()
    _set_version(tmp_path, 3)
    before = (tmp_path / MAIN_FILE_NAME).read_bytes()
    with pytest.raises(StoreError) as info:
        Store(tmp_path)
    assert "written by a newer Patchwatch (schema 3 > 1); upgrade" in str(info.value)
    assert str(tmp_path / MAIN_FILE_NAME) in str(info.value)
    assert (tmp_path / MAIN_FILE_NAME).read_bytes() == before


def test_corrupt_main_file_raises_naming_it_and_is_left_untouched(tmp_path: Path) -> None:
    main = tmp_path / MAIN_FILE_NAME
    main.write_bytes(b'{"meta": {"1": {"id": "schema", "schema_ver')
    for read_only in (False, True):
        with pytest.raises(StoreError) as info:
            Store(tmp_path, read_only=read_only)
        assert str(main) in str(info.value)
    assert main.read_bytes() == b'{"meta": {"1": {"id": "schema", "schema_ver'
    assert sorted(p.name for p in tmp_path.iterdir()) == [MAIN_FILE_NAME]


def test_foreign_tinydb_file_is_refused(tmp_path: Path) -> None:
    with TinyDB(tmp_path / MAIN_FILE_NAME, storage=AtomicJSONStorage) as db:
        db.table("other").insert({"x": 1})
    with pytest.raises(StoreError, match="no schema version"):
        Store(tmp_path)


# -- small tables ----------------------------------------------------------------------------------------


def test_small_table_helpers(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.get_doc("tasks", "t1") is None
        store.put_doc("tasks", {"id": "t1", "name": "nightly", "hosts": ["a"]})
        store.put_doc("tasks", {"id": "t2", "name": "weekly"})
        store.put_doc("tasks", {"id": "t1", "name": "renamed"})  # replace, not merge: "hosts" is gone
        assert store.get_doc("tasks", "t1") == {"id": "t1", "name": "renamed"}
        assert [d["id"] for d in store.all_docs("tasks")] == ["t1", "t2"]
        copy = store.get_doc("tasks", "t2")
        assert copy is not None
        copy["name"] = "mutated"
        assert store.get_doc("tasks", "t2") == {"id": "t2", "name": "weekly"}
        assert store.delete_doc("tasks", "t2") is True
        assert store.delete_doc("tasks", "t2") is False
        assert len(store.table("tasks")) == 1
        with pytest.raises(ValueError, match="string 'id'"):
            store.put_doc("tasks", {"name": "no id"})
        with pytest.raises(ValueError, match="meta"):
            store.table("meta")
    with Store(tmp_path) as store:
        assert store.all_docs("tasks") == [{"id": "t1", "name": "renamed"}]


# -- events ------------------------------------------------------------------------------------------------


def _ev(kind: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "at": at, **extra}


def test_append_events_assigns_seq_and_id_and_seq_continues_after_reopen(tmp_path: Path) -> None:
    original = _ev("run.started", "2026-11-01T00:00:00Z")
    with Store(tmp_path, shard_sizes={"events": 2}) as store:
        stored = store.append_events([original, _ev("run.finished", "2026-11-01T00:01:00Z")])
        assert [e["seq"] for e in stored] == [1, 2]
        assert [e["id"] for e in stored] == ["ev-000000000001", "ev-000000000002"]
        assert "seq" not in original and "id" not in original  # the caller's dicts are not changed
        store.append_events([_ev("x", "2026-11-01T00:02:00Z", id="custom")])
        with pytest.raises(ValueError, match="'at' must be a string"):
            store.append_events([{"kind": "x"}])
    with Store(tmp_path, shard_sizes={"events": 2}) as store:
        [again] = store.append_events([_ev("y", "2026-11-01T00:03:00Z")])
        assert again["seq"] == 4 and again["id"] == "ev-000000000004"
        assert [e["seq"] for e in store.query_events(newest_first=False)] == [1, 2, 3, 4]


@pytest.fixture
def event_store(tmp_path: Path) -> Store:
    store = Store(tmp_path, shard_sizes={"events": 3})
    store.append_events(
        [
            _ev("run.started", "2026-11-01T08:00:00Z", task_id="t1", run_id="r1"),
            _ev("run.host.failed", "2026-11-01T08:05:00Z", task_id="t1", run_id="r1", host="web1",
                detail="Permission denied (publickey)"),
            _ev("runner.tick", "2026-11-01T09:00:00Z"),
            _ev("run.started", "2026-11-02T08:00:00Z", task_id="t2", run_id="r2"),
            _ev("run.host.ok", "2026-11-02T08:01:00Z", task_id="t2", run_id="r2", host="web1"),
            _ev("run.finished", "2026-11-02T08:02:00Z", task_id="t2", run_id="r2"),
            _ev("task.paused", "2026-11-03T10:00:00Z", task_id="t1"),
        ]
    )
    return store


def _seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


def test_query_events_filters(event_store: Store) -> None:
    q = event_store.query_events
    assert _seqs(q()) == [7, 6, 5, 4, 3, 2, 1]
    assert _seqs(q(newest_first=False, limit=2)) == [1, 2]
    assert _seqs(q(limit=2)) == [7, 6]
    assert _seqs(q(since="2026-11-02")) == [7, 6, 5, 4]
    assert _seqs(q(until="2026-11-02")) == [3, 2, 1]  # until is exclusive
    assert _seqs(q(since="2026-11-01T08:05:00Z", until="2026-11-02T08:01:00Z")) == [4, 3, 2]
    assert _seqs(q(task_id="t1")) == [7, 2, 1]
    assert _seqs(q(run_id="r2", newest_first=False)) == [4, 5, 6]
    assert _seqs(q(run_id="r2", task_id="t1")) == []
    assert _seqs(q(host="web1")) == [5, 2]
    assert _seqs(q(kind="run.")) == [6, 5, 4, 2, 1]  # a prefix, and "runner.tick" is not under "run."
    assert _seqs(q(kind="run.started")) == [4, 1]
    assert _seqs(q(kind="run")) == []
    assert _seqs(q(text="PERMISSION denied")) == [2]
    assert _seqs(q(text="web1", kind="run.host.", since="2026-11-02")) == [5]
    assert q(limit=0) == []


def test_query_by_run_reads_only_that_runs_shards(
    event_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_store.close()
    store = Store(event_store.data_dir, shard_sizes={"events": 3})
    events = store.sharded("events")
    loaded: list[str] = []
    original = AtomicJSONStorage._load

    def spy(self: AtomicJSONStorage) -> object:
        loaded.append(self.path.name)
        return original(self)

    # Evict everything but the newest shard, then watch which files a run query parses.
    for number in list(events._open):
        if number != events.shard_numbers[-1]:
            events._open.pop(number).close()
    monkeypatch.setattr(AtomicJSONStorage, "_load", spy)
    assert _seqs(store.query_events(run_id="r1")) == [2, 1]
    assert loaded == ["000001.json"]
    store.close()


# -- transcripts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "../../etc/passwd", "..", ".", "/abs/path", "a/../../b", "", "x" * 300, "host\x00name", "é.example",
        ".hidden", "web1\nINJECTED",
    ],
)
def test_hostile_host_names_stay_inside_the_run_directory(tmp_path: Path, host: str) -> None:
    with Store(tmp_path) as store:
        # The layout of earlier versions, still read: one file per host.
        path = store.legacy_transcript_path("run-1", host)
        run_dir = (tmp_path / "transcripts" / "run-1").resolve()
        assert path.resolve().parent == run_dir
        assert path.name.endswith(".log") and not path.name.startswith(".")
        assert len(path.name.encode()) < 255
        run_dir.mkdir(parents=True)
        path.write_text("output")
        assert store.read_transcript("run-1", host) == "output"
        # Today's layout: the name travels in the record's header and comes back exactly.
        store.append_transcripts([("run-2", host, b"appended"), ("run-2", host + "-other", b"other")])
        assert store.read_transcript("run-2", host) == "appended"
    with Store(tmp_path, read_only=True) as viewer:
        assert viewer.read_transcript("run-2", host) == "appended"
        assert viewer.read_transcript("run-2", host + "-other") == "other"


def test_transcript_names(tmp_path: Path) -> None:
    assert safe_file_name("web-01.example.com") == "web-01.example.com"
    assert safe_file_name("10.0.0.1") == "10.0.0.1"
    assert safe_file_name("a/b") != safe_file_name("a_b") == "a_b"
    assert "~" in safe_file_name("a/b")
    with Store(tmp_path) as store:
        hostile_run = store.legacy_transcript_path("../../outside", "h")
        assert hostile_run.resolve().is_relative_to((tmp_path / "transcripts").resolve())
        assert store.run_transcript_file("../../outside").parent == tmp_path / "transcripts"
        assert store.read_transcript("run-9", "never-written") == ""
        store.append_transcripts([("run-2", "db1", b"ok \xff\n")])
        assert store.read_transcript("run-2", "db1") == "ok \ufffd\n"


# -- read-only -----------------------------------------------------------------------------------------------


def test_read_only_store_refuses_every_write(tmp_path: Path) -> None:
    with Store(tmp_path, shard_sizes={"events": 2}) as owner:
        owner.put_doc("tasks", {"id": "t1"})
        owner.append_events([_ev("k", "2026-11-01T00:00:00Z", run_id="r1") for _ in range(3)])
        owner.sharded("runs").insert({"id": "r1", "task_id": "t1"})
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    with Store(tmp_path, read_only=True, shard_sizes={"events": 2}) as viewer:
        writes = [
            lambda: viewer.put_doc("tasks", {"id": "t2"}),
            lambda: viewer.delete_doc("tasks", "t1"),
            lambda: viewer.table("tasks").insert({"id": "t3"}),
            lambda: viewer.append_events([_ev("k", "2026")]),
            lambda: viewer.sharded("runs").insert({"id": "r2"}),
            lambda: viewer.sharded("runs").update("r1", {"status": "x"}),
        ]
        for write in writes:
            with pytest.raises(StoreError, match="read-only"):
                write()
        # Reads work, and the failed raw-table write did not leave a phantom document behind.
        assert [d["id"] for d in viewer.all_docs("tasks")] == ["t1"]
        assert len(viewer.query_events(run_id="r1")) == 3
        assert viewer.sharded("runs").find_by("task_id", "t1")[0]["id"] == "r1"
        assert viewer.read_transcript("run-1", "web1") == ""
        with pytest.raises(StoreError, match="read-only"):
            viewer.append_transcripts([("run-1", "web1", b"x")])
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == snapshot
    assert not (tmp_path / "transcripts").exists()


def test_read_only_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no data directory"):
        Store(tmp_path / "absent", read_only=True)
    assert not (tmp_path / "absent").exists()
    with Store(tmp_path, read_only=True) as viewer:  # empty directory: nothing recorded yet, nothing written
        assert viewer.schema_version is None
        assert viewer.query_events() == []
    assert list(tmp_path.iterdir()) == []


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.put_doc("tasks", {"id": "t"})


def test_put_docs_and_delete_docs_write_the_main_file_at_most_twice(tmp_path):
    from console.store import Store

    store = Store(tmp_path)
    store.put_doc("inventory", {"id": "a", "port": 1})
    storage = store._db.storage
    before = storage.writes
    written = store.put_docs("inventory", [{"id": "a", "port": 2}] + [{"id": f"h{i}", "port": i} for i in range(500)])
    assert written == 501 and storage.writes - before == 2
    assert store.get_doc("inventory", "a") == {"id": "a", "port": 2}
    assert len(store.all_docs("inventory")) == 501
    before = storage.writes
    assert store.delete_docs("inventory", ["a", "h1", "missing"]) == 2
    assert storage.writes - before == 1
    store.close()
    reopened = Store(tmp_path)
    assert {d["id"] for d in reopened.all_docs("inventory")} == {f"h{i}" for i in range(500) if i != 1}
    reopened.close()

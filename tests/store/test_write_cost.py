"""The cost of one write does not grow with history (bytes counted, not time measured).

The same 1,000 single appends go into a sharded events table and into one plain TinyDB file; the first keeps
its bytes per write flat, the second grows about tenfold, which shows the check itself can fail.
"""

from __future__ import annotations

from pathlib import Path

from tinydb import TinyDB

from console.store import AtomicJSONStorage, Store

N = 1_000
WINDOW = 100
SHARD = 100


def _event(i: int) -> dict[str, object]:
    return {"kind": "run.host.done", "at": "2026-11-01T12:00:00Z", "run_id": "run-1", "host": f"h{i % 10}"}


def _per_write(totals: list[int]) -> tuple[float, float]:
    """Average bytes per write over the first and the last WINDOW writes, from cumulative totals."""
    first = (totals[WINDOW] - totals[0]) / WINDOW
    last = (totals[N] - totals[N - WINDOW]) / WINDOW
    return first, last


def _grows(first: float, last: float) -> bool:
    return last > first * 1.25


def test_bytes_per_append_stay_flat_when_sharded_and_grow_when_not(tmp_path: Path) -> None:
    with Store(tmp_path / "data", shard_sizes={"events": SHARD}) as store:
        events = store.sharded("events")
        sharded_totals = [events.bytes_written]
        for i in range(N):
            store.append_events([_event(i)])
            sharded_totals.append(events.bytes_written)
        assert sum(events.writes_by_shard.values()) == N  # one write per append
        assert len(events.shard_numbers) == N // SHARD

    storage_holder: list[AtomicJSONStorage] = []

    def storage(path: str) -> AtomicJSONStorage:
        storage_holder.append(AtomicJSONStorage(path))
        return storage_holder[0]

    with TinyDB(str(tmp_path / "flat.json"), storage=storage) as db:
        table = db.table("events")
        flat_totals = [storage_holder[0].bytes_written]
        for i in range(N):
            table.insert({**_event(i), "seq": i + 1, "id": f"ev-{i + 1:012d}"})
            flat_totals.append(storage_holder[0].bytes_written)
        assert storage_holder[0].writes == N

    first, last = _per_write(sharded_totals)
    assert not _grows(first, last), (first, last)
    assert 0.8 < last / first < 1.25

    flat_first, flat_last = _per_write(flat_totals)
    assert _grows(flat_first, flat_last), (flat_first, flat_last)
    assert flat_last / flat_first > 5
    # Late in the history a sharded append costs a small fraction of an unsharded one.
    assert last * 5 < flat_last

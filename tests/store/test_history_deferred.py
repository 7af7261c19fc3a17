"""The host-history index is written a few seconds behind the host results, never read behind them.

While a run goes, the engine stores a batch of results every half second; the index's month file holds the
whole fleet's month, so it is written only once the oldest waiting result is INDEX_DELAY old, when results
stop coming, before any read, and at close. Counted in whole-file writes, not timed.
"""

from __future__ import annotations

import time

import pytest

from console.store import repositories
from console.store.repositories import Repositories
from console.store.store import Store


def _results(run: str, hosts: range, day: str = "2026-12-01") -> list[dict]:
    return [{"id": f"{run}:h{i}", "run_id": run, "task_id": "T1", "host": f"h{i}", "status": "ok",
             "finished_at": f"{day}T03:15:00+00:00", "missing_count": 2} for i in hosts]


def _indexed_runs(store: Store) -> set[str]:
    _, runs = store.history("host_history").month_ids("2026-12")
    return set(runs)


@pytest.fixture
def repos(tmp_path):
    store = Store(tmp_path / "data")
    yield Repositories(store)
    store.close()


def test_batches_in_quick_succession_write_the_month_file_once_when_read(repos):
    repos.host_results.insert_new(_results("R1", range(0, 50)))
    repos.host_results.insert_new(_results("R1", range(50, 100)))
    index = repos.store.history("host_history")
    assert index.writes == 0  # both batches wait
    assert _indexed_runs(repos.store) == set()
    read = repos.host_history.index  # what every reader goes through
    assert index.writes == 1
    assert set(read.month("2026-12")) == {f"h{i}" for i in range(100)}


def test_a_batch_after_the_delay_writes_everything_waiting(repos, monkeypatch):
    monkeypatch.setattr(repositories, "INDEX_DELAY", 0.05)
    repos.host_results.insert_new(_results("R1", range(0, 10)))
    time.sleep(0.06)
    repos.host_results.insert_new(_results("R1", range(10, 20)))
    assert repos.store.history("host_history").writes == 1
    assert len(repos.store.history("host_history").month("2026-12")) == 20


def test_settling_writes_what_waits_when_results_stop(repos):
    repos.host_results.insert_new(_results("R1", range(5)))
    repos.host_results.settle_index()
    assert repos.store.history("host_history").writes == 1
    assert _indexed_runs(repos.store) == {"R1"}


def test_closing_the_store_writes_what_waits(tmp_path):
    store = Store(tmp_path / "data")
    Repositories(store).host_results.insert_new(_results("R1", range(5)))
    store.close()
    reopened = Store(tmp_path / "data", read_only=True)
    try:
        assert _indexed_runs(reopened) == {"R1"}
    finally:
        reopened.close()


def test_a_failed_index_write_keeps_the_results_waiting(repos, monkeypatch):
    repos.host_results.insert_new(_results("R1", range(5)))
    index = repos.store.history("host_history")

    def full_disk(results):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index, "apply", full_disk)
    with pytest.raises(OSError):
        index.apply_deferred()
    monkeypatch.undo()
    assert index.apply_deferred() == 5

"""``notify.after_consecutive``: notify only once a host has failed that many runs in a row (1 to 100, default 1)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from support import task_input, utc

from console.cli import main
from console.domain.task import Notify, Task, task_from_input, task_to_input
from console.errors import ValidationError

NOW = utc("2026-11-01T00:00:00+00:00")
SEED_FILE = Path(__file__).resolve().parents[2] / "data" / "examples" / "scheduled-scan-os-patches.toml"


def _task(**notify: Any) -> Task:
    rule = {"enabled": True, "scenario": "patch-duty", "roles": ["on-duty"], **notify}
    return task_from_input(task_input("flaky-hosts", "0 0 3 * * ?", notify=rule), task_id="ST1", now=NOW,
                           actor="test")


def test_the_default_is_the_first_failure() -> None:
    assert Notify().after_consecutive == 1
    assert _task().notify.after_consecutive == 1


@pytest.mark.parametrize("value", [1, 2, 100])
def test_whole_numbers_from_1_to_100_are_kept(value: int) -> None:
    assert _task(after_consecutive=value).notify.after_consecutive == value


@pytest.mark.parametrize("value", [0, 101, -1, True, False, 2.0, 2.5, "3", [3]])
def test_anything_else_names_the_field_and_the_rule(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        _task(after_consecutive=value)
    [error] = caught.value.errors
    assert error.field == "notify.after_consecutive"
    assert "whole number of runs from 1 to 100" in error.rule and repr(value) in error.rule


def test_it_round_trips_through_the_store_and_the_task_file() -> None:
    task = _task(after_consecutive=3)
    stored = task.to_dict()
    assert stored["notify"]["after_consecutive"] == 3
    assert Task.from_dict(stored) == task
    # The export (task_to_input) reads back through the same validation.
    again = task_from_input(task_to_input(task), task_id="ST1", now=NOW, actor="test")
    assert again.notify.after_consecutive == 3


def test_a_task_stored_before_the_field_existed_reads_as_1() -> None:
    stored = _task().to_dict()
    del stored["notify"]["after_consecutive"]
    assert Task.from_dict(stored).notify.after_consecutive == 1


def test_the_example_task_file_states_it() -> None:
    data = tomllib.loads(SEED_FILE.read_text())
    assert data["notify"]["after_consecutive"] == 1
    assert task_from_input(data, task_id="ST1", now=NOW, actor="test").notify.after_consecutive == 1


def test_task_show_prints_it_when_it_is_not_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SEED_FILE.read_text().replace("after_consecutive = 1 ", "after_consecutive = 3 ")
    assert "after_consecutive = 3" in text
    (tmp_path / "task.toml").write_text(text)
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "task", "add", "--file", str(tmp_path / "task.toml")]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "task", "show", "ScheduledscanOSpatches"]) == 0
    [notify] = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("notify")]
    assert notify.endswith("by email, after 3 failed runs in a row"), notify

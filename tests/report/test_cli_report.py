"""``patchwatch report coverage``: every format, the filters, and bad input exiting 2 naming the option."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.cli import main
from console.domain.coverage_render import CSV_COLUMNS
from console.sim.history import build_history

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PERIOD = ["--from", "2026-11-10", "--to", "2026-11-29"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    build_history(data_dir, hosts=60, days=40, end=END)
    return data_dir


def run(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data), "report", "coverage", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_is_the_fleet_then_one_object_per_host(data, capsys):
    code, out, _ = run(data, capsys, *PERIOD, "--format", "json")
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    head, hosts = objects[0], objects[1:]
    assert head["kind"] == "fleet" and head["hosts"] == 60 == len(hosts)
    assert head["since"].startswith("2026-11-10T00:00") and head["until"].startswith("2026-11-30T00:00")
    assert len(head["trend"]) == 20
    assert all(o["kind"] == "host" and o["host"] and o["state"] for o in hosts)
    assert sum(head["states"].values()) == 60
    assert {o["state"] for o in hosts} == {k for k, v in head["states"].items() if v}


def test_state_and_group_filters(data, capsys):
    code, out, _ = run(data, capsys, *PERIOD, "--format", "json", "--state", "scan_failed,untargeted")
    hosts = [json.loads(line) for line in out.splitlines()[1:]]
    assert code == 0 and hosts and {h["state"] for h in hosts} <= {"scan_failed", "untargeted"}
    code, out, _ = run(data, capsys, *PERIOD, "--format", "json", "--group", "web")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[0]["group"] == "web" and all("web" in h["groups"] for h in lines[1:])
    assert len(lines) - 1 == lines[0]["hosts"] == 24


def test_csv_has_the_documented_columns(data, capsys, tmp_path):
    target = tmp_path / "r.csv"
    code, _, err = run(data, capsys, *PERIOD, "--format", "csv", "--out", str(target))
    assert code == 0 and "wrote" in err
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 61
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert ", ".join(CSV_COLUMNS) in " ".join(readme.split())


def test_html_is_self_contained_and_says_how_to_regenerate(data, capsys, tmp_path):
    target = tmp_path / "r.html"
    code, _, _ = run(data, capsys, *PERIOD, "--format", "html", "--out", str(target))
    text = target.read_text()
    assert code == 0 and text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") == 3
    assert "src=" not in text and "<script" not in text and "href=" not in text
    assert "report coverage --from 2026-11-10T00:00:00+00:00 --to 2026-11-30T00:00:00+00:00" in text
    _, out, _ = run(data, capsys, *PERIOD, "--format", "json")
    coverage = json.loads(out.splitlines()[0])["coverage"]
    assert f"{coverage * 100:.1f}%" in text


def test_table_lists_figures_and_hosts(data, capsys):
    code, out, _ = run(data, capsys, *PERIOD)
    assert code == 0 and out.startswith("Coverage 2026-11-10T00:00 .. 2026-11-30T00:00 UTC")
    assert "failure episodes:" in out and "HOST" in out and "srv-0000" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-13-01"], "--from: must be a date"),
    (["--to", "yesterday"], "--to: must be a date"),
    (["--from", "2026-11-20", "--to", "2026-11-10"], "--from: must be before --to"),
    (["--since", "30d", "--from", "2026-11-01"], "--since: give either --since or --from/--to"),
    (["--since", "thirty"], "--since: must be a positive duration"),
    (["--state", "broken"], "--state: must be among"),
    (["--group", "nosuch"], "--group: no inventory group 'nosuch'"),
    (["--task", "nosuch"], "--task: no task 'nosuch'"),
])
def test_bad_input_exits_2_naming_the_option_and_the_rule(data, capsys, args, message):
    code, out, err = run(data, capsys, *args)
    assert code == 2 and message in err and out == ""

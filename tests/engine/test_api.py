"""``EngineAPI`` is the one protocol the console and the CLI speak (and, next, the socket server and client):
the engine must implement all of it, as coroutines, and everything it returns must travel as JSON."""

from __future__ import annotations

import inspect
import json
import typing
from datetime import datetime

import pytest
from support import NoIoJob, fleet, open_engine, task_input, utc

from console.clock import ManualClock
from console.domain.alarm import Alarm, Silence
from console.domain.coverage import CoverageReport
from console.domain.events import Event
from console.domain.run import HostResult, Run, TranscriptPage
from console.domain.task import Task
from console.engine import Engine
from console.engine.api import EngineAPI
from console.jobs import Target
from console.notify.outbox import OutboxRecord
from console.notify.people import Directory
from console.scan.credentials import CredentialProfile
from console.scan.hostkeys import HostKeyInfo

#: The records the API carries: each goes to JSON with to_dict and comes back with from_dict.
RECORDS = (Task, Run, HostResult, Event, TranscriptPage, Target, OutboxRecord, Directory, CredentialProfile,
           HostKeyInfo, CoverageReport, Alarm, Silence)
PLAIN = (str, int, float, bool, type(None), datetime, dict, list, tuple, set)


def api_members() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(EngineAPI).items()
            if inspect.isfunction(member) and not name.startswith("_")}


def test_the_engine_implements_every_member_as_a_coroutine_with_the_same_parameters():
    members = api_members()
    assert len(members) > 30
    for name, wanted in members.items():
        # Every argument named: a **kwargs member cannot be carried over the socket argument by argument.
        assert all(p.kind is not p.VAR_KEYWORD for p in wanted.parameters.values()), f"EngineAPI.{name} takes **"
        implemented = getattr(Engine, name, None)
        assert implemented is not None, f"Engine lacks {name}"
        assert inspect.iscoroutinefunction(inspect.unwrap(implemented)), f"Engine.{name} is not async"
        have = inspect.signature(implemented).parameters
        for parameter in wanted.parameters.values():
            assert parameter.name in have, f"Engine.{name} lacks parameter {parameter.name}"
            assert have[parameter.name].kind == parameter.kind, f"Engine.{name}({parameter.name}) differs in kind"


def _leaf_types(annotation: object) -> set[object]:
    origin = typing.get_origin(annotation)
    if origin is None:
        return {annotation}
    found: set[object] = set()
    for arg in typing.get_args(annotation):
        found |= _leaf_types(arg)
    return found | ({origin} if origin is not typing.Union else set())


def test_every_result_is_plain_data_or_a_record_with_to_dict_and_from_dict():
    import types

    hints_namespace = {**vars(typing), "EventStream": object}
    for name in api_members():
        if name == "subscribe":
            continue  # a stream of events, each one a record
        returned = typing.get_type_hints(getattr(EngineAPI, name), globalns={**vars(__import__(
            "console.engine.api", fromlist=["x"])), **hints_namespace})["return"]
        for leaf in _leaf_types(returned):
            if leaf in PLAIN or leaf is types.UnionType:
                continue
            assert leaf in RECORDS, f"EngineAPI.{name} returns {leaf}, which has no JSON form"
            assert callable(getattr(leaf, "to_dict", None)) and callable(getattr(leaf, "from_dict", None)), leaf


async def test_records_round_trip_through_json(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc("2026-11-26T00:00:00+00:00")),
                               NoIoJob(outcomes={"host-001": "network"}))
    try:
        await engine.upsert_instances(fleet(2))
        task = await engine.create_task(task_input("json", "0 0 3 * * ?"))
        run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=10)
        results = await engine.host_results(run.id)
        events = await engine.query_events(run_id=run.id)
        page = await engine.transcript_page(run.id, "host-001")
        for record in [task, run, *results, *events, page, *await engine.list_instances()]:
            again = type(record).from_dict(json.loads(json.dumps(record.to_dict())))
            assert again.to_dict() == record.to_dict(), type(record).__name__
    finally:
        await engine.close()


async def test_a_resumed_subscription_replays_what_was_missed_then_goes_live_without_duplicates(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc("2026-11-26T00:00:00+00:00")))
    try:
        first = await engine.create_task(task_input("one", "0 0 3 * * ?"))
        seen = [e.seq for e in await engine.query_events(newest_first=False)]
        stream = await engine.subscribe(after_seq=seen[0])
        await engine.create_task(task_input("two", "0 0 3 * * ?"))
        got = []
        while not stream.empty():
            got.append(stream.get_nowait())
        stream.close()
        stored = [e.seq for e in await engine.query_events(newest_first=False)]
        assert [e.seq for e in got] == stored[1:], "every event after the given seq, once, in order"
        assert got[-1].kind == "task.created" and got[-1].task_id != first.id
    finally:
        await engine.close()


async def test_a_subscriber_that_falls_behind_is_told_it_lagged_instead_of_losing_events_silently(tmp_path):
    engine = await open_engine(tmp_path, ManualClock(utc("2026-11-26T00:00:00+00:00")))
    try:
        stream = engine.broker.subscribe(capacity=3)
        for index in range(5):
            await engine.create_task(task_input(f"task-{index}", "0 0 3 * * ?"))
        lagged = stream.get_nowait()
        assert lagged.kind == "stream.lagged" and lagged.data["after_seq"] == 0
        assert stream.empty()
        await engine.create_task(task_input("after", "0 0 3 * * ?"))
        assert stream.get_nowait().kind == "task.created", "delivery goes on after the lag"
        stream.close()
    finally:
        await engine.close()


def test_the_protocol_is_what_the_console_and_the_cli_are_typed_against():
    import pathlib

    root = pathlib.Path(__file__).parents[2] / "console"
    for path in [*root.joinpath("tui").rglob("*.py"), root / "cli.py"]:
        text = path.read_text(encoding="utf-8")
        assert "engine: Any" not in text and "engine: Engine)" not in text, f"{path} is not typed against EngineAPI"


@pytest.mark.parametrize("layout", ["run-file", "per-host-file"])
async def test_a_transcript_comes_in_pages_of_whole_lines_that_add_up_to_the_file(tmp_path, layout):
    """Today's layout (one file per run) and the one earlier versions wrote (a file per host) page alike."""
    from console.store import transcript_name

    engine = await open_engine(tmp_path, ManualClock(utc("2026-11-26T00:00:00+00:00")))
    try:
        await engine.upsert_instances(fleet(1))
        task = await engine.create_task(task_input("paged", "0 0 3 * * ?"))
        run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=10)
        text = "".join(f"line {i} é\n" for i in range(5000))
        if layout == "run-file":
            # Between two other hosts' records: page offsets count from the start of this host's transcript.
            engine.store.buffer_transcript(run.id, "host-x", b"before\n" * 100)
            engine.store.buffer_transcript(run.id, "host-000", text.encode())
            engine.store.buffer_transcript(run.id, "host-y", b"after\n" * 100)
            await engine.store.flush()
        else:
            run_dir = engine.store.data_dir / "transcripts" / run.id
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / transcript_name("host-000")).write_text(text, encoding="utf-8")
        pages, offset = [], 0
        while True:
            page = await engine.transcript_page(run.id, "host-000", offset=offset, limit=4096)
            assert page.text.endswith("\n"), "a page never splits a line"
            pages.append(page.text)
            if page.at_end:
                break
            offset = page.next_offset
        assert len(pages) > 10 and "".join(pages) == text
        missing = await engine.transcript_page(run.id, "no-such-host")
        assert missing.text == "" and missing.at_end
    finally:
        await engine.close()

"""The ``apprise`` mode: a notice to every apprise URL of a person, through a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import task_input, utc

from console.clock import SystemClock
from console.domain.task import KNOWN_MODES, task_from_input
from console.engine import Engine
from console.errors import ValidationError
from console.notify.channels import Channels, parse_channels, write_channels_file
from console.notify.delivery import deliver
from console.notify.notice import Notice, NoticeKind
from console.notify.people import Person, parse_people_toml

TOKEN = "4242424242:AAFakeTelegramBotTokenZZ9"
NOTICE = Notice(kind=NoticeKind.TEST, task_name="apprise-mode", task_id="-", at="2026-11-26T10:00:00+00:00",
                timezone="UTC", detail="requested by the test")


class Hook:
    """An HTTP server on 127.0.0.1 recording every POST; paths starting ``/refuse`` answer 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.posts.append((self.path, json.loads(body or b"{}")))
                self.send_response(500 if self.path.startswith("/refuse") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.posts]


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _people(*urls: str, modes: str = "") -> str:
    listed = ", ".join(json.dumps(u) for u in urls)
    return (f'[[person]]\nname = "alice"\nemail = "alice@example.com"\napprise = [{listed}]\n{modes}\n'
            '[[scenario]]\nname = "patch-duty"\n[[scenario.role]]\nname = "on-duty"\nrotation = "fixed"\n'
            'people = ["alice"]\n')


async def _engine(tmp_path: Path) -> Engine:
    # A channels file with only email: the apprise mode needs no section of its own.
    path = write_channels_file(tmp_path / "channels.toml",
                               '[email]\nurl = "mailto://ops:pw@127.0.0.1:2525?from=pw@example.com"\n')
    engine = Engine(tmp_path / "data", clock=SystemClock(), channels_path=path)
    await engine.open()
    return engine


# ------------------------------------------------------------------------------------------- end to end


async def test_a_test_notice_reaches_the_persons_apprise_url(tmp_path: Path, hook: Hook) -> None:
    engine = await _engine(tmp_path)
    try:
        await engine.import_people(_people(hook.url("/hook")))
        record = await engine.notify_test("apprise", "alice")
        assert (record.status.value, record.error) == ("sent", None)
        assert record.target == "json://***"
        [(path, body)] = hook.posts
        assert path == "/hook" and "notification test" in body["message"] and "requested by" in body["message"]
    finally:
        await engine.close()


async def test_a_refusal_is_reported_as_failed_not_sent(tmp_path: Path, hook: Hook) -> None:
    engine = await _engine(tmp_path)
    try:
        await engine.import_people(_people(hook.url("/refuse")))
        record = await engine.notify_test("apprise", "alice")
        assert record.status.value == "failed"
        assert "500" in (record.error or "") and "json://***" in (record.error or "")
        assert hook.paths() == ["/refuse"]
        [event] = await engine.query_events(kind="notification.failed")
        assert event.data["notification"] == record.id
    finally:
        await engine.close()


# ------------------------------------------------------------------------------------------- several URLs


async def test_every_url_gets_the_notice_and_all_must_accept(hook: Hook) -> None:
    channels = Channels({})
    both = channels.target("apprise", Person("alice", apprise=(hook.url("/a"), hook.url("/b"))))
    assert both is not None and both.masked == "json://***, json://***"
    result = await deliver(both, NOTICE, timeout=5)
    assert result.ok and result.status == "sent", result
    assert hook.paths() == ["/a", "/b"]

    one_refuses = channels.target("apprise", Person("alice", apprise=(hook.url("/a"), hook.url("/refuse"))))
    assert one_refuses is not None
    result = await deliver(one_refuses, NOTICE, timeout=5)
    assert (result.ok, result.status) == (False, "failed")
    # The accepting URL still got it; the verdict names the refusing one, by scheme only.
    assert hook.paths() == ["/a", "/b", "/a", "/refuse"]
    assert result.error is not None and result.error.startswith("1 of 2 apprise URLs did not accept the notice")
    assert "#2 json://***" in result.error and "500" in result.error


async def test_a_url_apprise_rejects_fails_the_send_without_showing_it() -> None:
    target = Channels({}).target("apprise", Person("alice", apprise=(f"nosuchservice://{TOKEN}",)))
    assert target is not None
    result = await deliver(target, NOTICE, timeout=2)
    assert (result.ok, result.status) == (False, "failed")
    assert TOKEN not in (result.error or "") and TOKEN not in result.target


# ------------------------------------------------------------------------------------------- targets


def test_the_target_is_the_persons_urls_without_any_channel_section() -> None:
    channels = parse_channels({})
    assert "apprise" in channels.modes() and channels.channel("apprise") is not None
    assert channels.target("apprise", Person("bob")) is None  # no URLs: the mode does not reach him
    target = channels.target("apprise", Person("alice", apprise=(f"tgram://{TOKEN}/12345",)))
    assert target is not None and target.kind == "apprise" and target.urls == (f"tgram://{TOKEN}/12345",)
    # Never the token, not even apprise's privacy form (which keeps its first and last characters).
    for shown in (target.masked, repr(target), str(target)):
        assert TOKEN not in shown and "4...9" not in shown
    assert target.masked == "tgram://***"
    assert TOKEN in target.secrets  # so error texts and log records are masked too


def test_a_channel_named_apprise_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_channels({"other": {"apprise": {"url": "json://127.0.0.1/x"}}})
    assert [e.field for e in caught.value.errors] == ["other.apprise"]


# ------------------------------------------------------------------------------------------- as a mode


def test_tasks_and_people_may_name_the_apprise_mode() -> None:
    assert "apprise" in KNOWN_MODES
    task = task_from_input(task_input("apprise-task", "0 0 3 * * ?",
                                      notify={"enabled": True, "people": ["alice"], "modes": ["apprise"]}),
                           task_id="ST1", now=utc("2026-11-01T00:00:00+00:00"), actor="t")
    assert task.notify.modes == ("apprise",)
    directory = parse_people_toml(_people("json://127.0.0.1/x", modes='modes = ["apprise", "email"]'))
    assert directory.people["alice"].modes == ("apprise", "email")


def test_a_person_preferring_apprise_needs_apprise_urls() -> None:
    text = '[[person]]\nname = "bob"\nemail = "bob@example.com"\nmodes = ["apprise"]\n'
    with pytest.raises(ValidationError) as caught:
        parse_people_toml(text)
    [error] = caught.value.errors
    assert error.field == "person[0].modes[0]" and "apprise" in error.rule


async def test_an_alarm_reaches_an_apprise_only_team_without_a_channels_file(tmp_path: Path, hook: Hook) -> None:
    """A team whose only channel is each person's own apprise URLs needs no channels file at all."""
    from support import NoIoJob, fleet

    engine = Engine(tmp_path / "data", clock=SystemClock(), channels_path=tmp_path / "absent.toml",
                    jobs={"Scan_OS_Patch": NoIoJob(outcomes={"host-000": "network"})},
                    notify_options={"coalesce": 0.05})
    await engine.open()
    try:
        await engine.import_people(_people(hook.url("/hook"), modes='modes = ["apprise"]'))
        await engine.upsert_instances(fleet(1, "all"))
        task = await engine.create_task(task_input("apprised", "0 0 3 * * ?", notify={
            "enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
            "modes": ["apprise"]}))
        run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
        for _ in range(100):
            records = await engine.list_notifications(run_id=run.id)
            if records and all(r.status.value == "sent" for r in records):
                break
            await asyncio.sleep(0.05)
        assert [(r.kind, r.mode, r.status.value) for r in records] == [("execution_failed", "apprise", "sent")]
        assert hook.paths() == ["/hook"]
    finally:
        await engine.close()

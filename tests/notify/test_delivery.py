"""Delivery through apprise to real servers on loopback: what arrives, what is reported, what never leaks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from apprise import Apprise

from console.notify.channels import Channels, DeliveryTarget, parse_channels
from console.notify.delivery import DeliveryResult, deliver, describe_request_error, mask, one_line
from console.notify.notice import FailedHost, Notice, NoticeKind
from console.notify.people import Person
from console.notify.render import render_email, render_markdown, render_plain, render_sms
from console.sim.sinks import MailSink, RobotSink

DING_SECRET = "SECdingSecret4242"
DING_TOKEN = "dingAccessTok7373"
WECOM_KEY = "wecomBotKey5151"
MAIL_USER, MAIL_PASS = "ops", "MailPass8080zz"
SECRETS = (DING_SECRET, DING_TOKEN, WECOM_KEY, MAIL_PASS)

ALICE = Person("alice", email="alice+ops@example.com", mobile="+8613800000001", wecom="alice.w")
BOB = Person("bob", email="bob@example.com", mobile="+8613900000002", dingtalk="bob-ding", wecom="bob.w")

NOTICE = Notice(
    kind=NoticeKind.EXECUTION_FAILED, task_name="ScheduledscanOSpatches", task_id="ST01JDELIVERYTEST",
    at="2026-11-26T10:00:00+00:00", timezone="Asia/Shanghai", run_id="RN01JDELIVERY", run_state="running",
    failed=2, total=5, categories={"network": 1, "permission": 1},
    first_failed=(FailedHost("web-01", "network", "connection refused"),
                  FailedHost("db-02", "permission", "sudo: a password is required")),
    logs_command="patchwatch runs logs RN01JDELIVERY")
FIELDS = ("ScheduledscanOSpatches", "ST01JDELIVERYTEST", "RN01JDELIVERY", "web-01", "db-02", "network",
          "permission", "patchwatch runs logs RN01JDELIVERY")


@pytest.fixture
async def robot() -> AsyncIterator[RobotSink]:
    sink = await RobotSink(dingtalk_secret=DING_SECRET, dingtalk_token=DING_TOKEN, wecom_key=WECOM_KEY).start()
    yield sink
    await sink.stop()


@pytest.fixture
async def mail() -> AsyncIterator[MailSink]:
    sink = await MailSink(auth=(MAIL_USER, MAIL_PASS)).start()
    yield sink
    await sink.stop()


@pytest.fixture
def channels(robot: RobotSink, mail: MailSink) -> Channels:
    return parse_channels({
        "email": {"url": mail.url("patchwatch@example.com")},
        "dingtalk": {"url": f"dingtalk://{DING_SECRET}@{DING_TOKEN}", "endpoint": robot.url("dingtalk")},
        "wecom": {"url": f"wecombot://{WECOM_KEY}", "endpoint": robot.url("wecom")},
    })


def _target(channels: Channels, mode: str, person: Person = ALICE) -> DeliveryTarget:
    target = channels.target(mode, person)
    assert target is not None
    return target


def _assert_clean(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"secret {secret!r} leaked into {text!r}"


# ------------------------------------------------------------------------------------------------ email


async def test_email_arrives_with_subject_text_and_html(channels: Channels, mail: MailSink) -> None:
    result = await deliver(_target(channels, "email"), NOTICE, timeout=5)
    assert result == DeliveryResult(ok=True, status="sent", error=None, target=_target(channels, "email").masked)
    (got,) = await mail.wait_for(1)
    subject, text, html = render_email(NOTICE)
    assert got.subject == subject
    assert got.message["To"] == "alice+ops@example.com"
    assert got.rcpt_tos == ("alice+ops@example.com",)
    assert got.message["From"] == "patchwatch@example.com" and got.mail_from == "patchwatch@example.com"
    assert got.message.get_content_type() == "multipart/alternative"
    plain, rich = got.part("text/plain"), got.part("text/html")
    assert plain is not None and rich is not None
    assert plain.replace("\r\n", "\n").strip() == text.strip()  # the renderer's text, not one derived from HTML
    for value in FIELDS:
        assert value in plain and value in rich, value
    assert "<table" in rich


async def test_email_to_a_second_recipient_is_its_own_message(channels: Channels, mail: MailSink) -> None:
    first, second = await asyncio.gather(deliver(_target(channels, "email", ALICE), NOTICE, timeout=5),
                                         deliver(_target(channels, "email", BOB), NOTICE, timeout=5))
    assert first.ok and second.ok
    received = await mail.wait_for(2)
    assert sorted(m.message["To"] for m in received) == ["alice+ops@example.com", "bob@example.com"]
    assert sorted(m.rcpt_tos for m in received) == [("alice+ops@example.com",), ("bob@example.com",)]


async def test_mail_down_then_up_on_the_same_port(channels: Channels, mail: MailSink) -> None:
    target = _target(channels, "email")
    port = mail.port
    await mail.down()
    down = await deliver(target, NOTICE, timeout=5)
    assert (down.ok, down.status) == (False, "failed")
    assert "Connection refused" in (down.error or "") and "\n" not in (down.error or "")
    await mail.up()
    assert mail.port == port
    up = await deliver(target, NOTICE, timeout=5)
    assert up.ok, up
    assert len(await mail.wait_for(1)) == 1


async def test_smtp_authentication_failure_is_reported_without_the_password(mail: MailSink) -> None:
    wrong = parse_channels({"email": {"url": f"mailto://{MAIL_USER}:WrongPass0000@127.0.0.1:{mail.port}"
                                             "?from=patchwatch@example.com"}})
    result = await deliver(_target(wrong, "email"), NOTICE, timeout=5)
    assert (result.ok, result.status) == (False, "failed")
    assert "535" in (result.error or "")
    assert "WrongPass0000" not in repr(result)
    assert mail.messages == []


# ------------------------------------------------------------------------------------------------ DingTalk


async def test_dingtalk_markdown_signed_and_mentioning_by_mobile(channels: Channels, robot: RobotSink) -> None:
    result = await deliver(_target(channels, "dingtalk"), NOTICE, timeout=5)
    assert result.ok and result.status == "sent", result
    (request,) = robot.received("dingtalk")
    assert request.answer == "ok"  # the sink verified token and signature
    body = request.body
    title, markdown = render_markdown(NOTICE)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == title
    assert body["markdown"]["text"].startswith(markdown.rstrip())
    for value in FIELDS:
        assert value in body["markdown"]["text"], value
    assert body["at"] == {"atMobiles": ["8613800000001"], "isAtAll": False}
    assert "@8613800000001" in body["markdown"]["text"]  # DingTalk shows the mention only when the text names it
    # the signature, checked independently of the sink: base64(HMAC-SHA256(secret, "timestamp\nsecret"))
    timestamp = request.query["timestamp"]
    digest = hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    assert request.query["sign"] == base64.b64encode(digest).decode()
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    assert request.query["access_token"] == DING_TOKEN


async def test_dingtalk_mentions_a_user_id_by_at_user_ids(channels: Channels, robot: RobotSink) -> None:
    assert (await deliver(_target(channels, "dingtalk", BOB), NOTICE, timeout=5)).ok
    (request,) = robot.received("dingtalk")
    assert request.body["at"] == {"atMobiles": [], "isAtAll": False, "atUserIds": ["bob-ding"]}
    assert "@bob-ding" in request.body["markdown"]["text"]


async def test_dingtalk_without_secret_sends_unsigned(robot: RobotSink) -> None:
    robot.dingtalk_secret = None
    plain = parse_channels({"dingtalk": {"url": f"dingtalk://{DING_TOKEN}", "endpoint": robot.url("dingtalk")}})
    assert (await deliver(_target(plain, "dingtalk"), NOTICE, timeout=5)).ok
    assert set(robot.received("dingtalk")[0].query) == {"access_token"}


async def test_dingtalk_wrong_signing_secret_is_a_failure(robot: RobotSink) -> None:
    wrong = parse_channels({"dingtalk": {"url": f"dingtalk://SECotherSecret11@{DING_TOKEN}",
                                         "endpoint": robot.url("dingtalk")}})
    result = await deliver(_target(wrong, "dingtalk"), NOTICE, timeout=5)
    assert (result.ok, result.status) == (False, "failed")
    assert result.error == "DingTalk refused the message: errcode 310000: sign not match"


async def test_stock_apprise_calls_a_dingtalk_refusal_a_success(robot: RobotSink,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the checked plugin exists: apprise's DingTalk plugin reads only the HTTP status."""
    from apprise.plugins.dingtalk import NotifyDingTalk

    monkeypatch.setattr(NotifyDingTalk, "notify_url", robot.url("dingtalk") + "?access_token={token}")
    robot.set_behaviour("dingtalk", "errcode")
    stock = Apprise()
    stock.add(f"dingtalk://{DING_SECRET}@{DING_TOKEN}")
    assert bool(await stock.async_notify(body="hello", title="t"))  # reported as sent...
    assert robot.requests[-1].answer in ("errcode", "sign not match")  # ...but refused by the robot


# ------------------------------------------------------------------------------------------------ WeCom


async def test_wecom_markdown_mentions_in_the_text(channels: Channels, robot: RobotSink) -> None:
    result = await deliver(_target(channels, "wecom"), NOTICE, timeout=5)
    assert result.ok, result
    (request,) = robot.received("wecom")
    assert request.query == {"key": WECOM_KEY} and request.answer == "ok"
    assert request.body["msgtype"] == "markdown"
    content = request.body["markdown"]["content"]
    for value in FIELDS:
        assert value in content, value
    assert content.rstrip().endswith("<@alice.w>")


# ------------------------------------------------------------------------------------------------ failures


@pytest.mark.parametrize(("mode", "expected"), [
    ("dingtalk", "DingTalk refused the message: errcode 310000: keywords not in content"),
    ("wecom", "WeCom refused the message: errcode 93000: invalid webhook url"),
])
async def test_errcode_with_http_200_is_a_failure(channels: Channels, robot: RobotSink, mode: str,
                                                  expected: str) -> None:
    robot.set_behaviour(mode, "errcode")
    result = await deliver(_target(channels, mode), NOTICE, timeout=5)
    assert result == DeliveryResult(ok=False, status="failed", error=expected, target=_target(channels, mode).masked)


@pytest.mark.parametrize("mode", ["dingtalk", "wecom"])
async def test_http_500_is_a_failure(channels: Channels, robot: RobotSink, mode: str) -> None:
    robot.set_behaviour(mode, "http500")
    result = await deliver(_target(channels, mode), NOTICE, timeout=5)
    assert (result.ok, result.status) == (False, "failed")
    assert "HTTP 500" in (result.error or "")


@pytest.mark.parametrize("mode", ["dingtalk", "wecom"])
async def test_a_robot_that_never_answers_is_a_timeout_within_the_bound(channels: Channels, robot: RobotSink,
                                                                      mode: str) -> None:
    robot.set_behaviour(mode, "timeout")
    started = time.monotonic()
    result = await deliver(_target(channels, mode), NOTICE, timeout=1.0)
    elapsed = time.monotonic() - started
    assert (result.ok, result.status) == (False, "timeout"), result
    assert 0.9 <= elapsed < 2.5
    assert result.error and "1 s" in result.error


async def test_the_event_loop_keeps_running_during_a_slow_send(channels: Channels, robot: RobotSink) -> None:
    robot.set_behaviour("dingtalk", "timeout")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await deliver(_target(channels, "dingtalk"), NOTICE, timeout=1.0)
    finally:
        task.cancel()
    assert ticks >= 10  # the blocking HTTP call ran in a thread


async def test_connection_refused_is_a_failure(channels: Channels, robot: RobotSink) -> None:
    target = _target(channels, "dingtalk")
    await robot.stop()
    result = await deliver(target, NOTICE, timeout=2)
    assert (result.ok, result.status) == (False, "failed")
    assert result.error == "DingTalk unreachable: [Errno 111] Connection refused"


async def test_sms_renders_the_short_text_and_fills_the_mobile(robot: RobotSink) -> None:
    # SMSEagle is a self-hosted SMS gateway apprise supports; the sink has no such API and answers 404.
    sms = parse_channels({"sms": {"url": f"smseagle://{WECOM_KEY}@127.0.0.1:{robot.port}/{{mobile}}"}})
    result = await deliver(_target(sms, "sms"), NOTICE, timeout=5)
    assert (result.ok, result.status) == (False, "failed")
    assert "404" in (result.error or "") and WECOM_KEY not in (result.error or "")
    (request,) = robot.requests
    assert render_sms(NOTICE) in request.raw_body.decode()
    assert "8613800000001" in request.raw_body.decode()


async def test_other_modes_send_the_plain_rendering(robot: RobotSink) -> None:
    # apprise's generic JSON webhook, addressed by a placeholder, to the sink (which records any path).
    other = parse_channels({"other": {"hook": {"url": f"json://127.0.0.1:{robot.port}/robot/send?-to={{mobile}}"}}})
    result = await deliver(_target(other, "hook"), NOTICE, timeout=5)
    assert result.ok, result
    (request,) = robot.requests
    title, body = render_plain(NOTICE)
    assert (request.path, request.query) == ("/robot/send", {"to": "+8613800000001"})
    assert (request.body["title"], request.body["message"].strip()) == (title, body.strip())


# ------------------------------------------------------------------------------------------------ throttle


async def test_no_throttle_twenty_sends_well_under_five_seconds(channels: Channels, robot: RobotSink,
                                                                mail: MailSink) -> None:
    # apprise would hold each plugin instance ~5.5 s between sends: 20 sends would take 100 s or more.
    started = time.monotonic()
    for index in range(20):
        mode = ("dingtalk", "wecom", "email")[index % 3]
        result = await deliver(_target(channels, mode), NOTICE, timeout=5)
        assert result.ok, result
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"20 sends took {elapsed:.1f} s"
    assert len(robot.requests) == 14 and len(await mail.wait_for(6)) == 6


# ------------------------------------------------------------------------------------------------ secrets


async def test_secrets_never_appear_in_results_reprs_or_log_records(channels: Channels, robot: RobotSink,
                                                                     mail: MailSink,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    results: list[DeliveryResult] = []
    targets = [_target(channels, mode) for mode in ("email", "dingtalk", "wecom")]
    for behaviour in ("ok", "errcode", "http500", "timeout"):
        robot.set_behaviour("dingtalk", behaviour)
        robot.set_behaviour("wecom", behaviour)
        for target in targets[1:]:
            results.append(await deliver(target, NOTICE, timeout=0.5))
    results.append(await deliver(targets[0], NOTICE, timeout=5))
    await mail.down()
    results.append(await deliver(targets[0], NOTICE, timeout=5))
    await robot.stop()
    for target in targets[1:]:
        results.append(await deliver(target, NOTICE, timeout=1))
    # a target whose endpoint echoes nothing useful: an unreachable port, with the secret in the URL
    dead = replace(targets[1], endpoint="http://127.0.0.1:9/robot/send")
    results.append(await deliver(dead, NOTICE, timeout=1))

    assert {r.status for r in results} == {"sent", "failed", "timeout"}
    assert any("access_token" in r.getMessage() for r in caplog.records)  # urllib3 did log the request line...
    _assert_clean(*results, *(r.error for r in results), *(r.target for r in results), *targets)
    _assert_clean(*(r.getMessage() for r in caplog.records), caplog.text)  # ...with the token masked


async def test_a_bad_target_url_is_a_failure_not_an_exception() -> None:
    target = DeliveryTarget(mode="dingtalk", url="dingtalk://bad!token", masked="dingtalk://…", kind="dingtalk",
                            secrets=("bad!token",))
    result = await deliver(target, NOTICE, timeout=1)
    assert (result.ok, result.status) == (False, "failed")
    assert "bad!token" not in (result.error or "")


def test_helpers_keep_errors_short_and_masked() -> None:
    assert mask("token=abcdef&x", ["abcdef"]) == "token=****&x"
    assert one_line("a\nb\tc  abcdef", ["abcdef"]) == "a b c ****"
    assert len(one_line("x" * 1000)) <= 300
    error = ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
                            "/robot/send?access_token=SECRET (Caused by NewConnectionError('<urllib3...>: Failed "
                            "to establish a new connection: [Errno 111] Connection refused'))")
    assert describe_request_error(error) == "[Errno 111] Connection refused"

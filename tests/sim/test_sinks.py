"""The notification sinks answer like the real services, over real sockets on loopback.

Talked to with plain smtplib and urllib (not apprise), so a sink bug cannot hide behind the code under test.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import pytest

from console.sim.sinks import MailSink, RobotSink, dingtalk_sign


def _send_mail(port: int, to: str, *, auth: tuple[str, str] | None = None, subject: str = "hello") -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "pw@example.com", to, subject
    message.set_content("plain body")
    message.add_alternative("<p>html body</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        if auth:
            smtp.login(*auth)
        smtp.send_message(message)


def _post(url: str, body: dict[str, Any] | None, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def _apost(url: str, body: dict[str, Any] | None, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(_post, url, body, timeout)


MARKDOWN = {"msgtype": "markdown", "markdown": {"title": "t", "text": "# hello"}}


@pytest.fixture
async def mail() -> AsyncIterator[MailSink]:
    sink = await MailSink().start()
    yield sink
    await sink.stop()


@pytest.fixture
async def robot() -> AsyncIterator[RobotSink]:
    sink = await RobotSink().start()
    yield sink
    await sink.stop()


# ------------------------------------------------------------------------------------------------------- mail


async def test_mail_sink_keeps_envelope_and_parsed_message(mail: MailSink) -> None:
    assert mail.port > 0 and mail.is_up
    await asyncio.to_thread(_send_mail, mail.port, "alice@example.com", subject="first")
    received = await mail.wait_for(1, timeout=5)
    assert len(received) == 1
    got = received[0]
    assert got.mail_from == "pw@example.com"
    assert got.rcpt_tos == ("alice@example.com",)
    assert got.subject == "first"
    assert got.message["To"] == "alice@example.com"
    assert got.part("text/plain").strip() == "plain body"
    assert got.part("text/html").strip() == "<p>html body</p>"
    assert got.received_at.tzinfo is not None


async def test_mail_wait_for_times_out_with_a_clear_message(mail: MailSink) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="1 message"):
        await mail.wait_for(1, timeout=0.2)
    assert time.monotonic() - started < 2


async def test_mail_down_refuses_and_up_serves_the_same_port(mail: MailSink) -> None:
    port = mail.port
    await mail.down()
    assert not mail.is_up
    with pytest.raises(ConnectionRefusedError):
        await asyncio.to_thread(_send_mail, port, "alice@example.com")
    await mail.up()
    assert mail.port == port and mail.is_up
    await asyncio.to_thread(_send_mail, port, "alice@example.com", subject="after the outage")
    assert [m.subject for m in await mail.wait_for(1)] == ["after the outage"]


async def test_mail_sink_with_auth_accepts_good_and_refuses_bad_credentials() -> None:
    sink = await MailSink(auth=("ops", "s3cret-pass")).start()
    try:
        await asyncio.to_thread(_send_mail, sink.port, "a@example.com", auth=("ops", "s3cret-pass"))
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            await asyncio.to_thread(_send_mail, sink.port, "a@example.com", auth=("ops", "wrong"))
        assert refused.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused):  # no AUTH at all: "530 Authentication required"
            await asyncio.to_thread(_send_mail, sink.port, "a@example.com")
        assert len(await sink.wait_for(1)) == 1
        assert sink.url("pw@example.com") == f"mailto://ops:s3cret-pass@127.0.0.1:{sink.port}?from=pw@example.com"
    finally:
        await sink.stop()


# ------------------------------------------------------------------------------------------------------ robots


async def test_robot_ok_answers_and_records_both_services(robot: RobotSink) -> None:
    assert robot.url("dingtalk") == f"http://127.0.0.1:{robot.port}/robot/send"
    assert robot.url("wecom") == f"http://127.0.0.1:{robot.port}/cgi-bin/webhook/send"
    status, body = await _apost(robot.url("dingtalk") + "?access_token=TOKEN", MARKDOWN)
    assert (status, body) == (200, {"errcode": 0, "errmsg": "ok"})
    status, body = await _apost(robot.url("wecom") + "?key=KEY",
                                {"msgtype": "markdown", "markdown": {"content": "hi <@alice>"}})
    assert (status, body) == (200, {"errcode": 0, "errmsg": "ok"})
    ding, wecom = robot.requests
    assert (ding.service, ding.method, ding.path, ding.query) == ("dingtalk", "POST", "/robot/send",
                                                                   {"access_token": "TOKEN"})
    assert ding.body == MARKDOWN and ding.text() == "# hello" and ding.answer == "ok"
    assert (wecom.service, wecom.query, wecom.text()) == ("wecom", {"key": "KEY"}, "hi <@alice>")
    assert await robot.wait_for(1, service="wecom") == [wecom]


@pytest.mark.parametrize(("service", "errcode", "errmsg"), [
    ("dingtalk", 310000, "keywords not in content"),
    ("wecom", 93000, "invalid webhook url"),
])
async def test_robot_errcode_is_http_200_with_the_service_error(robot: RobotSink, service: str, errcode: int,
                                                                errmsg: str) -> None:
    robot.set_behaviour(service, "errcode")
    status, body = await _apost(robot.url(service) + "?key=K&access_token=T", MARKDOWN)
    assert (status, body) == (200, {"errcode": errcode, "errmsg": errmsg})
    # the other service is unaffected
    other = "wecom" if service == "dingtalk" else "dingtalk"
    assert (await _apost(robot.url(other) + "?key=K&access_token=T", MARKDOWN))[1]["errcode"] == 0


async def test_robot_http500(robot: RobotSink) -> None:
    robot.set_behaviour("dingtalk", "http500")
    status, _ = await _apost(robot.url("dingtalk") + "?access_token=T", MARKDOWN)
    assert status == 500
    assert robot.requests[-1].answer == "http500"


async def test_robot_timeout_accepts_and_never_answers(robot: RobotSink) -> None:
    robot.set_behaviour("wecom", "timeout")
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        await _apost(robot.url("wecom") + "?key=K", MARKDOWN, timeout=0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert robot.requests[-1].answer == "timeout"  # the request was read and recorded


async def test_robot_stop_releases_connections_held_by_timeout() -> None:
    sink = await RobotSink().start()
    sink.set_behaviour("dingtalk", "timeout")
    pending = asyncio.ensure_future(_apost(sink.url("dingtalk") + "?access_token=T", MARKDOWN, timeout=30))
    await sink.wait_for(1)
    started = time.monotonic()
    await sink.stop()
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        await pending
    assert time.monotonic() - started < 3


async def test_robot_checks_the_dingtalk_signature() -> None:
    secret = "SECabc123"
    sink = await RobotSink(dingtalk_secret=secret).start()
    try:
        timestamp = str(int(time.time() * 1000))
        sign = quote(dingtalk_sign(secret, timestamp), safe="")
        good = f"{sink.url('dingtalk')}?access_token=T&timestamp={timestamp}&sign={sign}"
        assert (await _apost(good, MARKDOWN))[1] == {"errcode": 0, "errmsg": "ok"}

        bad = f"{sink.url('dingtalk')}?access_token=T&timestamp={timestamp}&sign={quote(sign, safe='')}"
        assert (await _apost(bad, MARKDOWN))[1] == {"errcode": 310000, "errmsg": "sign not match"}
        unsigned = f"{sink.url('dingtalk')}?access_token=T"
        assert (await _apost(unsigned, MARKDOWN))[1]["errmsg"] == "sign not match"
        stale = str(int(time.time() * 1000) - 2 * 3600 * 1000)
        old = f"{sink.url('dingtalk')}?access_token=T&timestamp={stale}&sign={quote(dingtalk_sign(secret, stale))}"
        assert (await _apost(old, MARKDOWN))[1]["errmsg"] == "sign not match"
        assert [r.answer for r in sink.requests] == ["ok", "sign not match", "sign not match", "sign not match"]
    finally:
        await sink.stop()


async def test_robot_rejects_unknown_paths_and_bad_behaviours(robot: RobotSink) -> None:
    status, _ = await _apost(f"http://127.0.0.1:{robot.port}/nope", MARKDOWN)
    assert status == 404
    with pytest.raises(ValueError, match="behaviour"):
        robot.set_behaviour("dingtalk", "sometimes")
    with pytest.raises(ValueError, match="service"):
        robot.url("slack")

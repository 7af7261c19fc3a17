"""Notification sinks: real servers on loopback that receive what Patchwatch sends.

The test suite and the product's demo deliver notices for real (through apprise, over SMTP and HTTP) and look at
what arrived here, instead of mocking the notification library. Two sinks:

* :class:`MailSink`, an aiosmtpd SMTP server that keeps every message and can be switched down and up again on the
  same port, so an SMTP outage and its recovery can be played for real;
* :class:`RobotSink`, a small HTTP/1.1 server that answers like the DingTalk robot (``POST /robot/send``) and the
  WeCom group bot (``POST /cgi-bin/webhook/send``), including the errors both services report as HTTP 200 with a
  non-zero ``errcode``, HTTP 500, and a server that accepts and never answers.

Both run on the caller's event loop and bind 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOOPBACK = "127.0.0.1"


def _now() -> datetime:
    return datetime.now(UTC)


async def _wait_until(condition: asyncio.Condition, predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for ``predicate`` under ``condition``; a TimeoutError names what did not arrive."""
    try:
        async with condition:
            await asyncio.wait_for(condition.wait_for(predicate), timeout)
    except TimeoutError:
        raise TimeoutError(f"{what} did not arrive within {timeout:g} s") from None


# --------------------------------------------------------------------------------------------------------------- mail


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server accepted it: the envelope, the parsed message and when it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: Message
    received_at: datetime

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def part(self, content_type: str) -> str | None:
        """The decoded text of the first part of ``content_type`` (``text/plain``, ``text/html``), if any."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.is_multipart():
                payload = part.get_payload(decode=True)
                charset = part.get_content_charset() or "utf-8"
                return payload.decode(charset, errors="replace") if isinstance(payload, bytes) else str(payload)
        return None


class _KnownNoise(logging.Filter):
    """Drops aiosmtpd's per-connection warnings about the sink's deliberate setup (AUTH without TLS on loopback,
    and a deprecation aiosmtpd triggers itself); everything else it logs passes."""

    NOISE = ("auth_required == True but auth_require_tls == False", "Session.login_data is deprecated")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(str(record.msg).startswith(noise) for noise in self.NOISE)


_NOISE_FILTER = _KnownNoise()


class _MailHandler:
    """aiosmtpd handler: parse and keep every message, wake whoever waits for it."""

    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd)
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        await self._sink.keep(ReceivedMail(mail_from=envelope.mail_from or "",
                                            rcpt_tos=tuple(envelope.rcpt_tos), message=message,
                                            received_at=_now()))
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives.

    ``port=0`` picks a free port on the first :meth:`start`; the port is then kept, so :meth:`down` (close the
    listener and drop open sessions: senders get "connection refused") followed by :meth:`up` serves the same
    address again, which is how an outage and the recovery after it are tested. With ``auth=(user, password)`` the
    server requires SMTP AUTH over the plain connection (loopback only), so credentials in a ``mailto://`` URL are
    exercised for real, wrong ones included.
    """

    def __init__(self, port: int = 0, *, auth: tuple[str, str] | None = None,
                 hostname: str = "patchwatch-sink") -> None:
        self.host = LOOPBACK
        self.port = port
        self.messages: list[ReceivedMail] = []
        self._auth = auth
        # A fixed hostname: aiosmtpd would otherwise call socket.getfqdn(), a DNS lookup that can take seconds.
        self._hostname = hostname
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[SMTP] = set()
        self._arrived = asyncio.Condition()

    # -- life cycle
    async def start(self) -> MailSink:
        """Listen (first call: on ``port``, 0 = a free one); returns self so ``await MailSink().start()`` reads well."""
        await self.up()
        return self

    async def stop(self) -> None:
        await self.down()

    async def up(self) -> None:
        """Accept connections again, on the same port as before."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=self.host, port=self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Stop accepting: close the listener and every open session. Received messages are kept."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()
        await server.wait_closed()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def __aenter__(self) -> MailSink:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- what senders use
    def url(self, sender: str = "patchwatch@example.com", *, scheme: str = "mailto") -> str:
        """An apprise URL for this server (plain SMTP, no TLS: loopback only); add ``to=`` per recipient."""
        creds = f"{self._auth[0]}:{self._auth[1]}@" if self._auth else ""
        return f"{scheme}://{creds}{self.host}:{self.port}?from={sender}"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages arrived in total; returns them all."""
        await _wait_until(self._arrived, lambda: len(self.messages) >= count, timeout, f"{count} message(s)")
        return list(self.messages)

    def clear(self) -> None:
        self.messages.clear()

    # -- internals
    def _protocol(self) -> SMTP:
        kwargs: dict[str, Any] = {}
        if self._auth is not None:
            kwargs.update(auth_required=True, auth_require_tls=False, authenticator=self._authenticate)
            aiosmtpd_log = logging.getLogger("mail.log")
            if _NOISE_FILTER not in aiosmtpd_log.filters:
                aiosmtpd_log.addFilter(_NOISE_FILTER)
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": deliberate, on loopback, to exercise URL credentials.
            warnings.simplefilter("ignore", UserWarning)
            session = _TrackedSMTP(self, _MailHandler(self), hostname=self._hostname, ident="Patchwatch MailSink",
                                   loop=asyncio.get_running_loop(), **kwargs)
        self._sessions.add(session)
        return session

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if self._auth is not None and isinstance(auth_data, LoginPassword):
            user, password = self._auth
            ok = (hmac.compare_digest(auth_data.login, user.encode())
                  and hmac.compare_digest(auth_data.password, password.encode()))
            # handled=False: aiosmtpd answers 235/535 itself.
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    def forget_session(self, session: SMTP) -> None:
        """A connection ended (called by the protocol): it no longer needs closing at ``down``."""
        self._sessions.discard(session)

    async def keep(self, received: ReceivedMail) -> None:
        """Record a received message (called by the SMTP handler) and wake whoever waits for mail."""
        async with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()


class _TrackedSMTP(SMTP):
    """aiosmtpd's protocol, forgetting itself from the sink when the connection ends."""

    def __init__(self, sink: MailSink, *args: Any, **kwargs: Any) -> None:
        self._sink = sink
        super().__init__(*args, **kwargs)

    def connection_lost(self, exc: Exception | None) -> None:
        self._sink.forget_session(self)
        super().connection_lost(exc)


# -------------------------------------------------------------------------------------------------------------- robots

Service = Literal["dingtalk", "wecom"]
Behaviour = Literal["ok", "errcode", "http500", "timeout"]
BEHAVIOURS: tuple[str, ...] = ("ok", "errcode", "http500", "timeout")

#: Where each service listens, as on the real hosts (oapi.dingtalk.com, qyapi.weixin.qq.com).
PATHS: dict[str, str] = {"dingtalk": "/robot/send", "wecom": "/cgi-bin/webhook/send"}

#: What each service answers for the ``errcode`` behaviour: errors both services report with HTTP 200.
ERRCODE_ANSWERS: dict[str, dict[str, Any]] = {
    "dingtalk": {"errcode": 310000, "errmsg": "keywords not in content"},
    "wecom": {"errcode": 93000, "errmsg": "invalid webhook url"},
}
SIGN_MISMATCH: dict[str, Any] = {"errcode": 310000, "errmsg": "sign not match"}
OK_ANSWER: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}

#: DingTalk refuses a signed request whose timestamp is more than an hour away from its clock.
SIGN_WINDOW_MS = 3600 * 1000


@dataclass(frozen=True)
class RobotRequest:
    """One request as the robot server received it, and what it answered (``answer``: ok/errcode/http500/...)."""

    service: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    received_at: datetime
    answer: str = ""

    def text(self) -> str:
        """The message text: DingTalk markdown/text or WeCom markdown/text content."""
        body = self.body if isinstance(self.body, dict) else {}
        msgtype = body.get("msgtype", "")
        part = body.get(msgtype, {}) if isinstance(body.get(msgtype), dict) else {}
        return str(part.get("text") or part.get("content") or "")


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's signature: base64 of HMAC-SHA256 over ``"timestamp\\nsecret"`` keyed with the secret (not
    url-encoded: that happens once, when it is put in the query)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class _Exchange:
    status: int
    body: dict[str, Any] | None
    answer: str


class RobotSink:
    """An HTTP/1.1 server on 127.0.0.1 answering like the DingTalk robot and the WeCom group bot.

    Every request is recorded (:attr:`requests`). Behaviour is switched per service with :meth:`set_behaviour`:
    ``"ok"`` answers 200 ``{"errcode":0}``; ``"errcode"`` answers 200 with the service's own error code (the case
    apprise reports as a success); ``"http500"`` answers 500; ``"timeout"`` reads the request and never answers.
    With ``dingtalk_secret`` set, a DingTalk request must carry a valid ``timestamp``/``sign`` pair or it gets
    200 ``{"errcode":310000,"errmsg":"sign not match"}``, as the real robot answers. With ``dingtalk_token`` /
    ``wecom_key`` set, a request for another token or key gets the service's "invalid" answer.
    """

    def __init__(self, *, dingtalk_secret: str | None = None, dingtalk_token: str | None = None,
                 wecom_key: str | None = None) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.dingtalk_secret = dingtalk_secret
        self.dingtalk_token = dingtalk_token
        self.wecom_key = wecom_key
        self.requests: list[RobotRequest] = []
        self.behaviour: dict[str, str] = {"dingtalk": "ok", "wecom": "ok"}
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._arrived = asyncio.Condition()

    # -- life cycle
    async def start(self) -> RobotSink:
        self._server = await asyncio.start_server(self._serve, host=self.host, port=self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the listener and every connection, including the ones held open by ``"timeout"``."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> RobotSink:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- controls
    def url(self, service: str) -> str:
        """The endpoint to put in the channel's ``endpoint`` override, e.g. ``http://127.0.0.1:PORT/robot/send``."""
        return f"http://{self.host}:{self.port}{PATHS[_service(service)]}"

    def set_behaviour(self, service: str, behaviour: str) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}, not {behaviour!r}")
        self.behaviour[_service(service)] = behaviour

    def received(self, service: str | None = None) -> list[RobotRequest]:
        return [r for r in self.requests if service is None or r.service == _service(service)]

    async def wait_for(self, count: int, timeout: float = 5.0, service: str | None = None) -> list[RobotRequest]:
        """Wait until at least ``count`` requests (for ``service``, or any) arrived; returns them."""
        await _wait_until(self._arrived, lambda: len(self.received(service)) >= count, timeout,
                          f"{count} request(s)")
        return self.received(service)

    # -- the server
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self._writers.add(writer)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode("latin-1").strip()
        if not request_line:
            return
        method, target, _version = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        raw = await reader.readexactly(length) if length else b""
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        service = next((name for name, path in PATHS.items() if split.path.rstrip("/") == path), "unknown")
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None

        exchange = self._decide(service, method, query, body)
        record = RobotRequest(service=service, method=method, path=split.path, query=query, headers=headers,
                              body=body, raw_body=raw, received_at=_now(), answer=exchange.answer)
        async with self._arrived:
            self.requests.append(record)
            self._arrived.notify_all()

        if exchange.answer == "timeout":
            # Accept and never answer: hold the connection until the client gives up or the sink stops.
            while await reader.read(65536):
                pass
            return
        payload = json.dumps(exchange.body).encode() if exchange.body is not None else b""
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
        head = (f"HTTP/1.1 {exchange.status} {reason.get(exchange.status, 'Error')}\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
        writer.write(head.encode("latin-1") + payload)
        await writer.drain()

    def _decide(self, service: str, method: str, query: dict[str, str], body: Any) -> _Exchange:
        if service == "unknown":
            return _Exchange(404, {"errcode": 404, "errmsg": "not found"}, "not found")
        if method != "POST":
            return _Exchange(405, {"errcode": 405, "errmsg": "method not allowed"}, "method not allowed")
        behaviour = self.behaviour[service]
        if behaviour == "timeout":
            return _Exchange(0, None, "timeout")
        if behaviour == "http500":
            return _Exchange(500, {"errcode": -1, "errmsg": "system busy"}, "http500")
        if service == "dingtalk":
            if self.dingtalk_token is not None and query.get("access_token") != self.dingtalk_token:
                return _Exchange(200, {"errcode": 300001, "errmsg": "token is not exist"}, "bad token")
            if self.dingtalk_secret is not None and not self._signed(query):
                return _Exchange(200, dict(SIGN_MISMATCH), "sign not match")
        if service == "wecom" and self.wecom_key is not None and query.get("key") != self.wecom_key:
            return _Exchange(200, dict(ERRCODE_ANSWERS["wecom"]), "bad key")
        if not isinstance(body, dict) or "msgtype" not in body:
            return _Exchange(200, {"errcode": 40008, "errmsg": "invalid message type"}, "bad body")
        if behaviour == "errcode":
            return _Exchange(200, dict(ERRCODE_ANSWERS[service]), "errcode")
        return _Exchange(200, dict(OK_ANSWER), "ok")

    def _signed(self, query: dict[str, str]) -> bool:
        assert self.dingtalk_secret is not None
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        if not timestamp.isdigit() or not sign:
            return False
        if abs(int(timestamp) - int(time.time() * 1000)) > SIGN_WINDOW_MS:
            return False
        return hmac.compare_digest(sign, dingtalk_sign(self.dingtalk_secret, timestamp))


def _service(name: str) -> str:
    if name not in PATHS:
        raise ValueError(f"service must be one of {', '.join(PATHS)}, not {name!r}")
    return name


__all__ = ["BEHAVIOURS", "ERRCODE_ANSWERS", "PATHS", "MailSink", "ReceivedMail", "RobotRequest", "RobotSink",
           "dingtalk_sign"]

"""Delivery: send one rendered notice to one target through apprise, and tell the truth about the outcome.

apprise does the sending (URL parsing, SMTP and TLS, providers' APIs, DingTalk signing). Three things are added
here because a notice that silently fails to arrive is the very failure Patchwatch exists to prevent:

* **No throttle.** apprise makes each plugin instance wait about 5.5 s since its previous send. Every send here
  builds a fresh instance with ``request_rate_per_sec = 0``, so twenty notices leave in well under a second.
* **Robot answers are checked.** DingTalk and the WeCom bot report refusals (bad signature, keyword mismatch,
  invalid key, rate limit) as HTTP 200 with a non-zero ``errcode``; apprise's plugins look at the status code
  only and call that a success. :class:`CheckedDingTalk` and :class:`CheckedWeComBot` subclass apprise's plugins,
  keep their URL parsing and DingTalk's signing, send markdown with the @-mentions, and demand ``errcode == 0``.
* **Bounded and secret-free.** The blocking work runs in apprise's worker threads, bounded by ``timeout`` (the
  call deadline and the per-URL connect/read timeouts). Error texts are one line, and every secret of the target
  (tokens, passwords, keys) is masked in them and in every log record apprise or urllib3 emits.
* **Acceptance is told at once.** ``on_accepted`` is called, in the sending thread, the moment the channel said
  yes: after SMTP's answer to the message and before QUIT, after a robot's ``errcode == 0`` (any other apprise
  plugin: when apprise reports success). The caller journals it there: a process killed during the goodbye, or
  while the answer waits for a busy event loop, must not send the notice again at its next start.

Why one module of this length: the plugins and :func:`deliver` are two halves of one contract (the plugins
record why a send failed and tell when it was accepted, deliver() turns that into the one result reported), and
the masking applies to the log records of both. A person's several apprise URLs are fanned out in
:mod:`console.notify.fanout`.
"""

from __future__ import annotations

import asyncio
import email
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.mime.text import MIMEText
from typing import Any, Literal
from urllib.parse import unquote

import apprise
import requests
from apprise.common import NotifyFormat, NotifyType
from apprise.plugins import url_to_dict
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.email import NotifyEmail
from apprise.plugins.email.base import PGP_MODE_DEFAULT
from apprise.plugins.email.smtp import SMTP_EXCEPTIONS, AppriseSMTPController
from apprise.plugins.wecombot import NotifyWeComBot

from console.notify.channels import APPRISE_MODE, DeliveryTarget, is_mobile, mask
from console.notify.fanout import build_all_of
from console.notify.notice import Notice
from console.notify.render import render_email, render_markdown, render_plain, render_sms

log = logging.getLogger(__name__)

Status = Literal["sent", "failed", "timeout"]

#: How long past ``timeout`` the caller waits for apprise's own deadline to report before giving up on it.
_GRACE = 1.0
#: Longest error text kept (one line).
_MAX_ERROR = 300


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one send. ``target`` is the masked URL; ``error`` is one secret-free line, or None."""

    ok: bool
    status: Status
    error: str | None
    target: str


# ------------------------------------------------------------------------------------------------ secret masking


class _SecretRegistry(logging.Filter):
    """A logging filter that masks every secret handed to :func:`deliver` in records of apprise and urllib3.

    apprise logs the DingTalk and WeCom request URLs (token included) at debug level, urllib3 logs every request
    line with its query string. Filters run at the logger a record is created on, so the filter sits on each of
    those loggers. Secrets stay registered for the life of the process: a send abandoned at its deadline may still
    log from its worker thread after :func:`deliver` returned.
    """

    LOGGERS = ("apprise", "urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager",
               "urllib3.response", "urllib3.util.retry", "requests")

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._installed = False

    def register(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if s}
        with self._lock:
            if not self._installed:
                for name in self.LOGGERS:
                    logging.getLogger(name).addFilter(self)
                self._installed = True
            if not new <= self._secrets:
                self._secrets = self._secrets | new

    @property
    def secrets(self) -> frozenset[str]:
        return self._secrets

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business, not ours
            return True
        masked = mask(message, secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, secrets)
        return True


_REGISTRY = _SecretRegistry()


def register_secrets(secrets: Iterable[str]) -> None:
    """Mask these strings in apprise/urllib3 log records from now on (done by :func:`deliver` for its target)."""
    _REGISTRY.register(secrets)


def one_line(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` masked, on one line, and short enough to show in a table cell."""
    line = " ".join(mask(text, secrets).split())
    return line if len(line) <= _MAX_ERROR else line[: _MAX_ERROR - 1] + "…"


_ERRNO = re.compile(r"\[Errno -?\d+\][^'\"()]*")


def describe_request_error(exc: BaseException) -> str:
    """The useful part of a requests/urllib3 exception (``[Errno 111] Connection refused``), without the URL
    and query string (token included) that its message starts with."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip(" :")
    for marker in ("Read timed out", "timed out", "Connection reset", "Connection aborted", "Remote end closed",
                   "Name or service not known", "certificate verify failed"):
        if marker.lower() in text.lower():
            return marker
    return type(exc).__name__


# ---------------------------------------------------------------------------------------- checked robot plugins


class _Outcome:
    """Why a send failed, kept on the (fresh, per-send) plugin instance so :func:`deliver` can report it, and
    whom to tell, from the sending thread, that the channel accepted the message."""

    failure: str | None = None
    failure_status: Status = "failed"
    #: Set by :func:`deliver` (an :class:`_Acceptance`); None when the plugin is used on its own.
    on_accepted: Callable[[], None] | None = None

    def _fail(self, text: str, status: Status = "failed") -> bool:
        self.failure, self.failure_status = text, status
        self.logger.warning(text)  # type: ignore[attr-defined]  # NotifyBase.logger
        return False

    def _accept(self) -> None:
        if self.on_accepted is not None:
            self.on_accepted()


class _Acceptance:
    """Calls the caller's ``on_accepted`` exactly once, from whichever thread learns of the acceptance first
    (the plugin's worker thread, or :func:`deliver` when apprise reports success for a plugin of its own).

    ``accepted`` is set before the callback runs: the message was accepted whatever the callback does, so a
    failing callback is logged, never turned into a failed send (that would send the notice again).
    """

    def __init__(self, callback: Callable[[], None] | None, label: str) -> None:
        self._callback = callback
        self._label = label
        self._lock = threading.Lock()
        self.accepted = False

    def __call__(self) -> None:
        # The lock: a second caller returns only once the first one's callback (an fsync) is done.
        with self._lock:
            if self.accepted:
                return
            self.accepted = True
            if self._callback is None:
                return
            try:
                self._callback()
            except Exception:
                log.exception("noting the acceptance of a notice by %s failed", self._label)


class _CheckedRobot(_Outcome):
    """POST a JSON message and accept only HTTP 200 with ``errcode == 0``."""

    service_label = "robot"
    #: Another endpoint for the robot (a proxy or a local test server); None = the service's own.
    endpoint: str | None = None

    def _post_checked(self, url: str, params: dict[str, str], payload: dict[str, Any]) -> bool:
        plugin: Any = self
        headers = {"User-Agent": plugin.app_id, "Content-Type": "application/json; charset=utf-8"}
        plugin.throttle()
        try:
            answer = requests.post(url, params=params, data=json.dumps(payload).encode("utf-8"), headers=headers,
                                   verify=plugin.verify_certificate, timeout=plugin.request_timeout,
                                   allow_redirects=plugin.redirects)
        except requests.Timeout:
            return self._fail(f"{self.service_label} did not answer within {plugin.socket_read_timeout:g} s",
                              "timeout")
        except requests.RequestException as exc:
            return self._fail(f"{self.service_label} unreachable: {describe_request_error(exc)}")
        if answer.status_code != requests.codes.ok:
            reason = plugin.http_response_code_lookup(answer.status_code) or answer.reason or ""
            return self._fail(f"{self.service_label} answered HTTP {answer.status_code}"
                              + (f" {reason.rstrip('.')}" if reason else ""))
        try:
            data = answer.json()
        except ValueError:
            return self._fail(f"{self.service_label} answered HTTP 200 without a JSON body")
        if not isinstance(data, dict) or "errcode" not in data:
            return self._fail(f"{self.service_label} answered HTTP 200 without an errcode")
        errcode, errmsg = data.get("errcode"), str(data.get("errmsg") or "").strip()
        if errcode != 0:
            return self._fail(f"{self.service_label} refused the message: errcode {errcode}"
                              + (f": {errmsg}" if errmsg else ""))
        self._accept()
        plugin.logger.info("Sent %s notification (errcode 0).", self.service_label)
        return True


def _with_title(title: str, body: str) -> str:
    """Markdown text with the title as a heading, unless the body already opens with a heading."""
    title = " ".join(title.split()).lstrip("#- ")
    if not title or body.lstrip().startswith("#"):
        return body
    return f"# {title}\n\n{body}"


class CheckedDingTalk(_CheckedRobot, NotifyDingTalk):
    """apprise's DingTalk robot, sending markdown and checking ``errcode``.

    Kept from apprise: URL parsing (token, signing secret, mobiles), validation, the signature
    (:meth:`NotifyDingTalk.get_signature`: timestamp + HMAC-SHA256 of ``"timestamp\\nsecret"``, base64) and the
    privacy-masked ``url()``. Changed: the message is markdown, the mobiles are named in the text (DingTalk shows
    an @-mention only when the text contains ``@mobile``) as well as in ``at.atMobiles``, the signature is
    url-encoded once (apprise quotes it and then hands it to requests as a parameter, which encodes it again), and
    the answer's ``errcode`` decides.
    """

    service_label = "DingTalk"
    request_rate_per_sec = 0
    notify_format = NotifyFormat.MARKDOWN
    #: DingTalk user ids to mention (``at.atUserIds``); mobiles come from the URL (apprise's targets).
    user_ids: tuple[str, ...] = ()

    def send(self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO,
             body_format: NotifyFormat | None = None, **kwargs: Any) -> bool:
        text = _with_title(title, body)
        mentioned = [*self.targets, *self.user_ids]
        if mentioned:
            text = f"{text}\n\n" + " ".join(f"@{who}" for who in mentioned)
        heading = " ".join(title.split()).lstrip("#- ") or self.app_desc
        at: dict[str, Any] = {"atMobiles": list(self.targets), "isAtAll": False}
        if self.user_ids:
            at["atUserIds"] = list(self.user_ids)
        payload = {"msgtype": "markdown", "markdown": {"title": heading, "text": text}, "at": at}
        params = {"access_token": self.token}
        if self.secret:
            timestamp, signature = self.get_signature()
            # get_signature() returns the signature already quoted; requests quotes parameters itself.
            params.update(timestamp=timestamp, sign=unquote(signature))
        url = self.endpoint or self.notify_url.split("?", 1)[0]
        return self._post_checked(url, params, payload)


class CheckedWeComBot(_CheckedRobot, NotifyWeComBot):
    """apprise's WeCom group bot, sending markdown with ``<@userid>`` mentions and checking ``errcode``.

    Kept from apprise: URL parsing (``wecombot://KEY`` and the native webhook URL) and key validation. The bot
    mentions by user id, which only the message text can carry (``mentions`` is set per send).
    """

    service_label = "WeCom"
    request_rate_per_sec = 0
    notify_format = NotifyFormat.MARKDOWN
    #: WeCom markdown content is limited to 4096 bytes; the title is placed in the text by send().
    body_maxlen = 4096
    title_maxlen = 250
    mentions: tuple[str, ...] = ()

    def send(self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO, **kwargs: Any) -> bool:
        content = _with_title(title, body)
        if self.mentions:
            content = f"{content}\n\n" + " ".join(f"<@{user}>" for user in self.mentions)
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
        url = self.endpoint or self.notify_url.split("?", 1)[0]
        return self._post_checked(url, {"key": self.key}, payload)


class TextAndHtmlEmail(_Outcome, NotifyEmail):
    """apprise's email plugin, sending HTML with OUR plain-text alternative.

    apprise's HTML mode derives the text part from the HTML itself, which turns a table into one cell per line;
    the renderer writes a proper text version. The message is still composed by apprise
    (:meth:`NotifyEmail.prepare_emails`: headers, Message-ID, Date) and sent through its SMTP controller (TLS,
    login); only the text/plain part is swapped. PGP and attachments fall back to apprise's own send().
    """

    request_rate_per_sec = 0
    text_alternative: str | None = None

    def send(self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO, attach: Any = None,
             body_format: NotifyFormat | None = None, **kwargs: Any) -> bool:
        if self.text_alternative is None or attach or self.pgp_mode != PGP_MODE_DEFAULT or self.use_wkd:
            return super().send(body, title=title, notify_type=notify_type, attach=attach, body_format=body_format,
                                **kwargs)
        if not self.targets:
            return self._fail("no email recipient")
        self.throttle()
        headers = {"X-Application": self.app_id, **self.headers, **self._protocol_headers(body)}
        try:
            with AppriseSMTPController(host=self.smtp_host, port=self.port, secure_mode=self.secure_mode,
                                       user=self.user, password=self.password,
                                       verify_certificate=self.verify_certificate,
                                       socket_connect_timeout=self.socket_connect_timeout) as smtp:
                refused = []
                for message in NotifyEmail.prepare_emails(
                        subject=title, body=body, notify_format=NotifyFormat.HTML, from_addr=self.from_addr,
                        to=self.targets, cc=self.cc, bcc=self.bcc, reply_to=self.reply_to, smtp_host=self.smtp_host,
                        headers=headers, names=self.names, tzinfo=self.tzinfo):
                    if self.is_delivered(message.recipient):
                        continue
                    if smtp.sendmail(self.from_addr[1], message.to_addrs,
                                     _swap_text_part(message.body, self.text_alternative)):
                        self.logger.info("Sent Email to %s", message.recipient)
                        self.mark_delivered(message.recipient)
                    else:
                        refused.append(message.recipient)
                if not refused:
                    # Before the with block's QUIT: a kill during the goodbye must not send this again.
                    self._accept()
        except TimeoutError:
            return self._fail(f"SMTP server {self.smtp_host}:{self.port} did not answer within "
                              f"{self.socket_connect_timeout:g} s", "timeout")
        except (*SMTP_EXCEPTIONS, apprise.exception.AppriseException) as exc:
            return self._fail(f"SMTP {self.smtp_host}:{self.port}: {_describe_smtp_error(exc)}")
        if refused:
            return self._fail(f"SMTP server {self.smtp_host}:{self.port} did not accept the message for "
                              f"{', '.join(refused)}")
        return True


def _swap_text_part(raw: str, text: str) -> str:
    """Replace the text/plain alternative of apprise's multipart/alternative message with ``text``."""
    message = email.message_from_string(raw)
    for part in message.walk():
        if part.get_content_type() != "multipart/alternative":
            continue
        parts = part.get_payload()
        for index, sub in enumerate(parts):
            if sub.get_content_type() == "text/plain":
                parts[index] = MIMEText(text, "plain", "utf-8")
                return message.as_string()
    return raw


def _describe_smtp_error(exc: BaseException) -> str:
    code = getattr(exc, "smtp_code", None)
    detail = getattr(exc, "smtp_error", None)
    if code is not None:
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return f"{type(exc).__name__} {code} {detail or ''}".strip()
    if isinstance(exc, OSError) and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}" if exc.errno is not None else exc.strerror
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------------------------------- delivery


def _asset(timeout: float) -> apprise.AppriseAsset:
    # Memory-only storage: apprise never writes caches next to the channels' secrets.
    return apprise.AppriseAsset(storage_mode="memory", service_timeout=timeout, app_id="Patchwatch",
                                app_desc="Patchwatch")


def _schemas(cls: type[Any]) -> set[str]:
    found: set[str] = set()
    for attr in ("protocol", "secure_protocol"):
        value = getattr(cls, attr, None)
        found.update([value] if isinstance(value, str) else list(value or ()))
    return found


def _plugin_from_url(cls: type[Any], url: str, asset: apprise.AppriseAsset) -> Any:
    """Build one of our plugin subclasses from apprise's parsing of ``url`` (native webhook URLs included),
    exactly as ``Apprise.instantiate`` builds its own plugin from the same dictionary."""
    results = url_to_dict(url, secure_logging=True)
    if not results or results.get("schema") not in _schemas(cls):
        return None
    results["asset"] = asset
    results["tag"] = set()
    try:
        return cls(**results)
    except Exception:  # apprise's plugins raise on bad parameters; instantiate() reports that as None too
        return None


def build_plugin(target: DeliveryTarget, *, timeout: float, text_alternative: str | None = None,
                 on_accepted: Callable[[], None] | None = None) -> Any:
    """A fresh apprise plugin for ``target`` (never shared: apprise throttles per instance), bounded by
    ``timeout``; None when apprise does not accept the URL. Our plugins call ``on_accepted`` from their sending
    thread when the channel accepts; apprise's own plugins cannot (:func:`deliver` calls it for them)."""
    asset = _asset(timeout)
    if target.kind == "dingtalk":
        plugin = _plugin_from_url(CheckedDingTalk, target.url, asset)
        if plugin is not None:
            plugin.user_ids = tuple(m for m in target.mention if not is_mobile(m))
    elif target.kind == "wecom":
        plugin = _plugin_from_url(CheckedWeComBot, target.url, asset)
        if plugin is not None:
            plugin.mentions = tuple(target.mention)
    elif target.kind == "email":
        plugin = _plugin_from_url(TextAndHtmlEmail, target.url, asset)
        if plugin is not None:
            plugin.text_alternative = text_alternative
    elif target.kind == APPRISE_MODE:  # a person's own URLs: sent only when every one of them accepted
        plugin = build_all_of(target.urls, asset, timeout)
    else:
        plugin = apprise.Apprise.instantiate(target.url, asset=asset)
    if plugin is None:
        return None
    if target.endpoint and isinstance(plugin, _CheckedRobot):
        plugin.endpoint = target.endpoint
    if on_accepted is not None and isinstance(plugin, _Outcome):
        plugin.on_accepted = on_accepted
    plugin.request_rate_per_sec = 0
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), timeout)
    plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), timeout)
    return plugin


def _render(target: DeliveryTarget, notice: Notice) -> tuple[str, str, NotifyFormat, str | None]:
    """(title, body, format, text alternative) for the target's kind."""
    if target.kind == "email":
        subject, text, html = render_email(notice)
        return subject, html, NotifyFormat.HTML, text
    if target.kind == "sms":
        return "", render_sms(notice), NotifyFormat.TEXT, None
    if target.kind in ("dingtalk", "wecom"):
        title, markdown = render_markdown(notice)
        return title, markdown, NotifyFormat.MARKDOWN, None
    title, body = render_plain(notice)
    return title, body, NotifyFormat.TEXT, None


async def deliver(target: DeliveryTarget, notice: Notice, *, timeout: float = 10.0,
                  on_accepted: Callable[[], None] | None = None) -> DeliveryResult:
    """Send ``notice`` to ``target`` through apprise; never raises for a delivery problem, never waits past
    ``timeout`` (plus a short grace for apprise's own deadline to report), never reports a refusal as sent.

    ``on_accepted`` is called exactly once, from whatever thread, as soon as the channel accepted the message
    (see the module's docstring), and never for a send that is not reported as sent. Once it was called the
    result is ``sent`` whatever follows (a QUIT that stalls past the deadline): the message is out, and a
    retry would send it twice.
    """
    secrets = tuple(target.secrets)
    register_secrets(secrets)
    acceptance = _Acceptance(on_accepted, target.masked)

    def result(status: Status, error: str | None = None) -> DeliveryResult:
        line = one_line(error, secrets) if error else None
        return DeliveryResult(ok=status == "sent", status=status, error=line, target=target.masked)

    try:
        title, body, body_format, text = _render(target, notice)
    except Exception as exc:  # a renderer bug must fail this send visibly, not the dispatcher
        log.exception("rendering a %s notice for %s failed", notice.kind, target.masked)
        return result("failed", f"cannot render the notice: {type(exc).__name__}: {exc}")

    try:
        plugin = build_plugin(target, timeout=timeout, text_alternative=text, on_accepted=acceptance)
    except Exception as exc:
        return result("failed", f"cannot use the {target.mode} URL: {type(exc).__name__}")
    if plugin is None:
        return result("failed", f"apprise does not accept the {target.mode} URL {target.masked}")

    sender = apprise.Apprise(asset=plugin.asset)
    sender.add(plugin)
    started = time.monotonic()
    try:
        outcome = await asyncio.wait_for(
            sender.async_notify(body=body, title=title, body_format=body_format, timeout=timeout,
                                log_level=logging.DEBUG),
            timeout + _GRACE)
    except TimeoutError:
        if acceptance.accepted:  # accepted, then the goodbye stalled past the deadline
            return result("sent")
        return result("timeout", f"no answer within {timeout:g} s")
    except Exception as exc:  # apprise raising is a bug there; the notice still must not vanish silently
        log.warning("apprise raised while sending to %s: %s", target.masked, one_line(str(exc), secrets))
        if acceptance.accepted:
            return result("sent")
        return result("failed", f"apprise error: {type(exc).__name__}: {exc}")

    with outcome:
        if outcome.status == apprise.AppriseResultStatus.SUCCESS or acceptance.accepted:
            # Our plugins told it from their thread already (a no-op then); apprise's own plugins cannot.
            acceptance()
            return result("sent")
        failure = getattr(plugin, "failure", None)
        failure_status: Status = getattr(plugin, "failure_status", "failed")
        if failure:
            return result(failure_status, failure)
        if outcome.status == apprise.AppriseResultStatus.TIMEOUT:
            return result("timeout", f"no answer within {timeout:g} s")
        error = _error_from_logs(outcome) or f"{target.mode} send failed ({outcome.status.name.lower()})"
        # apprise's own plugins log a timeout like any connection error (the exception itself only at debug
        # level); a failure that took as long as the socket timeouts allow is a timeout.
        limit = min(float(plugin.socket_connect_timeout), float(plugin.socket_read_timeout), timeout)
        if _looks_like_timeout(error) or time.monotonic() - started >= 0.9 * limit:
            return result("timeout", error)
        return result("failed", error)


def _error_from_logs(outcome: apprise.AppriseResult) -> str | None:
    """The best one-line reason apprise logged: its last warning, with the exception it logged at debug."""
    warning: str | None = None
    detail: str | None = None
    for entry in outcome.logs():
        message = str(entry.message).strip()
        if entry.level in ("WARNING", "ERROR", "CRITICAL", "DEPRECATION WARNING"):
            warning = message
        elif message.startswith("Socket Exception:"):
            detail = message.removeprefix("Socket Exception:").strip()
            if "HTTPConnectionPool" in detail or "HTTPSConnectionPool" in detail:
                detail = describe_request_error(Exception(detail))  # drop the URL: keep "[Errno 111] ..."
    if warning and detail:
        return f"{warning.rstrip('.')}: {detail}"
    return warning or detail


def _looks_like_timeout(text: str) -> bool:
    lowered = text.lower()
    return "timed out" in lowered or "timeout" in lowered


__all__ = ["CheckedDingTalk", "CheckedWeComBot", "DeliveryResult", "TextAndHtmlEmail", "build_plugin", "deliver",
           "describe_request_error", "mask", "one_line", "register_secrets"]

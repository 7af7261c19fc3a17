"""One notice to every apprise URL of a person, counted as sent only when every one of them accepted it.

A person's ``apprise = [...]`` URLs are one delivery mode (``apprise``), yet apprise builds one plugin per URL.
:func:`console.notify.delivery.deliver` sends through exactly one plugin and reads its verdict, so
:class:`AllOf` is a plugin that holds the others: it sends to each in turn and succeeds only when all did. A
partial success must not count as sent: the person may read only the refusing channel, and a notice reported as
delivered is never retried.

The URLs carry tokens: the failure text names each refusing URL by its scheme only (``people.mask_url``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import apprise
from apprise.common import NotifyFormat, NotifyType
from apprise.plugins.base import NotifyBase

from console.notify.people import mask_url

__all__ = ["AllOf", "build_all_of"]


class _Warnings(logging.Handler):
    """The warnings apprise logs from this thread while one child sends: why that child refused.

    apprise's plugins log a refusal (``HTTP Error 500``) rather than raise it; other sends run in other threads
    at the same time, so records are kept only from the thread that sends."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


class AllOf(NotifyBase):  # type: ignore[misc]  # apprise's base class is untyped
    """Send to each child plugin in turn; True only when every child accepted the notice."""

    service_name = "apprise URLs"
    request_rate_per_sec = 0
    notify_format = NotifyFormat.TEXT

    def __init__(self, children: Iterable[Any], urls: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.children = tuple(children)
        self.shown = tuple(mask_url(u) for u in urls)
        #: Read by deliver(): why the send failed, and whether it was a timeout.
        self.failure: str | None = None
        self.failure_status = "failed"

    def url(self, privacy: bool = False, *args: Any, **kwargs: Any) -> str:
        # What apprise shows of this plugin in its results: schemes only, whatever ``privacy`` asks for.
        return ", ".join(self.shown)

    def __len__(self) -> int:
        return max(1, len(self.children))

    def send(self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO,
             **kwargs: Any) -> bool:
        refused: list[str] = []
        timeouts = 0
        for index, child in enumerate(self.children):
            capture = _Warnings()
            child.logger.addHandler(capture)
            try:
                ok = child.notify(body=body, title=title, notify_type=notify_type,
                                  body_format=kwargs.get("body_format"))
            except Exception as exc:  # a plugin bug refuses this URL; the others are still tried
                ok, capture.messages = False, [f"{type(exc).__name__}"]
            finally:
                child.logger.removeHandler(capture)
            if not ok:
                why = capture.messages[-1].strip().rstrip(".") if capture.messages else "not accepted"
                timeouts += "timed out" in why.lower() or "timeout" in why.lower()
                refused.append(f"#{index + 1} {self.shown[index]}: {why}")
        if refused:
            self.failure = (f"{len(refused)} of {len(self.children)} apprise URLs did not accept the notice: "
                            + "; ".join(refused))
            # A timeout only when nothing but timeouts went wrong: a refusal is the answer to act on.
            self.failure_status = "timeout" if timeouts == len(refused) else "failed"
            self.logger.warning(self.failure)
            return False
        return True


def build_all_of(urls: Iterable[str], asset: apprise.AppriseAsset, timeout: float) -> AllOf | None:
    """One plugin for all of ``urls`` (each child fresh, unthrottled, bounded by ``timeout``); None when apprise
    does not accept one of them: a URL that can never work must show, not be skipped."""
    urls = tuple(urls)
    children = []
    for url in urls:
        child = apprise.Apprise.instantiate(url, asset=asset)
        if child is None:
            return None
        child.request_rate_per_sec = 0
        child.socket_connect_timeout = min(float(child.socket_connect_timeout), timeout)
        child.socket_read_timeout = min(float(child.socket_read_timeout), timeout)
        children.append(child)
    if not children:
        return None
    return AllOf(children, urls, asset=asset)

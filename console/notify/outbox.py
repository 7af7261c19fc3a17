"""The durable outbox: every notification is recorded before it is sent, and its fate is recorded after.

A record is one notice to one recipient on one mode. Its life::

    queued -> sending -> sent
                      -> retrying -> sending -> ...   (back-off: 1 s, 2 s, 4 s ... capped)
                      -> failed     after ``attempts_per_mode`` failures, when another mode can take over:
                                    a new record on the recipient's next mode is queued (fallback_to/from)
                      -> abandoned  the notice is older than ``give_up_after`` and never got through

A notice on a recipient's last usable mode keeps retrying (capped back-off) until ``give_up_after``: an SMTP
outage of an hour delays the email, it does not lose it. After a restart, records left ``sending`` by a dead
process go back to ``retrying`` (the send may or may not have happened; a duplicate is preferred to a loss).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def final(self) -> bool:
        return self in (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.ABANDONED)


@dataclass(frozen=True)
class RetryPolicy:
    attempts_per_mode: int = 4
    first_backoff: float = 1.0
    max_backoff: float = 60.0
    give_up_after: float = 24 * 3600.0

    def backoff(self, attempts: int) -> timedelta:
        """Delay before attempt ``attempts + 1`` (``attempts`` already made)."""
        return timedelta(seconds=min(self.max_backoff, self.first_backoff * (2 ** max(0, attempts - 1))))


@dataclass
class Attempt:
    at: str
    ok: bool
    status: str
    error: str | None = None
    seconds: float = 0.0


@dataclass
class OutboxRecord:
    """One notice to one person on one mode. ``target`` is masked: secrets never reach the store."""

    id: str
    created_at: str
    notice: dict[str, Any]
    kind: str
    task_id: str
    run_id: str | None
    person: str
    mode: str
    target: str
    status: OutboxStatus = OutboxStatus.QUEUED
    attempts: list[dict[str, Any]] = field(default_factory=list)
    next_attempt_at: str | None = None
    error: str | None = None
    #: When the event that caused the notice happened (e.g. the first failed host finished).
    detected_at: str | None = None
    sent_at: str | None = None
    latency_s: float | None = None
    fallback_from: str | None = None
    fallback_to: str | None = None
    escalation_level: int = 0
    #: Modes already tried for this person and notice, so a fallback never goes round in circles.
    tried_modes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutboxRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = OutboxStatus(values["status"])
        return cls(**values)

    def due(self, now: datetime) -> bool:
        if self.status is OutboxStatus.QUEUED:
            return True
        if self.status is not OutboxStatus.RETRYING:
            return False
        return self.next_attempt_at is None or datetime.fromisoformat(self.next_attempt_at) <= now

    def failures_on_mode(self) -> int:
        return sum(1 for a in self.attempts if not a["ok"])

    def record_attempt(self, attempt: Attempt) -> None:
        self.attempts.append(asdict(attempt))

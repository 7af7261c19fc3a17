"""The notice: what one notification says, before it is rendered for a channel.

One grouped notice per run and occasion (domain.md): never one per host. The same record is stored in the
outbox, rendered per channel at send time (``console.notify.render``), and shown in the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NoticeKind(StrEnum):
    EXECUTION_FAILED = "execution_failed"  # the first failures of a run (coalesced), or a failed/error run
    UPDATE = "update"  # more failures of a run already notified (rate-limited)
    SUMMARY = "summary"  # the end of a run that notified failures
    SUCCEEDED = "succeeded"
    STARTED = "started"
    PAUSED = "paused"
    PENDING_REVIEW = "pending_review"
    MISSED = "missed"
    INTERRUPTED = "interrupted"
    RECOVERED = "recovered"  # the first successful run after failures
    ESCALATION = "escalation"  # an alarm nobody acknowledged in time: a step of the scenario's escalation policy
    REMINDER = "reminder"  # an alarm still open and unacknowledged (every ``repeat``), or re-triggered
    TEST = "test"  # patchwatch notify test
    DIGEST = "digest"  # the weekly or monthly coverage summary a role asked for (people.toml ``digest``)


#: Kinds that report a problem (rendered as alarms, escalated when unacknowledged).
ALARM_KINDS = frozenset({NoticeKind.EXECUTION_FAILED, NoticeKind.UPDATE, NoticeKind.SUMMARY, NoticeKind.MISSED,
                         NoticeKind.INTERRUPTED, NoticeKind.ESCALATION, NoticeKind.REMINDER, NoticeKind.PAUSED})


@dataclass(frozen=True)
class FailedHost:
    host: str
    category: str
    reason: str


@dataclass(frozen=True)
class Notice:
    """Everything a receiver needs to act, in channel-neutral form.

    ``at`` is the instant of the event (UTC ISO-8601); ``timezone`` is the task's zone, in which renderers
    also show it. ``first_failed`` holds the first failed hosts (at most ``FIRST_FAILED``), in the order they
    failed. ``logs_command`` is the command that opens the logs of the run.
    """

    kind: NoticeKind
    task_name: str
    task_id: str
    at: str
    timezone: str
    run_id: str | None = None
    run_state: str | None = None
    failed: int = 0
    total: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    first_failed: tuple[FailedHost, ...] = ()
    detail: str = ""
    logs_command: str = ""
    escalation_level: int = 0
    #: The alarm this notice reports on (``patchwatch alarms ack ID`` takes it).
    alarm_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "task_name": self.task_name, "task_id": self.task_id, "at": self.at,
            "timezone": self.timezone, "run_id": self.run_id, "run_state": self.run_state, "failed": self.failed,
            "total": self.total, "categories": dict(self.categories),
            "first_failed": [{"host": h.host, "category": h.category, "reason": h.reason} for h in self.first_failed],
            "detail": self.detail, "logs_command": self.logs_command, "escalation_level": self.escalation_level,
            "alarm_id": self.alarm_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notice:
        return cls(
            kind=NoticeKind(data["kind"]), task_name=data["task_name"], task_id=data["task_id"], at=data["at"],
            timezone=data["timezone"], run_id=data.get("run_id"), run_state=data.get("run_state"),
            failed=int(data.get("failed", 0)), total=int(data.get("total", 0)),
            categories=dict(data.get("categories", {})),
            first_failed=tuple(FailedHost(h["host"], h["category"], h["reason"]) for h in data.get("first_failed", ())),
            detail=data.get("detail", ""), logs_command=data.get("logs_command", ""),
            escalation_level=int(data.get("escalation_level", 0)), alarm_id=data.get("alarm_id"),
        )


#: How many failed hosts a notice lists by name.
FIRST_FAILED = 10

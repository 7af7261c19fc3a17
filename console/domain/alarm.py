"""Alarms, silences and escalation policies: what a failure becomes once it outlives the run that found it.

An alarm is one failure episode of one task (PagerDuty's incident, Alertmanager's alert group by task). It opens
with the first failed, missed or interrupted run and holds every failing host with its category, the time it
first failed and how many runs in a row it has failed. Later runs and re-scans of the task update the same alarm;
it resolves when every one of its hosts has succeeded since and no run-level problem (a missed slot, an
interrupted or errored run) stands, or when its task is deleted or disabled.

Its lifecycle: ``open`` -> ``acknowledged`` (an operator took it; an acknowledgement may time out and re-trigger
it to ``open``) -> ``resolved``. Only open alarms escalate and repeat.

A silence mutes notices, never the record: while a silence matches a failure (task, host glob, category, within
its window), the failure is stored and shown, but not notified. When the silence ends and the alarm is still open,
the held failures are notified then.

This module is pure data and transitions (no I/O, no clock of its own): ``console.notify.alarms`` drives it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from console.domain.limits import MAX_DURATION_S
from console.domain.terminal import has_unsafe
from console.errors import FieldError, ValidationError


class AlarmState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class RunProblem(StrEnum):
    """A problem of a run as a whole (no host to blame): it stands until the task next completes a run."""

    MISSED = "missed"
    INTERRUPTED = "interrupted"
    ERROR = "error"
    BROKEN = "broken"  # the task cannot be scheduled at all (console.scheduler marks it)


class ResolvedReason(StrEnum):
    RECOVERED = "recovered"
    TASK_DELETED = "task deleted"
    TASK_DISABLED = "task disabled"


@dataclass
class AlarmHost:
    """One host of an alarm. It stays in the alarm once recovered, so the episode's history is readable."""

    host: str
    category: str
    reason: str
    first_failed_at: str
    last_failed_at: str
    run_id: str
    consecutive: int = 1
    recovered_at: str | None = None
    #: A notice named this host in this episode (it is not named again until it recovers and fails anew).
    notified: bool = False
    #: Its notice was withheld by a silence; it is sent when the silence ends, if the host is still failing.
    held: bool = False
    #: Times it failed again after recovering, within this episode (a flapping host is announced once).
    flaps: int = 0

    @property
    def failing(self) -> bool:
        return self.recovered_at is None


@dataclass
class Alarm:
    id: str
    task_id: str
    task_name: str
    opened_at: str
    opened_by_run: str | None
    state: AlarmState = AlarmState.OPEN
    hosts: dict[str, AlarmHost] = field(default_factory=dict)
    #: The run-level problem that stands now (missed, interrupted, error, broken), with its message.
    problem: RunProblem | None = None
    problem_detail: str = ""
    problem_run: str | None = None
    problem_notified: bool = False
    problem_held: bool = False
    latest_run: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None
    ack_note: str | None = None
    #: When the acknowledgement times out and the alarm opens again (None: it never does).
    ack_expires_at: str | None = None
    resolved_at: str | None = None
    resolved_reason: str | None = None
    #: Everyone a notice of this alarm was queued for: the ``recovered`` notice goes to them.
    notified_people: list[str] = field(default_factory=list)
    first_notified_at: str | None = None
    last_notified_at: str | None = None
    #: Escalation: steps taken in the current pass, passes made, and when the next step is due.
    escalation_step: int = 0
    escalation_pass: int = 0
    next_escalation_at: str | None = None
    next_repeat_at: str | None = None
    retriggers: int = 0

    # ------------------------------------------------------------------ reading

    @property
    def is_open(self) -> bool:
        return self.state is not AlarmState.RESOLVED

    def failing_hosts(self) -> list[AlarmHost]:
        return [h for h in self.hosts.values() if h.failing]

    def is_clear(self) -> bool:
        """Nothing fails any more: every host succeeded since it failed and no run-level problem stands."""
        return self.problem is None and not self.failing_hosts()

    def categories(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for host in self.failing_hosts():
            counts[host.category] = counts.get(host.category, 0) + 1
        return counts

    def summary(self) -> str:
        failing = len(self.failing_hosts())
        parts = [f"{failing} failing host{'s' if failing != 1 else ''}"] if failing or not self.problem else []
        if self.problem:
            parts.append(f"{self.problem.value} run")
        return ", ".join(parts)

    # ------------------------------------------------------------------ transitions

    def host_failed(self, host: str, category: str, reason: str, run_id: str, at: str) -> bool:
        """Record a failure of ``host`` in ``run_id``; True when the host is newly failing in this alarm."""
        current = self.hosts.get(host)
        self.latest_run = run_id
        if current is None:
            self.hosts[host] = AlarmHost(host, category, reason, first_failed_at=at, last_failed_at=at,
                                         run_id=run_id)
            return True
        if not current.failing:
            # Failing again after a recovery in the same episode: a flap. It keeps its "notified" mark, so a host
            # that fails every other run is not announced every other run; the streak starts over.
            current.recovered_at, current.consecutive, current.flaps = None, 1, current.flaps + 1
            current.category, current.reason, current.last_failed_at, current.run_id = category, reason, at, run_id
            return True
        if current.run_id != run_id:
            current.consecutive += 1
        current.category, current.reason, current.last_failed_at, current.run_id = category, reason, at, run_id
        return False

    def host_succeeded(self, host: str, run_id: str, at: str) -> bool:
        """Record a success of ``host``; True when it was failing in this alarm (it has recovered)."""
        self.latest_run = run_id
        current = self.hosts.get(host)
        if current is None or not current.failing:
            return False
        current.recovered_at, current.held = at, False
        return True

    def run_problem(self, problem: RunProblem, detail: str, run_id: str | None) -> bool:
        """Record a run-level problem; True when it is new: none or another kind stood before, or it is another
        run's (each interrupted or missed run is a scan that did not happen, and is told once)."""
        new = self.problem is not problem or (run_id is not None and run_id != self.problem_run)
        self.problem, self.problem_detail, self.problem_run = problem, detail, run_id
        if new:
            self.problem_notified, self.problem_held = False, False
        if run_id:
            self.latest_run = run_id
        return new

    def run_completed(self, run_id: str) -> None:
        """The task completed a run (succeeded or failed with hosts): a standing run-level problem is over."""
        self.latest_run = run_id
        self.problem, self.problem_detail, self.problem_run = None, "", None
        self.problem_notified = self.problem_held = False

    def acknowledge(self, actor: str, at: str, note: str | None, expires_at: str | None) -> None:
        self.state = AlarmState.ACKNOWLEDGED
        self.acknowledged_by, self.acknowledged_at, self.ack_note = actor, at, note
        self.ack_expires_at = expires_at
        self.next_escalation_at = self.next_repeat_at = None

    def retrigger(self) -> None:
        """The acknowledgement timed out: the alarm is open again, and escalation starts over."""
        self.state = AlarmState.OPEN
        self.acknowledged_by = self.acknowledged_at = self.ack_note = self.ack_expires_at = None
        self.escalation_step = self.escalation_pass = 0
        self.retriggers += 1

    def resolve(self, at: str, reason: ResolvedReason) -> None:
        self.state = AlarmState.RESOLVED
        self.resolved_at, self.resolved_reason = at, reason.value
        self.next_escalation_at = self.next_repeat_at = self.ack_expires_at = None

    def notified(self, people: list[str], at: str) -> None:
        for name in people:
            if name not in self.notified_people:
                self.notified_people.append(name)
        self.first_notified_at = self.first_notified_at or at
        self.last_notified_at = at

    # ------------------------------------------------------------------ storage

    def copy(self) -> Alarm:
        """A deep copy (hosts included), for a reader that must not see or make later changes."""
        return Alarm.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["state"] = self.state.value
        doc["problem"] = self.problem.value if self.problem else None
        doc["hosts"] = [asdict(h) for h in self.hosts.values()]
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Alarm:
        data = dict(doc)
        data["state"] = AlarmState(data["state"])
        data["problem"] = RunProblem(data["problem"]) if data.get("problem") else None
        data["hosts"] = {h["host"]: AlarmHost(**h) for h in data.get("hosts", [])}
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------------------- silences

#: Longest a silence may last: a silence is for maintenance, not for forgetting a host (a year).
MAX_SILENCE_S = MAX_DURATION_S
#: Longest a silence's reason may be.
MAX_REASON = 500


@dataclass(frozen=True)
class Silence:
    """Mute notices for failures that match, from ``starts_at`` to ``ends_at``; the failures stay recorded.

    Matchers: ``task`` (a task id, or None for every task), ``host`` (a shell glob such as ``web-*``, None for
    every host) and ``category`` (None for every category). At least one of them must be given."""

    id: str
    created_by: str
    created_at: str
    starts_at: str
    ends_at: str
    reason: str
    task_id: str | None = None
    task_name: str | None = None
    host: str | None = None
    category: str | None = None
    expired_by: str | None = None
    expired_at: str | None = None

    def active(self, at: datetime) -> bool:
        return datetime.fromisoformat(self.starts_at) <= at < datetime.fromisoformat(self.effective_end)

    @property
    def effective_end(self) -> str:
        """When it stops muting: its end, or the moment someone expired it early."""
        return min(self.ends_at, self.expired_at, key=datetime.fromisoformat) if self.expired_at else self.ends_at

    def matches(self, task_id: str, host: str | None, category: str | None) -> bool:
        """Whether a failure of ``host`` (None: the run as a whole) of ``task_id`` is covered (time aside)."""
        if self.task_id is not None and self.task_id != task_id:
            return False
        if self.host is not None and (host is None or not fnmatch.fnmatchcase(host, self.host)):
            return False
        return self.category is None or (category is not None and self.category == category)

    def describe(self) -> str:
        parts = [f"task={self.task_name or self.task_id}" if self.task_id else "",
                 f"host={self.host}" if self.host else "", f"category={self.category}" if self.category else ""]
        return " ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Silence:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})


def check_silence(*, host: str | None, category: str | None, task_id: str | None, starts_at: datetime,
                  ends_at: datetime, reason: str, categories: tuple[str, ...]) -> None:
    """Raise ValidationError naming every field that breaks its rule."""
    problems: list[tuple[str, str]] = []
    if task_id is None and host is None and category is None:
        problems.append(("match", "name at least one of task, host and category: a silence of everything "
                                  "would mute every alarm"))
    if host is not None and (not host.strip() or len(host) > 253 or has_unsafe(host)
                             or any(c.isspace() for c in host)):
        problems.append(("host", "must be a host name or a glob such as web-* (no spaces or control "
                                 "characters, at most 253 characters)"))
    if category is not None and category not in categories:
        problems.append(("category", f"must be one of {', '.join(categories)}, got {category[:40]!r}"))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        problems.append(("start", "times must carry a time zone"))
    elif ends_at <= starts_at:
        problems.append(("end", "must be after the start"))
    elif (ends_at - starts_at).total_seconds() > MAX_SILENCE_S:
        problems.append(("end", "a silence lasts at most a year"))
    if not reason.strip():
        problems.append(("reason", "say why these failures need not page anyone (e.g. planned maintenance)"))
    elif len(reason) > MAX_REASON or has_unsafe(reason):
        problems.append(("reason", f"one line of at most {MAX_REASON} characters, without control, escape or "
                                   "bidi/format characters"))
    if problems:
        raise ValidationError([FieldError(f, rule) for f, rule in problems])


# ---------------------------------------------------------------------------- escalation policies


@dataclass(frozen=True)
class EscalationStep:
    """After ``after`` seconds (since the alarm's first notice, or since the previous step), notify ``roles`` of
    the scenario and ``people`` by ``modes`` (empty: the task's own modes)."""

    after: int
    roles: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"after": self.after, "roles": list(self.roles), "people": list(self.people),
                "modes": list(self.modes)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EscalationStep:
        return cls(int(doc["after"]), tuple(doc.get("roles", ())), tuple(doc.get("people", ())),
                   tuple(doc.get("modes", ())))


#: Alertmanager's default repeat interval: an open, unacknowledged alarm is sent again this often.
DEFAULT_REPEAT_S = 4 * 3600


@dataclass(frozen=True)
class EscalationPolicy:
    """A scenario's escalation: ordered steps, run ``1 + loops`` times; reminders every ``repeat`` seconds
    (None: never); an acknowledgement that times out after ``ack_timeout`` seconds re-triggers (None: never)."""

    steps: tuple[EscalationStep, ...] = ()
    loops: int = 0
    repeat: int | None = DEFAULT_REPEAT_S
    ack_timeout: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() for s in self.steps], "loops": self.loops, "repeat": self.repeat,
                "ack_timeout": self.ack_timeout}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EscalationPolicy:
        return cls(tuple(EscalationStep.from_dict(s) for s in doc.get("steps", ())), int(doc.get("loops", 0)),
                   doc.get("repeat", DEFAULT_REPEAT_S), doc.get("ack_timeout"))


def default_policy(task_roles: tuple[str, ...], task_people: tuple[str, ...], role_order: list[str], *,
                   escalate_after: int, max_escalations: int) -> EscalationPolicy:
    """The policy a scenario gets when people.toml states none: what Patchwatch always did. After
    ``escalate_after`` seconds without an acknowledgement the task's own recipients are notified again together
    with the next role of the scenario (if there is one); after as long again, with the one after that too;
    ``max_escalations`` steps in all."""
    last = task_roles[-1] if task_roles else None
    following = role_order[role_order.index(last) + 1:] if last in role_order else []
    steps = tuple(EscalationStep(escalate_after, roles=tuple(dict.fromkeys([*task_roles, *following[:level]])),
                                 people=task_people)
                  for level in range(1, max_escalations + 1))
    return EscalationPolicy(steps=steps)

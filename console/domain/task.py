"""The scheduled task: every field an operator fills in (domain.md), its validation and its dict form.

A task comes in from a form or a TOML file as a plain mapping. :func:`task_from_input` validates all of it at
once and reports every broken rule with the field's dotted path (``schedule.cron``), so an operator fixes the
whole form in one pass. Stored tasks come back through :meth:`Task.from_dict`, which trusts the store.

Why one module of this length: every field of the reference system's task, with its validation rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from console.domain.cron import CronExpression, load_cron, parse_cron, simple_to_cron
from console.domain.durations import parse_duration
from console.domain.limits import check_instant
from console.domain.terminal import has_unsafe
from console.domain.timezones import canonical_zone, parse_zone
from console.errors import FieldError, ValidationError

NAME_RULE = "3-100 characters: letters, digits, '-' and '_' only"
_NAME = re.compile(r"^[A-Za-z0-9_-]{3,100}$")
# Instance and group names come from inventories (hostnames, Ansible names).
_TARGET = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,252}$")
_PERSON = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@ -]{0,99}$")
_MODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ScheduleType(StrEnum):
    PERIODIC = "periodic"
    SINGLE = "single"


class MissedPolicy(StrEnum):
    """What the scheduler does with fires it could not make in time (the process was down)."""

    SKIP = "skip"  # record them as missed, wait for the next slot
    RUN_ONCE = "run_once"  # record them as missed, then run once now


class BatchMode(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    NONE = "none"


class NotifyPolicy(StrEnum):
    EXECUTION_FAILED = "execution_failed"
    SUCCEEDED = "succeeded"
    STARTED = "started"
    PAUSED = "paused"
    PENDING_REVIEW = "pending_review"
    MISSED = "missed"
    INTERRUPTED = "interrupted"
    RECOVERED = "recovered"


#: The mode that sends to a person's own apprise URLs (people.toml ``apprise = [...]``), all of them at once.
APPRISE_MODE = "apprise"
KNOWN_MODES = ("email", "sms", "wecom", "dingtalk", APPRISE_MODE)
#: The most runs in a row ``notify.after_consecutive`` may wait for: more would hide a failing host for months.
MAX_AFTER_CONSECUTIVE = 100

SCAN_OS_PATCH = "Scan_OS_Patch"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a public job: its type, default, and bounds."""

    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


#: The public jobs and their parameters. The first and only one is Scan_OS_Patch (domain.md).
JOBS: dict[str, dict[str, ParamSpec]] = {
    SCAN_OS_PATCH: {
        "refresh_metadata": ParamSpec(bool, False, help="refresh package metadata first (needs root or sudo -n)"),
        "concurrency": ParamSpec(int, 50, 1, 1000, "hosts scanned at the same time by this task"),
        "connect_timeout": ParamSpec(float, 10.0, 1, 600, "seconds to connect and log in"),
        "command_timeout": ParamSpec(float, 300.0, 1, 86400, "seconds each command may take"),
    },
}


@dataclass(frozen=True)
class Schedule:
    timezone: str = "UTC"
    type: ScheduleType = ScheduleType.PERIODIC
    cron: str | None = None
    #: The simple form (weekdays + time of day) the cron was made from, kept so a form can show it again.
    simple: dict[str, Any] | None = None
    #: Single execution: ISO date-time, read in ``timezone`` when it carries no offset.
    at: str | None = None
    #: After this instant the task no longer fires and shows as expired.
    expires: str | None = None
    on_missed: MissedPolicy = MissedPolicy.SKIP

    def zone(self) -> tzinfo:
        return parse_zone(self.timezone)

    def expression(self) -> CronExpression | None:
        return load_cron(self.cron) if self.cron else None

    def at_instant(self) -> datetime | None:
        return _local_instant(self.at, self.zone()) if self.at else None

    def expires_instant(self) -> datetime | None:
        return _local_instant(self.expires, self.zone()) if self.expires else None

    def is_expired(self, now: datetime) -> bool:
        expires = self.expires_instant()
        return expires is not None and now >= expires

    def next_after(self, after: datetime) -> datetime | None:
        """The first slot strictly after ``after`` (aware), in the task's zone; None when none is left."""
        zone = self.zone()
        if self.type is ScheduleType.SINGLE:
            at = self.at_instant()
            slot = at if at is not None and at > after else None
        else:
            expr = self.expression()
            slot = expr.next_after(zone, after) if expr else None
        expires = self.expires_instant()
        if slot is not None and expires is not None and slot > expires:
            return None
        return slot.astimezone(zone) if slot is not None else None

    def describe(self) -> str:
        if self.type is ScheduleType.SINGLE:
            text = f"once at {self.at} ({self.timezone})"
        else:
            expr = self.expression()
            text = f"{expr.describe() if expr else '?'} ({self.timezone})"
        if self.expires:
            text += f", until {self.expires}"
        return text


@dataclass(frozen=True)
class JobSpec:
    name: str = SCAN_OS_PATCH
    #: Credential profile used to reach the targets (where the cloud system has an IAM agency).
    credential: str = "default"
    #: Every step runs on the same targets and batch plan ("consistent for all steps").
    target_mode: str = "consistent"
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        spec = JOBS.get(self.name, {}).get(name)
        return self.params.get(name, spec.default if spec else None)


@dataclass(frozen=True)
class BatchPolicy:
    mode: BatchMode = BatchMode.AUTOMATIC
    #: Manual mode: the operator's batches, instance names in order.
    batches: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ErrorThreshold:
    """When to pause a run: more than ``max_failed`` failed hosts, or more than ``max_failed_percent`` of the
    finished hosts failed. ``None`` disables that limit; both None means the run never pauses on errors."""

    max_failed: int | None = None
    max_failed_percent: float | None = None

    def exceeded(self, failed: int, finished: int) -> bool:
        if self.max_failed is not None and failed > self.max_failed:
            return True
        return (
            self.max_failed_percent is not None
            and finished > 0
            and 100.0 * failed / finished > self.max_failed_percent
        )


@dataclass(frozen=True)
class Targets:
    instances: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    batch: BatchPolicy = BatchPolicy()
    error_threshold: ErrorThreshold = ErrorThreshold()


@dataclass(frozen=True)
class Review:
    required: bool = False
    reviewers: tuple[str, ...] = ()
    #: A run that nobody approves or rejects within this many seconds becomes ``review_expired``.
    expires_after: int = 86400


@dataclass(frozen=True)
class Notify:
    enabled: bool = False
    policies: tuple[NotifyPolicy, ...] = (NotifyPolicy.EXECUTION_FAILED,)
    scenario: str | None = None
    roles: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    modes: tuple[str, ...] = ("email",)
    #: Notify only when a host has failed this many runs in a row: a host that fails once in a while (a reboot
    #: during the scan) need not page anyone; one that keeps failing must.
    after_consecutive: int = 1


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    risk: Risk
    schedule: Schedule
    job: JobSpec
    targets: Targets
    review: Review
    notify: Notify
    description: str = ""
    enabled: bool = True
    created_at: str = ""
    updated_at: str = ""
    created_by: str = ""
    updated_by: str = ""
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"]["batch"]["batches"] = [list(b) for b in self.targets.batch.batches]
        return _plain(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """Rebuild a stored task (already validated when it was saved)."""
        s, j, t, r, n = (data[k] for k in ("schedule", "job", "targets", "review", "notify"))
        return cls(
            id=data["id"],
            name=data["name"],
            risk=Risk(data["risk"]),
            description=data.get("description", ""),
            enabled=bool(data.get("enabled", True)),
            schedule=Schedule(
                timezone=s["timezone"], type=ScheduleType(s["type"]), cron=s.get("cron"),
                simple=s.get("simple"), at=s.get("at"), expires=s.get("expires"),
                on_missed=MissedPolicy(s.get("on_missed", "skip")),
            ),
            job=JobSpec(name=j["name"], credential=j.get("credential", "default"),
                        target_mode=j.get("target_mode", "consistent"), params=dict(j.get("params", {}))),
            targets=Targets(
                instances=tuple(t.get("instances", ())), groups=tuple(t.get("groups", ())),
                batch=BatchPolicy(BatchMode(t["batch"]["mode"]),
                                  tuple(tuple(b) for b in t["batch"].get("batches", ()))),
                error_threshold=ErrorThreshold(**t.get("error_threshold", {})),
            ),
            review=Review(bool(r["required"]), tuple(r.get("reviewers", ())), int(r.get("expires_after", 86400))),
            notify=Notify(
                enabled=bool(n["enabled"]), policies=tuple(NotifyPolicy(p) for p in n.get("policies", ())),
                scenario=n.get("scenario"), roles=tuple(n.get("roles", ())), people=tuple(n.get("people", ())),
                modes=tuple(n.get("modes", ())), after_consecutive=int(n.get("after_consecutive", 1)),
            ),
            created_at=data.get("created_at", ""), updated_at=data.get("updated_at", ""),
            created_by=data.get("created_by", ""), updated_by=data.get("updated_by", ""),
            version=int(data.get("version", 1)),
        )


def _plain(value: Any) -> Any:
    """Enums to their values, tuples to lists: the JSON the store writes."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _local_instant(text: str, zone: tzinfo) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


# ---------------------------------------------------------------------------------------------------------
# Validation of operator input
# ---------------------------------------------------------------------------------------------------------

class _Collector:
    """Gathers every FieldError of one form so the operator sees them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field_name: str, rule: str) -> None:
        self.errors.append(FieldError(field_name, rule))

    def section(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(key, f"must be a table of settings, got {type(value).__name__}")
            return {}
        return value

    def enum(self, field_name: str, value: Any, enum: type[StrEnum], default: StrEnum) -> Any:
        if value is None:
            return default
        try:
            return enum(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            self.add(field_name, f"must be one of {allowed}; got {value!r}")
            return default

    def boolean(self, field_name: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        self.add(field_name, f"must be true or false, got {value!r}")
        return default

    def names(self, field_name: str, value: Any, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, Sequence):
            self.add(field_name, f"must be a list of {what}")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not pattern.match(item.strip()):
                self.add(f"{field_name}[{i}]", f"{item!r} is not a valid {what}")
            elif item.strip() not in out:
                out.append(item.strip())
        return tuple(out)

    def unknown_keys(self, prefix: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else key
                self.add(where, f"unknown setting; allowed here: {', '.join(sorted(allowed))}")


def validate_name(name: Any) -> str:
    """The task name rule of the reference system; raises ValidationError on field ``name``."""
    if not isinstance(name, str) or not _NAME.match(name):
        shown = name if not isinstance(name, str) else name[:60]
        raise ValidationError.single("name", f"must be {NAME_RULE}; got {shown!r}")
    return name


def task_from_input(data: Mapping[str, Any], *, task_id: str, now: datetime, actor: str,
                    previous: Task | None = None) -> Task:
    """Build a task from operator input (a form or a TOML file), checking every rule.

    Raises :class:`ValidationError` listing every broken rule; nothing is stored by this function.
    ``previous`` is the task being edited: its id, creation stamp and version carry over.
    """
    c = _Collector()
    c.unknown_keys("", data, {"name", "risk", "description", "enabled", "schedule", "job", "targets",
                              "review", "notify", "id"})
    name = data.get("name")
    try:
        validate_name(name)
    except ValidationError as exc:
        c.errors.extend(exc.errors)
    risk = c.enum("risk", data.get("risk"), Risk, Risk.LOW)
    description = data.get("description", "") or ""
    if not isinstance(description, str) or len(description) > 1000:
        c.add("description", "must be text of at most 1000 characters")
        description = ""
    elif has_unsafe(description):
        # Escapes, OSC 8 links and bidi overrides would reach every terminal that lists the task.
        c.add("description", "must not contain control, escape or bidi/format characters (line breaks are fine)")
        description = ""
    enabled = c.boolean("enabled", data.get("enabled"), True)

    schedule = _schedule_from_input(c, c.section(data, "schedule"), now)
    job = _job_from_input(c, c.section(data, "job"))
    targets = _targets_from_input(c, c.section(data, "targets"))
    review = _review_from_input(c, c.section(data, "review"), risk)
    notify = _notify_from_input(c, c.section(data, "notify"))

    if c.errors:
        raise ValidationError(c.errors)
    stamp = now.isoformat()
    return Task(
        id=task_id, name=str(name), risk=risk, description=description, enabled=enabled,
        schedule=schedule, job=job, targets=targets, review=review, notify=notify,
        created_at=previous.created_at if previous else stamp, updated_at=stamp,
        created_by=previous.created_by if previous else actor, updated_by=actor,
        version=previous.version + 1 if previous else 1,
    )


def _schedule_from_input(c: _Collector, s: Mapping[str, Any], now: datetime) -> Schedule:
    c.unknown_keys("schedule", s, {"timezone", "type", "cron", "simple", "at", "expires", "on_missed"})
    zone_text = s.get("timezone", "UTC")
    zone: tzinfo | None = None
    try:
        zone = parse_zone(str(zone_text))
        zone_text = canonical_zone(str(zone_text))
    except ValidationError as exc:
        c.errors.extend(exc.prefixed("schedule").errors)
    stype = c.enum("schedule.type", s.get("type"), ScheduleType, ScheduleType.PERIODIC)
    on_missed = c.enum("schedule.on_missed", s.get("on_missed"), MissedPolicy, MissedPolicy.SKIP)
    cron_text, simple, at_text = s.get("cron"), s.get("simple"), s.get("at")
    expr: CronExpression | None = None

    if stype is ScheduleType.PERIODIC:
        if at_text:
            c.add("schedule.at", "only for type 'single'; a periodic task uses cron or simple")
        if cron_text and simple:
            c.add("schedule.simple", "give either cron or simple, not both")
        elif simple:
            if not isinstance(simple, Mapping):
                c.add("schedule.simple", "must be a table with weekdays and time")
            else:
                try:
                    cron_text = simple_to_cron(simple.get("weekdays", ()), str(simple.get("time", "")))
                    simple = dict(simple)
                except ValidationError as exc:
                    c.errors.extend(exc.prefixed("schedule.simple").errors)
                    cron_text = None
        if not cron_text and not simple:
            c.add("schedule.cron", "a periodic task needs a cron expression (or a simple weekdays + time form)")
        elif cron_text:
            try:
                expr = parse_cron(str(cron_text))
                cron_text = expr.text
            except ValidationError as exc:
                c.errors.extend(exc.prefixed("schedule.cron").errors)
    else:
        if cron_text or simple:
            c.add("schedule.cron", "only for type 'periodic'; a single execution uses schedule.at")
        if not at_text:
            c.add("schedule.at", "a single execution needs a date-time, e.g. 2026-12-05T03:15:00")
        elif zone is not None:
            try:
                at = check_instant(_local_instant(str(at_text), zone), "schedule.at")
                if at <= now:
                    c.add("schedule.at", f"must be in the future; {at_text} has passed")
            except ValidationError as exc:
                c.errors.extend(exc.errors)
            except ValueError:
                c.add("schedule.at", f"must be an ISO date-time such as 2026-12-05T03:15:00, got {at_text!r}")
        cron_text, simple = None, None

    expires_text = s.get("expires") or None
    if expires_text is not None and zone is not None:
        try:
            expires = check_instant(_local_instant(str(expires_text), zone), "schedule.expires")
            if expires <= now:
                c.add("schedule.expires", f"must be in the future; {expires_text} has passed")
            elif expr is not None and expr.next_after(zone, now) is not None:
                first = expr.next_after(zone, now)
                if first is not None and first > expires:
                    c.add("schedule.expires",
                          f"is before the first fire ({first.isoformat()}): the task would never run")
        except ValidationError as exc:
            c.errors.extend(exc.errors)
        except ValueError:
            c.add("schedule.expires", f"must be an ISO date-time such as 2027-12-31T23:59:59, got {expires_text!r}")
    if expr is not None and zone is not None and expr.next_after(zone, now) is None:
        c.add("schedule.cron", "never fires again after now")
    return Schedule(
        timezone=str(zone_text), type=stype, cron=str(cron_text) if cron_text else None,
        simple=dict(simple) if isinstance(simple, Mapping) else None,
        at=str(at_text) if stype is ScheduleType.SINGLE and at_text else None,
        expires=str(expires_text) if expires_text else None, on_missed=on_missed,
    )


def _job_from_input(c: _Collector, j: Mapping[str, Any]) -> JobSpec:
    c.unknown_keys("job", j, {"name", "credential", "target_mode", "params"})
    name = j.get("name", SCAN_OS_PATCH)
    if name not in JOBS:
        c.add("job.name", f"must be a public job ({', '.join(JOBS)}); got {name!r}")
        return JobSpec()
    credential = j.get("credential", "default")
    if not isinstance(credential, str) or not _TARGET.match(credential):
        c.add("job.credential", f"must name a credential profile (letters, digits, . _ -); got {credential!r}")
        credential = "default"
    target_mode = j.get("target_mode", "consistent")
    if target_mode != "consistent":
        c.add("job.target_mode", "only 'consistent' (every step on the same targets and batch plan) is supported")
    raw = j.get("params", {}) or {}
    params: dict[str, Any] = {}
    if not isinstance(raw, Mapping):
        c.add("job.params", "must be a table of job parameters")
        raw = {}
    specs = JOBS[name]
    for key, value in raw.items():
        spec = specs.get(key)
        where = f"job.params.{key}"
        if spec is None:
            c.add(where, f"unknown parameter of {name}; known: {', '.join(sorted(specs))}")
            continue
        if spec.kind is bool:
            if not isinstance(value, bool):
                c.add(where, f"must be true or false, got {value!r}")
                continue
        elif isinstance(value, bool) or not isinstance(value, int | float) or (
                spec.kind is int and not isinstance(value, int)):
            c.add(where, f"must be a {'whole number' if spec.kind is int else 'number'}, got {value!r}")
            continue
        elif not math.isfinite(value) or (spec.minimum is not None and value < spec.minimum) or (
                spec.maximum is not None and value > spec.maximum):
            c.add(where, f"must be between {spec.minimum:g} and {spec.maximum:g}, got {value!r}")
            continue
        params[key] = value
    return JobSpec(name=name, credential=credential, target_mode="consistent", params=params)


def _targets_from_input(c: _Collector, t: Mapping[str, Any]) -> Targets:
    c.unknown_keys("targets", t, {"instances", "groups", "batch", "error_threshold"})
    instances = c.names("targets.instances", t.get("instances"), _TARGET, "instance name")
    groups = c.names("targets.groups", t.get("groups"), _TARGET, "group name")
    if not instances and not groups:
        c.add("targets", "select at least one instance or group")
    # `batch = "automatic"` is the short form of `[targets.batch] mode = "automatic"`.
    b = {"mode": t["batch"]} if isinstance(t.get("batch"), str) else c.section(t, "batch")
    c.unknown_keys("targets.batch", b, {"mode", "batches"})
    mode = c.enum("targets.batch.mode", b.get("mode"), BatchMode, BatchMode.AUTOMATIC)
    batches: list[tuple[str, ...]] = []
    raw_batches = b.get("batches") or []
    if mode is BatchMode.MANUAL:
        if not raw_batches or not isinstance(raw_batches, Sequence):
            c.add("targets.batch.batches", "manual batches need a list of batches, each a list of instance names")
        else:
            seen: set[str] = set()
            for i, batch in enumerate(raw_batches):
                names = c.names(f"targets.batch.batches[{i}]", batch, _TARGET, "instance name")
                if not names:
                    c.add(f"targets.batch.batches[{i}]", "a batch needs at least one instance")
                for n in names:
                    if n in seen:
                        c.add(f"targets.batch.batches[{i}]", f"instance {n!r} is already in an earlier batch")
                    seen.add(n)
                batches.append(names)
    elif raw_batches:
        c.add("targets.batch.batches", f"only for mode 'manual' (mode is {mode.value})")

    e = c.section(t, "error_threshold")
    c.unknown_keys("targets.error_threshold", e, {"max_failed", "max_failed_percent"})
    max_failed = e.get("max_failed")
    if max_failed is not None and (isinstance(max_failed, bool) or not isinstance(max_failed, int)
                                   or max_failed < 0):
        c.add("targets.error_threshold.max_failed", f"must be a whole number >= 0, got {max_failed!r}")
        max_failed = None
    pct = e.get("max_failed_percent")
    if pct is not None and (isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct < 100):
        c.add("targets.error_threshold.max_failed_percent", f"must be a number from 0 to 99.9, got {pct!r}")
        pct = None
    return Targets(instances=instances, groups=groups, batch=BatchPolicy(mode, tuple(batches)),
                   error_threshold=ErrorThreshold(max_failed, float(pct) if pct is not None else None))


def _review_from_input(c: _Collector, r: Mapping[str, Any], risk: Risk) -> Review:
    c.unknown_keys("review", r, {"required", "reviewers", "expires_after"})
    # High risk turns manual review on unless the operator says otherwise (domain.md).
    required = c.boolean("review.required", r.get("required"), risk is Risk.HIGH)
    reviewers = c.names("review.reviewers", r.get("reviewers"), _PERSON, "person name")
    expires_after = 86400
    if r.get("expires_after") is not None:
        try:
            expires_after = parse_duration(r["expires_after"], "review.expires_after")
        except ValidationError as exc:
            c.errors.extend(exc.errors)
    return Review(required, reviewers, expires_after)


def _notify_from_input(c: _Collector, n: Mapping[str, Any]) -> Notify:
    c.unknown_keys("notify", n, {"enabled", "policies", "scenario", "roles", "people", "modes", "after_consecutive"})
    enabled = c.boolean("notify.enabled", n.get("enabled"), bool(n))
    policies: list[NotifyPolicy] = []
    raw = n.get("policies", ["execution_failed"])
    if isinstance(raw, str):
        raw = [raw]
    for i, p in enumerate(raw if isinstance(raw, Sequence) else []):
        policy = c.enum(f"notify.policies[{i}]", p, NotifyPolicy, NotifyPolicy.EXECUTION_FAILED)
        if policy not in policies:
            policies.append(policy)
    scenario = n.get("scenario")
    if scenario is not None and (not isinstance(scenario, str) or not _PERSON.match(scenario)):
        c.add("notify.scenario", f"must name a shift scenario, got {scenario!r}")
        scenario = None
    roles = c.names("notify.roles", n.get("roles"), _PERSON, "role name")
    people = c.names("notify.people", n.get("people"), _PERSON, "person name")
    modes = c.names("notify.modes", n.get("modes", ["email"]), _MODE,
                    f"notification mode (e.g. {', '.join(KNOWN_MODES)})")
    if enabled:
        if not policies:
            c.add("notify.policies", "pick at least one event that notifies (e.g. execution_failed)")
        if roles and not scenario:
            c.add("notify.scenario", "roles belong to a shift scenario: name the scenario")
        if scenario and not roles:
            c.add("notify.roles", f"pick at least one role of scenario {scenario!r}")
        if not roles and not people:
            c.add("notify", "notifications need recipients: a scenario with roles, and/or named people")
        if not modes:
            c.add("notify.modes", f"pick at least one mode ({', '.join(KNOWN_MODES)})")
    after = n.get("after_consecutive")
    after = 1 if after is None else after
    # bool is an int to Python, and 2.0 or "3" would be stored as something other than a count of runs.
    if isinstance(after, bool) or not isinstance(after, int) or not 1 <= after <= MAX_AFTER_CONSECUTIVE:
        c.add("notify.after_consecutive", f"must be a whole number of runs from 1 to {MAX_AFTER_CONSECUTIVE} "
                                          f"(1: notify at the first failure), got {after!r}")
        after = 1
    return Notify(enabled, tuple(policies), scenario, roles, people, modes, after)


def task_to_input(task: Task) -> dict[str, Any]:
    """The editable fields of ``task`` in the input form (for editing and TOML export)."""
    data = task.to_dict()
    for key in ("id", "created_at", "updated_at", "created_by", "updated_by", "version"):
        data.pop(key, None)
    sched = data["schedule"]
    if sched.get("simple"):
        sched.pop("cron", None)
    return {k: _drop_none(v) for k, v in data.items()}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def with_enabled(task: Task, enabled: bool, *, now: datetime, actor: str) -> Task:
    return replace(task, enabled=enabled, updated_at=now.isoformat(), updated_by=actor, version=task.version + 1)

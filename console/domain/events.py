"""The event catalogue: every kind of event Patchwatch records, and the payload each one carries.

Every state change is an :class:`Event` (domain.md, "The trace"). Kinds are dotted (``run.fired``,
``host.finished``, ``notification.sent``) so that a filter on ``run.`` takes a whole family; they are an enum
so that a producer cannot invent a kind nobody listens for, and each kind has a payload ``TypedDict`` so that
a consumer cannot read a key nobody writes. ``tests/architecture/test_event_catalogue.py`` checks both over
the source; :func:`check_payload` checks every published payload at run time.

Sequence numbers (``seq``) are assigned when an event is published, strictly increasing and continued across
restarts (the newest stored event carries the highest), so a client can resume a stream from the last
``seq`` it saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol, TypedDict


class EventKind(StrEnum):
    """Every kind of event. A ``StrEnum``: a kind compares equal to its dotted string and is stored as it."""

    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    TASK_ENABLED = "task.enabled"
    TASK_DISABLED = "task.disabled"
    TASK_DELETED = "task.deleted"
    TASK_EXPIRED = "task.expired"
    #: The scheduler could not compute the task's schedule (a value beyond what date arithmetic can hold): it no
    #: longer fires until it is changed; the other tasks go on.
    TASK_BROKEN = "task.broken"

    RUN_FIRED = "run.fired"
    RUN_MISSED = "run.missed"
    RUN_PENDING_REVIEW = "run.pending_review"
    RUN_APPROVED = "run.approved"
    RUN_REJECTED = "run.rejected"
    RUN_REVIEW_EXPIRED = "run.review_expired"
    RUN_STARTED = "run.started"
    RUN_PAUSED = "run.paused"
    RUN_RESUMED = "run.resumed"
    RUN_CANCEL_REQUESTED = "run.cancel_requested"
    RUN_CANCELLED = "run.cancelled"
    RUN_ERROR = "run.error"
    RUN_INTERRUPTED = "run.interrupted"
    RUN_FINISHED = "run.finished"
    RUN_ACKNOWLEDGED = "run.acknowledged"
    BATCH_STARTED = "batch.started"
    HOST_FINISHED = "host.finished"

    #: Alarms (console.domain.alarm): one per task and failure episode, kept by console.engine.alarms.
    ALARM_OPENED = "alarm.opened"
    ALARM_HOST_FAILING = "alarm.host_failing"
    ALARM_HOST_RECOVERED = "alarm.host_recovered"
    ALARM_PROBLEM = "alarm.problem"
    #: A run of the alarm's task ended: what it changed in the alarm.
    ALARM_UPDATED = "alarm.updated"
    ALARM_ACKNOWLEDGED = "alarm.acknowledged"
    ALARM_RETRIGGERED = "alarm.retriggered"
    ALARM_ESCALATED = "alarm.escalated"
    ALARM_REMINDED = "alarm.reminded"
    #: Failures a silence held back are announced: the silence ended and the alarm is still open.
    ALARM_RELEASED = "alarm.released"
    ALARM_RESOLVED = "alarm.resolved"
    SILENCE_CREATED = "silence.created"
    SILENCE_EXPIRED = "silence.expired"
    SILENCE_ENDED = "silence.ended"

    INVENTORY_CHANGED = "inventory.changed"
    INVENTORY_REMOVED = "inventory.removed"
    CREDENTIAL_SAVED = "credential.saved"
    HOSTKEY_ACCEPTED = "hostkey.accepted"
    PEOPLE_IMPORTED = "people.imported"

    NOTIFICATION_QUEUED = "notification.queued"
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_FAILED = "notification.failed"
    NOTIFICATION_RETRYING = "notification.retrying"
    NOTIFICATION_FALLBACK = "notification.fallback"
    NOTIFICATION_ABANDONED = "notification.abandoned"
    NOTIFICATION_RETRY_REQUESTED = "notification.retry_requested"
    NOTIFICATION_ERROR = "notification.error"
    NOTIFICATION_CONFIG_ERROR = "notification.config_error"

    SCHEDULER_STARTED = "scheduler.started"
    SCHEDULER_STOPPED = "scheduler.stopped"
    STORE_ERROR = "engine.store_error"
    STORE_RECOVERED = "engine.store_recovered"
    ACCESS_DENIED = "access.denied"
    #: The retention job removed host results and history older than the retention period.
    HISTORY_PRUNED = "history.pruned"
    #: Never stored: told to one subscriber that fell behind and lost events; it must re-read (resync).
    STREAM_LAGGED = "stream.lagged"
    #: Never stored, made by an attached client: the daemon went away / came back (resumed without a gap).
    STREAM_DISCONNECTED = "stream.disconnected"
    STREAM_RECONNECTED = "stream.reconnected"


# ---------------------------------------------------------------------------------------------- payloads
# total=False: a payload key may be absent (older records, or a field that does not apply), never unknown.


class NoPayload(TypedDict, total=False):
    """Kinds whose message and ids say everything."""


class TaskCreated(TypedDict, total=False):
    name: str
    schedule: str


class TaskUpdated(TypedDict, total=False):
    changed: list[str]
    version: int


class TaskDeleted(TypedDict, total=False):
    name: str


class TaskExpired(TypedDict, total=False):
    expires: str | None


class TaskBroken(TypedDict, total=False):
    #: the exception type and message the schedule computation raised
    reason: str


#: Every change of a run's state: where it came from and where it went (``from`` is a Python keyword, hence
#: the functional spelling of the payloads that carry it).
RunTransition = TypedDict("RunTransition", {"from": str, "to": str}, total=False)


class RunFired(TypedDict, total=False):
    trigger: str
    slot: str | None
    state: str


class RunMissed(TypedDict, total=False):
    slots: list[str]
    count: int
    capped: bool
    #: ``overlap`` when the previous run was still active; absent for downtime
    reason: str


class RunPendingReview(TypedDict, total=False):
    deadline: str | None
    reviewers: list[str]


RunReviewed = TypedDict("RunReviewed", {"from": str, "to": str, "note": str | None}, total=False)
RunStarted = TypedDict("RunStarted", {"from": str, "to": str, "hosts": int}, total=False)
RunPaused = TypedDict("RunPaused", {"from": str, "to": str, "reason": str}, total=False)
RunFinished = TypedDict("RunFinished", {"from": str, "to": str, "state": str, "hosts_total": int, "hosts_ok": int,
                                        "hosts_failed": int, "categories": dict[str, int]}, total=False)


class RunAcknowledged(TypedDict, total=False):
    note: str | None


class BatchStarted(TypedDict, total=False):
    batch: int
    batches: int
    hosts: list[str]
    size: int


class HostFinished(TypedDict, total=False):
    status: str
    category: str | None
    reason: str | None
    missing: int
    security: int | None
    done: int
    total: int


class AlarmPayload(TypedDict, total=False):
    alarm: str
    #: what opened it: failed, missed, interrupted, error, broken
    cause: str
    category: str | None
    reason: str | None
    consecutive: int
    #: this failure is to be notified now (not silenced, not acknowledged, failed often enough in a row)
    announce: bool
    #: the first announcement of the alarm (the notice is ``execution_failed``; later ones are updates)
    first: bool
    #: the silence that held this failure back
    silence: str | None
    problem: str | None
    detail: str
    run_state: str
    failing: int
    recovered: int
    new_failing: int
    announced: int
    hosts: list[str]
    note: str | None
    expires_at: str | None
    acknowledged_by: str | None
    step: int
    loop: int
    level: int
    roles: list[str]
    people: list[str]
    modes: list[str]
    resolved_reason: str
    notified: list[str]


class SilencePayload(TypedDict, total=False):
    silence: str
    task: str | None
    host: str | None
    category: str | None
    starts_at: str
    ends_at: str
    reason: str
    #: alarms with failures this silence covers when it was created / when it ended
    alarms: list[str]


class InventoryChanged(TypedDict, total=False):
    names: list[str]
    count: int


class CredentialSaved(TypedDict, total=False):
    name: str
    user: str | None
    sudo: str
    keys: int
    agent: bool


class HostKeyAccepted(TypedDict, total=False):
    address: str
    port: int
    algorithm: str
    fingerprint: str


class PeopleImported(TypedDict, total=False):
    people: list[str]
    scenarios: list[str]


class NotificationEvent(TypedDict, total=False):
    """Every step of one outbox record's life."""

    notification: str
    mode: str
    person: str
    target: str
    kind: str
    attempts: int
    error: str | None
    latency_s: float | None
    next_attempt_at: str | None
    fallback: str
    fallback_mode: list[str]


class StoreError(TypedDict, total=False):
    error: str
    pending: int


class AccessDenied(TypedDict, total=False):
    """A call refused through the socket: who (the event's actor, from the kernel), what, and why."""

    action: str
    needed: str
    role: str | None
    uid: int
    pid: int
class HistoryPruned(TypedDict, total=False):
    #: results finished before this instant (UTC ISO) were due
    before: str
    results: int
    shards: int
    #: entries removed from the host-history index
    entries: int
    retention_days: int


class StreamLagged(TypedDict, total=False):
    #: the last sequence number the subscriber was given before it fell behind
    after_seq: int


PAYLOADS: dict[EventKind, type] = {
    EventKind.TASK_CREATED: TaskCreated,
    EventKind.TASK_UPDATED: TaskUpdated,
    EventKind.TASK_ENABLED: NoPayload,
    EventKind.TASK_DISABLED: NoPayload,
    EventKind.TASK_DELETED: TaskDeleted,
    EventKind.TASK_EXPIRED: TaskExpired,
    EventKind.TASK_BROKEN: TaskBroken,
    EventKind.RUN_FIRED: RunFired,
    EventKind.RUN_MISSED: RunMissed,
    EventKind.RUN_PENDING_REVIEW: RunPendingReview,
    EventKind.RUN_APPROVED: RunReviewed,
    EventKind.RUN_REJECTED: RunReviewed,
    EventKind.RUN_REVIEW_EXPIRED: RunTransition,
    EventKind.RUN_STARTED: RunStarted,
    EventKind.RUN_PAUSED: RunPaused,
    EventKind.RUN_RESUMED: RunTransition,
    EventKind.RUN_CANCEL_REQUESTED: NoPayload,
    EventKind.RUN_CANCELLED: RunTransition,
    EventKind.RUN_ERROR: RunTransition,
    EventKind.RUN_INTERRUPTED: RunTransition,
    EventKind.RUN_FINISHED: RunFinished,
    EventKind.RUN_ACKNOWLEDGED: RunAcknowledged,
    EventKind.BATCH_STARTED: BatchStarted,
    EventKind.HOST_FINISHED: HostFinished,
    **{kind: AlarmPayload for kind in EventKind if kind.value.startswith("alarm.")},
    **{kind: SilencePayload for kind in EventKind if kind.value.startswith("silence.")},
    EventKind.INVENTORY_CHANGED: InventoryChanged,
    EventKind.INVENTORY_REMOVED: InventoryChanged,
    EventKind.CREDENTIAL_SAVED: CredentialSaved,
    EventKind.HOSTKEY_ACCEPTED: HostKeyAccepted,
    EventKind.PEOPLE_IMPORTED: PeopleImported,
    EventKind.NOTIFICATION_QUEUED: NotificationEvent,
    EventKind.NOTIFICATION_SENT: NotificationEvent,
    EventKind.NOTIFICATION_FAILED: NotificationEvent,
    EventKind.NOTIFICATION_RETRYING: NotificationEvent,
    EventKind.NOTIFICATION_FALLBACK: NotificationEvent,
    EventKind.NOTIFICATION_ABANDONED: NotificationEvent,
    EventKind.NOTIFICATION_RETRY_REQUESTED: NotificationEvent,
    EventKind.NOTIFICATION_ERROR: NoPayload,
    EventKind.NOTIFICATION_CONFIG_ERROR: NoPayload,
    EventKind.SCHEDULER_STARTED: NoPayload,
    EventKind.SCHEDULER_STOPPED: NoPayload,
    EventKind.STORE_ERROR: StoreError,
    EventKind.STORE_RECOVERED: StoreError,
    EventKind.ACCESS_DENIED: AccessDenied,
    EventKind.HISTORY_PRUNED: HistoryPruned,
    EventKind.STREAM_LAGGED: StreamLagged,
    EventKind.STREAM_DISCONNECTED: StreamLagged,
    EventKind.STREAM_RECONNECTED: StreamLagged,
}

#: Run states whose transition event is the state's own kind (``run.<state>``).
_TRANSITION_KINDS = {kind.value.split(".", 1)[1]: kind for kind in EventKind if kind.value.startswith("run.")}


def payload_keys(kind: EventKind) -> frozenset[str]:
    """The keys a payload of ``kind`` may carry."""
    payload = PAYLOADS[kind]
    return frozenset(payload.__optional_keys__) | frozenset(payload.__required_keys__)  # type: ignore[attr-defined]


def check_payload(kind: EventKind, data: dict[str, Any]) -> None:
    """Refuse a payload key the catalogue does not declare for ``kind`` (a programming error, found by tests)."""
    unknown = set(data) - payload_keys(kind)
    if unknown:
        raise TypeError(f"event {kind.value}: payload keys {sorted(unknown)} are not in the catalogue "
                        f"({PAYLOADS[kind].__name__}); declare them in console/domain/events.py")


def transition_kind(state: str) -> EventKind:
    """The kind of the event that records a run entering ``state`` (``run.<state>``)."""
    return _TRANSITION_KINDS[state]


def parse_kind(value: str) -> EventKind | str:
    """A stored kind as the enum; a kind this version does not know (a newer writer) stays a plain string."""
    try:
        return EventKind(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class Event:
    """One entry of the trace: every state change is one (domain.md, "The trace")."""

    kind: EventKind | str
    at: str
    message: str
    task_id: str | None = None
    run_id: str | None = None
    host: str | None = None
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        # Events are frozen; a shallow copy (with its own data dict) is enough and much cheaper than asdict.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["kind"] = str(self.kind)
        data["data"] = dict(self.data)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["kind"] = parse_kind(str(values.get("kind", "")))
        return cls(**values)


class EventStream(Protocol):
    """Events in publication order, as a subscriber reads them; a ``stream.lagged`` event says the reader fell
    behind and must re-read from the trace. The broker's subscriptions, a resumed stream and (next) a socket
    client's stream all have this shape."""

    async def get(self) -> Event: ...

    def get_nowait(self) -> Event: ...

    def empty(self) -> bool: ...

    def close(self) -> None: ...

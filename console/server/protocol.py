"""The wire protocol of ``EngineAPI``: HTTP + JSON over the data directory's Unix socket, version ``v1``.

One table, :data:`ROUTES`, says for every API member its HTTP verb and path, the role it needs, and how its
arguments and result travel. The server dispatches with it and the client builds its requests from it, so
the two cannot drift apart (a test checks that every ``EngineAPI`` member has a route). ``docs/api.md``
describes the same routes for people using ``curl --unix-socket``.

Arguments: path parameters from the path; the rest from the query string (GET) or a JSON object body (other
verbs). ``actor`` is never taken from a request: the server fills it from the caller's peer credentials.
Errors travel as ``{"error": {"type": ..., "message": ..., "errors": [{"field": ..., "rule": ...}]}}`` with
the HTTP status of their kind, and become the same exception on the client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.domain.alarm import Alarm, Silence
from console.domain.coverage import CoverageReport
from console.domain.events import Event
from console.domain.run import HostResult, Run, RunState, TranscriptPage
from console.domain.task import Task
from console.errors import (
    AccessDeniedError,
    ConflictError,
    DataDirLockedError,
    DisconnectedError,
    FieldError,
    NotFoundError,
    PatchwatchError,
    StoreError,
    ValidationError,
)
from console.jobs import Target
from console.notify.outbox import OutboxRecord
from console.notify.people import Directory
from console.scan.credentials import CredentialProfile
from console.scan.hostkeys import HostKeyInfo
from console.server.roles import Role

API_VERSION = "v1"
SOCKET_NAME = "patchwatch.sock"


# ----------------------------------------------------------------------------------------------- codecs

@dataclass(frozen=True)
class Codec:
    """How one value travels: ``encode`` to JSON-able data, ``decode`` back; ``parse`` from a query string."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    parse: Callable[[str], Any] = str


def record(cls: Any) -> Codec:
    return Codec(lambda v: v.to_dict(), cls.from_dict)


def many(item: Codec) -> Codec:
    return Codec(lambda vs: [item.encode(v) for v in vs], lambda vs: [item.decode(v) for v in vs])


def optional(item: Codec) -> Codec:
    return Codec(lambda v: None if v is None else item.encode(v), lambda v: None if v is None else item.decode(v),
                 item.parse)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


PLAIN = Codec(lambda v: v, lambda v: v)
INT = Codec(lambda v: v, lambda v: v, int)
FLOAT = Codec(lambda v: v, lambda v: v, float)
BOOL = Codec(lambda v: v, lambda v: v, _parse_bool)
NONE = Codec(lambda v: None, lambda v: None)
DATETIME = Codec(lambda v: v.isoformat(), datetime.fromisoformat, datetime.fromisoformat)
STATES = Codec(lambda v: sorted(s.value for s in v), lambda v: {RunState(s) for s in v},
               lambda text: {RunState(s) for s in text.split(",") if s})
ONCALL = Codec(lambda rows: [list(r) for r in rows], lambda rows: [(r[0], r[1], list(r[2])) for r in rows])


@dataclass(frozen=True)
class Route:
    """One API member on the wire."""

    name: str
    verb: str
    path: str
    role: Role
    result: Codec
    args: Mapping[str, Codec] = field(default_factory=dict)

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))

    def url(self, values: Mapping[str, Any]) -> str:
        from urllib.parse import quote

        path = self.path
        for name in self.path_params:
            path = path.replace("{" + name + "}", quote(str(values[name]), safe=""))
        return path


_V = f"/{API_VERSION}"
VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

ROUTES: tuple[Route, ...] = (
    # tasks
    Route("list_tasks", "GET", f"{_V}/tasks", VIEWER, many(record(Task))),
    Route("validate_task", "POST", f"{_V}/tasks/validate", VIEWER, record(Task), {"data": PLAIN, "task_id": PLAIN}),
    Route("task_problems", "GET", f"{_V}/task-problems", VIEWER, PLAIN),
    Route("get_task", "GET", f"{_V}/tasks/{{ref}}", VIEWER, record(Task)),
    Route("next_fires", "GET", f"{_V}/tasks/{{ref}}/next-fires", VIEWER, many(DATETIME), {"count": INT}),
    Route("create_task", "POST", f"{_V}/tasks", ADMIN, record(Task), {"data": PLAIN}),
    Route("update_task", "PUT", f"{_V}/tasks/{{ref}}", ADMIN, record(Task), {"data": PLAIN}),
    Route("set_enabled", "POST", f"{_V}/tasks/{{ref}}/enabled", ADMIN, record(Task), {"enabled": BOOL}),
    Route("delete_task", "DELETE", f"{_V}/tasks/{{ref}}", ADMIN, record(Task)),
    Route("run_now", "POST", f"{_V}/tasks/{{ref}}/run", OPERATOR, record(Run)),
    # runs
    Route("list_runs", "GET", f"{_V}/runs", VIEWER, many(record(Run)),
          {"task": PLAIN, "states": STATES, "limit": INT}),
    Route("list_open_runs", "GET", f"{_V}/open-runs", VIEWER, many(record(Run))),
    Route("get_run", "GET", f"{_V}/runs/{{run_id}}", VIEWER, record(Run)),
    Route("wait_run", "GET", f"{_V}/runs/{{run_id}}/wait", VIEWER, record(Run), {"timeout": optional(FLOAT)}),
    Route("host_results", "GET", f"{_V}/runs/{{run_id}}/hosts", VIEWER, many(record(HostResult))),
    Route("transcript_page", "GET", f"{_V}/runs/{{run_id}}/hosts/{{host}}/transcript", VIEWER,
          record(TranscriptPage), {"offset": INT, "limit": INT}),
    Route("rescan_failed", "POST", f"{_V}/runs/{{run_id}}/rescan", OPERATOR, record(Run)),
    Route("approve", "POST", f"{_V}/runs/{{run_id}}/approve", OPERATOR, record(Run), {"note": PLAIN}),
    Route("reject", "POST", f"{_V}/runs/{{run_id}}/reject", OPERATOR, record(Run), {"note": PLAIN}),
    Route("cancel", "POST", f"{_V}/runs/{{run_id}}/cancel", OPERATOR, record(Run)),
    Route("pause", "POST", f"{_V}/runs/{{run_id}}/pause", OPERATOR, record(Run)),
    Route("resume", "POST", f"{_V}/runs/{{run_id}}/resume", OPERATOR, record(Run)),
    Route("acknowledge", "POST", f"{_V}/runs/{{run_id}}/ack", OPERATOR, record(Run), {"note": PLAIN}),
    Route("list_alarms", "GET", f"{_V}/alarms", VIEWER, many(record(Alarm)),
          {"include_resolved": BOOL, "limit": INT}),
    Route("get_alarm", "GET", f"{_V}/alarms/{{alarm_id}}", VIEWER, record(Alarm)),
    Route("acknowledge_alarm", "POST", f"{_V}/alarms/{{alarm_id}}/ack", OPERATOR, record(Alarm), {"note": PLAIN}),
    Route("rescan_alarm", "POST", f"{_V}/alarms/{{alarm_id}}/rescan", OPERATOR, record(Run)),
    Route("list_silences", "GET", f"{_V}/silences", VIEWER, many(record(Silence)), {"include_ended": BOOL}),
    Route("add_silence", "POST", f"{_V}/silences", OPERATOR, record(Silence),
          {"reason": PLAIN, "ends_at": DATETIME, "starts_at": optional(DATETIME), "task": PLAIN, "host": PLAIN,
           "category": PLAIN}),
    Route("expire_silence", "POST", f"{_V}/silences/{{silence_id}}/expire", OPERATOR, record(Silence)),
    # the trace
    Route("query_events", "GET", f"{_V}/events", VIEWER, many(record(Event)),
          {"since": PLAIN, "until": PLAIN, "task_id": PLAIN, "run_id": PLAIN, "host": PLAIN, "kind": PLAIN,
           "text": PLAIN, "limit": optional(INT), "newest_first": BOOL}),
    # fleet
    Route("list_instances", "GET", f"{_V}/instances", VIEWER, many(record(Target)), {"group": PLAIN}),
    Route("import_inventory", "POST", f"{_V}/instances", ADMIN, many(record(Target)),
          {"text": PLAIN, "source": PLAIN, "fmt": PLAIN}),
    Route("remove_instances", "POST", f"{_V}/instances/remove", ADMIN, PLAIN, {"names": PLAIN}),
    Route("list_credentials", "GET", f"{_V}/credentials", VIEWER, many(record(CredentialProfile))),
    Route("put_credential", "POST", f"{_V}/credentials", ADMIN, record(CredentialProfile),
          {"profile": record(CredentialProfile)}),
    Route("fetch_host_key", "GET", f"{_V}/hostkeys/{{name}}", VIEWER, record(HostKeyInfo),
          {"port": optional(INT), "timeout": FLOAT}),
    Route("accept_host_key", "POST", f"{_V}/hostkeys", ADMIN, record(HostKeyInfo),
          {"name": PLAIN, "port": optional(INT), "timeout": FLOAT, "fingerprint": PLAIN}),
    # reports
    Route("coverage_report", "GET", f"{_V}/reports/coverage", VIEWER, record(CoverageReport),
          {"since": DATETIME, "until": DATETIME, "group": PLAIN, "task": PLAIN}),
    # people and notifications
    Route("directory", "GET", f"{_V}/people", VIEWER, record(Directory)),
    Route("import_people", "POST", f"{_V}/people", ADMIN, record(Directory), {"text": PLAIN, "source": PLAIN}),
    Route("oncall", "GET", f"{_V}/oncall", VIEWER, ONCALL, {"at": optional(DATETIME)}),
    Route("list_notifications", "GET", f"{_V}/notifications", VIEWER, many(record(OutboxRecord)),
          {"status": PLAIN, "run_id": PLAIN, "limit": INT}),
    Route("retry_notification", "POST", f"{_V}/notifications/{{record_id}}/retry", OPERATOR, record(OutboxRecord)),
    Route("notify_test", "POST", f"{_V}/notifications/test", OPERATOR, record(OutboxRecord),
          {"mode": PLAIN, "person": PLAIN}),
)

ROUTES_BY_NAME = {route.name: route for route in ROUTES}
#: Not an EngineAPI member: who the caller is, and whom it talks to.
WHOAMI_PATH = f"{_V}/whoami"
#: The live event stream (server-sent events), resumable from a sequence number.
EVENTS_STREAM_PATH = f"{_V}/events/stream"
EVENTS_STREAM_ROLE = VIEWER


# ----------------------------------------------------------------------------------------------- errors

_STATUS: dict[type[PatchwatchError], int] = {
    ValidationError: 400, AccessDeniedError: 403, NotFoundError: 404, ConflictError: 409,
    DataDirLockedError: 423, StoreError: 507, DisconnectedError: 503,
}
_BY_NAME: dict[str, type[PatchwatchError]] = {cls.__name__: cls for cls in [*_STATUS, PatchwatchError]}


def error_body(exc: PatchwatchError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of an error."""
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
    body: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ValidationError):
        body["errors"] = [{"field": e.field, "rule": e.rule} for e in exc.errors]
    return status, {"error": body}


def error_from_body(status: int, body: Mapping[str, Any]) -> PatchwatchError:
    """The exception an error body stands for (a type this version does not know: the base class)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return PatchwatchError(f"the daemon answered HTTP {status} without an error body")
    cls = _BY_NAME.get(str(error.get("type")), PatchwatchError)
    if cls is ValidationError:
        return ValidationError([FieldError(str(e.get("field", "")), str(e.get("rule", "")))
                                for e in error.get("errors", [])] or [FieldError("", str(error.get("message")))])
    return cls(str(error.get("message", "")))


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

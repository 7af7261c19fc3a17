"""Serves an engine's ``EngineAPI`` on the data directory's Unix socket, to attached consoles and CLI commands.

Whoever owns the data directory (the daemon, or a console or demo started when no daemon runs) serves it.
Every request is identified by the kernel (``SO_PEERCRED`` on the connected socket: pid, uid, gid), mapped to
a role by ``roles.toml``, and refused with ``AccessDeniedError`` (HTTP 403, traced as ``access.denied``) when
the role is too low; the caller's user name is what the trace records as the actor of everything it does.

The socket file's mode and group are the first line of access control (``0660`` and a ``patchwatch`` group in
the systemd example); roles are the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import inspect
import os
import socket
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from console import __version__
from console.clock import within
from console.domain.events import EventKind
from console.engine import Engine
from console.engine.api import EngineAPI
from console.errors import AccessDeniedError, PatchwatchError, ValidationError
from console.server.protocol import (
    EVENTS_STREAM_PATH,
    EVENTS_STREAM_ROLE,
    ROUTES,
    WHOAMI_PATH,
    Route,
    dumps,
    error_body,
)
from console.server.roles import Caller, Role, RoleBook, load_roles
from console.store.permissions import admit_to_socket

#: Default mode of the socket file: the daemon's user and group (roles decide the rest).
DEFAULT_SOCKET_MODE = 0o660
#: Seconds between keep-alive comments on an idle event stream (a client notices a dead daemon sooner).
HEARTBEAT = 10.0
_PEERCRED = struct.Struct("3i")


def peer_of(request: web.Request) -> Caller:
    """The caller, as the kernel saw it connect (never what the caller says)."""
    sock = request.transport.get_extra_info("socket") if request.transport is not None else None
    if sock is None or sock.family != socket.AF_UNIX:
        raise AccessDeniedError("only local callers on the Unix socket are served")
    pid, uid, gid = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    return Caller.from_ids(pid, uid, gid)


class ApiServer:
    """The HTTP+JSON server of one engine on one Unix socket."""

    def __init__(self, engine: Engine, socket_path: Path, *, roles: RoleBook | None = None,
                 mode: int = DEFAULT_SOCKET_MODE, group: str | None = None) -> None:
        self.engine = engine
        self.socket_path = socket_path
        self.roles = roles or load_roles(engine.data_dir)
        self.mode = mode
        self.group = group
        self._runner: web.AppRunner | None = None
        self._streams: set[web.StreamResponse] = set()

    async def start(self) -> ApiServer:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        for route in ROUTES:
            app.router.add_route(route.verb, route.path, self._handler(route))
        app.router.add_get(WHOAMI_PATH, self._whoami)
        app.router.add_get(EVENTS_STREAM_PATH, self._stream)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # A socket file left by a killed owner is stale: this process owns the directory (it holds the lock).
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        site = web.UnixSite(self._runner, str(self.socket_path))
        await site.start()
        gid = grp.getgrnam(self.group).gr_gid if self.group else -1
        if gid != -1:
            os.chown(self.socket_path, -1, gid)
            os.chown(self.socket_path.parent, -1, gid)
        os.chmod(self.socket_path, self.mode)
        admit_to_socket(self.socket_path.parent, self.mode)
        return self

    async def stop(self) -> None:
        for response in list(self._streams):
            with contextlib.suppress(Exception):
                await response.write_eof()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    # ------------------------------------------------------------------ access

    def _authorise(self, request: web.Request, action: str, needed: Role) -> Caller:
        caller = peer_of(request)
        role = self.roles.role_of(caller)
        if role is None or role < needed:
            have = role.label if role else None
            self.engine.broker.publish(
                EventKind.ACCESS_DENIED, f"{caller.user} (uid {caller.uid}, pid {caller.pid}) was refused "
                f"{action}: it needs the {needed.label} role, {caller.user} has {have or 'none'}", actor=caller.user,
                data={"action": action, "needed": needed.label, "role": have, "uid": caller.uid, "pid": caller.pid})
            raise AccessDeniedError(f"{action} needs the {needed.label} role; {caller.user} has "
                                    f"{'the ' + have + ' role' if have else 'no role'} in "
                                    f"{self.engine.data_dir / 'roles.toml'}")
        return caller

    # ------------------------------------------------------------------ handlers

    def _handler(self, route: Route) -> Any:
        takes_actor = "actor" in inspect.signature(getattr(EngineAPI, route.name)).parameters

        async def handle(request: web.Request) -> web.Response:
            try:
                caller = self._authorise(request, route.name, route.role)
                kwargs = await _arguments(route, request)
                if takes_actor:
                    kwargs["actor"] = caller.user
                result = await getattr(self.engine, route.name)(**kwargs)
                return _json(200, route.result.encode(result))
            except PatchwatchError as exc:
                status, body = error_body(exc)
                return _json(status, body)

        return handle

    async def _whoami(self, request: web.Request) -> web.Response:
        caller = peer_of(request)
        role = self.roles.role_of(caller)
        return _json(200, {"user": caller.user, "uid": caller.uid, "role": role.label if role else None,
                           "daemon_pid": os.getpid(), "data_dir": str(self.engine.data_dir.resolve()),
                           "version": __version__, "api": "v1"})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: every event after ``after_seq`` (or ``Last-Event-ID``), then live ones."""
        try:
            self._authorise(request, "follow", EVENTS_STREAM_ROLE)
            raw = request.query.get("after_seq") or request.headers.get("Last-Event-ID")
            after = _parse_seq(raw) if raw else None
        except PatchwatchError as exc:
            status, body = error_body(exc)
            return _json(status, body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        self._streams.add(response)
        last = after if after is not None else self.engine.broker.last_seq
        stream = await self.engine.subscribe(after_seq=last)
        try:
            while True:
                try:
                    event = await within(stream.get(), HEARTBEAT)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                # Whatever else is already waiting goes in the same write: one syscall per burst, not per event.
                batch = [event]
                while not stream.empty() and len(batch) < 1000:
                    batch.append(stream.get_nowait())
                chunks = []
                for item in batch:
                    if item.kind is EventKind.STREAM_LAGGED:
                        # This reader fell behind: resync it from the trace, without a gap, transparently.
                        stream.close()
                        stream = await self.engine.subscribe(after_seq=last)
                        break
                    last = item.seq
                    chunks.append(f"id: {item.seq}\nevent: {item.kind}\ndata: {dumps(item.to_dict())}\n\n")
                if chunks:
                    await response.write("".join(chunks).encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stream.close()
            self._streams.discard(response)
        return response


def _parse_seq(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError.single("after_seq", f"must be a sequence number, got {raw!r}") from None
    if value < 0:
        raise ValidationError.single("after_seq", "must be 0 or more")
    return value


async def _arguments(route: Route, request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {name: request.match_info[name] for name in route.path_params}
    if route.verb == "GET":
        source: Mapping[str, Any] = request.query
        for name, codec in route.args.items():
            if name in source:
                try:
                    values[name] = codec.parse(source[name])
                except ValueError as exc:
                    raise ValidationError.single(name, f"cannot be read: {exc}") from None
        unknown = sorted(set(source) - set(route.args))
    else:
        body = await request.json() if request.can_read_body else {}
        if not isinstance(body, dict):
            raise ValidationError.single("body", "must be a JSON object")
        for name, codec in route.args.items():
            if name in body:
                values[name] = codec.decode(body[name])
        unknown = sorted(set(body) - set(route.args))
    if unknown:
        raise ValidationError.single(", ".join(unknown), f"not an argument of {route.name} "
                                     f"(arguments: {', '.join(route.args) or 'none'})")
    return values


def _json(status: int, data: Any) -> web.Response:
    return web.Response(status=status, text=dumps(data), content_type="application/json")

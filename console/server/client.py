"""``EngineClient``: the ``EngineAPI`` of a daemon, reached over its Unix socket.

Every API member is built from the same route table the server dispatches with
(:mod:`console.server.protocol`), with the protocol's own signature: a console or a CLI command cannot tell
an attached daemon from an in-process engine except by what :attr:`EngineClient.identity` says.

The event stream reconnects by itself: when the daemon goes away the stream yields one
``stream.disconnected`` event at once (so a console never shows a stale all-clear), retries, and on success
yields ``stream.reconnected`` and resumes from the last sequence number it delivered, with no gap and no
duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp

from console.clock import Clock, SystemClock
from console.domain.events import Event, EventKind
from console.engine.api import EngineAPI
from console.errors import DisconnectedError, PatchwatchError
from console.server.protocol import EVENTS_STREAM_PATH, ROUTES, WHOAMI_PATH, Route, error_from_body

#: How often a broken event stream tries to reach the daemon again.
RECONNECT_EVERY = 0.5


class EngineClient:
    """An attached client. Open with :meth:`connect`; close with :meth:`close`."""

    read_only = False

    def __init__(self, socket_path: Path, *, clock: Clock | None = None) -> None:
        self.socket_path = socket_path
        self.clock: Clock = clock or SystemClock()
        #: Who this client is and whom it talks to, as the daemon says (user, role, daemon_pid, data_dir...).
        self.identity: dict[str, Any] = {}
        self._session: aiohttp.ClientSession | None = None

    async def connect(self) -> EngineClient:
        """Reach the daemon (DisconnectedError when nothing answers on the socket) and learn who we are."""
        self._session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(self.socket_path)),
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        try:
            self.identity = await self.whoami()
        except BaseException:
            await self.close()
            raise
        return self

    async def whoami(self) -> dict[str, Any]:
        """Who the daemon says this client is (user, role) and who it is (pid, data directory, version)."""
        data = await self._request("GET", WHOAMI_PATH)
        return dict(data)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> EngineClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ requests

    async def _request(self, verb: str, path: str, *, params: dict[str, str] | None = None,
                       body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            raise DisconnectedError("this client is not connected")
        try:
            async with self._session.request(verb, f"http://patchwatch{path}", params=params, json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status >= 400:
                    raise error_from_body(resp.status, data)
                return data
        except (aiohttp.ClientConnectionError, ConnectionError, FileNotFoundError) as exc:
            raise DisconnectedError(f"the daemon on {self.socket_path} is not reachable: {exc}") from exc
        except (json.JSONDecodeError, aiohttp.ContentTypeError) as exc:
            raise PatchwatchError(f"the daemon on {self.socket_path} answered something that is not JSON") from exc

    async def call(self, route: Route, arguments: dict[str, Any]) -> Any:
        url = route.url(arguments)
        rest = {k: v for k, v in arguments.items() if k not in route.path_params and k != "actor"}
        if route.verb == "GET":
            params = {k: _query_value(route.args[k].encode(v)) for k, v in rest.items() if v is not None}
            data = await self._request("GET", url, params=params)
        else:
            data = await self._request(route.verb, url, body={k: route.args[k].encode(v) for k, v in rest.items()})
        return route.result.decode(data)

    # ------------------------------------------------------------------ events

    async def subscribe(self, *, after_seq: int | None = None) -> ReconnectingStream:
        stream = ReconnectingStream(self, after_seq)
        await stream.start()
        return stream

    async def open_stream(self, after_seq: int | None) -> aiohttp.ClientResponse:
        if self._session is None:
            raise DisconnectedError("this client is not connected")
        params = {"after_seq": str(after_seq)} if after_seq is not None else {}
        try:
            response = await self._session.get(f"http://patchwatch{EVENTS_STREAM_PATH}", params=params)
        except (aiohttp.ClientConnectionError, ConnectionError, FileNotFoundError) as exc:
            raise DisconnectedError(f"the daemon on {self.socket_path} is not reachable: {exc}") from exc
        if response.status >= 400:
            data = await response.json(content_type=None)
            response.release()
            raise error_from_body(response.status, data)
        return response


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _api_method(route: Route) -> Any:
    signature = inspect.signature(getattr(EngineAPI, route.name))

    async def method(self: EngineClient, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        arguments = {k: v for k, v in bound.arguments.items() if k != "self"}
        return await self.call(route, arguments)

    method.__name__ = route.name
    method.__doc__ = f"``{route.verb} {route.path}`` (needs the {route.role.label} role)."
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


for _route in ROUTES:
    setattr(EngineClient, _route.name, _api_method(_route))


class ReconnectingStream:
    """The daemon's events as an ``EventStream``, surviving daemon restarts."""

    def __init__(self, client: EngineClient, after_seq: int | None) -> None:
        self._client = client
        self.last_seq = after_seq
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        response = await self._client.open_stream(self.last_seq)
        self._connected.set()
        self._reader = asyncio.create_task(self._read_forever(response), name="patchwatch-event-stream")

    def _put(self, event: Event) -> None:
        self._queue.append(event)
        self._ready.set()

    def _marker(self, kind: EventKind, message: str) -> Event:
        return Event(kind=kind, at=self._client.clock.now().isoformat(), message=message,
                     data={"after_seq": self.last_seq or 0})

    async def _read_forever(self, response: aiohttp.ClientResponse | None) -> None:
        while True:
            if response is None:
                response = await self._reconnect()
            try:
                await self._read(response)
            except (aiohttp.ClientError, ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                response.release()
            response = None
            self._connected.clear()
            self._put(self._marker(EventKind.STREAM_DISCONNECTED,
                                   f"lost the daemon on {self._client.socket_path}; reconnecting"))

    async def _reconnect(self) -> aiohttp.ClientResponse:
        while True:
            await asyncio.sleep(RECONNECT_EVERY)
            with contextlib.suppress(DisconnectedError, PatchwatchError):
                response = await self._client.open_stream(self.last_seq)
                with contextlib.suppress(PatchwatchError):
                    # A restarted daemon is a new process: learn its pid for the console's header.
                    self._client.identity = await self._client.whoami()
                self._connected.set()
                self._put(self._marker(EventKind.STREAM_RECONNECTED,
                                       f"reconnected to the daemon on {self._client.socket_path}"))
                return response

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        data: list[str] = []
        while True:
            raw = await response.content.readline()
            if not raw:
                return  # the daemon closed the stream (it stopped or was killed)
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith(":"):
                continue
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                event = Event.from_dict(json.loads("\n".join(data)))
                data = []
                if self.last_seq is not None and event.seq <= self.last_seq:
                    continue
                self.last_seq = event.seq
                self._put(event)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def get(self) -> Event:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def get_nowait(self) -> Event:
        if not self._queue:
            raise asyncio.QueueEmpty()
        return self._queue.popleft()

    def empty(self) -> bool:
        return not self._queue

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

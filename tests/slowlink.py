"""A slow network link on loopback, and the order of an asyncssh client's messages as asyncssh logs them.

With every byte ``delay`` seconds late in each direction, a message a client sends without waiting for an
answer leaves before that answer arrives, and one that waits leaves after: which of the two a login did is
read from asyncssh's packet log (debug level 3), not from timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def slow_link(port: int, delay: float) -> AsyncIterator[int]:
    """A TCP proxy on loopback that delivers every byte ``delay`` seconds late, in both directions (in order),
    so a message that waits for an answer and one that does not come out in a fixed order."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)

        delivering = asyncio.create_task(deliver())
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((loop.time() + delay, b""))
        await delivering

    links: set[asyncio.Task[object]] = set()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
        links.add(asyncio.current_task())  # type: ignore[arg-type]
        await asyncio.gather(pump(client_reader, server_writer), pump(server_reader, client_writer))

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield proxy.sockets[0].getsockname()[1]
    finally:
        proxy.close()
        for link in links:
            link.cancel()
        await asyncio.gather(*links, return_exceptions=True)


def client_packets(records: list[logging.LogRecord]) -> list[str]:
    """The messages the client sent and received, in its order (``"Sent MSG_SERVICE_REQUEST"``...), from
    asyncssh's packet log at debug level 3, whose lines read ``[conn=N, pktid=M] Sent MSG_NAME (type), ...``;
    an asyncssh server in the same process logs there too, under its own connection number."""
    messages = [r.getMessage() for r in records]
    client = next(m.split("]")[0] for m in messages if "] Connected to SSH server" in m)  # "[conn=N"
    ours = (m.split("] ", 1)[1] for m in messages if m.startswith(client + ","))
    return [m.split(",")[0].rsplit(" (", 1)[0] for m in ours if m.startswith(("Sent MSG_", "Received MSG_"))]

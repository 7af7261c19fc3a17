"""Finding the engine of a data directory: attach to the process that serves it, or be that process.

A running owner (the daemon, or a console or demo started when no daemon runs) serves ``EngineAPI`` on
``DATA/patchwatch.sock``; every other Patchwatch process attaches there. When nothing answers on the socket,
a CLI command opens the engine in its own process as before (and a console serves it to others).
"""

from __future__ import annotations

from pathlib import Path

from console.errors import DisconnectedError
from console.server.client import EngineClient
from console.server.protocol import SOCKET_NAME


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


async def attach(data_dir: Path, connect: Path | None = None) -> EngineClient | None:
    """A client of the daemon serving ``data_dir`` (or of the socket ``connect``), or None when nothing serves
    it. A ``connect`` socket that does not answer is an error: the operator named it."""
    path = connect or socket_path(data_dir)
    if connect is None and not path.exists():
        return None
    try:
        return await EngineClient(path).connect()
    except DisconnectedError:
        if connect is not None:
            raise
        return None  # a socket file left by a killed owner: nobody serves it

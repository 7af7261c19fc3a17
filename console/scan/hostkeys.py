"""Explicit acceptance of a host key: fetch what a host presents now and add it to Patchwatch's known_hosts.

Scans never do this on their own: an unknown or changed key is always a ``host_key`` failure. Accepting is
an operator's decision, recorded in the trace with the fingerprint they accepted.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from console.errors import PatchwatchError, ValidationError


class HostKeyError(PatchwatchError):
    """The host's key could not be fetched (unreachable, not SSH)."""


@dataclass(frozen=True)
class HostKeyInfo:
    address: str
    port: int
    algorithm: str
    fingerprint: str  # SHA256:..., as ssh-keygen -l prints it
    known_hosts_line: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "algorithm": self.algorithm,
                "fingerprint": self.fingerprint, "known_hosts_line": self.known_hosts_line}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostKeyInfo:
        return cls(address=data["address"], port=int(data["port"]), algorithm=data["algorithm"],
                   fingerprint=data["fingerprint"], known_hosts_line=data["known_hosts_line"])


def known_hosts_pattern(address: str, port: int) -> str:
    """OpenSSH's spelling of a host in known_hosts: ``host`` on port 22, ``[host]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def check_fingerprint(info: HostKeyInfo, expected: str | None) -> None:
    """Refuse (ValidationError on ``fingerprint``) a key whose fingerprint is not the one the operator
    verified out of band; ``None`` means the operator accepts what is presented (``--yes``)."""
    if expected is None:
        return
    if expected.strip() != info.fingerprint:
        raise ValidationError.single(
            "fingerprint", f"{info.address}:{info.port} presents {info.algorithm} key {info.fingerprint}, not "
                           f"{expected.strip()}: nothing was trusted (a rebuilt host, or someone in between: "
                           "verify on the host's console with ssh-keygen -lf /etc/ssh/ssh_host_*.pub)")


async def fetch_host_key(address: str, port: int = 22, *, timeout: float = 10.0) -> HostKeyInfo:
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(address, port, config=None), timeout)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise HostKeyError(f"cannot fetch the host key of {address}:{port}: {exc or type(exc).__name__}") from exc
    if key is None:
        raise HostKeyError(f"{address}:{port} presented no host key")
    public = key.export_public_key("openssh").decode().strip()
    return HostKeyInfo(address=address, port=port, algorithm=key.get_algorithm(),
                       fingerprint=key.get_fingerprint("sha256"),
                       known_hosts_line=f"{known_hosts_pattern(address, port)} {public}")


def append_known_host(path: Path, info: HostKeyInfo) -> None:
    """Append the line durably (a later scan must see it even after a crash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (info.known_hosts_line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)

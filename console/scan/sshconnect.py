"""Scan connections with fewer round trips and less client CPU than asyncssh's defaults, same protocol.

Every scan connection is owned by :class:`ScanSSHClient` (``LoadedCredential.connect_options`` names it) and
:func:`install` puts three changes in place, each acting on those connections only; any other asyncssh
client or server in the process behaves exactly as before:

1. the first key goes out signed, without asking first (two round trips saved);
2. the login leaves right behind the service request (one round trip saved);
3. the connection's options are built where ``connect`` is called, not in a worker thread (CPU).

**1. Public-key login in one round trip.** asyncssh logs a client in the way OpenSSH's ``ssh`` does: a
``none`` request (to learn the server's methods), then an unsigned ``publickey`` query (is this key
acceptable?), then the signed request. Each is a round trip,
so on a link of 50 ms the two preliminaries cost 100 ms of every host's scan, and four SSH packets of CPU at
both ends. RFC 4252 (section 7) lets a client send the signature directly, without asking first; the
signature covers this connection's session identifier, so it is worth nothing anywhere else, and host key
verification has already happened during key exchange (nothing here touches it).

asyncssh has no option for this. Its authentication methods are pluggable (``asyncssh.auth.
register_auth_method``), and every client connection starts with the method ``none``; :class:`_DirectFirstAuth`
takes that method's place. For a connection owned by :class:`ScanSSHClient` it sends the signed request of
the first key instead of the ``none`` request; for any other connection it sends exactly the ``none`` request
asyncssh sends, so other asyncssh clients in the same process behave as before. If the first key is refused,
asyncssh goes on as usual from the server's answer (the method list a ``none`` request would have returned):
the remaining keys, each queried first, then failure (``PermissionDenied``, as before).

Why it is written against asyncssh's auth classes: the request must be sent from inside asyncssh's
authentication state machine (which waits for the answer of the request it thinks it sent); the parts used
are those every asyncssh auth method uses (``ClientAuth``, ``public_key_auth_requested``,
``send_userauth_request``). tests/scan/test_sshauth.py checks the round trips on a real asyncssh server, so an
asyncssh release that changes them fails a test instead of silently logging in the slow way.

**2. The login behind the service request.** After key exchange a client asks for the
``ssh-userauth`` service, and asyncssh sends nothing more until the server's accept is back: a round trip
in which nothing travels but that answer. Nothing in RFC 4253 (section 10) asks a client to wait; a server
handles a connection's messages in order, so a login request that follows the service request is read
after the service is accepted (OpenSSH's sshd and asyncssh's server both do). A server that refuses the
service disconnects (RFC 4253), and the login request is never read. So on a :class:`ScanSSHClient`
connection the login starts as soon as the server's extension list (RFC 8308) has arrived, which names the
signature algorithms the server takes (``server-sig-algs``, needed to sign with an RSA key) and comes with
the server's half of the key exchange, before the accept. A server that sends no extension list gets the
usual order. This one asyncssh has no plug-in point for: the connection's handlers of those two messages are
replaced on that connection only (:func:`_pipeline_login`); they use asyncssh's own handlers and state.

**3. Options built in place.** ``asyncssh.connect`` builds each connection's options
(``SSHClientConnectionOptions``) in the event loop's default thread pool, because in general that reads
files (~/.ssh/config, key files, known_hosts). A scan's options read none: keys and known hosts are loaded
once per credential, the configuration is off, and the two lookups asyncssh still makes are made cheap once
(the local user name is put in ``LOGNAME`` when the environment has none, as a login would; no X.509 trust
directory is consulted). Building them in a thread then costs two thread hand-offs per host (the worker's
wake-up and the loop's), and with them a contest for the interpreter lock with the loop that scans every
other host: about four context switches per host, for 0.1 ms of work. So for a :class:`ScanSSHClient`
connection the options are built on the spot (:func:`_construct_options`).
"""

from __future__ import annotations

import asyncio
import getpass
import os
from typing import Any

import asyncssh
from asyncssh.auth import ClientAuth, ServerAuth, register_auth_method
from asyncssh.constants import MSG_EXT_INFO, MSG_SERVICE_ACCEPT
from asyncssh.packet import Boolean, SSHPacket, String

__all__ = ["ScanSSHClient", "install"]

_NONE = b"none"
_PUBLICKEY = b"publickey"
_USERAUTH_SERVICE = b"ssh-userauth"


class ScanSSHClient(asyncssh.SSHClient):
    """The client object of Patchwatch's scan connections: marks them for the three changes of this module
    (the direct signed request, the login behind the service request, options built in place)."""

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        _pipeline_login(conn)


def _pipeline_login(ssh_conn: asyncssh.SSHClientConnection) -> None:
    """Start the login of ``ssh_conn`` when the server's extension list arrives instead of when its service accept
    does (the module's docstring says why that is safe); the accept is then only checked."""
    handlers = dict(ssh_conn._packet_handlers)
    process_ext_info = handlers[MSG_EXT_INFO]
    process_service_accept = handlers[MSG_SERVICE_ACCEPT]
    started_early = False

    def on_ext_info(ssh_conn: asyncssh.SSHClientConnection, pkttype: int, pktid: int, packet: SSHPacket) -> None:
        nonlocal started_early
        process_ext_info(ssh_conn, pkttype, pktid, packet)
        # Only the first extension list, after the first key exchange: the service request is out, no
        # login has begun (a later list, after a re-key or the login, changes nothing here).
        if ssh_conn._next_service == _USERAUTH_SERVICE and not (ssh_conn._auth_in_progress or ssh_conn._auth_complete):
            started_early = True
            ssh_conn.logger.info("Beginning auth for user %s, behind the service request", ssh_conn._username)
            ssh_conn._auth_in_progress = True
            ssh_conn.get_owner().begin_auth(ssh_conn._username)
            ssh_conn.try_next_auth()

    def on_service_accept(ssh_conn: asyncssh.SSHClientConnection, pkttype: int, pktid: int, packet: SSHPacket) -> None:
        if not started_early:
            process_service_accept(ssh_conn, pkttype, pktid, packet)
            return
        service = packet.get_string()
        packet.check_end()
        if service != ssh_conn._next_service:
            raise asyncssh.ServiceNotAvailable("Unexpected service in service accept")
        ssh_conn._next_service = None  # the login is already under way

    ssh_conn._packet_handlers = {**handlers, MSG_EXT_INFO: on_ext_info, MSG_SERVICE_ACCEPT: on_service_accept}


class _DirectFirstAuth(ClientAuth):
    """asyncssh's first authentication step: the signed public-key request on a :class:`ScanSSHClient`
    connection, the plain ``none`` request on any other."""

    def __init__(self, conn: asyncssh.SSHClientConnection, method: bytes) -> None:
        # Kept here (before the base class schedules _start) rather than read from the base class's fields.
        self._connection = conn
        super().__init__(conn, method)

    async def _start(self) -> None:
        conn = self._connection
        if isinstance(conn.get_owner(), ScanSSHClient):
            # The first key, as asyncssh's own public-key step would take it (agent keys included, signature
            # algorithm chosen from the server's server-sig-algs); it is not offered again if refused.
            keypair = await conn.public_key_auth_requested()
            if keypair is not None:
                conn.logger.debug1("Signing request with %s key, sent without asking first", keypair.algorithm)
                await conn.send_userauth_request(_PUBLICKEY, Boolean(True), String(keypair.algorithm),
                                                 String(keypair.public_data), key=keypair, trivial=False)
                return
        await conn.send_userauth_request(_NONE)


class _NoNullAuth(ServerAuth):
    """Server side of ``none``, as asyncssh's own: never offered (servers in this process are unchanged)."""

    @classmethod
    def supported(cls, conn: asyncssh.SSHServerConnection) -> bool:
        return False

    async def _start(self, packet: object) -> None:  # pragma: no cover - never offered, so never started
        return None


_build_options_in_pool = asyncssh.SSHClientConnectionOptions.construct


async def _construct_options(cls: type[asyncssh.SSHClientConnectionOptions],
                             options: asyncssh.SSHClientConnectionOptions | None = None,
                             **kwargs: Any) -> asyncssh.SSHClientConnectionOptions:
    """``SSHClientConnectionOptions.construct`` as asyncssh's ``connect`` calls it: on the spot for a scan
    connection (nothing to read from disk), in the thread pool as before for any other."""
    if kwargs.get("client_factory") is ScanSSHClient:
        return cls(options, loop=asyncio.get_running_loop(), **kwargs)
    return await _build_options_in_pool.__func__(cls, options, **kwargs)  # type: ignore[attr-defined]


_installed = False


def install() -> None:
    """Put the changes of this module in place (once per process)."""
    global _installed
    if not _installed:
        register_auth_method(_NONE, _DirectFirstAuth, _NoNullAuth)
        asyncssh.SSHClientConnectionOptions.construct = classmethod(_construct_options)  # type: ignore[method-assign]
        if not any(os.environ.get(name) for name in ("LOGNAME", "USER", "LNAME", "USERNAME")):
            # asyncssh asks getpass.getuser() for every connection; without these it reads the password
            # database each time (possibly a directory service), which must not happen on the event loop.
            os.environ["LOGNAME"] = getpass.getuser()
        _installed = True

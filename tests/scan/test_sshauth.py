"""The scan's SSH connections (console.scan.sshconnect) on a real asyncssh server: the first key goes signed at
once, right behind the service request, and the options are built without a worker thread.

The server records what it was asked: ``password_auth_supported`` is consulted only when the server lists its
methods (the answer to a ``none`` request or to a refused attempt), and ``validate_public_key`` once per
public-key request, the unsigned query included. So a login that asks first shows up as a listing plus two
key checks; the direct one as one key check and no listing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

import asyncssh
import pytest
from slowlink import client_packets, slow_link

from console.scan.credentials import CredentialProfile, load_credential


class RecordingServer(asyncssh.SSHServer):
    def __init__(self, accepted: set[bytes], log: list[str]) -> None:
        self._accepted = accepted
        self._log = log

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        # Consulted for each method that depends on it (password, keyboard-interactive): one listing.
        if not self._log or self._log[-1] != "listing":
            self._log.append("listing")
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        accepted = key.public_data in self._accepted
        self._log.append(f"key {'accepted' if accepted else 'refused'}")
        return accepted


@pytest.fixture
async def server(tmp_path):
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    good = asyncssh.generate_private_key("ssh-ed25519")
    bad = asyncssh.generate_private_key("ssh-ed25519")
    rsa = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    for name, key in (("good", good), ("bad", bad), ("rsa", rsa)):
        key.write_private_key(tmp_path / name)
    log: list[str] = []
    accepted = {good.public_data, rsa.public_data}
    listener = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[host_key],
                                     server_factory=lambda: RecordingServer(accepted, log))
    port = listener.sockets[0].getsockname()[1]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} "
                                          f"{host_key.export_public_key().decode().strip()}\n")
    try:
        yield tmp_path, port, log
    finally:
        listener.close()
        await listener.wait_closed()


def cred(tmp_path, *keys):
    return load_credential(CredentialProfile(name="t", user="scan", key_files=tuple(str(tmp_path / k) for k in keys),
                                             known_hosts=(str(tmp_path / "known_hosts"),)))


async def test_the_first_key_is_sent_signed_without_a_none_request_or_a_query(server):
    tmp_path, port, log = server
    async with asyncssh.connect("127.0.0.1", port, username="scan", **cred(tmp_path, "good").connect_options()):
        pass
    assert log == ["key accepted"]


async def test_an_rsa_key_is_signed_with_an_algorithm_the_server_named(server, caplog):
    # The login leaves before the service accept but after the server's extension list, whose
    # server-sig-algs tells which RSA signature the server takes: one attempt, accepted, never ssh-rsa (SHA-1).
    tmp_path, port, log = server
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    async with asyncssh.connect("127.0.0.1", port, username="scan", **cred(tmp_path, "rsa").connect_options()):
        pass
    assert log == ["key accepted"]
    signed = [r.getMessage() for r in caplog.records if "Signing request with" in r.getMessage()]
    assert signed and all("rsa-sha2-" in m for m in signed), signed


async def test_a_refused_first_key_falls_back_to_the_remaining_keys(server):
    tmp_path, port, log = server
    async with asyncssh.connect("127.0.0.1", port, username="scan",
                                **cred(tmp_path, "bad", "good").connect_options()):
        pass
    # The refused signed attempt, the server's method list, then asyncssh's usual query and signed request.
    assert log == ["key refused", "listing", "key accepted", "key accepted"]


async def test_refused_keys_still_end_in_permission_denied(server):
    tmp_path, port, log = server
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect("127.0.0.1", port, username="scan", **cred(tmp_path, "bad").connect_options())
    assert log[0] == "key refused"


async def test_an_unknown_host_key_still_stops_the_connection_before_any_key_is_sent(server):
    tmp_path, port, log = server
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} "
                                          f"{asyncssh.generate_private_key('ssh-ed25519').export_public_key().decode()}")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect("127.0.0.1", port, username="scan", **cred(tmp_path, "good").connect_options())
    assert log == []


async def test_other_asyncssh_clients_in_the_process_log_in_as_before(server):
    tmp_path, port, log = server
    options = cred(tmp_path, "good").connect_options()  # installs the direct first step for this process
    del options["client_factory"]
    async with asyncssh.connect("127.0.0.1", port, username="scan", **options):
        pass
    assert log == ["listing", "key accepted", "key accepted"]


@pytest.mark.parametrize("pipelined", [True, False], ids=["scan client", "plain asyncssh client"])
async def test_the_login_request_leaves_behind_the_service_request_without_waiting_for_its_accept(
        server, caplog, pipelined):
    tmp_path, port, log = server
    options = cred(tmp_path, "good").connect_options()
    if not pipelined:
        del options["client_factory"]  # the control: asyncssh's own order, which the assertion must tell apart
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    asyncssh.set_debug_level(3)
    try:
        async with slow_link(port, 0.1) as proxy_port:
            host_key = (tmp_path / "known_hosts").read_text().split(" ", 1)[1]
            with (tmp_path / "known_hosts").open("a") as known:
                known.write(f"[127.0.0.1]:{proxy_port} {host_key}")
            options["known_hosts"] = asyncssh.read_known_hosts(str(tmp_path / "known_hosts"))
            async with asyncssh.connect("127.0.0.1", proxy_port, username="scan", **options):
                pass
    finally:
        asyncssh.set_debug_level(1)
    order = client_packets(caplog.records)
    service, login = order.index("Sent MSG_SERVICE_REQUEST"), order.index("Sent MSG_USERAUTH_REQUEST")
    assert service < login
    assert (login < order.index("Received MSG_SERVICE_ACCEPT")) is pipelined, order
    assert log == (["key accepted"] if pipelined else ["listing", "key accepted", "key accepted"])


class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, counting the client connection options built in it (the asyncssh server
    in this process builds its own there too, per login)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.client_options_built = 0

    def submit(self, fn, /, *args, **kwargs):
        if getattr(fn, "func", None) is asyncssh.SSHClientConnectionOptions:
            self.client_options_built += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("scan_client", [True, False], ids=["scan client", "plain asyncssh client"])
async def test_a_scan_connection_builds_its_options_without_a_worker_thread(server, scan_client):
    tmp_path, port, log = server
    options = cred(tmp_path, "good").connect_options()
    if not scan_client:
        del options["client_factory"]  # the control: asyncssh builds them in the loop's thread pool
    executor = RecordingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    async with asyncssh.connect("127.0.0.1", port, username="scan", **options) as conn:
        assert conn.get_extra_info("username") == "scan"
    assert executor.client_options_built == (0 if scan_client else 1)

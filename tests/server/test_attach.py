"""One engine, many operators: a real ``patchwatch daemon`` serves its data directory on a Unix socket, and
CLI commands, consoles and plain ``curl``-style HTTP clients attach to it.

Identity comes from the kernel (SO_PEERCRED): the access tests run a client as another uid (root is needed to
switch users; CI runs as root, elsewhere they skip).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from console.domain.events import EventKind
from console.errors import NotFoundError, ValidationError
from console.server.client import EngineClient
from console.server.protocol import ROUTES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
TASK = """name = "attached-scan"
[schedule]
timezone = "UTC"
cron = "0 0 3 * * ?"
[job]
name = "Scan_OS_Patch"
[targets]
instances = ["ghost-1", "ghost-2"]
"""


def env() -> dict[str, str]:
    return {**os.environ, "SSH_AUTH_SOCK": "", "HOME": os.environ.get("HOME", "/tmp")}


class Daemon:
    """``patchwatch daemon`` as a subprocess, started and stopped by the test."""

    def __init__(self, data: Path, *args: str) -> None:
        self.data = data
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def socket(self) -> Path:
        return self.data / "patchwatch.sock"

    async def start(self) -> Daemon:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console", "--data-dir", str(self.data), "daemon", *self.args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env(), cwd=ROOT)
        assert self.proc.stdout is not None
        async with asyncio.timeout(30):
            while "serving" not in (line := (await self.proc.stdout.readline()).decode()):
                assert line, "the daemon ended before it served its socket"
        asyncio.get_running_loop().create_task(self._drain())
        return self

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 30)


@pytest.fixture
async def daemon(data_dir: Path) -> AsyncIterator[Daemon]:
    running = await Daemon(data_dir, "--socket-mode", "666").start()
    try:
        yield running
    finally:
        await running.stop()


async def cli(data: Path, *args: str, user: int | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console", "--data-dir", str(data), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env(), cwd=ROOT, user=user)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def curl(sock: Path, path: str) -> Any:
    """A plain HTTP/1.1 GET over the socket, as ``curl --unix-socket`` does: no Patchwatch code involved."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: pw\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    return json.loads(body)


def test_every_api_member_has_a_route():
    from console.engine.api import EngineAPI

    members = {n for n, m in vars(EngineAPI).items() if callable(m) and not n.startswith("_")}
    assert members - {"subscribe"} == {r.name for r in ROUTES}


async def test_cli_commands_that_change_state_work_while_the_daemon_runs(daemon: Daemon, tmp_path: Path):
    task_file = tmp_path / "task.toml"
    task_file.write_text(TASK)
    code, out, err = await cli(daemon.data, "task", "add", "--file", str(task_file))
    assert code == 0, (out, err)
    code, out, err = await cli(daemon.data, "task", "add", "--file", str(task_file))
    assert code == 2 and "name: must be unique" in err, "errors travel with their field and exit code"
    code, out, err = await cli(daemon.data, "run", "attached-scan")
    assert code == 1, (out, err)  # both targets are unknown to the inventory: the run fails, on the daemon
    run_id = out.split()[1]
    code, out, err = await cli(daemon.data, "ack", run_id, "--note", "looking")
    assert code == 0 and "acknowledged by" in out, (out, err)
    runs = [json.loads(line) for line in (await cli(daemon.data, "runs", "--json"))[1].splitlines()]
    assert runs[0]["id"] == run_id and runs[0]["acknowledged_by"] == "root" and runs[0]["ack_note"] == "looking"
    code, out, err = await cli(daemon.data, "rescan", run_id)
    assert code == 0 and "re-scans 2 failed hosts" in out, (out, err)
    # The trace names the OS user as the actor, whatever PATCHWATCH_ACTOR or USER said.
    acks = curl(daemon.socket, f"/v1/events?kind=run.acknowledged&run_id={run_id}")
    assert [e["actor"] for e in acks] == ["root"]
    assert curl(daemon.socket, "/v1/tasks")[0]["name"] == "attached-scan"


async def test_client_errors_and_results_are_the_engines_own(daemon: Daemon):
    async with EngineClient(daemon.socket) as client:
        assert client.identity["user"] == "root" and client.identity["role"] == "admin"
        with pytest.raises(NotFoundError, match="no run with id"):
            await client.get_run("RN-nope")
        with pytest.raises(ValidationError) as refused:
            await client.create_task({"name": "x!", "schedule": {"cron": "0 0 30 2 ?"}})
        assert {e.field for e in refused.value.errors} >= {"name"}
        task = await client.create_task(json.loads(json.dumps({
            "name": "typed", "schedule": {"timezone": "UTC", "cron": "0 15 3 5 * ?"},
            "job": {"name": "Scan_OS_Patch"}, "targets": {"instances": ["a"]}})))
        assert task.name == "typed" and (await client.get_task("typed")).id == task.id
        fires = await client.next_fires("typed", 2)
        assert [f.day for f in fires] == [5, 5]


async def test_a_follower_sees_a_kill_at_once_and_resumes_after_restart_with_no_gap_and_no_duplicate(
        data_dir: Path, tmp_path: Path):
    first = await Daemon(data_dir).start()
    client = await EngineClient(first.socket).connect()
    stream = await client.subscribe(after_seq=0)
    seen: list[int] = []
    try:
        task_file = tmp_path / "task.toml"
        task_file.write_text(TASK)
        assert (await cli(data_dir, "task", "add", "--file", str(task_file)))[0] == 0
        await cli(data_dir, "run", "attached-scan")
        await first.stop(signal.SIGKILL)
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        while (event := await asyncio.wait_for(stream.get(), 5)).kind is not EventKind.STREAM_DISCONNECTED:
            seen.append(event.seq)
        assert loop.time() - killed_at < 2, "a follower learns within 2 s that the daemon is gone"
        second = await Daemon(data_dir).start()  # the restart: runs it left open become interrupted
        try:
            assert (await asyncio.wait_for(stream.get(), 10)).kind is EventKind.STREAM_RECONNECTED
            await cli(data_dir, "run", "attached-scan")
            while True:
                event = await asyncio.wait_for(stream.get(), 10)
                seen.append(event.seq)
                if event.kind is EventKind.RUN_FINISHED:
                    break
            stored = [e["seq"] for e in curl(second.socket, "/v1/events?newest_first=false&limit=100000")]
            assert seen == stored[:len(seen)], "every stored event once, in order, across the kill"
        finally:
            await second.stop()
    finally:
        stream.close()
        await client.close()


async def curl_as(user: int, sock: Path, verb: str, path: str, *, max_time: float = 10) -> tuple[int, str]:
    """``curl --unix-socket`` run as another uid: the daemon must know who it is from the kernel alone."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", str(max_time), "--unix-socket", str(sock),
        "-X", verb, "-H", "Content-Type: application/json", *(["-d", "{}"] if verb != "GET" else []),
        f"http://pw{path}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, user=user)
    out, _ = await asyncio.wait_for(proc.communicate(), max_time + 10)
    body, _, status = out.decode().rpartition("\n")
    return int(status or 0), body


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("curl") is None,
                    reason="running a client as another user needs root and curl (CI runs as root)")
async def test_roles_come_from_the_kernel_and_every_refusal_is_traced(data_dir: Path, tmp_path: Path):
    daemon = await Daemon(data_dir, "--socket-mode", "666").start()
    try:
        task_file = tmp_path / "task.toml"
        task_file.write_text(TASK)
        assert (await cli(data_dir, "task", "add", "--file", str(task_file)))[0] == 0
        code, out, err = await cli(data_dir, "run", "attached-scan")
        run_id = out.split()[1]
        # nobody is in no role: refused, even to read, and told which role it needs.
        status, body = await curl_as(NOBODY, daemon.socket, "GET", "/v1/runs")
        assert status == 403, body
        error = json.loads(body)["error"]
        assert error["type"] == "AccessDeniedError" and "needs the viewer role" in error["message"]
        assert "nobody has no role" in error["message"]
    finally:
        await daemon.stop()
    (data_dir / "roles.toml").write_text('[users]\nnobody = "viewer"\n')
    daemon = await Daemon(data_dir, "--socket-mode", "666").start()
    try:
        status, body = await curl_as(NOBODY, daemon.socket, "GET", "/v1/runs")
        assert status == 200 and [r["id"] for r in json.loads(body)] == [run_id]
        status, body = await curl_as(NOBODY, daemon.socket, "POST", f"/v1/runs/{run_id}/ack")
        assert status == 403 and "acknowledge needs the operator role" in body, body
        # A viewer may follow the stream (from the start); curl stops after its time limit.
        status, body = await curl_as(NOBODY, daemon.socket, "GET", "/v1/events/stream?after_seq=0", max_time=2)
        assert body.startswith("id: 1\nevent: scheduler.started\n") and "event: access.denied" in body, body[:200]
        denied = curl(daemon.socket, "/v1/events?kind=access.denied&newest_first=false")
        assert [(e["actor"], e["data"]["action"], e["data"]["needed"]) for e in denied] == [
            ("nobody", "list_runs", "viewer"), ("nobody", "acknowledge", "operator")]
        assert all(e["data"]["uid"] == NOBODY for e in denied)
        assert (await cli(data_dir, "runs"))[0] == 0, "the daemon's own user is still admin"
    finally:
        await daemon.stop()


def test_docs_api_lists_every_route_with_its_role():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for route in ROUTES:
        assert f"| `{route.verb} {route.path}` | `{route.name}` | {route.role.label} |" in text, route.name


async def wait_until(pilot: Any, condition: Any, what: str, timeout: float = 10.0) -> float:
    """Pause the pilot until ``condition()`` holds; return how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.02)
    return loop.time() - start


async def test_two_consoles_and_the_cli_act_on_one_daemon_and_see_each_other_live(daemon: Daemon, tmp_path: Path):
    from console.tui.app import PatchwatchApp, attached_label

    task_file = tmp_path / "task.toml"
    task_file.write_text(TASK)
    assert (await cli(daemon.data, "task", "add", "--file", str(task_file)))[0] == 0
    reviewed = tmp_path / "reviewed.toml"
    reviewed.write_text(TASK.replace("attached-scan", "reviewed-scan") + "[review]\nrequired = true\n")
    assert (await cli(daemon.data, "task", "add", "--file", str(reviewed)))[0] == 0
    failed_run = (await cli(daemon.data, "run", "attached-scan"))[1].split()[1]

    first, second = EngineClient(daemon.socket), EngineClient(daemon.socket)
    await first.connect()
    await second.connect()
    apps = [PatchwatchApp(c, connection=lambda c=c: attached_label(c.identity)) for c in (first, second)]
    acked = asyncio.Event()
    seen_after: list[float] = []

    def alarm_acked(home: Any) -> bool:
        """The failed run's alarm shows as acknowledged (``a`` takes the alarm of the selected failure)."""
        return any(f.acked for f in home.visible_failures() if f.run_id == failed_run)

    async def console(app: PatchwatchApp, acts: bool) -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            home = app.screen
            await wait_until(pilot, lambda: home._loaded and home.failures.row_count >= 1, "the failures")
            assert "attached to daemon pid" in app.sub_title and "as root, role admin" in app.sub_title
            if acts:
                await pilot.press("a")
                await wait_until(pilot, lambda: alarm_acked(home), "the ack")
                acked.set()
            else:
                await acked.wait()
                seen_after.append(await wait_until(pilot, lambda: alarm_acked(home), "the other console's ack",
                                                   timeout=5))
                # A task added from this console is fired by the daemon on time (every 2 s).
                added = await app.engine.create_task({
                    "name": "added-live", "schedule": {"timezone": "UTC", "cron": "*/2 * * * * ?"},
                    "job": {"name": "Scan_OS_Patch"}, "targets": {"instances": ["ghost-3"]}})
                runs: list[Any] = []

                async def fired() -> bool:
                    runs[:] = await app.engine.list_runs(task=added.id)
                    return bool(runs)

                for _ in range(100):
                    if await fired():
                        break
                    await pilot.pause(0.1)
                assert runs and runs[0].trigger.value == "schedule" and runs[0].actor == "scheduler"
                await app.engine.set_enabled(added.id, False)

    try:
        await asyncio.gather(console(apps[0], True), console(apps[1], False))
    finally:
        await first.close()
        await second.close()
    assert seen_after and seen_after[0] < 1.0, f"the other console saw the ack after {seen_after[0]:.2f} s"
    # `a` on the dashboard takes the alarm the failed run opened (issue 11), as the daemon's caller.
    alarms = await_json(daemon, "/v1/alarms")
    [alarm] = [a for a in alarms if a["opened_by_run"] == failed_run]
    assert alarm["state"] == "acknowledged" and alarm["acknowledged_by"] == "root"

    # A review approved from the CLI runs on the daemon (the command returns; the daemon finishes it).
    pending = (await cli(daemon.data, "run", "reviewed-scan"))[1].split()[1]
    code, out, err = await cli(daemon.data, "approve", pending)
    assert code == 0 and "it runs on the daemon" in out, (out, err)
    async with EngineClient(daemon.socket) as client:
        done = await client.wait_run(pending, timeout=30)
    assert done.state.value == "failed" and done.reviewed_by == "root" and done.hosts_failed == 2


def await_json(daemon: Daemon, path: str) -> Any:
    return curl(daemon.socket, path)


async def test_a_console_says_at_once_when_its_daemon_is_killed_and_resumes_after_the_restart(
        data_dir: Path, tmp_path: Path):
    from console.tui.app import PatchwatchApp

    # A host that accepts TCP and never speaks SSH: the run is still connecting when the daemon dies.
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"[silent]\nsilent-1 ansible_host=127.0.0.1 ansible_port={port}\n")
    task_file = tmp_path / "task.toml"
    task_file.write_text(TASK.replace('instances = ["ghost-1", "ghost-2"]', 'groups = ["silent"]')
                         + "[job.params]\nconnect_timeout = 30\n")
    import asyncssh

    key = tmp_path / "id_ed25519"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    key.chmod(0o600)
    (tmp_path / "known_hosts").write_text("")
    daemon = await Daemon(data_dir).start()
    try:
        assert (await cli(data_dir, "inventory", "import", str(inventory)))[0] == 0
        assert (await cli(data_dir, "credential", "add", "default", "--key", str(key), "--known-hosts",
                          str(tmp_path / "known_hosts")))[0] == 0
        assert (await cli(data_dir, "task", "add", "--file", str(task_file)))[0] == 0
        client = await EngineClient(daemon.socket).connect()
        app = PatchwatchApp(client)
        async with app.run_test(size=(120, 36)) as pilot:
            home = app.screen
            await wait_until(pilot, lambda: home._loaded, "the dashboard")
            run = await client.run_now("attached-scan")
            await wait_until(pilot, lambda: any(r.id == run.id and r.state.value == "running"
                                                for r in home._open_runs), "the run in progress")
            await daemon.stop(signal.SIGKILL)
            status = home.query_one("#home-status")
            took = await wait_until(pilot, lambda: "DISCONNECTED" in str(status.render()), "the disconnect", 5)
            assert took < 2, f"the console said it was disconnected after {took:.2f} s"
            assert "No failures" not in str(home.query_one("#failures-calm").render())
            daemon = await Daemon(data_dir).start()  # systemd's restart: the run left open is interrupted
            await wait_until(pilot, lambda: "DISCONNECTED" not in str(status.render()), "the reconnect", 15)
            await wait_until(pilot, lambda: any(f.run_id == run.id for f in home.visible_failures()),
                             "the interrupted run among the failures", 10)
        await client.close()
        stored = curl(daemon.socket, f"/v1/runs/{run.id}")
        assert stored["state"] == "interrupted"
    finally:
        await daemon.stop()
        silent.close()

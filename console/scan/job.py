"""The public job Scan_OS_Patch, as the engine runs it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from console.domain.task import SCAN_OS_PATCH
from console.jobs import JobContext
from console.scan.credentials import CredentialProfile, LoadedCredential, load_credential
from console.scan.executor import ScanOptions, execute_plan

#: Connections open at once across every run of the process (each task also has its own concurrency).
GLOBAL_CONNECTION_LIMIT = 200


class ScanOsPatchJob:
    """Reach every target over SSH and report its missing patches, or exactly why it could not be scanned."""

    name = SCAN_OS_PATCH

    def __init__(self, profiles: Callable[[str], CredentialProfile], data_dir: Path | None,
                 connection_limit: int = GLOBAL_CONNECTION_LIMIT) -> None:
        self._profiles = profiles
        self._data_dir = data_dir
        self._connections = asyncio.Semaphore(connection_limit)
        # Keys and known_hosts are parsed once per profile version, not per run or per connection.
        self._loaded: dict[str, tuple[CredentialProfile, LoadedCredential]] = {}

    def credential(self, name: str) -> LoadedCredential:
        profile = self._profiles(name)
        cached = self._loaded.get(name)
        if cached is not None and cached[0] == profile:
            return cached[1]
        loaded = load_credential(profile, self._data_dir)
        self._loaded[name] = (profile, loaded)
        return loaded

    def forget_credentials(self) -> None:
        """Re-read keys and known_hosts at the next run (after a host key was accepted)."""
        self._loaded.clear()

    async def execute(self, ctx: JobContext) -> None:
        job = ctx.task.job
        cred = await asyncio.to_thread(self.credential, job.credential)
        options = ScanOptions(connect_timeout=float(job.param("connect_timeout")),
                              command_timeout=float(job.param("command_timeout")),
                              refresh_metadata=bool(job.param("refresh_metadata")),
                              concurrency=int(job.param("concurrency")))
        await execute_plan(ctx.targets, ctx.task.targets.batch, cred, options, ctx,
                           connection_limit=self._connections, run_id=ctx.run.id, task_id=ctx.task.id,
                           relative=ctx.relative_path)

"""The public job Scan_OS_Patch, as the engine runs it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from console.domain.task import SCAN_OS_PATCH
from console.errors import PatchwatchError
from console.jobs import JobContext, Target
from console.scan.credentials import CredentialProfile, LoadedCredential, load_credential
from console.scan.executor import CredentialUnavailable, ScanOptions, execute_plan

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
        # Instances that name their own profile (patchwatch_credential): each profile is loaded once, off the
        # event loop; one that cannot be used fails those hosts (permission), not the run.
        own: dict[str, LoadedCredential | str] = {}
        for name in sorted({t.credential for t in ctx.targets if t.credential and t.credential != job.credential}):
            try:
                own[name] = await asyncio.to_thread(self.credential, name)
            except PatchwatchError as exc:
                own[name] = f"credential profile {name!r} of this instance cannot be used: {exc}"

        def choose(target: Target) -> LoadedCredential:
            chosen = own.get(target.credential, cred) if target.credential else cred
            if isinstance(chosen, str):
                raise CredentialUnavailable(chosen)
            return chosen

        options = ScanOptions(connect_timeout=float(job.param("connect_timeout")),
                              command_timeout=float(job.param("command_timeout")),
                              refresh_metadata=bool(job.param("refresh_metadata")),
                              concurrency=int(job.param("concurrency")))
        await execute_plan(ctx.targets, ctx.task.targets.batch, choose, options, ctx,
                           connection_limit=self._connections, run_id=ctx.run.id, task_id=ctx.task.id)

"""Ad-hoc scans: scan an inventory now, without a task or a data directory, through the same executor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from console.domain.run import HostResult
from console.domain.task import BatchMode, BatchPolicy
from console.jobs import RunCancelled, Target
from console.scan.credentials import LoadedCredential
from console.scan.executor import ScanOptions, execute_plan


class AdhocHooks:
    """The executor's hooks for a one-off scan: no pauses, no transcripts on disk, results to a callback."""

    def __init__(self, on_result: Callable[[HostResult], Awaitable[None] | None]) -> None:
        self._on_result = on_result
        self._cancel = asyncio.Event()
        self.results: list[HostResult] = []

    async def checkpoint(self) -> None:
        if self._cancel.is_set():
            raise RunCancelled()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    async def wait_cancelled(self) -> None:
        await self._cancel.wait()

    async def batch_started(self, index: int, count: int, hosts: list[str]) -> None:
        return None

    async def host_finished(self, result: HostResult) -> None:
        self.results.append(result)
        maybe = self._on_result(result)
        if maybe is not None:
            await maybe

    async def request_pause(self, reason: str) -> None:
        return None  # an ad-hoc scan has nobody to resume it: it runs to the end

    def save_transcript(self, host: str, data: bytes) -> str | None:
        return None  # an ad-hoc scan stores nothing


async def adhoc_scan(targets: Sequence[Target], cred: LoadedCredential, options: ScanOptions,
                     on_result: Callable[[HostResult], Awaitable[None] | None] = lambda r: None,
                     *, connection_limit: int = 200) -> list[HostResult]:
    """Scan every target once (one batch, ``options.concurrency`` at a time); return all results."""
    hooks = AdhocHooks(on_result)
    await execute_plan(targets, BatchPolicy(BatchMode.NONE), cred, options, hooks,
                       connection_limit=asyncio.Semaphore(connection_limit))
    return hooks.results

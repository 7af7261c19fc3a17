"""One host's bad data fails that host, never the run.

Why: ``scan_host`` turns every failure it expects (network, auth, host key, timeouts, parse errors) into a
failed result, but a host can also carry data that makes a library raise something nobody expected: an
``ansible_user`` with a control character made asyncssh raise ``SASLPrepError`` (a ``ValueError``) while
connecting, and that exception ended the whole run as ``error`` with 0 hosts scanned. :func:`guard_host`
wraps one host's scan: any ``Exception`` from it becomes that host's failed result, classified from the
exception, and the others go on. Cancellation (a ``BaseException``) still propagates.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import UTC, datetime

from console.domain.run import HostResult, HostStatus
from console.domain.taxonomy import Evidence, classify
from console.jobs import Target


async def guard_host(target: Target, scan: Awaitable[HostResult], *, run_id: str = "", task_id: str = "",
                     batch: int = 0) -> HostResult:
    """The result of ``scan`` (one host's scan), except that an unexpected exception fails only ``target``."""
    try:
        return await scan
    except Exception as exc:  # noqa: BLE001 - the point: one host's data must never end the run
        return host_failed_by(target, exc, run_id=run_id, task_id=task_id, batch=batch)


def host_failed_by(target: Target, exc: BaseException, *, run_id: str = "", task_id: str = "",
                   batch: int = 0) -> HostResult:
    """The failed result of ``target`` whose scan raised ``exc`` (classified like any other evidence)."""
    evidence = Evidence(stage="auth" if isinstance(exc, ValueError) else "connect",
                        exception=type(exc).__name__,
                        message=f"the host's settings could not be used ({type(exc).__name__}): {exc}")
    verdict = classify(evidence)
    now = datetime.fromtimestamp(time.time(), UTC).isoformat()
    return HostResult(run_id=run_id, task_id=task_id, host=target.name, address=f"{target.address}:{target.port}",
                      status=HostStatus.FAILED, batch=batch, started_at=now, finished_at=now,
                      category=verdict.category.value, reason=verdict.reason, hint=verdict.hint, rule=verdict.rule)

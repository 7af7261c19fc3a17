"""Shared test helpers: a job that does no I/O, and engine/scheduler factories on an injected clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console.domain.run import HostResult, HostStatus
from console.engine import Engine
from console.jobs import JobContext, Target

SEED_TASK: dict[str, Any] = {
    "name": "ScheduledscanOSpatches",
    "risk": "low",
    "schedule": {"timezone": "GMT+08:00", "type": "periodic", "cron": "0 15 3 5 * ?"},
    "job": {"name": "Scan_OS_Patch"},
    "targets": {"groups": ["all"], "batch": {"mode": "automatic"}},
    "review": {"required": False},
    "notify": {"enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty",
               "roles": ["on-duty"], "modes": ["email"]},
}


def task_input(name: str, cron: str, **overrides: Any) -> dict[str, Any]:
    """A valid task form with ``cron`` in UTC on the inventory group ``all``."""
    data: dict[str, Any] = {
        "name": name,
        "schedule": {"timezone": "UTC", "cron": cron},
        "job": {"name": "Scan_OS_Patch"},
        "targets": {"groups": ["all"]},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@dataclass
class NoIoJob:
    """A Scan_OS_Patch stand-in that touches no host: each target gets the outcome planted for it.

    ``outcomes`` maps host name to ``"ok"`` or a failure category; unlisted hosts are ok. ``gate``, when
    set, makes every host wait for it, so a test can hold a run in the middle.
    """

    name: str = "Scan_OS_Patch"
    outcomes: dict[str, str] = field(default_factory=dict)
    gate: asyncio.Event | None = None
    batch_size: int = 0
    #: Seconds each host takes (real time), to make a run last long enough to be observed mid-way.
    delay: float = 0.0
    executed: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)

    async def execute(self, ctx: JobContext) -> None:
        self.executed.append(ctx.run.id)
        targets = list(ctx.targets)
        size = self.batch_size or len(targets)
        batches = [targets[i:i + size] for i in range(0, len(targets), size)]
        for index, batch in enumerate(batches, 1):
            await ctx.checkpoint()
            await ctx.batch_started(index, len(batches), [t.name for t in batch])
            for target in batch:
                await ctx.checkpoint()
                self.touched.append(target.name)
                if self.gate is not None:
                    await self.gate.wait()
                if self.delay:
                    await asyncio.sleep(self.delay)
                outcome = self.outcomes.get(target.name, "ok")
                now = ctx.clock.now().isoformat()
                if outcome == "ok":
                    result = HostResult(run_id=ctx.run.id, task_id=ctx.task.id, host=target.name,
                                        status=HostStatus.OK, address=target.address, batch=index,
                                        started_at=now, finished_at=now)
                else:
                    result = HostResult(run_id=ctx.run.id, task_id=ctx.task.id, host=target.name,
                                        status=HostStatus.FAILED, category=outcome,
                                        reason=f"planted {outcome} failure", batch=index,
                                        started_at=now, finished_at=now)
                await ctx.host_finished(result)


def fleet(n: int, group: str = "web") -> list[Target]:
    return [Target(name=f"host-{i:03d}", address="127.0.0.1", port=2200 + i, groups=(group,)) for i in range(n)]


async def open_engine(data_dir: Path, clock: Any, job: NoIoJob | None = None, *, real_scan: bool = False,
                      **kwargs: Any) -> Engine:
    """An open engine on ``data_dir``; its Scan_OS_Patch is ``job`` (default: a NoIoJob), or the real SSH job
    with ``real_scan=True``."""
    jobs = None if real_scan else {"Scan_OS_Patch": job or NoIoJob()}
    engine = Engine(data_dir, clock=clock, jobs=jobs, **kwargs)
    return await engine.open()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)

"""The pluggable job interface.

The engine owns a run's life (states, events, storage, pause and cancel); a job only does the work on the
targets and reports each host as it finishes. ``Scan_OS_Patch`` (console.scan) is one implementation; tests
plug in jobs that do no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from console.clock import Clock
    from console.domain.run import HostResult, Run
    from console.domain.task import Task


class RunCancelled(Exception):
    """Raised inside a job by :meth:`JobContext.checkpoint` once the operator cancelled the run."""


@dataclass(frozen=True)
class Target:
    """One instance of the inventory, resolved when the run starts."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    credential: str | None = None
    groups: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.name, "name": self.name, "address": self.address, "port": self.port,
                "user": self.user, "credential": self.credential, "groups": list(self.groups),
                "labels": dict(self.labels)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(name=data["name"], address=data["address"], port=int(data.get("port", 22)),
                   user=data.get("user"), credential=data.get("credential"),
                   groups=tuple(data.get("groups", ())), labels=dict(data.get("labels", {})))


class JobContext(Protocol):
    """What a running job may see and do. Implemented by the engine."""

    run: Run
    task: Task
    targets: list[Target]
    clock: Clock

    async def checkpoint(self) -> None:
        """Wait while the run is paused; raise RunCancelled once it is cancelled. Call before touching a host."""

    @property
    def cancelled(self) -> bool:
        """True once cancel was requested: stop opening connections, close open ones."""

    async def wait_cancelled(self) -> None:
        """Return when the run is cancelled (to race against host work)."""

    async def batch_started(self, index: int, count: int, hosts: list[str]) -> None:
        """Record that batch ``index`` (1-based) of ``count`` starts on ``hosts``."""

    async def host_finished(self, result: HostResult) -> None:
        """Record one host's final result; it reaches the store and the event stream now."""

    async def request_pause(self, reason: str) -> None:
        """Pause the run (e.g. the canary guard); it resumes or ends by an operator's decision."""

    def save_transcript(self, host: str, data: bytes) -> str | None:
        """Keep ``host``'s transcript with the run; returns what its result's ``transcript`` says (how to open
        it). Call it before :meth:`host_finished` with that result: the transcript is then stored no later
        than the result."""


class Job(Protocol):
    """A public job, e.g. Scan_OS_Patch."""

    name: str

    async def execute(self, ctx: JobContext) -> None:
        """Do the work on ``ctx.targets``; report every host through ``ctx.host_finished``.

        Raise :class:`RunCancelled` (from ``ctx.checkpoint``) to stop on cancel; any other exception is a
        run-level error recorded on the run.
        """

"""Batch plans: in which order, and in which groups, a run touches its targets.

The automatic rule (shown to the operator as a preview before a run):

- fewer than 5 hosts: one batch;
- otherwise a canary batch of 1 host, then batches five times larger each (5, 25, 125, 625, ...); the last
  batch takes whatever remains. 1,000 hosts give 1 + 5 + 25 + 125 + 625 + 219.
- Canary guard: when every host of the canary batch fails, the run pauses before the next batch whatever
  the error threshold says, because a canary that fails entirely almost always means a systemic cause
  (credential, network, jump host) that the other hosts would only repeat.

Manual batches are the operator's, in order; targets that are in no manual batch go in one last batch so
that nothing the task targets is silently left out. Mode ``none`` is one batch of everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.domain.task import BatchMode, BatchPolicy

GROWTH = 5
SINGLE_BATCH_BELOW = 5


def plan_batches(hosts: Sequence[str], policy: BatchPolicy) -> list[list[str]]:
    """Split ``hosts`` (in inventory order) into batches according to ``policy``."""
    hosts = list(dict.fromkeys(hosts))
    if not hosts:
        return []
    if policy.mode is BatchMode.NONE:
        return [hosts]
    if policy.mode is BatchMode.MANUAL:
        remaining = dict.fromkeys(hosts)
        batches: list[list[str]] = []
        for batch in policy.batches:
            chosen = [h for h in batch if h in remaining]
            for h in chosen:
                del remaining[h]
            if chosen:
                batches.append(chosen)
        if remaining:
            batches.append(list(remaining))
        return batches
    if len(hosts) < SINGLE_BATCH_BELOW:
        return [hosts]
    batches, start, size = [], 0, 1
    while start < len(hosts):
        batches.append(hosts[start:start + size])
        start += size
        size *= GROWTH
    return batches


def has_canary(policy: BatchPolicy, plan: Sequence[Sequence[str]]) -> bool:
    """True when the first batch of ``plan`` is an automatic canary (the canary guard applies)."""
    return policy.mode is BatchMode.AUTOMATIC and len(plan) > 1


def describe_plan(plan: Sequence[Sequence[str]]) -> str:
    """``6 batches: 1, 5, 25, 125, 625, 219 hosts`` (the preview an operator sees before a run)."""
    if not plan:
        return "no hosts"
    sizes = ", ".join(str(len(b)) for b in plan)
    return f"{len(plan)} batch{'es' if len(plan) != 1 else ''}: {sizes} host{'s' if sum(map(len, plan)) != 1 else ''}"

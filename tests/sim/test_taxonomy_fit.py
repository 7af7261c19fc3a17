"""The simulated fault texts meet the product's failure taxonomy: each command-level fault, as its
family prints it, classifies into the category fleet.json promises. Gaps found here are gaps in the
taxonomy (the texts are the tools' own): fix the taxonomy, never the texts."""

from __future__ import annotations

import random

import pytest

from console.domain.taxonomy import Evidence, classify
from console.scan.commands import COMMANDS, LIST_UPDATES_OK_EXIT, with_sudo
from console.sim.distros import DISTROS, Reply, Step, respond
from console.sim.fleet import FAULT_CATEGORY


def cases(distro: str) -> list[tuple[str, Step, Reply]]:
    profile = DISTROS[distro]
    packages = profile.plant(random.Random(1), 5)
    commands = COMMANDS[profile.family]
    found: list[tuple[str, Step, Reply]] = []
    found += [("service_lock", s, profile.lock_reply(s)) for s in sorted(profile.lock_steps())]
    found += [("service_mirror", s, profile.mirror_reply(s, packages)) for s in sorted(profile.mirror_steps())]
    word = profile.command_word(commands.list_updates)
    found.append(("tool_missing", Step.LIST_UPDATES, profile.shell_not_found(word)))
    found.append(("tool_missing", Step.REFRESH, respond(distro, packages, f"sudo -n {word}")))
    refresh = with_sudo(commands.refresh or "", True)
    found.append(("permission_sudo", Step.REFRESH, respond(distro, packages, refresh, sudo_allowed=False)))
    return found


@pytest.mark.parametrize(
    ("distro", "fault"),
    [(d, f) for d in sorted(DISTROS) for f in ("service_lock", "service_mirror", "tool_missing", "permission_sudo")],
)
def test_fault_texts_classify_as_promised(distro: str, fault: str) -> None:
    family = DISTROS[distro].family
    for name, step, reply in cases(distro):
        if name != fault:
            continue
        ok = LIST_UPDATES_OK_EXIT[family] if step is Step.LIST_UPDATES else frozenset({0})
        if reply.exit_status in ok:
            # apt-get update and apk never fail list/refresh on a dead mirror by exit code; the
            # evidence is stderr only (see fleet.fault_steps). Assert the evidence is there.
            assert "Failed to fetch" in reply.stderr or "DNS lookup error" in reply.stderr
            continue
        verdict = classify(
            Evidence(stage="command", step=step.value, exit_status=reply.exit_status,
                     stdout=reply.stdout, stderr=reply.stderr)
        )
        assert verdict.category.value == FAULT_CATEGORY[fault], (step, verdict)

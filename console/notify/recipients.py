"""Would a task's notices reach anyone? Checked when a task is saved, not discovered at 3 a.m.

A task file naming a person nobody imported, or a mode no channel provides (a typo such as ``emial``),
used to be stored without a word, and then its failure notices went nowhere. The domain cannot know who
exists or which channels are configured; the notification service does, so the engine asks here before it
stores a task. Core module: no textual.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.domain.task import KNOWN_MODES, Task
from console.errors import FieldError, ValidationError
from console.notify.people import Directory

__all__ = ["check_escalation_modes", "check_recipients"]


def check_recipients(task: Task, directory: Directory, configured_modes: Iterable[str]) -> None:
    """Raise a ValidationError naming ``notify.people`` / ``notify.modes`` for every recipient or mode that
    does not exist. ``configured_modes`` are the channels file's modes (beyond the four built-in ones)."""
    notify = task.notify
    if not notify.enabled:
        return
    errors: list[FieldError] = []
    unknown_people = [p for p in notify.people if p not in directory.people]
    if unknown_people:
        known = ", ".join(sorted(directory.people)) or "nobody yet: patchwatch people import FILE.toml"
        errors.append(FieldError("notify.people", f"{', '.join(repr(p) for p in unknown_people)} "
                                                  f"{'is' if len(unknown_people) == 1 else 'are'} not a known "
                                                  f"person (known: {known})"))
    modes = set(KNOWN_MODES) | set(configured_modes)
    unknown_modes = [m for m in notify.modes if m not in modes]
    if unknown_modes:
        errors.append(FieldError("notify.modes", f"{', '.join(repr(m) for m in unknown_modes)} "
                                                 f"{'is' if len(unknown_modes) == 1 else 'are'} not a mode "
                                                 f"(modes: {', '.join(sorted(modes))})"))
    if errors:
        raise ValidationError(errors)


def check_escalation_modes(directory: Directory, configured_modes: Iterable[str]) -> None:
    """Raise a ValidationError naming each escalation step's mode that no channel provides.

    people.toml cannot see the channels file, so its parser only checks that a step's modes are mode names; a
    typo such as ``emial`` would otherwise escalate to nobody. ``configured_modes`` as for
    :func:`check_recipients`."""
    modes = set(KNOWN_MODES) | set(configured_modes)
    errors: list[FieldError] = []
    for scenario in directory.scenarios.values():
        for k, step in enumerate(scenario.escalation.steps if scenario.escalation else ()):
            for j, mode in enumerate(step.modes):
                if mode not in modes:
                    errors.append(FieldError(f"scenario[{scenario.name}].escalation.step[{k}].modes[{j}]",
                                             f"{mode!r} is not a mode (modes: {', '.join(sorted(modes))})"))
    if errors:
        raise ValidationError(errors)

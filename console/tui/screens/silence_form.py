"""``s`` on a failure of the dashboard: a silence, prefilled from the selected row.

A silence mutes the notices of the failures it matches (a task, a host glob, a category) for a while; the
failures stay recorded and listed (dimmed). The form asks for what the engine's ``add_silence`` takes: task,
host glob, category, how long (``2h``, ``30m``, ``1d 12h``) or until when (``2026-11-26 18:00``, local time),
and why. The engine validates; each broken rule is shown under the field it names, and nothing is stored until
every rule holds. Keyboard first: Tab between fields, Enter in a field or ctrl+s saves, Esc cancels.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from console.domain.alarm import Silence
from console.domain.taxonomy import Category
from console.engine.api import EngineAPI
from console.errors import NotFoundError, PatchwatchError, ValidationError
from console.tui.widgets.form_fields import field_row

__all__ = ["SilenceForm", "parse_end"]

#: How long a silence lasts when the operator does not say.
DEFAULT_DURATION = "2h"
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(?:\s*(\d+)\s*([mhdw]))+\s*$")
_PART = re.compile(r"(\d+)\s*([mhdw])")

#: Form fields (widget ids ``f-<name>``) and the engine's field names that belong to each.
FIELDS = ("task", "host", "category", "until", "reason")
ENGINE_FIELDS = {"task": "task", "host": "host", "category": "category", "start": "until", "end": "until",
                 "ends_at": "until", "reason": "reason"}


def parse_end(text: str, now: datetime) -> datetime:
    """When a silence typed as ``2h``, ``1d 12h``, ``90m`` (from ``now``) or ``2026-11-26 18:00`` (local time, or
    with its own offset) ends. Raises ValueError with the rule in words."""
    text = text.strip()
    if not text:
        raise ValueError("say how long (2h, 30m, 1d) or until when (2026-11-26 18:00)")
    if _DURATION.match(text):
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))
        return now + timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not a duration (2h, 30m, 1d) nor a date and time (2026-11-26 18:00): "
                         f"{text[:40]!r}") from None
    return moment if moment.tzinfo else moment.astimezone()  # a naive time is the operator's local time


class SilenceForm(ModalScreen[Silence | None]):
    """Dismisses with the silence the engine stored, or None when the operator cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Silence", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, engine: EngineAPI, *, task: str = "", host: str = "", category: str = "") -> None:
        super().__init__()
        self.engine = engine
        self.prefill = {"task": task, "host": host, "category": category, "until": DEFAULT_DURATION, "reason": ""}

    def compose(self) -> ComposeResult:
        categories = ", ".join(c.value for c in Category)
        hints = {"task": "task name or id; empty: every task",
                 "host": "a host or a glob such as web-*; empty: every host",
                 "category": f"empty: every category ({categories})",
                 "until": "how long (2h, 30m, 1d) or until when (2026-11-26 18:00, local time)",
                 "reason": "why these failures need not page anyone"}
        labels = {"task": "Task", "host": "Host glob", "category": "Category", "until": "For / until",
                  "reason": "Reason"}
        with Vertical(id="silence-dialog"):
            yield Static("Silence notices of matching failures (they stay listed, dimmed)", id="silence-title")
            for name in FIELDS:
                # Host and reason come from hosts and operators: shown as typed, never read as markup.
                field = Input(self.prefill[name], id=f"f-{name}", compact=True, select_on_focus=False)
                yield field_row(labels[name], field, field=f"f-{name}", hint=hints[name])
            yield Static("", id="silence-error", markup=False)
            with Horizontal(id="silence-buttons"):
                yield Button("Cancel (Esc)", id="silence-cancel")
                yield Button("Silence (ctrl+s)", id="silence-save", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#silence-error", Static).display = False
        # The reason is the one field nothing can prefill.
        self.query_one("#f-reason", Input).focus()

    def value(self, name: str) -> str:
        return self.query_one(f"#f-{name}", Input).value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "silence-save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self.save()

    def show_errors(self, errors: list[tuple[str, str]]) -> None:
        """Each rule under its field; what names no field of the form (``match``) under the fields."""
        general: list[str] = []
        by_field: dict[str, list[str]] = {}
        for name, rule in errors:
            target = ENGINE_FIELDS.get(name)
            if target is None:
                general.append(f"{name}: {rule}" if name else rule)
            else:
                by_field.setdefault(target, []).append(rule)
        for name in FIELDS:
            line = self.query_one(f"#err-f-{name}", Static)
            line.update(f"{name}: " + "; ".join(by_field[name]) if name in by_field else "")
            line.display = name in by_field
            self.query_one(f"#row-f-{name}").set_class(name in by_field, "-invalid")
        box = self.query_one("#silence-error", Static)
        box.update("; ".join(general))
        box.display = bool(general)

    @work(exclusive=True, exit_on_error=False, group="silence-form", description="add a silence")
    async def save(self) -> None:
        values = {name: self.value(name).strip() for name in FIELDS}
        try:
            ends_at = parse_end(values["until"], self.engine.clock.now())
        except ValueError as exc:
            self.show_errors([("end", str(exc))])
            return
        try:
            silence = await self.engine.add_silence(
                reason=values["reason"], ends_at=ends_at, task=values["task"] or None,
                host=values["host"] or None, category=values["category"] or None)
        except ValidationError as exc:
            self.show_errors([(e.field, e.rule) for e in exc.errors])
            return
        except NotFoundError as exc:  # the only name looked up is the task's
            self.show_errors([("task", str(exc))])
            return
        except PatchwatchError as exc:
            self.show_errors([("", str(exc))])
            return
        self.dismiss(silence)

"""People and on-call (``:oncall``): who is on duty now for every role, until when, who is next; and everyone
who can be notified, and where.

Why: notices go to whoever holds a role when the failure happens, never to a fixed list. Before trusting that
a 03:00 failure reaches someone, an operator checks who holds each role now, when the handover is, who takes
over, which holiday cover is in force, and that every person has the addresses their modes need. "Who is on
duty on Christmas Eve at 10:00?" is the same question at another time: the ``at`` line asks it.

The answer comes from the engine (``oncall(at)``, the one function the router uses too); the handover times
come from the very rota the answer is computed from (``Role.period_at`` and the overrides of the directory
the engine returns), so "until" and "next" can never disagree with what the router will do. Apprise URLs
carry tokens: only their scheme is shown (``Person.masked_apprise``).

The screen follows the clock: it refreshes every minute (handovers pass while it is open) and when people
are imported (``people.imported``). Rows are updated in place by key, so the cursor stays put.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from console.domain.durations import format_duration
from console.domain.events import Event
from console.domain.timezones import parse_zone, zone_label
from console.engine.api import EngineAPI, EventStream
from console.errors import PatchwatchError, ValidationError
from console.notify.people import Directory, Override, Person, Role
from console.tui.screens import ConsoleScreen, read_only_banner
from console.tui.screens.run_detail import SortCell, consume_events, go_back, plain, sync_table, when
from console.tui.widgets.footer import ConsoleFooter

__all__ = ["AT_RULE", "DutyOutlook", "PeopleScreen", "duty_outlook", "parse_at"]

#: Seconds between refreshes while the screen follows the clock (handovers pass while it is open).
REFRESH_EVERY = 60.0
#: How many rota boundaries :func:`duty_outlook` walks looking for the next change of holders.
HORIZON = 400

AT_RULE = ("must be now (or empty) or an ISO date-time such as 2026-12-24T10:00 or 2026-12-24T10:00+08:00 "
           "(UTC unless it carries an offset)")

IMPORT_HINT = "No people or shift scenarios yet. Import them with: patchwatch people import FILE.toml"
NO_SCENARIO_HINT = ("No shift scenarios: no task notification reaches anyone by role. Add [[scenario]] blocks "
                    "and import again: patchwatch people import FILE.toml")


# ---------------------------------------------------------------------------------------------- pure helpers


def parse_at(text: str) -> datetime | None:
    """The instant the operator asked about; None for "now". Raises ValidationError on the field ``at``."""
    text = text.strip()
    if not text or text.lower() == "now":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError.single("at", AT_RULE) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class DutyOutlook:
    """What happens to a role after ``at``: when its holders change next and who holds it then.

    ``until`` is None when nothing changes ahead (a fixed role with no override to come). ``in_force`` are
    the overrides active at ``at``; ``upcoming`` is the next override that has not started yet.
    """

    until: datetime | None
    next_holders: tuple[str, ...]
    in_force: tuple[Override, ...]
    upcoming: Override | None


def _first_start(role: Role) -> datetime | None:
    """The instant period 0 of a rotating role begins, from the role's own boundaries.

    Half a day after the wall-clock handover of the start date is always inside period 0 (a period lasts
    at least 23 hours, and a handover moved by a DST gap moves by at most an hour), so ``period_at`` there
    returns period 0 with its exact start.
    """
    if role.rotation == "fixed" or not role.people:
        return None
    try:
        zone = parse_zone(role.timezone)
        handover = datetime.combine(role.start, role.handover).replace(tzinfo=zone)
        probe = handover.astimezone(UTC) + timedelta(hours=12)
    except (ValidationError, OverflowError):
        return None
    period = role.period_at(probe)
    return period.start if period is not None and period.index == 0 else None


def duty_outlook(role: Role, at: datetime, *, horizon: int = HORIZON) -> DutyOutlook:
    """The next change of ``role``'s holders after ``at``, walking the rota and override boundaries.

    A boundary where the same person takes the next turn (a rota of one) is not a change: the walk goes on
    to the first boundary where :meth:`Role.holders` gives someone else, within ``horizon`` boundaries.
    """
    # Every instant in UTC: Python compares two datetimes sharing a tzinfo by wall time, ignoring DST folds.
    at = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
    edges = sorted({edge.astimezone(UTC) for o in role.overrides for edge in (o.start, o.end)})
    in_force = tuple(o for o in role.overrides if o.active(at))
    later = sorted((o for o in role.overrides if o.start.astimezone(UTC) > at), key=lambda o: o.start.astimezone(UTC))
    current = role.holders(at)
    first = _first_start(role)
    moment = at
    for _ in range(horizon):
        candidates = [edge for edge in edges if edge > moment]
        period = role.period_at(moment)
        if period is not None:
            candidates.append(period.end.astimezone(UTC))
        elif first is not None and first > moment:
            candidates.append(first)
        if not candidates:
            break
        moment = min(candidates)
        holders = role.holders(moment)
        if holders != current:
            return DutyOutlook(moment, holders, in_force, later[0] if later else None)
    return DutyOutlook(None, (), in_force, later[0] if later else None)


def _zone(role: Role) -> tzinfo:
    try:
        return parse_zone(role.timezone)
    except ValidationError:
        return UTC


def _local(instant: datetime, zone: tzinfo) -> str:
    """``2026-11-06 09:00 CST``: handovers are stated in the role's wall clock, so they are shown in it."""
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_label(zone, local)}"


def _in(seconds: float) -> str:
    """``in 7h``: how long until a handover, to the minute (a countdown in seconds would only flicker)."""
    if seconds < 30:
        return "in <1m"
    return f"in {format_duration(round(seconds / 60) * 60)}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


# ---------------------------------------------------------------------------------------------- screen

_DUTY_COLUMNS = ("scenario", "role", "on_duty", "until", "next", "overrides", "rota")
_DUTY_LABELS = ("Scenario", "Role", "On duty", "Until", "Next", "Overrides", "Rota")
_PEOPLE_COLUMNS = ("name", "duty", "email", "mobile", "wecom", "dingtalk", "modes", "apprise")
_PEOPLE_LABELS = ("Name", "On duty", "Email", "Mobile", "WeCom", "DingTalk", "Modes", "Apprise")


class PeopleScreen(ConsoleScreen):
    """On duty now (or at the asked time) for every role of every scenario, and the people directory."""

    CSS_PATH = "people.tcss"
    TITLE = "On call"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("a", "ask_at", "At time"),
        Binding("n", "now", "Now"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, engine: EngineAPI, *, refresh_every: float = REFRESH_EVERY) -> None:
        super().__init__(engine)
        #: Seconds between refreshes while following the clock (tests shorten it).
        self.refresh_every = refresh_every
        #: The instant asked about in the "at" line; None follows the clock.
        self.at: datetime | None = None
        self.shown_at: datetime | None = None
        self.directory: Directory | None = None
        self.oncall: list[tuple[str, str, list[str]]] = []
        self._queue: EventStream | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield read_only_banner(self.app)
        yield Static(IMPORT_HINT, id="people-hint", markup=False)
        with Horizontal(id="oncall-at-line"):
            yield Label("At", classes="at-label")
            yield Input(placeholder="now, or 2026-12-24T10:00 (UTC) / 2026-12-24T10:00+08:00; Enter asks",
                        id="oncall-at", compact=True)
        duty: DataTable[Any] = DataTable(id="duty", cursor_type="row", zebra_stripes=True)
        for key, label in zip(_DUTY_COLUMNS, _DUTY_LABELS, strict=True):
            duty.add_column(label, key=key)
        duty.border_title = "On duty"
        yield duty
        people: DataTable[Any] = DataTable(id="people", cursor_type="row", zebra_stripes=True)
        for key, label in zip(_PEOPLE_COLUMNS, _PEOPLE_LABELS, strict=True):
            people.add_column(label, key=key)
        people.border_title = "People"
        yield people
        yield Static("", id="people-status", markup=False)
        yield ConsoleFooter()

    async def on_mount(self) -> None:
        self.query_one("#people-hint", Static).display = False
        self.duty_table.focus()
        self._queue = await self.engine.subscribe()
        self._watch_events(self._queue)
        self.set_interval(self.refresh_every, self._tick, name="oncall-refresh")
        self._load()

    def on_unmount(self) -> None:
        if self._queue is not None:
            self._queue.close()

    @property
    def duty_table(self) -> DataTable[Any]:
        return self.query_one("#duty", DataTable)

    @property
    def people_table(self) -> DataTable[Any]:
        return self.query_one("#people", DataTable)

    # ------------------------------------------------------------------ data

    @work(group="people-load", exclusive=True, exit_on_error=False, description="read people and who is on duty")
    async def _load(self) -> None:
        at = self.at or self.engine.clock.now()
        try:
            directory = await self.engine.directory()
            oncall = await self.engine.oncall(at)
        except PatchwatchError as exc:
            self.notify(str(exc), title="Cannot read people and shifts", severity="error", markup=False)
            return
        self.directory, self.oncall, self.shown_at = directory, oncall, at
        self._show_answer()

    def _tick(self) -> None:
        """Every minute: a handover may have passed (only when following the clock)."""
        if self.at is None:
            self._load()

    def _show_answer(self) -> None:
        directory, at = self.directory, self.shown_at
        if directory is None or at is None:
            return
        hint = self.query_one("#people-hint", Static)
        if not directory.people and not directory.scenarios:
            hint.update(IMPORT_HINT)
            hint.display = True
        elif not directory.scenarios:
            hint.update(NO_SCENARIO_HINT)
            hint.display = True
        else:
            hint.display = False
        duty_rows = self._duty_rows(directory, at)
        held = self._held_by(self.oncall)
        people_rows = {person.name: self._person_row(index, person, held.get(person.name, []))
                       for index, person in enumerate(directory.people.values())}
        with self.app.batch_update():
            sync_table(self.duty_table, duty_rows, sort_column="scenario")
            sync_table(self.people_table, people_rows, sort_column="name")
        mode = "now" if self.at is None else "asked; n returns to now"
        self.duty_table.border_title = f"On duty at {when(at.isoformat())} UTC ({mode})"
        self.people_table.border_title = f"People ({len(directory.people)})"
        uncovered = [f"{scenario}/{role}" for scenario, role, names in self.oncall if not names]
        parts = [_count(len(self.oncall), "role") + " in " + _count(len(directory.scenarios), "scenario"),
                 _count(len(directory.people), "person", "people")]
        if uncovered:
            parts.append(f"NOBODY on duty for {', '.join(uncovered)}")
        parts.append("refreshes every minute" if self.at is None else "a fixed time: a asks again, n returns to now")
        self.query_one("#people-status", Static).update(" · ".join(parts))

    @staticmethod
    def _held_by(oncall: Sequence[tuple[str, str, list[str]]]) -> dict[str, list[str]]:
        held: dict[str, list[str]] = {}
        for scenario, role, names in oncall:
            for name in names:
                held.setdefault(name, []).append(f"{scenario}/{role}")
        return held

    def _duty_rows(self, directory: Directory, at: datetime) -> dict[str, list[Any]]:
        order = {(s.name, r.name): (i, j) for i, s in enumerate(directory.scenarios.values())
                 for j, r in enumerate(s.roles)}
        rows: dict[str, list[Any]] = {}
        for scenario, role_name, names in self.oncall:
            found = directory.scenarios.get(scenario)
            role = found.role(role_name) if found is not None else None
            if role is None:
                continue
            rows[f"{scenario}/{role_name}"] = self._duty_row(scenario, role, names, at,
                                                             order.get((scenario, role_name), (0, 0)))
        return rows

    @staticmethod
    def _duty_row(scenario: str, role: Role, names: list[str], at: datetime, order: tuple[int, int]) -> list[Any]:
        zone = _zone(role)
        outlook = duty_outlook(role, at)
        who = Text(_names(names), style="bold", end="") if names else Text("nobody", style="bold red", end="")
        if outlook.until is None:
            until = Text("no change ahead" if role.rotation == "fixed" else "-", style="dim", end="")
            following = Text("-", style="dim", end="")
        else:
            seconds = (outlook.until - at).total_seconds()
            until = plain(f"{_local(outlook.until, zone)} ({_in(seconds)})")
            following = (plain(_names(outlook.next_holders)) if outlook.next_holders
                         else Text("nobody", style="red", end=""))
        if outlook.in_force:
            overrides = Text("; ".join(f"{o.person} until {_local(o.end, zone)}" for o in outlook.in_force),
                             style="bold yellow", end="")
        elif outlook.upcoming is not None:
            o = outlook.upcoming
            overrides = Text(f"later: {o.person} {_local(o.start, zone)} to {_local(o.end, zone)}", style="dim",
                             end="")
        else:
            overrides = plain("")
        if role.rotation == "fixed":
            rota = f"fixed: {_names(role.people)}"
        else:
            rota = (f"{role.rotation} at {role.handover:%H:%M} {role.timezone} from {role.start.isoformat()}: "
                    f"{_names(role.people)}")
        return [SortCell(scenario, order), plain(role.name), who, until, following, overrides, plain(rota)]

    @staticmethod
    def _person_row(index: int, person: Person, duty: list[str]) -> list[Any]:
        def field(value: str | None) -> Text:
            return plain(value) if value else Text("-", style="dim", end="")

        if person.dingtalk:
            dingtalk = plain(person.dingtalk)
        elif person.mobile:
            dingtalk = Text("by mobile", style="dim", end="")
        else:
            dingtalk = Text("-", style="dim", end="")
        return [
            SortCell(person.name, index),
            Text(", ".join(duty), style="bold green", end="") if duty else Text("-", style="dim", end=""),
            field(person.email),
            field(person.mobile),
            field(person.wecom),
            dingtalk,
            plain(" > ".join(person.modes)) if person.modes else Text("task order", style="dim", end=""),
            # Never the URL itself: apprise URLs carry tokens. The scheme says which service it is.
            plain(", ".join(person.masked_apprise())),
        ]

    # ------------------------------------------------------------------ live

    @work(group="people-live", exclusive=True, exit_on_error=False, description="follow people imports")
    async def _watch_events(self, queue: EventStream) -> None:
        await consume_events(self.engine, queue, self._on_events)

    async def _on_events(self, batch: list[Event]) -> None:
        if any(event.kind == "people.imported" for event in batch):
            self._load()

    # ------------------------------------------------------------------ keys

    @property
    def at_input(self) -> Input:
        return self.query_one("#oncall-at", Input)

    def action_back(self) -> None:
        if self.focused is self.at_input:
            self.at_input.value = "" if self.at is None else self.at.isoformat()
            self.at_input.remove_class("-invalid")
            self.duty_table.focus()
        else:
            go_back(self)

    def action_ask_at(self) -> None:
        self.at_input.focus()

    def action_now(self) -> None:
        self.at = None
        self.at_input.value = ""
        self.at_input.remove_class("-invalid")
        self._load()

    def action_reload(self) -> None:
        self._load()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "oncall-at":
            return
        event.stop()
        try:
            self.at = parse_at(event.value)
        except ValidationError as exc:
            event.input.add_class("-invalid")
            self.notify(str(exc), title="Cannot ask who is on duty then", severity="error", markup=False)
            return
        event.input.remove_class("-invalid")
        self._load()
        self.duty_table.focus()

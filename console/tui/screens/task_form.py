"""Create or edit a scheduled task: the reference system's steps, in order, as sections of one scrollable form.

1 basic -> 2 schedule -> 3 job -> 4 targets -> 5 review -> 6 notifications. What the schedule means is shown
while the operator types (plain words, the next five fires in the task's zone and locally, DST notes), and so
is the batch plan of the chosen targets, because a wrong day-of-week or a forgotten canary is found here or
at 3 a.m. Nothing is saved until the engine accepts the whole form; every broken rule is shown next to its
field. ctrl+s saves, Esc asks before throwing changes away.

Typing must stay instant on a form of a few hundred widgets, so the live feedback is cheap by construction:
a change only marks the previews it affects as stale, and they are recomputed once, :data:`PREVIEW_DELAY`
after the last keystroke (a Timer restarted on every change); the preview boxes have fixed heights in
app.tcss, so new text repaints them without laying the form out again; an error line is touched only when
its message changes; and the footer keeps its keys while the focus moves between fields.

Why one module of this length: one form in the reference system's field order, with its live previews and
the mapping of every validation error to its field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.reactive import Reactive
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import (
    Checkbox,
    Input,
    RadioButton,
    RadioSet,
    Select,
    SelectionList,
    Static,
)

from console.domain.batching import describe_plan, has_canary, plan_batches
from console.domain.cron import parse_cron, simple_to_cron
from console.domain.durations import format_duration
from console.domain.task import (
    JOBS,
    KNOWN_MODES,
    SCAN_OS_PATCH,
    BatchMode,
    BatchPolicy,
    NotifyPolicy,
    Task,
    task_to_input,
)
from console.domain.timezones import parse_zone, zone_label
from console.engine.api import EngineAPI
from console.errors import FieldError, PatchwatchError, ValidationError
from console.tui.screens import ConsoleScreen
from console.tui.widgets.form_dialogs import ConfirmDialog
from console.tui.widgets.form_fields import (
    QuietFooter,
    field_row,
    locate_error,
    parse_number,
    split_batches,
    split_names,
)

__all__ = ["COMMON_ZONES", "FIELD_WIDGETS", "TaskFormScreen"]

#: Zones offered in the picker; any IANA name or GMT offset can be typed instead.
COMMON_ZONES: tuple[str, ...] = (
    "UTC", "GMT+08:00", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Asia/Tokyo", "Asia/Kolkata",
    "Asia/Dubai", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Moscow", "America/New_York",
    "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Australia/Sydney",
)
WEEKDAYS: tuple[tuple[str, str], ...] = (
    ("MON", "Monday"), ("TUE", "Tuesday"), ("WED", "Wednesday"), ("THU", "Thursday"), ("FRI", "Friday"),
    ("SAT", "Saturday"), ("SUN", "Sunday"),
)
POLICY_LABELS: dict[str, str] = {
    "execution_failed": "execution failed", "succeeded": "succeeded", "started": "started", "paused": "paused",
    "pending_review": "pending review", "missed": "missed", "interrupted": "interrupted",
    "recovered": "recovered",
}
NEXT_FIRES = 5
#: Seconds after the last change before the previews are recomputed (typing stays instant meanwhile).
PREVIEW_DELAY = 0.15

#: Which previews a changed widget makes stale: "schedule" (meaning, next fires, DST notes), "batch" (the
#: batch plan), "instances" (the instance picker, filtered by what is typed above it).
AFFECTS: dict[str, frozenset[str]] = {
    **{widget: frozenset({"schedule"}) for widget in ("f-timezone", "f-cron", "f-simple-time", "f-at", "f-expires",
                                                       "f-weekdays", "f-schedule-type", "f-cron-mode")},
    "f-batches": frozenset({"batch"}), "f-batch-mode": frozenset({"batch"}), "f-groups": frozenset({"batch"}),
    "f-instances": frozenset({"batch"}), "f-instance-filter": frozenset({"instances"}),
}

#: Where the engine's dotted field paths are shown (the widget id; its error line is ``err-<id>``).
FIELD_WIDGETS: dict[str, str] = {
    "name": "f-name", "risk": "f-risk", "description": "f-description", "enabled": "f-enabled",
    "schedule": "f-timezone", "schedule.timezone": "f-timezone", "schedule.type": "f-schedule-type",
    "schedule.cron": "f-cron", "schedule.simple": "f-weekdays", "schedule.simple.weekdays": "f-weekdays",
    "schedule.simple.time": "f-simple-time", "schedule.at": "f-at", "schedule.expires": "f-expires",
    "schedule.on_missed": "f-on-missed",
    "job": "f-job", "job.name": "f-job", "job.credential": "f-credential", "job.target_mode": "f-job",
    "job.params": "f-job",
    **{f"job.params.{name}": f"f-param-{name}" for spec in JOBS.values() for name in spec},
    "targets": "f-instances", "targets.instances": "f-instances", "targets.groups": "f-groups",
    "targets.batch": "f-batch-mode", "targets.batch.mode": "f-batch-mode", "targets.batch.batches": "f-batches",
    "targets.error_threshold": "f-max-failed", "targets.error_threshold.max_failed": "f-max-failed",
    "targets.error_threshold.max_failed_percent": "f-max-failed-pct",
    "review": "f-review", "review.required": "f-review", "review.reviewers": "f-reviewers",
    "review.expires_after": "f-review-expires",
    "notify": "f-people", "notify.enabled": "f-notify", "notify.policies": "f-policies",
    "notify.scenario": "f-scenario", "notify.roles": "f-roles", "notify.people": "f-people",
    "notify.modes": "f-modes",
}
#: The fields whose live errors the schedule preview owns.
SCHEDULE_FIELDS = ("f-timezone", "f-cron", "f-weekdays", "f-simple-time", "f-at")
SECTIONS = ("sec-basic", "sec-schedule", "sec-job", "sec-targets", "sec-review", "sec-notify")


def _fire_line(index: int, moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return (f"{index}. {local:%a %Y-%m-%d %H:%M:%S} {zone_label(zone, local)}"
            f"  (local {moment.astimezone():%m-%d %H:%M})")


def _show_text(widget: Static, text: str, *, layout: bool = False) -> None:
    """Show ``text`` in a preview box when it differs from what it shows. A box with a fixed height (app.tcss)
    needs no layout pass; one sized by its text (``layout=True``) gets one only when its text changed."""
    if str(widget.content) != text:
        widget.update(text, layout=layout)


def _input(widget_id: str, value: str, placeholder: str) -> Input:
    """A one-line input (compact, so the whole form stays usable at 80x24)."""
    return Input(str(value), placeholder=placeholder, compact=True, id=widget_id)


def _select(widget_id: str, options: list[tuple[str, str]], value: str) -> Select[str]:
    return Select(options, value=value, allow_blank=False, compact=True, id=widget_id)


def _radio(widget_id: str, buttons: list[tuple[str, str, bool]]) -> RadioSet:
    return RadioSet(*[RadioButton(label, value=on, id=button_id) for button_id, label, on in buttons],
                    compact=True, id=widget_id)


class TaskFormScreen(ConsoleScreen):
    """The task form; dismisses with the saved task's id, or None when the operator leaves without saving."""

    TITLE = "Task form"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Back"),
        Binding("ctrl+down", "section(1)", "Next section"),
        Binding("ctrl+up", "section(-1)", "Previous section"),
    ]

    #: Textual repaints the whole screen when the focus moves; the widgets that gain and lose the focus repaint
    #: themselves, so on a form (one Tab = one focus change) that full repaint is pure cost.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    def __init__(self, engine: EngineAPI, task: Task | None = None) -> None:
        super().__init__(engine, id="task-form")
        self.editing = task
        self.task_id = task.id if task else None
        self.values: dict[str, Any] = task_to_input(task) if task else {}
        self._inventory: list[Any] = []
        self._chosen_instances: list[str] = list(self.values.get("targets", {}).get("instances", []))
        self._snapshot: dict[str, Any] | None = None
        self._review_touched = task is not None
        self._review_auto: bool | None = None
        self._live_errors: dict[str, str] = {}
        self._save_errors: dict[str, list[str]] = {}
        #: What each error line shows now, so an unchanged message costs nothing.
        self._shown_errors: dict[str, tuple[str, ...]] = {}
        #: Previews waiting for the debounce timer ("schedule", "batch", "instances").
        self._stale: set[str] = set()
        self._preview_timer: Timer | None = None

    # ------------------------------------------------------------------ layout

    def _v(self, path: str, default: Any = None) -> Any:
        """The prefilled value at dotted ``path`` (edit), else ``default``."""
        node: Any = self.values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def compose(self) -> ComposeResult:
        title = f"Edit task {self.editing.name} ({self.editing.id})" if self.editing else "New scheduled task"
        yield Static(title, id="form-title")
        yield Static("", id="form-summary", markup=False)
        with VerticalScroll(id="form-body", can_focus=False):
            yield from self._basic()
            yield from self._schedule()
            yield from self._job()
            yield from self._targets()
            yield from self._review()
            yield from self._notify()
        yield QuietFooter()

    def _basic(self) -> ComposeResult:
        with Vertical(id="sec-basic", classes="form-section") as section:
            section.border_title = "1 Basic"
            yield field_row("Name", _input("f-name", self._v("name", ""), "e.g. ScheduledscanOSpatches"),
                            field="f-name", hint="3-100 characters: letters, digits, - and _; unique")
            yield field_row("Risk level", _select("f-risk", [("Low", "low"), ("Medium", "medium"), ("High", "high")],
                                                  self._v("risk", "low")),
                            field="f-risk", hint="High turns manual review on")
            yield field_row("Description", _input("f-description", self._v("description", ""), "optional"),
                            field="f-description")
            yield field_row("Enabled", Checkbox("fires on its schedule", bool(self._v("enabled", True)),
                                                compact=True, id="f-enabled"), field="f-enabled")

    def _schedule(self) -> ComposeResult:
        single = self._v("schedule.type", "periodic") == "single"
        simple = bool(self._v("schedule.simple"))
        weekdays = [str(d) for d in self._v("schedule.simple.weekdays", []) or []]
        chosen_days = {d.upper()[:3] for d in weekdays}
        if any(d.lower() == "daily" for d in weekdays):
            chosen_days = {code for code, _ in WEEKDAYS}
        with Vertical(id="sec-schedule", classes="form-section") as section:
            section.border_title = "2 Schedule"
            zone = _input("f-timezone", self._v("schedule.timezone", "UTC"),
                          "IANA name (Asia/Shanghai) or offset (GMT+08:00)")
            zone.suggester = SuggestFromList(COMMON_ZONES, case_sensitive=False)
            picker = Select([(z, z) for z in COMMON_ZONES], prompt="or pick a common zone", compact=True,
                            id="f-zone-pick")
            yield field_row("Time zone", zone, picker, field="f-timezone",
                            hint="all schedule maths happen in this zone")
            yield field_row("Type", _radio("f-schedule-type", [("type-periodic", "Periodic", not single),
                                                               ("type-single", "Single execution", single)]),
                            field="f-schedule-type")
            with Vertical(id="periodic-box"):
                yield field_row("Execution time", _radio("f-cron-mode", [("mode-cron", "Cron expression", not simple),
                                                                         ("mode-simple", "Weekdays + time", simple)]),
                                field="f-cron-mode")
                with Vertical(id="cron-box"):
                    yield field_row("Cron", _input("f-cron", self._v("schedule.cron", ""), "0 15 3 5 * ?"),
                                    field="f-cron", hint="Quartz: sec min hour day-of-month month day-of-week [year] "
                                                         "(1 = Sunday); or 5-field crontab (0 = Sunday)")
                with Vertical(id="simple-box"):
                    days = SelectionList[str](*[(name, code, code in chosen_days) for code, name in WEEKDAYS],
                                              compact=True, id="f-weekdays")
                    yield field_row("Weekdays", days, field="f-weekdays", hint="space toggles a day")
                    yield field_row("Time of day", _input("f-simple-time", self._v("schedule.simple.time", ""),
                                                          "HH:MM"), field="f-simple-time")
            with Vertical(id="single-box"):
                yield field_row("Run once at", _input("f-at", self._v("schedule.at", ""), "2026-12-05T03:15:00"),
                                field="f-at", hint="read in the task's zone")
            yield Static("", id="schedule-preview", markup=False)
            yield Static("", id="dst-notes", markup=False)
            yield field_row("Rule expiry", _input("f-expires", self._v("schedule.expires", ""),
                                                  "optional: 2027-12-31T23:59:59"),
                            field="f-expires", hint="after this the task stops firing and shows as expired")
            yield field_row("Missed fires", _select("f-on-missed", [("skip them (recorded as missed)", "skip"),
                                                                    ("run once when back", "run_once")],
                                                    self._v("schedule.on_missed", "skip")), field="f-on-missed")

    def _job(self) -> ComposeResult:
        job_name = self._v("job.name", SCAN_OS_PATCH)
        job_name = job_name if job_name in JOBS else SCAN_OS_PATCH
        with Vertical(id="sec-job", classes="form-section") as section:
            section.border_title = "3 Job"
            yield field_row("Job", _select("f-job", [(name, name) for name in JOBS], job_name), field="f-job",
                            hint="a public job; target instance mode: consistent for all steps")
            for name, specs in JOBS.items():
                with Vertical(id=f"params-{name}", classes="job-params"):
                    for param, spec in specs.items():
                        current = self._v(f"job.params.{param}") if name == job_name else None
                        widget_id = f"f-param-{param}"
                        widget: Widget
                        if spec.kind is bool:
                            value = bool(spec.default if current is None else current)
                            widget = Checkbox(param.replace("_", " "), value, compact=True, id=widget_id)
                        else:
                            widget = _input(widget_id, "" if current is None else str(current),
                                            f"default {spec.default:g}")
                        yield field_row(param.replace("_", " "), widget, field=widget_id, hint=spec.help)
            yield field_row("Credential", _input("f-credential", self._v("job.credential", "default"), "default"),
                            field="f-credential", hint="credential profile used to reach the targets")

    def _targets(self) -> ComposeResult:
        groups = list(dict.fromkeys(["all", *self._v("targets.groups", [])]))
        chosen_groups = set(self._v("targets.groups", []))
        batch = self._v("targets.batch.mode", "automatic")
        batches = self._v("targets.batch.batches", []) or []
        threshold = self._v("targets.error_threshold", {}) or {}
        max_failed = threshold.get("max_failed")
        pct = threshold.get("max_failed_percent")
        with Vertical(id="sec-targets", classes="form-section") as section:
            section.border_title = "4 Targets"
            instances = SelectionList[str](*[(n, n, True) for n in self._chosen_instances], compact=True,
                                           id="f-instances")
            yield field_row("Instances", _input("f-instance-filter", "", "filter instances"), instances,
                            field="f-instances", hint="from the inventory; space selects")
            group_list = SelectionList[str](*[(g, g, g in chosen_groups) for g in groups], compact=True,
                                            id="f-groups")
            yield field_row("Groups", group_list, field="f-groups",
                            hint="resolved when the run starts; 'all' is every instance")
            yield field_row("Batches", _radio("f-batch-mode", [
                ("batch-automatic", "Automatic (canary 1, then x5)", batch == "automatic"),
                ("batch-manual", "Manual", batch == "manual"),
                ("batch-none", "None (all at once)", batch == "none")]), field="f-batch-mode")
            with Vertical(id="manual-box"):
                yield field_row("Manual batches", _input("f-batches", "; ".join(", ".join(b) for b in batches),
                                                         "web-1; web-2, web-3; db-1"),
                                field="f-batches", hint="batches separated by ';', instances by ','")
            yield Static("", id="batch-preview", markup=False)
            yield field_row("Pause after", _input("f-max-failed", "" if max_failed is None else str(max_failed),
                                                  "failed hosts (blank: no limit)"),
                            field="f-max-failed", hint="error threshold: pause when more hosts than this fail")
            yield field_row("or percent", _input("f-max-failed-pct", "" if pct is None else f"{pct:g}",
                                                 "% of finished hosts (blank: no limit)"), field="f-max-failed-pct")

    def _review(self) -> ComposeResult:
        expires = self._v("review.expires_after")
        with Vertical(id="sec-review", classes="form-section") as section:
            section.border_title = "5 Review"
            yield field_row("Manual review", Checkbox("required", bool(self._v("review.required", False)),
                                                      compact=True, id="f-review"),
                            field="f-review", hint="each fire waits for approval before it touches any host")
            yield field_row("Reviewers", _input("f-reviewers", ", ".join(self._v("review.reviewers", [])),
                                                "optional: alice, bob (anyone when blank)"), field="f-reviewers")
            yield field_row("Review expires", _input("f-review-expires",
                                                     format_duration(expires) if expires else "24h", "24h"),
                            field="f-review-expires", hint="a run nobody reviewed by then is dropped")

    def _notify(self) -> ComposeResult:
        policies = set(self._v("notify.policies", ["execution_failed"]))
        modes = list(self._v("notify.modes", ["email"]))
        extra_modes = [m for m in modes if m not in KNOWN_MODES]
        with Vertical(id="sec-notify", classes="form-section") as section:
            section.border_title = "6 Notifications"
            yield field_row("Notify", Checkbox("on", bool(self._v("notify.enabled", False)), compact=True,
                                               id="f-notify"),
                            field="f-notify", hint="off: failures only show in this console")
            events = SelectionList[str](*[(POLICY_LABELS.get(p.value, p.value), p.value, p.value in policies)
                                          for p in NotifyPolicy], compact=True, id="f-policies")
            yield field_row("Events", events, field="f-policies", hint="execution failed is the one that matters")
            yield field_row("Shift scenario", _input("f-scenario", self._v("notify.scenario", "") or "",
                                                     "e.g. patch-duty"),
                            field="f-scenario", hint="whoever holds the roles when the event happens")
            yield field_row("Roles", _input("f-roles", ", ".join(self._v("notify.roles", [])), "e.g. on-duty"),
                            field="f-roles")
            yield field_row("People", _input("f-people", ", ".join(self._v("notify.people", [])),
                                             "optional names"), field="f-people")
            mode_list = SelectionList[str](*[(m, m, m in modes) for m in KNOWN_MODES], compact=True, id="f-modes")
            yield field_row("Modes", mode_list, _input("f-modes-extra", ", ".join(extra_modes),
                                                       "other channels, comma separated"), field="f-modes")

    # ------------------------------------------------------------------ life

    def on_mount(self) -> None:
        self._apply_visibility()
        self._update_schedule_preview()
        self._update_batch_preview()
        self.query_one("#f-name", Input).focus()
        self.load_inventory()
        self.call_after_refresh(self._take_snapshot)

    def _take_snapshot(self) -> None:
        self._snapshot = self.form_dict()

    def has_unsaved_changes(self) -> bool:
        return self._snapshot is not None and self.form_dict() != self._snapshot

    @work(exclusive=True, exit_on_error=False, group="task-form-inventory",
          description="task form: load the inventory for the instance and group pickers")
    async def load_inventory(self) -> None:
        self._inventory = await self.engine.list_instances()
        groups = self.query_one("#f-groups", SelectionList)
        chosen = set(groups.selected)
        names = list(dict.fromkeys(["all", *sorted({g for t in self._inventory for g in t.groups}), *chosen]))
        counts = {g: sum(1 for t in self._inventory if g in t.groups) for g in names}
        if not self._inventory:
            self.query_one("#hint-f-instances", Static).update(
                "the inventory is empty: import it (patchwatch inventory import) or pick the group 'all'")
        with self.app.batch_update():
            groups.clear_options()
            groups.add_options([(f"{g}  ({len(self._inventory) if g == 'all' else counts[g]} instances)", g,
                                 g in chosen) for g in names])
            self._rebuild_instances()
            self._update_batch_preview()

    def _rebuild_instances(self) -> None:
        """Show the inventory instances that match the filter; the chosen ones stay chosen while hidden."""
        needle = self.query_one("#f-instance-filter", Input).value.strip().casefold()
        known = {t.name for t in self._inventory}
        options: list[tuple[str, str, bool]] = []
        for target in self._inventory:
            label = f"{target.name}  {target.address}" + (f"  [{', '.join(target.groups)}]" if target.groups else "")
            if needle and needle not in label.casefold():
                continue
            options.append((label, target.name, target.name in self._chosen_instances))
        for name in self._chosen_instances:
            if name not in known and (not needle or needle in name.casefold()):
                options.append((f"{name}  (not in the inventory)", name, True))
        instances = self.query_one("#f-instances", SelectionList)
        instances.clear_options()
        instances.add_options(options)

    # ------------------------------------------------------------------ reading the form

    @staticmethod
    def _pressed(radio: RadioSet, default: str) -> str:
        for button in radio.query(RadioButton):
            if button.value and button.id:
                return button.id.split("-", 1)[1]
        return default

    def _input(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def form_dict(self) -> dict[str, Any]:
        """The form as the engine's input mapping (``validate_task`` / ``create_task``)."""
        q = self.query_one
        stype = self._pressed(q("#f-schedule-type", RadioSet), "periodic")
        schedule: dict[str, Any] = {"timezone": self._input("f-timezone"), "type": stype,
                                    "on_missed": q("#f-on-missed", Select).value}
        if stype == "single":
            schedule["at"] = self._input("f-at")
        elif self._pressed(q("#f-cron-mode", RadioSet), "cron") == "simple":
            schedule["simple"] = {"weekdays": list(q("#f-weekdays", SelectionList).selected),
                                  "time": self._input("f-simple-time")}
        else:
            schedule["cron"] = self._input("f-cron")
        if self._input("f-expires"):
            schedule["expires"] = self._input("f-expires")

        job_name = q("#f-job", Select).value
        params: dict[str, Any] = {}
        for param, spec in JOBS.get(str(job_name), {}).items():
            if spec.kind is bool:
                checked = q(f"#f-param-{param}", Checkbox).value
                if checked != spec.default:
                    params[param] = checked
            else:
                value = parse_number(self._input(f"f-param-{param}"), spec.kind)
                if value is not None:
                    params[param] = value
        job: dict[str, Any] = {"name": job_name, "credential": self._input("f-credential") or "default"}
        if params:
            job["params"] = params

        batch_mode = self._pressed(q("#f-batch-mode", RadioSet), "automatic")
        batch: dict[str, Any] = {"mode": batch_mode}
        if batch_mode == "manual":
            batch["batches"] = split_batches(self._input("f-batches"))
        threshold: dict[str, Any] = {}
        for key, widget_id, kind in (("max_failed", "f-max-failed", int),
                                     ("max_failed_percent", "f-max-failed-pct", float)):
            value = parse_number(self._input(widget_id), kind)
            if value is not None:
                threshold[key] = value
        targets: dict[str, Any] = {"instances": list(self._chosen_instances),
                                   "groups": list(q("#f-groups", SelectionList).selected), "batch": batch}
        if threshold:
            targets["error_threshold"] = threshold

        review: dict[str, Any] = {"required": q("#f-review", Checkbox).value,
                                  "reviewers": split_names(self._input("f-reviewers"))}
        if self._input("f-review-expires"):
            review["expires_after"] = self._input("f-review-expires")

        modes = list(q("#f-modes", SelectionList).selected)
        modes += [m for m in split_names(self._input("f-modes-extra")) if m not in modes]
        notify = {"enabled": q("#f-notify", Checkbox).value,
                  "policies": list(q("#f-policies", SelectionList).selected),
                  "scenario": self._input("f-scenario") or None,
                  "roles": split_names(self._input("f-roles")),
                  "people": split_names(self._input("f-people")), "modes": modes}
        # The form has no field for it yet: keep the edited task's value rather than reset it to 1.
        if self._v("notify.after_consecutive") is not None:
            notify["after_consecutive"] = self._v("notify.after_consecutive")
        return {
            "name": self._input("f-name"), "risk": q("#f-risk", Select).value,
            "description": self._input("f-description"), "enabled": q("#f-enabled", Checkbox).value,
            "schedule": schedule, "job": job, "targets": targets, "review": review, "notify": notify,
        }

    # ------------------------------------------------------------------ live feedback

    def _apply_visibility(self) -> None:
        q = self.query_one
        single = self._pressed(q("#f-schedule-type", RadioSet), "periodic") == "single"
        simple = self._pressed(q("#f-cron-mode", RadioSet), "cron") == "simple"
        q("#periodic-box").display = not single
        q("#single-box").display = single
        q("#cron-box").display = not simple
        q("#simple-box").display = simple
        q("#manual-box").display = self._pressed(q("#f-batch-mode", RadioSet), "automatic") == "manual"
        job = str(q("#f-job", Select).value)
        for container in self.query(".job-params"):
            container.display = container.id == f"params-{job}"

    def _set_error(self, widget_id: str, messages: Sequence[str]) -> None:
        shown = tuple(messages)
        if self._shown_errors.get(widget_id, ()) == shown:
            return  # unchanged: no update, no layout
        try:
            label = self.query_one(f"#err-{widget_id}", Static)
        except Exception:
            return
        self._shown_errors[widget_id] = shown
        label.update("\n".join(shown))
        label.display = bool(shown)
        self.query_one(f"#row-{widget_id}").set_class(bool(shown), "-invalid")

    def _show_field(self, widget_id: str) -> None:
        """Live errors (schedule) and errors of the last save attempt, together."""
        messages = list(self._save_errors.get(widget_id, []))
        live = self._live_errors.get(widget_id)
        if live and live not in messages:
            messages.insert(0, live)
        self._set_error(widget_id, messages)

    def _live(self, widget_id: str, message: str | None) -> None:
        if message:
            self._live_errors[widget_id] = message
        else:
            self._live_errors.pop(widget_id, None)
        self._show_field(widget_id)

    def _zone(self, live: dict[str, str]) -> tzinfo | None:
        try:
            return parse_zone(self._input("f-timezone"))
        except ValidationError as exc:
            live["f-timezone"] = exc.errors[0].rule
            return None

    def _update_schedule_preview(self) -> None:
        """Recompute the plain-language meaning, the next fires and the DST notes from what is typed now."""
        live: dict[str, str] = {}
        text, notes = self._schedule_texts(live)
        _show_text(self.query_one("#schedule-preview", Static), text)
        dst = self.query_one("#dst-notes", Static)
        _show_text(dst, notes, layout=True)  # rarely changes; sized by its text
        dst.display = bool(notes)
        for widget_id in SCHEDULE_FIELDS:
            self._live(widget_id, live.get(widget_id))

    def _schedule_texts(self, live: dict[str, str]) -> tuple[str, str]:
        """(preview text, DST notes) of the schedule as typed; live errors go into ``live`` by widget id."""
        q = self.query_one
        zone = self._zone(live)
        now = self.engine.clock.now()
        stype = self._pressed(q("#f-schedule-type", RadioSet), "periodic")
        simple = self._pressed(q("#f-cron-mode", RadioSet), "cron") == "simple"
        if stype == "single":
            text = self._input("f-at")
            if not text:
                return "Type the date-time of the single run.", ""
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                live["f-at"] = f"must be an ISO date-time such as 2026-12-05T03:15:00, got {text!r}"
                return "", ""
            if zone is None:
                return "", ""
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            past = " - this is in the past" if moment <= now else ""
            return f"Runs once:\n{_fire_line(1, moment, zone)}{past}", ""
        try:
            if simple:
                days = list(q("#f-weekdays", SelectionList).selected)
                expr = parse_cron(simple_to_cron(days, self._input("f-simple-time")))
            else:
                text = self._input("f-cron")
                if not text:
                    return "Type a cron expression, e.g. 0 15 3 5 * ? (03:15:00 on the 5th of every month).", ""
                expr = parse_cron(text)
        except ValidationError as exc:
            for error in exc.errors:
                if simple:
                    target = "f-weekdays" if error.field == "weekdays" else "f-simple-time"
                    live[target] = error.rule
                else:
                    live["f-cron"] = f"{error.field}: {error.rule}" if error.field else error.rule
            return "No fire times: fix the schedule above.", ""
        if zone is None:
            return f"Runs {expr.describe()}. Fix the time zone to see the next fires.", ""
        fires = expr.next_fires(zone, now, NEXT_FIRES)
        lines = [f"Runs {expr.describe()} ({self._input('f-timezone')})"]
        expires_text = self._input("f-expires")
        if expires_text:
            try:
                expires = datetime.fromisoformat(expires_text)
                expires = expires.replace(tzinfo=zone) if expires.tzinfo is None else expires
                if fires and fires[0] > expires:
                    # Above the fires: in the fixed-height box a long description can only push the last fire out.
                    lines.append("The rule expires before the first fire: the task would never run.")
            except ValueError:
                pass
        lines.append("Next fires:")
        lines += [_fire_line(i, f, zone) for i, f in enumerate(fires, 1)] or ["  none: it never fires again"]
        notes = expr.dst_notes(zone, now)
        dst = "Daylight saving time:\n" + "\n".join(f"- {n}" for n in notes) if notes else ""
        return "\n".join(lines), dst

    def _resolved_hosts(self) -> tuple[list[str], list[str]]:
        """The hosts the chosen instances and groups name today (inventory order), and unknown groups."""
        groups = set(self.query_one("#f-groups", SelectionList).selected)
        hosts: list[str] = []
        for target in self._inventory:
            if target.name in self._chosen_instances or "all" in groups or groups & set(target.groups):
                hosts.append(target.name)
        known = {t.name for t in self._inventory}
        hosts += [n for n in self._chosen_instances if n not in known]
        present = {g for t in self._inventory for g in t.groups} | {"all"}
        return hosts, sorted(groups - present)

    def _update_batch_preview(self) -> None:
        q = self.query_one
        mode = BatchMode(self._pressed(q("#f-batch-mode", RadioSet), "automatic"))
        manual = [tuple(b) for b in split_batches(self._input("f-batches"))] if mode is BatchMode.MANUAL else []
        policy = BatchPolicy(mode, tuple(manual))
        hosts, unknown_groups = self._resolved_hosts()
        plan = plan_batches(hosts, policy)
        lines = [f"Batch plan today: {describe_plan(plan)}"]
        if plan:
            first = ", ".join(plan[0][:5]) + (" ..." if len(plan[0]) > 5 else "")
            lines.append(f"first batch{' (canary)' if has_canary(policy, plan) else ''}: {first}")
            if has_canary(policy, plan):
                lines.append("if every canary host fails, the run pauses before the next batch")
        if unknown_groups:
            lines.append(f"groups with no instance in the inventory yet: {', '.join(unknown_groups)}")
        _show_text(q("#batch-preview", Static), "\n".join(lines))

    def _risk_changed(self, risk: str) -> None:
        """High risk turns manual review on by default (domain.md), unless the operator chose already."""
        if self._review_touched:
            return
        switch = self.query_one("#f-review", Checkbox)
        wanted = risk == "high"
        if switch.value != wanted:
            self._review_auto = wanted
            switch.value = wanted

    def _clear_save_error(self, widget_id: str | None) -> None:
        if widget_id and self._save_errors.pop(widget_id, None) is not None:
            self._show_field(widget_id)

    def scroll_to_center(self, widget: Widget, animate: bool = True, **kwargs: Any) -> None:
        """Bring the newly focused field into view at once: an animated scroll repaints the form on every
        frame of the animation, and a Tab costs several of them."""
        super().scroll_to_center(widget, animate=False, **kwargs)

    # ------------------------------------------------------------------ debounced previews

    @property
    def previews_pending(self) -> bool:
        """True while a change waits for its previews to be recomputed."""
        return bool(self._stale)

    def _mark_stale(self, widget_id: str) -> None:
        """The previews ``widget_id`` affects are stale: recompute them once typing pauses."""
        stale = AFFECTS.get(widget_id)
        if not stale:
            return
        self._stale |= stale
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY, self.flush_previews, name="task-form previews")

    def flush_previews(self) -> None:
        """Recompute the stale previews now (after the pause in typing, when the focus moves, before saving)."""
        if self._preview_timer is not None:
            self._preview_timer.stop()
            self._preview_timer = None
        stale, self._stale = self._stale, set()
        if not stale or not self.is_attached:
            return
        with self.app.batch_update():
            if "instances" in stale:
                self._rebuild_instances()
            if "schedule" in stale:
                self._update_schedule_preview()
            if "batch" in stale:
                self._update_batch_preview()

    def on_unmount(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()

    # ------------------------------------------------------------------ changes

    def on_input_changed(self, event: Input.Changed) -> None:
        widget_id = event.input.id or ""
        self._clear_save_error(widget_id)
        self._mark_stale(widget_id)

    def on_select_changed(self, event: Select.Changed) -> None:
        widget_id = event.select.id or ""
        self._clear_save_error(widget_id)
        if widget_id == "f-zone-pick" and event.value is not Select.NULL:
            self.query_one("#f-timezone", Input).value = str(event.value)
        elif widget_id == "f-risk":
            self._risk_changed(str(event.value))
        elif widget_id == "f-job":
            self._apply_visibility()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        widget_id = event.radio_set.id or ""
        self._clear_save_error(widget_id)
        self._apply_visibility()
        self._mark_stale(widget_id)

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        widget_id = event.selection_list.id or ""
        self._clear_save_error(widget_id)
        if widget_id == "f-instances":
            visible = {event.selection_list.get_option_at_index(i).value
                       for i in range(event.selection_list.option_count)}
            selected = set(event.selection_list.selected)
            kept = [n for n in self._chosen_instances if n not in visible or n in selected]
            self._chosen_instances = kept + [n for n in event.selection_list.selected if n not in kept]
        if widget_id in ("f-instances", "f-groups"):
            self._clear_save_error("f-instances")
        self._mark_stale(widget_id)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Leaving a field applies its change at once (the instance picker must show the filter before it is
        used); a list that gets the focus highlights its first option, so space works at once."""
        if self._stale:
            self.flush_previews()
        widget = event.widget
        if isinstance(widget, SelectionList) and widget.highlighted is None and widget.option_count:
            widget.highlighted = 0

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._clear_save_error(event.checkbox.id)
        if event.checkbox.id == "f-review" and event.value != self._review_auto:
            self._review_touched = True

    # ------------------------------------------------------------------ saving and leaving

    def show_errors(self, errors: Sequence[FieldError]) -> None:
        """Put every error next to its field, summarise them on top, and move to the first one."""
        previous = set(self._save_errors)
        self._save_errors = {}
        unplaced: list[str] = []
        for error in errors:
            widget_id, prefix = locate_error(error.field, FIELD_WIDGETS)
            if widget_id is None:
                unplaced.append(f"{prefix}{error.rule}")
                continue
            self._save_errors.setdefault(widget_id, []).append(f"{prefix}{error.rule}")
        for widget_id in previous | set(self._save_errors):
            self._show_field(widget_id)
        summary = self.query_one("#form-summary", Static)
        count = len(errors)
        text = f"Not saved: {count} problem{'s' if count != 1 else ''} to fix (shown next to each field)."
        if unplaced:
            text += "\n" + "\n".join(unplaced)
        summary.update(text)
        summary.set_class(True, "-error")
        first = next((w for w in FIELD_WIDGETS.values() if w in self._save_errors), None)
        if first is not None:
            widget = self.query_one(f"#{first}")
            widget.focus()
            self.query_one("#form-body", VerticalScroll).scroll_to_widget(self.query_one(f"#row-{first}"))

    def action_save(self) -> None:
        if self.refuse_if_read_only():
            return
        self.flush_previews()
        self.save()

    @work(exclusive=True, exit_on_error=False, group="task-form-save",
          description="task form: validate the whole form, then create or update the task")
    async def save(self) -> None:
        data = self.form_dict()
        try:
            await self.engine.validate_task(data, task_id=self.task_id)
            if self.task_id:
                task = await self.engine.update_task(self.task_id, data)
            else:
                task = await self.engine.create_task(data)
        except ValidationError as exc:
            self.show_errors(exc.errors)
            return
        except PatchwatchError as exc:
            self.notify(str(exc), severity="error", title="Not saved")
            return
        self._snapshot = self.form_dict()
        self.notify(f"Task {task.name} saved ({task.id}); next: {task.schedule.describe()}.", title="Saved")
        self.dismiss(task.id)

    def action_cancel(self) -> None:
        if not self.has_unsaved_changes():
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(ConfirmDialog("Discard the changes to this task? Nothing has been saved.",
                                           yes="Discard", no="Keep editing"), answered)

    def action_section(self, step: int) -> None:
        """Jump to the first field of the next (or previous) section."""
        sections = [self.query_one(f"#{s}") for s in SECTIONS]
        focused = self.focused
        current = next((i for i, s in enumerate(sections) if focused is not None and focused in s.walk_children()),
                       -1)
        target = sections[max(0, min(len(sections) - 1, current + step))]
        inside = set(target.walk_children())
        first = next((w for w in self.focus_chain if w in inside), None)
        if first is not None:
            first.focus()
        self.query_one("#form-body", VerticalScroll).scroll_to_widget(target, top=True, animate=False)

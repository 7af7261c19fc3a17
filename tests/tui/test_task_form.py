"""The task form: the seed task entirely by keyboard, live schedule feedback, errors next to their fields,
nothing saved while anything is invalid, and no silent loss of typed changes."""

from __future__ import annotations

from typing import Any

from support import fleet, task_input

from console.domain.cron import parse_cron
from console.domain.timezones import parse_zone
from console.errors import FieldError
from console.tui.app import PatchwatchApp
from console.tui.screens.task_form import FIELD_WIDGETS, TaskFormScreen
from console.tui.screens.tasks import TasksScreen
from console.tui.widgets.form_dialogs import ConfirmDialog
from console.tui.widgets.form_fields import locate_error, split_batches


def text_of(app: PatchwatchApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*text)


async def replace_text(pilot: Any, text: str) -> None:
    """Clear the focused input (Home, then ctrl+k) and type ``text``."""
    await pilot.press("home", "ctrl+k")
    await type_text(pilot, text)


async def previews_settled(pilot: Any, ui: Any, form: TaskFormScreen) -> None:
    """Let the previews catch up: they are recomputed once typing pauses, not on every keystroke."""
    await ui.wait_for(pilot, lambda: not form.previews_pending, what="the previews to catch up")


async def open_new_form(pilot: Any, ui: Any) -> TaskFormScreen:
    app = pilot.app
    await ui.command(pilot, "tasks")
    await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks screen")
    await pilot.pause(0.06)  # screen switches pause 50 ms in Textual 8
    await pilot.press("n")
    screen = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, TaskFormScreen) else None,
                            what="task form")
    await pilot.pause(0.06)
    await ui.wait_for(pilot, lambda: screen._snapshot is not None, what="form ready")
    return screen


async def test_seed_task_created_entirely_by_keyboard(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_new_form(pilot, ui)

        # 1 basic: the name field has the focus when the form opens.
        assert app.focused.id == "f-name"
        await type_text(pilot, "ScheduledscanOSpatches")
        await ui.focus(pilot, "f-risk")
        await pilot.press("enter")  # open the list: Low is highlighted (current value)
        await pilot.pause()
        await pilot.press("enter")
        assert form.query_one("#f-risk").value == "low"

        # 2 schedule
        await ui.focus(pilot, "f-timezone")
        await replace_text(pilot, "GMT+08:00")
        await ui.focus(pilot, "f-schedule-type")
        assert form.form_dict()["schedule"]["type"] == "periodic"
        await ui.focus(pilot, "f-cron")
        await type_text(pilot, "0 15 3 5 * ?")
        await previews_settled(pilot, ui, form)
        preview = text_of(app, "#schedule-preview")
        assert "at 03:15:00 on day 5 of every month" in preview
        zone = parse_zone("GMT+08:00")
        first = parse_cron("0 15 3 5 * ?").next_fires(zone, engine.clock.now(), 1)[0]
        assert f"1. {first:%a %Y-%m-%d %H:%M:%S} GMT+08:00" in preview
        assert "2026-12-05 03:15:00" in preview
        assert not form.query_one("#err-f-cron").display

        # 3 job: Scan_OS_Patch is the public job.
        await ui.focus(pilot, "f-job")
        assert form.query_one("#f-job").value == "Scan_OS_Patch"

        # 4 targets: the group "all", automatic batches.
        await ui.focus(pilot, "f-groups")
        await pilot.press("space")
        await ui.focus(pilot, "f-batch-mode")
        assert form.form_dict()["targets"] == {"instances": [], "groups": ["all"], "batch": {"mode": "automatic"}}
        assert "Batch plan today" in text_of(app, "#batch-preview")

        # 5 review: off (low risk).
        await ui.focus(pilot, "f-review")
        assert form.query_one("#f-review").value is False

        # 6 notifications: on, execution failed, scenario patch-duty, role on-duty, email.
        await ui.focus(pilot, "f-notify")
        await pilot.press("space")
        await ui.focus(pilot, "f-policies")
        assert list(form.query_one("#f-policies").selected) == ["execution_failed"]
        await ui.focus(pilot, "f-scenario")
        await type_text(pilot, "patch-duty")
        await ui.focus(pilot, "f-roles")
        await type_text(pilot, "on-duty")
        await ui.focus(pilot, "f-modes")
        assert list(form.query_one("#f-modes").selected) == ["email"]

        await pilot.press("ctrl+s")
        await ui.wait_for(pilot, lambda: engine.task_snapshot(), what="the task to be saved")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="back on the tasks screen")

    [task] = await engine.list_tasks()
    assert task.name == "ScheduledscanOSpatches"
    assert task.risk.value == "low"
    assert task.schedule.timezone == "GMT+08:00"
    assert task.schedule.type.value == "periodic" and task.schedule.cron == "0 15 3 5 * ?"
    assert task.job.name == "Scan_OS_Patch"
    assert task.targets.groups == ("all",) and task.targets.batch.mode.value == "automatic"
    assert task.review.required is False
    assert task.notify.enabled is True
    assert [p.value for p in task.notify.policies] == ["execution_failed"]
    assert task.notify.scenario == "patch-duty" and task.notify.roles == ("on-duty",)
    assert task.notify.modes == ("email",)
    assert [f.isoformat() for f in await engine.next_fires(task.id, 1)] == ["2026-12-05T03:15:00+08:00"]


async def test_invalid_cron_is_shown_next_to_its_field_and_nothing_is_saved(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_new_form(pilot, ui)
        await type_text(pilot, "feb-thirtieth")
        await ui.focus(pilot, "f-cron")
        await type_text(pilot, "0 0 0 30 2 ?")
        await previews_settled(pilot, ui, form)
        error = form.query_one("#err-f-cron")
        assert error.display
        assert "day-of-month" in str(error.render()) and "February" in str(error.render())
        assert "fix the schedule" in text_of(app, "#schedule-preview")

        await pilot.press("ctrl+s")
        await ui.wait_for(pilot, lambda: "Not saved" in text_of(app, "#form-summary"), what="the save to be refused")
        assert isinstance(app.screen, TaskFormScreen)
        assert await engine.list_tasks() == []
        # Every broken rule is next to its field: the cron, and the missing targets.
        assert "February" in str(form.query_one("#err-f-cron").render())
        assert "at least one instance or group" in str(form.query_one("#err-f-instances").render())
        assert form.query_one("#row-f-cron").has_class("-invalid")

        # Esc with changes asks first; "n" keeps the form, "y" discards it.
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the discard question")
        await pilot.press("n")
        await ui.wait_for(pilot, lambda: app.screen is form, what="back in the form")
        assert form.query_one("#f-name").value == "feb-thirtieth"
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the discard question")
        await pilot.press("y")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="the form to close")
    assert await engine.list_tasks() == []


async def test_esc_without_changes_leaves_at_once(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_new_form(pilot, ui)
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="the form to close")


async def test_edit_prefills_the_form_and_saves_a_change(engine, ui):
    await engine.upsert_instances(fleet(3))
    task = await engine.create_task(task_input("nightly", "0 0 3 * * ?", targets={"instances": ["host-001"],
                                                                                      "groups": []}))
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ui.command(pilot, "tasks")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks screen")
        await ui.wait_for(pilot, lambda: app.screen.table.row_count == 1, what="the task row")
        await pilot.press("e")
        form = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, TaskFormScreen) else None,
                              what="task form")
        await ui.wait_for(pilot, lambda: form._snapshot is not None, what="form ready")
        await ui.wait_for(pilot, lambda: form.query_one("#f-instances").option_count == 3, what="inventory loaded")
        assert form.query_one("#f-name").value == "nightly"
        assert form.query_one("#f-cron").value == "0 0 3 * * ?"
        assert form.query_one("#f-instances").selected == ["host-001"]
        assert "1 batch: 1 host" in text_of(app, "#batch-preview")
        assert not form.has_unsaved_changes()
        # Filter the picker, choose another instance; the hidden choice stays chosen.
        await ui.focus(pilot, "f-instance-filter")
        await type_text(pilot, "002")
        await ui.focus(pilot, "f-instances")
        await pilot.press("space")
        await ui.wait_for(pilot, lambda: form.form_dict()["targets"]["instances"] == ["host-001", "host-002"],
                       what="two instances chosen")
        assert form.has_unsaved_changes()
        await pilot.press("ctrl+s")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="saved and closed")
    saved = await engine.get_task(task.id)
    assert saved.targets.instances == ("host-001", "host-002") and saved.version == 2


async def test_list_item_errors_go_to_their_field(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_new_form(pilot, ui)
        form.show_errors([FieldError("targets.instances[1]", "'bad host;' is not a valid instance name"),
                          FieldError("job.params.concurrency", "must be between 1 and 1000, got 0"),
                          FieldError("notify", "notifications need recipients")])
        await pilot.pause()
        assert "item 2: 'bad host;'" in str(form.query_one("#err-f-instances").render())
        assert "between 1 and 1000" in str(form.query_one("#err-f-param-concurrency").render())
        assert "recipients" in str(form.query_one("#err-f-people").render())
        assert "3 problems" in text_of(app, "#form-summary")
        assert app.focused.id == "f-param-concurrency"  # the first broken field in form order


async def test_high_risk_turns_review_on_and_simple_schedule_previews(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_new_form(pilot, ui)
        await ui.focus(pilot, "f-risk")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "down", "enter")
        await ui.wait_for(pilot, lambda: form.query_one("#f-review").value is True, what="review on for high risk")
        await ui.focus(pilot, "f-cron-mode")
        await pilot.press("down", "enter")
        await ui.wait_for(pilot, lambda: form.query_one("#simple-box").display, what="the simple form")
        await ui.focus(pilot, "f-weekdays")
        await pilot.press("space")  # Monday
        await ui.focus(pilot, "f-simple-time")
        await type_text(pilot, "02:30")
        await previews_settled(pilot, ui, form)
        assert "at 02:30:00 on Monday" in text_of(app, "#schedule-preview")
        assert form.form_dict()["schedule"]["simple"] == {"weekdays": ["MON"], "time": "02:30"}
        # A zone with DST: the note appears when a fire falls in a changed hour.
        await ui.focus(pilot, "f-timezone")
        await replace_text(pilot, "America/New_York")
        await ui.focus(pilot, "f-cron-mode")
        await pilot.press("up", "enter")
        await ui.focus(pilot, "f-cron")
        await type_text(pilot, "0 30 2 * * ?")
        await previews_settled(pilot, ui, form)
        notes = form.query_one("#dst-notes")
        assert notes.display and "spring forward" in str(notes.render())


def test_locate_error_maps_dotted_paths_to_widgets():
    assert locate_error("targets.instances[1]", FIELD_WIDGETS) == ("f-instances", "item 2: ")
    assert locate_error("schedule.cron.day-of-month", FIELD_WIDGETS) == ("f-cron", "day-of-month: ")
    assert locate_error("schedule.simple.weekdays", FIELD_WIDGETS) == ("f-weekdays", "")
    assert locate_error("targets.batch.batches[0]", FIELD_WIDGETS) == ("f-batches", "item 1: ")
    assert locate_error("name", FIELD_WIDGETS) == ("f-name", "")
    assert locate_error("mystery.field", FIELD_WIDGETS) == (None, "mystery.field: ")
    assert split_batches("web-1; web-2, web-3 ;") == [["web-1"], ["web-2", "web-3"]]

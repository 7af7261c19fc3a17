"""The console as a whole: the command line, help generated from the bindings, the tasks screen's keys, the
palette, read-only mode, worker errors, and rendering at 80x24 without exceptions."""

from __future__ import annotations

import os

from support import fleet, task_input
from textual.widgets import DataTable

from console.tui.app import PatchwatchApp, open_console_engine, read_only_reason_for
from console.tui.screens.help import HelpScreen
from console.tui.screens.home import HomeScreen
from console.tui.screens.task_form import TaskFormScreen
from console.tui.screens.tasks import TasksScreen
from console.tui.widgets.command_line import CONSOLE_COMMANDS, CommandLineScreen, resolve_command
from console.tui.widgets.form_dialogs import ConfirmDialog


async def test_command_line_switches_screens(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("colon")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, CommandLineScreen), what="the command line")
        await pilot.press(*"tasks", "enter")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks")
        # Aliases, k9s style; the dashboard stays at the bottom of the stack.
        await ui.command(pilot, "f")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        assert len(app.screen_stack) == 1
        await ui.command(pilot, "t")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks by alias")
        await ui.command(pilot, "failures")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home again")
        # Every screen of the console opens by name and Esc brings the dashboard back.
        for name, screen_type in (("runs", "RunsScreen"), ("events", "EventsScreen"),
                                  ("inventory", "InventoryScreen"), ("oncall", "PeopleScreen"),
                                  ("notif", "NotificationsScreen")):
            await ui.command(pilot, name)
            await ui.wait_for(pilot, lambda t=screen_type: type(app.screen).__name__ == t, what=f":{name}")
            await pilot.press("escape")
            await ui.wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="Esc back home")
        # An unknown command is a message, not a crash.
        await ui.command(pilot, "teleport")
        await ui.wait_for(pilot, lambda: any("Unknown command 'teleport'" in m for m in app.messages),
                          what="the unknown-command message")
        # Esc closes the command line without doing anything.
        await pilot.press("colon")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, CommandLineScreen), what="the command line")
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: not isinstance(app.screen, CommandLineScreen), what="closed")
        await ui.command(pilot, "q")
    assert app.return_code == 0


async def test_question_mark_lists_the_keys_of_the_current_screen(engine, ui):
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ui.command(pilot, "tasks")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks")
        await pilot.pause(0.06)
        await pilot.press("question_mark")
        help_screen = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, HelpScreen) else None,
                                        what="help")
        listed = {(k.keys, k.description) for k in help_screen.keys}
        # Every binding of the screen is listed, generated from BINDINGS.
        for binding in TasksScreen.BINDINGS:
            assert any(description == binding.description for _, description in listed), binding
        assert ("n", "New") in listed and ("^d", "Delete") in listed
        assert any(k.description == "Command" and k.where == "everywhere" for k in help_screen.keys)
        table = help_screen.query_one(DataTable)
        assert table.row_count == len(help_screen.keys)
        assert ":tasks" in str(help_screen.query_one("#help-commands").render())
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="help closed")
        # On the dashboard, its own keys.
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        await pilot.press("question_mark")
        help_screen = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, HelpScreen) else None,
                                        what="help")
        descriptions = {k.description for k in help_screen.keys if k.where == "this screen"}
        assert {"Acknowledge", "Silence", "Re-scan", "Logs", "Open latest run"} <= descriptions


async def test_tasks_screen_keys(engine, ui, job):
    await engine.upsert_instances(fleet(2))
    await engine.create_task(task_input("alpha", "0 0 3 * * ?"))
    await engine.create_task(task_input("bravo", "0 0 4 * * ?"))
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ui.command(pilot, "tasks")
        screen = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, TasksScreen) else None,
                                   what="tasks")
        await ui.wait_for(pilot, lambda: screen.table.row_count == 2, what="two rows")
        alpha = await engine.get_task("alpha")
        row = screen.table.get_row(alpha.id)
        # Name, state, last result, next fire, schedule, zone, risk, id.
        assert [str(c) for c in row] == ["alpha", "scheduled", "never run", "2026-11-26 03:00 UTC",
                                         "at 03:00:00 every day", "UTC", "low", alpha.id]

        # `/` filters; Esc clears the filter first.
        await pilot.press("slash", *"brav")
        await ui.wait_for(pilot, lambda: screen.table.row_count == 1, what="filtered")
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: screen.table.row_count == 2, what="filter cleared")
        assert isinstance(app.screen, TasksScreen)

        # The cursor stayed on the row it was on (bravo); move up to alpha. space toggles enabled.
        assert screen.selected_task().name == "bravo"
        await pilot.press("up")
        assert screen.selected_task().name == "alpha"
        await pilot.press("space")
        await ui.wait_for(pilot, lambda: not any(t.enabled for t in engine.task_snapshot() if t.name == "alpha"),
                          what="alpha disabled")
        assert not (await engine.get_task("alpha")).enabled
        await ui.wait_for(pilot, lambda: str(screen.table.get_row(alpha.id)[1]) == "disabled", what="row updated")
        await pilot.press("space")
        await ui.wait_for(pilot, lambda: any(t.enabled for t in engine.task_snapshot() if t.name == "alpha"),
                          what="alpha enabled")

        # r runs now; the last result follows live.
        await pilot.press("r")
        await ui.wait_for(pilot, lambda: job.executed, what="a run")
        await engine.idle()
        await ui.wait_for(pilot, lambda: str(screen.table.get_row(alpha.id)[2]).startswith("succeeded"),
                          what="last result")

        # ctrl+d asks first; n keeps the task, y deletes it.
        await pilot.press("ctrl+d")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("n")
        await ui.wait_for(pilot, lambda: app.screen is screen, what="back")
        assert len(await engine.list_tasks()) == 2
        await pilot.press("ctrl+d")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("y")
        await ui.wait_for(pilot, lambda: len(engine.task_snapshot()) == 1, what="deleted")
        await ui.wait_for(pilot, lambda: screen.table.row_count == 1, what="row removed")

        # e edits the selected task; n opens a new one.
        await pilot.press("e")
        form = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, TaskFormScreen) else None,
                                 what="edit form")
        assert form.query_one("#f-name").value == "bravo"


async def test_command_palette_offers_the_console_commands(engine, ui):
    await engine.create_task(task_input("alpha", "0 0 3 * * ?"))
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.1)
        await pilot.press(*":tasks")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks from the palette")
        await pilot.press("ctrl+p")
        await pilot.pause(0.1)
        await pilot.press(*"edit task alpha")
        await pilot.pause(0.5)
        await pilot.press("enter")
        form = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, TaskFormScreen) else None,
                                 what="the form from the palette")
        assert form.query_one("#f-name").value == "alpha"


async def test_read_only_console_says_who_owns_the_directory(engine, ui):
    ro_engine, reason = await open_console_engine(engine.data_dir)
    try:
        assert ro_engine.read_only
        # The owner here is this very process (the test's engine); its lock says nothing more to add.
        assert reason == f"read-only: the data directory is owned by process {os.getpid()}; changes are disabled"
        app = PatchwatchApp(ro_engine, read_only_reason=reason)
        async with app.run_test(size=(120, 40)) as pilot:
            banner = app.screen.query_one(".read-only-banner")
            assert banner.display and "owned by process" in str(banner.render())
            await ui.command(pilot, "tasks")
            await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks")
            await pilot.press("n")
            await pilot.pause()
            assert not isinstance(app.screen, TaskFormScreen)
            assert any("changes are disabled" in m for m in app.messages)
            # No scheduler runs in a read-only console.
            assert not [w for w in app.workers if w.group == "scheduler"]
    finally:
        await ro_engine.close()


def test_read_only_reason_names_the_pid_and_what_owns_the_directory():
    message = "data directory d is in use by process 4242 (patchwatch demo) since 2026-11-26T00:00:00+00:00"
    assert "owned by process 4242 (patchwatch demo)" in read_only_reason_for(message)
    assert "daemon" not in read_only_reason_for(message)
    assert "owned by another process" in read_only_reason_for("in use by another process")


async def test_worker_errors_are_notified_once_in_one_place(engine, ui):
    await engine.create_task(task_input("alpha", "0 0 3 * * ?"))
    app = PatchwatchApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ui.command(pilot, "tasks")
        screen = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, TasksScreen) else None,
                                   what="tasks")
        screen.run_task_now("no-such-task")
        await ui.wait_for(pilot, lambda: any("no task with id or name 'no-such-task'" in m for m in app.messages),
                          what="the error notification")
        assert any(m.startswith("Failed: run a task now") for m in app.messages)


async def test_scheduler_runs_as_a_worker_when_writable(engine, ui):
    app = PatchwatchApp(engine, duties=engine.run_scheduler)
    async with app.run_test(size=(120, 40)) as pilot:
        await ui.wait_for(pilot, lambda: engine.scheduler is not None, what="the scheduler")
        [worker] = [w for w in app.workers if w.group == "scheduler"]
        assert worker.description.startswith("scheduler")


async def test_renders_at_80x24_without_exceptions(engine, ui, job):
    job.outcomes.update({"host-000": "timeout"})
    await engine.upsert_instances(fleet(3))
    task = await engine.create_task(task_input("alpha", "0 0 3 * * ?"))
    await engine.wait_run((await engine.run_now(task.id)).id, timeout=5)
    app = PatchwatchApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        await ui.wait_for(pilot, lambda: home._loaded and home.failures.row_count == 1, what="home")
        await ui.command(pilot, "tasks")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, TasksScreen), what="tasks")
        await pilot.press("n")
        form = await ui.wait_for(pilot, lambda: app.screen if isinstance(app.screen, TaskFormScreen) else None,
                                 what="form")
        for _ in range(6):
            await pilot.press("ctrl+down")
        assert app.focused is not None and app.focused.id == "f-notify"
        await pilot.press("escape")
        await ui.wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen), what="form closed")
        await pilot.press("question_mark")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("escape")
        assert form is not None
    big = PatchwatchApp(engine)
    async with big.run_test(size=(200, 60)) as pilot:
        await ui.wait_for(pilot, lambda: big.screen.failures.row_count == 1, what="home at 200x60")


def test_every_command_resolves_by_name_and_alias():
    for command in CONSOLE_COMMANDS:
        assert resolve_command(f":{command.name}") is command
        for alias in command.aliases:
            assert resolve_command(alias.upper()) is command
    assert resolve_command(":nope") is None and resolve_command("  ") is None


async def test_a_dead_scheduler_stays_on_the_dashboard(engine, ui, monkeypatch):
    from console.scheduler.scheduler import Scheduler

    async def broken(self):
        raise RuntimeError("clock went backwards")

    monkeypatch.setattr(Scheduler, "run_forever", broken)
    app = PatchwatchApp(engine, duties=engine.run_scheduler)
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.screen.query_one("#home-status")
        await ui.wait_for(pilot, lambda: "SCHEDULER STOPPED" in str(status.render()), what="the scheduler alarm")
        assert "clock went backwards" in str(status.render())
        assert any(m.startswith("Failed: scheduler") for m in app.messages)

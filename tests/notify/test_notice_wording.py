"""What a notice says, read by an operator (issue 13): a logs command that works as pasted, a time that says
each thing once, and no claim about how the run started that the notice cannot know."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

from support import NoIoJob, fleet, task_input

from console.clock import SystemClock
from console.domain.run import RunState
from console.engine import Engine
from console.notify.channels import write_channels_file
from console.notify.notice import FailedHost, Notice, NoticeKind
from console.notify.render import format_time, render_email, render_markdown, render_plain
from console.sim.sinks import MailSink

PEOPLE = Path(__file__).parent / "fixtures" / "people.toml"


def notice(kind: NoticeKind = NoticeKind.EXECUTION_FAILED) -> Notice:
    return Notice(kind=kind, task_name="ScheduledscanOSpatches", task_id="ST1", at="2026-12-04T19:15:00+00:00",
                  timezone="GMT+08:00", run_id="RN1", run_state="failed", failed=1, total=40,
                  categories={"network": 1}, first_failed=(FailedHost("web-01", "network", "connection refused"),),
                  logs_command="patchwatch logs RN1")


def test_a_time_in_utc_is_said_once():
    utc_task = replace(notice(), timezone="UTC", at="2026-12-02T17:56:37+00:00")
    assert format_time(utc_task) == "2026-12-02 17:56:37 UTC"
    _, text = render_plain(utc_task)
    assert "17:56:37 UTC (" not in text
    # Another zone still shows both.
    assert format_time(notice()) == "2026-12-05 03:15:00 GMT+08:00 (2026-12-04 19:15:00 UTC)"


def test_no_notice_calls_the_run_scheduled():
    """A notice does not know whether the run was scheduled, manual or a re-scan: it says none of them."""
    for kind in NoticeKind:
        n = notice(kind)
        texts = [*render_plain(n), *render_email(n), *render_markdown(n)]
        assert not any("scheduled patch scan" in t.lower() for t in texts), kind


async def test_the_logs_command_in_a_notice_works_pasted_from_elsewhere(tmp_path: Path):
    async with MailSink() as mail:
        channels = write_channels_file(tmp_path / "channels.toml", f'[email]\nurl = "{mail.url()}"\n')
        engine = Engine(tmp_path / "data", clock=SystemClock(), channels_path=channels,
                        jobs={"Scan_OS_Patch": NoIoJob(outcomes={"host-001": "network"})},
                        notify_options={"coalesce": 0.05})
        await engine.open()
        try:
            await engine.import_people(PEOPLE.read_text())
            await engine.upsert_instances(fleet(3, "all"))
            task = await engine.create_task(task_input("pasted", "0 15 3 5 * ?", notify={
                "enabled": True, "policies": ["execution_failed"], "scenario": "patch-duty", "roles": ["on-duty"],
                "modes": ["email"]}))
            run = await engine.wait_run((await engine.run_now(task.id)).id, timeout=20)
            assert run.state is RunState.FAILED
            messages = await mail.wait_for(1)
        finally:
            await engine.close()
    text = messages[0].part("text/plain") or ""
    lines = text.splitlines()
    command = lines[lines.index("Open the logs:") + 1].strip()
    assert "--data-dir" in command and str((tmp_path / "data").absolute()) in command, command
    env = {k: v for k, v in os.environ.items() if k != "PATCHWATCH_DATA"}
    shown = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, cwd="/", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "host.finished" in shown.stdout and run.id in shown.stdout

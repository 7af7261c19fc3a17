"""#15: whatever a scanned host prints reaches no terminal raw: a hostile simulated host scanned for real,
then every CLI output and the console checked for escapes, OSC sequences, bidi overrides and live markup."""

from __future__ import annotations

import json

import pytest

from console.sim.hostile import HOSTILE, is_raw
from hostile.fleet_thread import ThreadFleet, patchwatch, setup_data

TASK = ('name = "hostile-scan"\n[schedule]\ncron = "0 0 3 * * ?"\n'
        '[job.params]\nconnect_timeout = 5\ncommand_timeout = 10\n'
        '[targets]\ngroups = ["all"]\nbatch = { mode = "none" }\n')


def test_is_raw_can_fail():
    assert is_raw(HOSTILE) and is_raw("[bold red]ALERT") and not is_raw("\\x1b]0;x \\[bold red]ALERT")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    with ThreadFleet(base / "fleet", 3, hostile=1, seed=1, distros=["debian-12"]) as sim:
        assert sim.fleet is not None and sim.files is not None
        data = base / "data"
        setup_data(data, sim.files, sim.fleet.user, TASK)
        waited = patchwatch("run", "hostile-scan", "--wait", data=data)
        yield data, waited, next(iter(sim.fleet.hostile))


def test_every_cli_output_neutralises_what_the_host_printed(scanned):
    data, waited, hostile = scanned
    assert waited.returncode == 0, waited.stdout + waited.stderr
    run_id = waited.stdout.split()[1]
    outputs = {
        "run --wait": waited.stdout,
        "hosts": patchwatch("hosts", run_id, data=data).stdout,
        "hosts --json": patchwatch("hosts", run_id, "--json", data=data).stdout,
        "events": patchwatch("events", data=data).stdout,
        "events --json": patchwatch("events", "--json", data=data).stdout,
        "logs": patchwatch("logs", run_id, hostile, data=data).stdout,
    }
    for name, text in outputs.items():
        # Plain stdout is not rendered as Rich markup by anything: controls are what a terminal obeys there.
        assert not is_raw(text, markup=False), f"{name} printed the host's text raw"
    # Neutralised, not lost: the operator can still see that the host sent escapes (the table may cut the
    # OS column at 80 columns, after the escape).
    assert "\\x1b]0;pw" in outputs["hosts"]
    assert "pwned-title" in outputs["logs"]
    row = next(json.loads(line) for line in outputs["hosts --json"].splitlines() if json.loads(line)["host"] == hostile)
    assert "\\x1b" in row["os"] and "\\u202e" in row["os"]


async def test_the_console_shows_the_hostile_host_neutralised(scanned):
    from screen_host import Host, wait_for

    from console.engine import Engine
    from console.tui.screens.run_detail import RunDetailScreen

    data, waited, hostile = scanned
    run_id = waited.stdout.split()[1]
    engine = Engine(data, read_only=True, notify=False)
    await engine.open()
    try:
        app = Host(lambda: RunDetailScreen(engine, run_id, host=hostile))
        async with app.run_test(size=(200, 50)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: "Hostile" in screen.log_view.text(), timeout=10)
            cells = [c for row in range(screen.hosts_table.row_count) for c in screen.hosts_table.get_row_at(row)]
            table_text = " ".join(str(c) for c in cells)
            log_text = screen.log_view.text()
            svg = app.export_screenshot()
    finally:
        await engine.close()
    assert "Hostile" in table_text and not is_raw(table_text, markup=False), table_text
    # A str cell is markup to a DataTable; the host's text must arrive as Text, shown literally.
    assert not [c for c in cells if isinstance(c, str) and "ALERT" in c]
    # The log view draws segments, never markup: controls are the threat there (ANSI stripped, the rest escaped).
    assert not is_raw(log_text, markup=False)
    assert "\\u202e" in log_text
    assert "\x1b" not in svg and "\u202e" not in svg and "\x9b" not in svg


def test_the_data_directory_and_everything_in_it_is_the_owners_only(scanned):
    """Transcripts, known_hosts, the lock file, the store: nobody but the owner may read them."""
    import os
    import stat

    data = scanned[0]
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    loose = []
    for root, dirs, names in os.walk(data):
        for name in dirs + names:
            path = os.path.join(root, name)
            if stat.S_IMODE(os.lstat(path).st_mode) & 0o077:
                loose.append((path, oct(stat.S_IMODE(os.lstat(path).st_mode))))
    assert not loose
    assert any(p.suffix == ".log" for p in data.rglob("*.log")), "the scan wrote transcripts"

"""Console paint times: the dashboard and the log view against bare Textual widgets, in one run.

    python bench/tui_paint.py [--failures 2000] [--tasks 20] [--lines 100000] [--runs 5] [--steps 100]
                              [--size 120x40]

Everything runs headless (``App.run_test``). Each measurement runs in a fresh Python process of its own (ours
and the references alike; the cases take turns), because one case changes the next one's figures in a shared
process: after a ``Log`` of 100,000 lines was freed, indexing the same file got five times slower. In each
process the modules are imported and one empty app is run before the clock starts, so Textual's one-off
start-up costs are paid by nobody. Figures are the median and the best of ``--runs`` repetitions, in ms.

What "first paint" means here: the wall time from the start of the action (entering ``run_test`` for a
screen; the call that hands over the content for a log) until the first frame that SHOWS the content has been
composed: the content is in the widget, and a callback scheduled with ``call_after_refresh`` after that
(it runs once the message queue is drained and the screen was refreshed) has run. Headless, Textual's
compositor still renders every visible line into strips; only the last step, turning strips into terminal
escape codes and writing them, is skipped (on both sides alike). Conditions are polled every 2 ms.

(a) Dashboard. A data directory with ``--tasks`` tasks and ``--failures`` failed hosts (20 runs of a planted
    job that touches no host; the other hosts of each run succeed, so the trace also holds their events).
    Ours: ``PatchwatchApp`` on an engine just opened on that directory (a console start), until the failures
    table holds every failure and is painted; this includes the dashboard's backfill from the store (its main
    queries are timed alone on their own line). "app ready" is when ``run_test`` hands over the pilot (the
    dashboard is composed and mounted; its data may still be loading). Reference: a bare ``App`` with one
    ``DataTable`` filled with the same rows (same 8 columns, plain strings) in ``on_mount``: the floor for
    painting that table.
(b) A transcript of ``--lines`` lines (about 80 characters each, written to a file). Ours: ``LogView`` already
    mounted, then ``load_file(path)`` (what the run detail does for a big transcript: an offset index, lines
    read when shown) and ``set_text(text)`` (a text already in memory). Reference: Textual's ``Log`` with
    ``write_lines(lines)`` of the same lines already in memory, and with reading and splitting the file first.
    Both follow the end, so the painted frame is the last page.
(c) Scroll: from the top, ``--steps`` jumps of one page (``scroll_to(y, animate=False)``), each until painted;
    the time per step. Textual paints at most once per frame (60 frames a second by default), so about 17 ms
    per step is the floor for any widget. Rows rendered by ``LogView`` are counted to show that only the
    visible rows are drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import constants  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable, Log  # noqa: E402

from console.domain.run import HostResult, HostStatus  # noqa: E402
from console.engine import Engine  # noqa: E402
from console.jobs import JobContext, Target  # noqa: E402
from console.tui.app import PatchwatchApp  # noqa: E402
from console.tui.screens.home import BACKFILL_RUNS, HomeScreen  # noqa: E402
from console.tui.widgets.home_failures import COLUMNS, failures_of_alarm  # noqa: E402
from console.tui.widgets.log_view import LogView  # noqa: E402

CATEGORIES = ("network", "timeout", "permission", "host_key", "tool", "service")
RUNS_OF_FAILURES = 20
POLL = 0.002

Result = dict[str, Any]


# ---------------------------------------------------------------------------------------------- helpers


async def painted(app: App[Any]) -> None:
    """Return once the frame with the current content has been refreshed."""
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


async def until(condition: Callable[[], Any], timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(POLL)


async def warm_up(size: tuple[int, int]) -> None:
    """One empty app first: Textual's one-off start-up costs are not measured on either side."""
    app: App[None] = App()
    async with app.run_test(size=size):
        await painted(app)
    gc.collect()


class PlantedJob:
    """A ``Scan_OS_Patch`` stand-in that touches no host: the listed hosts fail with a category, others pass."""

    name = "Scan_OS_Patch"

    def __init__(self, failing: dict[str, str]) -> None:
        self.failing = failing

    async def execute(self, ctx: JobContext) -> None:
        targets = list(ctx.targets)
        await ctx.batch_started(1, 1, [t.name for t in targets])
        for target in targets:
            now = ctx.clock.now().isoformat()
            category = self.failing.get(target.name)
            status = HostStatus.FAILED if category else HostStatus.OK
            await ctx.host_finished(HostResult(
                run_id=ctx.run.id, task_id=ctx.task.id, host=target.name, status=status, address=target.address,
                category=category, reason=f"planted {category} failure" if category else None, batch=1,
                started_at=now, finished_at=now))


# ---------------------------------------------------------------------------------------------- (a) dashboard


async def build_data_dir(data_dir: Path, failures: int, tasks: int) -> None:
    per_run = -(-failures // RUNS_OF_FAILURES)
    hosts = max(per_run * 5 // 2, per_run + 1)
    failing = {f"host-{i:04d}": CATEGORIES[i % len(CATEGORIES)] for i in range(per_run)}
    job = PlantedJob(failing)
    engine = Engine(data_dir, jobs={"Scan_OS_Patch": job}, notify=False)
    await engine.open()
    try:
        await engine.upsert_instances([Target(name=f"host-{i:04d}", address="127.0.0.1", port=22,
                                              groups=("fleet",)) for i in range(hosts)], actor="bench")
        made = []
        for i in range(tasks):
            made.append(await engine.create_task({
                "name": f"scan-{i:02d}", "schedule": {"timezone": "UTC", "cron": f"0 {i} {i % 24} * * ?"},
                "job": {"name": "Scan_OS_Patch"}, "targets": {"groups": ["fleet"]}}, actor="bench"))
        left = failures
        for i in range(RUNS_OF_FAILURES):
            if left <= 0:
                break
            job.failing = dict(list(failing.items())[:min(per_run, left)])
            run = await engine.run_now(made[i % len(made)].id, actor="bench")
            await engine.wait_run(run.id, timeout=300)
            left -= len(job.failing)
        await engine.idle()
    finally:
        await engine.close()


class ReferenceTable(App[None]):
    """The floor: one DataTable with the same rows, filled in ``on_mount``."""

    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*(label for _, label in COLUMNS))
        table.add_rows(self.rows)


async def failure_rows(engine: Engine) -> list[tuple[str, ...]]:
    """The failures table's rows as plain strings (the reference's content): the failing hosts of open alarms."""
    silences = await engine.list_silences()
    now = engine.clock.now()
    found = [f for alarm in await engine.list_alarms(limit=10_000) for f in failures_of_alarm(alarm, silences, now)]
    return [(f.at.astimezone().strftime("%m-%d %H:%M:%S"), f.task_name, f.run_id, f.host, f.category, f.reason,
             "-", f.acked or "no") for f in found]


async def measure_dashboard(data_dir: Path, size: tuple[int, int]) -> Result:
    await warm_up(size)
    t0 = time.perf_counter()
    engine = Engine(data_dir, notify=False)
    await engine.open()
    opened = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        await engine.list_alarms(limit=10_000)
        await engine.list_silences()
        await engine.list_runs(limit=BACKFILL_RUNS)
        queries = time.perf_counter() - t0
        expected = len(await failure_rows(engine))
        tasks = len(await engine.list_tasks())
        app = PatchwatchApp(engine)
        gc.collect()
        t0 = time.perf_counter()
        async with app.run_test(size=size):
            ready = time.perf_counter() - t0
            home = app.screen
            assert isinstance(home, HomeScreen)
            await until(lambda: home._loaded and home.failures.row_count >= expected)
            await painted(app)
            seconds = time.perf_counter() - t0
    finally:
        await engine.close()
    return {"seconds": seconds, "ready": ready, "opened": opened, "queries": queries, "rows": expected,
            "tasks": tasks}


async def measure_dashboard_reference(data_dir: Path, size: tuple[int, int]) -> Result:
    await warm_up(size)
    engine = Engine(data_dir, read_only=True, notify=False)
    await engine.open()
    try:
        rows = await failure_rows(engine)
    finally:
        await engine.close()
    app = ReferenceTable(rows)
    gc.collect()
    t0 = time.perf_counter()
    async with app.run_test(size=size):
        await until(lambda: app.query_one(DataTable).row_count == len(rows))
        await painted(app)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": len(rows)}


# ---------------------------------------------------------------------------------------------- (b), (c) logs


def transcript_lines(count: int) -> list[str]:
    return [f"2026-11-26T03:15:{i % 60:02d}Z pkg-{i:06d}/stable-security {i % 9}.{i % 97}.{i % 13}-1 "
            f"amd64 [upgradable from: {i % 9}.{i % 97}.{i % 13}-0]" for i in range(count)]


class LogHost(App[None]):
    """A bare app around the one widget measured (id ``subject``)."""

    def __init__(self, widget: LogView | Log) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


#: (b) cases: name -> (label, widget class). What each hands over is in ``measure_log``.
LOG_CASES: dict[str, tuple[str, type[LogView] | type[Log]]] = {
    "view-file": ("ours: LogView.load_file(path)", LogView),
    "view-text": ("ours: LogView.set_text(text)", LogView),
    "log-lines": ("reference: Log.write_lines(lines)", Log),
    "log-file": ("reference: read + split + Log.write_lines", Log),
}
SCROLL_CASES: dict[str, tuple[str, type[LogView] | type[Log]]] = {
    "view-file": ("ours: LogView (from the file)", LogView),
    "log-lines": ("reference: Log", Log),
}


def _hand_over(case: str, widget: LogView | Log, path: Path, text: str, lines: list[str]) -> None:
    if case == "view-file":
        assert isinstance(widget, LogView)
        widget.load_file(path)
    elif case == "view-text":
        assert isinstance(widget, LogView)
        widget.set_text(text)
    elif case == "log-lines":
        assert isinstance(widget, Log)
        widget.write_lines(lines)
    else:
        assert isinstance(widget, Log)
        widget.write_lines(path.read_text(encoding="utf-8").splitlines())


async def measure_log(case: str, path: Path, size: tuple[int, int]) -> Result:
    await warm_up(size)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    widget = LOG_CASES[case][1](id="subject")
    app = LogHost(widget)
    async with app.run_test(size=size):
        await painted(app)
        gc.collect()
        t0 = time.perf_counter()
        _hand_over(case, widget, path, text, lines)
        await until(lambda: widget.line_count >= len(lines))
        await painted(app)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "lines": len(lines), "megabytes": path.stat().st_size / 1e6}


async def measure_scroll(case: str, path: Path, size: tuple[int, int], steps: int) -> Result:
    await warm_up(size)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    widget = SCROLL_CASES[case][1](id="subject")
    app = LogHost(widget)
    per_step: list[float] = []
    async with app.run_test(size=size):
        _hand_over(case, widget, path, text, lines)
        await until(lambda: widget.line_count >= len(lines))
        body = widget.lines if isinstance(widget, LogView) else widget
        body.scroll_to(y=0, animate=False, force=True)
        await painted(app)
        rendered_before = getattr(body, "render_calls", 0)
        page = body.scrollable_content_region.height
        gc.collect()
        for step in range(1, steps + 1):
            t0 = time.perf_counter()
            body.scroll_to(y=step * page, animate=False, force=True)
            await painted(app)
            per_step.append(time.perf_counter() - t0)
        rendered = getattr(body, "render_calls", 0) - rendered_before
    return {"per_step": per_step, "rendered": rendered}


# ---------------------------------------------------------------------------------------------- parent


def child(args: list[str]) -> Result:
    """One measurement in a fresh process; its result is the last line it prints (JSON)."""
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"measurement {args} failed:\n{done.stderr[-3000:]}")
    result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:>9.1f}{min(values) * 1000:>9.1f}"


def row(label: str, values: list[float], note: str = "") -> str:
    return f"  {label:<52}{ms(values)}  {note}".rstrip()


def ratio(ours: list[float], reference: list[float]) -> float:
    return statistics.median(ours) / statistics.median(reference)


def report_dashboard(data_dir: Path, runs: int, size_text: str) -> list[str]:
    ours: list[Result] = []
    reference: list[Result] = []
    for _ in range(runs):
        ours.append(child(["dashboard", str(data_dir), size_text]))
        reference.append(child(["dashboard-reference", str(data_dir), size_text]))
    seconds = [r["seconds"] for r in ours]
    floor = [r["seconds"] for r in reference]
    return [
        f"(a) dashboard, {ours[0]['rows']:,} failed hosts, {ours[0]['tasks']} tasks, {size_text}",
        row("ours: PatchwatchApp, failures table painted", seconds),
        row("reference: bare App + DataTable of the same rows", floor,
            f"ours/reference {ratio(seconds, floor):.1f}x"),
        row("  of ours: app ready (dashboard composed)", [r["ready"] for r in ours]),
        row("  in ours: the backfill's main store queries", [r["queries"] for r in ours]),
        row("  not counted: engine open (console start)", [r["opened"] for r in ours]),
    ]


def report_logs(path: Path, runs: int, steps: int, size_text: str) -> list[str]:
    times: dict[str, list[float]] = {case: [] for case in LOG_CASES}
    first: Result = {}
    for _ in range(runs):
        for case in LOG_CASES:
            result = child(["log", case, str(path), size_text])
            first = first or result
            times[case].append(result["seconds"])
    out = [f"(b) open a transcript of {first['lines']:,} lines ({first['megabytes']:.1f} MB), painted at its end, "
           f"{size_text}"]
    for case, (label, _) in LOG_CASES.items():
        note = (f"{ratio(times[case], times['log-lines']):.1f}x the in-memory reference"
                if label.startswith("ours") else "")
        out.append(row(label, times[case], note))
    out.append(f"(c) scroll {steps} pages from the top, each until painted: per step "
               f"(Textual repaints at most {constants.MAX_FPS} times a second)")
    for case, (label, _) in SCROLL_CASES.items():
        per_step: list[float] = []
        rendered = 0
        for _ in range(runs):
            result = child(["scroll", case, str(path), size_text, str(steps)])
            per_step.extend(result["per_step"])
            rendered = result["rendered"]
        p95 = sorted(per_step)[int(0.95 * (len(per_step) - 1))] * 1000
        note = f"p95 {p95:.1f} ms" + (f"; {rendered:,} rows rendered for {steps} pages" if "LogView" in label
                                      else "")
        out.append(row(label, per_step, note))
    return out


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(part) for part in text.lower().split("x"))
    return width, height


def run_child(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "dashboard":
        result = asyncio.run(measure_dashboard(Path(rest[0]), parse_size(rest[1])))
    elif kind == "dashboard-reference":
        result = asyncio.run(measure_dashboard_reference(Path(rest[0]), parse_size(rest[1])))
    elif kind == "log":
        result = asyncio.run(measure_log(rest[0], Path(rest[1]), parse_size(rest[2])))
    elif kind == "scroll":
        result = asyncio.run(measure_scroll(rest[0], Path(rest[1]), parse_size(rest[2]), int(rest[3])))
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        run_child(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=2000, help="failed hosts in the data directory")
    parser.add_argument("--tasks", type=int, default=20, help="tasks in the data directory")
    parser.add_argument("--lines", type=int, default=100_000, help="lines of the transcript")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of each measurement")
    parser.add_argument("--steps", type=int, default=100, help="pages scrolled in (c)")
    parser.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="patchwatch-tui-bench-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        t0 = time.perf_counter()
        asyncio.run(build_data_dir(data_dir, args.failures, args.tasks))
        path = workdir / "transcript.log"
        path.write_text("\n".join(transcript_lines(args.lines)) + "\n", encoding="utf-8")
        print(f"data directory and transcript made in {time.perf_counter() - t0:.1f} s (not counted); "
              f"{args.runs} repetitions of each, every one in a fresh process")
        print(f"  {'':<52}{'median':>9}{'best':>9}  (ms)", flush=True)
        for line in report_dashboard(data_dir, args.runs, args.size):
            print(line, flush=True)
        for line in report_logs(path, args.runs, args.steps, args.size):
            print(line, flush=True)


if __name__ == "__main__":
    main()

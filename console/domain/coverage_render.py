"""The coverage report as text, JSON lines, CSV and one self-contained printable HTML file.

Pure functions of a :class:`~console.domain.coverage.CoverageReport`: the CLI writes their output, the
console shows the text figures, the digest (next) can mail them. The HTML has no external resource (inline
CSS and SVG charts, no script), so it opens the same from an auditor's mailbox, a file share or a printer,
and it states the period, the generation time and the exact command that regenerates it.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from typing import Any

from console.domain.coverage import STATE_ORDER, CoverageReport, Figures, HostLine, TrendDay

#: CSV columns, in order (the README's CLI reference describes each).
CSV_COLUMNS = ("host", "state", "groups", "tasks", "last_attempt_at", "last_attempt_status",
               "last_attempt_category", "last_success_at", "days_since_success", "missing", "security", "reboot",
               "last_attempt_run", "last_success_run")

#: Colours of the states in charts (print-friendly, distinguishable in grey too).
STATE_COLOURS = {"compliant": "#2e7d32", "missing_security": "#f9a825", "scan_failed": "#c62828",
                 "stale": "#6d4c41", "never_scanned": "#546e7a", "untargeted": "#9e9e9e"}


def duration(seconds: float | None) -> str:
    """``3d 4h``, ``5h 12m``, ``7m``; ``-`` for none."""
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def figure_lines(f: Figures) -> list[str]:
    """The figures of one scope as a few plain lines."""
    states = "  ".join(f"{s.value}={f.states.get(s.value, 0)}" for s in STATE_ORDER)
    cats = ", ".join(f"{k}={v}" for k, v in f.episodes_by_category.items()) or "none"
    lines = [f"coverage {percent(f.coverage)} ({f.covered}/{f.hosts} hosts with a success in the period)",
             f"states: {states}",
             f"failure episodes: {f.episodes} ({f.open_episodes} open): {cats}",
             f"time to acknowledge: mean {duration(f.mean_ack_s)}, p90 {duration(f.p90_ack_s)} "
             f"({f.acknowledged} acknowledged); time to resolve: mean {duration(f.mean_resolve_s)}, "
             f"p90 {duration(f.p90_resolve_s)} ({f.resolved} resolved)"]
    if f.missed_fires is not None:
        lines.append(f"missed fires: {f.missed_fires}")
    return lines


def sparkline(trend: Sequence[TrendDay]) -> str:
    """The daily coverage as block characters (one per day)."""
    blocks = "▁▂▃▄▅▆▇█"
    return "".join(blocks[min(len(blocks) - 1, int(d.coverage * (len(blocks) - 1) + 0.5))] for d in trend)


def host_row(h: HostLine) -> list[str]:
    last = "-" if h.last_attempt_at is None else f"{h.last_attempt_at[:16]} {h.last_attempt_status}" + (
        f" ({h.last_attempt_category})" if h.last_attempt_category else "")
    return [h.host, h.state, last, (h.last_success_at or "-")[:16],
            "-" if h.days_since_success is None else str(h.days_since_success),
            "-" if h.security is None else str(h.security), "-" if h.missing is None else str(h.missing),
            "yes" if h.reboot else "-", ",".join(h.tasks) or "-"]


HOST_HEADERS = ["HOST", "STATE", "LAST ATTEMPT", "LAST SUCCESS", "DAYS", "SEC", "MISSING", "REBOOT", "TASKS"]


def text_report(report: CoverageReport, hosts: Sequence[HostLine]) -> list[str]:
    """The table format: period, fleet figures, trend, per-group and per-task coverage, then the hosts."""
    scope = "".join(f", {k} {v}" for k, v in (("group", report.group), ("task", report.task)) if v)
    out = [f"Coverage {report.since[:16]} .. {report.until[:16]} UTC{scope} (generated {report.generated_at[:19]})"]
    out += figure_lines(report.fleet)
    out.append(f"daily coverage: {sparkline(report.trend)}")
    for title, scopes in (("group", report.groups), ("task", report.tasks)):
        for name, f in scopes.items():
            out.append(f"{title} {name}: coverage {percent(f.coverage)} ({f.covered}/{f.hosts}), "
                       f"non-compliant {f.hosts - f.states.get('compliant', 0)}, episodes {f.episodes}")
    out.append("")
    rows = [host_row(h) for h in hosts]
    widths = [max([len(HOST_HEADERS[i])] + [len(r[i]) for r in rows]) for i in range(len(HOST_HEADERS))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out.append(fmt.format(*HOST_HEADERS).rstrip())
    out += [fmt.format(*r).rstrip() for r in rows]
    return out


def json_objects(report: CoverageReport, hosts: Sequence[HostLine]) -> list[dict[str, Any]]:
    """One object per line: the fleet figures (with groups, tasks and the trend) first, then one per host."""
    head: dict[str, Any] = {"kind": "fleet", "since": report.since, "until": report.until,
                            "generated_at": report.generated_at, "group": report.group, "task": report.task,
                            **report.fleet.to_dict(), "groups": {k: v.to_dict() for k, v in report.groups.items()},
                            "tasks": {k: v.to_dict() for k, v in report.tasks.items()},
                            "trend": [d.to_dict() for d in report.trend]}
    return [head] + [{"kind": "host", **h.to_dict()} for h in hosts]


def csv_text(hosts: Sequence[HostLine]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for h in hosts:
        d = h.to_dict()
        d["groups"], d["tasks"] = ";".join(h.groups), ";".join(h.tasks)
        writer.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- HTML

def _svg_trend(trend: Sequence[TrendDay], width: int = 640, height: int = 160) -> str:
    pad = 30
    n = max(1, len(trend) - 1)
    points = " ".join(f"{pad + i * (width - 2 * pad) / n:.1f},{height - pad - d.coverage * (height - 2 * pad):.1f}"
                      for i, d in enumerate(trend))
    grid = "".join(f'<line x1="{pad}" x2="{width - pad}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="2" y="{y + 4:.1f}" font-size="10">{label}</text>'
                   for label, y in (("100%", pad), ("50%", height / 2), ("0%", height - pad)))
    first = html.escape(trend[0].day) if trend else ""
    last = html.escape(trend[-1].day) if trend else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="daily coverage">{grid}'
            f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{points}"/>'
            f'<text x="{pad}" y="{height - 8}" font-size="10">{first}</text>'
            f'<text x="{width - pad}" y="{height - 8}" font-size="10" text-anchor="end">{last}</text></svg>')


def _svg_bars(items: Sequence[tuple[str, int, str]], width: int = 640) -> str:
    bar, gap, label_w = 18, 6, 150
    height = max(1, len(items)) * (bar + gap) + gap
    top = max([v for _, v, _ in items] + [1])
    rows = []
    for i, (label, value, colour) in enumerate(items):
        y = gap + i * (bar + gap)
        w = (width - label_w - 60) * value / top
        rows.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(label)}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>'
                    f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="12">{value}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            + "".join(rows) + "</svg>")


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;font-size:13px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 6px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f0f0f0;font-size:11px;word-break:break-word}
.meta{color:#555}.kpi{display:inline-block;margin-right:24px}.kpi b{font-size:18px}
code{background:#f4f4f4;padding:1px 4px}@media print{body{margin:8mm}h2{break-after:avoid}tr{break-inside:avoid}}
"""


def html_report(report: CoverageReport, hosts: Sequence[HostLine], command: str) -> str:
    """One self-contained printable HTML file (inline CSS and SVG, no script, no external resource)."""
    e = html.escape
    f = report.fleet
    scope = "".join(f" &middot; {k} <b>{e(v)}</b>" for k, v in (("group", report.group), ("task", report.task)) if v)
    kpis = [("coverage", percent(f.coverage)), ("hosts", str(f.hosts)), ("covered", str(f.covered)),
            ("failure episodes", str(f.episodes)), ("mean time to acknowledge", duration(f.mean_ack_s)),
            ("p90 time to acknowledge", duration(f.p90_ack_s)), ("mean time to resolve", duration(f.mean_resolve_s)),
            ("p90 time to resolve", duration(f.p90_resolve_s)), ("missed fires", str(f.missed_fires or 0))]
    states = [(s.value, f.states.get(s.value, 0), STATE_COLOURS[s.value]) for s in STATE_ORDER]
    cats = [(k, v, "#c62828") for k, v in f.episodes_by_category.items()]
    scope_rows = "".join(
        f"<tr><td>{kind}</td><td>{e(name)}</td><td>{percent(s.coverage)}</td><td>{s.covered}/{s.hosts}</td>"
        + "".join(f"<td>{s.states.get(st.value, 0)}</td>" for st in STATE_ORDER)
        + f"<td>{s.episodes}</td><td>{duration(s.mean_resolve_s)}</td></tr>"
        for kind, scopes in (("group", report.groups), ("task", report.tasks)) for name, s in scopes.items())
    host_rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in host_row(h)) + "</tr>" for h in hosts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Patchwatch coverage report</title><style>{_CSS}</style></head>
<body>
<h1>Patch scan coverage and compliance</h1>
<p class="meta">Period <b>{e(report.since)}</b> to <b>{e(report.until)}</b> (UTC, end excluded){scope}<br>
Generated <b>{e(report.generated_at)}</b> by Patchwatch. Regenerate with: <code>{e(command)}</code></p>
<h2>Fleet</h2>
<p>{"".join(f'<span class="kpi">{e(k)}<br><b>{e(v)}</b></span>' for k, v in kpis)}</p>
<h2>Coverage trend (hosts with a successful scan each day)</h2>
{_svg_trend(report.trend)}
<h2>Hosts per state</h2>
{_svg_bars(states)}
<h2>Failure episodes per category</h2>
{_svg_bars(cats) if cats else "<p>No failure episode started in the period.</p>"}
<h2>Groups and tasks</h2>
<table><tr><th>scope</th><th>name</th><th>coverage</th><th>covered</th>
{"".join(f"<th>{s.value}</th>" for s in STATE_ORDER)}<th>episodes</th><th>mean resolve</th></tr>{scope_rows}</table>
<h2>Hosts ({len(hosts)})</h2>
<table><tr>{"".join(f"<th>{e(h)}</th>" for h in HOST_HEADERS)}</tr>{host_rows}</table>
<p class="meta">States, first that applies: untargeted, never_scanned, scan_failed, stale, missing_security,
compliant. A failure episode is a host's consecutive failed results in one task until a success.</p>
</body></html>
"""

"""Render a :class:`~console.notify.notice.Notice` for each kind of channel: email, SMS, robot markdown, plain text.

Why this module exists
----------------------
A notice is only useful if the person on shift can act on it from the message alone (domain.md): which task
(name and ID), which run, when (in the task's zone *and* in UTC, so people in other zones and the logs agree),
what kind of failure and how many, which hosts first and why, and the command that opens the logs. Every format
here carries all of that; only SMS drops what does not fit in 160 characters, in a fixed order (below).

These are pure functions of the notice, with no channel library involved, so the outbox can render at send
time and the console can preview exactly what a channel will receive.

Untrusted data
--------------
Host names, reasons, details and category names come from scanned machines and operators; they are data, never
markup. Every piece of data is first reduced to one line (line breaks, tabs and other control or invisible
format characters become a space or vanish), so a reason can never forge extra lines in a plain message or
header lines in a subject. Then per format:

* HTML: everything from data is escaped (``<script>`` arrives as ``&lt;script&gt;``).
* Markdown (DingTalk/WeCom robots): the characters that start emphasis, code, links, HTML or tables
  (``\\ ` * _ [ ] < > | ~ & #``) are backslash-escaped. Data never starts a line, so line-start markers
  (``-``, ``+``, ``1.``) need no escape. The logs command goes in a code span only when it holds no backtick.
* SMS: GSM-friendly ASCII only (accents dropped, ``[]{}|~^\\``` replaced, anything else becomes ``?``), so a
  message costs one segment per 160 characters and no phone shows boxes.

Time format: ``2026-12-05 03:15:00 GMT+08:00 (2026-12-04 19:15:00 UTC)``. The label after the local time is
:func:`~console.domain.timezones.zone_label` (``EST``/``EDT`` for America/New_York, ``GMT+08:00`` for a fixed
offset); long formats add the IANA name when the label is only an abbreviation.

SMS budget
----------
At most :data:`SMS_MAX` characters. The full message is tried first; while it is too long, these go, in order:
the logs command, the task ID, the brand (``Patchwatch`` -> ``PW``), the UTC time, the local time, the run ID's
middle (``RN...4X9B2C5V``), the failed hosts, a detail beyond 40 characters, a task name beyond 40, categories
beyond the most frequent one (``network 9, +5 more``), a detail beyond 20, a task name beyond 30/24/16. Once it
fits, whatever still fits is given back, most important first (a shortened task name may leave room for the
brand again). Failed hosts fill the room the other parts leave, the first one with up to 60 characters of its
reason; the time goes before the first host would get fewer than 20. What stays to the end: kind, task,
failed/total, top category, run ID. A reason with nothing readable left in GSM (all Chinese, say) is sent as
``(non-Latin text, see logs)``. Text is never cut mid-word without an ellipsis.

Why one module of this length: one notice rendered for every channel's format and limits.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from console.domain.timezones import parse_zone, zone_label, zone_name
from console.errors import ValidationError
from console.notify.notice import ALARM_KINDS, Notice, NoticeKind

BRAND = "Patchwatch"
#: One GSM-7 SMS segment.
SMS_MAX = 160
#: Mail clients show about this much; a longer subject is cut at a word with an ellipsis.
SUBJECT_MAX = 200

_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------------


def one_line(value: object) -> str:
    """``value`` as one line of visible text: whitespace and line/paragraph separators become one space,
    control, format (bidi overrides, zero-width) and surrogate characters are dropped."""
    text = "" if value is None else str(value)
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace() or category in ("Zl", "Zp"):
            out.append(" ")
        elif category not in ("Cc", "Cf", "Cs"):
            out.append(ch)
    return _SPACES.sub(" ", "".join(out)).strip()


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` in at most ``limit`` characters; when cut, at a word boundary if one lies in the second half,
    and always marked with ``ellipsis``."""
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    if room <= 0:
        return ellipsis[:limit]
    cut = text[:room]
    space = cut.rfind(" ")
    if space >= room // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + ellipsis


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")


def md_escape(value: object) -> str:
    """One line of data that markdown shows literally (see the module docstring)."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(value))


def _h(value: object) -> str:
    return html.escape(one_line(value), quote=True)


#: ASCII characters outside the GSM 03.38 basic set, and what an SMS shows instead.
_GSM_REPLACE = {"[": "(", "]": ")", "{": "(", "}": ")", "\\": "/", "|": "/", "~": "-", "^": "'", "`": "'"}
_GSM_BASIC = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 @$!\"#%&'()*+,-./:;<=>?_")
_QUESTIONS = re.compile(r"\?{2,}")


def gsm_ascii(value: object) -> str:
    """One line of GSM-7 basic-set ASCII: accents dropped (é -> e), compatibility forms unfolded (… -> ...),
    awkward ASCII replaced, anything else (CJK, emoji) shown as one ``?`` per run."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", one_line(value)):
        if ch in _GSM_BASIC:
            out.append(ch)
        elif ch in _GSM_REPLACE:
            out.append(_GSM_REPLACE[ch])
        elif unicodedata.category(ch) != "Mn":  # combining accents simply go
            out.append("?")
    return _QUESTIONS.sub("?", "".join(out))


# --------------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moment:
    """The notice's instant, ready to print: ``full`` is the required ``local (UTC)`` form."""

    full: str
    local_short: str
    utc_short: str
    zone_note: str  # the IANA name when the label is an abbreviation, else ""


def _instant(at: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(at.strip())
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _moment(notice: Notice) -> _Moment:
    """Never raises: a notice with a broken time or zone must still go out, saying what it knows."""
    instant = _instant(notice.at)
    if instant is None:
        raw = one_line(notice.at) or "unknown time"
        return _Moment(raw, raw, "", "")
    utc = instant.astimezone(UTC)
    utc_full = f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    utc_short = f"{utc:%m-%d %H:%M} UTC"
    zone: tzinfo | None
    try:
        zone = parse_zone(notice.timezone)
    except ValidationError:
        zone = None
    if zone is None:
        note = f"task zone {one_line(notice.timezone)!r} unknown"
        return _Moment(f"{utc_full} ({utc_full}; {note})", f"{utc:%Y-%m-%d %H:%M} UTC", utc_short, "")
    local = utc.astimezone(zone)
    label = zone_label(zone, local)
    name = zone_name(zone)
    local_full = f"{local:%Y-%m-%d %H:%M:%S} {label}"
    # A task in UTC: the task-zone time and the UTC time are the same words; say them once.
    full = utc_full if local_full == utc_full else f"{local_full} ({utc_full})"
    return _Moment(full, f"{local:%Y-%m-%d %H:%M} {label}", utc_short, name if name != label else "")


def format_time(notice: Notice) -> str:
    """``2026-12-05 03:15:00 GMT+08:00 (2026-12-04 19:15:00 UTC)``: the notice's time in its task's zone and UTC."""
    return _moment(notice).full


# --------------------------------------------------------------------------------------------------
# Wording per kind
# --------------------------------------------------------------------------------------------------


def _categories(notice: Notice, limit: int | None = None) -> str:
    """``network 2, permission 1`` (most frequent first); beyond ``limit``: ``, +2 more``."""
    items = sorted(((one_line(k), v) for k, v in notice.categories.items() if v),
                   key=lambda kv: (-kv[1], kv[0]))
    shown = items if limit is None else items[:limit]
    text = ", ".join(f"{k} {v}" for k, v in shown)
    if len(items) > len(shown):
        text += f", +{len(items) - len(shown)} more"
    return text


def _failures(notice: Notice, cats_limit: int | None, suffix: str = "") -> str:
    cats = _categories(notice, cats_limit)
    return f"{notice.failed}/{notice.total} hosts failed{suffix}" + (f" ({cats})" if cats else "")


def _tag(notice: Notice) -> str:
    if notice.kind is NoticeKind.ESCALATION:
        return f"ESCALATION level {notice.escalation_level}"
    return {NoticeKind.EXECUTION_FAILED: "FAILED", NoticeKind.PENDING_REVIEW: "PENDING REVIEW"}.get(
        notice.kind, notice.kind.value.upper())


def _summary(notice: Notice, cats_limit: int | None = None, detail_limit: int | None = None,
             ellipsis: str = "…") -> str:
    """The one-line "what happened" after ``TAG task:``; limits shorten it for SMS."""
    detail = one_line(notice.detail)
    if detail_limit is not None:
        detail = clip(detail, detail_limit, ellipsis)
    state = one_line(notice.run_state)
    failures = _failures(notice, cats_limit)
    kind = notice.kind
    if kind is NoticeKind.EXECUTION_FAILED:
        if notice.failed:
            return failures
        return f"run {state or 'failed'}" + (f": {detail}" if detail else "")
    if kind is NoticeKind.UPDATE:
        return _failures(notice, cats_limit, " so far")
    if kind is NoticeKind.SUMMARY:
        return f"run {state or 'finished'}, {failures}"
    if kind is NoticeKind.SUCCEEDED:
        return f"all {notice.total} hosts scanned, none failed"
    if kind is NoticeKind.STARTED:
        return f"run started on {notice.total} hosts" if notice.total else "run started"
    if kind is NoticeKind.PAUSED:
        return f"run paused: {detail or 'no reason given'}" + (f"; {failures}" if notice.failed else "")
    if kind is NoticeKind.PENDING_REVIEW:
        return "run waits for approval before it touches any host" + (f": {detail}" if detail else "")
    if kind is NoticeKind.MISSED:
        return f"scheduled run did not fire: {detail or 'the scheduler could not fire it in time'}"
    if kind is NoticeKind.INTERRUPTED:
        return (f"run interrupted: {detail or 'the console stopped while it ran'}"
                + (f"; {failures}" if notice.failed else ""))
    if kind is NoticeKind.RECOVERED:
        return f"scan succeeded again on {notice.total} hosts after failures"
    if kind is NoticeKind.ESCALATION:
        what = failures if notice.failed else (detail or f"run {state or 'failed'}")
        return f"nobody acknowledged: {what}"
    if kind is NoticeKind.REMINDER:
        return f"still failing, unacknowledged: {detail or failures}"
    if kind is NoticeKind.DIGEST:
        return detail.split(" · ")[0] if detail else "coverage summary"
    return "test notification, no action needed"


def _explanation(notice: Notice) -> str:
    """A sentence or two for the long formats: what the event means and what to do first."""
    kind = notice.kind
    state = one_line(notice.run_state) or "failed"
    if kind is NoticeKind.EXECUTION_FAILED:
        if notice.failed:
            return (f"The patch scan failed on {notice.failed} of {notice.total} hosts. "
                    "Check the first failed hosts below, then open the logs.")
        return f"The run ended as {state} without a host result; the detail says why."
    if kind is NoticeKind.UPDATE:
        return "More hosts failed in a run that was already reported; the run is still going."
    if kind is NoticeKind.SUMMARY:
        return f"The run that reported failures has finished as {one_line(notice.run_state) or 'finished'}."
    if kind is NoticeKind.SUCCEEDED:
        return "The patch scan finished without failures."
    if kind is NoticeKind.STARTED:
        return "The patch scan has started."
    if kind is NoticeKind.PAUSED:
        return ("The run is paused and touches no more hosts until someone resumes or cancels it. "
                f"Reason: {one_line(notice.detail) or 'none given'}.")
    if kind is NoticeKind.PENDING_REVIEW:
        return "The run waits for a reviewer's approval; it touches no host until someone approves it."
    if kind is NoticeKind.MISSED:
        return ("The scheduler could not fire this run in time, so no scan happened for this slot. "
                f"Why: {one_line(notice.detail) or 'not recorded'}.")
    if kind is NoticeKind.INTERRUPTED:
        return ("The console stopped while this run was going; hosts it had not finished were not scanned. "
                "Start the task again once the console is back.")
    if kind is NoticeKind.RECOVERED:
        return "The first successful run after failures: the scan works again. No action needed."
    if kind is NoticeKind.ESCALATION:
        return (f"Nobody acknowledged this alarm in time, so it is escalated to you (level "
                f"{notice.escalation_level}). Please acknowledge it and take over.")
    if kind is NoticeKind.REMINDER:
        return ("This alarm is still open and nobody has acknowledged it (or an acknowledgement timed out). "
                "Acknowledge it if you are on it; re-scan once the cause is fixed.")
    if kind is NoticeKind.DIGEST:
        return (f"Scan coverage and compliance over the period: {one_line(notice.detail)}. The full report: "
                f"{one_line(notice.logs_command) or 'patchwatch report coverage'}.")
    return "This is a test notification: the channel works. No action needed."


def _logs_command(notice: Notice) -> str:
    """The notice's own command; for a run without one, the CLI's ``patchwatch logs RUN``."""
    command = one_line(notice.logs_command)
    if not command and notice.run_id:
        command = f"patchwatch logs {one_line(notice.run_id)}"
    return command


def _title(notice: Notice) -> str:
    return clip(f"[{BRAND}] {_tag(notice)} {one_line(notice.task_name)}: {_summary(notice)}", SUBJECT_MAX)


def _facts(notice: Notice) -> list[tuple[str, str]]:
    """Label/value pairs every long format shows, as plain one-line text (escape per format)."""
    moment = _moment(notice)
    when = moment.full + (f", task zone {moment.zone_note}" if moment.zone_note else "")
    facts = [
        ("Task", one_line(notice.task_name)),
        ("Task ID", one_line(notice.task_id)),
        ("Run ID", one_line(notice.run_id) or "none"),
    ]
    if notice.run_state:
        facts.append(("Run state", one_line(notice.run_state)))
    facts += [
        ("Time", when),
        ("Hosts failed", f"{notice.failed} of {notice.total}"),
        ("Failure types", _categories(notice) or "none"),
    ]
    if one_line(notice.detail):
        facts.append(("Detail", one_line(notice.detail)))
    if notice.alarm_id:
        # Whoever takes it says so, which stops the escalation and reminders for everyone.
        facts.append(("Alarm", f"{one_line(notice.alarm_id)} (take it: patchwatch alarms ack "
                               f"{one_line(notice.alarm_id)})"))
    return facts


def _unlisted(notice: Notice) -> int:
    return max(0, notice.failed - len(notice.first_failed))


def _more(notice: Notice) -> str:
    """``... and 7 more failed hosts, listed in the logs`` (the notice lists only the first ones)."""
    count = _unlisted(notice)
    return f"... and {count} more failed host{'s' if count != 1 else ''}, listed in the logs"


# --------------------------------------------------------------------------------------------------
# Long formats
# --------------------------------------------------------------------------------------------------


def render_plain(notice: Notice) -> tuple[str, str]:
    """(title, body) in plain text, for any channel without markup."""
    headline = f"{_tag(notice)} {one_line(notice.task_name)}: {_summary(notice)}"
    lines = [headline, "", _explanation(notice), ""]
    facts = _facts(notice)
    width = max(len(label) for label, _ in facts) + 2
    lines += [f"{label + ':':<{width}}{value}" for label, value in facts]
    if notice.first_failed:
        lines += ["", f"First failed hosts ({len(notice.first_failed)} of {notice.failed}):"]
        lines += [f"  - {one_line(h.host)} [{one_line(h.category)}] {one_line(h.reason)}" for h in notice.first_failed]
        if _unlisted(notice):
            lines.append(f"  {_more(notice)}")
    command = _logs_command(notice)
    if command:
        lines += ["", "Open the logs:", f"  {command}"]
    return _title(notice), "\n".join(lines) + "\n"


def render_email(notice: Notice) -> tuple[str, str, str]:
    """(subject, plain text, HTML). The subject is one line (no header injection) of at most SUBJECT_MAX."""
    subject, text = render_plain(notice)
    alarm = notice.kind in ALARM_KINDS
    colour = "#b00020" if alarm else "#1b5e20"
    headline = f"{_tag(notice)} {one_line(notice.task_name)}: {_summary(notice)}"
    rows = "\n".join(f'<tr><th align="left" style="padding:2px 12px 2px 0">{_h(label)}</th><td>{_h(value)}</td></tr>'
                     for label, value in _facts(notice))
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>' + _h(subject) + "</title></head>",
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px">',
        f'<h2 style="color:{colour}">{_h(headline)}</h2>',
        f"<p>{_h(_explanation(notice))}</p>",
        f'<table style="border-collapse:collapse">\n{rows}\n</table>',
    ]
    if notice.first_failed:
        hosts = "\n".join(f"<tr><td><b>{_h(h.host)}</b></td><td>{_h(h.category)}</td><td>{_h(h.reason)}</td></tr>"
                          for h in notice.first_failed)
        parts += [
            f"<h3>First failed hosts ({len(notice.first_failed)} of {notice.failed})</h3>",
            '<table border="1" cellpadding="4" style="border-collapse:collapse">',
            "<tr><th>Host</th><th>Category</th><th>Reason</th></tr>",
            hosts,
            "</table>",
        ]
        if _unlisted(notice):
            parts.append(f"<p>{_h(_more(notice))}.</p>")
    command = _logs_command(notice)
    if command:
        parts += ["<p>Open the logs:</p>", f"<pre>{_h(command)}</pre>"]
    parts.append("</body></html>")
    return subject, text, "\n".join(parts) + "\n"


def render_markdown(notice: Notice) -> tuple[str, str]:
    """(title, markdown) for DingTalk and WeCom robots. The title is plain text (robots show it unrendered)."""
    headline = f"{_tag(notice)} {one_line(notice.task_name)}: {_summary(notice)}"
    lines = [f"### {md_escape(headline)}", "", md_escape(_explanation(notice)), ""]
    lines += [f"- **{label}:** {md_escape(value)}" for label, value in _facts(notice)]
    if notice.first_failed:
        lines += ["", f"**First failed hosts ({len(notice.first_failed)} of {notice.failed}):**", ""]
        lines += [f"- **{md_escape(h.host)}** ({md_escape(h.category)}): {md_escape(h.reason)}"
                  for h in notice.first_failed]
        if _unlisted(notice):
            lines += ["", md_escape(_more(notice))]
    command = _logs_command(notice)
    if command:
        shown = f"`{command}`" if "`" not in command else md_escape(command)
        lines += ["", f"**Open the logs:** {shown}"]
    return _title(notice), "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# SMS
# --------------------------------------------------------------------------------------------------


#: Shortest reason worth sending for the first failed host: below this, the time goes first.
_SMS_MIN_REASON = 20
#: Longest reason per host in an SMS, so a second host can follow.
_SMS_MAX_REASON = 60


@dataclass
class _SmsPlan:
    """What the SMS still carries; each degradation step (module docstring) changes one field."""

    brand: str = BRAND
    logs: bool = True
    task_id: bool = True
    utc: bool = True
    local: bool = True
    short_run: bool = False
    hosts: bool = True
    detail_max: int = 80
    cats: int | None = None
    task_max: int = 100


def _sms_steps(notice: Notice) -> list[tuple[str, object]]:
    """The degradation ladder: (plan field, new value), least important first."""
    steps: list[tuple[str, object]] = [
        ("logs", False), ("task_id", False), ("brand", "PW"), ("utc", False), ("local", False),
        ("short_run", True), ("hosts", False), ("detail_max", 40), ("task_max", 40),
    ]
    categories = len([v for v in notice.categories.values() if v])
    steps += [("cats", n) for n in range(categories - 1, 0, -1)]
    steps += [("detail_max", 20), ("task_max", 30), ("task_max", 24), ("task_max", 16)]
    return steps


def _short_run(run_id: str) -> str:
    """``RN01JD3Z8K7Q0M4X9B2C5V6N7P`` -> ``RN...2C5V6N7P``: the kind and the random tail, enough to find it."""
    return run_id if len(run_id) <= 16 else f"{run_id[:2]}...{run_id[-8:]}"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _sms_prose(value: object) -> str:
    """Free text (reasons) for SMS: when nothing readable survives GSM conversion (a reason in Chinese), say so
    rather than send a row of question marks."""
    text = gsm_ascii(value)
    return text if not text or any(c.isalnum() for c in text) else "(non-Latin text, see logs)"


def _sms_parts(notice: Notice, plan: _SmsPlan, moment: _Moment) -> tuple[str, str]:
    """The text before and after the failed hosts, already GSM ASCII (so lengths are final)."""
    task = clip(gsm_ascii(notice.task_name), plan.task_max, "...")
    summary = gsm_ascii(_summary(notice, plan.cats, plan.detail_max, "..."))
    head = _sentence(f"{plan.brand} {_tag(notice)} {task}: {summary}")
    tail: list[str] = []
    if plan.local:
        utc = f" ({moment.utc_short})" if plan.utc and moment.utc_short else ""
        tail.append(_sentence(gsm_ascii(moment.local_short + utc)))
    run = gsm_ascii(notice.run_id)
    if run:
        tail.append(_sentence(f"Run {_short_run(run) if plan.short_run else run}"))
    if plan.task_id:
        tail.append(_sentence(f"Task {gsm_ascii(notice.task_id)}"))
    command = gsm_ascii(_logs_command(notice))
    if plan.logs and command:
        tail.append(f"Logs: {command}")
    return head, " ".join(tail)


def _sms_hosts(notice: Notice, room: int) -> str:
    """As many failed hosts as fit in ``room`` characters, the first one given the most; "" when the first
    one does not fit with a useful part of its reason."""
    parts: list[str] = []
    used = 1  # the closing full stop
    for h in notice.first_failed:
        base = f"{clip(gsm_ascii(h.host), 40, '...')} {gsm_ascii(h.category)}: "
        reason = _sms_prose(h.reason)
        available = room - used - (2 if parts else 0) - len(base)
        if available < min(len(reason), _SMS_MIN_REASON):
            break
        parts.append(base + clip(reason, min(available, _SMS_MAX_REASON), "..."))
        used += len(parts[-1]) + (2 if len(parts) > 1 else 0)
    return _sentence("; ".join(parts)) if parts else ""


def _sms_compose(notice: Notice, plan: _SmsPlan, moment: _Moment) -> str | None:
    """The SMS this plan gives, or None when it does not fit (or leaves no room for the first failed host)."""
    head, tail = _sms_parts(notice, plan, moment)
    text = f"{head} {tail}" if tail else head
    if len(text) > SMS_MAX:
        return None
    if not (plan.hosts and notice.first_failed):
        return text
    hosts = _sms_hosts(notice, SMS_MAX - len(text) - 1)
    return " ".join(x for x in (head, hosts, tail) if x) if hosts else None


def render_sms(notice: Notice) -> str:
    """At most SMS_MAX characters of GSM-friendly ASCII.

    Walks the degradation ladder until the message fits, then gives back what still fits, most important
    first (a short task name may leave room for the time again). Failed hosts fill the room the other parts
    leave; the time goes before the first host would.
    """
    moment = _moment(notice)
    plan = _SmsPlan()
    applied: list[tuple[str, object]] = []
    text = _sms_compose(notice, plan, moment)
    for name, value in _sms_steps(notice):
        if text is not None:
            break
        applied.append((name, getattr(plan, name)))
        setattr(plan, name, value)
        text = _sms_compose(notice, plan, moment)
    if text is None:  # even the barest form is too long (absurd ids): cut it, visibly
        head, tail = _sms_parts(notice, plan, moment)
        return clip(f"{head} {tail}" if tail else head, SMS_MAX, "...")
    for name, old in reversed(applied):
        new = getattr(plan, name)
        setattr(plan, name, old)
        better = _sms_compose(notice, plan, moment)
        if better is None:
            setattr(plan, name, new)
        else:
            text = better
    return text

"""Rendering notices: every format carries the required facts, each kind its own wording, data is never markup."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from console.notify.notice import FIRST_FAILED, FailedHost, Notice, NoticeKind
from console.notify.render import (
    SMS_MAX,
    clip,
    format_time,
    gsm_ascii,
    md_escape,
    one_line,
    render_email,
    render_markdown,
    render_plain,
    render_sms,
)

TASK_ID = "ST01JD3Z8K7Q0M4X9B2C5V6N7P"
RUN_ID = "RN01JD3ZA2B3C4D5E6F7G8H9JK"
LOGS = f"patchwatch logs {RUN_ID}"
GSM_OK = re.compile(r"^[A-Za-z0-9 @$!\"#%&'()*+,\-./:;<=>?_]*$")


def notice(kind: NoticeKind = NoticeKind.EXECUTION_FAILED, **changes: object) -> Notice:
    base = Notice(
        kind=kind, task_name="ScheduledscanOSpatches", task_id=TASK_ID, at="2026-12-04T19:15:00+00:00",
        timezone="GMT+08:00", run_id=RUN_ID, run_state="failed", failed=3, total=40,
        categories={"network": 2, "permission": 1},
        first_failed=(
            FailedHost("web-01", "network", "connection refused (step connect)"),
            FailedHost("web-02", "network", "no route to host"),
            FailedHost("db-01", "permission", "sudo: a password is required (step refresh)"),
        ),
        logs_command=LOGS,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def all_texts(n: Notice) -> dict[str, str]:
    subject, text, html_body = render_email(n)
    title, markdown = render_markdown(n)
    plain_title, plain = render_plain(n)
    return {"subject": subject, "text": text, "html": html_body, "md_title": title, "markdown": markdown,
            "plain_title": plain_title, "plain": plain, "sms": render_sms(n)}


# --------------------------------------------------------------------------------------------------
# The required facts
# --------------------------------------------------------------------------------------------------


def test_subject_of_a_failure() -> None:
    subject, _, _ = render_email(notice())
    assert subject == "[Patchwatch] FAILED ScheduledscanOSpatches: 3/40 hosts failed (network 2, permission 1)"


def test_long_formats_carry_every_required_fact() -> None:
    n = notice()
    texts = all_texts(n)
    for name in ("text", "html", "markdown", "plain"):
        body = texts[name]
        for fact in ("ScheduledscanOSpatches", TASK_ID, RUN_ID, "2026-12-05 03:15:00 GMT+08:00",
                     "2026-12-04 19:15:00 UTC", "network 2, permission 1", "3 of 40", LOGS):
            assert fact in body, (name, fact)
        for host in n.first_failed:
            assert host.host.replace("-", "-") in body.replace("\\", ""), (name, host.host)
            assert host.category in body
    assert "2026-12-05 03:15:00 GMT+08:00 (2026-12-04 19:15:00 UTC)" in texts["text"]
    assert "  - db-01 [permission] sudo: a password is required (step refresh)" in texts["plain"]
    assert "- **web\\-01**" not in texts["markdown"]  # '-' mid-line needs no escape
    assert "- **web-01** (network): connection refused (step connect)" in texts["markdown"]


def test_email_text_is_the_plain_rendering() -> None:
    n = notice()
    subject, text, _ = render_email(n)
    assert (subject, text) == render_plain(n)
    assert render_markdown(n)[0] == subject


def test_every_first_failed_host_is_listed_and_the_rest_counted() -> None:
    hosts = tuple(FailedHost(f"web-{i:02d}", "timeout", f"no answer within 30 s ({i})") for i in range(FIRST_FAILED))
    n = notice(failed=17, total=40, categories={"timeout": 17}, first_failed=hosts)
    texts = all_texts(n)
    for name in ("text", "html", "markdown"):
        for h in hosts:
            assert h.host in texts[name]
        assert "and 7 more failed hosts" in texts[name]
    assert "First failed hosts (10 of 17)" in texts["text"]
    one_more = notice(failed=4)
    assert "and 1 more failed host," in render_plain(one_more)[1]


def test_logs_command_falls_back_to_the_cli() -> None:
    assert f"patchwatch logs {RUN_ID}" in render_plain(notice(logs_command=""))[1]
    no_run = notice(NoticeKind.TEST, run_id=None, logs_command="", failed=0, total=0, categories={}, first_failed=())
    body = render_plain(no_run)[1]
    assert "Open the logs" not in body
    assert "Run ID:        none" in body


# --------------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------------


def test_time_in_a_fixed_offset_zone_and_utc() -> None:
    assert format_time(notice()) == "2026-12-05 03:15:00 GMT+08:00 (2026-12-04 19:15:00 UTC)"
    assert format_time(notice(at="2026-12-04T19:15:00Z")) == "2026-12-05 03:15:00 GMT+08:00 (2026-12-04 19:15:00 UTC)"
    # A naive instant is UTC (the notice stores UTC).
    assert format_time(notice(at="2026-12-04T19:15:00")) == "2026-12-05 03:15:00 GMT+08:00 (2026-12-04 19:15:00 UTC)"


@pytest.mark.parametrize(("at", "expected"), [
    ("2026-12-04T19:15:00+00:00", "2026-12-04 14:15:00 EST (2026-12-04 19:15:00 UTC)"),
    ("2026-07-04T19:15:00+00:00", "2026-07-04 15:15:00 EDT (2026-07-04 19:15:00 UTC)"),
    ("2026-11-01T05:30:00+00:00", "2026-11-01 01:30:00 EDT (2026-11-01 05:30:00 UTC)"),  # first 01:30
    ("2026-11-01T06:30:00+00:00", "2026-11-01 01:30:00 EST (2026-11-01 06:30:00 UTC)"),  # second 01:30
])
def test_time_in_new_york_follows_dst(at: str, expected: str) -> None:
    n = notice(at=at, timezone="America/New_York")
    assert format_time(n) == expected
    body = render_plain(n)[1]
    assert f"Time:          {expected}, task zone America/New_York" in body
    assert expected in render_email(n)[2]
    assert expected in render_markdown(n)[1]


def test_unreadable_time_or_zone_still_renders() -> None:
    bad_zone = notice(timezone="Mars/Olympus")
    assert format_time(bad_zone).startswith("2026-12-04 19:15:00 UTC")
    assert "Mars/Olympus" in format_time(bad_zone)
    assert "sometime" in render_plain(notice(at="sometime"))[1]
    assert len(render_sms(notice(at="sometime"))) <= SMS_MAX


# --------------------------------------------------------------------------------------------------
# Wording per kind
# --------------------------------------------------------------------------------------------------

KIND_WORDING = {
    NoticeKind.EXECUTION_FAILED: ("FAILED", "3/40 hosts failed (network 2, permission 1)"),
    NoticeKind.UPDATE: ("UPDATE", "3/40 hosts failed so far"),
    NoticeKind.SUMMARY: ("SUMMARY", "run failed, 3/40 hosts failed"),
    NoticeKind.SUCCEEDED: ("SUCCEEDED", "all 40 hosts scanned, none failed"),
    NoticeKind.STARTED: ("STARTED", "run started on 40 hosts"),
    NoticeKind.PAUSED: ("PAUSED", "run paused: error threshold reached (3 failed hosts)"),
    NoticeKind.PENDING_REVIEW: ("PENDING REVIEW", "waits for approval"),
    NoticeKind.MISSED: ("MISSED", "scheduled run did not fire: the console was down at 03:15"),
    NoticeKind.INTERRUPTED: ("INTERRUPTED", "run interrupted"),
    NoticeKind.RECOVERED: ("RECOVERED", "scan succeeded again on 40 hosts after failures"),
    NoticeKind.ESCALATION: ("ESCALATION level 2", "nobody acknowledged: 3/40 hosts failed"),
    NoticeKind.REMINDER: ("REMINDER", "still failing, unacknowledged: 3/40 hosts failed"),
    NoticeKind.TEST: ("TEST", "test notification, no action needed"),
    NoticeKind.DIGEST: ("DIGEST", "coverage 94.0% (940/1000 hosts with a success in the period)"),
}

DETAILS = {
    NoticeKind.PAUSED: "error threshold reached (3 failed hosts)",
    NoticeKind.MISSED: "the console was down at 03:15",
    NoticeKind.DIGEST: "coverage 94.0% (940/1000 hosts with a success in the period) · states: compliant=900",
}


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_each_kind_renders_with_its_own_wording(kind: NoticeKind) -> None:
    n = notice(kind, detail=DETAILS.get(kind, ""), escalation_level=2)
    tag, words = KIND_WORDING[kind]
    texts = all_texts(n)
    assert texts["subject"].startswith(f"[Patchwatch] {tag} ScheduledscanOSpatches: ")
    assert words in texts["subject"]
    for name in ("text", "html", "markdown", "plain"):
        assert tag in texts[name]
        assert TASK_ID in texts[name] and RUN_ID in texts[name]
        assert "2026-12-04 19:15:00 UTC" in texts[name]
    assert texts["sms"].startswith(("Patchwatch " + tag, "PW " + tag))
    assert len(texts["sms"]) <= SMS_MAX
    assert GSM_OK.match(texts["sms"])


def test_all_kinds_have_distinct_wording() -> None:
    subjects = {render_email(notice(k, escalation_level=1))[0].split(":", 1)[1] for k in NoticeKind}
    assert len(subjects) == len(NoticeKind)


def test_escalation_names_its_level_and_says_nobody_acknowledged() -> None:
    n = notice(NoticeKind.ESCALATION, escalation_level=3)
    _, text, html_body = render_email(n)
    assert "ESCALATION level 3" in text
    assert "Nobody acknowledged this alarm in time" in text
    assert "level 3" in html_body
    assert "ESCALATION level 3" in render_sms(n)
    missed = notice(NoticeKind.ESCALATION, escalation_level=1, failed=0, categories={}, first_failed=(),
                    run_state="missed", detail="")
    assert "nobody acknowledged: run missed" in render_plain(missed)[0]


def test_failed_run_without_host_failures_gives_the_run_error() -> None:
    n = notice(failed=0, total=0, categories={}, first_failed=(), run_state="error",
               detail="credential file /etc/pw/key is unreadable")
    subject = render_email(n)[0]
    assert subject == "[Patchwatch] FAILED ScheduledscanOSpatches: run error: credential file /etc/pw/key is unreadable"
    assert "Failure types: none" in render_plain(n)[1]


def test_alarm_and_good_news_look_different_in_html() -> None:
    assert "#b00020" in render_email(notice())[2]
    assert "#b00020" not in render_email(notice(NoticeKind.RECOVERED))[2]


# --------------------------------------------------------------------------------------------------
# Untrusted data
# --------------------------------------------------------------------------------------------------

EVIL = notice(
    NoticeKind.MISSED, detail="down\nSubject: fake\r\nBcc: everyone@example.com",
    categories={"network": 1, "<b>tool</b>": 1},
    first_failed=(
        FailedHost("<img src=x onerror=alert(1)>", "tool", 'apt said <script>alert("x")</script> & left'),
        FailedHost("web_01", "service", "lock *held* by `apt` _now_\nFAKE: all hosts fine [ok](http://evil) | ~x~ # h"),
    ),
)


def test_html_escapes_everything_from_data() -> None:
    _, _, html_body = render_email(EVIL)
    assert "<script>" not in html_body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; left" in html_body
    assert "<img" not in html_body
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_body
    assert "<b>tool</b>" not in html_body
    assert "&lt;b&gt;tool&lt;/b&gt;" in html_body
    # The only tags are the template's own.
    tags = set(re.findall(r"</?([a-zA-Z0-9!]+)", html_body))
    assert tags <= {"!DOCTYPE", "html", "head", "meta", "title", "body", "h2", "h3", "p", "table", "tr", "th", "td",
                    "b", "pre"}


def test_line_breaks_in_data_cannot_forge_lines_or_headers() -> None:
    subject, text, _ = render_email(EVIL)
    assert "\n" not in subject and "\r" not in subject
    assert "Subject: fake Bcc: everyone@example.com" in subject
    assert not any(line.startswith(("FAKE", "Bcc", "Subject")) for line in text.splitlines())
    assert "\r" not in text


def test_markdown_neutralises_markup_in_data() -> None:
    title, markdown = render_markdown(EVIL)
    assert "\n" not in title
    line = next(x for x in markdown.splitlines() if "web" in x)
    assert line == ("- **web\\_01** (service): lock \\*held\\* by \\`apt\\` \\_now\\_ FAKE: all hosts fine "
                    "\\[ok\\](http://evil) \\| \\~x\\~ \\# h")
    assert not any(x.startswith("FAKE") for x in markdown.splitlines())
    assert "\\<script\\>" in markdown and "<script>" not in markdown
    assert "\\<img src=x onerror=alert(1)\\>" in markdown
    assert "**Open the logs:** `patchwatch logs" in markdown


def test_markdown_logs_command_with_a_backtick_is_not_a_code_span() -> None:
    _, markdown = render_markdown(notice(logs_command="patchwatch logs `rm -rf`"))
    assert "**Open the logs:** patchwatch logs \\`rm -rf\\`" in markdown


def test_invisible_and_control_characters_are_dropped() -> None:
    assert one_line("a\u202eb\u200bc\x00d\te\u2028f") == "abcd e f"
    assert md_escape("a*b") == "a\\*b"


# --------------------------------------------------------------------------------------------------
# SMS
# --------------------------------------------------------------------------------------------------


def test_sms_carries_the_essentials() -> None:
    sms = render_sms(notice())
    assert len(sms) <= SMS_MAX
    assert "FAILED ScheduledscanOSpatches: 3/40 hosts failed (network 2, permission 1)." in sms
    assert RUN_ID in sms  # room enough for the full run id
    assert "web-01 network: connection refused" in sms


def test_sms_keeps_time_and_more_when_there_is_room() -> None:
    n = notice(task_name="nightly", categories={"network": 1}, failed=1, total=2,
               first_failed=(FailedHost("h1", "network", "refused"),), logs_command="")
    sms = render_sms(n)
    assert "2026-12-05 03:15 GMT+08:00 (12-04 19:15 UTC)" in sms
    assert sms.startswith("Patchwatch FAILED nightly: 1/2 hosts failed (network 1).")


LONG_NAME = "Scheduled_scan_of_all_production_OS_patches_in_the_primary_datacenter_and_the_disaster_recovery_site"


@pytest.mark.parametrize("changes", [
    {"task_name": LONG_NAME},
    {"task_name": LONG_NAME, "categories": {c: i + 1 for i, c in enumerate(
        ("network", "timeout", "permission", "host_key", "tool", "service"))}},
    {"first_failed": tuple(FailedHost(f"very-long-host-name-{i:02d}.datacenter.example.com", "service",
                                      "Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 "
                                      "(apt-get) " * 3) for i in range(FIRST_FAILED))},
    {"kind": NoticeKind.MISSED, "detail": "the console was not running " * 20, "task_name": LONG_NAME},
    {"kind": NoticeKind.PAUSED, "detail": "x" * 300, "task_name": LONG_NAME, "categories": {
        f"category{i}": i for i in range(1, 30)}},
    {"kind": NoticeKind.ESCALATION, "escalation_level": 12, "task_name": LONG_NAME},
    {"first_failed": (FailedHost("主机一", "network", "连接被拒绝：对方主机拒绝了连接 " * 10),)},
    {"run_id": "R" * 300, "task_id": "T" * 300, "logs_command": "x" * 300},
])
def test_sms_never_exceeds_160_characters(changes: dict[str, object]) -> None:
    sms = render_sms(notice(**changes))  # type: ignore[arg-type]
    assert len(sms) <= SMS_MAX, sms
    assert GSM_OK.match(sms), sms
    assert "FAILED" in sms or "MISSED" in sms or "PAUSED" in sms or "ESCALATION" in sms


def test_sms_with_a_long_task_name_shortens_the_run_id_and_cuts_with_an_ellipsis() -> None:
    sms = render_sms(notice(task_name=LONG_NAME, categories={c: 1 for c in
                                                             ("network", "timeout", "permission", "tool")}, failed=4))
    assert len(sms) <= SMS_MAX
    assert "4/40 hosts failed" in sms
    assert "RN..." + RUN_ID[-8:] in sms or RUN_ID in sms
    name_shown = sms.split(" ", 2)[2].split(":", 1)[0]
    assert name_shown == LONG_NAME or name_shown.endswith("...")
    assert LONG_NAME.startswith(name_shown.removesuffix("..."))


def test_sms_keeps_every_category_that_fits_and_counts_the_rest() -> None:
    cats = {"network": 9, "timeout": 5, "permission": 4, "host_key": 3, "tool": 2, "service": 1}
    sms = render_sms(notice(task_name=LONG_NAME, categories=cats, failed=24))
    assert len(sms) <= SMS_MAX
    assert "(network 9, timeout 5, permission 4, host_key 3, tool 2, service 1)" in sms  # room given back
    many = {f"custom_category_{i:02d}": 30 - i for i in range(20)}
    sms = render_sms(notice(task_name=LONG_NAME, categories=many, failed=sum(many.values()), total=500))
    assert len(sms) <= SMS_MAX
    assert "custom_category_00 30" in sms  # the most frequent first
    assert re.search(r", \+\d+ more\)", sms), sms


def test_sms_is_gsm_ascii() -> None:
    assert gsm_ascii("café … [x] {y} | ~ ^ ` \\ 主机 emoji 🚀") == "cafe ... (x) (y) / - ' ' / ? emoji ?"


def test_clip_never_cuts_mid_word_without_an_ellipsis() -> None:
    assert clip("connection refused by the host", 20, "...") == "connection..."
    assert clip("abcdefghijklmnopqrstuvwxyz", 10, "...") == "abcdefg..."
    assert clip("short", 10) == "short"
    for limit in range(4, 40):
        cut = clip("the package manager lock is held by another process", limit, "...")
        assert len(cut) <= limit
        assert cut.endswith("...")


def test_people_and_render_import_no_ui_or_network_library() -> None:
    """Both modules are pure: a fresh interpreter importing them loads no textual/asyncssh/tinydb/apprise."""
    code = ("import sys, console.notify.people, console.notify.render; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'asyncssh', 'tinydb', 'apprise'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"

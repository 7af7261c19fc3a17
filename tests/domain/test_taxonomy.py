"""Tests of the failure taxonomy: one table row per rule, precedence between rules, reason hygiene.

The evidence texts are the messages the real tools print (apt, dnf, yum, zypper, apk, sudo) and the
exception names/messages asyncssh and the socket layer raise (see library-notes.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.domain.taxonomy import REASON_MAX, RULES, Category, Evidence, classify, one_line

APT_NOT_ROOT = (
    "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n"
    "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?\n"
)
APT_LOCK_HELD = (
    "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 1432 (apt-get)\n"
    "N: Be aware that removing the lock file is not a solution and may break your system.\n"
    "E: Unable to lock directory /var/lib/apt/lists/\n"
)

# (rule id, evidence, expected category). Every rule of RULES appears at least once.
CASES: list[tuple[str, Evidence, Category]] = [
    # host key
    ("host_key.unverified",
     Evidence(stage="connect", exception="HostKeyNotVerifiable", message="Host key is not trusted for host 10.0.4.21"),
     Category.HOST_KEY),
    ("host_key.unverified",
     Evidence(stage="connect", exception="asyncssh.misc.HostKeyNotVerifiable", message="Host key mismatch"),
     Category.HOST_KEY),
    # timeouts at connect / auth
    ("timeout.connect", Evidence(stage="connect", exception="TimeoutError", message=""), Category.TIMEOUT),
    ("timeout.connect", Evidence(stage="auth", timed_out=True, message="no answer within 10 s"), Category.TIMEOUT),
    # network
    ("network.refused",
     Evidence(stage="connect", exception="ConnectionRefusedError",
              message="[Errno 111] Connect call failed ('10.0.4.21', 22)"),
     Category.NETWORK),
    ("network.refused",
     Evidence(stage="connect", exception="OSError", message="Multiple exceptions: [Errno 111] Connection refused"),
     Category.NETWORK),
    ("network.dns",
     Evidence(stage="connect", exception="gaierror", message="[Errno -2] Name or service not known"),
     Category.NETWORK),
    ("network.dns",
     Evidence(stage="connect", exception="OSError", message="[Errno -3] Temporary failure in name resolution"),
     Category.NETWORK),
    ("network.unreachable",
     Evidence(stage="connect", exception="OSError", message="[Errno 113] Connect call failed ('10.0.9.9', 22)"),
     Category.NETWORK),
    ("network.unreachable",
     Evidence(stage="connect", exception="OSError", message="[Errno 101] Network is unreachable"),
     Category.NETWORK),
    ("network.reset",
     Evidence(stage="auth", exception="ConnectionResetError", message="[Errno 104] Connection reset by peer"),
     Category.NETWORK),
    ("network.reset",
     Evidence(stage="command", step="list_updates", exception="ConnectionLost", message="Connection lost"),
     Category.NETWORK),
    ("network.dropped",
     Evidence(stage="command", step="list_updates", stdout="Listing...\nlibssl3/jammy-updates,jammy-sec",
              dropped=True),
     Category.NETWORK),
    # permission
    ("permission.ssh_auth",
     Evidence(stage="auth", exception="PermissionDenied", message="Permission denied for user scan on host 10.0.4.21"),
     Category.PERMISSION),
    ("permission.ssh_auth",
     Evidence(stage="auth", exception="DisconnectError", message="Too many authentication failures"),
     Category.PERMISSION),
    ("permission.sudo",
     Evidence(stage="command", step="refresh", exit_status=1, stderr="sudo: a password is required\n"),
     Category.PERMISSION),
    ("permission.sudo",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="sudo: no tty present and no askpass program specified\n"),
     Category.PERMISSION),
    ("permission.sudo",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="scan is not in the sudoers file.  This incident will be reported.\n"),
     Category.PERMISSION),
    ("permission.sudo",
     Evidence(stage="command", step="refresh", exit_status=1, stderr="sudo: sorry, you must have a tty to run sudo\n"),
     Category.PERMISSION),
    ("permission.not_root",
     Evidence(stage="command", step="refresh", exit_status=100, stderr=APT_NOT_ROOT), Category.PERMISSION),
    ("permission.not_root",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="Error: This command has to be run with superuser privileges (under the root user on most "
                     "systems).\n"),
     Category.PERMISSION),
    ("permission.not_root",
     Evidence(stage="command", step="refresh", exit_status=5,
              stderr="Root privileges are required for refreshing system repositories.\n"),
     Category.PERMISSION),
    ("permission.not_root",
     Evidence(stage="command", step="refresh", exit_status=1, stderr="You need to be root to perform this command.\n"),
     Category.PERMISSION),
    ("permission.not_root",
     Evidence(stage="command", step="refresh", exit_status=99,
              stderr="ERROR: Unable to lock database: Permission denied\n"
                     "ERROR: Failed to open apk database: Permission denied\n"),
     Category.PERMISSION),
    ("permission.not_root",
     Evidence(stage="command", step="refresh", exit_status=1, stderr="dnf: must be root to run makecache\n"),
     Category.PERMISSION),
    # service
    ("service.disk_full",
     Evidence(stage="command", step="refresh", exit_status=100,
              stderr="E: Write error - write (28: No space left on device)\n"
                     "W: Failed to fetch http://archive.ubuntu.com/ubuntu/dists/jammy-updates/InRelease\n"),
     Category.SERVICE),
    ("service.dpkg_broken",
     Evidence(stage="command", step="list_updates", exit_status=100,
              stderr="E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the "
                     "problem.\n"),
     Category.SERVICE),
    ("service.rpmdb_broken",
     Evidence(stage="command", step="list_updates", exit_status=1,
              stderr="error: rpmdb: BDB0113 Thread/process 2961/140 failed: BDB1507 Thread died in Berkeley DB "
                     "library\nerror: db5 error(-30973) from dbenv->failchk\nError: rpmdb open failed\n"),
     Category.SERVICE),
    ("service.rpmdb_broken",
     Evidence(stage="command", step="installed", exit_status=1,
              stderr="error: rpmdbNextIterator: skipping h#     512 Header V4 RSA/SHA256 Signature, key ID "
                     "fd431d51: BAD\n"),
     Category.SERVICE),
    ("service.lock_held",
     Evidence(stage="command", step="refresh", exit_status=100, stderr=APT_LOCK_HELD), Category.SERVICE),
    ("service.lock_held",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="Waiting for process with pid 2231 to finish.\n"),
     Category.SERVICE),
    ("service.lock_held",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="Existing lock /var/run/yum.pid: another copy is running as pid 1809.\n"),
     Category.SERVICE),
    ("service.lock_held",
     Evidence(stage="command", step="refresh", exit_status=7,
              stderr="System management is locked by the application with pid 1204 (zypper).\n"
                     "Close this application before trying again.\n"),
     Category.SERVICE),
    ("service.lock_held",
     Evidence(stage="command", step="refresh", exit_status=99,
              stderr="ERROR: Unable to lock database: Resource temporarily unavailable\n"),
     Category.SERVICE),
    ("service.repo_unreachable",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="Errors during downloading metadata for repository 'baseos':\n"
                     "  - Curl error (6): Couldn't resolve host name for https://mirrors.rockylinux.org/mirrorlist\n"
                     "Error: Failed to download metadata for repo 'baseos': Cannot prepare internal mirrorlist: "
                     "Curl error (6)\n"),
     Category.SERVICE),
    ("service.repo_unreachable",
     Evidence(stage="command", step="refresh", exit_status=100,
              stderr="W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure "
                     "resolving 'deb.debian.org'\n"),
     Category.SERVICE),
    ("service.repo_unreachable",
     Evidence(stage="command", step="refresh", exit_status=4,
              stdout="Retrieving repository 'Main Update Repository' metadata [error]\n"
                     "Repository 'Main Update Repository' is invalid.\n"),
     Category.SERVICE),
    ("service.repo_unreachable",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="One of the configured repositories failed (Unknown),\n"
                     "Cannot retrieve repository metadata (repomd.xml) for repository: base.\n"),
     Category.SERVICE),
    ("service.repo_unreachable",
     Evidence(stage="command", step="refresh", exit_status=1,
              stderr="WARNING: updating and opening https://dl-cdn.alpinelinux.org/alpine/v3.19/main: "
                     "temporary error (try again later)\n"),
     Category.SERVICE),
    # command timeout
    ("timeout.command",
     Evidence(stage="command", step="refresh", exception="TimeoutError", message="",
              stdout="Hit:1 http://archive.ubuntu.com/ubuntu jammy InRelease\n"),
     Category.TIMEOUT),
    ("timeout.command", Evidence(stage="command", step="list_updates", timed_out=True), Category.TIMEOUT),
    # tool
    ("tool.unsupported_os",
     Evidence(stage="command", step="os_release", message="unsupported OS: Arch Linux (ID=arch)", exit_status=0),
     Category.TOOL),
    ("tool.unparseable",
     Evidence(stage="command", step="list_updates", exception="ParseError", exit_status=0,
              message="apk list --upgradable, line 1: expected 'name-version arch ...': 'fetch https://...'"),
     Category.TOOL),
    ("tool.command_not_found",
     Evidence(stage="command", step="reboot", exit_status=127, stderr="bash: needs-restarting: command not found\n"),
     Category.TOOL),
    ("tool.command_not_found", Evidence(stage="command", step="reboot", exit_status=127), Category.TOOL),
    ("tool.command_not_found",
     Evidence(stage="command", step="os_release", exit_status=1,
              stderr="cat: /etc/os-release: No such file or directory\n"),
     Category.TOOL),
    ("tool.command_not_found",
     Evidence(stage="command", step="reboot", exit_status=1,
              stderr="No such command: needs-restarting. Please use /usr/bin/dnf --help\n"),
     Category.TOOL),
    ("tool.signal", Evidence(stage="command", step="list_updates", exit_signal="KILL"), Category.TOOL),
    ("tool.exit_status",
     Evidence(stage="command", step="list_updates", exit_status=1,
              stderr="Error: Unknown repo: 'epel-testing'\n"),
     Category.TOOL),
    ("tool.exit_status",
     Evidence(stage="command", step="security", exception="ProcessError", exit_status=2,
              stderr="Usage: dnf [options] COMMAND\n"),
     Category.TOOL),
    # catch-alls
    ("network.fallback",
     Evidence(stage="auth", exception="KeyExchangeFailed", message="No matching key exchange algorithm"),
     Category.NETWORK),
    ("network.fallback", Evidence(stage="connect"), Category.NETWORK),
    ("tool.fallback", Evidence(stage="command", step="security"), Category.TOOL),
]


def _case_id(case: tuple[str, Evidence, Category]) -> str:
    return case[0]


@pytest.mark.parametrize(("rule_id", "evidence", "category"), CASES, ids=[_case_id(c) for c in CASES])
def test_classification_table(rule_id: str, evidence: Evidence, category: Category) -> None:
    verdict = classify(evidence)
    assert (verdict.rule, verdict.category) == (rule_id, category)
    assert verdict.reason.strip()
    assert "\n" not in verdict.reason
    assert len(verdict.reason) <= REASON_MAX
    assert verdict.hint.strip()


def test_every_rule_has_a_case() -> None:
    assert {r.id for r in RULES} == {c[0] for c in CASES}


def test_every_category_is_reachable() -> None:
    assert {classify(ev).category for _, ev, _ in CASES} == set(Category)


def test_rule_table_shape() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.id.split(".")[0] == r.category.value for r in RULES)
    assert RULES[0].category is Category.HOST_KEY  # checked first
    assert RULES[-1].id == "tool.fallback"


@pytest.mark.parametrize(
    ("evidence", "rule_id"),
    [
        (Evidence(stage="command"), "tool.fallback"),
        (Evidence(stage="command", step="list_updates", exit_status=0, stdout="all fine"), "tool.fallback"),
        (Evidence(stage="connect"), "network.fallback"),
        (Evidence(stage="auth", exception="ProtocolError", message="Invalid packet"), "network.fallback"),
    ],
)
def test_evidence_matching_nothing_gets_the_catch_all(evidence: Evidence, rule_id: str) -> None:
    verdict = classify(evidence)
    assert verdict.rule == rule_id
    assert verdict.reason  # never empty, even with no evidence at all


# -- precedence ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evidence", "rule_id"),
    [
        # a non-root apt mentions the lock AND the permission: nobody holds the lock, root is missing
        (Evidence(stage="command", step="refresh", exit_status=100, stderr=APT_NOT_ROOT), "permission.not_root"),
        # sudo refused before apt ever ran, even if a lock line is also present
        (Evidence(stage="command", step="refresh", exit_status=1,
                  stderr="sudo: a password is required\n" + APT_LOCK_HELD), "permission.sudo"),
        # apt waited on a lock until our deadline fired: the lock is the cause
        (Evidence(stage="command", step="refresh", timed_out=True,
                  stderr="Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by "
                         "process 1432 (unattended-upgr)... 30s\n"), "service.lock_held"),
        # a changed host key is never hidden by a timeout
        (Evidence(stage="connect", exception="HostKeyNotVerifiable", timed_out=True), "host_key.unverified"),
        # the channel dropped: partial stderr does not explain it
        (Evidence(stage="command", step="refresh", dropped=True, stderr="Permission denied\n"), "network.dropped"),
        # the executor's own deadline closed the channel: a timeout, not a drop
        (Evidence(stage="command", step="list_updates", dropped=True, timed_out=True), "timeout.command"),
        # a full disk is the cause of the fetch failures it produces
        (Evidence(stage="command", step="refresh", exit_status=100,
                  stderr="W: Failed to fetch http://x/InRelease\n"
                         "E: Write error - write (28: No space left on device)\n"),
         "service.disk_full"),
        # zypper printed a repository error that also broke the table: the repository is the cause
        (Evidence(stage="command", step="list_updates", exception="ParseError", message="zypper list-updates: ...",
                  stdout="Repository 'repo-oss' is invalid.\n"), "service.repo_unreachable"),
        # "Temporary failure resolving" at command stage is a mirror problem, not our DNS
        (Evidence(stage="command", step="refresh", exit_status=100,
                  stderr="Temporary failure in name resolution\nW: Failed to fetch http://x  Temporary failure "
                         "resolving 'archive.ubuntu.com'\n"), "service.repo_unreachable"),
        # a missing tool wins over the generic non-zero exit
        (Evidence(stage="command", step="reboot", exit_status=1,
                  stderr="Unknown command 'needs-rebooting'\n"), "tool.command_not_found"),
        # container/hostname sudo warnings are noise next to the real error
        (Evidence(stage="command", step="refresh", exit_status=100,
                  stderr="sudo: setrlimit(RLIMIT_CORE): Operation not permitted\n"
                         "sudo: unable to resolve host web-07: Name or service not known\n" + APT_LOCK_HELD),
         "service.lock_held"),
        (Evidence(stage="command", step="refresh", exit_status=100,
                  stderr="W: Download is performed unsandboxed as root as file '/root/x.deb' couldn't be accessed "
                         "by user '_apt'. - pkgAcquire::Run (13: Permission denied)\n"
                         "E: Failed to fetch http://archive.ubuntu.com/ubuntu/dists/jammy/InRelease\n"),
         "service.repo_unreachable"),
        # service evidence wins over the signal
        (Evidence(stage="command", step="list_updates", exit_signal="KILL",
                  stderr="error: rpmdbNextIterator: skipping h# 512\n"), "service.rpmdb_broken"),
    ],
)
def test_precedence(evidence: Evidence, rule_id: str) -> None:
    assert classify(evidence).rule == rule_id


# -- reasons ---------------------------------------------------------------------------------------


def test_reason_quotes_the_sudo_line_and_names_the_step() -> None:
    ev = Evidence(stage="command", step="refresh", exit_status=1, stderr="sudo: a password is required\n")
    assert classify(ev).reason == "sudo: a password is required (step refresh)"


def test_reason_names_the_ssh_user() -> None:
    message = "Permission denied for user scan on host 10.0.4.21"
    ev = Evidence(stage="auth", exception="PermissionDenied", message=message)
    assert classify(ev).reason == "SSH authentication denied for user scan on host 10.0.4.21 (auth)"


def test_reason_of_ssh_denial_without_user() -> None:
    ev = Evidence(stage="auth", exception="PermissionDenied", message="Trivial auth disabled")
    assert classify(ev).reason == "SSH authentication denied: Trivial auth disabled (auth)"


def test_reason_of_connect_timeout() -> None:
    assert classify(Evidence(stage="connect", timed_out=True, message="no answer within 10 s")).reason == (
        "no answer within 10 s (connect)"
    )
    assert classify(Evidence(stage="connect", exception="TimeoutError")).reason == (
        "no answer within the connect time limit (connect)"
    )


def test_reason_of_command_timeout_mentions_step_and_last_output() -> None:
    ev = Evidence(
        stage="command",
        step="refresh",
        timed_out=True,
        message="no answer within 300 s",
        stdout="Get:1 http://archive.ubuntu.com/ubuntu jammy-updates InRelease [128 kB]\n0% [Working]\n",
    )
    assert classify(ev).reason == "no answer within 300 s (step refresh); last output: 0% [Working]"


def test_reason_of_unparseable_output() -> None:
    ev = Evidence(stage="command", step="list_updates", exception="ParseError", message="check-update, line 3: bad")
    assert classify(ev).reason == "unparseable output of list_updates: check-update, line 3: bad"


def test_reason_of_other_exit_prefers_the_error_line() -> None:
    ev = Evidence(
        stage="command",
        step="list_updates",
        exit_status=1,
        stderr="Repository epel is listed more than once in the configuration\nError: Unknown repo: 'epel-testing'\n",
    )
    assert classify(ev).reason == "exit status 1: Error: Unknown repo: 'epel-testing' (step list_updates)"


def test_reason_of_dropped_connection() -> None:
    ev = Evidence(stage="command", step="list_updates", dropped=True)
    expected = "connection dropped mid-output: channel closed with no exit status (step list_updates)"
    assert classify(ev).reason == expected


def test_long_evidence_is_cut_but_keeps_the_step() -> None:
    ev = Evidence(stage="command", step="refresh", exit_status=100, stderr="W: Failed to fetch " + "x" * 600 + "\n")
    reason = classify(ev).reason
    assert len(reason) <= REASON_MAX
    assert "…" in reason
    assert reason.endswith("(step refresh)")


def test_reason_collapses_whitespace() -> None:
    ev = Evidence(stage="connect", exception="OSError", message="weird\tfailure\r\n   on   several\nlines")
    assert classify(ev).reason == "OSError: weird failure on several lines (connect)"


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Error: could not connect with password=hunter2 to mirror", "hunter2"),
        ("proxy auth failed: PASSWORD = 's3cr3t value'", "s3cr3t"),
        ("token: ghp_abcdef123456 rejected", "ghp_abcdef123456"),
        ("api_key=AKIAXXXX denied", "AKIAXXXX"),
    ],
)
def test_secrets_are_masked_in_reasons(text: str, leaked: str) -> None:
    reason = classify(Evidence(stage="command", step="refresh", exit_status=1, stderr=text + "\n")).reason
    assert leaked not in reason
    assert "***" in reason


def test_one_line_helper() -> None:
    assert one_line("  a \n b\t c  ") == "a b c"
    assert one_line("x" * 300) == "x" * (REASON_MAX - 1) + "…"
    assert one_line("sudo: a password is required") == "sudo: a password is required"  # not a secret


def test_taxonomy_module_stays_pure() -> None:
    code = (
        "import sys, console.domain.taxonomy\n"
        "bad = [m for m in ('asyncssh', 'textual', 'tinydb', 'apprise', 'console.scan') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])

"""Failure taxonomy: every failed host gets exactly one category, a one-line reason and a hint.

The classification is a table (:data:`RULES`) read top to bottom; the first rule whose predicate
matches the :class:`Evidence` wins, and the last rule matches everything, so :func:`classify` always
answers. Keeping it a table (not nested ifs) means the precedence is visible in one place, each rule
has an id that is stored with the host result (so an operator can ask "why was this a permission
failure?"), and each rule is tested on its own.

Precedence, and why:

1. ``host_key`` first. An unknown or changed host key can be an interception; nothing that follows
   it (a timeout, a refused login) may hide it.
2. Connect/auth timeouts, then transport failures (refused, DNS, no route, reset, connection lost,
   channel dropped mid-output). These are facts about the connection: when the channel dropped,
   whatever partial stderr arrived does not explain the failure.
3. SSH authentication denied.
4. Unsupported OS (the ``os_release`` step said so).
5. Permission evidence in a command's output (sudo refusals, "are you root?", "Permission denied").
   This comes BEFORE the service rules on purpose: a non-root apt prints both
   ``Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)`` and
   ``Unable to acquire the dpkg frontend lock ..., are you root?``; apk prints
   ``Unable to lock database: Permission denied``. Nobody holds that lock; the credential lacks root,
   so the fix is in sudoers, not on the host's package manager.
6. Service evidence, most specific first: disk full (it makes everything else fail), broken dpkg,
   broken rpmdb, lock held by another process, repositories/mirrors unreachable.
7. Command timeout. After the service rules because a package manager that waited on a lock
   ("Waiting for cache lock") until our deadline fired is better reported as the lock it waited on.
8. Tool failures: unparseable output, command not found, killed by a signal, other non-zero exits.
9. Catch-alls: ``network`` for the connect/auth stages, ``tool`` for anything else.

Text rules look at stderr, then stdout, then the exception message, line by line, and quote the first
matching line. Reasons are one line of at most 200 characters, whitespace collapsed, long text cut with
an ellipsis, and anything shaped like ``password=...`` masked. Pure Python: no asyncssh import; the
executor passes exception class names as strings.

Why one module of this length: the ordered classification rules, one per kind of evidence, in the order
they are tried.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = [
    "Category",
    "Classification",
    "Evidence",
    "REASON_MAX",
    "RULES",
    "Rule",
    "classify",
    "one_line",
]

#: Longest reason, in characters; notices and table cells show it unwrapped.
REASON_MAX = 200
#: Room left for quoted evidence inside a reason, so the "(step X)" suffix survives truncation.
_QUOTE_MAX = 150


class Category(StrEnum):
    """Why a host failed; the first thing an operator checks differs per category (domain.md)."""

    NETWORK = "network"
    TIMEOUT = "timeout"
    PERMISSION = "permission"
    HOST_KEY = "host_key"
    TOOL = "tool"
    SERVICE = "service"


Stage = Literal["connect", "auth", "command"]


@dataclass(frozen=True)
class Evidence:
    """What the executor saw when a host failed. Holds no secrets by construction.

    ``exception`` is the exception class name (``"ConnectionRefusedError"``, ``"gaierror"``,
    ``"PermissionDenied"``, ``"ParseError"``...), ``step`` the Scan_OS_Patch step of a command-stage
    failure. ``timed_out`` says the executor's own deadline fired; ``dropped`` says the channel closed
    with neither exit status nor signal (asyncssh raises nothing in that case).
    """

    stage: Stage
    exception: str | None = None
    message: str = ""
    step: str | None = None
    exit_status: int | None = None
    exit_signal: str | None = None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    dropped: bool = False


@dataclass(frozen=True)
class Classification:
    """The verdict on one failed host: category, one-line reason quoting the evidence, remediation
    hint, and the id of the rule that decided (kept with the result for review)."""

    category: Category
    reason: str
    hint: str
    rule: str


@dataclass(frozen=True)
class Rule:
    """One row of the taxonomy table."""

    id: str
    category: Category
    matches: Callable[[Evidence], bool]
    reason: Callable[[Evidence], str]
    hint: str


# --------------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------------

_SECRET = re.compile(
    r"(?i)\b(password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key)"
    r"(\s*=\s*|:[ \t]*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_WHITESPACE = re.compile(r"\s+")


def _scrub(text: str) -> str:
    """Mask values that look like credentials; evidence should have none, this is a second fence."""
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2).strip() or '='}***", text)


def one_line(text: str, limit: int = REASON_MAX) -> str:
    """``text`` as one line of at most ``limit`` characters: secrets masked, whitespace collapsed,
    cut with an ellipsis."""
    text = _WHITESPACE.sub(" ", _scrub(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _q(text: str) -> str:
    """Quoted evidence inside a reason, short enough to leave room for the suffix."""
    return one_line(text, _QUOTE_MAX)


def _where(ev: Evidence) -> str:
    return f"(step {ev.step})" if ev.step else f"({ev.stage})"


#: Warnings printed on every run in some environments, next to the real error; they explain nothing.
#: sudo in containers ("setrlimit(RLIMIT_CORE): Operation not permitted", "unable to send audit
#: message"), sudo on hosts whose name does not resolve, apt's "unsandboxed as root ... (13: Permission
#: denied)" note. Without this filter they would pass for permission evidence.
_HARMLESS = re.compile(
    r"^sudo: (?:setrlimit\(|unable to (?:resolve host|send audit message))"
    r"|Download is performed unsandboxed as root",
    re.IGNORECASE,
)


def _lines(ev: Evidence) -> Iterator[str]:
    """Evidence lines in the order they explain a failure best: stderr, stdout, exception text."""
    for source in (ev.stderr, ev.stdout, ev.message):
        for line in source.splitlines():
            line = line.strip()
            if line and not _HARMLESS.search(line):
                yield line


def _first(ev: Evidence, pattern: re.Pattern[str]) -> str | None:
    return next((line for line in _lines(ev) if pattern.search(line)), None)


def _last_output(ev: Evidence) -> str | None:
    for source in (ev.stderr, ev.stdout):
        lines = [line.strip() for line in source.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return None


_ERROR_LINE = re.compile(r"^(?:E:|Error:|error:|ERROR:|Fatal:|fatal:)")


def _telling_line(ev: Evidence) -> str | None:
    """The stderr line that best explains a non-zero exit: the first ``E:``/``Error:`` line, else
    the last stderr line, else the last stdout line."""
    for line in ev.stderr.splitlines():
        if _ERROR_LINE.match(line.strip()):
            return line.strip()
    return _last_output(ev)


def _text_rule(pattern: re.Pattern[str]) -> tuple[Callable[[Evidence], bool], Callable[[Evidence], str]]:
    """Predicate and reason of a rule that fires on a line of command output matching ``pattern``;
    the reason quotes that line."""

    def matches(ev: Evidence) -> bool:
        return ev.stage == "command" and _first(ev, pattern) is not None

    def reason(ev: Evidence) -> str:
        return f"{_q(_first(ev, pattern) or '')} {_where(ev)}"

    return matches, reason


def _exc(ev: Evidence, names: frozenset[str]) -> bool:
    """Whether the exception is one of ``names`` (a dotted ``module.Name`` also matches)."""
    return ev.exception is not None and ev.exception.rsplit(".", 1)[-1] in names


def _message_or(ev: Evidence, default: str) -> str:
    return _q(ev.message) if ev.message.strip() else default


# --------------------------------------------------------------------------------------------------
# Evidence patterns
# --------------------------------------------------------------------------------------------------

_TIMEOUT_EXC = frozenset({"TimeoutError"})
_HOST_KEY_EXC = frozenset({"HostKeyNotVerifiable"})
_HOST_KEY_TEXT = re.compile(
    r"host key (?:is not trusted|mismatch|verification failed|has changed|is revoked)"
    r"|REMOTE HOST IDENTIFICATION HAS CHANGED",
    re.IGNORECASE,
)
_REFUSED_EXC = frozenset({"ConnectionRefusedError"})
_REFUSED_TEXT = re.compile(r"Connection refused|\[Errno (?:111|61)\]", re.IGNORECASE)
_DNS_EXC = frozenset({"gaierror", "herror"})
_DNS_TEXT = re.compile(
    r"Name or service not known|nodename nor servname|Temporary failure in name resolution"
    r"|No address associated with hostname|getaddrinfo failed|\[Errno -[235]\]",
    re.IGNORECASE,
)
_UNREACHABLE_TEXT = re.compile(
    r"No route to host|Network is unreachable|Host is unreachable|\[Errno (?:113|101|65|51)\]",
    re.IGNORECASE,
)
_RESET_EXC = frozenset(
    {"ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError", "ConnectionLost", "IncompleteReadError"}
)
_RESET_TEXT = re.compile(r"Connection reset by peer|Connection lost|Broken pipe", re.IGNORECASE)
_AUTH_EXC = frozenset({"PermissionDenied"})
_AUTH_TEXT = re.compile(
    r"Permission denied|Too many authentication failures|Authentication failed|No more authentication methods",
    re.IGNORECASE,
)
_AUTH_USER = re.compile(r"for user (\S+)(?: on host (\S+))?")
_UNSUPPORTED_OS = re.compile(r"unsupported OS", re.IGNORECASE)

_SUDO = re.compile(
    r"sudo: a password is required|sudo: a terminal is required|sudo: no tty present"
    r"|sudo: sorry, you must have a tty|is not in the sudoers file|is not allowed to (?:run sudo|execute)"
    r"|may not run sudo|sudo: account validation failure|sudo: PAM account management error",
    re.IGNORECASE,
)
_NOT_ROOT = re.compile(
    r"Permission denied|are you root\?|must be root|must be run as root|has to be run with superuser privileges"
    r"|Root privileges are required|need to be root|Operation not permitted|Insufficient privileges",
    re.IGNORECASE,
)
_DISK_FULL = re.compile(
    r"No space left on device|Disk quota exceeded|(?:don't|do not) have enough free space|ENOSPC",
    re.IGNORECASE,
)
_DPKG_BROKEN = re.compile(
    r"dpkg was interrupted, you must manually run|package lists or status file could not be parsed"
    r"|Problem with MergeList|dpkg: error: parsing file '/var/lib/dpkg",
    re.IGNORECASE,
)
_RPMDB_BROKEN = re.compile(
    r"rpmdb open failed|rpmdbNextIterator|error: db\d error|cannot open Packages (?:database|index)"
    r"|\bBDB\d{4}\b|Thread died in Berkeley DB|DB_RUNRECOVERY|database disk image is malformed",
    re.IGNORECASE,
)
_LOCK_HELD = re.compile(
    r"Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock directory"
    r"|Waiting for cache lock|dpkg frontend lock (?:is|was) locked by another process"
    r"|dpkg status database is locked|Waiting for process with pid|another copy is running"
    r"|Another app is currently holding the yum lock|can't create transaction lock"
    r"|System management is locked by the application with pid|Unable to lock database"
    r"|metadata already locked by",
    re.IGNORECASE,
)
_REPO_UNREACHABLE = re.compile(
    r"All mirrors were tried|Failed to download metadata for repo|Temporary failure resolving"
    r"|Could not resolve host|Could not resolve '|Failed to fetch|Repository '[^']*' is invalid"
    r"|Cannot retrieve repository metadata|Cannot find a valid baseurl for repo|Could not retrieve mirrorlist"
    r"|Curl error \(\d+\)|Download \(curl\) error|Problem retrieving files from"
    r"|Valid metadata not found at specified URL|Some index files failed to download"
    r"|Cannot download repomd\.xml"
    r"|Failed to synchronize cache for repo|have not been refreshed because of an error"
    r"|Could not refresh the repositories|Permission to access '[^']*' denied"
    r"|temporary error \(try again later\)|DNS lookup error|network error \(check Internet connection"
    r"|could not connect to server \(check repositories file\)",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"command not found|No such file or directory|: not found$|No such command"
    r"|Unknown command '|Invalid operation \S+|cannot execute binary file",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------


def _ssh_auth_reason(ev: Evidence) -> str:
    match = _AUTH_USER.search(ev.message)
    if match:
        host = f" on host {match.group(2)}" if match.group(2) else ""
        return f"SSH authentication denied for user {match.group(1)}{host} {_where(ev)}"
    return f"SSH authentication denied: {_message_or(ev, 'permission denied')} {_where(ev)}"


def _command_timeout_reason(ev: Evidence) -> str:
    base = _message_or(ev, "no answer within the command time limit")
    last = _last_output(ev)
    tail = f"; last output: {_q(last)}" if last else ""
    return f"{base} {_where(ev)}{tail}"


def _exit_reason(ev: Evidence) -> str:
    line = _telling_line(ev)
    detail = f": {_q(line)}" if line else ""
    return f"exit status {ev.exit_status}{detail} {_where(ev)}"


def _not_found_reason(ev: Evidence) -> str:
    line = _first(ev, _NOT_FOUND)
    if line:
        return f"{_q(line)} {_where(ev)}"
    return f"command not found (exit status {ev.exit_status}) {_where(ev)}"


def _fallback_reason(ev: Evidence) -> str:
    what = ev.exception or ("connection failed" if ev.stage != "command" else "step failed")
    detail = ev.message.strip() or (_last_output(ev) or "")
    return f"{what}: {_q(detail)} {_where(ev)}" if detail else f"{what} {_where(ev)}"


_sudo_matches, _sudo_reason = _text_rule(_SUDO)
_root_matches, _root_reason = _text_rule(_NOT_ROOT)
_disk_matches, _disk_reason = _text_rule(_DISK_FULL)
_dpkg_matches, _dpkg_reason = _text_rule(_DPKG_BROKEN)
_rpmdb_matches, _rpmdb_reason = _text_rule(_RPMDB_BROKEN)
_lock_matches, _lock_reason = _text_rule(_LOCK_HELD)
_repo_matches, _repo_reason = _text_rule(_REPO_UNREACHABLE)

RULES: tuple[Rule, ...] = (
    Rule(
        id="host_key.unverified",
        category=Category.HOST_KEY,
        matches=lambda ev: (
            _exc(ev, _HOST_KEY_EXC) or (ev.stage != "command" and bool(_HOST_KEY_TEXT.search(ev.message)))
        ),
        reason=lambda ev: f"host key not verifiable: {_message_or(ev, 'unknown or changed key')} {_where(ev)}",
        hint="The host's key is unknown or changed: a rebuild or an interception. Verify the fingerprint "
        "out of band before updating known_hosts; never turn host key checking off.",
    ),
    Rule(
        id="timeout.connect",
        category=Category.TIMEOUT,
        matches=lambda ev: ev.stage in ("connect", "auth") and (ev.timed_out or _exc(ev, _TIMEOUT_EXC)),
        reason=lambda ev: f"{_message_or(ev, f'no answer within the {ev.stage} time limit')} {_where(ev)}",
        hint="The host did not answer in time: is it up but overloaded, is a firewall dropping packets "
        "silently, is sshd hung (MaxStartups, DNS lookups on login)?",
    ),
    Rule(
        id="network.refused",
        category=Category.NETWORK,
        matches=lambda ev: _exc(ev, _REFUSED_EXC) or (ev.stage != "command" and bool(_REFUSED_TEXT.search(ev.message))),
        reason=lambda ev: f"connection refused: {_message_or(ev, 'nothing listens on the SSH port')} {_where(ev)}",
        hint="Nothing accepts connections on the SSH port: is sshd running, is the port right, does a "
        "firewall reject it?",
    ),
    Rule(
        id="network.dns",
        category=Category.NETWORK,
        matches=lambda ev: _exc(ev, _DNS_EXC) or (ev.stage != "command" and bool(_DNS_TEXT.search(ev.message))),
        reason=lambda ev: f"DNS lookup failed: {_message_or(ev, 'name not resolved')} {_where(ev)}",
        hint="The host name does not resolve: check the inventory address and the console's DNS resolver.",
    ),
    Rule(
        id="network.unreachable",
        category=Category.NETWORK,
        matches=lambda ev: ev.stage != "command" and bool(_UNREACHABLE_TEXT.search(ev.message)),
        reason=lambda ev: f"host unreachable: {_q(ev.message)} {_where(ev)}",
        hint="No route to the host: is it up, is the address right, is routing/VPN/security group in place?",
    ),
    Rule(
        id="network.reset",
        category=Category.NETWORK,
        matches=lambda ev: _exc(ev, _RESET_EXC) or (ev.stage != "command" and bool(_RESET_TEXT.search(ev.message))),
        reason=lambda ev: f"connection lost: {_message_or(ev, ev.exception or 'reset by peer')} {_where(ev)}",
        hint="The connection was reset or lost: check the host's uptime (reboot?), sshd logs, and any "
        "middlebox with idle timeouts.",
    ),
    Rule(
        id="network.dropped",
        category=Category.NETWORK,
        matches=lambda ev: ev.dropped and not ev.timed_out,
        reason=lambda ev: f"connection dropped mid-output: channel closed with no exit status {_where(ev)}",
        hint="The SSH channel closed before the command finished: check whether the host rebooted, sshd "
        "restarted, or the network flapped; the output received is partial and was not used.",
    ),
    Rule(
        id="permission.ssh_auth",
        category=Category.PERMISSION,
        matches=lambda ev: _exc(ev, _AUTH_EXC) or (ev.stage == "auth" and bool(_AUTH_TEXT.search(ev.message))),
        reason=_ssh_auth_reason,
        hint="The SSH login was refused: check the credential's user and key, the key in the user's "
        "authorized_keys, and sshd's AllowUsers/PubkeyAuthentication.",
    ),
    Rule(
        id="tool.unsupported_os",
        category=Category.TOOL,
        matches=lambda ev: ev.step == "os_release" and bool(_UNSUPPORTED_OS.search(ev.message)),
        reason=lambda ev: f"{_q(ev.message)} {_where(ev)}",
        hint="Scan_OS_Patch supports apt, dnf/yum, zypper and apk systems; remove this host from the "
        "task's targets or scan it with another tool.",
    ),
    Rule(
        id="permission.sudo",
        category=Category.PERMISSION,
        matches=_sudo_matches,
        reason=_sudo_reason,
        hint="sudo refused to run without a password: allow the scan user NOPASSWD for the package "
        "manager commands in sudoers (and no requiretty), or use a root credential.",
    ),
    Rule(
        id="permission.not_root",
        category=Category.PERMISSION,
        matches=_root_matches,
        reason=_root_reason,
        hint="The step needs root: set the credential's sudo mode to sudo (with NOPASSWD for the package "
        "manager), or use a root credential.",
    ),
    Rule(
        id="service.disk_full",
        category=Category.SERVICE,
        matches=_disk_matches,
        reason=_disk_reason,
        hint="A filesystem is full (often /var or /tmp): free space, then clean the package cache.",
    ),
    Rule(
        id="service.dpkg_broken",
        category=Category.SERVICE,
        matches=_dpkg_matches,
        reason=_dpkg_reason,
        hint="dpkg/apt state is broken: run 'dpkg --configure -a' (or repair /var/lib/apt/lists) on the host.",
    ),
    Rule(
        id="service.rpmdb_broken",
        category=Category.SERVICE,
        matches=_rpmdb_matches,
        reason=_rpmdb_reason,
        hint="The rpm database is damaged: back up /var/lib/rpm, then run 'rpm --rebuilddb' on the host.",
    ),
    Rule(
        id="service.lock_held",
        category=Category.SERVICE,
        matches=_lock_matches,
        reason=_lock_reason,
        hint="Another package manager process holds the lock (unattended-upgrades, dnf-automatic, "
        "packagekit, a stuck run): wait for it or find the pid; schedule scans away from auto-updates.",
    ),
    Rule(
        id="service.repo_unreachable",
        category=Category.SERVICE,
        matches=_repo_matches,
        reason=_repo_reason,
        hint="Repositories or mirrors are unreachable or invalid: check the host's DNS, proxy and outbound "
        "access, the repository configuration, and (SUSE/RHEL) the subscription.",
    ),
    Rule(
        id="timeout.command",
        category=Category.TIMEOUT,
        matches=lambda ev: ev.stage == "command" and (ev.timed_out or _exc(ev, _TIMEOUT_EXC)),
        reason=_command_timeout_reason,
        hint="The command did not finish in time: is the package manager hung or very slow (mirrors, "
        "a huge metadata refresh), or the host overloaded? Raise the command limit only if it is slow.",
    ),
    Rule(
        id="tool.unparseable",
        category=Category.TOOL,
        matches=lambda ev: _exc(ev, frozenset({"ParseError"})),
        reason=lambda ev: f"unparseable output of {ev.step or 'the command'}: {_message_or(ev, 'unknown format')}",
        hint="The package manager printed something the parser does not know: open the transcript; a "
        "different tool version or locale may need parser support.",
    ),
    Rule(
        id="tool.command_not_found",
        category=Category.TOOL,
        matches=lambda ev: (
            ev.stage == "command" and (ev.exit_status in (126, 127) or _first(ev, _NOT_FOUND) is not None)
        ),
        reason=_not_found_reason,
        hint="A command the step needs is missing on the image (e.g. needs-restarting comes with "
        "dnf-utils/yum-utils): install it, or exclude the host.",
    ),
    Rule(
        id="tool.signal",
        category=Category.TOOL,
        matches=lambda ev: ev.stage == "command" and bool(ev.exit_signal),
        reason=lambda ev: f"killed by signal {ev.exit_signal} {_where(ev)}",
        hint="The command was killed by a signal: check the host's kernel log (OOM killer) and whether "
        "someone killed the package manager.",
    ),
    Rule(
        id="tool.exit_status",
        category=Category.TOOL,
        matches=lambda ev: ev.stage == "command" and ev.exit_status not in (None, 0),
        reason=_exit_reason,
        hint="The package manager failed: run the step's command by hand on the host to see its full error.",
    ),
    Rule(
        id="network.fallback",
        category=Category.NETWORK,
        matches=lambda ev: ev.stage in ("connect", "auth"),
        reason=_fallback_reason,
        hint="The SSH connection failed: check that the host is up, sshd listens, and nothing in between "
        "blocks or breaks the connection.",
    ),
    Rule(
        id="tool.fallback",
        category=Category.TOOL,
        matches=lambda ev: True,
        reason=_fallback_reason,
        hint="The step failed without a recognised cause: open the host's transcript.",
    ),
)


def classify(ev: Evidence) -> Classification:
    """The category of a failed host: the first matching rule of :data:`RULES` (the last matches all).

    The reason is normalised here, whatever the rule built: one line, at most ``REASON_MAX``
    characters, secrets masked, never empty.
    """
    for rule in RULES:
        if rule.matches(ev):
            reason = one_line(rule.reason(ev)) or f"{rule.category.value} failure {_where(ev)}"
            return Classification(category=rule.category, reason=reason, hint=rule.hint, rule=rule.id)
    raise AssertionError("unreachable: the last rule matches every evidence")  # pragma: no cover

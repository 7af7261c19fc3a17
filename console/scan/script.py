"""The one-exec scan script: every Scan_OS_Patch step of a host in ONE SSH exec, framed by token markers.

Why: each step sent as its own exec costs a channel open and an exec request, two round trips plus the
client CPU of a channel, five times per host. Behind a WAN link (tens of ms) that is most of a host's scan
time. The script runs the same constant commands (``console.scan.commands``) in the same order, and stops
where the per-step scan would stop; the client then reads each step's output and exit status from the
script's output and applies exactly the per-step logic to it (``console.scan.executor``).

What is in the script: constant text built from the command table, chosen among four variants by two
booleans (refresh metadata or not; ``sudo -n`` on the refresh or not), plus ONE random token
(``secrets.token_hex``) per host and scan. Nothing an operator or a host types goes into it. It is POSIX
sh (the login shell runs it, as it runs the per-step commands today); globbing is off.

Framing. On both stdout and stderr, each step's output sits between a begin line and an end line:

    \\n<TOKEN>:B:<step>:<family or ->\\n   ...the step's own bytes, unchanged...   \\n<TOKEN>:E:<step>:<status>\\n

and after ``os_release`` a family line ``\\n<TOKEN>:F:<family or ->\\n`` on stdout. The newline in front of
every marker is the script's own, so a step whose output does not end in a newline is still recovered
byte for byte. A marker is only recognised with the exact token of this scan of this host: text a package
manager prints (repository metadata, package names) cannot open, close or re-status a step, because it
cannot know the token. (Code running on the host as the scan user could read the script from the process
list; such a host can print any result anyway, and no framing defends against it.)

The family is decided by the script itself (:data:`FAMILY_FUNCTION`, a small sh reading of
``/etc/os-release``); :func:`script_family` is the same rule in Python for the simulated hosts. The client
never trusts it: it parses os-release with its own parser and only uses a section whose step and command
are exactly the ones the per-step logic would run next; anything else falls back to per-step execution.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from console.scan.commands import COMMANDS, LIST_UPDATES_OK_EXIT, OS_RELEASE, Family, with_sudo

__all__ = [
    "FAMILY_FUNCTION",
    "ScriptDemux",
    "ScriptVariant",
    "build_script",
    "new_token",
    "parse_script",
    "script_command",
    "script_family",
    "script_steps",
    "stops_after",
]

#: The steps the script may run after ``os_release``, in the order the per-step scan runs them.
FAMILY_STEPS: tuple[str, ...] = ("refresh", "list_updates", "security", "installed", "reboot")

#: Longest marker line accepted (token, step, family, status); a longer "marker" is host output.
_MARKER_MAX = 128

#: sh function: read os-release on stdin, print the family (apt, dnf, yum, zypper, apk) or nothing.
#: Mirrors ``parsers.parse_os_release`` for ordinary files (ID first, then each ID_LIKE word; the yum/dnf
#: split on the major version). Odd files (escaped quotes, upper case) may get another answer here; the
#: client notices (family marker against its own parse) and runs the remaining steps one by one.
FAMILY_FUNCTION = r"""pw_family() {
  id=linux; like=; ver=
  while read -r l || [ -n "$l" ]; do
    case $l in
      ID=*) id=${l#ID=} ;;
      ID_LIKE=*) like=${l#ID_LIKE=} ;;
      VERSION_ID=*) ver=${l#VERSION_ID=} ;;
    esac
  done
  for v in id like ver; do
    eval "x=\$$v"
    case $x in
      \"*\") x=${x#\"}; x=${x%\"} ;;
      \'*\') x=${x#\'}; x=${x%\'} ;;
    esac
    eval "$v=\$x"
  done
  [ -n "$id" ] || id=linux
  f=
  for w in $id $like; do
    case $w in
      debian|ubuntu) f=apt ;;
      rhel|centos|fedora|rocky|almalinux|ol|amzn) f=rpm ;;
      suse|sles|sled|opensuse|opensuse*|sles*|sle-*) f=zypper ;;
      alpine) f=apk ;;
    esac
    [ -n "$f" ] && break
  done
  if [ "$f" = rpm ]; then
    f=dnf
    m=${ver%%[!0-9]*}
    if [ -n "$m" ]; then
      case $id in
        amzn) [ "$m" -lt 2023 ] && f=yum ;;
        fedora) [ "$m" -lt 22 ] && f=yum ;;
        *) [ "$m" -le 7 ] && f=yum ;;
      esac
    fi
  fi
  printf '%s' "$f"
}"""

_PREAMBLE = r"""pw_b() { printf '\n%s:B:%s:%s\n' "$T" "$1" "$2"; printf '\n%s:B:%s:%s\n' "$T" "$1" "$2" >&2; }
pw_e() { printf '\n%s:E:%s:%s\n' "$T" "$1" "$2" >&2; printf '\n%s:E:%s:%s\n' "$T" "$1" "$2"; }"""

_HEADER = "# patchwatch Scan_OS_Patch: read-only steps in one exec, each framed by this scan's token"
_TOKEN_LINE = re.compile(r"^T=([0-9a-f]{32})$", re.MULTILINE)


def new_token() -> str:
    """128 random bits, hex: the marker token of one scan of one host."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class ScriptVariant:
    """The two per-scan choices that shape the script (both booleans: no text comes from outside)."""

    refresh: bool
    sudo: bool


def script_command(step: str, family: Family | None, variant: ScriptVariant) -> str | None:
    """The command the script runs for ``step`` on ``family``: exactly what the per-step scan sends."""
    if step == "os_release":
        return OS_RELEASE
    if family is None:
        return None
    commands = COMMANDS[family]
    if step == "refresh":
        return with_sudo(commands.refresh, variant.sudo) if variant.refresh and commands.refresh else None
    command: str | None = getattr(commands, step)
    return command


def script_steps(family: Family, variant: ScriptVariant) -> list[tuple[str, str]]:
    """(step, command) the script runs after ``os_release`` on ``family``, in order (before stop rules)."""
    steps = []
    for step in FAMILY_STEPS:
        command = script_command(step, family, variant)
        if command is not None:
            steps.append((step, command))
    return steps


def stops_after(step: str, family: Family | None, status: int) -> bool:
    """Whether the script stops after ``step`` ended with ``status``: where the per-step scan stops on an
    exit status (os_release and refresh must exit 0; list_updates must exit with a family's OK code).
    Stops the per-step scan makes on content (parse errors, apt's refresh warnings) are the client's: the
    script may run a read-only step more, which the client then does not use."""
    if step in ("os_release", "refresh"):
        return status != 0
    if step == "list_updates" and family is not None:
        return status not in LIST_UPDATES_OK_EXIT[family]
    return False


def _ok_case(family: Family) -> str:
    return "|".join(str(code) for code in sorted(LIST_UPDATES_OK_EXIT[family]))


def _build_template(variant: ScriptVariant) -> str:
    lines = [_HEADER, "set -f", "T=@TOKEN@", _PREAMBLE, FAMILY_FUNCTION,
             "pw_b os_release -", OS_RELEASE, "s=$?", "pw_e os_release $s", '[ "$s" -eq 0 ] || exit 0',
             "f=$(pw_family </etc/os-release)", r"""printf '\n%s:F:%s\n' "$T" "${f:--}" """.rstrip(),
             'case "$f" in']
    for family in Family:
        lines.append(f"{family.value})")
        for step, command in script_steps(family, variant):
            lines += [f"  pw_b {step} {family.value}", f"  {command}", "  s=$?", f"  pw_e {step} $s"]
            if step in ("refresh",):
                lines.append('  [ "$s" -eq 0 ] || exit 0')
            elif step == "list_updates":
                lines.append(f'  case "$s" in {_ok_case(family)}) ;; *) exit 0 ;; esac')
        lines.append("  ;;")
    lines += ["esac", "exit 0", ""]
    return "\n".join(lines)


_TEMPLATES: dict[ScriptVariant, str] = {
    ScriptVariant(refresh, sudo): _build_template(ScriptVariant(refresh, sudo))
    for refresh in (False, True) for sudo in (False, True)
}


def build_script(token: str, variant: ScriptVariant) -> str:
    """The script for one host: a constant template and the token (checked to be 32 hex digits)."""
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        raise ValueError("the token must be 32 lowercase hex digits (new_token())")
    return _TEMPLATES[variant].replace("@TOKEN@", token, 1)


def parse_script(command: str) -> tuple[str, ScriptVariant] | None:
    """(token, variant) when ``command`` is exactly a scan script, else None (for the simulated hosts)."""
    if not command.startswith(_HEADER):
        return None
    match = _TOKEN_LINE.search(command)
    if match is None:
        return None
    token = match.group(1)
    for variant in _TEMPLATES:
        if build_script(token, variant) == command:
            return token, variant
    return None


def script_family(os_release: str) -> Family | None:
    """What :data:`FAMILY_FUNCTION` prints for this os-release text, in Python (the simulated hosts run
    the script's logic without a shell). Tested against the sh function on real ``/bin/sh``."""
    values = {"ID": "linux", "ID_LIKE": "", "VERSION_ID": ""}
    for raw in os_release.splitlines():
        line = raw.strip(" \t")
        for key in values:
            if line.startswith(key + "="):
                values[key] = line[len(key) + 1:]
                break
    for key, value in values.items():
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            values[key] = value[1:-1]
    os_id = values["ID"] or "linux"
    family: str | None = None
    for word in (*os_id.split(), *values["ID_LIKE"].split()):
        if word in ("debian", "ubuntu"):
            family = "apt"
        elif word in ("rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn"):
            family = "rpm"
        elif word in ("suse", "sles", "sled") or word.startswith(("opensuse", "sles", "sle-")):
            family = "zypper"
        elif word == "alpine":
            family = "apk"
        if family:
            break
    if family == "rpm":
        family = "dnf"
        digits = re.match(r"[0-9]*", values["VERSION_ID"]).group()  # type: ignore[union-attr]
        if digits:
            major = int(digits)
            limit = {"amzn": 2023, "fedora": 22}.get(os_id)
            if (major < limit) if limit is not None else (major <= 7):
                family = "yum"
    return Family(family) if family else None


# --------------------------------------------------------------------------------------------------
# Reading the framed output
# --------------------------------------------------------------------------------------------------

@dataclass
class ScriptDemux:
    """Splits ONE stream (stdout or stderr) of the script into step sections, incrementally.

    Feed chunks as they arrive (a marker may be cut anywhere); bytes are passed on as soon as they cannot
    be the start of a marker, so memory stays at one chunk plus one marker line whatever the host prints.
    ``on_content(step_or_None, data)`` gets the bytes (``None`` outside any step), ``on_marker(kind, fields)``
    each marker in order: ``B`` (step, family), ``E`` (step, status), ``F`` (family,).
    """

    token: str
    on_content: Callable[[str | None, bytes], None]
    on_marker: Callable[[str, tuple[str, ...]], None]
    section: str | None = None
    _buffer: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self._prefix = b"\n" + self.token.encode() + b":"

    def feed(self, data: bytes) -> None:
        self._buffer += data
        self._drain(final=False)

    def close(self) -> None:
        """End of stream: whatever is left is content."""
        self._drain(final=True)

    def _deliver(self, data: bytes | bytearray) -> None:
        if data:
            self.on_content(self.section, bytes(data))

    def _drain(self, final: bool) -> None:
        buf = self._buffer
        prefix = self._prefix
        while buf:
            at = buf.find(prefix)
            if at < 0:
                # Keep a tail that could be the start of a marker cut by the chunk boundary.
                keep = 0 if final else min(len(buf), len(prefix) - 1)
                self._deliver(buf[: len(buf) - keep])
                del buf[: len(buf) - keep]
                return
            self._deliver(buf[:at])
            del buf[:at]
            end = buf.find(b"\n", len(prefix), _MARKER_MAX + 1)
            if end < 0:
                if len(buf) <= _MARKER_MAX and not final:
                    return  # the rest of the marker line is still on its way
                self._deliver(buf[:1])  # not a marker line: the newline is content, look again after it
                del buf[:1]
                continue
            fields = self._parse(bytes(buf[len(prefix):end]))
            if fields is None:
                self._deliver(buf[:1])
                del buf[:1]
                continue
            del buf[: end + 1]
            kind = fields[0]
            if kind == "B":
                self.section = fields[1]
            elif kind == "E":
                self.section = None
            self.on_marker(kind, fields[1:])

    @staticmethod
    def _parse(line: bytes) -> tuple[str, ...] | None:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return None
        parts = tuple(text.split(":"))
        if parts[0] == "B" and len(parts) == 3 and parts[1] and parts[2]:
            return parts
        if parts[0] == "E" and len(parts) == 3 and parts[1] and re.fullmatch(r"-?[0-9]{1,3}", parts[2]):
            return parts
        if parts[0] == "F" and len(parts) == 2 and parts[1]:
            return parts
        return None

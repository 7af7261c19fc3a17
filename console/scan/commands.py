"""The fixed commands of the job Scan_OS_Patch, per package-manager family.

This is the contract between the scanner (which runs these strings over SSH and hands the output to
``console.scan.parsers``) and the simulated fleet in ``console.sim`` (which answers exactly these strings).
Every command is a constant: nothing an operator or a target types is ever put into a command line, so no
shell is built from user strings. ``sudo -n`` (never prompts) is prefixed only to steps that need root,
and only when the credential profile asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Step 1 for every target: identify the OS.
OS_RELEASE = "cat /etc/os-release"

#: Prefix for steps that need root when the credential's sudo mode is ``sudo``; ``-n`` makes sudo fail
#: at once ("sudo: a password is required") instead of waiting for a password that never comes.
SUDO_PREFIX = "sudo -n "


class Family(StrEnum):
    """Package-manager families Scan_OS_Patch understands."""

    APT = "apt"
    DNF = "dnf"
    YUM = "yum"
    ZYPPER = "zypper"
    APK = "apk"


@dataclass(frozen=True)
class FamilyCommands:
    """The commands of one family. ``None`` means the family has no such step.

    refresh         refreshes package metadata; needs root (run with SUDO_PREFIX when sudo mode is on).
    list_updates    lists packages that have an update; read-only, no root needed.
    security        lists security advisories/patches, where the family can tell; read-only.
    installed       lists installed versions, where ``list_updates`` does not print them; read-only.
    reboot          tells whether a reboot is pending; read-only.
    """

    refresh: str | None
    list_updates: str
    security: str | None
    installed: str | None
    reboot: str | None


#: Exit codes of ``list_updates`` that mean success. ``dnf/yum check-update`` exit 100 when updates
#: exist; that is a success, not a failure.
LIST_UPDATES_OK_EXIT: dict[Family, frozenset[int]] = {
    Family.APT: frozenset({0}),
    Family.DNF: frozenset({0, 100}),
    Family.YUM: frozenset({0, 100}),
    Family.ZYPPER: frozenset({0}),
    Family.APK: frozenset({0}),
}

COMMANDS: dict[Family, FamilyCommands] = {
    Family.APT: FamilyCommands(
        refresh="apt-get update -q",
        # LC_ALL=C keeps the output in the format the parser knows, whatever the target's locale.
        list_updates="LC_ALL=C apt list --upgradable",
        security=None,  # apt marks security updates through the suite name (e.g. jammy-security)
        installed=None,  # "[upgradable from: X]" carries the installed version
        reboot="if [ -f /var/run/reboot-required ]; then echo reboot-required; else echo no-reboot; fi",
    ),
    Family.DNF: FamilyCommands(
        refresh="dnf -q makecache",
        list_updates="dnf -q check-update",
        security="dnf -q updateinfo list --security",
        installed="rpm -qa --qf '%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'",
        # needs-restarting -r: exit 1 = reboot needed, 0 = not needed.
        reboot="needs-restarting -r",
    ),
    Family.YUM: FamilyCommands(
        refresh="yum -q makecache",
        list_updates="yum -q check-update",
        security="yum -q updateinfo list security",
        installed="rpm -qa --qf '%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'",
        reboot="needs-restarting -r",
    ),
    Family.ZYPPER: FamilyCommands(
        refresh="zypper --non-interactive refresh",
        list_updates="zypper --non-interactive --no-color list-updates",
        security="zypper --non-interactive --no-color list-patches --category security",
        installed=None,  # the list-updates table has a "Current Version" column
        # zypper needs-rebooting: exit 102 = reboot needed, 0 = not needed.
        reboot="zypper needs-rebooting",
    ),
    Family.APK: FamilyCommands(
        refresh="apk update",
        list_updates="apk list --upgradable",
        security=None,  # apk has no advisory metadata
        installed=None,  # "[upgradable from: X]" carries the installed version
        reboot=None,  # Alpine has no standard reboot-pending marker
    ),
}


def with_sudo(command: str, use_sudo: bool) -> str:
    """The command as it is sent: prefixed with ``sudo -n`` when the step needs root and sudo is on."""
    return SUDO_PREFIX + command if use_sudo else command

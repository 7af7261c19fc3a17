"""The simulated outputs, without SSH: every family's rendering parses back into exactly the planted
packages, and the format details a real tool has (and a parser must survive) are really there."""

from __future__ import annotations

import random
import re

import pytest

from console.scan.commands import COMMANDS, OS_RELEASE, Family, with_sudo
from console.scan.parsers import ParseError, parse_os_release, parse_reboot, parse_updates
from console.sim.distros import DISTROS, Package, calc_columns, format_columns, plant_packages, respond

SEEDS = range(25)


def outputs(distro: str, packages: list[Package], reboot: bool = False) -> dict[str, tuple[str, int | None]]:
    """stdout and exit status of every command of the distro's family."""
    result = {}
    commands = COMMANDS[DISTROS[distro].family]
    for step in ("list_updates", "security", "installed", "reboot"):
        command = getattr(commands, step)
        if command is not None:
            reply = respond(distro, packages, command, reboot_pending=reboot)
            result[step] = (reply.stdout, reply.exit_status)
    return result


def assert_parses_to_planted(distro: str, packages: list[Package], reboot: bool) -> None:
    profile = DISTROS[distro]
    family = profile.family
    out = outputs(distro, packages, reboot)
    list_text, list_exit = out["list_updates"]
    assert list_exit in {0, 100} if family in (Family.DNF, Family.YUM) else list_exit == 0
    if family in (Family.DNF, Family.YUM):
        assert list_exit == (100 if packages else 0)
    report = parse_updates(
        family,
        list_text,
        out["security"][0] if "security" in out else None,
        out["installed"][0] if "installed" in out else None,
    )
    parsed = {p.name: p for p in report.packages}
    assert sorted(parsed) == sorted(p.name for p in packages)
    for planted in packages:
        got = parsed[planted.name]
        assert (got.installed, got.available, got.arch) == (planted.installed, planted.available, planted.arch)
        if family in (Family.APT, Family.DNF, Family.YUM):
            assert got.security is planted.security, planted
        else:
            assert got.security is None
    if family is Family.ZYPPER:
        assert report.security_count == len({p.advisory for p in packages if p.security})
    elif family is Family.APK:
        assert report.security_count is None
    else:
        assert report.security_count == sum(p.security for p in packages)
    if "reboot" in out:
        stdout, status = out["reboot"]
        assert parse_reboot(family, status, stdout) is reboot
    os_info = parse_os_release(respond(distro, packages, OS_RELEASE).stdout)
    assert os_info.family is family


@pytest.mark.parametrize("distro", sorted(DISTROS))
def test_every_family_output_parses_into_the_planted_packages(distro: str) -> None:
    profile = DISTROS[distro]
    for seed in SEEDS:
        rng = random.Random(seed)
        count = rng.randint(0, len(profile.catalog))
        packages = plant_packages(distro, rng, count)
        assert_parses_to_planted(distro, packages, reboot=seed % 2 == 0)


@pytest.mark.parametrize("distro", sorted(DISTROS))
def test_planting_is_deterministic_and_realistic(distro: str) -> None:
    first = plant_packages(distro, random.Random(5), 12)
    again = plant_packages(distro, random.Random(5), 12)
    assert first == again
    assert len({p.name for p in first}) == 12
    assert all(p.installed != p.available for p in first)
    if distro == "alpine-3.19":
        assert not any(p.security for p in first)  # apk cannot tell: the ground truth says so
    else:
        many = plant_packages(distro, random.Random(1), len(DISTROS[distro].catalog))
        assert 0 < sum(p.security for p in many) < len(many)
        assert all(p.advisory for p in many if p.security)
    with pytest.raises(ValueError):
        plant_packages(distro, random.Random(1), len(DISTROS[distro].catalog) + 1)


def test_at_least_the_six_required_distros() -> None:
    families = {key: p.family for key, p in DISTROS.items()}
    assert families["ubuntu-22.04"] is Family.APT
    assert families["debian-12"] is Family.APT
    assert families["rocky-9"] is Family.DNF
    assert families["amzn-2"] is Family.YUM
    assert families["opensuse-leap-15.5"] is Family.ZYPPER
    assert families["alpine-3.19"] is Family.APK


def test_apt_format_byte_for_byte() -> None:
    pkg = Package("curl", "7.81.0-1ubuntu1.15", "7.81.0-1ubuntu1.16", "amd64", "jammy-updates,jammy-security", True)
    reply = respond("ubuntu-22.04", [pkg], COMMANDS[Family.APT].list_updates)
    assert reply.stdout == (
        "Listing...\ncurl/jammy-updates,jammy-security 7.81.0-1ubuntu1.16 amd64 "
        "[upgradable from: 7.81.0-1ubuntu1.15]\n"
    )
    assert "WARNING: apt does not have a stable CLI interface" in reply.stderr
    assert reply.exit_status == 0
    assert respond("ubuntu-22.04", [], COMMANDS[Family.APT].list_updates).stdout == "Listing...\n"
    refresh = respond("ubuntu-22.04", [], with_sudo(COMMANDS[Family.APT].refresh, True))
    assert refresh.stdout.startswith("Hit:1 http://archive.ubuntu.com/ubuntu jammy InRelease\n")
    assert refresh.stdout.endswith("Reading package lists...\n")


def test_dnf_formats() -> None:
    packages = [
        Package("openssl-libs", "1:3.0.7-24.el9", "1:3.0.7-25.el9_3", "x86_64", "baseos", True, "RHSA-2024:0010",
                "Important"),
        Package("tzdata", "2023c-1.el9", "2024a-1.el9", "noarch", "baseos", False),
    ]
    commands = COMMANDS[Family.DNF]
    listing = respond("rocky-9", packages, commands.list_updates)
    assert listing.exit_status == 100
    lines = listing.stdout.split("\n")
    assert lines[0] == ""  # the (empty) list title dnf prints first, even with -q
    assert re.match(r"^openssl-libs\.x86_64 +1:3\.0\.7-25\.el9_3 +baseos$", lines[1])
    assert len(lines[1]) == 80  # laid out for an 80-column terminal
    assert respond("rocky-9", [], commands.list_updates).exit_status == 0
    security = respond("rocky-9", packages, commands.security)
    assert security.stdout == "RHSA-2024:0010 Important/Sec. openssl-libs-1:3.0.7-25.el9_3.x86_64\n"
    installed = respond("rocky-9", packages, commands.installed).stdout.splitlines()
    assert "openssl-libs.x86_64 1:3.0.7-24.el9" in installed
    assert "tzdata.noarch 0:2023c-1.el9" in installed
    assert any(line.startswith("gpg-pubkey.(none) 0:") for line in installed)
    assert sum(line.startswith("kernel.x86_64 ") for line in installed) == 2  # install-only: two kernels
    reboot = respond("rocky-9", [], commands.reboot, reboot_pending=True)
    assert reboot.exit_status == 1 and "Reboot is required to fully utilize these updates." in reboot.stdout
    no_reboot = respond("rocky-9", [], commands.reboot)
    assert no_reboot.exit_status == 0
    assert no_reboot.stdout.startswith("No core libraries or services have been updated since boot-up.")


def test_long_names_wrap_like_dnf_and_still_parse() -> None:
    long_name = "python3-some-extraordinarily-long-package-name-for-wrapping"
    packages = [
        Package(long_name, "1.0-1.el9", "1.0-2.el9", "noarch", "appstream", False),
        Package("bash", "5.1.8-6.el9", "5.1.8-9.el9", "x86_64", "baseos", False),
    ]
    text = respond("rocky-9", packages, COMMANDS[Family.DNF].list_updates).stdout
    wrapped = text.split("\n")
    index = wrapped.index(f"{long_name}.noarch")
    assert wrapped[index + 1].startswith(" ") and "1.0-2.el9" in wrapped[index + 1]
    report = parse_updates(Family.DNF, text, "", None)
    assert {p.name: p.available for p in report.packages} == {long_name: "1.0-2.el9", "bash": "5.1.8-9.el9"}


def test_calc_columns_fills_the_terminal_width() -> None:
    widths = calc_columns([[14, 20], [16], [6, 9]])
    assert sum(widths) + 2 == 80
    row = format_columns(["a.x86_64", "1-1", "baseos"], widths)
    assert len(row) == 80 and row.startswith("a.x86_64 ")


def test_zypper_and_apk_formats() -> None:
    zypper = COMMANDS[Family.ZYPPER]
    pkg = Package("curl", "8.0.1-150400.5.41.1", "8.0.1-150400.5.44.1", "x86_64", "Main Update Repository", True,
                  "openSUSE-2024-1234", "important", "curl")
    listing = respond("opensuse-leap-15.5", [pkg], zypper.list_updates).stdout.splitlines()
    assert listing[:2] == ["Loading repository data...", "Reading installed packages..."]
    assert listing[2].startswith("S  | Repository") and listing[2].endswith("| Arch")
    assert listing[3].startswith("---+")
    assert listing[4].startswith("v  | Main Update Repository | curl ")
    patches = respond("opensuse-leap-15.5", [pkg], zypper.security).stdout
    assert "| openSUSE-2024-1234 | security | important |" in patches
    assert patches.endswith("Found 1 applicable patch:\n1 patch needed (1 security patch)\n")
    empty = respond("opensuse-leap-15.5", [], zypper.list_updates)
    assert empty.stdout.endswith("No updates found.\n") and empty.exit_status == 0
    assert respond("opensuse-leap-15.5", [], zypper.reboot, reboot_pending=True).exit_status == 102
    assert respond("opensuse-leap-15.5", [], zypper.reboot).exit_status == 0

    apk = Package("busybox", "1.36.1-r15", "1.36.1-r17", "x86_64", "", False, source="busybox")
    line = respond("alpine-3.19", [apk], COMMANDS[Family.APK].list_updates).stdout
    assert line == "busybox-1.36.1-r17 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r15]\n"
    assert respond("alpine-3.19", [], COMMANDS[Family.APK].list_updates).stdout == ""


def test_unknown_commands_and_sudo() -> None:
    unknown = respond("ubuntu-22.04", [], "frobnicate --all")
    assert (unknown.stderr, unknown.exit_status) == ("bash: line 1: frobnicate: command not found\n", 127)
    assert respond("alpine-3.19", [], "dnf -q check-update").stderr == "ash: dnf: not found\n"
    assert respond("amzn-2", [], "zypper refresh").stderr == "bash: zypper: command not found\n"
    under_sudo = respond("ubuntu-22.04", [], "sudo -n frobnicate")
    assert (under_sudo.stderr, under_sudo.exit_status) == ("sudo: frobnicate: command not found\n", 1)
    # every command of the contract is answered with and without the sudo prefix
    for distro, profile in DISTROS.items():
        commands = COMMANDS[profile.family]
        for step in ("refresh", "list_updates", "security", "installed", "reboot"):
            command = getattr(commands, step)
            if command is None or command.startswith("if "):
                continue
            for sudo in (False, True):
                reply = respond(distro, [], with_sudo(command, sudo), root=True)
                assert reply.exit_status not in (1, 127) or step == "reboot", (distro, step, sudo, reply)
    # apt's reboot check is shell syntax: sudo cannot run it
    apt_reboot = respond("ubuntu-22.04", [], with_sudo(COMMANDS[Family.APT].reboot or "", True))
    assert apt_reboot.stderr == "sudo: if: command not found\n"
    denied = respond("ubuntu-22.04", [], "sudo -n apt-get update -q", sudo_allowed=False)
    assert (denied.stderr, denied.exit_status) == ("sudo: a password is required\n", 1)


@pytest.mark.parametrize("distro", sorted(DISTROS))
def test_refresh_needs_root_where_the_tool_does(distro: str) -> None:
    profile = DISTROS[distro]
    refresh = COMMANDS[profile.family].refresh or ""
    as_user = respond(distro, [], refresh)
    as_root = respond(distro, [], with_sudo(refresh, True))
    assert as_root.exit_status == 0
    if profile.family in (Family.DNF, Family.YUM):
        assert as_user.exit_status == 0  # dnf/yum refresh a per-user cache instead
    else:
        assert as_user.exit_status != 0
        assert re.search(r"Permission denied|Root privileges", as_user.stderr)


def test_garbage_does_not_parse() -> None:
    from console.sim.distros import garbage_text

    for distro, profile in DISTROS.items():
        with pytest.raises(ParseError):
            parse_updates(profile.family, garbage_text(distro), "", "")

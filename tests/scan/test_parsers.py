"""Tests of console.scan.parsers against recorded-style outputs of the exact Scan_OS_Patch commands.

The fixtures under ``fixtures/`` are written to look like what each tool prints for the command in
``console.scan.commands`` (column layout, noise lines, version formats). The rule under test
everywhere: a known output parses, an empty list parses as zero packages, anything else raises
ParseError (never a silent "0 updates").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.errors import PatchwatchError
from console.scan.commands import COMMANDS, Family
from console.scan.parsers import (
    OsInfo,
    Package,
    ParseError,
    UpdateReport,
    parse_apk_upgradable,
    parse_apt_upgradable,
    parse_dnf_check_update,
    parse_os_release,
    parse_reboot,
    parse_updates,
    parse_zypper_list_updates,
    rpm_evr_compare,
    rpm_vercmp,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(relpath: str) -> str:
    return (FIXTURES / relpath).read_text(encoding="utf-8")


def by_name(report: UpdateReport) -> dict[str, Package]:
    return {p.name: p for p in report.packages}


# --------------------------------------------------------------------------------------------------
# os-release
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "os_id", "version_id", "pretty", "family"),
    [
        ("ubuntu-22.04", "ubuntu", "22.04", "Ubuntu 22.04.4 LTS", Family.APT),
        ("debian-12", "debian", "12", "Debian GNU/Linux 12 (bookworm)", Family.APT),
        ("rocky-9", "rocky", "9.4", "Rocky Linux 9.4 (Blue Onyx)", Family.DNF),
        ("amzn-2", "amzn", "2", "Amazon Linux 2", Family.YUM),
        ("amzn-2023", "amzn", "2023", "Amazon Linux 2023.5.20240805", Family.DNF),
        ("centos-7", "centos", "7", "CentOS Linux 7 (Core)", Family.YUM),
        ("opensuse-leap-15.5", "opensuse-leap", "15.5", "openSUSE Leap 15.5", Family.ZYPPER),
        ("sles-15-sp5", "sles", "15.5", "SUSE Linux Enterprise Server 15 SP5", Family.ZYPPER),
        ("alpine-3.19", "alpine", "3.19.1", "Alpine Linux v3.19", Family.APK),
        ("arch", "arch", "", "Arch Linux", None),
        ("freebsd-14", "freebsd", "14.1", "FreeBSD 14.1-RELEASE", None),
    ],
)
def test_os_release_fixtures(name: str, os_id: str, version_id: str, pretty: str, family: Family | None) -> None:
    info = parse_os_release(fixture(f"os-release/{name}"))
    assert (info.id, info.version_id, info.pretty_name, info.family) == (os_id, version_id, pretty, family)


def test_os_release_keeps_id_like_in_order() -> None:
    assert parse_os_release(fixture("os-release/rocky-9")).id_like == ("rhel", "centos", "fedora")


@pytest.mark.parametrize(
    ("text", "family"),
    [
        # derivatives resolve through ID_LIKE, in order
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.3"\n', Family.APT),
        ('ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n', Family.DNF),
        ('ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="7.9"\n', Family.YUM),
        ('ID="ol"\nID_LIKE="fedora"\nVERSION_ID="7.9"\n', Family.YUM),
        ('ID="ol"\nID_LIKE="fedora"\nVERSION_ID="8.9"\n', Family.DNF),
        ('ID=fedora\nVERSION_ID=40\n', Family.DNF),
        ('ID=fedora\nVERSION_ID=21\n', Family.YUM),
        ('ID="amzn"\nVERSION_ID="2018.03"\n', Family.YUM),  # Amazon Linux 1
        ('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\nVERSION_ID="20240801"\n', Family.ZYPPER),
        ('ID="sle-micro"\nID_LIKE="suse"\nVERSION_ID="5.5"\n', Family.ZYPPER),
        ('ID=postmarketos\nID_LIKE="alpine"\nVERSION_ID=v24.06\n', Family.APK),
        ('ID="centos"\nID_LIKE="rhel fedora"\n', Family.DNF),  # no VERSION_ID: the modern default
        ("ID=gentoo\n", None),
        ('NAME="Mystery"\n', None),  # no ID: the spec's default "linux", unsupported
    ],
)
def test_os_release_family_rules(text: str, family: Family | None) -> None:
    assert parse_os_release(text).family is family


def test_os_release_quoting_comments_and_defaults() -> None:
    text = (
        "# written by the image builder\n"
        "\n"
        "NAME='Example Linux'\n"
        'PRETTY_NAME="Example \\"Quoted\\" Linux"\n'
        "ID=Debian\n"
        "not an assignment line\n"
    )
    info = parse_os_release(text)
    assert info == OsInfo(
        id="debian", id_like=(), version_id="", pretty_name='Example "Quoted" Linux', family=Family.APT
    )


def test_os_release_missing_id_defaults_to_linux_and_pretty_name_falls_back_to_name() -> None:
    info = parse_os_release('NAME="Mystery OS"\n')
    assert (info.id, info.pretty_name, info.family) == ("linux", "Mystery OS", None)


@pytest.mark.parametrize("text", ["", "\n\n", fixture("os-release/malformed"), "cat: /etc/os-release: nope"])
def test_os_release_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError, match="/etc/os-release"):
        parse_os_release(text)


# --------------------------------------------------------------------------------------------------
# apt
# --------------------------------------------------------------------------------------------------


def test_apt_ubuntu_2204() -> None:
    report = parse_apt_upgradable(fixture("apt/ubuntu-22.04-upgradable.txt"))
    assert report.total == 12
    assert report.security_count == 8
    pkgs = by_name(report)
    assert pkgs["libssl3"] == Package(
        name="libssl3",
        installed="3.0.2-0ubuntu1.15",
        available="3.0.2-0ubuntu1.18",
        arch="amd64",
        repository="jammy-updates,jammy-security",
        security=True,
    )
    assert pkgs["vim"].available == "2:8.2.3995-1ubuntu2.17"  # epoch kept
    assert pkgs["cloud-init"].security is False
    assert pkgs["cloud-init"].arch == "all"
    assert pkgs["ubuntu-advantage-tools"].installed == "31.2.3~22.04"


def test_apt_debian_12_stable_security_suite() -> None:
    report = parse_apt_upgradable(fixture("apt/debian-12-upgradable.txt"))
    pkgs = by_name(report)
    assert report.total == 11
    assert report.security_count == 7
    assert pkgs["openssh-server"].security is True
    assert pkgs["openssh-server"].repository == "stable-security"
    assert pkgs["libc6"].security is False  # a point-release update, not a DSA
    assert pkgs["tzdata"].repository == "stable-updates"


@pytest.mark.parametrize("text", [fixture("apt/empty.txt"), "Listing... Done\n", "\nListing...\n\n"])
def test_apt_empty_list_is_zero_updates(text: str) -> None:
    assert parse_apt_upgradable(text) == UpdateReport(packages=(), security_count=0)


def test_apt_malformed_raises_with_line_number() -> None:
    with pytest.raises(ParseError) as info:
        parse_apt_upgradable(fixture("apt/malformed.txt"))
    assert info.value.lineno == 2
    assert "line 2" in str(info.value)
    assert "Reading package lists" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "",  # apt always prints the header: an empty stdout is not "no updates"
        "libssl3/jammy-security 3.0.2 amd64 [upgradable from: 3.0.1]\n",  # header missing
        "Listing...\nlibssl3/jammy-security 3.0.2 amd64\n",  # no "upgradable from"
        "Listing...\nE: Could not open lock file /var/lib/dpkg/lock-frontend\n",
    ],
)
def test_apt_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_apt_upgradable(text)


def test_apt_notices_ignored_and_esm_security_suites_recognised() -> None:
    text = (
        "Listing...\r\n"
        "libxml2/jammy-apps-security 2.9.13+dfsg-1ubuntu0.4+esm1 amd64 [upgradable from: 2.9.13+dfsg-1ubuntu0.4]\r\n"
        "N: There is 1 additional version. Please use the '-a' switch to see it\r\n"
    )
    report = parse_apt_upgradable(text)
    assert [p.name for p in report.packages] == ["libxml2"]
    assert report.security_count == 1


# --------------------------------------------------------------------------------------------------
# dnf / yum
# --------------------------------------------------------------------------------------------------


def _dnf(prefix: str) -> UpdateReport:
    return parse_dnf_check_update(
        fixture(f"{prefix}-check-update.txt"),
        fixture(f"{prefix}-updateinfo-security.txt"),
        fixture(f"{prefix}-rpm-qa.txt"),
    )


def test_dnf_rocky_9_full_report() -> None:
    report = _dnf("dnf/rocky-9")
    pkgs = by_name(report)
    assert report.total == 19  # the obsoleting kernel-core is listed once
    assert report.security_count == 13
    assert pkgs["openssh-server"] == Package(
        name="openssh-server",
        installed="8.7p1-38.el9",  # rpm's "0:" epoch dropped
        available="8.7p1-38.el9_4.4",
        arch="x86_64",
        repository="baseos",
        security=True,
    )
    assert pkgs["NetworkManager"].installed == "1:1.46.0-8.el9_4"  # a real epoch kept
    assert pkgs["NetworkManager"].available == "1:1.46.0-19.el9_4"
    assert pkgs["kernel"].installed == "5.14.0-427.13.1.el9_4"  # the newest of two installed kernels
    assert pkgs["tzdata"].security is False


def test_dnf_wrapped_long_name_is_one_record() -> None:
    pkg = by_name(_dnf("dnf/rocky-9"))["python3-dnf-plugin-post-transaction-actions"]
    assert (pkg.arch, pkg.available, pkg.repository, pkg.installed) == (
        "noarch",
        "4.3.0-13.el9",
        "baseos",
        "4.3.0-11.el9",
    )


def test_yum_amazon_linux_2() -> None:
    report = _dnf("yum/amzn-2")
    pkgs = by_name(report)
    assert report.total == 11
    assert report.security_count == 6  # openssl-libs has two advisories, counted once
    assert pkgs["openssl-libs"].security is True
    assert pkgs["openssl-libs"].installed == "1:1.0.2k-24.amzn2.0.11"
    assert pkgs["kernel"].installed == "4.14.343-261.564.amzn2"
    assert pkgs["python"].security is False


def test_yum_centos_7_obsoleting_section() -> None:
    report = _dnf("yum/centos-7")
    pkgs = by_name(report)
    assert report.total == 16
    assert "iwl7265-firmware" not in pkgs  # the obsoleted (installed) package is not an update
    firmware = pkgs["iwl7260-firmware"]
    assert (firmware.available, firmware.installed, firmware.repository) == ("25.30.13.0-83.el7_9", None, "updates")
    assert pkgs["bind-export-libs"].installed == "32:9.11.4-26.P2.el7_9.15"
    # CentOS 7 repositories carry no advisories: an empty security listing marks nothing.
    assert report.security_count == 0
    assert all(p.security is False for p in report.packages)


def test_dnf_without_security_or_installed_steps() -> None:
    report = parse_dnf_check_update(fixture("dnf/rocky-9-check-update.txt"), None, None)
    assert report.total == 19
    assert report.security_count is None
    assert all(p.security is None and p.installed is None for p in report.packages)


@pytest.mark.parametrize("text", [fixture("dnf/empty.txt"), "", "\n\n"])
def test_dnf_empty_check_update_is_zero_updates(text: str) -> None:
    assert parse_dnf_check_update(text, "", "") == UpdateReport((), 0)
    assert parse_dnf_check_update(text, None, None) == UpdateReport((), None)


@pytest.mark.parametrize("relpath", ["dnf/malformed.txt", "yum/malformed.txt"])
def test_dnf_malformed_raises(relpath: str) -> None:
    with pytest.raises(ParseError, match="check-update, line"):
        parse_dnf_check_update(fixture(relpath), None, None)


def test_yum_noise_lines_are_ignored() -> None:
    text = (
        "Loaded plugins: fastestmirror, langpacks\n"
        "              : subscription-manager\n"
        "Loading mirror speeds from cached hostfile\n"
        " * base: mirror.example.net\n"
        " * updates: mirror.example.net\n"
        "\n"
        "openssh.x86_64                          7.4p1-23.el7_9                       updates\n"
    )
    assert [p.name for p in parse_dnf_check_update(text, None, None).packages] == ["openssh"]


def test_dnf_running_kernel_notes_and_metadata_age_are_ignored() -> None:
    text = (
        "Last metadata expiration check: 0:12:08 ago on Mon 05 Aug 2024 09:14:02 AM UTC.\n"
        "Security: kernel-core-5.14.0-427.28.1.el9_4.x86_64 is an installed security update\n"
        "Security: kernel-core-5.14.0-427.13.1.el9_4.x86_64 is the currently running version\n"
        "\n"
        "tzdata.noarch                                   2024a-2.el9                      baseos\n"
    )
    notes_only = "\n".join(text.splitlines()[:3]) + "\n"
    report = parse_dnf_check_update(text, notes_only, None)
    assert [p.name for p in report.packages] == ["tzdata"]
    assert report.security_count == 0


def test_dnf_wrap_of_repository_column() -> None:
    text = (
        "texlive-collection-latexrecommended.noarch  9:20200406-26.el9\n"
        "                                                                 appstream\n"
    )
    (pkg,) = parse_dnf_check_update(text, None, None).packages
    assert (pkg.name, pkg.available, pkg.repository) == (
        "texlive-collection-latexrecommended",
        "9:20200406-26.el9",
        "appstream",
    )


def test_dnf5_check_upgrade_layout() -> None:
    text = (
        "Upgrades\n"
        "curl.x86_64                       8.6.0-10.fc40       updates\n"
        "libcurl.x86_64                    8.6.0-10.fc40       updates\n"
        "\n"
        "Obsoleting packages\n"
        "libcurl.x86_64                    8.6.0-10.fc40       updates\n"
        "    libcurl-minimal.x86_64        8.6.0-7.fc40        updates\n"
    )
    report = parse_dnf_check_update(text, None, None)
    assert [p.name for p in report.packages] == ["curl", "libcurl"]


def test_dnf5_updateinfo_table() -> None:
    check = "curl.x86_64   8.6.0-10.fc40   updates\nvim-minimal.x86_64   2:9.1.393-1.fc40   updates\n"
    security = (
        "Name                  Type        Severity                  Package              Issued\n"
        "FEDORA-2024-8b2a10c1bf security   Moderate    curl-8.6.0-10.fc40.x86_64 2024-07-27 01:11:35\n"
    )
    report = parse_dnf_check_update(check, security, None)
    assert by_name(report)["curl"].security is True
    assert by_name(report)["vim-minimal"].security is False
    assert report.security_count == 1


def test_dnf_only_security_advisories_mark_packages() -> None:
    check = "curl.x86_64   8.6.0-10.fc40   updates\n"
    advisories = "FEDORA-2024-0001 bugfix      curl-8.6.0-10.fc40.x86_64\n"
    assert parse_dnf_check_update(check, advisories, None).security_count == 0


@pytest.mark.parametrize(
    "text",
    [
        "kernel.x86_64\n",  # record never completed
        "kernel.x86_64   5.14.0-427.28.1.el9_4\n\nbaseos\n",  # cut by a blank line
        "kernel.x86_64   5.14.0-427.28.1.el9_4   baseos   extra\n",  # four columns
        "kernel   5.14.0-427.28.1.el9_4   baseos\n",  # no .arch
        "kernel.x86_64   latest   baseos\n",  # not version-release
        "    kernel.x86_64   5.14.0-427.28.1.el9_4   baseos\n",  # indented outside Obsoleting
        "kernel.x86_64\nopenssl.x86_64   1:3.0.7-27.el9   baseos\n",  # wrap continued unindented
    ],
)
def test_dnf_bad_records_raise(text: str) -> None:
    with pytest.raises(ParseError, match="check-update"):
        parse_dnf_check_update(text, None, None)


@pytest.mark.parametrize("security", ["Error: updateinfo metadata is damaged\n", "RHSA-2024:1 Important/Sec.\n"])
def test_dnf_garbage_security_text_raises(security: str) -> None:
    with pytest.raises(ParseError, match="updateinfo"):
        parse_dnf_check_update(fixture("dnf/rocky-9-check-update.txt"), security, None)


def test_dnf_garbage_installed_text_raises() -> None:
    with pytest.raises(ParseError, match="rpm -qa, line 2"):
        parse_dnf_check_update(fixture("dnf/rocky-9-check-update.txt"), None, "bash.x86_64 0:5.1.8-9.el9\nbash\n")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0", "1.1", -1),
        ("2.0", "10.0", -1),
        ("427.28.1.el9_4", "70.13.1.el9_0", 1),
        ("010", "10", 0),
        ("1.0a", "1.0", 1),
        ("1.a", "1.1", -1),  # numbers are newer than letters
        ("1.0~rc1", "1.0", -1),  # tilde: pre-release
        ("1.0^git1", "1.0", 1),  # caret: post-release snapshot
        ("1.0^git1", "1.0.1", -1),
        ("8.7p1", "8.7p1", 0),
        ("el9_4.4", "el9_4.10", -1),
    ],
)
def test_rpm_vercmp(a: str, b: str, expected: int) -> None:
    assert rpm_vercmp(a, b) == expected
    assert rpm_vercmp(b, a) == -expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1:1.0-1", "2.0-1", 1),
        ("0:1.0-1", "1.0-1", 0),
        ("1.0-2", "1.0-10", -1),
        ("5.14.0-427.13.1.el9_4", "5.14.0-70.13.1.el9_0", 1),
    ],
)
def test_rpm_evr_compare(a: str, b: str, expected: int) -> None:
    assert rpm_evr_compare(a, b) == expected


# --------------------------------------------------------------------------------------------------
# zypper
# --------------------------------------------------------------------------------------------------


def test_zypper_leap_15_5() -> None:
    report = parse_zypper_list_updates(
        fixture("zypper/leap-15.5-list-updates.txt"), fixture("zypper/leap-15.5-list-patches-security.txt")
    )
    pkgs = by_name(report)
    assert report.total == 11
    assert report.security_count == 4
    assert pkgs["kernel-default"] == Package(
        name="kernel-default",
        installed="5.14.21-150500.55.59.1",
        available="5.14.21-150500.55.68.1",
        arch="x86_64",
        repository="Update repository with updates from SUSE Linux Enterprise 15",
        security=None,  # zypper reports patches, not packages
    )
    assert pkgs["vim-data-common"].arch == "noarch"


def test_zypper_sles_15_two_patch_tables_and_locked_patch() -> None:
    report = parse_zypper_list_updates(
        fixture("zypper/sles-15-list-updates.txt"), fixture("zypper/sles-15-list-patches-security.txt")
    )
    assert report.total == 9
    assert by_name(report)["sles-release"].repository == "SLE-Product-SLES15-SP5-Updates"
    assert report.security_count == 4  # zypper's own count: the locked (unwanted) patch is not needed


def test_zypper_counts_table_rows_when_the_summary_line_is_absent() -> None:
    text = fixture("zypper/sles-15-list-patches-security.txt")
    without_stats = "\n".join(line for line in text.splitlines() if "patch" not in line or "|" in line)
    report = parse_zypper_list_updates(fixture("zypper/empty-list-updates.txt"), without_stats)
    assert report.security_count == 4  # 1 update-stack + 3 needed; the unwanted one is excluded


def test_zypper_old_patch_table_without_since_column() -> None:
    patches = (
        "Loading repository data...\n"
        "Reading installed packages...\n"
        "Repository         | Name                             | Category    | Severity  | Interactive | Status     | Summary\n"  # noqa: E501
        "-------------------+----------------------------------+-------------+-----------+-------------+------------+--------\n"
        "SLES12-SP5-Updates | SUSE-SLE-SERVER-12-SP5-2024-2001 | security    | important | ---         | needed     | Security update for openssl\n"  # noqa: E501
        "SLES12-SP5-Updates | SUSE-SLE-SERVER-12-SP5-2024-2002 | recommended | moderate  | ---         | needed     | Recommended update for zypper\n"  # noqa: E501
        "SLES12-SP5-Updates | SUSE-SLE-SERVER-12-SP5-2024-1999 | security    | low       | ---         | not needed | Security update for Mesa | OpenGL|ES\n"  # noqa: E501
    )
    report = parse_zypper_list_updates(fixture("zypper/empty-list-updates.txt"), patches)
    assert report.security_count == 1


def test_zypper_unicode_table_style() -> None:
    text = (
        "Loading repository data...\n"
        "Reading installed packages...\n"
        "S │ Repository    │ Name    │ Current Version     │ Available Version   │ Arch\n"
        "──┼───────────────┼─────────┼─────────────────────┼─────────────────────┼───────\n"
        "v │ repo-sle-update │ openssh │ 9.6p1-150500.3.13.1 │ 9.6p1-150500.3.18.1 │ x86_64\n"
    )
    (pkg,) = parse_zypper_list_updates(text, None).packages
    assert (pkg.name, pkg.installed, pkg.available, pkg.arch, pkg.repository) == (
        "openssh",
        "9.6p1-150500.3.13.1",
        "9.6p1-150500.3.18.1",
        "x86_64",
        "repo-sle-update",
    )


def test_zypper_empty_outputs() -> None:
    report = parse_zypper_list_updates(
        fixture("zypper/empty-list-updates.txt"), fixture("zypper/empty-list-patches.txt")
    )
    assert report == UpdateReport((), 0)
    assert parse_zypper_list_updates("No updates found.\n", "No updates found.\n") == UpdateReport((), 0)
    assert parse_zypper_list_updates(fixture("zypper/empty-list-updates.txt"), None) == UpdateReport((), None)


@pytest.mark.parametrize(
    "text",
    [
        fixture("zypper/malformed.txt"),
        "",
        # a row that lost a cell
        "S | Repository | Name | Current Version | Available Version | Arch\n"
        "--+------------+------+-----------------+-------------------+-----\n"
        "v | repo-oss   | vim  | 9.1-1.1         | x86_64\n",
        # a patch table is not an update table
        "Repository | Name | Category | Severity | Interactive | Status | Summary\n"
        "-----------+------+----------+----------+-------------+--------+--------\n",
    ],
)
def test_zypper_malformed_list_updates_raises(text: str) -> None:
    with pytest.raises(ParseError, match="zypper list-updates"):
        parse_zypper_list_updates(text, None)


def test_zypper_malformed_patches_raises() -> None:
    with pytest.raises(ParseError, match="zypper list-patches"):
        parse_zypper_list_updates(fixture("zypper/leap-15.5-list-updates.txt"), fixture("zypper/malformed.txt"))


# --------------------------------------------------------------------------------------------------
# apk
# --------------------------------------------------------------------------------------------------


def test_apk_alpine_3_19() -> None:
    report = parse_apk_upgradable(fixture("apk/alpine-3.19-upgradable.txt"))
    pkgs = by_name(report)
    assert report.total == 11
    assert report.security_count is None  # apk has no advisories
    assert pkgs["py3-cryptography"] == Package(
        name="py3-cryptography",
        installed="41.0.6-r0",
        available="41.0.7-r0",
        arch="x86_64",
        repository=None,
        security=None,
    )
    assert (pkgs["font-adobe-100dpi"].installed, pkgs["font-adobe-100dpi"].available) == ("1.0.4-r1", "1.0.4-r2")
    assert pkgs["ca-certificates-bundle"].available == "20240705-r0"
    assert pkgs["musl-utils"].installed == "1.2.4_git20230717-r4"
    assert pkgs["tzdata"].available == "2024a-r0"
    assert pkgs["ssl_client"].arch == "x86_64"


def test_apk_empty_and_installed_lines() -> None:
    assert parse_apk_upgradable(fixture("apk/empty.txt")) == UpdateReport((), None)
    # some old apk versions list installed packages too: well-formed, but not updates
    text = "alpine-base-3.19.1-r0 x86_64 {alpine-base} (MIT) [installed]\n"
    assert parse_apk_upgradable(text).packages == ()


@pytest.mark.parametrize(
    "text",
    [
        fixture("apk/malformed.txt"),
        "busybox x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r15]\n",  # no version
        "busybox-1.36.1-r19 x86_64 [upgradable from: busybox-1.36.1-r15]\n",  # no origin/license
        "ERROR: Unable to lock database: Permission denied\n",
    ],
)
def test_apk_malformed_raises(text: str) -> None:
    with pytest.raises(ParseError, match="apk list"):
        parse_apk_upgradable(text)


# --------------------------------------------------------------------------------------------------
# reboot
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "exit_status", "stdout", "expected"),
    [
        (Family.APT, 0, "reboot-required\n", True),
        (Family.APT, 0, "no-reboot\n", False),
        (Family.APT, 0, "", None),
        (Family.APT, None, "reboot-required", None),  # channel dropped: unknown
        (Family.APT, 1, "no-reboot", None),
        (Family.DNF, 1, "Core libraries or services have been updated since boot-up:\n  * kernel\n\n"
         "Reboot is required to fully utilize these updates.\n", True),
        (Family.DNF, 0, "No core libraries or services have been updated since boot-up.\n"
         "Reboot should not be necessary.\n", False),
        (Family.DNF, 1, "Reboot should not be necessary.\n", None),  # contradicts itself
        (Family.YUM, 1, "", True),
        (Family.YUM, 0, "", False),
        (Family.YUM, 2, "", None),  # old yum-utils without -r
        (Family.YUM, 127, "", None),  # needs-restarting missing
        (Family.ZYPPER, 102, "", True),
        (Family.ZYPPER, 0, "", False),
        (Family.ZYPPER, 1, "", None),
        (Family.ZYPPER, None, "", None),
        (Family.APK, 0, "", None),  # Alpine has no reboot-pending marker
    ],
)
def test_parse_reboot(family: Family, exit_status: int | None, stdout: str, expected: bool | None) -> None:
    assert parse_reboot(family, exit_status, stdout) is expected


# --------------------------------------------------------------------------------------------------
# dispatcher, errors, purity
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "list_path", "security_path", "installed_path", "total", "security_count"),
    [
        (Family.APT, "apt/ubuntu-22.04-upgradable.txt", None, None, 12, 8),
        (Family.DNF, "dnf/rocky-9-check-update.txt", "dnf/rocky-9-updateinfo-security.txt",
         "dnf/rocky-9-rpm-qa.txt", 19, 13),
        (Family.YUM, "yum/amzn-2-check-update.txt", "yum/amzn-2-updateinfo-security.txt", None, 11, 6),
        (Family.ZYPPER, "zypper/leap-15.5-list-updates.txt", "zypper/leap-15.5-list-patches-security.txt",
         None, 11, 4),
        (Family.APK, "apk/alpine-3.19-upgradable.txt", None, None, 11, None),
    ],
)
def test_parse_updates_dispatches_per_family(
    family: Family,
    list_path: str,
    security_path: str | None,
    installed_path: str | None,
    total: int,
    security_count: int | None,
) -> None:
    report = parse_updates(
        family,
        fixture(list_path),
        fixture(security_path) if security_path else None,
        fixture(installed_path) if installed_path else None,
    )
    assert (report.total, report.security_count) == (total, security_count)


@pytest.mark.parametrize(
    ("family", "malformed"),
    [
        (Family.APT, "apt/malformed.txt"),
        (Family.DNF, "dnf/malformed.txt"),
        (Family.YUM, "yum/malformed.txt"),
        (Family.ZYPPER, "zypper/malformed.txt"),
        (Family.APK, "apk/malformed.txt"),
    ],
)
def test_every_family_rejects_its_malformed_fixture(family: Family, malformed: str) -> None:
    with pytest.raises(ParseError):
        parse_updates(family, fixture(malformed))


def test_every_family_parses_its_empty_answer_as_zero_updates() -> None:
    empty = {Family.APT: "Listing...\n", Family.ZYPPER: "No updates found.\n"}
    for family in COMMANDS:
        assert parse_updates(family, empty.get(family, "")).packages == ()


def test_parse_error_is_a_value_error_and_a_patchwatch_error() -> None:
    err = ParseError("apk list --upgradable", "bad line", lineno=3, line="x" * 500)
    assert isinstance(err, ValueError)
    assert isinstance(err, PatchwatchError)
    assert str(err).startswith("apk list --upgradable, line 3: bad line: 'xxx")
    assert len(str(err)) < 200  # the offending line is clipped


def test_parse_error_feeds_the_taxonomy_as_an_unparseable_tool_failure() -> None:
    from console.domain.taxonomy import Category, Evidence, classify

    with pytest.raises(ParseError) as info:
        parse_updates(Family.APT, fixture("apt/malformed.txt"))
    verdict = classify(
        Evidence(stage="command", step="list_updates", exception=type(info.value).__name__, message=str(info.value))
    )
    assert (verdict.category, verdict.rule) == (Category.TOOL, "tool.unparseable")
    assert verdict.reason.startswith("unparseable output of list_updates: apt list --upgradable, line 2")


def test_parsers_module_stays_pure() -> None:
    code = (
        "import sys, console.scan.parsers\n"
        "bad = [m for m in ('asyncssh', 'textual', 'tinydb', 'apprise') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])

"""Parsers for the output of the Scan_OS_Patch commands (``console.scan.commands``).

Pure functions, no I/O: the scanner runs a command over SSH and hands its stdout here. Each parser
knows exactly one command's output format (for the commands in ``COMMANDS``) and nothing else.

The one rule that shapes every parser: an output the parser does not recognise raises
:class:`ParseError`, it never turns into "0 updates". A scan that silently reports a host as patched
because the package manager printed something unexpected is the failure this product exists to
prevent. So the parsers are strict about the lines that carry data, and tolerant only of the noise
lines each tool is known to print (progress headers, metadata-age notes), which are listed per parser.

Empty results are recognised by their own marker where the tool prints one (apt's lone
``Listing...``, zypper's ``No updates found.``); ``dnf/yum check-update`` and ``apk list`` print
nothing at all when there is nothing to update, so for them an empty stdout is zero packages (the
scanner has already checked the exit status).

Why one module of this length: pure parsers, one per family and step, tested one by one on samples.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from console.errors import PatchwatchError
from console.scan.commands import Family

__all__ = [
    "OsInfo",
    "Package",
    "ParseError",
    "UpdateReport",
    "parse_apk_upgradable",
    "parse_apt_upgradable",
    "parse_dnf_check_update",
    "parse_os_release",
    "parse_reboot",
    "parse_updates",
    "parse_zypper_list_updates",
    "rpm_evr_compare",
    "rpm_vercmp",
]


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OsInfo:
    """What ``/etc/os-release`` says about a target, and the package-manager family derived from it.

    ``family`` is None for an OS Scan_OS_Patch does not support; the scanner reports that host as a
    ``tool`` failure ("unsupported OS") instead of guessing a package manager.
    """

    id: str
    id_like: tuple[str, ...]
    version_id: str
    pretty_name: str
    family: Family | None


@dataclass(frozen=True)
class Package:
    """One package that has an update.

    ``installed`` is None when the output does not say (e.g. dnf without the rpm query, or an
    obsoleting package that replaces a package of another name). ``security`` is None when the
    family cannot tell (zypper reports patches, not packages; apk has no advisories).
    """

    name: str
    installed: str | None
    available: str
    arch: str | None
    repository: str | None
    security: bool | None


@dataclass(frozen=True)
class UpdateReport:
    """The updates of one host.

    ``security_count`` counts security updates: packages for apt and dnf/yum, needed security
    patches for zypper (the unit zypper reports). None means the family, or this run, cannot tell.
    """

    packages: tuple[Package, ...]
    security_count: int | None

    @property
    def total(self) -> int:
        """Number of packages with an update."""
        return len(self.packages)


class ParseError(PatchwatchError, ValueError):
    """The output is not in the format the parser knows.

    The scanner classifies it as a ``tool`` failure ("unparseable output"). The message names the
    command, the line number and the offending line, so an operator can compare with the transcript.
    ``lineno`` is 1-based, None when the problem is not one line (e.g. a missing header).
    """

    def __init__(self, source: str, why: str = "", *, lineno: int | None = None, line: str | None = None) -> None:
        self.source = source
        self.why = why
        self.lineno = lineno
        self.line = line
        where = f", line {lineno}" if lineno is not None else ""
        quoted = f": {_clip(line)!r}" if line is not None else ""
        reason = f": {why}" if why else ""
        super().__init__(f"{source}{where}{reason}{quoted}")


def _clip(text: str, limit: int = 120) -> str:
    """A line short enough for an error message; long garbage must not flood a notice."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _numbered(text: str) -> Iterator[tuple[int, str]]:
    """Lines with 1-based numbers, trailing whitespace removed (CRLF-safe)."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        yield lineno, raw.rstrip()


# --------------------------------------------------------------------------------------------------
# /etc/os-release
# --------------------------------------------------------------------------------------------------

_SRC_OS = "/etc/os-release"
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")

_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:/@+,%=-]*")
_QUOTED_VALUE = re.compile(r'"[^"\\$`\'\s]*(?: [^"\\$`\'\s]+)*"')
_APT_IDS = frozenset({"debian", "ubuntu"})
_RPM_IDS = frozenset({"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn"})
_ZYPPER_IDS = frozenset({"suse", "sles", "sled", "opensuse"})


def _os_value(raw: str) -> str:
    """A value with shell quoting removed, as the os-release spec defines it (a shell-compatible
    assignment). Falls back to the raw text on unbalanced quotes rather than failing the host."""
    raw = raw.strip()
    # Most values are a bare word or one double-quoted string with nothing shell-special inside: shlex
    # would return them unchanged (or without the quotes), and it costs more per host than the rest of
    # the parse. Anything else (escapes, single quotes, several words) still goes through shlex.
    if _PLAIN_VALUE.fullmatch(raw):
        return raw
    if _QUOTED_VALUE.fullmatch(raw):
        return raw[1:-1]
    try:
        return " ".join(shlex.split(raw, comments=False, posix=True))
    except ValueError:
        return raw.strip("\"'")


def _base_family(os_id: str) -> Family | None:
    """The family of one ID or ID_LIKE word, before the yum/dnf split."""
    if os_id in _APT_IDS:
        return Family.APT
    if os_id in _RPM_IDS:
        return Family.DNF
    if os_id in _ZYPPER_IDS or os_id.startswith(("opensuse", "sles", "sle-")):
        return Family.ZYPPER
    if os_id == "alpine":
        return Family.APK
    return None


def _major(version_id: str) -> int | None:
    match = re.match(r"\d+", version_id)
    return int(match.group()) if match else None


def _rpm_family(os_id: str, version_id: str) -> Family:
    """yum or dnf: yum is the only manager on Amazon Linux 1/2, RHEL/CentOS/Oracle 7 and older, and
    Fedora before 22; everything newer ships dnf (where ``yum`` is only an alias)."""
    major = _major(version_id)
    if major is None:
        return Family.DNF
    if os_id == "amzn":  # Amazon Linux 1 is "2018.03", 2 is "2", 2023 is "2023"
        return Family.YUM if major < 2023 else Family.DNF
    if os_id == "fedora":
        return Family.YUM if major < 22 else Family.DNF
    return Family.YUM if major <= 7 else Family.DNF


def parse_os_release(text: str) -> OsInfo:
    """Parse ``cat /etc/os-release`` and derive the package-manager family.

    The family comes from ID first, then from each ID_LIKE word in order (so a derivative such as
    Linux Mint, ``ID_LIKE="ubuntu debian"``, is apt). Lines that are not assignments are ignored, as
    the spec asks; a text with no assignment at all is not an os-release file and raises.
    """
    values: dict[str, str] = {}
    for _lineno, line in _numbered(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGNMENT.match(stripped)
        if match:
            values[match.group(1)] = _os_value(match.group(2))
    if not values:
        raise ParseError(_SRC_OS, "no KEY=value assignment found" if text.strip() else "empty output")

    os_id = values.get("ID", "linux").strip().lower() or "linux"  # the spec's default is "linux"
    id_like = tuple(word.lower() for word in values.get("ID_LIKE", "").split())
    version_id = values.get("VERSION_ID", "").strip()
    pretty = values.get("PRETTY_NAME") or values.get("NAME") or "Linux"

    family: Family | None = None
    for candidate in (os_id, *id_like):
        family = _base_family(candidate)
        if family is not None:
            break
    if family is Family.DNF:
        family = _rpm_family(os_id, version_id)
    return OsInfo(id=os_id, id_like=id_like, version_id=version_id, pretty_name=pretty, family=family)


# --------------------------------------------------------------------------------------------------
# apt: LC_ALL=C apt list --upgradable
# --------------------------------------------------------------------------------------------------

_SRC_APT = "apt list --upgradable"
_APT_LINE = re.compile(
    r"^(?P<name>[^/\s]+)/(?P<suites>\S+)\s+(?P<version>\S+)\s+(?P<arch>\S+)"
    r"\s+\[upgradable from:\s+(?P<old>[^\]\s]+)\]$"
)
_APT_HEADER = re.compile(r"^Listing\.\.\.(?:\s*Done)?$")
#: apt notices (N:) and warnings (W:) that may be printed among the lines; they carry no package.
_APT_NOTICE = re.compile(r"^[NW]: ")


def parse_apt_upgradable(text: str) -> UpdateReport:
    """Parse ``LC_ALL=C apt list --upgradable``.

    A line reads ``name/suite1,suite2 newver arch [upgradable from: oldver]``. The update is a
    security update when any suite ends with ``-security`` (``jammy-security``,
    ``bookworm-security``, Debian's ``stable-security``, Ubuntu Pro's ``jammy-apps-security``).
    The ``Listing...`` header is required: apt always prints it to stdout, so its absence means the
    output is not apt's (or was cut), and that must not read as "no updates".
    """
    packages: list[Package] = []
    seen_header = False
    for lineno, line in _numbered(text):
        stripped = line.strip()
        if not stripped:
            continue
        if not seen_header:
            if not _APT_HEADER.match(stripped):
                raise ParseError(_SRC_APT, "expected the 'Listing...' header", lineno=lineno, line=line)
            seen_header = True
            continue
        if _APT_NOTICE.match(stripped):
            continue
        match = _APT_LINE.match(stripped)
        if not match:
            raise ParseError(
                _SRC_APT,
                "expected 'name/suite version arch [upgradable from: version]'",
                lineno=lineno,
                line=line,
            )
        suites = match.group("suites")
        security = any(suite.endswith("-security") for suite in suites.split(","))
        packages.append(
            Package(
                name=match.group("name"),
                installed=match.group("old"),
                available=match.group("version"),
                arch=match.group("arch"),
                repository=suites,
                security=security,
            )
        )
    if not seen_header:
        raise ParseError(_SRC_APT, "empty output (apt always prints 'Listing...')")
    return UpdateReport(tuple(packages), sum(1 for p in packages if p.security))


# --------------------------------------------------------------------------------------------------
# dnf / yum: check-update, updateinfo list --security, rpm -qa
# --------------------------------------------------------------------------------------------------

_SRC_CHECK = "check-update"
_SRC_UPDATEINFO = "updateinfo list --security"
_SRC_RPM = "rpm -qa"

_NAME_ARCH = re.compile(r"^(?P<name>[^\s/]+)\.(?P<arch>[A-Za-z0-9_]+)$")
_EVR = re.compile(r"^(?:\d+:)?[A-Za-z0-9._+~^]+-[A-Za-z0-9._+~^]+$")
_NEVRA = re.compile(r"^(?P<name>.+)-(?P<version>(?:\d+:)?[^-]+)-(?P<release>[^-]+)\.(?P<arch>[A-Za-z0-9_]+)$")
_RPM_QA = re.compile(r"^(?P<name>\S+)\.(?P<arch>[A-Za-z0-9_]+|\(none\)) (?P<epoch>\d+|\(none\)):(?P<vr>\S+-\S+)$")

#: Lines dnf and yum print around the data even with -q, or without -q on older versions:
#: metadata age, plugin list (and its ":"-prefixed continuation), mirror list, the running-kernel
#: security notes (autocheck_running_kernel), dnf5's section titles, AL2's security summary.
_RPM_NOISE = re.compile(
    r"^(?:Last metadata expiration check"
    r"|Loaded plugins:"
    r"|: \S"
    r"|Loading mirror speeds"
    r"|\* \S+: "
    r"|Security: "
    r"|Upgrades$|Available upgrades$|Available Upgrades$"
    r"|Updating and loading repositories:|Repositories loaded\."
    r"|\d+ packages? needed for security"
    r"|No packages needed for security"
    r"|updateinfo list done)",
    re.IGNORECASE,
)
_OBSOLETING = re.compile(r"^Obsoleting packages$", re.IGNORECASE)


def _check_update_records(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """Records of check-update: (lineno, raw line, [name.arch, version, repo]).

    dnf and yum format three columns for an 80-column terminal; a name longer than its column
    pushes the rest of the record onto the next, indented line (and a long version may push the
    repository the same way). So tokens are gathered until a record has three. In the
    "Obsoleting Packages" section each obsoleting package is followed by indented lines naming the
    installed packages it replaces; those are skipped here (they are removals, not updates).
    """
    pending: list[str] = []
    pending_at: tuple[int, str] = (0, "")
    obsoleting = False
    after_obsoleter = False
    for lineno, line in _numbered(text):
        stripped = line.strip()
        if not stripped:
            if pending:
                raise ParseError(
                    _SRC_CHECK, "record cut short by a blank line", lineno=pending_at[0], line=pending_at[1]
                )
            continue
        if _RPM_NOISE.match(stripped):
            continue
        if _OBSOLETING.match(stripped):
            if pending:
                raise ParseError(_SRC_CHECK, "record cut short", lineno=pending_at[0], line=pending_at[1])
            obsoleting = True
            continue
        indented = line[0].isspace()
        tokens = stripped.split()
        if pending:
            if not indented:
                raise ParseError(
                    _SRC_CHECK, "expected 'name.arch version repository'", lineno=pending_at[0], line=pending_at[1]
                )
            pending.extend(tokens)
        elif indented:
            if obsoleting and after_obsoleter and len(tokens) == 3 and _NAME_ARCH.match(tokens[0]):
                continue  # an installed package being obsoleted by the record above
            raise ParseError(_SRC_CHECK, "unexpected indented line", lineno=lineno, line=line)
        else:
            pending = tokens
            pending_at = (lineno, line)
        if len(pending) < 3:
            continue
        if len(pending) > 3:
            raise ParseError(
                _SRC_CHECK, "expected 'name.arch version repository'", lineno=pending_at[0], line=pending_at[1]
            )
        yield pending_at[0], pending_at[1], pending
        after_obsoleter = obsoleting
        pending = []
    if pending:
        raise ParseError(_SRC_CHECK, "output ends inside a record", lineno=pending_at[0], line=pending_at[1])


def _parse_security_names(text: str) -> set[tuple[str, str]]:
    """(name, arch) of the packages named by security advisories.

    dnf4/yum lines: ``RLSA-2024:4312 Important/Sec. openssh-8.7p1-38.el9_4.1.x86_64`` (yum indents
    them). dnf5 prints a table ``Name Type Severity Package Issued``; its header is skipped and the
    package is the first column that reads as a NEVRA. Only advisories whose type says security are
    taken, so a stray bugfix line cannot mark a package.
    """
    names: set[tuple[str, str]] = set()
    for lineno, line in _numbered(text):
        stripped = line.strip()
        if not stripped or _RPM_NOISE.match(stripped):
            continue
        tokens = stripped.split()
        if tokens[0] == "Name" and "Package" in tokens:
            continue  # dnf5 table header
        if len(tokens) < 3:
            raise ParseError(_SRC_UPDATEINFO, "expected 'ADVISORY TYPE package-version.arch'", lineno=lineno, line=line)
        nevra = next((m for m in (_NEVRA.match(t) for t in tokens[2:]) if m), None)
        if nevra is None:
            raise ParseError(_SRC_UPDATEINFO, "no name-version-release.arch in the line", lineno=lineno, line=line)
        if "sec" in tokens[1].lower():
            names.add((nevra.group("name"), nevra.group("arch")))
    return names


def _parse_installed(text: str) -> dict[tuple[str, str], str]:
    """``rpm -qa --qf '%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'`` as (name, arch) ->
    version. A ``0:`` epoch is dropped (rpm and dnf never show it). Install-only packages (kernel)
    have several versions installed; the newest is the one the update replaces."""
    installed: dict[tuple[str, str], str] = {}
    for lineno, line in _numbered(text):
        stripped = line.strip()
        if not stripped:
            continue
        match = _RPM_QA.match(stripped)
        if not match:
            raise ParseError(_SRC_RPM, "expected 'name.arch epoch:version-release'", lineno=lineno, line=line)
        epoch = match.group("epoch")
        version = match.group("vr") if epoch in ("0", "(none)") else f"{epoch}:{match.group('vr')}"
        key = (match.group("name"), match.group("arch"))
        current = installed.get(key)
        if current is None or rpm_evr_compare(version, current) > 0:
            installed[key] = version
    return installed


def parse_dnf_check_update(list_text: str, security_text: str | None, installed_text: str | None) -> UpdateReport:
    """Parse ``dnf/yum -q check-update``, optionally joined with the security advisories and the
    installed versions.

    ``security_text`` None means the security step did not run: ``security`` stays None and the
    count is None. Given (even empty), packages named by a security advisory get ``security=True``,
    the others False. Caveat for the caller: CentOS 7 repositories carry no advisories, so there an
    empty ``security_text`` reads as "no security updates"; pass None where errata are known to be
    absent.
    """
    security_names = _parse_security_names(security_text) if security_text is not None else None
    installed = _parse_installed(installed_text) if installed_text is not None else {}

    packages: list[Package] = []
    seen: set[tuple[str, str]] = set()
    # Obsoleting packages count as updates: ``dnf upgrade`` installs them. One already listed as an
    # update of the same name.arch (dnf lists it in both sections) is kept once.
    for lineno, line, (name_arch, version, repo) in _check_update_records(list_text):
        match = _NAME_ARCH.match(name_arch)
        if not match:
            raise ParseError(_SRC_CHECK, f"{name_arch!r} is not 'name.arch'", lineno=lineno, line=line)
        if not _EVR.match(version):
            raise ParseError(_SRC_CHECK, f"{version!r} is not '[epoch:]version-release'", lineno=lineno, line=line)
        key = (match.group("name"), match.group("arch"))
        if key in seen:
            continue
        security = None if security_names is None else key in security_names
        seen.add(key)
        packages.append(
            Package(
                name=key[0],
                installed=installed.get(key),
                available=version,
                arch=key[1],
                repository=repo,
                security=security,
            )
        )
    count = None if security_names is None else sum(1 for p in packages if p.security)
    return UpdateReport(tuple(packages), count)


def rpm_vercmp(a: str, b: str) -> int:
    """rpm's version-segment comparison (``rpmvercmp``): -1, 0 or 1.

    Alphanumeric runs compare numerically or lexically, numbers beat letters, ``~`` sorts before
    everything (pre-releases) and ``^`` after the base version (snapshots). Needed to choose the
    newest of several installed kernels; string comparison gets ``5.14.0-427`` vs ``5.14.0-70`` wrong.
    """
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and not a[i].isalnum() and a[i] not in "~^":
            i += 1
        while j < lb and not b[j].isalnum() and b[j] not in "~^":
            j += 1
        a_tilde = i < la and a[i] == "~"
        b_tilde = j < lb and b[j] == "~"
        if a_tilde or b_tilde:
            if not a_tilde:
                return 1
            if not b_tilde:
                return -1
            i += 1
            j += 1
            continue
        a_caret = i < la and a[i] == "^"
        b_caret = j < lb and b[j] == "^"
        if a_caret or b_caret:
            if i >= la:
                return -1
            if j >= lb:
                return 1
            if not a_caret:
                return 1
            if not b_caret:
                return -1
            i += 1
            j += 1
            continue
        if i >= la or j >= lb:
            break
        numeric = a[i].isdigit()
        take = str.isdigit if numeric else str.isalpha
        si = i
        while i < la and take(a[i]):
            i += 1
        sj = j
        while j < lb and take(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if numeric else -1  # a number is newer than letters
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= la and j >= lb:
        return 0
    return 1 if i < la else -1


def rpm_evr_compare(a: str, b: str) -> int:
    """Compare two ``[epoch:]version-release`` strings the way rpm does: -1, 0 or 1."""

    def split(evr: str) -> tuple[int, str, str]:
        epoch, _, rest = evr.rpartition(":")
        version, _, release = rest.partition("-")
        return (int(epoch) if epoch.isdigit() else 0), version, release

    ea, va, ra = split(a)
    eb, vb, rb = split(b)
    if ea != eb:
        return 1 if ea > eb else -1
    return rpm_vercmp(va, vb) or rpm_vercmp(ra, rb)


# --------------------------------------------------------------------------------------------------
# zypper: list-updates, list-patches --category security
# --------------------------------------------------------------------------------------------------

_SRC_ZYPPER_LU = "zypper list-updates"
_SRC_ZYPPER_LP = "zypper list-patches"
_NO_UPDATES = "No updates found."
#: Column separators of zypper's table styles (ascii, light, heavy, double, dashed).
_ZYPPER_VBAR = "|│┃║┆┇┊┋"
_ZYPPER_CELL_SPLIT = re.compile(rf" [{_ZYPPER_VBAR}](?= |$)")
_ZYPPER_RULE = re.compile(r"^[-+=─━═┄┅┈┉┼╋╬┊┋ ]{3,}$")
_ZYPPER_PATCH_STATS = re.compile(r"^(\d+) patch(?:es)? needed \((\d+) security patch(?:es)?\)$")


@dataclass(frozen=True)
class _Table:
    header: tuple[str, ...]  # lower-case column titles
    rows: tuple[tuple[int, str, tuple[str, ...]], ...]  # (lineno, raw line, cells)

    def column(self, title: str) -> int | None:
        return self.header.index(title) if title in self.header else None


def _split_cells(line: str) -> list[str]:
    return [cell.strip() for cell in _ZYPPER_CELL_SPLIT.split(line + " ")]


def _zypper_tables(text: str, source: str, merge_last: bool) -> list[_Table]:
    """The tables of a zypper text output: a header line, a rule line (``--+--``), then rows until a
    blank line. Several tables may follow each other (list-patches prints the package-manager patches
    first). Cells are split on `` | `` with spaces, so a ``|`` inside a summary (``OpenGL|ES``) stays.
    ``merge_last`` joins surplus cells into the last column (a free-text Summary)."""
    lines = list(_numbered(text))
    tables: list[_Table] = []
    i = 0
    while i < len(lines):
        line = lines[i][1]
        is_header = (
            i + 1 < len(lines)
            and any(bar in line for bar in _ZYPPER_VBAR)
            and _ZYPPER_RULE.match(lines[i + 1][1].strip() or "x") is not None
        )
        if not is_header:
            i += 1
            continue
        header = tuple(cell.lower() for cell in _split_cells(line))
        rows: list[tuple[int, str, tuple[str, ...]]] = []
        i += 2
        while i < len(lines) and lines[i][1].strip():
            row_no, row = lines[i]
            cells = _split_cells(row)
            if len(cells) > len(header) and merge_last:
                cells = [*cells[: len(header) - 1], " | ".join(cells[len(header) - 1 :])]
            if len(cells) != len(header):
                raise ParseError(
                    source, f"row has {len(cells)} cells, the header has {len(header)}", lineno=row_no, line=row
                )
            rows.append((row_no, row, tuple(cells)))
            i += 1
        tables.append(_Table(header, tuple(rows)))
    return tables


def _has_line(text: str, wanted: str) -> bool:
    return any(line.strip() == wanted for _, line in _numbered(text))


def _zypper_security_count(text: str) -> int:
    """Needed security patches from ``list-patches --category security``.

    zypper ends the listing with ``N patches needed (M security patches)``; that count is zypper's
    own (needed, not locked), so it wins. Older zypper without that line: count the table rows whose
    status is ``needed`` and whose category is ``security``.
    """
    for _lineno, line in _numbered(text):
        match = _ZYPPER_PATCH_STATS.match(line.strip())
        if match:
            return int(match.group(2))
    tables = [t for t in _zypper_tables(text, _SRC_ZYPPER_LP, merge_last=True) if "category" in t.header]
    if tables:
        count = 0
        for table in tables:
            status_col = table.column("status")
            category_col = table.column("category")
            for _lineno, _line, cells in table.rows:
                if status_col is not None and cells[status_col].lower() != "needed":
                    continue
                if category_col is not None and cells[category_col].lower() != "security":
                    continue
                count += 1
        return count
    if _has_line(text, _NO_UPDATES):
        return 0
    raise ParseError(_SRC_ZYPPER_LP, "neither a patch table nor 'No updates found.'")


def parse_zypper_list_updates(text: str, patches_text: str | None) -> UpdateReport:
    """Parse ``zypper --non-interactive --no-color list-updates`` (the table ``S | Repository | Name |
    Current Version | Available Version | Arch``) and, when given, the security patch listing.

    zypper's security unit is the patch, not the package, so ``Package.security`` is None and
    ``security_count`` is the number of needed security patches (None without ``patches_text``).
    Lines outside the table (``Loading repository data...``, repository refresh notes) are ignored;
    but an output with neither the table nor ``No updates found.`` raises.
    """
    tables = [t for t in _zypper_tables(text, _SRC_ZYPPER_LU, merge_last=False) if "available version" in t.header]
    if not tables and not _has_line(text, _NO_UPDATES):
        raise ParseError(_SRC_ZYPPER_LU, "neither an update table nor 'No updates found.'")
    packages: list[Package] = []
    for table in tables:
        name_col = table.column("name")
        available_col = table.column("available version")
        if name_col is None or available_col is None:
            raise ParseError(_SRC_ZYPPER_LU, "the table has no Name column")
        current_col = table.column("current version")
        arch_col = table.column("arch")
        repo_col = table.column("repository")
        for lineno, line, cells in table.rows:
            if not cells[name_col] or not cells[available_col]:
                raise ParseError(_SRC_ZYPPER_LU, "row without a name or an available version", lineno=lineno, line=line)
            packages.append(
                Package(
                    name=cells[name_col],
                    installed=(cells[current_col] or None) if current_col is not None else None,
                    available=cells[available_col],
                    arch=(cells[arch_col] or None) if arch_col is not None else None,
                    repository=(cells[repo_col] or None) if repo_col is not None else None,
                    security=None,
                )
            )
    count = _zypper_security_count(patches_text) if patches_text is not None else None
    return UpdateReport(tuple(packages), count)


# --------------------------------------------------------------------------------------------------
# apk: apk list --upgradable
# --------------------------------------------------------------------------------------------------

_SRC_APK = "apk list --upgradable"
_APK_LINE = re.compile(
    r"^(?P<pkg>\S+) (?P<arch>\S+) \{(?P<origin>[^}]*)\} \((?P<license>.*)\)(?: \[(?P<status>[^\]]*)\])?$"
)
#: name-version-rN: apk versions never contain '-' except before the release, and start with a digit,
#: so the version is the last "digit...-rN" run (py3-cryptography-41.0.7-r0, font-adobe-100dpi-1.0.4-r2).
_APK_PKGVER = re.compile(r"^(?P<name>.+)-(?P<version>\d[^-]*(?:-r\d+)?)$")
_UPGRADABLE_FROM = "upgradable from: "


def _apk_split(pkgver: str) -> tuple[str, str] | None:
    match = _APK_PKGVER.match(pkgver)
    return (match.group("name"), match.group("version")) if match else None


def parse_apk_upgradable(text: str) -> UpdateReport:
    """Parse ``apk list --upgradable``: ``name-ver-rN arch {origin} (license) [upgradable from:
    name-oldver-rN]``.

    apk has no advisory metadata: ``security`` is None and so is the count. Well-formed apk list
    lines with another status (``[installed]``, printed by some old apk versions) are not updates and
    are skipped; anything else raises.
    """
    packages: list[Package] = []
    for lineno, line in _numbered(text):
        stripped = line.strip()
        if not stripped:
            continue
        match = _APK_LINE.match(stripped)
        split = _apk_split(match.group("pkg")) if match else None
        if match is None or split is None:
            raise ParseError(
                _SRC_APK,
                "expected 'name-version arch {origin} (license) [upgradable from: name-version]'",
                lineno=lineno,
                line=line,
            )
        status = match.group("status") or ""
        if not status.startswith(_UPGRADABLE_FROM):
            continue
        name, version = split
        old = status[len(_UPGRADABLE_FROM) :].strip()
        if old.startswith(name + "-"):
            installed: str | None = old[len(name) + 1 :]
        else:
            old_split = _apk_split(old)
            installed = old_split[1] if old_split else None
        packages.append(
            Package(
                name=name,
                installed=installed,
                available=version,
                arch=match.group("arch"),
                repository=None,
                security=None,
            )
        )
    return UpdateReport(tuple(packages), None)


# --------------------------------------------------------------------------------------------------
# reboot and dispatch
# --------------------------------------------------------------------------------------------------

_DNF_NO_REBOOT = "should not be necessary"
_DNF_REBOOT = "reboot is required"


def parse_reboot(family: Family, exit_status: int | None, stdout: str) -> bool | None:
    """Whether a reboot is pending: True, False, or None when the answer is unknown.

    apt: the command echoes ``reboot-required`` or ``no-reboot``. dnf/yum ``needs-restarting -r``:
    exit 1 = needed, 0 = not (unless its text says the opposite). zypper ``needs-rebooting``: exit
    102 = needed, 0 = not. Anything else (old yum-utils without ``-r``, tool missing, dropped
    channel, apk) is None: "unknown" must never be shown as "no reboot needed".
    """
    text = stdout.strip()
    if family is Family.APT:
        if exit_status != 0:
            return None
        return {"reboot-required": True, "no-reboot": False}.get(text)
    if family in (Family.DNF, Family.YUM):
        lowered = text.lower()
        if exit_status == 1 and _DNF_NO_REBOOT not in lowered:
            return True
        if exit_status == 0 and _DNF_REBOOT not in lowered:
            return False
        return None
    if family is Family.ZYPPER:
        return {102: True, 0: False}.get(exit_status) if exit_status is not None else None
    return None


def parse_updates(
    family: Family,
    list_text: str,
    security_text: str | None = None,
    installed_text: str | None = None,
) -> UpdateReport:
    """The update report of one host, from the outputs of its family's commands.

    ``security_text`` is the output of the family's ``security`` command and ``installed_text`` of
    its ``installed`` command (None when the step did not run or the family has none).
    """
    if family is Family.APT:
        return parse_apt_upgradable(list_text)
    if family in (Family.DNF, Family.YUM):
        return parse_dnf_check_update(list_text, security_text, installed_text)
    if family is Family.ZYPPER:
        return parse_zypper_list_updates(list_text, security_text)
    if family is Family.APK:
        return parse_apk_upgradable(list_text)
    raise ValueError(f"unknown package-manager family {family!r}")

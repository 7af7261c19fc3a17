"""What a simulated host of each distribution prints for the Scan_OS_Patch commands.

A simulated host is only useful if it fails the scanner the way a real one would, so every output
here follows the real tool's format closely, including the awkward parts a parser must survive:
apt's stderr warning, the blank first line and 80-column layout of ``dnf/yum check-update`` (long
``name.arch`` values push the rest of the record onto an indented second line), exit 100 for
"updates exist", the several installed kernels and the ``gpg-pubkey.(none)`` entries of ``rpm -qa``,
zypper's tables and summary lines, apk's ``{origin} (license)`` columns.

Behaviour that is a property of the host (root or not, sudo allowed, reboot flag) lives here too;
faults injected on purpose (locks, dead mirrors, garbage, hangs) are applied by ``console.sim.fleet``
on top of the texts this module renders (:meth:`DistroProfile.lock_reply` and friends).

Nothing here does I/O: given a profile, the planted packages and a command string, the answer is a
pure function, so tests can check outputs without any SSH in between.

Why one module of this length: it is data, the commands and the exact outputs of five package-manager
families, kept together so that a new distro is one table beside the others.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from console.scan.commands import COMMANDS, OS_RELEASE, SUDO_PREFIX, Family

__all__ = [
    "DISTROS",
    "DistroProfile",
    "Package",
    "Reply",
    "Step",
    "plant_packages",
    "respond",
]


class Step(StrEnum):
    """The step of Scan_OS_Patch a command belongs to (names match ``FamilyCommands`` fields)."""

    OS_RELEASE = "os_release"
    REFRESH = "refresh"
    LIST_UPDATES = "list_updates"
    SECURITY = "security"
    INSTALLED = "installed"
    REBOOT = "reboot"


#: Steps that run the package manager (or a helper of it); a host without the tool fails them.
TOOL_STEPS: frozenset[Step] = frozenset(
    {Step.REFRESH, Step.LIST_UPDATES, Step.SECURITY, Step.INSTALLED, Step.REBOOT}
)


@dataclass(frozen=True)
class Package:
    """One planted update: the ground truth a parsed scan result is compared with.

    Versions are spelled the way the family's list command prints them (apt and rpm show an epoch
    only when it is not zero). ``repo`` is the apt suite list (``jammy-updates,jammy-security``), the
    rpm repository id, the zypper repository name or the apk repository. ``advisory`` names the
    security advisory (RLSA/ALAS2 id, zypper patch) that covers it; packages built from one
    ``source`` share it, as in real errata. apk has no advisories, so apk packages are never
    flagged as security updates: the ground truth is what the tool can tell.
    """

    name: str
    installed: str
    available: str
    arch: str
    repo: str
    security: bool
    advisory: str | None = None
    severity: str | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``fleet.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Package:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class Reply:
    """What one command prints and how it exits."""

    stdout: str = ""
    stderr: str = ""
    exit_status: int = 0


@dataclass(frozen=True)
class CatalogEntry:
    """A package a distribution ships, with a version template.

    ``template`` contains ``{n}`` where that distribution's maintenance updates bump a number
    (``3.0.2-0ubuntu1.{n}``); an update renders it with a larger ``n``. Packages with the same
    ``source`` are built together and get the same numbers and the same advisory.
    """

    name: str
    template: str
    arch: str
    source: str
    repo: str = ""
    license: str = ""

    def version(self, n: int) -> str:
        return self.template.format(n=n)


def _catalog(rows: str, *, last: str | None = None) -> tuple[CatalogEntry, ...]:
    """Parse a compact ``name template arch source [rest]`` table (one entry per line).

    ``last`` names the field the rest of the line goes to (``repo`` or ``license``); it may
    contain spaces ("Main Update Repository", "MIT AND BSD-2-Clause").
    """
    entries = []
    for raw in rows.strip().splitlines():
        if last is None:
            name, template, arch, source = raw.split()
            entries.append(CatalogEntry(name, template, arch, source))
        else:
            name, template, arch, source, rest = raw.split(None, 4)
            entries.append(CatalogEntry(name, template, arch, source, **{last: rest}))
    return tuple(entries)


def _stable_int(text: str, modulo: int) -> int:
    """A number derived from a name, the same in every process (unlike ``hash``)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % modulo


# ------------------------------------------------------------------------------------------------
# Profiles
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DistroProfile:
    """One distribution: its ``/etc/os-release`` and how its tools answer.

    Subclasses implement one family each. ``not_found`` is the login shell's message for a missing
    command (bash 5.1+ says ``bash: line 1: X: command not found``, older bash omits ``line 1:``,
    busybox ash on Alpine says ``ash: X: not found``); the exit status is 127 in every case.
    """

    key: str
    family: Family
    os_release: str
    catalog: tuple[CatalogEntry, ...]
    not_found: str = "bash: line 1: {word}: command not found"
    n_range: tuple[int, int] = (2, 18)
    security_share: float = 0.4

    # -- commands --------------------------------------------------------------------------------

    def step_of(self, command: str) -> Step | None:
        """The step an exact command string (without sudo) belongs to, or None if unknown here."""
        if command == OS_RELEASE:
            return Step.OS_RELEASE
        commands = COMMANDS[self.family]
        for step in (Step.REFRESH, Step.LIST_UPDATES, Step.SECURITY, Step.INSTALLED, Step.REBOOT):
            if getattr(commands, step.value) == command:
                return step
        return None

    def command_word(self, command: str) -> str:
        """The program a shell would look up for ``command`` (leading ``VAR=value`` skipped)."""
        for word in command.split():
            if "=" not in word:
                return word
        return command.strip()

    def shell_not_found(self, word: str) -> Reply:
        """The login shell cannot find ``word``."""
        return Reply(stderr=self.not_found.format(word=word) + "\n", exit_status=127)

    # -- planting --------------------------------------------------------------------------------

    def plant(self, rng: random.Random, count: int, security_share: float | None = None) -> list[Package]:
        """``count`` distinct packages with an update, drawn from the catalog with ``rng``."""
        if count < 0 or count > len(self.catalog):
            raise ValueError(f"{self.key}: count must be 0..{len(self.catalog)}, got {count}")
        share = self.security_share if security_share is None else security_share
        chosen = sorted(rng.sample(self.catalog, count), key=lambda e: e.name)
        per_source: dict[str, tuple[int, int, bool, str | None, str | None]] = {}
        packages = []
        for entry in chosen:
            if entry.source not in per_source:
                n = rng.randint(*self.n_range)
                bump = rng.choice((1, 1, 1, 2))
                security = self.can_flag_security() and rng.random() < share
                advisory, severity = self.advisory(rng, entry) if security else (None, None)
                per_source[entry.source] = (n, bump, security, advisory, severity)
            n, bump, security, advisory, severity = per_source[entry.source]
            packages.append(
                Package(
                    name=entry.name,
                    installed=entry.version(n),
                    available=entry.version(n + bump),
                    arch=entry.arch,
                    repo=self.repo_for(entry, security, rng),
                    security=security,
                    advisory=advisory,
                    severity=severity,
                    source=entry.source,
                )
            )
        return packages

    def can_flag_security(self) -> bool:
        """Whether this family's tools can tell a security update from another one."""
        return True

    def advisory(self, rng: random.Random, entry: CatalogEntry) -> tuple[str, str]:
        """(advisory id, severity) for a security update of ``entry``'s source."""
        raise NotImplementedError

    def repo_for(self, entry: CatalogEntry, security: bool, rng: random.Random) -> str:
        """The repository (apt: suite list) an update of ``entry`` comes from."""
        return entry.repo

    # -- rendering -------------------------------------------------------------------------------

    def render(self, step: Step, packages: Sequence[Package], *, reboot_pending: bool, root: bool) -> Reply:
        """The healthy answer to ``step``. ``root`` says whether the command runs as root."""
        if step is Step.OS_RELEASE:
            return Reply(stdout=self.os_release)
        if step is Step.REFRESH:
            return self.render_refresh(root)
        if step is Step.LIST_UPDATES:
            return self.render_list(packages)
        if step is Step.SECURITY:
            return self.render_security(packages)
        if step is Step.INSTALLED:
            return self.render_installed(packages)
        return self.render_reboot(reboot_pending)

    def render_refresh(self, root: bool) -> Reply:
        raise NotImplementedError

    def render_list(self, packages: Sequence[Package]) -> Reply:
        raise NotImplementedError

    def render_security(self, packages: Sequence[Package]) -> Reply:
        raise NotImplementedError

    def render_installed(self, packages: Sequence[Package]) -> Reply:
        raise NotImplementedError

    def render_reboot(self, reboot_pending: bool) -> Reply:
        raise NotImplementedError

    # -- fault texts -----------------------------------------------------------------------------

    def lock_steps(self) -> frozenset[Step]:
        """Steps that take the package manager's lock (and so fail while another process holds it)."""
        return frozenset({Step.REFRESH})

    def lock_reply(self, step: Step) -> Reply:
        """The answer of a lock-taking step while another process holds the lock (pid 4242)."""
        raise NotImplementedError

    def mirror_steps(self) -> frozenset[Step]:
        """Steps that contact the repositories (and so fail while they are unreachable)."""
        return frozenset({Step.REFRESH})

    def mirror_reply(self, step: Step, packages: Sequence[Package]) -> Reply:
        """The answer of a repository-contacting step while DNS/mirrors are unreachable."""
        raise NotImplementedError

    def filler_line(self, i: int) -> str:
        """One line in the list format, used to pad a huge output."""
        raise NotImplementedError

    def filler_split(self, stdout: str) -> tuple[str, str]:
        """Where filler lines go in a list output: (before, after). Filler sits among the package
        lines, after any header, so the huge output is still well-formed for the tool."""
        return "", stdout


def garbage_text(seed: str) -> str:
    """Output no package manager prints: a proxy error page and mojibake. Exit status stays 0, so
    only a strict parser notices (a lenient one would read it as "no updates")."""
    rng = random.Random(seed)
    alphabet = "ÃƒÂ©Ð¾Ñ‚¿½�#%&*;:<>?@[]^_`{|}~0123456789abcdef"
    noise = ["".join(rng.choice(alphabet) for _ in range(rng.randint(20, 70))) for _ in range(6)]
    return (
        "<html><head><title>502 Bad Gateway</title></head>\n"
        "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
        + "\n".join(noise)
        + "\n"
    )


# ------------------------------------------------------------------------------------------------
# apt (Debian, Ubuntu)
# ------------------------------------------------------------------------------------------------

_APT_WARNING = "\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n"


@dataclass(frozen=True, kw_only=True)
class AptProfile(DistroProfile):
    """apt: security updates are those whose suite list contains ``<codename>-security``.

    ``sources`` are the ``(url, suite)`` pairs of sources.list, as ``apt-get update`` names them.
    ``updates_suite``/``security_suites`` are what ``apt list`` prints (Ubuntu:
    ``jammy-updates`` and ``jammy-updates,jammy-security``; Debian: ``stable`` and
    ``stable-security``).
    """

    sources: tuple[tuple[str, str], ...]
    updates_suites: tuple[str, ...]
    security_suites: tuple[str, ...]

    def advisory(self, rng: random.Random, entry: CatalogEntry) -> tuple[str, str]:
        # apt list shows no advisory; the notice id is kept as ground-truth colour only.
        prefix = "USN" if self.key.startswith("ubuntu") else "DSA"
        return f"{prefix}-{rng.randint(5000, 6999)}-1", "security"

    def repo_for(self, entry: CatalogEntry, security: bool, rng: random.Random) -> str:
        return rng.choice(self.security_suites if security else self.updates_suites)

    def render_refresh(self, root: bool) -> Reply:
        if not root:
            return Reply(
                stdout="Reading package lists...\n",
                stderr="E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)\n"
                "E: Unable to lock directory /var/lib/apt/lists/\n",
                exit_status=100,
            )
        lines = [f"Hit:{i} {url} {suite} InRelease" for i, (url, suite) in enumerate(self.sources, 1)]
        lines.append("Reading package lists...")
        return Reply(stdout="\n".join(lines) + "\n")

    def render_list(self, packages: Sequence[Package]) -> Reply:
        lines = ["Listing..."]
        for p in sorted(packages, key=lambda p: p.name):
            lines.append(f"{p.name}/{p.repo} {p.available} {p.arch} [upgradable from: {p.installed}]")
        return Reply(stdout="\n".join(lines) + "\n", stderr=_APT_WARNING)

    def render_reboot(self, reboot_pending: bool) -> Reply:
        return Reply(stdout="reboot-required\n" if reboot_pending else "no-reboot\n")

    def lock_reply(self, step: Step) -> Reply:
        # apt-get update takes the lists lock (not dpkg's lock-frontend, which installs take).
        return Reply(
            stderr="E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\n"
            "N: Be aware that removing the lock file is not a solution and may break your system.\n"
            "E: Unable to lock directory /var/lib/apt/lists/\n",
            exit_status=100,
        )

    def mirror_reply(self, step: Step, packages: Sequence[Package]) -> Reply:
        # Real apt-get exits 0 here: unreachable repositories are only warnings ("W:"), and the
        # old lists stay in use. The failure is visible on stderr only.
        out, err = [], []
        for i, (url, suite) in enumerate(self.sources, 1):
            host = url.split("/")[2]
            out.append(f"Err:{i} {url} {suite} InRelease\n  Temporary failure resolving '{host}'")
            err.append(f"W: Failed to fetch {url}/dists/{suite}/InRelease  Temporary failure resolving '{host}'")
        out.append("Reading package lists...")
        err.append("W: Some index files failed to download. They have been ignored, or old ones used instead.")
        return Reply(stdout="\n".join(out) + "\n", stderr="\n".join(err) + "\n", exit_status=0)

    def filler_line(self, i: int) -> str:
        return f"sim-filler{i:07d}/{self.updates_suites[0]} 1.0-{i} amd64 [upgradable from: 1.0-0]"

    def filler_split(self, stdout: str) -> tuple[str, str]:
        head = "Listing...\n"
        return (head, stdout[len(head):]) if stdout.startswith(head) else ("", stdout)


# ------------------------------------------------------------------------------------------------
# dnf / yum (RHEL family, Amazon Linux)
# ------------------------------------------------------------------------------------------------


def calc_columns(lengths: Sequence[Sequence[int]], total_width: int = 80, remainder_column: int = 1) -> list[int]:
    """Column widths the way dnf/yum size their list output for a terminal of ``total_width``.

    Widths grow in steps chosen by how many values each step lets fit, the last column starts at
    zero, and the space left over is split over all but the last column (the rest goes to
    ``remainder_column``). Re-implemented from the algorithm's description so the simulated lines
    have the real padding and the real wrapping of values that do not fit.
    """
    cols = len(lengths)
    pending = [sorted(Counter(col).items()) for col in lengths]
    widths = [1] * (cols - 1) + [0]
    left = total_width - (sum(widths) + (cols - 1)) + 1
    while left > 0:
        best, best_col = 0, 0
        for col in range(cols):
            helped = 0
            for length, count in pending[col]:
                if left < length - widths[col]:
                    break
                helped += count
            if helped > best:
                best, best_col = helped, col
        if best:
            diff = pending[best_col].pop(0)[0] - widths[best_col]
            if not widths[best_col] and best_col == cols - 1:
                left -= 1
            widths[best_col] += diff
            left -= diff
            continue
        overflowed = [col for col in range(cols) if pending[col]]
        if overflowed:
            share = left // len(overflowed)
            for col in overflowed:
                widths[col] += share
                left -= share
        share = left // (cols - 1)
        for col in range(cols - 1):
            widths[col] += share
        widths[remainder_column] += left - (cols - 1) * share
        left = 0
    return widths


def format_columns(values: Sequence[str], widths: Sequence[int]) -> str:
    """One row: values left-aligned and space-separated; a value wider than its column is followed
    by a newline and an indent to the next column (dnf's overflow), the last value is padded."""
    out: list[str] = []
    used = 0
    for value, width in zip(values[:-1], widths[:-1], strict=True):
        if len(value) <= width:
            out.append(value + " " * (width - len(value)) + " ")
        else:
            out.append(value + "\n" + " " * (used + width + 1))
        used += width + 1
    out.append(values[-1].ljust(widths[-1]))
    return "".join(out)


def _split_epoch(evr: str) -> tuple[str, str]:
    epoch, sep, rest = evr.partition(":")
    return (epoch, rest) if sep else ("0", evr)


@dataclass(frozen=True, kw_only=True)
class RpmProfile(DistroProfile):
    """dnf (EL8+) and yum (Amazon Linux 2, EL7): same list layout, different wording.

    ``severities`` are the advisory severities as the updateinfo metadata spells them (AL2 uses
    lower case ``important``/``medium``, EL uses ``Important``/``Moderate``); the list prints
    ``<severity>/Sec.``. ``base_installed`` are packages installed without updates (for
    ``rpm -qa``), ``gpg_keys`` the imported signing keys (rpm lists them as ``gpg-pubkey.(none)``).
    """

    tool: str
    advisory_format: str
    severities: tuple[str, ...]
    base_installed: tuple[str, ...]
    gpg_keys: tuple[str, ...]
    mirror_error: str
    running_kernel_source: str = "kernel"

    def advisory(self, rng: random.Random, entry: CatalogEntry) -> tuple[str, str]:
        return self.advisory_format.format(n=rng.randint(1, 9999)), rng.choice(self.severities)

    def render_refresh(self, root: bool) -> Reply:
        # "-q makecache" prints nothing on success; as a non-root user dnf/yum refresh a per-user
        # cache (/var/tmp/dnf-<user>-*) and still succeed.
        return Reply()

    def render_list(self, packages: Sequence[Package]) -> Reply:
        if not packages:
            return Reply(exit_status=0)
        rows = [(f"{p.name}.{p.arch}", p.available, p.repo) for p in sorted(packages, key=lambda p: (p.name, p.arch))]
        widths = calc_columns([[len(r[i]) for r in rows] for i in range(3)])
        # The leading empty line is the (empty) list title dnf/yum print before the updates.
        body = "\n".join(format_columns(row, widths) for row in rows)
        return Reply(stdout="\n" + body + "\n", exit_status=100)

    def render_security(self, packages: Sequence[Package]) -> Reply:
        rows = sorted(
            (p.advisory or "", f"{p.severity}/Sec.", f"{p.name}-{p.available}.{p.arch}")
            for p in packages
            if p.security
        )
        if not rows:
            return Reply()
        idw = max(len(r[0]) for r in rows)
        tlw = max(len(r[1]) for r in rows)
        lines = [f"{adv:<{idw}} {label:<{tlw}} {nevra}" for adv, label, nevra in rows]
        return Reply(stdout="\n".join(lines) + "\n")

    def render_installed(self, packages: Sequence[Package]) -> Reply:
        updated = {(p.name, p.arch): p.installed for p in packages}
        lines: list[str] = []
        for entry in self.catalog:
            version = updated.get((entry.name, entry.arch))
            if version is None:
                version = entry.version(1 + _stable_int(entry.name, 4))
            epoch, vr = _split_epoch(version)
            if entry.source == self.running_kernel_source and entry.name == "kernel":
                # Install-only: the previous kernel stays installed next to the current one.
                older = _older_release(vr)
                if older:
                    lines.append(f"{entry.name}.{entry.arch} {epoch}:{older}")
            lines.append(f"{entry.name}.{entry.arch} {epoch}:{vr}")
        lines.extend(self.base_installed)
        lines.extend(f"gpg-pubkey.(none) 0:{key}" for key in self.gpg_keys)
        # rpm -qa prints in database order, not sorted; a stable shuffle imitates that.
        lines.sort(key=lambda line: _stable_int(line, 1 << 30))
        return Reply(stdout="\n".join(lines) + "\n")

    def render_reboot(self, reboot_pending: bool) -> Reply:
        if self.tool == "dnf":
            if reboot_pending:
                return Reply(
                    stdout="Core libraries or services have been updated since boot-up:\n"
                    "  * kernel\n  * glibc\n\n"
                    "Reboot is required to fully utilize these updates.\n"
                    "More information: https://access.redhat.com/solutions/27943\n",
                    exit_status=1,
                )
            return Reply(
                stdout="No core libraries or services have been updated since boot-up.\n"
                "Reboot should not be necessary.\n"
            )
        if reboot_pending:
            return Reply(
                stdout="Core libraries or services have been updated:\n"
                "  kernel -> 5.10.210-201.852.amzn2\n\n"
                "Reboot is required to ensure that your system benefits from these updates.\n\n"
                "More information:\nhttps://access.redhat.com/solutions/27943\n",
                exit_status=1,
            )
        return Reply(stdout="No core libraries or services have been updated.\nReboot is probably not necessary.\n")

    def lock_steps(self) -> frozenset[Step]:
        return frozenset({Step.REFRESH, Step.LIST_UPDATES, Step.SECURITY})

    def lock_reply(self, step: Step) -> Reply:
        # Modelled with exit_on_lock=True (the sane setting for unattended scans); with the default
        # dnf/yum would wait for the lock, which the "hang" fault covers.
        if self.tool == "dnf":
            return Reply(
                stderr="metadata already locked by 4242\n"
                "  The application with PID 4242 is: dnf\n"
                "    Memory :  98 M RSS (415 MB VSZ)\n"
                "    Started: Mon Jan  8 03:14:07 2024 - 00:41 ago\n"
                "    State  : Sleeping\n",
                exit_status=200,
            )
        return Reply(
            stderr="Existing lock /var/run/yum.pid: another copy is running as pid 4242.\n"
            "Another app is currently holding the yum lock; exiting as configured by exit_on_lock\n",
            exit_status=1,
        )

    def mirror_steps(self) -> frozenset[Step]:
        return frozenset({Step.REFRESH, Step.LIST_UPDATES, Step.SECURITY})

    def mirror_reply(self, step: Step, packages: Sequence[Package]) -> Reply:
        return Reply(stderr=self.mirror_error, exit_status=1)

    def filler_line(self, i: int) -> str:
        return f"sim-filler{i:07d}.x86_64                 1.0-{i}                      {self.catalog[0].repo}"

    def filler_split(self, stdout: str) -> tuple[str, str]:
        return ("\n", stdout[1:]) if stdout.startswith("\n") else ("", stdout)


def _older_release(vr: str) -> str | None:
    """The same version with the first number of the release lowered by one (an older kernel)."""
    version, _, release = vr.partition("-")
    head, dot, tail = release.partition(".")
    if not head.isdigit() or int(head) < 2:
        return None
    return f"{version}-{int(head) - 1}{dot}{tail}"


# ------------------------------------------------------------------------------------------------
# zypper (openSUSE, SLES)
# ------------------------------------------------------------------------------------------------


def zypper_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """zypper's plain table: cells padded to the column width and joined by `` | ``, a ``-+-`` rule
    under the header; the last column is not padded."""
    rows = [list(r) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)]
        return " | ".join([*padded, cells[-1]])

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)]) + "\n"


@dataclass(frozen=True, kw_only=True)
class ZypperProfile(DistroProfile):
    """zypper: updates in one table, security as patches in another (the unit zypper counts)."""

    repositories: tuple[str, ...]
    patch_prefixes: tuple[tuple[str, str], ...]

    def advisory(self, rng: random.Random, entry: CatalogEntry) -> tuple[str, str]:
        prefix = dict(self.patch_prefixes).get(entry.repo, "openSUSE-2024-")
        return f"{prefix}{rng.randint(100, 4999)}", rng.choice(("important", "moderate", "low", "critical"))

    def render_refresh(self, root: bool) -> Reply:
        if not root:
            return Reply(stderr="Root privileges are required to refresh system repositories.\n", exit_status=5)
        lines = [f"Repository '{name}' is up to date." for name in self.repositories]
        lines.append("All repositories have been refreshed.")
        return Reply(stdout="\n".join(lines) + "\n")

    def render_list(self, packages: Sequence[Package]) -> Reply:
        head = "Loading repository data...\nReading installed packages...\n"
        if not packages:
            return Reply(stdout=head + "No updates found.\n")
        rows = [("v", p.repo, p.name, p.installed, p.available, p.arch) for p in sorted(packages, key=lambda p: p.name)]
        header = ("S ", "Repository", "Name", "Current Version", "Available Version", "Arch")
        return Reply(stdout=head + zypper_table(header, rows))

    def render_security(self, packages: Sequence[Package]) -> Reply:
        head = "Loading repository data...\nReading installed packages...\n"
        patches: dict[str, tuple[str, str, str]] = {}
        for p in packages:
            if p.security and p.advisory:
                patches[p.advisory] = (p.repo, p.severity or "moderate", p.source)
        if not patches:
            return Reply(stdout=head + "No updates found.\n")
        rows = []
        for name, (repo, severity, source) in sorted(patches.items()):
            subject = "the Linux Kernel" if source.startswith("kernel") else source
            rows.append((repo, name, "security", severity, "---", "needed", f"Security update for {subject}"))
        header = ("Repository", "Name", "Category", "Severity", "Interactive", "Status", "Summary")
        n = len(rows)
        noun = "patch" if n == 1 else "patches"
        footer = f"\nFound {n} applicable {noun}:\n{n} {noun} needed ({n} security {noun})\n"
        return Reply(stdout=head + "\n" + zypper_table(header, rows) + footer)

    def render_reboot(self, reboot_pending: bool) -> Reply:
        if reboot_pending:
            return Reply(
                stdout="Core libraries or services have been updated.\n"
                "Reboot is required to ensure that your system benefits from these updates.\n",
                exit_status=102,
            )
        return Reply(stdout="No core libraries or services have been updated.\nReboot is probably not necessary.\n")

    def lock_steps(self) -> frozenset[Step]:
        return frozenset({Step.REFRESH, Step.LIST_UPDATES, Step.SECURITY, Step.REBOOT})

    def lock_reply(self, step: Step) -> Reply:
        return Reply(
            stderr="System management is locked by the application with pid 4242 (zypper).\n"
            "Close this application before trying again.\n",
            exit_status=7,
        )

    def mirror_steps(self) -> frozenset[Step]:
        return frozenset({Step.REFRESH, Step.LIST_UPDATES, Step.SECURITY})

    def mirror_reply(self, step: Step, packages: Sequence[Package]) -> Reply:
        failing = [r for r in self.repositories if "Update" in r or "update" in r]
        err = []
        for repo in failing:
            err.append(
                f"Download (curl) error for 'http://download.opensuse.org/update/leap/15.5/{_slug(repo)}/"
                "repodata/repomd.xml':\nError code: Connection failed\n"
                "Error message: Could not resolve host: download.opensuse.org\n"
            )
            err.append(f"Skipping repository '{repo}' because of the above error.")
        if step is Step.REFRESH:
            out = "\n".join(f"Retrieving repository '{r}' metadata [.error]" for r in failing) + "\n"
            err.append("Some of the repositories have not been refreshed because of an error.")
            return Reply(stdout=out, stderr="\n".join(err) + "\n", exit_status=4)
        # The update repositories are skipped, so the listing comes out empty; zypper says so
        # with exit 106 (ZYPPER_EXIT_INF_REPOS_SKIPPED) and the errors on stderr.
        kept = [p for p in packages if p.repo not in failing]
        reply = self.render_list(kept) if step is Step.LIST_UPDATES else self.render_security(kept)
        return Reply(stdout=reply.stdout, stderr="\n".join(err) + "\n", exit_status=106)

    def filler_line(self, i: int) -> str:
        return f"v  | Main Update Repository | sim-filler{i:07d} | 1.0-0 | 1.0-{i} | x86_64"

    def filler_split(self, stdout: str) -> tuple[str, str]:
        lines = stdout.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith("---+"):
                return "".join(lines[: i + 1]), "".join(lines[i + 1:])
        return "", stdout


def _slug(repo: str) -> str:
    return "sle" if "SUSE Linux Enterprise" in repo else "oss" if "Main" in repo else "backports"


# ------------------------------------------------------------------------------------------------
# apk (Alpine)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ApkProfile(DistroProfile):
    """apk: one list line per package with origin and license; no advisories, no reboot marker."""

    mirror: str
    branch: str

    def can_flag_security(self) -> bool:
        return False

    def render_refresh(self, root: bool) -> Reply:
        if not root:
            return Reply(
                stderr="ERROR: Unable to lock database: Permission denied\n"
                "ERROR: Failed to open apk database: Permission denied\n",
                exit_status=99,
            )
        out = []
        for repo in ("main", "community"):
            out.append(f"fetch {self.mirror}/{self.branch}/{repo}/x86_64/APKINDEX.tar.gz")
        out.append(f"v3.19.1-265-g0e4c3a30a6a [{self.mirror}/{self.branch}/main]")
        out.append(f"v3.19.1-268-g5b4b2d9c8f7 [{self.mirror}/{self.branch}/community]")
        out.append("OK: 22991 distinct packages available")
        return Reply(stdout="\n".join(out) + "\n")

    def render_list(self, packages: Sequence[Package]) -> Reply:
        licenses = {e.name: e.license for e in self.catalog}
        lines = [
            f"{p.name}-{p.available} {p.arch} {{{p.source}}} ({licenses.get(p.name, 'MIT')})"
            f" [upgradable from: {p.name}-{p.installed}]"
            for p in sorted(packages, key=lambda p: p.name)
        ]
        return Reply(stdout="".join(line + "\n" for line in lines))

    def lock_reply(self, step: Step) -> Reply:
        return Reply(
            stderr="ERROR: Unable to lock database: temporary error (try again later)\n"
            "ERROR: Failed to open apk database: temporary error (try again later)\n",
            exit_status=99,
        )

    def mirror_reply(self, step: Step, packages: Sequence[Package]) -> Reply:
        out, err = [], []
        for repo in ("main", "community"):
            out.append(f"fetch {self.mirror}/{self.branch}/{repo}/x86_64/APKINDEX.tar.gz")
            err.append(f"WARNING: fetching {self.mirror}/{self.branch}/{repo}: DNS lookup error")
        out.append("2 unavailable, 0 stale; 17 distinct packages available")
        return Reply(stdout="\n".join(out) + "\n", stderr="\n".join(err) + "\n", exit_status=2)

    def filler_line(self, i: int) -> str:
        return f"sim-filler{i:07d}-1.0-r{i} x86_64 {{sim-filler}} (MIT) [upgradable from: sim-filler{i:07d}-1.0-r0]"


# ------------------------------------------------------------------------------------------------
# Catalogs: real package names and version schemes of each distribution
# ------------------------------------------------------------------------------------------------

_UBUNTU_2204 = _catalog(
    """
openssl 3.0.2-0ubuntu1.{n} amd64 openssl
libssl3 3.0.2-0ubuntu1.{n} amd64 openssl
curl 7.81.0-1ubuntu1.{n} amd64 curl
libcurl4 7.81.0-1ubuntu1.{n} amd64 curl
libc6 2.35-0ubuntu3.{n} amd64 glibc
libc-bin 2.35-0ubuntu3.{n} amd64 glibc
locales 2.35-0ubuntu3.{n} all glibc
openssh-client 1:8.9p1-3ubuntu0.{n} amd64 openssh
openssh-server 1:8.9p1-3ubuntu0.{n} amd64 openssh
openssh-sftp-server 1:8.9p1-3ubuntu0.{n} amd64 openssh
sudo 1.9.9-1ubuntu2.{n} amd64 sudo
tzdata 2024a-0ubuntu0.22.04.{n} all tzdata
linux-image-generic 5.15.0.{n}.88 amd64 linux-meta
linux-generic 5.15.0.{n}.88 amd64 linux-meta
systemd 249.11-0ubuntu3.{n} amd64 systemd
libsystemd0 249.11-0ubuntu3.{n} amd64 systemd
udev 249.11-0ubuntu3.{n} amd64 systemd
vim 2:8.2.3995-1ubuntu2.{n} amd64 vim
vim-common 2:8.2.3995-1ubuntu2.{n} all vim
git 1:2.34.1-1ubuntu1.{n} amd64 git
python3.10 3.10.12-1~22.04.{n} amd64 python3.10
libpython3.10-minimal 3.10.12-1~22.04.{n} amd64 python3.10
bash 5.1-6ubuntu1.{n} amd64 bash
libxml2 2.9.13+dfsg-1ubuntu0.{n} amd64 libxml2
zlib1g 1:1.2.11.dfsg-2ubuntu9.{n} amd64 zlib
gnupg 2.2.27-3ubuntu2.{n} all gnupg2
libgnutls30 3.7.3-4ubuntu1.{n} amd64 gnutls28
ca-certificates 20230311ubuntu0.22.04.{n} all ca-certificates
wget 1.21.2-2ubuntu1.{n} amd64 wget
less 590-1ubuntu0.22.04.{n} amd64 less
libpam-modules 1.4.0-11ubuntu2.{n} amd64 pam
libglib2.0-0 2.72.4-0ubuntu2.{n} amd64 glib2.0
libssh-4 0.9.6-2ubuntu0.22.04.{n} amd64 libssh
libexpat1 2.4.7-1ubuntu0.{n} amd64 expat
libnss3 2:3.98-0ubuntu0.22.04.{n} amd64 nss
python3-urllib3 1.26.5-1~exp1ubuntu0.{n} all python-urllib3
rsync 3.2.7-0ubuntu0.22.04.{n} amd64 rsync
libkrb5-3 1.19.2-2ubuntu0.{n} amd64 krb5
libldap-2.5-0 2.5.16+dfsg-0ubuntu0.22.04.{n} amd64 openldap
libtiff5 4.3.0-6ubuntu0.{n} amd64 tiff
""",

)

_DEBIAN_12 = _catalog(
    """
openssl 3.0.11-1~deb12u{n} amd64 openssl
libssl3 3.0.11-1~deb12u{n} amd64 openssl
curl 7.88.1-10+deb12u{n} amd64 curl
libcurl4 7.88.1-10+deb12u{n} amd64 curl
libc6 2.36-9+deb12u{n} amd64 glibc
libc-bin 2.36-9+deb12u{n} amd64 glibc
openssh-client 1:9.2p1-2+deb12u{n} amd64 openssh
openssh-server 1:9.2p1-2+deb12u{n} amd64 openssh
openssh-sftp-server 1:9.2p1-2+deb12u{n} amd64 openssh
sudo 1.9.13p3-1+deb12u{n} amd64 sudo
tzdata 2024a-0+deb12u{n} all tzdata
linux-image-amd64 6.1.{n}-1 amd64 linux-signed-amd64
systemd 252.{n}-1~deb12u1 amd64 systemd
libsystemd0 252.{n}-1~deb12u1 amd64 systemd
udev 252.{n}-1~deb12u1 amd64 systemd
vim 2:9.0.1378-2+deb12u{n} amd64 vim
vim-runtime 2:9.0.1378-2+deb12u{n} all vim
git 1:2.39.2-1.1+deb12u{n} amd64 git
python3.11 3.11.2-6+deb12u{n} amd64 python3.11
libpython3.11-minimal 3.11.2-6+deb12u{n} amd64 python3.11
libxml2 2.9.14+dfsg-1.3~deb12u{n} amd64 libxml2
zlib1g 1:1.2.13.dfsg-1+deb12u{n} amd64 zlib
gnupg 2.2.40-1.1+deb12u{n} all gnupg2
libgnutls30 3.7.9-2+deb12u{n} amd64 gnutls28
ca-certificates 20230311+deb12u{n} all ca-certificates
wget 1.21.3-1+deb12u{n} amd64 wget
less 590-2.1~deb12u{n} amd64 less
libpam-modules 1.5.2-6+deb12u{n} amd64 pam
libglib2.0-0 2.74.6-2+deb12u{n} amd64 glib2.0
libssh-4 0.10.6-0+deb12u{n} amd64 libssh
libexpat1 2.5.0-1+deb12u{n} amd64 expat
libnss3 2:3.87.1-1+deb12u{n} amd64 nss
rsync 3.2.7-1+deb12u{n} amd64 rsync
libkrb5-3 1.20.1-2+deb12u{n} amd64 krb5
libldap-2.5-0 2.5.13+dfsg-5+deb12u{n} amd64 openldap
libtiff6 4.5.0-6+deb12u{n} amd64 tiff
bind9-libs 1:9.18.24-1+deb12u{n} amd64 bind9
postfix 3.7.10-0+deb12u{n} amd64 postfix
""",

)

_ROCKY_9 = _catalog(
    """
openssl 1:3.0.7-{n}.el9_3 x86_64 openssl baseos
openssl-libs 1:3.0.7-{n}.el9_3 x86_64 openssl baseos
curl 7.76.1-26.el9_3.{n} x86_64 curl baseos
libcurl 7.76.1-26.el9_3.{n} x86_64 curl baseos
glibc 2.34-83.el9_3.{n} x86_64 glibc baseos
glibc-common 2.34-83.el9_3.{n} x86_64 glibc baseos
glibc-minimal-langpack 2.34-83.el9_3.{n} x86_64 glibc baseos
glibc-langpack-en 2.34-83.el9_3.{n} x86_64 glibc baseos
openssh 8.7p1-34.el9_3.{n} x86_64 openssh baseos
openssh-server 8.7p1-34.el9_3.{n} x86_64 openssh baseos
openssh-clients 8.7p1-34.el9_3.{n} x86_64 openssh baseos
sudo 1.9.5p2-{n}.el9_3 x86_64 sudo baseos
tzdata 2024a-{n}.el9 noarch tzdata baseos
kernel 5.14.0-362.{n}.1.el9_3 x86_64 kernel baseos
kernel-core 5.14.0-362.{n}.1.el9_3 x86_64 kernel baseos
kernel-modules 5.14.0-362.{n}.1.el9_3 x86_64 kernel baseos
kernel-modules-core 5.14.0-362.{n}.1.el9_3 x86_64 kernel baseos
kernel-tools-libs 5.14.0-362.{n}.1.el9_3 x86_64 kernel baseos
systemd 252-18.el9_3.{n} x86_64 systemd baseos
systemd-libs 252-18.el9_3.{n} x86_64 systemd baseos
systemd-pam 252-18.el9_3.{n} x86_64 systemd baseos
vim-minimal 2:8.2.2637-20.el9_1.{n} x86_64 vim baseos
git-core 2.39.3-1.el9_2.{n} x86_64 git appstream
python3 3.9.18-1.el9_3.{n} x86_64 python3.9 baseos
python3-libs 3.9.18-1.el9_3.{n} x86_64 python3.9 baseos
libxml2 2.9.13-5.el9_3.{n} x86_64 libxml2 baseos
gnutls 3.7.6-23.el9_3.{n} x86_64 gnutls baseos
ca-certificates 2023.2.60_v7.0.306-90.1.el9_2.{n} noarch ca-certificates baseos
expat 2.5.0-1.el9_3.{n} x86_64 expat baseos
glib2 2.68.4-11.el9_3.{n} x86_64 glib2 baseos
nss 3.90.0-6.el9_2.{n} x86_64 nss appstream
krb5-libs 1.21.1-1.el9.{n} x86_64 krb5 baseos
openldap 2.6.3-1.el9.{n} x86_64 openldap baseos
libtiff 4.4.0-10.el9.{n} x86_64 libtiff appstream
NetworkManager 1:1.44.0-{n}.el9_3 x86_64 NetworkManager baseos
NetworkManager-libnm 1:1.44.0-{n}.el9_3 x86_64 NetworkManager baseos
python3-dnf-plugins-core 4.3.0-11.el9_3.{n} noarch dnf-plugins-core baseos
rpm 4.16.1.3-25.el9_3.{n} x86_64 rpm baseos
rpm-libs 4.16.1.3-25.el9_3.{n} x86_64 rpm baseos
selinux-policy-targeted 38.1.23-1.el9_3.{n} noarch selinux-policy baseos
""",
    last="repo",
)

_AMZN_2 = _catalog(
    """
openssl 1:1.0.2k-24.amzn2.0.{n} x86_64 openssl amzn2-core
openssl-libs 1:1.0.2k-24.amzn2.0.{n} x86_64 openssl amzn2-core
curl 8.3.0-1.amzn2.0.{n} x86_64 curl amzn2-core
libcurl 8.3.0-1.amzn2.0.{n} x86_64 curl amzn2-core
glibc 2.26-64.amzn2.0.{n} x86_64 glibc amzn2-core
glibc-common 2.26-64.amzn2.0.{n} x86_64 glibc amzn2-core
glibc-minimal-langpack 2.26-64.amzn2.0.{n} x86_64 glibc amzn2-core
glibc-langpack-en 2.26-64.amzn2.0.{n} x86_64 glibc amzn2-core
openssh 7.4p1-22.amzn2.0.{n} x86_64 openssh amzn2-core
openssh-server 7.4p1-22.amzn2.0.{n} x86_64 openssh amzn2-core
openssh-clients 7.4p1-22.amzn2.0.{n} x86_64 openssh amzn2-core
sudo 1.8.23-10.amzn2.3.{n} x86_64 sudo amzn2-core
tzdata 2024a-1.amzn2.0.{n} noarch tzdata amzn2-core
kernel 5.10.{n}-201.852.amzn2 x86_64 kernel amzn2extra-kernel-5.10
kernel-tools 5.10.{n}-201.852.amzn2 x86_64 kernel amzn2extra-kernel-5.10
systemd 219-78.amzn2.0.{n} x86_64 systemd amzn2-core
systemd-libs 219-78.amzn2.0.{n} x86_64 systemd amzn2-core
vim-minimal 2:9.0.2153-1.amzn2.0.{n} x86_64 vim amzn2-core
vim-common 2:9.0.2153-1.amzn2.0.{n} x86_64 vim amzn2-core
vim-filesystem 2:9.0.2153-1.amzn2.0.{n} noarch vim amzn2-core
git 2.40.1-1.amzn2.0.{n} x86_64 git amzn2-core
python 2.7.18-1.amzn2.0.{n} x86_64 python amzn2-core
python-libs 2.7.18-1.amzn2.0.{n} x86_64 python amzn2-core
python3 3.7.16-1.amzn2.0.{n} x86_64 python3 amzn2-core
python3-libs 3.7.16-1.amzn2.0.{n} x86_64 python3 amzn2-core
libxml2 2.9.1-6.amzn2.5.{n} x86_64 libxml2 amzn2-core
zlib 1.2.7-19.amzn2.0.{n} x86_64 zlib amzn2-core
ca-certificates 2021.2.50-72.amzn2.0.{n} noarch ca-certificates amzn2-core
expat 2.1.0-15.amzn2.0.{n} x86_64 expat amzn2-core
glib2 2.56.1-9.amzn2.0.{n} x86_64 glib2 amzn2-core
nss 3.90.0-2.amzn2.0.{n} x86_64 nss amzn2-core
krb5-libs 1.15.1-55.amzn2.2.{n} x86_64 krb5 amzn2-core
rsync 3.1.2-11.amzn2.0.{n} x86_64 rsync amzn2-core
less 458-9.amzn2.0.{n} x86_64 less amzn2-core
libtiff 4.0.3-35.amzn2.0.{n} x86_64 libtiff amzn2-core
java-1.8.0-openjdk-headless 1:1.8.0.402.b06-1.amzn2.0.{n} x86_64 java-1.8.0-openjdk amzn2-core
cloud-init 19.3-46.amzn2.0.{n} noarch cloud-init amzn2-core
ec2-instance-connect 1.1-19.amzn2.0.{n} noarch ec2-instance-connect amzn2-core
amazon-ssm-agent 3.3.{n}.0-1.amzn2 x86_64 amazon-ssm-agent amzn2-core
""",
    last="repo",
)

_SLE = "Update repository with updates from SUSE Linux Enterprise 15"
_MAIN = "Main Update Repository"
_LEAP_155 = _catalog(
    f"""
libopenssl1_1 1.1.1l-150500.17.{{n}}.1 x86_64 openssl-1_1 {_SLE}
openssl-1_1 1.1.1l-150500.17.{{n}}.1 x86_64 openssl-1_1 {_SLE}
libopenssl3 3.0.8-150500.5.{{n}}.1 x86_64 openssl-3 {_SLE}
curl 8.0.1-150400.5.{{n}}.1 x86_64 curl {_SLE}
libcurl4 8.0.1-150400.5.{{n}}.1 x86_64 curl {_SLE}
glibc 2.31-150300.{{n}}.1 x86_64 glibc {_SLE}
glibc-locale-base 2.31-150300.{{n}}.1 x86_64 glibc {_SLE}
openssh 8.4p1-150300.3.{{n}}.1 x86_64 openssh {_SLE}
openssh-clients 8.4p1-150300.3.{{n}}.1 x86_64 openssh {_SLE}
openssh-server 8.4p1-150300.3.{{n}}.1 x86_64 openssh {_SLE}
openssh-common 8.4p1-150300.3.{{n}}.1 x86_64 openssh {_SLE}
sudo 1.9.12p1-150500.7.{{n}}.1 x86_64 sudo {_SLE}
timezone 2024a-150000.75.{{n}}.1 x86_64 timezone {_SLE}
kernel-default 5.14.21-150500.55.{{n}}.1 x86_64 kernel-source {_MAIN}
systemd 249.16-150400.8.{{n}}.1 x86_64 systemd {_SLE}
libsystemd0 249.16-150400.8.{{n}}.1 x86_64 systemd {_SLE}
udev 249.16-150400.8.{{n}}.1 x86_64 systemd {_SLE}
vim 9.1.0111-17.{{n}}.1 x86_64 vim {_SLE}
vim-data-common 9.1.0111-17.{{n}}.1 noarch vim {_SLE}
git-core 2.35.3-150300.10.{{n}}.1 x86_64 git {_SLE}
python3 3.6.15-150300.10.{{n}}.1 x86_64 python3 {_SLE}
libpython3_6m1_0 3.6.15-150300.10.{{n}}.1 x86_64 python3 {_SLE}
bash 4.4-150400.27.{{n}}.1 x86_64 bash {_SLE}
libxml2-2 2.10.3-150500.5.{{n}}.1 x86_64 libxml2 {_SLE}
libz1 1.2.13-150500.4.{{n}}.1 x86_64 zlib {_SLE}
libgnutls30 3.7.3-150500.4.{{n}}.1 x86_64 gnutls {_SLE}
ca-certificates-mozilla 2.62-150200.{{n}}.1 noarch ca-certificates-mozilla {_SLE}
libexpat1 2.4.4-150400.3.{{n}}.1 x86_64 expat {_SLE}
libglib-2_0-0 2.70.5-150400.3.{{n}}.1 x86_64 glib2 {_SLE}
libssh4 0.9.8-150400.3.{{n}}.1 x86_64 libssh {_SLE}
less 590-150400.3.{{n}}.1 x86_64 less {_SLE}
rsync 3.2.3-150400.3.{{n}}.1 x86_64 rsync {_SLE}
mozilla-nss 3.90.1-150400.3.{{n}}.1 x86_64 mozilla-nss {_SLE}
krb5 1.20.1-150500.3.{{n}}.1 x86_64 krb5 {_SLE}
libldap-2_4-2 2.4.46-150200.14.{{n}}.1 x86_64 openldap2 {_SLE}
libtiff5 4.0.9-150000.45.{{n}}.1 x86_64 tiff {_SLE}
zypper 1.14.66-150400.3.{{n}}.1 x86_64 zypper {_SLE}
libzypp 17.31.20-150400.3.{{n}}.1 x86_64 libzypp {_SLE}
MozillaFirefox 115.8.0-150200.152.{{n}}.1 x86_64 MozillaFirefox {_MAIN}
""",
    last="repo",
)

_ALPINE_319 = _catalog(
    """
openssl 3.1.4-r{n} x86_64 openssl Apache-2.0
libcrypto3 3.1.4-r{n} x86_64 openssl Apache-2.0
libssl3 3.1.4-r{n} x86_64 openssl Apache-2.0
curl 8.5.0-r{n} x86_64 curl curl
libcurl 8.5.0-r{n} x86_64 curl curl
musl 1.2.4_git20230717-r{n} x86_64 musl MIT
musl-utils 1.2.4_git20230717-r{n} x86_64 musl MIT AND BSD-2-Clause AND GPL-2.0-or-later
busybox 1.36.1-r{n} x86_64 busybox GPL-2.0-only
busybox-binsh 1.36.1-r{n} x86_64 busybox GPL-2.0-only
ssl_client 1.36.1-r{n} x86_64 busybox GPL-2.0-only
openssh 9.6_p1-r{n} x86_64 openssh SSH-OpenSSH
openssh-client-default 9.6_p1-r{n} x86_64 openssh SSH-OpenSSH
openssh-server 9.6_p1-r{n} x86_64 openssh SSH-OpenSSH
openssh-keygen 9.6_p1-r{n} x86_64 openssh SSH-OpenSSH
sudo 1.9.15_p2-r{n} x86_64 sudo custom ISC
tzdata 2024a-r{n} x86_64 tzdata Public-Domain
linux-lts 6.6.{n}-r0 x86_64 linux-lts GPL-2.0-only
zlib 1.3.1-r{n} x86_64 zlib Zlib
libxml2 2.11.7-r{n} x86_64 libxml2 MIT
ca-certificates 20240226-r{n} x86_64 ca-certificates MPL-2.0 AND MIT
ca-certificates-bundle 20240226-r{n} x86_64 ca-certificates MPL-2.0 AND MIT
git 2.43.0-r{n} x86_64 git GPL-2.0-or-later
bash 5.2.21-r{n} x86_64 bash GPL-3.0-or-later
libexpat 2.6.2-r{n} x86_64 expat MIT
glib 2.78.4-r{n} x86_64 glib LGPL-2.1-or-later
python3 3.11.8-r{n} x86_64 python3 PSF-2.0
libssh2 1.11.0-r{n} x86_64 libssh2 BSD-3-Clause
less 643-r{n} x86_64 less GPL-3.0-or-later OR BSD-2-Clause
rsync 3.2.7-r{n} x86_64 rsync GPL-3.0-or-later
nghttp2-libs 1.58.0-r{n} x86_64 nghttp2 MIT
apk-tools 2.14.0-r{n} x86_64 apk-tools GPL-2.0-only
alpine-baselayout 3.4.3-r{n} x86_64 alpine-baselayout GPL-2.0-only
alpine-baselayout-data 3.4.3-r{n} x86_64 alpine-baselayout GPL-2.0-only
libc-utils 0.7.2-r{n} x86_64 libc-dev BSD-2-Clause AND BSD-3-Clause
krb5-libs 1.21.2-r{n} x86_64 krb5 MIT
gnutls 3.8.3-r{n} x86_64 gnutls LGPL-2.1-or-later
vim 9.0.2127-r{n} x86_64 vim Vim
sqlite-libs 3.44.2-r{n} x86_64 sqlite blessing
""",
    last="license",
)

_RPM_BASE_EL9 = (
    "filesystem.x86_64 0:3.16-2.el9",
    "setup.noarch 0:2.13.7-9.el9",
    "basesystem.noarch 0:11-13.el9",
    "bash.x86_64 0:5.1.8-6.el9_1",
    "coreutils.x86_64 0:8.32-34.el9",
    "dnf.noarch 0:4.14.0-8.el9",
    "yum.noarch 0:4.14.0-8.el9",
    "rocky-release.noarch 0:9.3-1.2.el9",
    "rocky-gpg-keys.noarch 0:9.3-1.2.el9",
    "dnf-utils.noarch 0:4.3.0-11.el9_3",
    "libgcc.x86_64 0:11.4.1-2.1.el9",
    "zlib.x86_64 0:1.2.11-40.el9",
)

_RPM_BASE_AMZN2 = (
    "filesystem.x86_64 0:3.2-25.amzn2.0.4",
    "setup.noarch 0:2.8.71-10.amzn2.0.1",
    "basesystem.noarch 0:10.0-7.amzn2.0.1",
    "bash.x86_64 0:4.2.46-34.amzn2",
    "coreutils.x86_64 0:8.22-24.amzn2.0.1",
    "yum.noarch 0:3.4.3-158.amzn2.0.6",
    "yum-utils.noarch 0:1.1.31-46.amzn2.0.1",
    "system-release.x86_64 1:2-16.amzn2",
    "libgcc.x86_64 0:7.3.1-17.amzn2",
)

_ROCKY_MIRROR_ERROR = (
    "Errors during downloading metadata for repository 'baseos':\n"
    "  - Curl error (6): Couldn't resolve host name for "
    "https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo=BaseOS-9 "
    "[Could not resolve host: mirrors.rockylinux.org]\n"
    "Error: Failed to download metadata for repo 'baseos': Cannot prepare internal mirrorlist: "
    "Curl error (6): Couldn't resolve host name for "
    "https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo=BaseOS-9 "
    "[Could not resolve host: mirrors.rockylinux.org]\n"
)

_AMZN_MIRROR_HOST = "amazonlinux-2-repos-us-east-1.s3.dualstack.us-east-1.amazonaws.com"
_AMZN_MIRROR_ERROR = (
    f"Could not retrieve mirrorlist https://{_AMZN_MIRROR_HOST}/2/core/latest/x86_64/mirror.list error was\n"
    f'14: curl#6 - "Could not resolve host: {_AMZN_MIRROR_HOST}; Unknown error"\n'
    "\n\n"
    " One of the configured repositories failed (Amazon Linux 2 core repository),\n"
    " and yum doesn't have enough cached data to continue. At this point the only\n"
    " safe thing yum can do is fail.\n"
    "\n"
    "Cannot find a valid baseurl for repo: amzn2-core/2/x86_64\n"
)

DISTROS: dict[str, DistroProfile] = {
    "ubuntu-22.04": AptProfile(
        key="ubuntu-22.04",
        family=Family.APT,
        os_release=(
            'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
            'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n'
            'HOME_URL="https://www.ubuntu.com/"\nSUPPORT_URL="https://help.ubuntu.com/"\n'
            'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"\n'
            'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"\n'
            "UBUNTU_CODENAME=jammy\n"
        ),
        catalog=_UBUNTU_2204,
        sources=(
            ("http://archive.ubuntu.com/ubuntu", "jammy"),
            ("http://archive.ubuntu.com/ubuntu", "jammy-updates"),
            ("http://archive.ubuntu.com/ubuntu", "jammy-backports"),
            ("http://security.ubuntu.com/ubuntu", "jammy-security"),
        ),
        updates_suites=("jammy-updates",),
        security_suites=("jammy-updates,jammy-security", "jammy-updates,jammy-security", "jammy-security"),
    ),
    "debian-12": AptProfile(
        key="debian-12",
        family=Family.APT,
        os_release=(
            'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
            'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
            'HOME_URL="https://www.debian.org/"\nSUPPORT_URL="https://www.debian.org/support"\n'
            'BUG_REPORT_URL="https://bugs.debian.org/"\n'
        ),
        catalog=_DEBIAN_12,
        sources=(
            ("http://deb.debian.org/debian", "bookworm"),
            ("http://deb.debian.org/debian", "bookworm-updates"),
            ("http://deb.debian.org/debian-security", "bookworm-security"),
        ),
        updates_suites=("stable", "stable", "stable-updates"),
        security_suites=("stable-security",),
    ),
    "rocky-9": RpmProfile(
        key="rocky-9",
        family=Family.DNF,
        os_release=(
            'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
            'VERSION_ID="9.3"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'
            'ANSI_COLOR="0;32"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:rocky:rocky:9::baseos"\n'
            'HOME_URL="https://rockylinux.org/"\nBUG_REPORT_URL="https://bugs.rockylinux.org/"\n'
            'SUPPORT_END="2032-05-31"\nROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"\n'
            'ROCKY_SUPPORT_PRODUCT_VERSION="9.3"\nREDHAT_SUPPORT_PRODUCT="Rocky Linux"\n'
            'REDHAT_SUPPORT_PRODUCT_VERSION="9.3"\n'
        ),
        catalog=_ROCKY_9,
        tool="dnf",
        advisory_format="RLSA-2024:{n:04d}",
        severities=("Critical", "Important", "Important", "Moderate", "Moderate", "Low"),
        base_installed=_RPM_BASE_EL9,
        gpg_keys=("350d275d-6279464b",),
        mirror_error=_ROCKY_MIRROR_ERROR,
    ),
    "amzn-2": RpmProfile(
        key="amzn-2",
        family=Family.YUM,
        os_release=(
            'NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n'
            'PRETTY_NAME="Amazon Linux 2"\nANSI_COLOR="0;33"\nCPE_NAME="cpe:2.3:o:amazon:amazon_linux:2"\n'
            'HOME_URL="https://amazonlinux.com/"\nSUPPORT_END="2025-06-30"\n'
        ),
        catalog=_AMZN_2,
        not_found="bash: {word}: command not found",
        n_range=(2, 12),
        tool="yum",
        advisory_format="ALAS2-2024-{n:04d}",
        severities=("critical", "important", "important", "medium", "medium", "low"),
        base_installed=_RPM_BASE_AMZN2,
        gpg_keys=("c87f5b1a-593863f8",),
        mirror_error=_AMZN_MIRROR_ERROR,
    ),
    "opensuse-leap-15.5": ZypperProfile(
        key="opensuse-leap-15.5",
        family=Family.ZYPPER,
        os_release=(
            'NAME="openSUSE Leap"\nVERSION="15.5"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\n'
            'VERSION_ID="15.5"\nPRETTY_NAME="openSUSE Leap 15.5"\nANSI_COLOR="0;32"\n'
            'CPE_NAME="cpe:/o:opensuse:leap:15.5"\nBUG_REPORT_URL="https://bugs.opensuse.org"\n'
            'HOME_URL="https://www.opensuse.org/"\nDOCUMENTATION_URL="https://en.opensuse.org/Portal:Leap"\n'
            'LOGO="distributor-logo-Leap"\n'
        ),
        catalog=_LEAP_155,
        not_found="bash: {word}: command not found",
        n_range=(3, 40),
        repositories=(
            "Update repository of openSUSE Backports",
            "Non-OSS Repository",
            "Main Repository",
            _MAIN,
            "Update Repository (Non-Oss)",
            "Open H.264 Codec (openSUSE Leap)",
            _SLE,
        ),
        patch_prefixes=((_SLE, "openSUSE-SLE-15.5-2024-"), (_MAIN, "openSUSE-2024-")),
    ),
    "alpine-3.19": ApkProfile(
        key="alpine-3.19",
        family=Family.APK,
        os_release=(
            'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'
            'HOME_URL="https://alpinelinux.org/"\n'
            'BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"\n'
        ),
        catalog=_ALPINE_319,
        not_found="ash: {word}: not found",
        n_range=(0, 6),
        security_share=0.0,
        mirror="https://dl-cdn.alpinelinux.org/alpine",
        branch="v3.19",
    ),
}


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------


def _profile(distro: str | DistroProfile) -> DistroProfile:
    if isinstance(distro, DistroProfile):
        return distro
    try:
        return DISTROS[distro]
    except KeyError:
        raise ValueError(f"unknown distro {distro!r}; known: {', '.join(DISTROS)}") from None


def plant_packages(
    distro: str | DistroProfile, rng: random.Random, count: int, *, security_share: float | None = None
) -> list[Package]:
    """``count`` packages with a pending update on a host of ``distro``, deterministic for ``rng``.

    Names and version schemes are the distribution's own (``libssl3 3.0.2-0ubuntu1.14``,
    ``openssl-libs 1:3.0.7-25.el9_3``, ``busybox 1.36.1-r17``); packages built from one source move
    together, and a share of sources (``security_share``, per profile by default) are security
    updates where the family can tell.
    """
    return _profile(distro).plant(rng, count, security_share)


def split_sudo(command: str) -> tuple[str, bool]:
    """(command without ``sudo -n``, whether it was there)."""
    if command.startswith(SUDO_PREFIX):
        return command[len(SUDO_PREFIX):], True
    return command, False


def respond(
    distro: str | DistroProfile,
    packages: Sequence[Package],
    command: str,
    *,
    reboot_pending: bool = False,
    root: bool = False,
    sudo_allowed: bool = True,
) -> Reply:
    """The answer of a healthy host to one command line, as sshd + the login shell would give it.

    ``root``: the login user is root (steps that need root work without sudo). ``sudo_allowed``:
    ``sudo -n`` runs commands (passwordless sudoers entry); otherwise it fails at once with
    ``sudo: a password is required``. Commands outside the contract get the shell's "not found".
    """
    profile = _profile(distro)
    inner, sudo = split_sudo(command)
    if sudo and not sudo_allowed:
        return Reply(stderr="sudo: a password is required\n", exit_status=1)
    step = profile.step_of(inner)
    word = profile.command_word(inner)
    if step is None or (sudo and word in ("if", "[")):
        # sudo does not run shell syntax: "sudo -n if ..." looks for a program named "if".
        if sudo:
            return Reply(stderr=f"sudo: {word}: command not found\n", exit_status=1)
        return profile.shell_not_found(word)
    return profile.render(step, packages, reboot_pending=reboot_pending, root=root or sudo)

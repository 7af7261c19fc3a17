"""Import scan targets from the inventories operators already keep: Ansible INI, Ansible YAML, OpenSSH config.

Why this module exists
----------------------
Operators do not want to type a thousand hosts twice. Their fleet is already described in an Ansible
inventory or in ``~/.ssh/config``, so Patchwatch reads those files and turns every host into a
:class:`~console.jobs.Target`. An import replaces what a scan will touch, so a half-understood file is worse
than no import at all: a host silently dropped is a host that is never scanned, and a wrong port or address
scans (or fails on) the wrong machine. Hence the one rule of this module: **every** problem found anywhere in
the file is collected with its 1-based line number, and if there is at least one, :func:`parse_inventory`
raises :class:`InventoryError` listing all of them and returns nothing. The caller then changes nothing, and
the operator fixes the whole file in one round instead of one error per attempt.

What is read
------------
* **Ansible INI** (the ``hosts`` file): ``[group]``, ``[group:children]``, ``[group:vars]``, hosts before
  any section in ``ungrouped``, ranges ``web[01:03]`` / ``db-[a:c]`` / ``[0:10:2]``, ``name:port``,
  ``key=value`` variables with quoting, ``#``/``;`` comment lines.
* **Ansible YAML** (``all: {hosts:, vars:, children:}``), read as a node tree so each problem names the line
  of the offending node; ``<<`` merge keys are honoured, duplicate keys are reported (PyYAML would keep the
  last one silently).
* **OpenSSH client config**: ``Host`` blocks, ``HostName``/``Port``/``User``/``IdentityFile``, first obtained
  value wins (as in ssh), wildcard blocks (``Host *``, ``web-*``) give defaults to the concrete hosts they
  match, ``Match`` blocks and ``Include`` lines are skipped (the text alone cannot evaluate them).

Ansible semantics kept here: the variables that decide the connection are ``ansible_host`` (address,
default: the host's name), ``ansible_port``, ``ansible_user`` (with the old aliases ``ansible_ssh_host``,
``ansible_ssh_port``, ``ansible_ssh_user``) and Patchwatch's own ``patchwatch_credential``; every other
variable becomes a string label. Precedence is Ansible's: ``all`` < parent groups < child groups < host, and
groups of the same depth apply in name order. A host that is in no group but ``all`` is ``ungrouped``; a host
also in a real group is not (Ansible reconciles it the same way). Two definitions of one host that disagree
on address, port, user or credential are a problem, not a silent "last one wins".

Why one module of this length: three input formats (Ansible INI, YAML, OpenSSH config) that share one
line-accurate error report and one Target model.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.domain.input_files import check_yaml_size
from console.errors import FieldError, ValidationError
from console.jobs import Target

Format = Literal["auto", "ini", "yaml", "ssh_config"]

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,252}$")
"""What a host name must look like: it becomes a Target name, a transcript file name and a CLI argument."""

GROUP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")
"""Group names: like host names, minus ``:`` (it separates ``[group:vars]``) and ``@``."""

MAX_RANGE_HOSTS = 10_000
"""A single range pattern may not expand to more hosts than this: ``[0:9999999]`` is a typo, not a fleet."""

SSH_CONFIG_GROUP = "ssh_config"

_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")

# Connection variables and the old spellings Ansible still accepts for them.
_HOST, _PORT, _USER, _CREDENTIAL = "ansible_host", "ansible_port", "ansible_user", "patchwatch_credential"
_CANONICAL = {
    _HOST: _HOST, "ansible_ssh_host": _HOST,
    _PORT: _PORT, "ansible_ssh_port": _PORT,
    _USER: _USER, "ansible_ssh_user": _USER,
    _CREDENTIAL: _CREDENTIAL,
}
_CONNECTION_KEYS = (_HOST, _PORT, _USER, _CREDENTIAL)
#: Ansible variables that pass options to ssh; one that reroutes the connection is refused (see _SSH_REFUSED).
_SSH_ARGS_VARS = frozenset({"ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args"})
_REROUTE_RE = re.compile(r"(?i)\b(ProxyCommand|ProxyJump|LocalCommand|RemoteCommand)\b(?!\s*[= ]\s*none\b)|"
                         r"(?<![\w-])-J\b")


# --------------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class InventoryProblem:
    """One thing wrong with an inventory file: where (1-based line, ``None`` for the file as a whole), and what."""

    line: int | None
    message: str


class InventoryError(ValidationError):
    """An inventory with at least one problem; carries all of them so the operator fixes the file in one pass.

    Each problem becomes a :class:`FieldError` whose field is ``FILE:LINE`` (``hosts.ini:12``), the place an
    operator opens in an editor, and whose rule is the message.
    """

    def __init__(self, source: str, problems: Iterable[InventoryProblem]) -> None:
        self.source = source
        self.problems: list[InventoryProblem] = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        super().__init__([FieldError(source if p.line is None else f"{source}:{p.line}", p.message)
                          for p in self.problems])


class _Problems:
    """Collects problems in order, once each (a ``Host *`` mistake would otherwise repeat for every host)."""

    def __init__(self) -> None:
        self.items: list[InventoryProblem] = []
        self._seen: set[InventoryProblem] = set()

    def add(self, line: int | None, message: str) -> None:
        problem = InventoryProblem(line, message)
        if problem not in self._seen:
            self._seen.add(problem)
            self.items.append(problem)

    def __bool__(self) -> bool:
        return bool(self.items)


# ----------------------------------------------------------------------------------------------- public API


def detect_format(text: str, source: str) -> str:
    """Guess the format from the file name first (operators name files on purpose), then from the content.

    ``.yml``/``.yaml``/``.json`` -> ``yaml``; ``.ini`` or a file named ``hosts`` -> ``ini``; a file named
    ``config``/``ssh_config`` or one with a ``Host ...`` line -> ``ssh_config``; otherwise a first meaningful
    line that is ``---`` or a ``key:`` mapping line means YAML, and anything else is read as INI (a bare list
    of host names is a valid INI inventory).
    """
    path = PurePath(source)
    suffix, name = path.suffix.lower(), path.name.lower()
    if suffix in (".yml", ".yaml", ".json"):
        return "yaml"
    if suffix == ".ini" or name == "hosts":
        return "ini"
    if name in ("config", "ssh_config") or re.search(r"(?m)^[ \t]*(?:Host|Match)(?:[ \t]*=|[ \t])[ \t]*\S", text):
        return "ssh_config"
    for raw in _lines(text.removeprefix("\ufeff")):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith(("---", "{")) or re.match(r"^[^\s\[#;=-][^:=]*:(?:\s|$)", line):
            return "yaml"
        return "ini"
    return "ini"


def parse_inventory(text: str, *, source: str = "inventory", fmt: Format = "auto") -> list[Target]:
    """Read every host of an inventory file as a :class:`Target`, or raise :class:`InventoryError` with all problems.

    ``source`` names the file in problem locations (``hosts.ini:12``) and drives format detection when
    ``fmt`` is ``"auto"``. Targets come back in the order their hosts first appear in the file; an inventory
    without hosts is a problem too ("no hosts found"), since importing it would empty the fleet.
    """
    problems = _Problems()
    text = text.removeprefix("\ufeff")
    kind = detect_format(text, source) if fmt == "auto" else fmt
    targets: list[Target] = []
    if kind == "ini":
        targets = _parse_ini(text, problems)
    elif kind == "yaml":
        targets = _parse_yaml(text, problems)
    elif kind == "ssh_config":
        targets = _parse_ssh_config(text, problems)
    else:
        problems.add(None, f"unknown inventory format {kind!r} (expected auto, ini, yaml or ssh_config)")
    if not problems and not targets:
        problems.add(None, "no hosts found")
    if problems:
        raise InventoryError(source, problems.items)
    return targets


# -------------------------------------------------------------------------------------------- value checks


def _lines(text: str) -> list[str]:
    """Split like an editor numbers lines (``str.splitlines`` would also break on form feeds and friends)."""
    return _LINE_BREAK_RE.split(text)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a host name, or ``None`` when it can."""
    if NAME_RE.match(name):
        return None
    if not name:
        return "host name is empty"
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_.:@-"))})
    if bad:
        return f"host name {name!r} contains characters outside [A-Za-z0-9_.:@-]: {''.join(bad)!r}"
    if len(name) > 253:
        return f"host name {name[:40]!r}... is longer than 253 characters"
    return f"host name {name!r} must start with a letter, a digit or '_'"


def address_problem(address: str) -> str | None:
    """Why ``address`` is neither a DNS host name nor an IPv4/IPv6 literal, or ``None`` when it is one.

    A last label made of digits only is read as an IPv4 attempt (no top-level domain is numeric), so
    ``10.0.0.300`` is reported as a bad IPv4 address rather than accepted as a host name.
    """
    if not address:
        return "is empty"
    if address.count(":") >= 2:
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return "is not a valid IPv6 address"
        return None
    host = address[:-1] if address.endswith(".") else address
    labels = host.split(".")
    if labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "is not a valid IPv4 address"
        return None
    if len(host) > 253 or not all(_HOST_LABEL_RE.match(label) for label in labels):
        return "is not a valid host name or IP address"
    return None


def _port_problem(text: str) -> str | None:
    if not text.isascii() or not text.isdigit():
        return "is not a port number (1-65535)"
    if not 1 <= int(text) <= 65535:
        return "is out of range 1-65535"
    return None


def _connection_value_problem(canonical: str, text: str) -> str | None:
    """Why ``text`` cannot be the value of connection variable ``canonical``; checked where it is written."""
    if canonical == _HOST:
        return address_problem(text)
    if canonical == _PORT:
        return _port_problem(text)
    if not text:
        return "is empty"
    if any(c.isspace() for c in text):
        return "contains whitespace"
    if any(unicodedata.category(c).startswith("C") for c in text):
        return "contains control or invisible format characters"
    return None


# ------------------------------------------------------------------------------------------ host patterns


def _split_port(pattern: str) -> tuple[str, str | None]:
    """Split Ansible's ``name:port`` form; colons inside ``[a:b]`` ranges and IPv6 names are left alone."""
    depth, colons = 0, []
    for i, c in enumerate(pattern):
        if c == "[":
            depth += 1
        elif c == "]":
            depth = max(depth - 1, 0)
        elif c == ":" and depth == 0:
            colons.append(i)
    if len(colons) == 1:
        head, tail = pattern[:colons[0]], pattern[colons[0] + 1:]
        if head and tail.isascii() and tail.isdigit():
            return head, tail
    return pattern, None


class HostPatternError(ValueError):
    """A host pattern that cannot be expanded; the message is shown to the operator as is."""


def expand_hosts(pattern: str) -> list[str]:
    """Expand Ansible ranges: ``web[01:03]`` -> web01..web03, ``db-[a:c]``, ``[0:10:2]``, several per pattern.

    Zero-padded starts keep their width (as Ansible does) and then need an end of the same width. Raises
    :class:`HostPatternError` for an unterminated or malformed range.
    """
    names = _expand(pattern, pattern)
    if len(names) > MAX_RANGE_HOSTS:
        raise HostPatternError(f"host pattern {pattern!r} expands to {len(names)} hosts (at most {MAX_RANGE_HOSTS})")
    return names


def _expand(rest: str, whole: str) -> list[str]:
    start = rest.find("[")
    if start < 0:
        return [rest]
    end = rest.find("]", start)
    if end < 0 or "[" in rest[start + 1:end]:
        raise HostPatternError(f"unterminated range in host pattern {whole!r}: '[' without a closing ']'")
    head, inner, tail = rest[:start], rest[start + 1:end], rest[end + 1:]
    values = _range_values(inner, whole)
    tails = _expand(tail, whole)
    if len(values) * len(tails) > MAX_RANGE_HOSTS:
        raise HostPatternError(f"host pattern {whole!r} expands to more than {MAX_RANGE_HOSTS} hosts")
    return [head + value + t for value in values for t in tails]


def _range_values(inner: str, whole: str) -> list[str]:
    parts = inner.split(":")
    if len(parts) not in (2, 3):
        raise HostPatternError(f"invalid range [{inner}] in host pattern {whole!r}: expected [start:end] or "
                            "[start:end:step]")
    first, last = parts[0] or "0", parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not (step_text.isascii() and step_text.isdigit() and int(step_text) > 0):
        raise HostPatternError(f"invalid range [{inner}] in host pattern {whole!r}: step must be a positive number")
    step = int(step_text)
    if first.isascii() and first.isdigit() and last.isascii() and last.isdigit():
        padded = len(first) > 1 and first.startswith("0")
        if padded and len(first) != len(last):
            raise HostPatternError(f"invalid range [{inner}] in host pattern {whole!r}: a zero-padded start needs "
                                "an end of the same width")
        lo, hi = int(first), int(last)
        if lo > hi:
            raise HostPatternError(f"invalid range [{inner}] in host pattern {whole!r}: start is after end")
        if (hi - lo) // step + 1 > MAX_RANGE_HOSTS:
            raise HostPatternError(f"host pattern {whole!r} expands to more than {MAX_RANGE_HOSTS} hosts")
        return [str(n).zfill(len(first)) if padded else str(n) for n in range(lo, hi + 1, step)]
    for letters in (string.ascii_lowercase, string.ascii_uppercase):
        if len(first) == 1 and len(last) == 1 and first in letters and last in letters:
            lo, hi = letters.index(first), letters.index(last)
            if lo > hi:
                raise HostPatternError(f"invalid range [{inner}] in host pattern {whole!r}: start is after end")
            return list(letters[lo:hi + 1:step])
    raise HostPatternError(f"invalid range [{inner}] in host pattern {whole!r}: expected numbers ([01:10]) or single "
                        "letters of the same case ([a:f])")


# ------------------------------------------------------------------------------------------ tokenizing


class _TokenError(ValueError):
    """A line whose quoting cannot be read."""


def _tokens(text: str, *, quotes: str = "'\"", escapes: bool = True) -> list[str]:
    """Split a line on whitespace, honouring quotes; a ``#`` at the start of a word begins a comment.

    Unlike ``shlex`` with comments, ``color=#fff`` keeps its value: only a word that *starts* with ``#`` is a
    comment, which is what operators mean when they annotate a host line.
    """
    out: list[str] = []
    buf: list[str] = []
    in_word = False
    quote: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote is not None:
            if c == quote:
                quote = None
            elif escapes and c == "\\" and quote == '"' and i + 1 < len(text) and text[i + 1] in '"\\':
                i += 1
                buf.append(text[i])
            else:
                buf.append(c)
        elif c.isspace():
            if in_word:
                out.append("".join(buf))
                buf, in_word = [], False
        elif c == "#" and not in_word:
            break
        elif c in quotes:
            quote, in_word = c, True
        elif escapes and c == "\\" and i + 1 < len(text):
            i += 1
            buf.append(text[i])
            in_word = True
        else:
            buf.append(c)
            in_word = True
        i += 1
    if quote is not None:
        raise _TokenError(f"unterminated {quote} quote")
    if in_word:
        out.append("".join(buf))
    return out


# ------------------------------------------------------------------------------ the Ansible inventory model


@dataclass
class _Value:
    """A variable's value as text, where it was written, and the key as spelled (for messages)."""

    text: str
    line: int | None
    key: str


@dataclass
class _Group:
    line: int | None
    vars: dict[str, _Value] = field(default_factory=dict)
    children: list[tuple[str, int | None]] = field(default_factory=list)


@dataclass
class _Host:
    line: int | None
    vars: dict[str, _Value] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)


class _Ansible:
    """Groups, hosts and variables of an Ansible inventory, shared by the INI and YAML readers.

    The readers only record what each line says; checks that need the whole file (group cycles, precedence,
    the default address) happen in :meth:`targets`.
    """

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self.groups: dict[str, _Group] = {"all": _Group(None), "ungrouped": _Group(None)}
        self.hosts: dict[str, _Host] = {}

    # ----- recording

    def group(self, name: str, line: int | None) -> _Group | None:
        """The group ``name``, created on first mention; ``None`` (and a problem) when the name is invalid."""
        if not GROUP_RE.match(name):
            self.problems.add(line, f"invalid group name {name!r}: use letters, digits, '_', '-' and '.'")
            return None
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = _Group(line)
        elif group.line is None:
            group.line = line
        return group

    def put_var(self, target: dict[str, _Value], key: str, text: str, line: int | None) -> None:
        """Record ``key=text`` into one definition (a host line, a vars section), checking connection values."""
        canonical = _CANONICAL.get(key)
        if canonical is None:
            rerouted = _REROUTE_RE.search(text) if key in _SSH_ARGS_VARS else None
            if rerouted is not None:
                # Same rule as an ssh_config file: Patchwatch connects directly and would bypass it.
                option = rerouted.group(1) or "-J (ProxyJump)"
                self.problems.add(line, f"{key} sets {option}, which is not supported: Patchwatch connects to "
                                        "each host directly and would bypass it")
                return
            target[key] = _Value(text, line, key)
            return
        reason = _connection_value_problem(canonical, text)
        if reason is not None:
            self.problems.add(line, f"{key} {reason}" if not text else f"{key}={text} {reason}")
            return
        if canonical == _PORT:
            text = str(int(text))
        old = target.get(canonical)
        if old is not None and old.text != text:
            self.problems.add(line, f"{key}={text} conflicts with {old.key}={old.text} in the same definition")
            return
        target[canonical] = _Value(text, line, key)

    def add_child(self, parent: str, child: str, line: int | None) -> None:
        if child == "all":
            self.problems.add(line, f"group 'all' cannot be a child of {parent!r}")
            return
        if self.group(child, line) is not None and parent in self.groups:
            self.groups[parent].children.append((child, line))

    def add_hosts(self, pattern: str, line: int | None, defined: dict[str, _Value], group: str | None) -> None:
        """Add every host of ``pattern`` (ranges, ``name:port``) with one definition's variables to ``group``.

        A host seen before keeps its variables; new ones are added (later wins for labels), but a different
        address, port, user or credential than an earlier definition is a problem: only one can be right.
        """
        base, port = _split_port(pattern)
        if port is not None:
            reason = _port_problem(port)
            if reason is not None:
                self.problems.add(line, f"port {port} in {pattern!r} {reason}")
                return
            port = str(int(port))
            old = defined.get(_PORT)
            if old is not None and old.text != port:
                self.problems.add(line, f"port {port} in {pattern!r} conflicts with {old.key}={old.text}")
                return
            defined = {**defined, _PORT: _Value(port, line, _PORT)}
        try:
            names = expand_hosts(base)
        except HostPatternError as exc:
            self.problems.add(line, str(exc))
            return
        for name in names:
            reason = name_problem(name)
            if reason is not None:
                self.problems.add(line, reason)
                continue
            host = self.hosts.get(name)
            if host is None:
                host = self.hosts[name] = _Host(line)
            for key, value in defined.items():
                old = host.vars.get(key)
                if key in _CONNECTION_KEYS and old is not None and old.text != value.text:
                    self.problems.add(value.line, f"host {name!r} is defined again with {value.key}={value.text}, "
                                                  f"but line {old.line} set {old.key}={old.text}")
                    continue
                host.vars[key] = value
            if group is not None:
                host.groups.add(group)

    # ----- resolving

    def _check_cycles(self) -> None:
        """Report each ``children`` edge that closes a loop; resolution below stays finite regardless."""
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        for root in self.groups:
            if state.get(root):
                continue
            path: list[str] = [root]
            stack = [(root, iter(self.groups[root].children))]
            state[root] = 1
            while stack:
                node, edges = stack[-1]
                for child, line in edges:
                    if state.get(child) == 1:
                        loop = path[path.index(child):] + [child]
                        self.problems.add(line, f"group cycle: {' -> '.join(loop)}")
                    elif not state.get(child):
                        state[child] = 1
                        path.append(child)
                        stack.append((child, iter(self.groups[child].children)))
                        break
                else:
                    state[node] = 2
                    path.pop()
                    stack.pop()

    def targets(self) -> list[Target]:
        """Resolve memberships and variable precedence into Targets (in order of first appearance)."""
        self._check_cycles()
        parents: dict[str, set[str]] = {name: set() for name in self.groups}
        for name, group in self.groups.items():
            for child, _line in group.children:
                if child != name:
                    parents[child].add(name)

        depths: dict[str, int] = {"all": 0}

        def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
            # Ansible applies group vars from the shallowest group to the deepest; a group's depth is its
            # longest distance from "all". ``seen`` keeps a cyclic (already reported) graph finite.
            if name not in depths:
                above = [p for p in parents[name] if p not in seen] or ["all"]
                depths[name] = 1 + max(depth(p, seen | {name}) for p in above)
            return depths[name]

        out: list[Target] = []
        for name, host in self.hosts.items():
            member: set[str] = set()
            todo = list(host.groups)
            while todo:
                g = todo.pop()
                if g not in member:
                    member.add(g)
                    todo.extend(parents[g])
            merged: dict[str, _Value] = {}
            for g in sorted(member | {"all"}, key=lambda g: (depth(g), g)):
                merged.update(self.groups[g].vars)
            merged.update(host.vars)
            shown = member - {"all"}
            if len(shown) > 1:
                shown.discard("ungrouped")
            address = merged.pop(_HOST, None)
            if address is None:
                reason = address_problem(name)
                if reason is not None:
                    self.problems.add(host.line, f"host {name!r} has no ansible_host and its name {reason}")
                    continue
            port = merged.pop(_PORT, None)
            user = merged.pop(_USER, None)
            credential = merged.pop(_CREDENTIAL, None)
            out.append(Target(
                name=name,
                address=address.text if address else name,
                port=int(port.text) if port else 22,
                user=user.text if user else None,
                credential=credential.text if credential else None,
                groups=tuple(sorted(shown or {"ungrouped"})),
                labels={key: value.text for key, value in merged.items()},
            ))
        return out


# -------------------------------------------------------------------------------------------- Ansible INI

_SECTION_RE = re.compile(r"^\[([^\[\]:]*)(?::([^\[\]]*))?\]\s*(?:[#;].*)?$")
_INLINE_COMMENT_RE = re.compile(r"\s+#.*$")


def _parse_ini(text: str, problems: _Problems) -> list[Target]:
    """Read an Ansible INI inventory line by line; a broken line is reported and the reading goes on."""
    inv = _Ansible(problems)
    kind, group = "hosts", "ungrouped"  # hosts before any section are ungrouped, as in Ansible
    scratch: dict[str, _Value] = {}  # vars under a broken section header: checked, then dropped
    for number, raw in enumerate(_lines(text), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            kind, group = _ini_section(line, number, inv)
            continue
        if kind == "hosts":
            _ini_host_line(line, number, inv, group)
        elif kind == "children":
            _ini_child_line(line, number, inv, group)
        else:
            target = inv.groups[group].vars if group in inv.groups else scratch
            _ini_var_line(line, number, inv, target, group)
    return inv.targets()


def _ini_section(line: str, number: int, inv: _Ansible) -> tuple[str, str]:
    """Read ``[group]``/``[group:children]``/``[group:vars]``; a broken header still sets a best-guess kind so
    the lines below it are checked too (their problems are listed in the same round)."""
    match = _SECTION_RE.match(line)
    guess = "vars" if ":vars" in line else "children" if ":children" in line else "hosts"
    if "]" not in line:
        inv.problems.add(number, f"section header {line!r} is missing the closing ']'")
        return guess, ""
    if match is None:
        inv.problems.add(number, f"invalid section header {line!r}: expected [group], [group:children] or "
                                 "[group:vars]")
        return guess, ""
    name, kind = match.group(1).strip(), (match.group(2) or "hosts").strip()
    if kind not in ("hosts", "children", "vars"):
        inv.problems.add(number, f"section [{name}:{kind}] has an unknown type {kind!r}: expected children or vars")
        return "hosts", ""
    return kind, name if inv.group(name, number) is not None else ""


def _ini_host_line(line: str, number: int, inv: _Ansible, group: str) -> None:
    try:
        words = _tokens(line)
    except _TokenError as exc:
        inv.problems.add(number, f"{exc} in host line {line!r}")
        return
    if not words:
        return
    defined: dict[str, _Value] = {}
    broken = False
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            inv.problems.add(number, f"broken variable {word!r} on host line: expected key=value")
            broken = True
        elif not key:
            inv.problems.add(number, f"broken variable {word!r} on host line: missing the name before '='")
            broken = True
        elif not _VAR_NAME_RE.match(key):
            inv.problems.add(number, f"broken variable {word!r} on host line: invalid variable name {key!r}")
            broken = True
        else:
            inv.put_var(defined, key, value, number)
    if not broken:
        inv.add_hosts(words[0], number, defined, group or None)


def _ini_child_line(line: str, number: int, inv: _Ansible, group: str) -> None:
    try:
        words = _tokens(line)
    except _TokenError as exc:
        inv.problems.add(number, f"{exc} in children line {line!r}")
        return
    if len(words) != 1:
        inv.problems.add(number, f"expected one group name in [{group}:children], got {line!r}")
    elif group:
        inv.add_child(group, words[0], number)
    else:
        inv.group(words[0], number)


def _ini_var_line(line: str, number: int, inv: _Ansible, target: dict[str, _Value], group: str) -> None:
    key, sep, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not sep:
        inv.problems.add(number, f"expected key=value in [{group}:vars], got {line!r}")
        return
    if not key:
        inv.problems.add(number, f"missing the variable name before '=' in {line!r}")
        return
    if not _VAR_NAME_RE.match(key):
        inv.problems.add(number, f"invalid variable name {key!r} in [{group}:vars]")
        return
    if value[:1] in ("'", '"'):
        try:
            words = _tokens(value)
        except _TokenError as exc:
            inv.problems.add(number, f"{exc} in the value of {key}")
            return
        if len(words) != 1:
            inv.problems.add(number, f"unexpected text after the quoted value of {key}")
            return
        value = words[0]
    else:
        value = _INLINE_COMMENT_RE.sub("", value)
    inv.put_var(target, key, value, number)


# ------------------------------------------------------------------------------------------- Ansible YAML


def _yaml_line(node: Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class _Yaml:
    """Walks the composed YAML node tree into the shared Ansible model, keeping every node's line."""

    def __init__(self, inv: _Ansible) -> None:
        self.inv = inv
        self.problems = inv.problems
        self.constructor = yaml.SafeLoader("")
        self.walking: set[int] = set()  # group nodes on the current path (a recursive alias must end)

    def items(self, node: MappingNode) -> list[tuple[Node, Node]]:
        """Key/value pairs with ``<<`` merges applied (explicit keys win) and duplicate keys reported."""
        first: dict[str, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, ScalarNode):
                continue
            line = _yaml_line(key_node)
            if key_node.value in first:
                self.problems.add(line, f"duplicate key {key_node.value!r} (first at line {first[key_node.value]})")
            else:
                first[key_node.value] = line
        try:
            self.constructor.flatten_mapping(node)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            self.problems.add(mark.line + 1 if mark else _yaml_line(node), f"bad merge key: {exc}")
        return list(node.value)

    def key(self, node: Node) -> str | None:
        if isinstance(node, ScalarNode) and not _is_null(node):
            return str(node.value)
        self.problems.add(_yaml_line(node), "expected a plain name as the key here")
        return None

    def text(self, node: Node, key: str) -> str | None:
        """A variable's value as label text: scalars as written in YAML terms, lists and maps as JSON."""
        if node.tag == "!unsafe" and isinstance(node, ScalarNode):
            return str(node.value)
        if node.tag == "!vault":
            if key in _CANONICAL:
                self.problems.add(_yaml_line(node), f"{key} is vault-encrypted; Patchwatch cannot decrypt it")
            return None  # a secret is not a label; dropping it loses nothing a scan needs
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.add(_yaml_line(node), f"cannot read the value of {key}: {getattr(exc, 'problem', exc)}")
            return None
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float | date):
            return str(value)
        if key in _CANONICAL:
            self.problems.add(_yaml_line(node), f"{key} must be a single value, not a {type(value).__name__}")
            return None
        return json.dumps(value, sort_keys=True, default=str)

    def vars(self, node: Node, target: dict[str, _Value], owner: str) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            self.problems.add(_yaml_line(node), f"vars of {owner} must be a mapping of name: value")
            return
        for key_node, value_node in self.items(node):
            key = self.key(key_node)
            if key is None:
                continue
            text = self.text(value_node, key)
            if text is not None:
                self.inv.put_var(target, key, text, _yaml_line(value_node))

    def group(self, name: str, node: Node, line: int) -> None:
        if self.inv.group(name, line) is None or _is_null(node):
            return
        if not isinstance(node, MappingNode):
            self.problems.add(_yaml_line(node), f"group {name!r} must be a mapping with hosts, vars or children")
            return
        if id(node) in self.walking:
            self.problems.add(line, f"group {name!r} contains itself through a YAML alias")
            return
        self.walking.add(id(node))
        for key_node, value_node in self.items(node):
            key = self.key(key_node)
            if key == "hosts":
                self.hosts(name, value_node)
            elif key == "vars":
                self.vars(value_node, self.inv.groups[name].vars, f"group {name!r}")
            elif key == "children":
                self.children(name, value_node)
            elif key is not None:
                self.problems.add(_yaml_line(key_node), f"unknown key {key!r} in group {name!r}: expected hosts, vars "
                                                        "or children (hosts go under 'hosts:')")
        self.walking.discard(id(node))

    def hosts(self, group: str, node: Node) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            shape = "a list" if isinstance(node, SequenceNode) else "a single value"
            self.problems.add(_yaml_line(node), f"hosts of group {group!r} must be a mapping of host names "
                                                f"(got {shape}); write 'name:' per host")
            return
        for key_node, value_node in self.items(node):
            pattern = self.key(key_node)
            if pattern is None:
                continue
            defined: dict[str, _Value] = {}
            if isinstance(value_node, MappingNode):
                self.vars(value_node, defined, f"host {pattern!r}")
            elif not _is_null(value_node):
                self.problems.add(_yaml_line(value_node), f"host {pattern!r} must map to its variables (e.g. "
                                                          f"ansible_host: ...) or to nothing, not to "
                                                          f"{getattr(value_node, 'value', '')!r}")
                continue
            self.inv.add_hosts(pattern, _yaml_line(key_node), defined, group)

    def children(self, parent: str, node: Node) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            self.problems.add(_yaml_line(node), f"children of group {parent!r} must be a mapping of group names")
            return
        for key_node, value_node in self.items(node):
            name = self.key(key_node)
            if name is None:
                continue
            self.inv.add_child(parent, name, _yaml_line(key_node))
            if name != "all":
                self.group(name, value_node, _yaml_line(key_node))


def _parse_yaml(text: str, problems: _Problems) -> list[Target]:
    """Read an Ansible YAML inventory from its node tree, so every problem can name its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        # PyYAML's context reads as the start of the sentence its problem ends ("while parsing a flow
        # sequence ..., expected ',' or ']'"); the problem mark is where the parser gave up.
        mark = exc.problem_mark or exc.context_mark
        context = ""
        if exc.context:
            where = f" (line {exc.context_mark.line + 1})" if exc.context_mark else ""
            context = f"{exc.context}{where}, "
        problems.add(mark.line + 1 if mark else None, f"YAML syntax error: {context}{exc.problem or exc}")
        return []
    except yaml.YAMLError as exc:  # e.g. a ReaderError for a control character: it has a position, not a mark
        position = getattr(exc, "position", None)
        problems.add(text.count("\n", 0, position) + 1 if position is not None else None, f"YAML error: {exc}")
        return []
    except RecursionError:
        problems.add(None, "YAML nested too deeply")
        return []
    try:
        check_yaml_size(root)
    except ValueError as exc:
        problems.add(None, f"YAML {exc}")
        return []
    if root is None:
        return []
    inv = _Ansible(problems)
    if not isinstance(root, MappingNode):
        problems.add(_yaml_line(root), "the top level must be a mapping of groups, e.g. 'all:'")
        return []
    walker = _Yaml(inv)
    for key_node, value_node in walker.items(root):
        name = walker.key(key_node)
        if name is not None:
            walker.group(name, value_node, _yaml_line(key_node))
    return inv.targets()


# --------------------------------------------------------------------------------------- OpenSSH config

_SSH_LINE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$")
_SSH_USED = {"hostname": "HostName", "port": "Port", "user": "User", "identityfile": "IdentityFile"}
_SSH_CONFLICTING = ("hostname", "port", "user")
#: Options that change how a host is reached or run local commands. Patchwatch connects directly and would
#: silently bypass them (reaching a host the operator meant to reach through a jump host, directly), so a
#: file that uses them is refused: the operator decides how to scan those hosts.
_SSH_REFUSED = {"proxycommand": "ProxyCommand", "proxyjump": "ProxyJump", "localcommand": "LocalCommand",
                "permitlocalcommand": "PermitLocalCommand", "remotecommand": "RemoteCommand",
                "proxyusefdpass": "ProxyUseFdpass"}


@dataclass
class _SshBlock:
    """One ``Host`` block (or the settings before the first one, which apply to every host)."""

    line: int
    patterns: list[tuple[str, bool]]  # (pattern, negated)
    settings: dict[str, tuple[str, int]] = field(default_factory=dict)  # keyword -> (value, line), first wins

    def matches(self, name: str) -> bool:
        """ssh's rule: any negated pattern that matches excludes the host, else any positive one includes it."""
        hits = [negated for pattern, negated in self.patterns if _ssh_pattern(pattern).match(name)]
        return bool(hits) and not any(hits)

    def names(self, name: str) -> bool:
        """Whether the block names ``name`` literally (not through a wildcard)."""
        return any(not negated and pattern.lower() == name.lower() for pattern, negated in self.patterns)


def _ssh_pattern(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE)


def _parse_ssh_config(text: str, problems: _Problems) -> list[Target]:
    """Read ``Host`` blocks; concrete host names become targets, wildcard blocks only supply defaults."""
    blocks: list[_SshBlock] = [_SshBlock(0, [("*", False)])]
    current: _SshBlock | None = blocks[0]
    concrete: dict[str, int] = {}
    for number, raw in enumerate(_lines(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SSH_LINE_RE.match(line)
        if match is None:
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*\s*=?", line):
                problems.add(number, f"{line.rstrip('= ')} has no value")
            else:
                problems.add(number, f"cannot read {line!r}: expected 'Keyword value' or 'Keyword=value'")
            continue
        keyword, rest = match.group(1), match.group(2)
        lower = keyword.lower()
        try:
            args = _tokens(rest, quotes='"', escapes=False)
        except _TokenError as exc:
            problems.add(number, f"{exc} in {keyword} line")
            continue
        if not args:
            problems.add(number, f"{keyword} has no value")
            continue
        if lower == "host":
            current = _SshBlock(number, [(a[1:], True) if a.startswith("!") else (a, False) for a in args])
            blocks.append(current)
            for pattern, negated in current.patterns:
                if negated or "*" in pattern or "?" in pattern:
                    continue
                reason = name_problem(pattern)
                if reason is not None:
                    problems.add(number, reason)
                else:
                    concrete.setdefault(pattern, number)
        elif lower == "match":
            current = None  # conditions on the connection itself: cannot be evaluated from the text
        elif lower in _SSH_USED:
            if len(args) != 1:
                problems.add(number, f"{keyword} takes one value, got {len(args)}")
            elif lower == "port" and (reason := _port_problem(args[0])) is not None:
                problems.add(number, f"{keyword} {args[0]} {reason}")
            elif current is not None and lower not in current.settings:
                current.settings[lower] = (args[0], number)
        elif lower in _SSH_REFUSED:
            if not (lower in ("proxycommand", "proxyjump", "permitlocalcommand") and args[0].lower() == "none"
                    or lower == "permitlocalcommand" and args[0].lower() == "no"):
                problems.add(number, f"{_SSH_REFUSED[lower]} is not supported: Patchwatch connects to each host "
                                     "directly and would bypass it; remove the line, or scan those hosts another way")
        elif lower != "include":
            near = difflib.get_close_matches(lower, list(_SSH_USED), n=1, cutoff=0.8)
            if near:
                problems.add(number, f"unknown keyword {keyword!r} (did you mean {_SSH_USED[near[0]]}?)")
    return [t for name, line in concrete.items() if (t := _ssh_target(name, line, blocks, problems)) is not None]


def _ssh_target(name: str, host_line: int, blocks: Sequence[_SshBlock], problems: _Problems) -> Target | None:
    """Apply every matching block in file order, first obtained value winning, as ``ssh -G`` would."""
    got: dict[str, tuple[str, int, bool]] = {}  # keyword -> (value, line, named literally)
    for block in blocks:
        if not block.matches(name):
            continue
        literal = block.names(name)
        for keyword, (value, line) in block.settings.items():
            old = got.get(keyword)
            if old is None:
                got[keyword] = (value, line, literal)
            elif literal and old[2] and keyword in _SSH_CONFLICTING and old[0] != value:
                problems.add(line, f"host {name!r} gets {_SSH_USED[keyword]} {value} here, but line {old[1]} already "
                                   f"set {old[0]} (ssh would ignore this one)")
    if "hostname" in got:
        raw, line, _literal = got["hostname"]
        address, unknown = _expand_hostname(raw, name)
        if unknown:
            problems.add(line, f"HostName {raw}: token %{unknown} is not supported here (only %h and %%)"
                         if len(unknown) == 1 else f"HostName {raw}: {unknown} is not a token (only %h and %%)")
            return None
        reason = address_problem(address)
        if reason is not None:
            problems.add(line, f"HostName {address} {reason}")
            return None
    else:
        address = name
        reason = address_problem(name)
        if reason is not None:
            problems.add(host_line, f"host {name!r} has no HostName and its name {reason}")
            return None
    labels = {"identity_file": got["identityfile"][0]} if "identityfile" in got else {}
    return Target(name=name, address=address, port=int(got["port"][0]) if "port" in got else 22,
                  user=got["user"][0] if "user" in got else None, credential=None,
                  groups=(SSH_CONFIG_GROUP,), labels=labels)


def _expand_hostname(raw: str, name: str) -> tuple[str, str | None]:
    """Expand the two tokens ssh allows in HostName (``%h``, ``%%``); return the token it does not know."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        if raw[i] == "%":
            token = raw[i + 1:i + 2]
            if token == "h":
                out.append(name)
            elif token == "%":
                out.append("%")
            else:
                return raw, token or "(a lone % at the end)"
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out), None

"""Who may do what through the socket: roles by user and by group, from ``roles.toml`` in the data directory.

The caller's identity comes from the kernel (the socket's peer credentials), never from the caller's word;
this module only maps that identity to a role. Roles are ordered: ``viewer`` reads and follows, ``operator``
also acts on runs (acknowledge, re-scan, approve/reject, pause/resume/cancel, run now, silence), ``admin``
also changes configuration (tasks, inventory, credentials, host keys, people, roles).

``roles.toml``::

    [users]
    alice = "operator"
    carol = "admin"

    [groups]
    patchwatch = "viewer"     # every member of the group

A user's own entry wins over their groups; among groups the highest role wins. Without a file, the user the
daemon runs as is ``admin`` and everyone else is refused.
"""

from __future__ import annotations

import grp
import os
import pwd
import tomllib
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from console.errors import FieldError, ValidationError

ROLES_FILE = "roles.toml"


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r} (roles: viewer, operator, admin)") from None


@dataclass(frozen=True)
class Caller:
    """A connected client as the kernel describes it."""

    pid: int
    uid: int
    gid: int
    user: str
    groups: tuple[str, ...]

    @classmethod
    def from_ids(cls, pid: int, uid: int, gid: int) -> Caller:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = f"uid:{uid}"
        try:
            gids = os.getgrouplist(user, gid) if not user.startswith("uid:") else [gid]
        except OSError:
            gids = [gid]
        names = []
        for number in gids:
            try:
                names.append(grp.getgrgid(number).gr_name)
            except KeyError:
                names.append(f"gid:{number}")
        return cls(pid=pid, uid=uid, gid=gid, user=user, groups=tuple(dict.fromkeys(names)))


@dataclass(frozen=True)
class RoleBook:
    """The roles of users and groups; ``owner_uid`` is the daemon's own user, admin unless the file says not."""

    owner_uid: int
    users: dict[str, Role] = field(default_factory=dict)
    groups: dict[str, Role] = field(default_factory=dict)

    def role_of(self, caller: Caller) -> Role | None:
        if caller.user in self.users:
            return self.users[caller.user]
        found = [self.groups[g] for g in caller.groups if g in self.groups]
        if found:
            return max(found)
        if caller.uid == self.owner_uid:
            return Role.ADMIN
        return None


def load_roles(data_dir: Path, owner_uid: int | None = None) -> RoleBook:
    """The role book of a data directory (``roles.toml``), or the default (the daemon's user is admin).

    A broken file is refused with every problem named (a daemon must not start with access rules it cannot
    read: it would either lock everybody out or let everybody in)."""
    owner = os.geteuid() if owner_uid is None else owner_uid
    path = data_dir / ROLES_FILE
    if not path.exists():
        return RoleBook(owner_uid=owner)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError.single(str(path), f"cannot be read as TOML: {exc}") from exc
    errors: list[FieldError] = []
    tables: dict[str, dict[str, Role]] = {"users": {}, "groups": {}}
    for key in data:
        if key not in tables:
            errors.append(FieldError(f"{path.name}: {key}", "unknown table (known: users, groups)"))
    for table, out in tables.items():
        entries = data.get(table, {})
        if not isinstance(entries, dict):
            errors.append(FieldError(f"{path.name}: {table}", "must be a table of name = \"role\""))
            continue
        for name, value in entries.items():
            try:
                out[name] = Role.parse(str(value)) if isinstance(value, str) else Role.parse("?")
            except ValueError as exc:
                errors.append(FieldError(f"{path.name}: {table}.{name}", str(exc)))
    if errors:
        raise ValidationError(errors)
    return RoleBook(owner_uid=owner, users=tables["users"], groups=tables["groups"])

"""The one exception hierarchy of Patchwatch.

Every error the engine raises on purpose derives from :class:`PatchwatchError`, so the CLI and the UI
catch one type. The tree::

    PatchwatchError
    ├── ValidationError      bad input: names each field and the rule it broke (CLI exit 2)
    ├── NotFoundError        no task/run/host with that id or name (CLI exit 2)
    ├── ConflictError        the request is valid but not now (wrong state, duplicate name) (CLI exit 2)
    ├── DataDirLockedError   another process owns the data directory
    ├── StoreError           the store on disk is unreadable or from a newer schema
    ├── AccessDeniedError    the caller's role does not allow the call (CLI exit 2)
    └── DisconnectedError    the engine a client was attached to went away
"""

from __future__ import annotations

from dataclasses import dataclass


class PatchwatchError(Exception):
    """Base of every error Patchwatch raises deliberately."""


@dataclass(frozen=True)
class FieldError:
    """One broken rule on one field.

    ``field`` is a dotted path an operator can find in a form or a TOML file (``schedule.cron``),
    ``rule`` says what the value must be, in words.
    """

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class ValidationError(PatchwatchError):
    """Input that breaks one or more rules; nothing was stored."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors: list[FieldError] = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def single(cls, field: str, rule: str) -> ValidationError:
        return cls(FieldError(field, rule))

    def prefixed(self, prefix: str) -> ValidationError:
        """The same errors with their field paths placed under ``prefix``."""
        return ValidationError([FieldError(f"{prefix}.{e.field}" if e.field else prefix, e.rule)
                                for e in self.errors])


class NotFoundError(PatchwatchError):
    """No object with the given id or name."""


class ConflictError(PatchwatchError):
    """The request cannot be applied in the current state."""


class DataDirLockedError(PatchwatchError):
    """Another live process already owns the data directory."""


class StoreError(PatchwatchError):
    """The store on disk cannot be used (unreadable, or written by a newer schema)."""


class AccessDeniedError(PatchwatchError):
    """The caller (known from the socket's peer credentials) lacks the role a call needs."""


class DisconnectedError(PatchwatchError):
    """The daemon a client was attached to is gone (stopped, killed, or the socket is unreachable)."""

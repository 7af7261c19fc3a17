"""Who is acting, for the trace: the login name of the process's user, as the operating system knows it.

Why not ``$USER`` or a setting: the trace is the record of who acknowledged an alarm, approved a run or
trusted a host key. A name the caller supplies (an environment variable, a flag) is their word, not a fact,
and an unset ``$USER`` (cron, systemd, ``env -i``) used to leave "operator" in the record. The effective uid
comes from the kernel; its name from the password database.
"""

from __future__ import annotations

import os
import pwd

__all__ = ["login_name"]


def login_name() -> str:
    """The effective user's login name; ``uid N`` when the password database has no entry for it."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"

"""Provision what the suite cannot pip-install, when missing: Debian's openssh-server and sudo (the
real-OpenSSH tests), curl (the socket tests reach the daemon as plain HTTP clients, as operators do), tmux
(the test of the installed console in a real terminal), python3-venv (the README's commands make a virtual
environment; Debian ships ``venv``'s ensurepip separately) and chromium (the HTML report's browser test).

Used by ``.ci/run`` before the test command and by the real-sshd fixture, so a fresh machine needs nothing
by hand. Installing needs root and apt-get; without them the caller is told why and the tests that need
sshd skip with that reason. The package's service is kept from starting (policy-rc.d): the tests start
their own sshd on a loopback port with a throwaway configuration.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

SSHD_PATHS = ("/usr/sbin/sshd", "/usr/bin/sshd")
POLICY = Path("/usr/sbin/policy-rc.d")


def sshd_binary() -> str | None:
    return next((p for p in SSHD_PATHS if os.access(p, os.X_OK)), None) or shutil.which("sshd")


def missing() -> list[str]:
    packages = []
    if sshd_binary() is None:
        packages.append("openssh-server")
    if shutil.which("sudo") is None:
        packages.append("sudo")
    if shutil.which("curl") is None:  # the socket tests reach the daemon as plain HTTP clients, as operators do
        packages.append("curl")
    if shutil.which("tmux") is None:
        packages.append("tmux")
    if importlib.util.find_spec("ensurepip") is None:
        # Debian and Ubuntu split ensurepip out of the interpreter: `python3 -m venv` fails without it.
        packages.append("python3-venv")
    return packages


CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_binary() -> str | None:
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def ensure_chromium() -> str | None:
    """Install Debian's chromium when missing (the HTML report is checked in a real headless browser);
    return None when ready, else why not. Separate from :func:`ensure` so a failed browser install never
    skips the sshd tests."""
    if chromium_binary() is not None:
        return None
    problem = _install(["chromium"])
    return problem or (None if chromium_binary() else "chromium still missing after install")


def ensure() -> str | None:
    """Install what is missing; return None when ready, else the reason it could not be done."""
    packages = missing()
    if not packages:
        return None
    problem = _install(packages)
    if problem:
        return problem
    return None if not missing() else f"still missing after install: {', '.join(missing())}"


def _install(packages: list[str]) -> str | None:
    if os.geteuid() != 0:
        return f"needs {', '.join(packages)}; install them (as root: apt-get install {' '.join(packages)})"
    if shutil.which("apt-get") is None:
        return f"needs {', '.join(packages)} and this machine has no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    added_policy = not POLICY.exists()
    if added_policy:
        POLICY.write_text("#!/bin/sh\n# patchwatch tests: do not start services while installing\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        update = subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
        install = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                                 env=env, capture_output=True, text=True)
    finally:
        if added_policy:
            POLICY.unlink(missing_ok=True)
    if install.returncode != 0:
        return f"apt-get install {' '.join(packages)} failed: {(install.stderr or update.stderr)[-500:]}"
    return None


if __name__ == "__main__":
    problem = ensure()
    print(problem or f"ready: sshd at {sshd_binary()}, sudo at {shutil.which('sudo')}, tmux at "
          f"{shutil.which('tmux')}, python3 -m venv available")
    problem = ensure_chromium()
    print(problem or f"ready: chromium at {chromium_binary()}")
    sys.exit(0)

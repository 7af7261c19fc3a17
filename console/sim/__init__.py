"""Simulated SSH hosts for tests and demos: real asyncssh servers on loopback that answer the
Scan_OS_Patch commands (one by one, or all at once as the one-exec scan script) like Ubuntu, Debian,
Rocky, Amazon Linux, openSUSE and Alpine hosts, with planted updates and planted faults (``fleet.FAULTS``,
``fleet.SCRIPT_FAULTS``), optionally far away on the network (``rtt``, ``jitter``). Nothing in the product
imports this package; it exists so the scanner is tested against real protocols instead of mocks.

Names are loaded on first use (PEP 562), so ``python -m console.sim.fleet`` does not import the
module twice and importing ``console.sim.distros`` alone does not pull in asyncssh.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DISTROS": "console.sim.distros",
    "DistroProfile": "console.sim.distros",
    "Package": "console.sim.distros",
    "Reply": "console.sim.distros",
    "plant_packages": "console.sim.distros",
    "respond": "console.sim.distros",
    "FAULTS": "console.sim.fleet",
    "FAULT_CATEGORY": "console.sim.fleet",
    "Fleet": "console.sim.fleet",
    "FleetFiles": "console.sim.fleet",
    "Latency": "console.sim.fleet",
    "SCRIPT_FAULTS": "console.sim.fleet",
    "SimHost": "console.sim.fleet",
    "run_fleet_forever": "console.sim.fleet",
    "start_fleet": "console.sim.fleet",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'console.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__

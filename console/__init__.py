"""Patchwatch: scheduled OS patch scans that never fail silently."""

__version__ = "0.1.0"

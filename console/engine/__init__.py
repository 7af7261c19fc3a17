"""The engine: services behind one API (see ``core`` for the composition root, ``api`` for the protocol)."""

from __future__ import annotations

from console.engine.core import CHANNELS_ENV, Engine, default_actor, default_channels_path

__all__ = ["CHANNELS_ENV", "Engine", "default_actor", "default_channels_path"]

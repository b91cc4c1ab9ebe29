"""Flightdeck: the execution layer between AI agents and the real web."""

from __future__ import annotations

__version__ = "0.1.0"

"""Playwright side of Flightdeck: browser discovery, sessions, actions, evidence."""

from __future__ import annotations

from app.browser.discovery import BrowserInfo, BrowserNotFound, find_browser, launch_args
from app.browser.provider import PlaywrightProvider
from app.browser.session import PlaywrightSession

__all__ = [
    "BrowserInfo",
    "BrowserNotFound",
    "PlaywrightProvider",
    "PlaywrightSession",
    "find_browser",
    "launch_args",
]

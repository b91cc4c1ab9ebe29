"""Viewport screenshots: a small JPEG with password fields painted over (G7)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

from playwright.async_api import CDPSession, Page

SCREENSHOT_MS = 5000.0


async def viewport_jpeg(page: Page, cdp: Callable[[], Awaitable[CDPSession]]) -> bytes:
    """The viewport as a JPEG; `cdp` gives the page's CDP session (created on first use)."""
    # A mask costs ~13 ms per shot even with nothing to mask; counting costs ~4.
    passwords = page.locator("input[type=password]")
    if await passwords.count():
        return await page.screenshot(
            type="jpeg",
            quality=50,
            scale="css",
            full_page=False,
            mask=[passwords],
            timeout=SCREENSHOT_MS,
        )
    # Nothing to mask: CDP's capture tuned for speed is ~30% cheaper than page.screenshot
    # (measured 32 vs 47 ms at 1280×800), and this is per step.
    return await cdp_jpeg(cdp)


async def cdp_jpeg(cdp: Callable[[], Awaitable[CDPSession]]) -> bytes:
    """The viewport exactly as rendered: nothing is masked here."""
    session = await cdp()
    shot = await session.send(
        "Page.captureScreenshot",
        {"format": "jpeg", "quality": 50, "optimizeForSpeed": True},
    )
    return base64.b64decode(shot["data"])

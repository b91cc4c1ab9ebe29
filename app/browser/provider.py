"""PlaywrightProvider: one Playwright driver and one browser process shared by every run; each
run gets its own context (cookies, storage, cache) and page (DESIGN.md "Browser").
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from app.browser.discovery import BrowserInfo, find_browser, launch_args
from app.browser.fingerprint import INIT_SCRIPT
from app.browser.priority import lower_browser_priority
from app.browser.session import PlaywrightSession

VIEWPORT = {"width": 1280, "height": 800}


KEEP_LOWERED_S = 1.0


class PlaywrightProvider:
    def __init__(
        self,
        headless: bool = True,
        browser_path: str | None = None,
        screenshots: bool = True,
        niceness: int = 0,
    ) -> None:
        self._headless = headless
        self._niceness = niceness  # > 0: the browser's processes run at this lower priority
        self._keeper: asyncio.Task[None] | None = None
        self._browser_path = browser_path
        self._screenshots = screenshots
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._info: BrowserInfo | None = None
        self._sessions: set[PlaywrightSession] = set()
        # Several runs may open their first session at once: one launch, not several.
        self._lock = asyncio.Lock()

    @property
    def browser_info(self) -> BrowserInfo | None:
        """Which browser was launched (None before the first session)."""
        return self._info

    async def _ensure_browser(self) -> Browser:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            if self._browser_path is not None:
                self._info = BrowserInfo(self._browser_path, "configured")
            else:
                self._info = find_browser(headless=self._headless)
            self._browser = await self._playwright.chromium.launch(
                executable_path=self._info.path,
                headless=self._headless,
                args=launch_args(),
            )
            return self._browser

    async def open_session(
        self,
        *,
        base_url: str | None,
        timeout: float,
        storage_state: dict[str, Any] | None = None,
    ) -> PlaywrightSession:
        """A fresh context + page. `timeout` (seconds) is Playwright's default for the page."""
        browser = await self._ensure_browser()
        if self._niceness > 0 and self._info is not None:
            await asyncio.to_thread(lower_browser_priority, self._info.path, self._niceness)
            if self._keeper is None or self._keeper.done():
                self._keeper = asyncio.create_task(self._keep_lowered(self._info.path))
        options: dict[str, Any] = {
            "viewport": VIEWPORT,
            "accept_downloads": False,
            # A service worker answers requests out of our sight (no network evidence).
            "service_workers": "block",
        }
        if base_url:
            options["base_url"] = base_url
        if storage_state is not None:
            options["storage_state"] = storage_state
        context = await browser.new_context(**options)
        try:
            context.set_default_timeout(timeout * 1000)
            context.set_default_navigation_timeout(timeout * 1000)
            await context.add_init_script(INIT_SCRIPT)
            page = await context.new_page()
        except BaseException:
            with contextlib.suppress(PlaywrightError):
                await context.close()
            raise
        session = PlaywrightSession(context, page, base_url=base_url, screenshots=self._screenshots)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        self._sessions.add(session)
        context.on("close", lambda _ctx: self._sessions.discard(session))
        return session

    async def _keep_lowered(self, executable: str) -> None:
        """Chromium sets its renderers' priority itself as pages come and go; a user cannot
        raise it back above what we set, but root (containers, CI) can: so look again now and
        then while sessions live."""
        while self._sessions:
            await asyncio.sleep(KEEP_LOWERED_S)
            await asyncio.to_thread(lower_browser_priority, executable, self._niceness)

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        async with self._lock:
            sessions, self._sessions = list(self._sessions), set()
            for session in sessions:
                await session.close()
            if self._browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await self._browser.close()
                self._browser = None
            if self._playwright is not None:
                with contextlib.suppress(PlaywrightError):
                    await self._playwright.stop()
                self._playwright = None

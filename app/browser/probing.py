"""Is the session still signed in? A page's URL loaded again beside it (BrowserSession.probe),
so that the page a run kept while it waited, and what was typed into it, stay as they are.

Without elements to look for, a fetch from the page itself answers (a few ms): where the GET
ends up after redirects, and its status. An SPA answers every URL with the same shell and
shows its sign-in form only once its script has asked its API: then a second tab of the same
context loads the URL, renders it, and says which of the elements it shows. That tab may not
change anything: its writes are refused before they leave the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from playwright.async_api import BrowserContext, Page, Route
from playwright.async_api import Error as PlaywrightError

from app.browser.locators import build_locator, remaining
from app.domain.task import Target
from app.engine.ports import MUTATING_METHODS, ProbeResult

# An SPA asks its API after the load event: give it this long to go quiet before looking.
SETTLE_MS = 3000.0

_FETCH_JS = """async (url) => {
  const r = await fetch(url, {credentials: 'include', cache: 'no-store', redirect: 'follow'});
  return [r.status, r.url];
}"""


async def by_fetch(page: Page, url: str, timeout: float) -> ProbeResult:
    """Raises PlaywrightError or TimeoutError when the page cannot tell (a redirect to another
    origin, a page that runs no script)."""
    async with asyncio.timeout(timeout):
        status, final = await page.evaluate(_FETCH_JS, url)
    return ProbeResult(str(final or url), int(status))


async def in_tab(context: BrowserContext, url: str, visible: list[Target], timeout: float) -> ProbeResult:
    deadline = time.monotonic() + timeout
    tab = await context.new_page()
    try:
        await tab.route("**/*", _reads_only)
        response = await tab.goto(url, wait_until="load", timeout=remaining(deadline))
        with contextlib.suppress(PlaywrightError):
            await tab.wait_for_load_state("networkidle", timeout=min(SETTLE_MS, remaining(deadline)))
        shown = [t.describe() for t in visible if await build_locator(tab, t).visible.count()]
        return ProbeResult(tab.url, response.status if response is not None else None, shown)
    finally:
        with contextlib.suppress(PlaywrightError):
            await tab.close()


async def _reads_only(route: Route) -> None:
    if route.request.method.upper() in MUTATING_METHODS:
        await route.abort("blockedbyclient")
    else:
        await route.fallback()  # on to the context's routes: the domain allowlist still applies

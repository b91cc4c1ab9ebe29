"""Closing what gets in the way: cookie banners, modals with a close button, the task's own list.

Every probe is immediate (count / is_visible never wait): this runs after an OBSTRUCTION failure
and must cost almost nothing when there is nothing to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, Request

from app.browser.locators import build_locator
from app.domain.task import Target

_COOKIE_CONTAINERS = ", ".join(
    f'[{attr}*="{word}" i]'
    for word in ("cookie", "consent", "gdpr")
    for attr in ("id", "class", "aria-label", "data-testid")
)
_ACCEPT = re.compile(
    r"^\s*(accept all( cookies)?|accept( cookies)?|allow all( cookies)?|i agree|agree|"
    r"got it|ok|okay)\s*[.!]?\s*$",
    re.IGNORECASE,
)
_DIALOGS = '[role=dialog], [role=alertdialog], dialog[open], [aria-modal="true"], .modal'
_CLOSE = re.compile(
    r"^\s*(close\b.*|dismiss\b.*|×|✕|✖|x|no,? thanks.*|not now|maybe later)\s*$",
    re.IGNORECASE,
)
_CLICK_MS = 1500.0
_GONE_MS = 1000.0
_MAX_ROUNDS = 3  # a banner, then the modal it was hiding, then one more


def _buttons(scope: Locator, name: re.Pattern[str]) -> Locator:
    return scope.get_by_role("button", name=name).or_(scope.get_by_role("link", name=name))


async def _label(locator: Locator) -> str:
    try:
        text = await locator.evaluate(
            "(e) => (e.getAttribute('aria-label') || e.innerText || e.value || '').trim()"
        )
    except PlaywrightError:
        return "?"
    return " ".join(str(text).split())[:60]


async def _click_first_visible(candidates: Locator) -> str | None:
    """Click the first visible candidate; return its label, or None if nothing was clicked."""
    if await candidates.count() == 0:
        return None
    button = candidates.visible.first
    if not await button.is_visible():
        return None
    label = await _label(button)
    try:
        await button.click(timeout=_CLICK_MS, no_wait_after=True)
    except PlaywrightError:
        return None  # covered by yet another overlay, or gone: the next round may get it
    # Overlays often fade out; wait briefly so the retried action does not hit it.
    with contextlib.suppress(PlaywrightError):
        await button.wait_for(state="hidden", timeout=_GONE_MS)
    return label


async def dismiss(page: Page, extra: list[Target]) -> list[str]:
    """Close known overlays; describe each one closed."""
    done: list[str] = []
    for _ in range(_MAX_ROUNDS):
        before = len(done)
        label = await _click_first_visible(_buttons(page.locator(_COOKIE_CONTAINERS), _ACCEPT))
        if label is not None:
            done.append(f'cookie banner: clicked "{label}"')
        label = await _click_first_visible(_buttons(page.locator(_DIALOGS), _CLOSE))
        if label is not None:
            done.append(f'dialog: clicked "{label}"')
        for target in extra:
            try:
                label = await _click_first_visible(build_locator(page, target))
            except PlaywrightError:
                continue  # a bad extra target must not stop the built-in ones
            if label is not None:
                done.append(f"{target.describe()}: clicked")
        if len(done) == before:
            break
    return done


QUIET_S = 0.3  # no new request for this long: what the dismissing clicks sent has left
QUIET_CAP_S = 2.0  # a page that polls is never quiet: the dismissal ends after this anyway


async def quiet(page: Page, *, quiet_s: float = QUIET_S, cap_s: float = QUIET_CAP_S) -> None:
    """Until the page has started no request for `quiet_s` (at most `cap_s`)."""
    last = time.monotonic()

    def started(_request: Request) -> None:
        nonlocal last
        last = time.monotonic()

    page.on("request", started)
    try:
        end = time.monotonic() + cap_s
        while (now := time.monotonic()) < end and now < last + quiet_s:
            await asyncio.sleep(min(last + quiet_s, end) - now)
    finally:
        page.remove_listener("request", started)

"""Targets → Playwright locators, and resolving them to exactly one element before acting.

Nothing holds element handles: some pages re-render their DOM every few hundred ms, so every
use re-queries through a locator.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from app.browser.classify import classify
from app.browser.fingerprint import MATCHES_AND_STATE_JS, PageState, is_navigation_race
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Target


def build_locator(page: Page, target: Target) -> Locator:
    scope: Page | Locator = page if target.within is None else build_locator(page, target.within)
    kind = target.kind
    exact = target.exact
    if kind == "role":
        # Playwright types `role` as a Literal of ARIA roles; task files give a plain string.
        locator = scope.get_by_role(cast(Any, target.role), name=target.name, exact=exact)
    elif kind == "label":
        locator = scope.get_by_label(cast(str, target.label), exact=exact)
    elif kind == "text":
        locator = scope.get_by_text(cast(str, target.text), exact=exact)
    elif kind == "placeholder":
        locator = scope.get_by_placeholder(cast(str, target.placeholder), exact=exact)
    elif kind == "test_id":
        locator = scope.get_by_test_id(cast(str, target.test_id))
    else:  # css or selector: any Playwright selector
        locator = scope.locator(cast(str, target.css or target.selector))
    if target.nth is not None:
        locator = locator.nth(target.nth)
    return locator


@dataclass
class Resolved:
    locator: Locator  # matches exactly one element (at resolve time)
    before: PageState  # the page as it was when the target was found


def remaining(deadline: float) -> float:
    """Milliseconds left until `deadline` (monotonic seconds), at least 1."""
    return max(1.0, (deadline - time.monotonic()) * 1000)


async def _probe(
    page: Page, locator: Locator, target: Target, deadline: float
) -> tuple[int, list[str] | None, PageState]:
    while True:
        try:
            count, candidates, raw = await locator.evaluate_all(MATCHES_AND_STATE_JS)
            return int(count), candidates, PageState.from_js(page.url, raw)
        except PlaywrightError as exc:
            if not is_navigation_race(exc) or time.monotonic() >= deadline:
                # A malformed selector lands here as PERMANENT; a closed page as TRANSIENT.
                raise classify(exc, what=target.describe(), page_url=page.url) from None
            # The page navigated under us: look again once the new document is there.
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state("domcontentloaded", timeout=remaining(deadline))


async def resolve(page: Page, target: Target, *, deadline: float, visible: bool = True) -> Resolved:
    """Find exactly one element for `target`, waiting until `deadline` for one to appear.

    The fast path is one round trip (count + page state). Several matches of which exactly one
    is visible resolve to the visible one (a hidden mobile menu is not a real ambiguity).
    Raises StepFailure MISSING_TARGET or AMBIGUOUS_TARGET.
    """
    locator = build_locator(page, target)
    while True:
        count, candidates, state = await _probe(page, locator, target, deadline)
        if count == 1:
            return Resolved(locator, state)
        if count > 1:
            shown = locator.visible
            n_visible, shown_candidates, state = await _probe(page, shown, target, deadline)
            if n_visible == 1:
                return Resolved(shown, state)
            if n_visible > 1:
                count, candidates = n_visible, shown_candidates
            if n_visible > 1 or not visible:
                raise StepFailure(
                    FailureClass.AMBIGUOUS_TARGET,
                    f"{target.describe()} matches {count} elements; add nth or narrow it with within",
                    {"target": target.describe(), "count": count, "candidates": candidates},
                )
        # Nothing (or nothing visible) yet: content often appears after a delay.
        waiting_for = locator.visible.first if (visible and count > 1) else locator.first
        try:
            await waiting_for.wait_for(state="attached", timeout=remaining(deadline))
        except PlaywrightTimeoutError:
            raise missing(target, count) from None
        except PlaywrightError as exc:
            if not is_navigation_race(exc):
                raise classify(exc, what=target.describe(), page_url=page.url) from None


async def on_one(page: Page, target: Target, operation: Callable[[Locator], Awaitable[None]]) -> None:
    """Run `operation` on the one element `target` means.

    The hot path: Playwright's own strict mode does the resolving, so a click costs no extra
    round trip. Playwright waits for the element to appear; several matches fail at once and
    are then examined (exactly one visible: act on it; else AMBIGUOUS_TARGET).
    """
    locator = build_locator(page, target)
    try:
        await operation(locator)
        return
    except PlaywrightTimeoutError as exc:
        if "locator resolved to" not in str(exc):  # never found anything
            raise missing(target, await locator.count()) from None
        raise
    except PlaywrightError as exc:
        if "strict mode violation" not in str(exc):
            raise
    shown = locator.visible
    n_shown = await shown.count()
    if n_shown == 1:
        await operation(shown)
        return
    raise await ambiguous(target, shown if n_shown > 1 else locator)


async def ambiguous(target: Target, locator: Locator) -> StepFailure:
    count, candidates, _ = await locator.evaluate_all(MATCHES_AND_STATE_JS)
    return StepFailure(
        FailureClass.AMBIGUOUS_TARGET,
        f"{target.describe()} matches {count} elements; add nth or narrow it with within",
        {"target": target.describe(), "count": count, "candidates": candidates},
    )


def missing(target: Target, count: int = 0) -> StepFailure:
    why = f"{count} matching elements but none visible" if count else "no element matches"
    return StepFailure(
        FailureClass.MISSING_TARGET,
        f"{target.describe()}: {why}",
        {"target": target.describe(), "count": count},
    )

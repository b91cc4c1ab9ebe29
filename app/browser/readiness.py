"""Before acting: the page's own scripts are ready (issue 12, defect 12).

A page that has loaded is not necessarily ready to be used: a script it added late (a
code-split editor bundle) may still be on its way, so a title typed now finds no handler to
derive the slug from it; a handler of the last action may have put its work off for a moment
(Wagtail derives the slug 100 ms after the title loses focus), so a click now posts the form
without it. A person sees the page still settling and waits; so does Flightdeck, within limits:
a page that never gets there (a script that never arrives, timers that keep coming) is acted on
anyway once the limit has passed, and not waited for again.
"""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Page

from app.browser.fingerprint import PageState, read_state

# How long a page may take to finish loading its scripts before an action, at most (never past
# the step's deadline). A script still loading is the page's own code: worth a few seconds.
SCRIPTS_CAP_S = 5.0
# How long the timers an earlier action or the page's loading set may take to fire.
TIMERS_CAP_S = 1.0
_POLL_S = 0.02


class Readiness:
    """Waits for one page's scripts; remembers the document it gave up on."""

    def __init__(self, page: Page) -> None:
        self._page = page
        self._gave_up: str | None = None  # the document that did not get ready in time

    async def wait(self, state: PageState | None, *, deadline: float) -> PageState:
        """The page's state once it is ready to be acted on (or the limits have passed).
        `state`: the page as read a moment ago, if it was; read again only when needed."""
        if state is None:
            state = await read_state(self._page, deadline=deadline)
        since = time.monotonic()
        while not state.ready and state.doc != self._gave_up:
            cap = TIMERS_CAP_S if state.loaded else SCRIPTS_CAP_S
            if time.monotonic() >= min(deadline, since + cap):
                self._gave_up = state.doc
                break
            await asyncio.sleep(_POLL_S)
            previous, state = state, await read_state(self._page, deadline=deadline)
            if state.doc != previous.doc or state.loaded != previous.loaded:
                since = time.monotonic()  # a new document, or its scripts in: the next limit
        return state

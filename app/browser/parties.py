"""Whose request is it: the site under test's, a third party's, or the page's own background
traffic (DESIGN.md "Judging on the real web"; README "Network guard").

Third-party and refused requests are told by their host (SiteScope). Background traffic is a
URL the task declares (policy.background_requests), or a request sent from a timer of the page
that repeats: Chromium says what started each request (CDP `Network.requestWillBeSent`'s
`initiator`, with async stack traces on). Measured here, for what a page does:

| the page | the initiator's stack, innermost first |
|---|---|
| `setInterval(ping, 300)`, `ping` POSTs | `ping` ← *setInterval* ← the code that set it |
| `function tick() { beacon(); setTimeout(tick, 400) }` | `tick` ← *setTimeout* ← `tick` ← … |
| a click handler that POSTs | `onclick` (no async parent) |
| a click handler that POSTs from `setTimeout(…, 50)` | (anonymous) ← *setTimeout* ← `onclick` |
| an input listener's debounced autosave | (anonymous) ← *setTimeout* ← (anonymous) |
| a form submitted by a click | type `other`, no stack |

So only a repeating timer counts: `setInterval`, or a timer set again by the very function it runs
(a named function; an anonymous one cannot name itself). A one-shot timer — a debounce, a
delayed save — is the doing of whoever set it, which may be the step's action: held. Chromium's
`hasUserGesture` tells nothing here (after a click it is true for the heartbeat too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from typing import Any

from playwright.async_api import CDPSession, Request
from playwright.async_api import Error as PlaywrightError

from app.domain.task.domains import SiteScope
from app.engine.ports import RequestRecord

log = logging.getLogger(__name__)

# Async stack depth asked of V8: a heartbeat's POST may sit a few awaits below its timer.
ASYNC_DEPTH = 16
# What Chromium reported and no request claimed is forgotten after this long (a request
# Playwright does not report, such as the favicon).
FORGET_S = 10.0
# How long the guard waits for Chromium's word on a request it is about to hold; measured, the
# word comes before Playwright reports the request at all.
WORD_S = 0.2

_TIMERS = frozenset({"setTimeout", "setInterval", "requestAnimationFrame", "requestIdleCallback"})


def repeating_timer(initiator: dict[str, Any]) -> bool:
    """Whether a timer that repeats sent the request (see the module docstring)."""
    stack = initiator.get("stack")
    while stack:
        parent = stack.get("parent")
        if not parent:
            return False
        what = parent.get("description")
        if what == "setInterval":
            return True
        frames = stack.get("callFrames") or []
        if what in _TIMERS and frames:
            ran = frames[-1]  # the function the timer ran: the outermost frame above it
            setters = parent.get("callFrames") or []
            if ran.get("functionName") and any(_same_function(ran, f) for f in setters):
                return True
        stack = parent
    return False


def _same_function(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("functionName") == b.get("functionName") and a.get("scriptId") == b.get("scriptId")


class Initiators:
    """What Chromium said started each request of a page, matched to Playwright's requests by
    method and URL in the order they were sent."""

    def __init__(self) -> None:
        self._reported: dict[tuple[str, str], deque[tuple[float, bool]]] = {}
        self._matched: weakref.WeakKeyDictionary[Request, bool] = weakref.WeakKeyDictionary()
        self._word = asyncio.Event()
        self.attached = False

    async def attach(self, cdp: CDPSession) -> None:
        """Listen on `cdp` (the page's own session) from now on. Without it, no request is
        known to come from a timer, and the guard holds them as before."""
        cdp.on("Network.requestWillBeSent", self._on_sent)
        try:
            # Async stacks through the Debugger domain: Chromium carries its settings over when
            # the page moves to another renderer process (another site, back from an error
            # page); Runtime.setAsyncCallStackDepth's are lost there (measured). It never
            # pauses the page (a `debugger;` statement runs on). The network buffers are this
            # session's only, and it reads no bodies.
            await cdp.send("Debugger.enable", {"maxScriptsCacheSize": 0})
            await cdp.send("Debugger.setSkipAllPauses", {"skip": True})
            await cdp.send("Debugger.setAsyncCallStackDepth", {"maxDepth": ASYNC_DEPTH})
            await cdp.send(
                "Network.enable", {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0, "maxPostDataSize": 0}
            )
        except PlaywrightError as exc:
            log.warning("initiators of requests unavailable (background traffic not recognised): %s", exc)
            return
        self.attached = True

    def _on_sent(self, event: dict[str, Any]) -> None:
        request = event.get("request") or {}
        key = (str(request.get("method", "")).upper(), str(request.get("url", "")))
        now = time.monotonic()
        queue = self._reported.setdefault(key, deque())
        queue.append((now, repeating_timer(event.get("initiator") or {})))
        if len(self._reported) > 256 or len(queue) > 64:
            self._forget(now)
        self._word.set()

    def _forget(self, now: float) -> None:
        for key in list(self._reported):
            queue = self._reported[key]
            while queue and now - queue[0][0] > FORGET_S:
                queue.popleft()
            if not queue:
                del self._reported[key]

    def repeating(self, request: Request) -> bool | None:
        """Whether a repeating timer of the page sent `request`; None while Chromium has not
        said (yet)."""
        if request in self._matched:
            return self._matched[request]
        key = (request.method.upper(), request.url)
        queue = self._reported.get(key)
        if not queue:
            return None
        _, repeating = queue.popleft()
        if not queue:
            del self._reported[key]
        self._matched[request] = repeating
        return repeating

    async def wait_repeating(self, request: Request) -> bool:
        """`repeating`, waiting up to WORD_S for Chromium's word; unknown counts as not."""
        if not self.attached:
            return False
        deadline = time.monotonic() + WORD_S
        while (found := self.repeating(request)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._word.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._word.wait()
        return found


class RequestParties:
    """The run's SiteScope and the page's initiators: marks each request's record, and tells
    the network guard what not to hold."""

    def __init__(self, base_url: str | None) -> None:
        self.scope = SiteScope(base_url=base_url)
        self.initiators = Initiators()

    def mark(self, request: Request, record: RequestRecord) -> None:
        """Set the record's third-party, refused and background marks (again, when Chromium's
        word on its initiator came late)."""
        url = record.url
        record.third_party = self.scope.third_party(url)
        host = self.scope.refused(url)
        record.refused = f"{host} is not an allowed domain of this task" if host is not None else None
        record.background = self.scope.declared_background(url) or (
            not _leaves_page(request) and self.initiators.repeating(request) is True
        )

    async def background(self, request: Request) -> bool:
        """The page sends it on its own: declared by the task, or from a repeating timer. A
        navigation of the page never is (the page itself would be leaving)."""
        if self.scope.declared_background(request.url):
            return True
        if _leaves_page(request):
            return False
        return await self.initiators.wait_repeating(request)


def _leaves_page(request: Request) -> bool:
    try:
        return request.is_navigation_request() and request.frame.parent_frame is None
    except PlaywrightError:  # no frame (a service worker's request)
        return False

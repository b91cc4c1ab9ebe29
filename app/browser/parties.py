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
delayed save — is the doing of whoever set it, which may be the step's action: held. Once the
page has sent a request (method and URL, without the query) from a repeating timer, the same
request sent again is on the page's schedule whatever its stack says. Chromium's
`hasUserGesture` tells nothing here (after a click it is true for the heartbeat too).

Async stacks are set through the Runtime domain, and set again in every new document's main
world: a page that moves to another renderer process (another site; back from Chromium's error
page after a denied navigation) loses the setting, and its first document there has run its
first scripts before it is set again (measured), so the timers that document set are known only
by a request the page sent from them before. The Debugger domain would keep the setting across
processes, but it reports every script Playwright evaluates (~20 per action): +0.3 s of CPU per
50 steps in the browser and driver (+17 %), measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from playwright.async_api import CDPSession, Request
from playwright.async_api import Error as PlaywrightError

from app.domain.task.domains import SiteScope
from app.engine.ports import RequestRecord

log = logging.getLogger(__name__)

# Async stack depth asked of V8: a heartbeat's POST may sit a few awaits below its timer.
ASYNC_DEPTH = 16
# What Chromium reported and no request claimed is forgotten after this long (a request
# Playwright does not report, such as the favicon): measured, Playwright reports a request
# within milliseconds of Chromium's word. An old word is never matched to a new request of the
# same URL (it could let a step's own POST pass for a heartbeat); unknown means held.
FORGET_S = 5.0
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
        # Requests (method, URL without its query) the page has sent from a repeating timer:
        # sent again, they are on the page's schedule whatever their stack says (a page that
        # came back in another renderer process sends them with no async stack at all).
        self._scheduled: set[tuple[str, str]] = set()
        self._cdp: CDPSession | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.attached = False

    async def attach(self, cdp: CDPSession) -> None:
        """Listen on `cdp` (the page's own session) from now on. Without it, no request is
        known to come from a timer, and the guard holds them as before."""
        self._cdp = cdp
        cdp.on("Network.requestWillBeSent", self._on_sent)
        cdp.on("Runtime.executionContextCreated", self._on_context)
        try:
            # Async stacks need the Runtime domain on (Chromium refuses them otherwise). The
            # network buffers are this session's only, and it reads no bodies.
            await cdp.send("Runtime.enable")
            await self._track_async()
            await cdp.send(
                "Network.enable", {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0, "maxPostDataSize": 0}
            )
        except PlaywrightError as exc:
            log.warning("initiators of requests unavailable (background traffic not recognised): %s", exc)
            return
        self.attached = True

    async def _track_async(self) -> None:
        if self._cdp is not None:
            await self._cdp.send("Runtime.setAsyncCallStackDepth", {"maxDepth": ASYNC_DEPTH})

    def _on_context(self, event: dict[str, Any]) -> None:
        """A new document: set async stacks again, for a page that moved to another renderer
        process (see the module docstring)."""
        if (event.get("context") or {}).get("auxData", {}).get("isDefault"):
            task = asyncio.get_running_loop().create_task(self._track_async())
            self._pending.add(task)
            task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("async stacks not set again: %s", task.exception())

    def _on_sent(self, event: dict[str, Any]) -> None:
        request = event.get("request") or {}
        key = (str(request.get("method", "")).upper(), str(request.get("url", "")))
        now = time.monotonic()
        repeating = repeating_timer(event.get("initiator") or {})
        if repeating:
            self._scheduled.add(_schedule_key(*key))
        queue = self._reported.setdefault(key, deque())
        queue.append((now, repeating))
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
        scheduled = _schedule_key(*key) in self._scheduled
        queue = self._reported.get(key)
        too_old = time.monotonic() - FORGET_S
        while queue and queue[0][0] < too_old:
            queue.popleft()
        if not queue:
            self._reported.pop(key, None)
            return True if scheduled else None
        _, repeating = queue.popleft()
        if not queue:
            del self._reported[key]
        self._matched[request] = repeating or scheduled
        return repeating or scheduled

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


def _schedule_key(method: str, url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return method, urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


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

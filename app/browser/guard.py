"""The network guard (G6): mutating requests are held in a Playwright route until a decider says
whether they go; and the domain allowlist, which refuses requests to hosts the task may not reach.

One route on the context catches every request of every page of the run, installed the first
time a decider or a scope is set and kept from then on: installing costs a round trip, and
uninstalling while a request sits in the handler would let it through undecided. The handler
reads the current decider and scope for each request, so switching between steps is free.

Not held: reads, requests to third parties (they cannot change the site under test), and the
page's own background traffic (parties.py: declared URLs, repeating timers). A navigation of the
page and anything a step's action itself sends are never background.

A denied request is aborted (it never reaches the server; the observer records it as failed with
net::ERR_BLOCKED_BY_CLIENT). An aborted navigation leaves Chromium's error page behind
(PLATFORM.md), so the page is taken back to where it was (history back, which also restores the
form's typed values), unseen by the action's evidence.

Measured here: while a navigation of a frame is held, Chromium answers no DevTools command to
that frame's document (Runtime.evaluate, DOM.*, and so every Playwright evaluate, locator and
page.screenshot) until it is decided; CDP's Page.captureScreenshot still answers. So nothing may
read the page while a person decides on its navigation: `navigation_held` says when, and what is
known of the document comes from its last read (PageState: secret field names, passwords).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from playwright.async_api import BrowserContext, Frame, Page, Request, Route, WebSocketRoute
from playwright.async_api import Error as PlaywrightError

from app.browser.fingerprint import PageState
from app.browser.held import held_request
from app.browser.parties import RequestParties
from app.domain.task.domains import SiteScope
from app.engine.ports import MUTATING_METHODS, RequestDecider

log = logging.getLogger(__name__)

# How long an aborted navigation may take to show Chromium's error page; none by then means the
# page stayed where it was.
ERROR_PAGE_S = 2.0
RECOVER_MS = 10000.0
RECOVER_ATTEMPTS = 3


@dataclass(frozen=True)
class BlockedRequest:
    """A request to a host outside the task's allowed domains, aborted before it left. Only
    `leaves_site` fails the step (the page itself was going to another site, where a credential
    could be typed); anything else the page sends there is recorded and decides nothing."""

    method: str
    url: str
    host: str
    resource_type: str
    leaves_site: bool = False


class NetworkGuard:
    def __init__(
        self,
        context: BrowserContext,
        page: Page,
        parties: RequestParties,
        *,
        known: Callable[[], PageState | None],
        unobserved: Callable[[Page], AbstractContextManager[object]],
    ) -> None:
        """`page` is the session's page; `parties` the run's scope and the page's initiators;
        `known()` the page's last state read; `unobserved(page)` keeps what happens inside it
        out of the action's evidence."""
        self._context = context
        self._page = page
        self._parties = parties
        self._known = known
        self._unobserved = unobserved
        self._held_navigations = 0
        self._decide: RequestDecider | None = None
        self.blocked: list[BlockedRequest] = []  # by the domain allowlist, oldest first
        self._installed = False
        self._sockets_routed = False
        self._held = 0
        self.holds = 0  # requests held so far: whether any was, during an action
        self._released = asyncio.Event()
        self._recoveries: set[asyncio.Task[None]] = set()
        self._dismissing = 0  # overlays are being dismissed: what their buttons send goes

    async def configure(self, decide: RequestDecider | None) -> None:
        self._decide = decide
        if decide is not None and not self._installed:
            await self._context.route("**/*", self._handle)
            self._installed = True

    async def set_scope(self, scope: SiteScope) -> None:
        """From now on, judge requests by `scope` and abort every request (any method, any
        resource type, any page of the context) to a host outside `scope.allowed`
        (policy.allow_domains); None there: no restriction.

        WebSockets never pass through `route`: they get their own route, matched by a predicate
        so that only the blocked ones are routed (an allowed socket goes straight to its server,
        with no proxying of its messages through Playwright)."""
        self._parties.scope = scope
        if scope.allowed is not None and not self._installed:
            await self._context.route("**/*", self._handle)
            self._installed = True
        if scope.allowed is not None and not self._sockets_routed:
            await self._context.route_web_socket(self._socket_blocked, self._refuse_socket)
            self._sockets_routed = True

    def _socket_blocked(self, url: str) -> bool:
        return self._parties.scope.refused(url) is not None

    async def _refuse_socket(self, ws: WebSocketRoute) -> None:
        """Never connected to its server: the page sees the socket close (1008, policy)."""
        host = self._parties.scope.refused(ws.url) or ""
        self.blocked.append(BlockedRequest("GET", ws.url, host, "websocket"))
        with contextlib.suppress(PlaywrightError):  # the page closed meanwhile
            await ws.close(code=1008, reason=f"{host} is not an allowed domain of this task")

    @property
    def navigation_held(self) -> bool:
        """A navigation of the session's page is held: the page cannot be read until decided."""
        return self._held_navigations > 0

    @property
    def busy(self) -> bool:
        """A request is waiting for its decision, or a page is being brought back after one."""
        return self._held > 0 or bool(self._recoveries)

    async def quiet(self) -> None:
        """Wait until no request is held and no page is being brought back."""
        while self.busy:
            if self._held:
                self._released.clear()
                await self._released.wait()
            else:
                await self.recovered()

    async def recovered(self) -> None:
        """Wait until pages left on an error page by a denied navigation are back."""
        while self._recoveries:
            await asyncio.wait(set(self._recoveries))

    @contextlib.contextmanager
    def dismissing(self) -> Iterator[None]:
        """Flightdeck is clicking away an overlay (a cookie banner, a modal, the task's
        `policy.obstructions`): what its button sends — a consent or a preference the page
        saves, as Node-RED saves "no update notifications" — is part of dismissing it, which the
        built-in rules and the task's policy allow, not the step's doing: not held."""
        self._dismissing += 1
        try:
            yield
        finally:
            self._dismissing -= 1

    async def _goes_unheld(self, request: Request) -> bool:
        """Reads, third-party requests, the page's own background traffic, and what dismissing
        an overlay sends: not held."""
        if request.method.upper() not in MUTATING_METHODS or self._dismissing:
            return True
        if self._parties.scope.third_party(request.url):
            return True
        return await self._parties.background(request)

    async def _handle(self, route: Route) -> None:
        request = route.request
        navigation = _is_main_navigation(request)
        ours = navigation and request.frame.page == self._page
        host = self._parties.scope.refused(request.url)
        if host is not None:
            blocked = BlockedRequest(request.method, request.url, host, request.resource_type, ours)
            self.blocked.append(blocked)
            await self._resolve(route, False)
            return
        decide = self._decide
        if decide is None or await self._goes_unheld(request):
            await self._resolve(route, True)
            return
        known = self._known() if ours else None
        self._held += 1
        self.holds += 1
        self._held_navigations += ours
        try:
            # Where the page was: a denied navigation is undone back to here.
            previous = request.frame.url if navigation else None
            go = False
            try:
                held = await held_request(request, known.secret_names if known else ())
                go = bool(await decide(held))
            except asyncio.CancelledError:
                await self._resolve(route, False)  # undecided never means "let it go"
                raise
            except Exception:
                log.exception(
                    "the network guard's decider failed; %s %s is blocked", request.method, request.url
                )
            if not go and previous is not None and previous.startswith(("http:", "https:")):
                # Started before the abort: whoever waits for quiet sees it from the first moment.
                self._recover_later(request.frame.page, previous)
            await self._resolve(route, go)
        finally:
            self._held -= 1
            self._held_navigations -= ours
            if not self._held:
                self._released.set()

    @staticmethod
    async def _resolve(route: Route, go: bool) -> None:
        with contextlib.suppress(PlaywrightError):  # the page closed meanwhile
            if go:
                await route.fallback()  # on to any other handler, then the network
            else:
                await route.abort("blockedbyclient")

    def _recover_later(self, page: Page, previous: str) -> None:
        """Bring `page` back to `previous` once the aborted navigation shows the error page.

        Called before the abort is sent, and listening from this very moment: the error page
        may commit before a task started now gets to run.
        """
        error_page: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_navigated(frame: Frame) -> None:
            if frame.parent_frame is None and _is_error_page(frame.url) and not error_page.done():
                error_page.set_result(None)

        page.on("framenavigated", on_navigated)
        task = asyncio.get_running_loop().create_task(self._recover(page, previous, error_page, on_navigated))
        self._recoveries.add(task)
        task.add_done_callback(self._recoveries.discard)

    async def _recover(
        self,
        page: Page,
        previous: str,
        error_page: asyncio.Future[None],
        listener: Callable[[Frame], None],
    ) -> None:
        try:
            async with asyncio.timeout(ERROR_PAGE_S):
                await error_page
        except TimeoutError:
            return  # no error page: the page stayed where it was
        finally:
            page.remove_listener("framenavigated", listener)
        failure: PlaywrightError | None = None
        with self._unobserved(page):
            for attempt in range(RECOVER_ATTEMPTS):
                # The error page lives in another renderer: until it has loaded, the page may
                # answer "Not attached to an active page".
                with contextlib.suppress(PlaywrightError):
                    await page.wait_for_load_state("load", timeout=RECOVER_MS)
                try:
                    if attempt == 0:
                        await page.go_back(timeout=RECOVER_MS)  # restores typed values when it can
                    if page.url != previous:
                        await page.goto(previous, timeout=RECOVER_MS)
                    return
                except PlaywrightError as exc:
                    failure = exc
        log.warning("could not bring the page back to %s after a blocked navigation: %s", previous, failure)


def _is_error_page(url: str) -> bool:
    return url.startswith("chrome-error://")


def _is_main_navigation(request: Request) -> bool:
    try:
        return request.is_navigation_request() and request.frame.parent_frame is None
    except PlaywrightError:  # no frame (a service worker's request)
        return False

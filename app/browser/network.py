"""Network evidence: which requests an action triggered, and when the page has settled.

One `PageObserver` listens to a page for its whole life. Each action opens an `ActionWindow`;
what happens until the next window opens is recorded in it. A window stays live after `act`
returns, so a request that starts late or a status that arrives late still lands in the outcome
the engine is checking (`check` can wait for it). Records are updated in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Literal

from playwright.async_api import ConsoleMessage, Dialog, Frame, Page, Request, Response
from playwright.async_api import Error as PlaywrightError

from app.browser.parties import RequestParties
from app.engine.ports import RequestRecord

# How long in-flight reads (GET, HEAD…) are waited for at most: a long poll must not cost
# seconds on every action. Records keep filling after this; see the module docstring.
# A mutating request (POST/PUT/PATCH/DELETE) to the site under test is waited for until the
# step's deadline: its status is the evidence that decides the step (DESIGN.md: a 5xx fails
# it). A third-party or background one decides nothing, and is waited for like a read.
PENDING_CAP_S = 2.0
# The page said a navigation started, but no request arrived: prevented, or turned into a
# download. Give up waiting for it after this long.
NAV_HINT_GRACE_S = 1.0
# The page called fetch/XHR but Playwright has not reported a request yet (it trails, more so
# when requests are routed): wait this long for it.
NET_HINT_GRACE_S = 0.5
# A navigation request finished but nothing committed (204, download): stop waiting after this.
COMMIT_GRACE_S = 0.5

_STREAMING = frozenset({"eventsource", "websocket"})
_FETCH_TYPES = frozenset({"fetch", "xhr"})  # what the page's fetch counter counts
_SKIPPED_SCHEMES = ("data:", "blob:")

NavState = Literal["none", "requested", "committed", "loaded"]


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ActionWindow:
    """What one action (or reload) triggered. Lists are shared with its ActionOutcome."""

    def __init__(self) -> None:
        self.requests: list[RequestRecord] = []
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.main_status: int | None = None
        self.live = True
        self.nav: NavState = "none"
        self.nav_request_done_at: float | None = None
        self.pending: set[Request] = set()
        self.fetches = 0  # fetch/XHR requests seen
        self.activity = False  # anything at all happened: a request or a navigation
        self.changed = asyncio.Event()
        self.sockets: dict[str, RequestRecord] = {}  # WebSocket frame tallies by URL (sockets.py)

    def touch(self) -> None:
        self.activity = True
        self.changed.set()


class PageObserver:
    def __init__(self, page: Page, parties: RequestParties) -> None:
        self._page = page
        self._parties = parties  # marks each record third-party, refused or background
        self._window: ActionWindow | None = None
        self._open: dict[Request, tuple[RequestRecord, float, ActionWindow]] = {}
        self._paused = 0
        # How the page's document was fetched: one a POST answered must not be reloaded (the
        # browser would send the POST again), only read again with a GET.
        self.document_method = "GET"
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("requestfinished", self._on_finished)
        page.on("requestfailed", self._on_failed)
        page.on("framenavigated", self._on_framenavigated)
        page.on("domcontentloaded", self._on_domcontentloaded)
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)

    def begin(self) -> ActionWindow:
        """Start recording a new action; the previous window stops growing."""
        self.freeze()
        # Answered requests of past windows only wait for a "finished" that may never come
        # (unread fetch bodies): forget them so a long run does not accumulate them.
        self._open = {
            req: entry for req, entry in self._open.items() if entry[2].live or entry[0].status is None
        }
        self._window = ActionWindow()
        return self._window

    @property
    def window(self) -> ActionWindow | None:
        """The window recording now; None between actions and while `unobserved`."""
        return None if self._paused else self._window

    @contextlib.contextmanager
    def unobserved(self) -> Iterator[None]:
        """Flightdeck's own housekeeping inside (bringing a page back after a blocked
        navigation): its requests and navigations are not the action's doing."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def freeze(self) -> None:
        if self._window is not None:
            self._window.live = False
        self._window = None

    async def settle(
        self,
        window: ActionWindow,
        *,
        deadline: float,
        nav_hint: bool = False,
        expect_fetches: int = 0,
    ) -> bool:
        """Wait until the action's consequences are over. True if there was anything to wait for.

        Waits for a navigation the action started (request → commit → DOMContentLoaded) and for
        the responses to requests it started (reads at most PENDING_CAP_S). The hints come from the
        page itself: it started a navigation, or made `expect_fetches` fetch/XHR calls, which
        Playwright may not have reported yet. Whether the page has *used* the responses is the
        page's to say (PageState.waiting_since).
        """
        start = time.monotonic()
        hint_until = start + NAV_HINT_GRACE_S if nav_hint else 0.0
        net_until = start + NET_HINT_GRACE_S if expect_fetches else 0.0
        pending_until = min(deadline, start + PENDING_CAP_S)
        waited = False
        while True:
            now = time.monotonic()
            if now >= deadline:
                return waited
            if (
                window.nav == "requested"
                and window.nav_request_done_at is not None
                and now - window.nav_request_done_at > COMMIT_GRACE_S
            ):
                window.nav = "none"  # finished without committing: 204 or a download
            if window.nav in ("requested", "committed"):
                wake = min(deadline, now + COMMIT_GRACE_S)
            elif window.nav == "none" and now < hint_until:
                wake = hint_until
            elif window.fetches < expect_fetches and now < net_until:
                wake = net_until
            elif window.pending and now < pending_until:
                wake = pending_until
            elif any(self._decisive(r) for r in window.pending):
                wake = deadline
            else:
                return waited
            waited = True
            # No await between the checks above and clear(): no event can slip through.
            window.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - now)):
                    await window.changed.wait()

    def _decisive(self, request: Request) -> bool:
        """A write to the site under test: its status decides the step, so it is waited for
        until the deadline. Third-party and background ones decide nothing: read-style wait."""
        entry = self._open.get(request)
        return entry is not None and entry[0].mutating and entry[0].judged

    # ------------------------------------------------------------------ event handlers
    def _is_main_frame(self, frame: Frame) -> bool:
        return frame == self._page.main_frame

    def _is_main_navigation(self, request: Request) -> bool:
        try:
            return request.is_navigation_request() and self._is_main_frame(request.frame)
        except PlaywrightError:  # no frame (service worker): not a navigation of ours
            return False

    def _on_request(self, request: Request) -> None:
        window = self._window
        if window is None or self._paused or request.url.startswith(_SKIPPED_SCHEMES):
            return
        record = RequestRecord(
            method=request.method,
            url=request.url,
            status=None,
            resource_type=request.resource_type,
        )
        self._parties.mark(request, record)
        window.requests.append(record)
        if request.resource_type in _FETCH_TYPES:
            window.fetches += 1
        self._open[request] = (record, time.monotonic(), window)
        if request.resource_type not in _STREAMING:
            window.pending.add(request)
        if self._is_main_navigation(request):
            window.nav = "requested"
            window.nav_request_done_at = None
        window.touch()

    def _on_response(self, response: Response) -> None:
        request = response.request
        if not 300 <= response.status < 400 and self._is_main_navigation(request):
            self.document_method = request.method.upper()
        entry = self._open.get(request)
        if entry is None:
            return
        record, started, window = entry
        now = time.monotonic()
        self._remark(request, record)
        record.status = response.status
        record.duration_ms = round((now - started) * 1000, 1)
        if response.status in (429, 503):
            record.retry_after = parse_retry_after(response.headers.get("retry-after"))
        # Chromium reports a fetch as finished only once the page reads its body, which many
        # pages never do: the response is what the page waits for, so it ends the wait.
        window.pending.discard(request)
        if self._is_main_navigation(request) and not 300 <= response.status < 400:
            window.main_status = response.status
        window.touch()

    def _close(self, request: Request, failure: str | None) -> None:
        entry = self._open.pop(request, None)
        if entry is None:
            return
        record, started, window = entry
        now = time.monotonic()
        self._remark(request, record)
        record.duration_ms = round((now - started) * 1000, 1)
        if failure is not None:
            record.failure = failure
        window.pending.discard(request)
        if self._is_main_navigation(request) and window.nav == "requested":
            if failure is not None:
                window.nav = "none"  # aborted: the page stays (or shows chrome-error://)
            else:
                window.nav_request_done_at = now
        window.touch()

    def _remark(self, request: Request, record: RequestRecord) -> None:
        """Chromium's word on what started a request may come after Playwright reported it."""
        if not record.background:
            self._parties.mark(request, record)

    def _on_finished(self, request: Request) -> None:
        self._close(request, None)

    def _on_failed(self, request: Request) -> None:
        self._close(request, request.failure or "failed")

    def _on_framenavigated(self, frame: Frame) -> None:
        window = self._window
        if window is None or self._paused or not self._is_main_frame(frame):
            return
        if window.nav == "requested":
            window.nav = "committed"
        window.touch()

    def _on_domcontentloaded(self, _page: Page) -> None:
        window = self._window
        if window is not None and not self._paused and window.nav == "committed":
            window.nav = "loaded"
            window.touch()

    async def _on_dialog(self, dialog: Dialog) -> None:
        # Accept everything: an unanswered alert freezes the page; the text is evidence.
        window = self._window
        if window is not None:
            window.dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(PlaywrightError):
            if dialog.type == "prompt":
                await dialog.accept(dialog.default_value)
            else:
                await dialog.accept()

    def _on_console(self, message: ConsoleMessage) -> None:
        window = self._window
        if window is not None and message.type == "error":
            window.console_errors.append(message.text[:500])

    def _on_pageerror(self, error: PlaywrightError) -> None:
        window = self._window
        if window is not None:
            window.console_errors.append(f"uncaught: {error.message}"[:500])

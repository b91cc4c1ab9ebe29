"""PlaywrightSession: one run's browser context and page (the BrowserSession port).

`act` is the hot path: resolving the target and reading the "before" state is one round trip,
the action itself, then one more round trip reads the "after" state and tells whether anything
is still happening. Only when something is (a request, a navigation) does it wait to settle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from app.browser import actions, forms, highlight, obstructions, probing, targeting
from app.browser.actions import ActionContext
from app.browser.capture import cdp_jpeg, viewport_jpeg
from app.browser.checks import ExpectationChecker, FieldStates
from app.browser.classify import classify
from app.browser.fingerprint import PageState, is_navigation_race, read_state
from app.browser.formerrors import form_errors
from app.browser.guard import NetworkGuard
from app.browser.network import ActionWindow, PageObserver
from app.browser.operator_input import OperatorInput
from app.browser.page_input import PageInputWatch
from app.browser.parties import RequestParties
from app.browser.readiness import Readiness
from app.browser.screencast import Screencast
from app.browser.sockets import Conversation, SocketWatch
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Action, Effect, Expectation, FillArgs, Step, Target
from app.domain.task.domains import SiteScope
from app.engine.ports import (
    ActionOutcome,
    Box,
    Candidate,
    CheckResult,
    Fingerprint,
    FormError,
    FrameCallback,
    InputEvent,
    InputReport,
    ProbeResult,
    RequestDecider,
    RequestRecord,
    TargetInfo,
)

# Evidence is worth a little time past the step timeout: a click that found its target at the
# last moment still gets to see the navigation it started.
MIN_SETTLE_S = 2.0
# The page has its response but is still reading it (json()…) or handling it: poll this often,
# for at most BUSY_CAP_S (a response the page never finishes reading must not hang a step).
BUSY_POLL_S = 0.01
BUSY_CAP_S = 1.0
# How old the previous action's "after" may be to stand in for the next "before".
_RECENT_S = 0.25
# Actions whose WebSocket answer is waited for until the step's deadline (sockets.py): they are
# meant to make something happen. Typing only hands the site a value.
_ANSWERED = frozenset({Action.CLICK, Action.PRESS})


# Restores a profile's local storage, once per origin and tab, before any page script runs.
_LOCAL_STORAGE_JS = """(() => {
  const saved = %s;
  const items = saved[location.origin];
  if (!items || sessionStorage.getItem('__flightdeck_profile')) return;
  try {
    for (const [name, value] of Object.entries(items)) localStorage.setItem(name, value);
    sessionStorage.setItem('__flightdeck_profile', '1');
  } catch (e) { /* storage disabled for this origin */ }
})();"""


class PlaywrightSession:
    def __init__(
        self,
        context: BrowserContext,
        page: Page,
        *,
        base_url: str | None,
        screenshots: bool = True,
    ) -> None:
        self._context = context
        self._page = page
        self._base_url = base_url
        self._screenshots = screenshots
        self._parties = RequestParties(base_url)
        self._observer = PageObserver(page, self._parties)
        self._readiness = Readiness(page)
        # Sockets to the site's own hosts, by the run's scope as it is when they are asked about.
        self._sockets = SocketWatch(page, self._observer, lambda host: self._parties.scope.own_host(host))
        self._checker = ExpectationChecker(page, base_url, self._observer, self._sockets.opened)
        self._closed = False
        # The page state the last action left, with when it was read: the next action's
        # "before" when it follows straight on (the engine takes a few ms in between).
        self._recent: tuple[PageState, float] | None = None
        # A fill's target as read with the page after it (see act): its check's first look.
        self._filled: tuple[Target, FieldStates] | None = None
        self._cdp: CDPSession | None = None
        # The last state read of the page (any age): what is known of it while it cannot be read.
        self._known: PageState | None = None
        self._guard = NetworkGuard(
            context, page, self._parties, known=self._known_state, unobserved=self._unobserved
        )
        self._input = OperatorInput(page, self._cdp_session)
        self._page_input = PageInputWatch(page)  # a person's own input while taken over
        self._screencasts: set[Screencast] = set()  # live views of this page (stopped on close)
        self._closed_mark: int | None = None  # sockets closed before the page was last frozen

    async def start(self) -> None:
        """Before the first navigation: learn what starts each request of the page (parties.py)."""
        try:
            cdp = await self._cdp_session()
        except PlaywrightError as exc:
            raise classify(exc, what="open the page's DevTools session", page_url=self._page.url) from None
        await self._parties.initiators.attach(cdp)

    @property
    def page(self) -> Page:
        """The Playwright page, for live views and input injection (not for the engine)."""
        return self._page

    @property
    def url(self) -> str:
        return self._page.url

    async def act(self, step: Step, *, timeout: float) -> ActionOutcome:
        """Perform a rendered step; see BrowserSession.act.

        `outcome.requests`, `.dialogs` and `.console_errors` keep filling (late requests, late
        statuses) until the next act/goto/dismiss/after_reload on this session.
        A StepFailure raised while observing the result of an action that went through has
        details["dispatched"] = True. Pointer actions that fail (covered, missing, disabled,
        several matches) were not dispatched: Playwright only clicks once every check passed.
        """
        if step.action is Action.ASK:
            raise ValueError("`ask` steps are answered by the engine, not the browser")
        await self._guard.recovered()
        holds = self._guard.holds
        started = time.monotonic()
        deadline = started + timeout
        # A page driven over a socket is not ready until the socket is (sockets.py): a click
        # before that is kept by the page and sent later, as none of the action's doing. Half
        # the step's time at most: the action keeps the rest.
        known = self._known.connections if self._known is not None else None
        opening = await self._sockets.opened(started + timeout / 2, known)
        window = self._observer.begin()
        recent = None if opening else self._recent
        self._recent = None
        self._filled = None
        if recent is not None and started - recent[1] > _RECENT_S:
            recent = None
        prior = recent[0] if recent is not None and recent[0].url == self._page.url else None
        blocked_mark = len(self._guard.blocked)
        try:
            if step.action is not Action.GOTO:
                # Acting on a page whose own scripts are not ready yet loses what they do.
                prior = await self._readiness.wait(prior, deadline=deadline)
            ctx = ActionContext(self._page, self._base_url, deadline, prior)
            result = await actions.run(ctx, step)
        except PlaywrightError as exc:
            self._raise_if_blocked(blocked_mark)
            raise classify(exc, what=step.summary(), page_url=self._page.url) from None
        except StepFailure as exc:
            self._raise_if_blocked(blocked_mark)
            raise await targeting.explain_missing(self._page, exc, step.target) from None
        self._known = result.before
        talk = Conversation(
            window,
            result.before,
            self._sockets.own,
            patient=step.action in _ANSWERED or step.effect is not Effect.READ,
        )
        try:
            if result.side_effects and isinstance(step.args, FillArgs):
                # The field's value (what a fill's default expectation checks next) is read in
                # the same moment as the page: one round trip instead of two in a row.
                after, self._filled = await asyncio.gather(
                    self._settled(window, result.before, deadline, timeout, holds, talk),
                    self._field_states(step.args.target),
                )
            elif result.side_effects:
                after = await self._settled(window, result.before, deadline, timeout, holds, talk)
            elif step.action is Action.WAIT_FOR:
                after = await read_state(self._page, deadline=deadline + MIN_SETTLE_S)
            else:
                after = result.before
        except PlaywrightError as exc:
            self._raise_if_blocked(blocked_mark)
            failure = classify(exc, what=step.summary(), page_url=self._page.url)
            # The action itself went through; only observing its result failed. An
            # irreversible step must not be fired again on the strength of this failure.
            failure.details["dispatched"] = True
            raise failure from None
        self._raise_if_blocked(blocked_mark)
        self._record_refused(window, blocked_mark)
        self._recent = (after, time.monotonic())
        self._known = after
        return ActionOutcome(
            before=result.before.fingerprint(),
            after=after.fingerprint(),
            requests=window.requests,
            main_status=result.main_status or window.main_status,
            dialogs=window.dialogs,
            console_errors=window.console_errors,
            value=result.value,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            messages=talk.messages,
        )

    async def _settled(
        self,
        window: ActionWindow,
        before: PageState,
        deadline: float,
        timeout: float,
        holds: int,
        talk: Conversation,
    ) -> PageState:
        """`_after`, not counting the time a person spends deciding on a request the action
        sent (or the page takes to come back from a denied navigation): the step gets its full
        `timeout` again once that is over."""
        try:
            after: PageState | None = await self._after(window, before, deadline, talk)
        except PlaywrightError as exc:
            # A held navigation kept the page from being read until the deadline had passed.
            if self._guard.holds == holds or not is_navigation_race(exc):
                raise
            after = None
        if after is not None and not self._guard.busy:
            return after
        await self._guard.quiet()
        return await self._after(window, before, time.monotonic() + timeout, talk)

    async def _after(
        self, window: ActionWindow, before: PageState, deadline: float, talk: Conversation
    ) -> PageState:
        """The page after an action, once whatever the action started has finished.

        Each round reads the page (one evaluate) and stops as soon as neither the network
        events nor the page's own counters show anything under way. Nothing under way right
        after the action (a purely local DOM change) costs no wait at all. A message the
        action sent over a WebSocket is under way until the site's answer is in (sockets.py).
        """
        settle_by = max(deadline, time.monotonic() + MIN_SETTLE_S)
        busy_until = time.monotonic() + BUSY_CAP_S
        state = await self._read_now()
        previous: PageState | None = before
        while True:
            nav_hint = state is None or previous is None or state.navigated_since(previous)
            calls = 0 if state is None else state.requests_since(before)
            busy = state is not None and state.waiting_since(before) and time.monotonic() < busy_until
            answer = talk.wake_at(state, deadline)
            if state is not None and not (
                window.activity or nav_hint or calls > window.fetches or busy or answer is not None
            ):
                return state
            window.activity = False  # from here on, only new events count
            waited = await self._observer.settle(
                window, deadline=settle_by, nav_hint=nav_hint, expect_fetches=calls
            )
            if not waited and state is not None:
                if answer is not None:
                    await talk.wait(answer)  # the site's answer, or the rest of it
                elif not busy:
                    return state  # e.g. a goto whose page had fully loaded
                else:
                    # The response is in; the page is still reading it or running its handler.
                    await asyncio.sleep(BUSY_POLL_S)
            previous, state = state, await read_state(self._page, deadline=settle_by)
            if time.monotonic() >= settle_by:
                return state

    async def _read_now(self) -> PageState | None:
        """The page state, or None when the document changed under the read (a navigation
        committed: there is nothing to compare with until it settles)."""
        try:
            return await read_state(self._page, deadline=time.monotonic())
        except PlaywrightError as exc:
            if not is_navigation_race(exc):
                raise
            return None

    async def check(
        self, expect: Expectation, outcome: ActionOutcome | None, *, timeout: float
    ) -> list[CheckResult]:
        await self._guard.recovered()
        deadline = time.monotonic() + timeout
        if expect.after_reload is not None:
            self._recent = None  # the reload replaces the page
        requests = outcome.requests if outcome is not None else None
        filled, self._filled = self._filled, None
        return await self._checker.check(expect, requests, deadline=deadline, read_just_now=filled)

    async def _field_states(self, target: Target) -> tuple[Target, FieldStates] | None:
        try:
            return target, await self._checker.read_states(target)
        except PlaywrightError:
            return None  # the check reads it again, and reports what it finds

    async def fingerprint(self) -> Fingerprint:
        self._readable("fingerprint")
        try:
            state = await read_state(self._page, deadline=time.monotonic() + MIN_SETTLE_S)
        except PlaywrightError as exc:
            raise classify(exc, what="fingerprint", page_url=self._page.url) from None
        self._known = state
        return state.fingerprint()

    async def form_errors(self) -> list[FormError]:
        self._readable("form errors")
        try:
            return await form_errors(self._page)
        except PlaywrightError as exc:
            raise classify(exc, what="form errors", page_url=self._page.url) from None

    async def screenshot(self) -> bytes:
        """Viewport JPEG with password fields painted over. Empty when screenshots are off."""
        if not self._screenshots:
            return b""
        try:
            if self._guard.navigation_held:
                # Only CDP's capture answers now, and it masks nothing: a page known to have no
                # password field is shot as it is; any other gets no picture (G7 first).
                known = self._known_state()
                no_passwords = known is not None and known.url == self._page.url and not known.passwords
                return await cdp_jpeg(self._cdp_session) if no_passwords else b""
            return await viewport_jpeg(self._page, self._cdp_session)
        except PlaywrightError as exc:
            raise classify(exc, what="screenshot", page_url=self._page.url) from None

    async def set_frozen(self, frozen: bool) -> None:
        """Freeze a parked page's timers and scripts (CDP page lifecycle, as for a background
        tab), so that waiting costs no CPU; thaw it before the run goes on."""
        cdp = await self._cdp_session()
        if frozen:
            self._closed_mark = len(self._sockets.closed)
        try:
            await cdp.send("Page.setWebLifecycleState", {"state": "frozen" if frozen else "active"})
        except PlaywrightError as exc:
            raise classify(exc, what="freeze" if frozen else "thaw", page_url=self._page.url) from None

    async def connection_lost(self) -> str | None:
        """See BrowserSession.connection_lost: a WebSocket to the site closed since the page was
        frozen, or one the page holds is not open (reconnecting, closing)."""
        self._readable("connection")
        closed = self._sockets.closed[self._closed_mark :] if self._closed_mark is not None else []
        if closed:
            return f"its WebSocket to the site closed while it waited ({closed[-1]})"
        try:
            state = await read_state(self._page, deadline=time.monotonic() + MIN_SETTLE_S)
        except PlaywrightError as exc:
            raise classify(exc, what="connection", page_url=self._page.url) from None
        down = [host for host, ready in state.connections if ready != 1 and self._sockets.own(host)]
        return f"its WebSocket to {down[0]} is not open" if down else None

    async def _cdp_session(self) -> CDPSession:
        if self._cdp is None:
            self._cdp = await self._context.new_cdp_session(self._page)
        return self._cdp

    async def dismiss_obstructions(self, extra: list[Target]) -> list[str]:
        self._recent = None
        self._filled = None
        # What the dismissing clicks trigger is not the step's doing.
        self._observer.freeze()
        try:
            with self._guard.dismissing():
                done = await obstructions.dismiss(self._page, extra)
                if done:
                    # What a dismissing click sends may leave a moment after the click returns
                    # (Node-RED saves "no update notifications" from its handler): the
                    # dismissal lasts until the page has started no request for a while.
                    await obstructions.quiet(self._page)
                return done
        except PlaywrightError as exc:
            raise classify(exc, what="dismiss obstructions", page_url=self._page.url) from None

    async def goto(self, url: str, *, timeout: float) -> None:
        await self._guard.recovered()
        self._recent = None
        self._filled = None
        self._known = None
        self._observer.freeze()
        ctx = ActionContext(self._page, self._base_url, time.monotonic() + timeout)
        try:
            await actions.goto(ctx, url)
        except PlaywrightError as exc:
            raise classify(exc, what=f"goto {url}", page_url=self._page.url) from None
        await self._sockets.opened(ctx.deadline)  # a page driven over a socket needs it open

    async def probe(self, url: str, *, visible: list[Target], timeout: float) -> ProbeResult:
        """See BrowserSession.probe and probing.py."""
        await self._guard.recovered()
        try:
            if not visible:
                with self._observer.unobserved(), contextlib.suppress(PlaywrightError, TimeoutError):
                    return await probing.by_fetch(self._page, url, timeout)
            return await probing.in_tab(self._context, url, visible, timeout)
        except PlaywrightError as exc:
            raise classify(exc, what=f"probe {url}", page_url=self._page.url) from None

    # ------------------------------------------------------------------ handoffs
    # None of these waits for a held request: the decider itself may call them (a preview).
    # While a navigation is held the page cannot be read at all (guard.py): they fail at once
    # rather than wait for a decision that may be waiting for them.

    async def inspect(self, target: Target, *, timeout: float) -> TargetInfo:
        await self._guard.recovered()
        self._readable(target.describe())
        try:
            return await targeting.inspect(self._page, target, deadline=time.monotonic() + timeout)
        except StepFailure as exc:
            raise await targeting.explain_missing(self._page, exc, target) from None

    async def candidates(self, target: Target, *, limit: int = 10) -> list[Candidate]:
        await self._guard.recovered()
        self._readable(target.describe())
        return await targeting.candidates(self._page, target, limit=limit)

    async def target_at(self, x: float, y: float) -> Candidate | None:
        await self._guard.recovered()
        self._readable(f"element at ({x:g}, {y:g})")
        return await targeting.target_at(self._page, x, y)

    async def highlight(self, boxes: list[Box], labels: list[str] | None = None) -> bytes:
        """Viewport JPEG with `boxes` outlined, password fields masked (also when screenshots
        are off: an operator asked to look needs the picture). Empty while a navigation is held:
        nothing can be drawn on the page then."""
        if self._guard.navigation_held:
            return b""
        try:
            return await highlight.highlight(self._page, self._cdp_session, boxes, labels)
        except PlaywrightError as exc:
            raise classify(exc, what="highlight", page_url=self._page.url) from None

    async def fill_fields(self, target: Target, values: dict[str, str], *, timeout: float) -> None:
        await self._guard.recovered()
        self._readable(target.describe())
        self._recent = None
        self._filled = None
        await forms.fill_fields(self._page, target, values, deadline=time.monotonic() + timeout)

    async def guard(self, decide: RequestDecider | None) -> None:
        try:
            await self._guard.configure(decide)
        except PlaywrightError as exc:
            raise classify(exc, what="network guard", page_url=self._page.url) from None

    async def send_input(self, event: InputEvent) -> dict[str, Any]:
        self._recent = None
        self._filled = None
        try:
            with self._page_input.console_input():  # recorded by the caller, not again as the page's
                return await self._input.send(event)
        except PlaywrightError as exc:
            raise classify(exc, what=f"operator {event.kind}", page_url=self._page.url) from None

    async def observe_input(self, report: InputReport | None) -> None:
        """See BrowserSession.observe_input and page_input.py."""
        try:
            if report is None:
                await self._page_input.stop()
            else:
                await self._page_input.start(report)
        except PlaywrightError as exc:
            raise classify(exc, what="observe the page's input", page_url=self._page.url) from None

    async def screencast(
        self,
        on_frame: FrameCallback,
        *,
        max_width: int = 1280,
        max_height: int = 800,
        quality: int = 60,
        every_nth_frame: int = 1,
    ) -> Screencast:
        """Live frames of the page for a live view; see BrowserSession.screencast."""
        if self._closed:
            raise StepFailure(FailureClass.TRANSIENT, "screencast: the session is closed")
        cast = Screencast(self._context, self._page, on_frame, on_stop=self._screencasts.discard)
        self._screencasts.add(cast)
        try:
            await cast.start(max_width, max_height, quality, every_nth_frame)
        except PlaywrightError as exc:
            await cast.stop()
            raise classify(exc, what="screencast", page_url=self._page.url) from None
        except BaseException:
            await cast.stop()
            raise
        if self._closed:  # closed while it started: close() did not see it
            await cast.stop()
        return cast

    async def set_scope(self, scope: SiteScope) -> None:
        """Whose requests are judged, and which hosts may be reached at all; see guard.py."""
        try:
            await self._guard.set_scope(scope)
        except PlaywrightError as exc:
            raise classify(exc, what="domain allowlist", page_url=self._page.url) from None

    def _raise_if_blocked(self, mark: int) -> None:
        """The page itself was going to a host outside the allowlist (a link, a form posted
        there): the step fails for good (the same action would go there again). What else the
        allowlist refused during the action is recorded and decides nothing."""
        leaving = [b for b in self._guard.blocked[mark:] if b.leaves_site]
        if not leaving:
            return
        first = leaving[0]
        raise StepFailure(
            FailureClass.PERMANENT,
            f"blocked {first.method} {first.url}: {first.host} is not an allowed domain of "
            "this task (policy.allow_domains)",
            {"blocked_domains": [first.host], "blocked": [first.url], "dispatched": False},
        )

    def _record_refused(self, window: ActionWindow, mark: int) -> None:
        """Refused requests the browser never reported (a WebSocket refused before it
        connected) are evidence too."""
        seen = {(r.method, r.url) for r in window.requests}
        for b in self._guard.blocked[mark:]:
            if (b.method, b.url) not in seen:
                record = RequestRecord(b.method, b.url, None, b.resource_type, failure="refused")
                record.third_party = self._parties.scope.third_party(b.url)
                record.refused = f"{b.host} is not an allowed domain of this task"
                window.requests.append(record)
                seen.add((b.method, b.url))

    def _readable(self, what: str) -> None:
        if self._guard.navigation_held:
            raise StepFailure(
                FailureClass.TRANSIENT,
                f"{what}: the page cannot be read while its navigation waits for a decision",
                {"navigation_held": True},
            )

    def _known_state(self) -> PageState | None:
        return self._known

    def _unobserved(self, page: Page) -> contextlib.AbstractContextManager[object]:
        return self._observer.unobserved() if page == self._page else contextlib.nullcontext()

    async def storage_state(self) -> dict[str, Any]:
        """Cookies and local storage, for saving a session profile."""
        try:
            return dict(await self._context.storage_state())
        except PlaywrightError as exc:
            raise classify(exc, what="storage state", page_url=self._page.url) from None

    async def load_state(self, state: dict[str, Any]) -> None:
        """A session profile's saved state, into this fresh context: the cookies at once, each
        origin's local storage as its first document loads (what Playwright's `storage_state`
        option of a new context does; this works whichever provider opened the context)."""
        try:
            cookies = list(state.get("cookies") or [])
            if cookies:
                await self._context.add_cookies(cookies)
            origins = {
                str(o["origin"]): {str(i["name"]): str(i["value"]) for i in o.get("localStorage") or []}
                for o in state.get("origins") or []
                if o.get("origin") and o.get("localStorage")
            }
            if origins:
                await self._context.add_init_script(_LOCAL_STORAGE_JS % json.dumps(origins))
        except PlaywrightError as exc:
            raise classify(exc, what="load session profile", page_url=self._page.url) from None

    async def start_trace(self) -> None:
        """Record a Playwright trace of this context from now on (DOM snapshots, screenshots,
        network), until `stop_trace`."""
        await self._context.tracing.start(screenshots=True, snapshots=True, sources=False)

    async def stop_trace(self) -> bytes:
        """Stop tracing and return the trace zip (what `playwright show-trace` opens). The
        bytes are raw: the caller redacts them before they are written anywhere (G7)."""
        with tempfile.TemporaryDirectory(prefix="flightdeck-trace-") as tmp:
            path = Path(tmp) / "trace.zip"
            await self._context.tracing.stop(path=str(path))
            return path.read_bytes()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._observer.freeze()
        with contextlib.suppress(PlaywrightError):
            await self._page_input.stop()
        # Live views first: their acks must not be in flight when the context goes (PLATFORM.md).
        for cast in list(self._screencasts):
            await cast.stop()
        if self._cdp is not None:
            # Detach first: replies still in flight after the context closes raise (PLATFORM.md).
            with contextlib.suppress(PlaywrightError):
                await self._cdp.detach()
        with contextlib.suppress(PlaywrightError):  # the browser may already be gone
            await self._context.close()

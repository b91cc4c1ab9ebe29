"""Evaluating an Expectation against the live page, polling until every condition holds.

Each probe reads the page once without waiting (count(), evaluate), so a passing check costs a
few round trips and a failing one reports what was actually there at the deadline.

Several matches: `visible` and `text` hold when any match satisfies them; `hidden` when none is
visible; `value`, `checked`, `unchecked` need every match to satisfy them (and at least one).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from app.browser.actions import absolute_url
from app.browser.classify import headline
from app.browser.fingerprint import is_navigation_race
from app.browser.locators import build_locator
from app.browser.nearby import closest_passage, pattern_words, squash
from app.browser.network import ActionWindow, PageObserver
from app.browser.targeting import near_miss_json, near_misses
from app.domain.errors import StepFailure
from app.domain.task import (
    AfterReload,
    CountCheck,
    Expectation,
    RequestCheck,
    Target,
    TextCheck,
    ValueCheck,
    match_pattern,
    request_url_matches,
)
from app.engine.ports import CheckResult, RequestRecord

POLL_S = 0.1
DETAIL_CHARS = 200
# The reload of `after_reload` gets at least this long even when the conditions before it used
# up most of the timeout, and the conditions after it at least MIN_AFTER_RELOAD_S to hold.
MIN_RELOAD_S = 3.0
MIN_AFTER_RELOAD_S = 1.0
# A reloaded page proves something is gone (`hidden`) only once it has shown what it shows: its
# content unchanged and no new request for this long. A single-page app renders its content
# from requests it makes after its own scripts have loaded and set up (Node-RED: locales, then
# settings, then the flows); in between, every `hidden` holds of the empty shell.
STEADY_S = 1.0

Probe = Callable[[], Awaitable[tuple[bool, str]]]


# The detail of a value check on a password field (or one a credential was typed into); its
# name then hides the expected value too.
SECRET_DETAIL = "password field (value not shown)"
NO_MATCH = "no element matches"


@dataclass
class Condition:
    name: str
    probe: Probe
    masked_name: str | None = None  # the name to record when the field turns out to be secret
    target: Target | None = None  # what it reads: a target matching nothing gets its near misses

    def result(self, prefix: str, ok: bool, detail: str) -> CheckResult:
        name = self.name
        if detail == SECRET_DETAIL and self.masked_name is not None:
            name = self.masked_name
        return CheckResult(prefix + name, ok, detail)


def _short(text: str, limit: int = DETAIL_CHARS) -> str:
    text = squash(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a value that came back through evaluate()."""
    if isinstance(value, (list, dict)):
        return True  # [] and {} are truthy in JavaScript
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def _describe_request(r: RequestRecord) -> str:
    status = r.failure or ("pending" if r.status is None else str(r.status))
    return f"{r.method} {r.url} → {status}"


# A typed credential is as secret as a password: its value is never reported (G7).
_STATE_OF_ALL = """(els) => els.map((e) => [
  (e.type || '').toLowerCase() === 'password'
    || !!(window.__flightdeck && window.__flightdeck.secrets && window.__flightdeck.secrets.has(e)),
  // A rich editor (contenteditable: CodeMirror, ProseMirror…) has no value: its text is its value.
  e.value !== undefined ? String(e.value)
    : (e.isContentEditable ? e.innerText.replace(/\\n+$/, '') : null),
  (e.type === 'checkbox' || e.type === 'radio') ? e.checked
    : e.getAttribute('aria-checked') === 'true',
])"""


FieldStates = list[tuple[bool, str | None, bool]]  # per element: secret?, value, checked


def text_found(texts: list[str], expected: str) -> str:
    """What a failed text check found instead: a short text whole; of a long one (a page), the
    passage closest to `expected` with what surrounds it, not its first lines (a header)."""
    if len(texts) == 1:
        width = min(max(DETAIL_CHARS, len(expected) + 120), 2 * DETAIL_CHARS)
        passage, found = closest_passage(texts[0], expected, width)
        if found and passage != squash(texts[0]):
            return f'closest passage: "{passage}"'
        return f'text is "{passage}"'
    # Several matches: the ones most like it first, a piece of each.
    pieces = [closest_passage(t, expected, 80) for t in texts]
    order = sorted(range(len(pieces)), key=lambda i: not pieces[i][1])[:3]
    more = f" (+{len(texts) - 3} more)" if len(texts) > 3 else ""
    return 'text is "' + " | ".join(pieces[i][0] for i in order) + f'"{more}'


class ExpectationChecker:
    def __init__(
        self,
        page: Page,
        base_url: str | None,
        observer: PageObserver,
        opened: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        self._page = page
        self._base_url = base_url
        self._observer = observer
        # Waits for a reloaded page's WebSockets to the site to open (sockets.py): until they
        # have, a page that renders over one shows nothing, and "hidden" would hold by default.
        self._opened = opened
        # States of a target read just before `check` (with the action's last page read, in
        # the same moment): the first probe of that target uses them instead of a round trip.
        self._first: tuple[Target, FieldStates] | None = None

    async def check(
        self,
        expect: Expectation,
        requests: list[RequestRecord] | None,
        *,
        deadline: float,
        prefix: str = "",
        read_just_now: tuple[Target, FieldStates] | None = None,
    ) -> list[CheckResult]:
        conditions = self.conditions(expect, requests)
        self._first = read_just_now
        try:
            results = await self._poll(conditions, deadline, prefix)
        finally:
            self._first = None  # never past the first round, never after a reload
        reload = expect.after_reload
        if reload is None:
            return results
        if not all(r.ok for r in results):
            skipped = self.conditions(reload, [])
            return results + [
                CheckResult(
                    f"{prefix}after_reload: {c.name}",
                    False,
                    "not checked: conditions before the reload failed",
                )
                for c in skipped
            ]
        return results + await self._after_reload(reload, deadline, prefix)

    async def _poll(self, conditions: list[Condition], deadline: float, prefix: str) -> list[CheckResult]:
        while True:
            results = [c.result(prefix, *await self._run(c.probe)) for c in conditions]
            if all(r.ok for r in results):
                return results
            if time.monotonic() >= deadline:
                return [await self._explained(c, r) for c, r in zip(conditions, results, strict=True)]
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    async def _explained(self, condition: Condition, result: CheckResult) -> CheckResult:
        """A failed condition whose target matched nothing, with the elements it may have meant
        (read once, at the end: polling pays nothing for it)."""
        if result.ok or condition.target is None or result.detail != NO_MATCH:
            return result
        try:
            found = await near_misses(self._page, condition.target)
        except PlaywrightError:
            return result
        if not found:
            return result
        closest = ", ".join(near_miss_json(c, score)["description"] for c, score in found)
        return CheckResult(result.name, False, f"{NO_MATCH}; closest: {closest}")

    @staticmethod
    async def _run(probe: Probe) -> tuple[bool, str]:
        try:
            return await probe()
        except PlaywrightError as exc:
            if is_navigation_race(exc):
                return False, "the page was navigating"
            return False, f"error: {headline(exc)}"

    async def _after_reload(self, spec: AfterReload, deadline: float, prefix: str) -> list[CheckResult]:
        reload_by = max(deadline, time.monotonic() + MIN_RELOAD_S)
        timeout = (reload_by - time.monotonic()) * 1000
        window = self._observer.begin()
        problem = None
        try:
            if spec.goto:
                response = await self._page.goto(absolute_url(spec.goto, self._base_url), timeout=timeout)
            elif self._observer.document_method != "GET":
                # A page a POST answered (a form shown again, a 200 "saved"): reloading would
                # send the write again. Read the same address again instead.
                response = await self._page.goto(self._page.url, timeout=timeout)
            else:
                response = await self._page.reload(timeout=timeout)
            await self._observer.settle(window, deadline=reload_by)
            if self._opened is not None:
                await self._opened(reload_by)
            if response is not None and response.status >= 400:
                problem = f"the reload answered {response.status}"
        except (PlaywrightError, StepFailure) as exc:
            problem = f"the reload failed: {headline(exc)}"
        inner = prefix + "after_reload: "
        if problem is not None:
            return [CheckResult(inner + c.name, False, problem) for c in self.conditions(spec, [])]
        deadline = max(deadline, time.monotonic() + MIN_AFTER_RELOAD_S)
        results = await self.check(spec, window.requests, deadline=deadline, prefix=inner)
        if spec.hidden and all(r.ok for r in results):
            results = await self._steady(spec, window, results, reload_by, inner)
        return results

    async def _steady(
        self,
        spec: AfterReload,
        window: ActionWindow,
        results: list[CheckResult],
        deadline: float,
        prefix: str,
    ) -> list[CheckResult]:
        """Checks that held of a reloaded page, read again until the page has stood still for
        STEADY_S (see there): what a `hidden` says of a page still filling itself in is nothing.
        Past the deadline the last reading stands."""
        deadline = max(deadline, time.monotonic() + 4 * STEADY_S)
        seen = (self._own_requests(window), await self._content())
        while time.monotonic() < deadline:
            await asyncio.sleep(STEADY_S)
            now = (self._own_requests(window), await self._content())
            results = await self.check(spec, window.requests, deadline=time.monotonic(), prefix=prefix)
            if now == seen or not all(r.ok for r in results):
                return results
            seen = now
        return results

    @staticmethod
    def _own_requests(window: ActionWindow) -> int:
        """Requests that fill the page in: a heartbeat or a tracker's beacon never stops."""
        return sum(1 for r in window.requests if r.judged)

    async def _content(self) -> str:
        try:
            return str(await self._page.evaluate("() => document.body ? document.body.innerText : ''"))
        except PlaywrightError:
            return ""  # navigating: the next reading tells

    # ------------------------------------------------------------------ conditions
    def conditions(self, expect: Expectation, requests: list[RequestRecord] | None) -> list[Condition]:
        out: list[Condition] = []
        if expect.url is not None:
            out.append(Condition(f"url {expect.url}", self._url(expect.url)))
        if expect.title is not None:
            out.append(Condition(f"title {expect.title}", self._title(expect.title)))
        out += [Condition(f"visible {t.describe()}", self._visible(t), target=t) for t in expect.visible]
        out += [Condition(f"hidden {t.describe()}", self._hidden(t)) for t in expect.hidden]
        for tc in expect.text:
            out.append(Condition(self._text_name(tc), self._text(tc), target=tc.target))
        for vc in expect.value:
            described = vc.target.describe()
            out.append(
                Condition(
                    f'value of {described} = "{vc.equals}"',
                    self._value(vc),
                    masked_name=f'value of {described} = "••••••"',  # G7: a password's value
                    target=vc.target,
                )
            )
        for want, targets in ((True, expect.checked), (False, expect.unchecked)):
            state = "checked" if want else "unchecked"
            out += [Condition(f"{state} {t.describe()}", self._checked(t, want), target=t) for t in targets]
        for cc in expect.count:
            out.append(Condition(self._count_name(cc), self._count(cc)))
        for rc in expect.request:
            name = f"request {rc.method or 'ANY'} {rc.url} {rc.status.describe()}"
            out.append(Condition(name, self._request(rc, requests)))
        for js in expect.js:
            out.append(Condition(f"js {_short(js, 80)}", self._js(js)))
        return out

    def _url(self, pattern: str) -> Probe:
        async def probe() -> tuple[bool, str]:
            url = self._page.url
            return match_pattern(pattern, url, self._base_url), f"url is {url}"

        return probe

    def _title(self, pattern: str) -> Probe:
        async def probe() -> tuple[bool, str]:
            title = await self._page.title()
            return match_pattern(pattern, title, self._base_url), f'title is "{_short(title)}"'

        return probe

    def _visible(self, target: Target) -> Probe:
        async def probe() -> tuple[bool, str]:
            locator = build_locator(self._page, target)
            shown = await locator.visible.count()
            if shown:
                return True, f"{shown} visible"
            total = await locator.count()
            return False, (f"{total} match(es), none visible" if total else NO_MATCH)

        return probe

    def _hidden(self, target: Target) -> Probe:
        async def probe() -> tuple[bool, str]:
            shown = await build_locator(self._page, target).visible.count()
            return shown == 0, ("not visible" if shown == 0 else f"{shown} still visible")

        return probe

    @staticmethod
    def _text_name(tc: TextCheck) -> str:
        mode, needle = next(
            (k, v) for k in ("contains", "equals", "matches") if (v := getattr(tc, k)) is not None
        )
        where = f" in {tc.target.describe()}" if tc.target is not None else ""
        return f'text {mode} "{_short(needle, 80)}"{where}'

    def _text(self, tc: TextCheck) -> Probe:
        def holds(text: str) -> bool:
            if tc.contains is not None:
                return squash(tc.contains) in squash(text)
            if tc.equals is not None:
                return squash(tc.equals) == squash(text)
            pattern = re.compile(tc.matches or "")
            return bool(pattern.search(text) or pattern.search(squash(text)))

        async def probe() -> tuple[bool, str]:
            if tc.target is None:
                texts = [await self._page.evaluate("() => document.body ? document.body.innerText : ''")]
            else:
                texts = await build_locator(self._page, tc.target).all_inner_texts()
                if not texts:
                    return False, NO_MATCH
            if any(holds(t) for t in texts):
                return True, f'text is "{_short(next(t for t in texts if holds(t)))}"'
            expected = tc.contains or tc.equals or pattern_words(tc.matches or "")
            return False, text_found(texts, expected)

        return probe

    async def _states(self, target: Target) -> FieldStates:
        first, self._first = self._first, None
        if first is not None and first[0] == target:
            return first[1]
        return await self.read_states(target)

    async def read_states(self, target: Target) -> FieldStates:
        rows = await build_locator(self._page, target).evaluate_all(_STATE_OF_ALL)
        return [(bool(p), v, bool(c)) for p, v, c in rows]

    def _value(self, vc: ValueCheck) -> Probe:
        async def probe() -> tuple[bool, str]:
            states = await self._states(vc.target)
            if not states:
                return False, NO_MATCH
            ok = all(v == vc.equals for _, v, _ in states)
            if any(is_password for is_password, _, _ in states):
                return ok, SECRET_DETAIL  # G7
            values = ", ".join(f'"{_short(v or "", 80)}"' for _, v, _ in states[:3])
            return ok, f"value is {values}"

        return probe

    def _checked(self, target: Target, want: bool) -> Probe:
        async def probe() -> tuple[bool, str]:
            states = await self._states(target)
            if not states:
                return False, NO_MATCH
            n_checked = sum(1 for _, _, c in states if c)
            ok = all(c == want for _, _, c in states)
            if len(states) == 1:
                return ok, "checked" if n_checked else "not checked"
            return ok, f"{n_checked} of {len(states)} checked"

        return probe

    @staticmethod
    def _count_name(cc: CountCheck) -> str:
        bounds = []
        if cc.equals is not None:
            bounds.append(f"== {cc.equals}")
        if cc.min is not None:
            bounds.append(f">= {cc.min}")
        if cc.max is not None:
            bounds.append(f"<= {cc.max}")
        return f"count {cc.target.describe()} {' and '.join(bounds)}"

    def _count(self, cc: CountCheck) -> Probe:
        async def probe() -> tuple[bool, str]:
            n = await build_locator(self._page, cc.target).count()
            ok = (
                (cc.equals is None or n == cc.equals)
                and (cc.min is None or n >= cc.min)
                and (cc.max is None or n <= cc.max)
            )
            return ok, f"count is {n}"

        return probe

    def _request(self, rc: RequestCheck, requests: list[RequestRecord] | None) -> Probe:
        async def probe() -> tuple[bool, str]:
            if requests is None:
                return False, "no action ran, so no requests were recorded"
            same = [
                r
                for r in requests
                if (rc.method is None or r.method.upper() == rc.method)
                and request_url_matches(rc.url, r.url, self._base_url)
            ]
            hit = next((r for r in same if r.status in rc.status), None)
            if hit is not None:
                return True, f"saw {_describe_request(hit)}"
            if same:
                return False, "saw " + "; ".join(_describe_request(r) for r in same[-5:])
            others = [r for r in requests if r.resource_type in ("fetch", "xhr", "document")]
            seen = "; ".join(_describe_request(r) for r in (others or requests)[-5:])
            return False, f"no matching request; saw {seen}" if seen else "no requests at all"

        return probe

    def _js(self, source: str) -> Probe:
        async def probe() -> tuple[bool, str]:
            value = await self._page.evaluate(source)
            return js_truthy(value), f"returned {_short(repr(value), 120)}"

        return probe

"""An in-process implementation of the engine's browser port (app/engine/ports.py), scripted per
test: which pages a site has, what each shows (rendered from the site's state, so a reload
shows what the server stored), and what each click answers, one reply per attempt ("clicking
Save answers 500 — and stored it — then 303"). No Chromium: a whole run takes milliseconds,
so the engine's *decisions* (retry, ask, stop, re-read, settle, void) can be tested fast.

It stands beside the real-Chromium tests (tests/integration/engine), never instead of them:
what a real page does is proven there; here, what the engine decides given what it observed.

    site = ScriptedSite()
    site.state["items"] = []
    site.page("/items", lambda st: {
        label("Title"): textbox(),
        button("Save"): Element(form_action="/items", form_method="POST"),
        **{by_test_id("item"): Element(text=t) for t in st["items"][-1:]},
    })
    site.on_click(button("Save"), lambda st, sess: st["items"].append(sess.value(label("Title"))),
                  Reply(500, applied=True), Reply(303))
    engine = Engine(db, ScriptedBrowser(site), artifacts)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Action, Expectation, Step, Target
from app.domain.task.domains import SiteScope
from app.domain.task.expectations import match_pattern, request_url_matches
from app.engine.ports import (
    ActionOutcome,
    Box,
    Candidate,
    CheckResult,
    FieldValue,
    Fingerprint,
    FormError,
    FrameCallback,
    HeldRequest,
    InputEvent,
    InputReport,
    ProbeResult,
    RequestDecider,
    RequestRecord,
    TargetInfo,
)

BASE_URL = "http://scripted.test"
# A JPEG's magic bytes: what screenshots and previews are judged by elsewhere.
JPEG = b"\xff\xd8\xff\xe0scripted"


def key(target: Target | dict[str, Any]) -> str:
    """How a page names an element: the target's description, without `nth`/`exact` (a
    scripted page has one element per key)."""
    t = target if isinstance(target, Target) else Target.model_validate(target)
    return t.model_copy(update={"nth": None, "exact": False}).describe()


def button(name: str) -> str:
    return key({"role": "button", "name": name})


def label(text: str) -> str:
    return key({"label": text})


def by_test_id(value: str) -> str:
    return key({"test_id": value})


@dataclass
class Element:
    """One element of a scripted page."""

    text: str = ""
    value: str = ""
    visible: bool = True
    checked: bool = False
    count: int = 1  # how many elements the target matches (count checks)
    tag: str = "button"
    role: str = "button"
    form_method: str | None = None
    form_action: str | None = None  # a path or an absolute URL
    identity: str | None = None  # what binds an approval to it (G4); derived when None


def textbox(value: str = "") -> Element:
    """A text field (its value is what a fill types; a form's fields are read from these)."""
    return Element(tag="input", role="textbox", value=value)


Render = Callable[[dict[str, Any]], dict[str, Element]]
# What a click does to the server's state when the server applies it: (state, session).
Effect = Callable[[dict[str, Any], "ScriptedSession"], None]


@dataclass
class Reply:
    """What one attempt of a scripted action meets.

    `status`: the answer to the write it sends (None with `failure`: no answer; None without:
    nothing is sent at all, e.g. a button that does nothing). `applied`: the server stored it
    (default: status < 400). `raises`: the action fails in the browser before anything is sent
    (a missing target, a timeout). `document`: a form post (the page is replaced by the answer)
    rather than a fetch (the page stays). `goes_to`: where a successful answer leaves the page
    (default: the page it was on, reloaded).
    """

    status: int | None = 200
    applied: bool | None = None
    method: str = "POST"
    path: str | None = None  # default: the page's own path
    failure: str | None = None
    raises: FailureClass | None = None
    message: str = ""
    document: bool = True
    goes_to: str | None = None
    retry_after: float | None = None

    @property
    def sends(self) -> bool:
        return self.raises is None and (self.status is not None or self.failure is not None)

    def applies(self) -> bool:
        if not self.sends:
            return False
        if self.applied is not None:
            return self.applied
        return self.status is not None and self.status < 400


NOTHING = Reply(status=None)  # the click goes nowhere: no request, the page as it was


@dataclass
class _Script:
    effect: Effect | None
    replies: list[Reply]
    used: int = 0

    def next(self) -> Reply:
        reply = self.replies[min(self.used, len(self.replies) - 1)]
        self.used += 1
        return reply


class ScriptedSite:
    """The server side of a scripted test: its state, its pages and its scripted actions, and
    what it received (the truth the run's record is judged against, like the hostile site's)."""

    def __init__(self, base_url: str = BASE_URL) -> None:
        self.base_url = base_url
        self.state: dict[str, Any] = {}
        self.pages: dict[str, Render] = {}
        self.scripts: dict[tuple[str, str], _Script] = {}
        self.received: list[tuple[str, str, int | None]] = []  # (method, path, status) answered
        self.sessions: list[ScriptedSession] = []
        # Called as each action starts, before anything happens on the page: a test's hook
        # into "the moment the run does X" (pause it there, change the world under it).
        self.before_act: Callable[[Step], None] | None = None

    def page(self, path: str, render: Render) -> None:
        self.pages[path] = render

    def on_click(self, target: str, effect: Effect | None, *replies: Reply) -> None:
        """Each attempt of clicking `target` meets the next reply (the last one repeats)."""
        self.scripts[(Action.CLICK.value, target)] = _Script(effect, list(replies) or [Reply()])

    def posts(self, path: str | None = None) -> int:
        """Writes that reached the server (answered, whatever the answer)."""
        return sum(1 for m, p, s in self.received if m != "GET" and (path is None or p == path))

    def url(self, path: str) -> str:
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def path(self, url: str) -> str:
        return urlsplit(url).path or "/"

    def render(self, url: str) -> dict[str, Element] | None:
        render = self.pages.get(self.path(url))
        return None if render is None else {k: replace(e) for k, e in render(self.state).items()}


@dataclass
class _Screencast:
    active: bool = False

    async def resize(
        self,
        max_width: int,
        max_height: int,
        *,
        quality: int | None = None,
        every_nth_frame: int | None = None,
    ) -> None:
        return None

    async def stop(self) -> None:
        self.active = False


@dataclass
class ScriptedSession:
    """One run's page (BrowserSession): what the site rendered at its URL, plus what was typed."""

    site: ScriptedSite
    _url: str = "about:blank"
    elements: dict[str, Element] = field(default_factory=dict)
    error_page: int | None = None  # a document answered with this status replaced the page
    decide: RequestDecider | None = None
    closed: bool = False
    acted: list[str] = field(default_factory=list)  # step summaries, in order

    # ------------------------------------------------------------------ the page
    @property
    def url(self) -> str:
        return self._url

    def value(self, target: str) -> str:
        element = self.elements.get(target)
        return element.value if element is not None else ""

    def _load(self, url: str) -> int:
        absolute = self.site.url(url) if url.startswith("/") else url
        elements = self.site.render(absolute)
        self._url = absolute
        self.error_page = None if elements is not None else 404
        self.elements = elements or {}
        self.site.received.append(("GET", self.site.path(absolute), 200 if elements is not None else 404))
        return 200 if elements is not None else 404

    def _fingerprint(self) -> Fingerprint:
        body = json.dumps(
            [self.error_page, sorted((k, vars(e)) for k, e in self.elements.items())],
            sort_keys=True,
            default=str,
        )
        return Fingerprint(self._url, hashlib.sha256(body.encode()).hexdigest())

    def _element(self, target: Target | None, step: str) -> tuple[str, Element]:
        if target is None:
            raise StepFailure(FailureClass.PERMANENT, f"{step}: no target")
        name = key(target)
        element = self.elements.get(name)
        if element is None or not element.visible:
            raise StepFailure(FailureClass.MISSING_TARGET, f"{step}: {name} not found on {self._url}")
        return name, element

    def _info(self, name: str, element: Element) -> TargetInfo:
        identity = element.identity or hashlib.sha256(f"{name}|{element.text}".encode()).hexdigest()[:16]
        action = element.form_action
        return TargetInfo(
            description=name,
            tag=element.tag,
            role=element.role,
            text=element.text or name,
            box=(10.0, 10.0, 80.0, 20.0),
            form_method=element.form_method,
            form_action=self.site.url(action) if action and action.startswith("/") else action,
            fields=[
                FieldValue(name=k, label=k, kind="text", value=e.value)
                for k, e in self.elements.items()
                if e.tag == "input"
            ],
            identity=identity,
        )

    # ------------------------------------------------------------------ acting
    async def act(self, step: Step, *, timeout: float) -> ActionOutcome:
        self.acted.append(step.summary())
        if self.site.before_act is not None:
            self.site.before_act(step)
        before = self._fingerprint()
        requests: list[RequestRecord] = []
        main_status: int | None = None
        value: Any = None
        args = step.args
        if step.action is Action.GOTO:
            url = getattr(args, "url", "/")
            main_status = self._load(url)
            requests.append(RequestRecord("GET", self._url, main_status, resource_type="document"))
            if main_status >= 400:
                raise StepFailure(FailureClass.PERMANENT, f"{url} answered {main_status}")
        elif step.action is Action.FILL:
            _, element = self._element(step.target, step.summary())
            element.value = str(getattr(args, "value", "") or "")
        elif step.action in (Action.CHECK, Action.UNCHECK):
            _, element = self._element(step.target, step.summary())
            element.checked = step.action is Action.CHECK
        elif step.action in (Action.CLICK, Action.PRESS):
            name, _ = self._element(step.target, step.summary())
            script = self.site.scripts.get((step.action.value, name))
            if script is not None:
                main_status = await self._reply(script, requests)
        elif step.action in (Action.ASSERT, Action.WAIT_FOR, Action.HOVER):
            if step.target is not None:
                self._element(step.target, step.summary())
        elif step.action is Action.EXTRACT:
            _, element = self._element(step.target, step.summary())
            value = element.text
        else:
            raise StepFailure(FailureClass.PERMANENT, f"{step.action} is not scripted")
        return ActionOutcome(
            before=before,
            after=self._fingerprint(),
            requests=requests,
            main_status=main_status,
            value=value,
            duration_ms=1.0,
        )

    async def _reply(self, script: _Script, requests: list[RequestRecord]) -> int | None:
        reply = script.next()
        if reply.raises is not None:
            raise StepFailure(reply.raises, reply.message or f"scripted {reply.raises}")
        if not reply.sends:
            return None
        path = reply.path or self.site.path(self._url)
        url = self.site.url(path)
        kind = "document" if reply.document else "fetch"
        if self.decide is not None and not await self.decide(HeldRequest(reply.method, url, kind)):
            requests.append(RequestRecord(reply.method, url, None, kind, failure="net::ERR_ABORTED"))
            return None
        if reply.applies() and script.effect is not None:
            script.effect(self.site.state, self)
        if reply.status is None:  # sent, never answered (or never reached: by its failure text)
            requests.append(RequestRecord(reply.method, url, None, kind, failure=reply.failure))
            if "REFUSED" not in (reply.failure or "") and "NOT_RESOLVED" not in (reply.failure or ""):
                self.site.received.append((reply.method, path, None))
            return None
        self.site.received.append((reply.method, path, reply.status))
        requests.append(RequestRecord(reply.method, url, reply.status, kind, retry_after=reply.retry_after))
        if reply.status >= 400:
            if reply.document:  # the answer's error page replaces the form
                self.elements, self.error_page = {}, reply.status
                return reply.status
            return None
        if not reply.document:  # the page updates in place; what was typed stays
            typed = {k: e.value for k, e in self.elements.items() if e.tag == "input"}
            self.elements = self.site.render(self._url) or {}
            for name, value in typed.items():
                if name in self.elements:
                    self.elements[name].value = value
            return None
        status = self._load(reply.goes_to or self.site.path(self._url))
        requests.append(RequestRecord("GET", self._url, status, "document"))
        return reply.status

    # ------------------------------------------------------------------ checking
    async def check(
        self, expect: Expectation, outcome: ActionOutcome | None, *, timeout: float
    ) -> list[CheckResult]:
        results: list[CheckResult] = []
        base = self.site.base_url
        if expect.url is not None:
            ok = match_pattern(expect.url, self._url, base)
            results.append(CheckResult(f"url {expect.url}", ok, self._url))
        for target in expect.visible:
            element = self.elements.get(key(target))
            results.append(CheckResult(f"visible {key(target)}", bool(element and element.visible)))
        for target in expect.hidden:
            element = self.elements.get(key(target))
            results.append(CheckResult(f"hidden {key(target)}", not (element and element.visible)))
        for text in expect.text:
            if text.target is not None:
                element = self.elements.get(key(text.target))
                found = element.text if element is not None else None
            else:
                found = " ".join(e.text for e in self.elements.values() if e.visible)
            ok = found is not None and (
                (text.equals is not None and found == text.equals)
                or (text.contains is not None and text.contains in found)
            )
            results.append(CheckResult(f"text {text.model_dump(exclude_none=True)}", ok, str(found)))
        for check in expect.value:
            element = self.elements.get(key(check.target))
            found = element.value if element is not None else None
            results.append(CheckResult(f"value {key(check.target)}", found == check.equals, str(found)))
        for target, want in [(t, True) for t in expect.checked] + [(t, False) for t in expect.unchecked]:
            element = self.elements.get(key(target))
            ok = element is not None and element.checked is want
            results.append(CheckResult(f"{'checked' if want else 'unchecked'} {key(target)}", ok))
        for count in expect.count:
            element = self.elements.get(key(count.target))
            n = element.count if element is not None else 0
            ok = (
                (count.equals is None or n == count.equals)
                and (count.min is None or n >= count.min)
                and (count.max is None or n <= count.max)
            )
            results.append(CheckResult(f"count {key(count.target)}", ok, str(n)))
        for request in expect.request:
            seen = outcome.requests if outcome is not None else []
            ok = any(
                (request.method is None or r.method == request.method)
                and request_url_matches(request.url, r.url, base)
                and r.status in request.status
                for r in seen
            )
            results.append(CheckResult(f"request {request.method} {request.url}", ok))
        for script in expect.js:
            results.append(CheckResult(f"js {script}", False, "a scripted page runs no JavaScript"))
        if expect.after_reload is not None:
            self._load(expect.after_reload.goto or self._url)
            results.extend(await self.check(expect.after_reload, None, timeout=timeout))
        return results

    # ------------------------------------------------------------------ reading the page
    async def fingerprint(self) -> Fingerprint:
        return self._fingerprint()

    async def form_errors(self) -> list[FormError]:
        return []

    async def screenshot(self) -> bytes:
        return JPEG + self._fingerprint().content_hash[:8].encode()

    async def dismiss_obstructions(self, extra: list[Target]) -> list[str]:
        return []

    async def goto(self, url: str, *, timeout: float) -> None:
        status = self._load(url)
        if status >= 400:
            raise StepFailure(FailureClass.PERMANENT, f"{url} answered {status}", {"status": status})

    async def probe(self, url: str, *, visible: list[Target], timeout: float) -> ProbeResult:
        elements = self.site.render(url) or {}
        return ProbeResult(url, 200, [key(t) for t in visible if key(t) in elements])

    async def inspect(self, target: Target, *, timeout: float) -> TargetInfo:
        name, element = self._element(target, f"inspect {key(target)}")
        return self._info(name, element)

    async def candidates(self, target: Target, *, limit: int = 10) -> list[Candidate]:
        name = key(target)
        element = self.elements.get(name)
        return [] if element is None else [Candidate(0, self._info(name, element), target)]

    async def target_at(self, x: float, y: float) -> Candidate | None:
        return None

    async def highlight(self, boxes: list[Box], labels: list[str] | None = None) -> bytes:
        return await self.screenshot()

    async def fill_fields(self, target: Target, values: dict[str, str], *, timeout: float) -> None:
        for name, value in values.items():
            if name in self.elements:
                self.elements[name].value = value

    # ------------------------------------------------------------------ the rest of the port
    async def guard(self, decide: RequestDecider | None) -> None:
        self.decide = decide

    async def send_input(self, event: InputEvent) -> dict[str, Any]:
        return {"kind": event.kind, "x": event.x, "y": event.y}

    async def observe_input(self, report: InputReport | None) -> None:
        return None

    async def set_frozen(self, frozen: bool) -> None:
        return None

    async def connection_lost(self) -> str | None:
        return None

    async def screencast(
        self,
        on_frame: FrameCallback,
        *,
        max_width: int = 1280,
        max_height: int = 800,
        quality: int = 60,
        every_nth_frame: int = 1,
    ) -> _Screencast:
        return _Screencast()

    async def set_scope(self, scope: SiteScope) -> None:
        return None

    async def storage_state(self) -> dict[str, Any]:
        return {"cookies": [], "origins": []}

    async def load_state(self, state: dict[str, Any]) -> None:
        return None

    async def close(self) -> None:
        self.closed = True


class ScriptedBrowser:
    """The BrowserProvider: every session it opens is a fresh page of the same scripted site
    (as a new browser after a restart is: nothing typed survives, what the server stored does)."""

    def __init__(self, site: ScriptedSite) -> None:
        self.site = site

    async def open_session(self, *, base_url: str | None, timeout: float) -> ScriptedSession:
        session = ScriptedSession(self.site)
        self.site.sessions.append(session)
        return session

    async def close(self) -> None:
        return None

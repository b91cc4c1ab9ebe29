"""The network guard (G6): mutating requests wait for a decision; denied ones never reach the
server, approved ones reach it once; reads and declared background URLs are not held (the
page's own timers and third parties: test_background.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from browser_support import act

from app.browser import PlaywrightSession
from app.browser.masking import MASK
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Target
from app.domain.task.domains import SiteScope
from app.engine.ports import HeldRequest

FORM_PAGE = """<!doctype html><title>Form</title>
<form method=post action="/submit">
  <label>Query <input name=q></label>
  <label>Password <input type=password name=entry></label>
  <button>Send</button>
</form>
<form method=get action="/search"><input name=term value=cats><button>Search</button></form>
<button id=local onclick="this.textContent = 'Clicked'">Local</button>"""

FETCH_PAGE = """<!doctype html><title>Fetch</title>
<p id=out>idle</p>
<script>
const show = (text) => { document.getElementById('out').textContent = text; };
const send = (url, options) => fetch(url, options).then((r) => show(url + ' ' + r.status),
                                                     () => show(url + ' failed'));
</script>
<button onclick="send('/api/save', {method: 'POST', headers: {'Content-Type': 'application/json'},
  body: JSON.stringify({user: 'ada', password: 'hunter2-secret', count: 3,
                        profile: {apiToken: 'tok-abc-123', city: 'Paris'}})})">Save JSON</button>
<button onclick="send('/api/save', {method: 'POST', body: new URLSearchParams(
  {item: 'tea', cvv: 'cvv-secret-9', shipping: 'Main Street'})})">Save form</button>
<button onclick="const d = new FormData(); d.append('title', 'Report');
  d.append('doc', new Blob(['secret contents']), 'report.pdf');
  send('/api/upload', {method: 'POST', body: d})">Upload</button>
<button onclick="send('/api/log?x=1', {method: 'POST', body: 'ping'})">Log</button>
<button onclick="send('/api/items', {method: 'DELETE'})">Delete</button>
<button onclick="send('/api/items?page=2')">Read</button>
<button onclick="window.gotRead = false;
  send('/api/save', {method: 'POST', body: 'x'});
  fetch('/api/items').then(() => { window.gotRead = true; })">Save and read</button>"""

SECRETS = ("hunter2-secret", "tok-abc-123", "cvv-secret-9")


class Desk:
    """Stands in for the person deciding: answers `go` after `delay` seconds."""

    def __init__(self, go: bool, delay: float = 0.0) -> None:
        self.go = go
        self.delay = delay
        self.held: list[HeldRequest] = []

    async def __call__(self, held: HeldRequest) -> bool:
        self.held.append(held)
        await asyncio.sleep(self.delay)  # the person reading the request, not a wait for a condition
        return self.go


@pytest.fixture
def pages(static_site: Any) -> Any:
    static_site.add("/submit", "<title>Done</title><h1>Submitted</h1>")
    static_site.add("/search", "<title>Results</title><h1>Results</h1>")
    for path in ("/api/save", "/api/upload", "/api/log", "/api/items"):
        static_site.add(path, "{}")
    static_site.form = static_site.add("/form", FORM_PAGE)
    static_site.fetch = static_site.add("/fetch", FETCH_PAGE)
    return static_site


def posts(site: Any, path: str) -> int:
    return site.hits.count(("POST", path))


async def submit_form(session: PlaywrightSession, *, timeout: float) -> Any:
    await act(session, "fill", {"target": {"label": "Query"}, "value": "hello"})
    await act(session, "fill", {"target": {"label": "Password"}, "value": "hunter2-secret"})
    return await act(session, "click", {"role": "button", "name": "Send"}, timeout=timeout)


async def test_approved_form_post_goes_once_after_the_decision_even_past_the_step_timeout(
    static_session: PlaywrightSession, pages: Any
) -> None:
    desk = Desk(go=True, delay=3.0)
    await static_session.guard(desk)
    await act(static_session, "goto", pages.form)
    # A 2 s step: the 3 s the person takes are not the step's.
    outcome = await submit_form(static_session, timeout=2.0)
    [post] = outcome.mutating_requests
    assert (post.method, post.url, post.status, post.failure) == ("POST", pages.url + "/submit", 200, None)
    assert outcome.main_status == 200 and outcome.duration_ms >= 3000
    assert static_session.url == pages.url + "/submit"
    assert posts(pages, "/submit") == 1
    [held] = desk.held
    assert (held.method, held.url, held.resource_type) == ("POST", pages.url + "/submit", "document")
    fields = {f.name: f for f in held.fields}
    assert fields["q"].value == "hello" and not fields["q"].masked
    # Only the page knows "entry" is a password field: the masking goes by what it read.
    assert (fields["entry"].value, fields["entry"].masked) == (MASK, True)
    assert "hunter2" not in json.dumps(held.to_json())


async def test_denied_form_post_never_reaches_the_server_and_the_page_stays_usable(
    static_session: PlaywrightSession, pages: Any
) -> None:
    desk = Desk(go=False, delay=0.5)
    await static_session.guard(desk)
    await act(static_session, "goto", pages.form)
    outcome = await submit_form(static_session, timeout=5.0)
    # The evidence shows the blocked request, and nothing of the page being brought back.
    assert [(r.method, r.status) for r in outcome.requests] == [("POST", None)]
    [post] = outcome.requests
    assert post.failed and post.failure is not None and "ERR_BLOCKED_BY_CLIENT" in post.failure
    assert posts(pages, "/submit") == 0
    assert len(desk.held) == 1
    # Back on the form, not on Chromium's error page.
    assert static_session.url == pages.form
    assert outcome.after.url == pages.form
    clicked = await act(static_session, "click", {"css": "#local"})
    assert clicked.changed


async def test_reads_are_not_held(static_session: PlaywrightSession, pages: Any) -> None:
    desk = Desk(go=False)
    await static_session.guard(desk)
    await act(static_session, "goto", pages.fetch)
    await act(static_session, "click", {"role": "button", "name": "Read", "exact": True})
    await act(static_session, "wait_for", {"target": {"text": "/api/items?page=2 200"}})
    await act(static_session, "goto", pages.form)
    outcome = await act(static_session, "click", {"role": "button", "name": "Search"})
    assert outcome.main_status == 200 and static_session.url.startswith(pages.url + "/search?term=cats")
    assert desk.held == []


async def test_declared_background_and_unguarded_requests_are_not_held(
    static_session: PlaywrightSession, pages: Any
) -> None:
    desk = Desk(go=False)
    # policy.background_requests: a relative glob, as in expectations
    await static_session.set_scope(SiteScope(base_url=pages.url, background=("/api/log",)))
    await static_session.guard(desk)
    await act(static_session, "goto", pages.fetch)
    logged = await act(static_session, "click", {"role": "button", "name": "Log"})
    await act(static_session, "wait_for", {"target": {"text": "/api/log?x=1 200"}})
    assert posts(pages, "/api/log") == 1 and desk.held == []
    [log] = logged.requests
    assert log.background and not log.judged and logged.mutating_requests == []  # evidence only

    outcome = await act(static_session, "click", {"role": "button", "name": "Delete"})
    await act(static_session, "wait_for", {"target": {"text": "/api/items failed"}})
    assert [(h.method, h.url) for h in desk.held] == [("DELETE", pages.url + "/api/items")]
    assert outcome.requests[0].failure is not None

    await static_session.guard(None)  # off: everything goes
    await act(static_session, "click", {"role": "button", "name": "Save form"})
    await act(static_session, "wait_for", {"target": {"text": "/api/save 200"}})
    assert posts(pages, "/api/save") == 1 and len(desk.held) == 1


async def test_held_bodies_are_shown_field_by_field_with_secrets_masked(
    static_session: PlaywrightSession, pages: Any
) -> None:
    desk = Desk(go=False)
    await static_session.guard(desk)
    await act(static_session, "goto", pages.fetch)
    for button in ("Save JSON", "Save form", "Upload"):
        await act(static_session, "click", {"role": "button", "name": button})
    await act(static_session, "wait_for", {"target": {"text": "/api/upload failed"}})
    as_json, as_form, as_multipart = ({f.name: f for f in h.fields} for h in desk.held)

    assert (as_json["user"].value, as_json["user"].kind, as_json["count"].value) == ("ada", "json", "3")
    assert (as_json["password"].value, as_json["password"].masked) == (MASK, True)
    assert json.loads(as_json["profile"].value) == {"apiToken": MASK, "city": "Paris"}
    assert (as_form["item"].value, as_form["shipping"].value) == ("tea", "Main Street")
    assert (as_form["cvv"].value, as_form["cvv"].masked) == (MASK, True)
    assert [(f.name, f.kind, f.value) for f in as_multipart.values()] == [
        ("title", "multipart", ""),
        ("doc", "file", ""),
    ]
    shown = json.dumps([h.to_json() for h in desk.held])
    for secret in (*SECRETS, "secret contents"):
        assert secret not in shown, secret
    assert pages.hits.count(("POST", "/api/save")) == 0 and ("POST", "/api/upload") not in pages.hits


async def test_the_page_can_be_read_while_a_request_is_held(
    static_session: PlaywrightSession, pages: Any
) -> None:
    """The decider looks at the page (preview, screenshot) while the request waits; the page's
    own reads keep flowing meanwhile."""
    seen: dict[str, Any] = {}

    async def look(held: HeldRequest) -> bool:
        page = static_session.page
        await page.wait_for_function("window.gotRead === true")  # a GET went while this waits
        seen["info"] = await static_session.inspect(Target(role="button", name="Save and read"), timeout=2)
        seen["shot"] = await static_session.highlight([seen["info"].box])
        seen["fingerprint"] = await static_session.fingerprint()
        return True

    await static_session.guard(look)
    await act(static_session, "goto", pages.fetch)
    outcome = await act(static_session, "click", {"role": "button", "name": "Save and read"}, timeout=5)
    assert seen["info"].text == "Save and read" and seen["shot"][:3] == b"\xff\xd8\xff"
    [post] = outcome.mutating_requests
    assert (post.method, post.status) == ("POST", 200)
    assert posts(pages, "/api/save") == 1


async def test_a_decider_can_look_while_a_navigation_is_held(
    static_session: PlaywrightSession, pages: Any
) -> None:
    """Chromium answers no command to a document whose navigation is held: nothing may wait
    on the page then, or the decision waits for itself."""
    seen: dict[str, Any] = {}

    async def look(held: HeldRequest) -> bool:
        seen["shot"] = await static_session.screenshot()
        seen["highlight"] = await static_session.highlight([(0, 0, 10, 10)])
        with pytest.raises(StepFailure) as raised:
            await static_session.inspect(Target(role="button", name="Send"), timeout=2)
        seen["inspect"] = raised.value
        return True

    await static_session.guard(look)
    await act(static_session, "goto", pages.form)
    outcome = await submit_form(static_session, timeout=5.0)
    assert outcome.main_status == 200 and posts(pages, "/submit") == 1
    # The form has a password field and nothing can be masked: no picture rather than a leak.
    assert seen["shot"] == b"" and seen["highlight"] == b""
    assert seen["inspect"].failure_class is FailureClass.TRANSIENT

    # Without a password field on the page, the decider gets its picture.
    static_site = pages
    plain = static_site.add(
        "/plain", '<form method=post action="/submit"><input name=q value=x><button>Go</button></form>'
    )
    await act(static_session, "goto", plain)
    seen.clear()
    await act(static_session, "click", {"role": "button", "name": "Go"}, timeout=5.0)
    assert seen["shot"][:3] == b"\xff\xd8\xff"
    assert posts(pages, "/submit") == 2


async def test_a_failing_decider_blocks(static_session: PlaywrightSession, pages: Any) -> None:
    async def broken(held: HeldRequest) -> bool:
        raise RuntimeError("the inbox is down")

    await static_session.guard(broken)
    await act(static_session, "goto", pages.fetch)
    await act(static_session, "click", {"role": "button", "name": "Save form"})
    await act(static_session, "wait_for", {"target": {"text": "/api/save failed"}})
    assert posts(pages, "/api/save") == 0

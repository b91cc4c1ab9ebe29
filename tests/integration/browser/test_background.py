"""The network guard tells the page's own background traffic from what a step's action sends
(parties.py): a repeating timer's POSTs go and are marked background; a POST the action sends —
from its click handler, from a timer that handler set, from an input listener, a form — is held
and, denied, never reaches the server. Requests to third parties are never asked about."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from browser_support import act

from app.browser import PlaywrightSession
from app.domain.task.domains import SiteScope
from app.engine.ports import HeldRequest

EDITOR = """<!doctype html><title>Editor</title>
<p id=out>idle</p>
<label>Title <input id=title></label>
<form method=post action="/api/preview"><button>Preview</button></form>
<button onclick="fetch('/api/spell', {method: 'POST', body: 'x'})">Spell</button>
<button onclick="setTimeout(() => fetch('/api/later', {method: 'POST', body: 'x'}), 50)">Later</button>
<script>
let pings = 0;
setInterval(function ping() {
  fetch('/api/ping', {method: 'POST', body: 'draft=1'}).then(() => { out.textContent = 'pings ' + ++pings; });
}, 150);
document.getElementById('title').addEventListener('input', () => {
  clearTimeout(window.autosave);
  window.autosave = setTimeout(() => fetch('/api/autosave', {method: 'POST', body: 'a'}), 30);
});
</script>"""


# A heartbeat that re-arms itself: from its second run on, Chromium's stack shows the loop.
LOOP = """<!doctype html><title>Loop</title><label>Note <input id=note></label>
<script>
let ticks = 0;
function tick() { navigator.sendBeacon('/api/tick', 't'); ticks++; setTimeout(tick, 100); }
setTimeout(tick, 100);
</script>"""


class Desk:
    """Says no to everything it is asked, and remembers what."""

    def __init__(self) -> None:
        self.held: list[HeldRequest] = []
        self.asked = asyncio.Event()

    async def __call__(self, held: HeldRequest) -> bool:
        self.held.append(held)
        self.asked.set()
        return False


@pytest.fixture
def editor(static_site: Any) -> Any:
    for path in ("/api/ping", "/api/tick", "/api/preview", "/api/spell", "/api/later", "/api/autosave"):
        static_site.add(path, "{}")
    static_site.editor = static_site.add("/editor", EDITOR)
    static_site.loop = static_site.add("/loop", LOOP)
    return static_site


def posts(site: Any, path: str) -> int:
    return site.hits.count(("POST", path))


async def pings_seen(session: PlaywrightSession, at_least: int) -> None:
    """Wait until the page has had `at_least` more heartbeats answered."""
    now = await session.page.evaluate("pings")
    await session.page.wait_for_function(f"pings >= {now + at_least}")


async def test_the_pages_interval_goes_and_the_actions_posts_are_held(
    static_session: PlaywrightSession, editor: Any
) -> None:
    desk = Desk()
    await static_session.set_scope(SiteScope(base_url=editor.url, own=("127.0.0.1",)))
    await static_session.guard(desk)
    await act(static_session, "goto", editor.editor)
    await pings_seen(static_session, 2)
    # A read step's fill: the page's heartbeat goes on, marked background.
    filled = await act(static_session, "fill", {"target": {"label": "Title"}, "value": "Draft"})
    await pings_seen(static_session, 2)
    pings = [r for r in filled.requests if r.url.endswith("/api/ping")]
    assert pings and all(r.background and not r.judged for r in pings), filled.requests
    # … but the autosave its input listener debounced is the fill's doing: held.
    await asyncio.wait_for(desk.asked.wait(), 5)
    # The click's own POST, one from a timer its handler set, and a form post: held too.
    for button in ("Spell", "Later", "Preview"):
        desk.asked.clear()
        await act(static_session, "click", {"role": "button", "name": button})
        await asyncio.wait_for(desk.asked.wait(), 5)
    held = sorted(h.url.rsplit("/", 1)[1] for h in desk.held)
    assert held == ["autosave", "later", "preview", "spell"]
    for path in ("/api/autosave", "/api/later", "/api/preview", "/api/spell"):
        assert posts(editor, path) == 0, path
    # Back from the denied form post (the page came back in another renderer process), the
    # heartbeat goes on, still not asked about.
    await pings_seen(static_session, 2)
    assert len(desk.held) == 4 and posts(editor, "/api/ping") >= 6


async def test_a_loop_that_rearms_itself_is_the_pages_own(
    static_session: PlaywrightSession, editor: Any
) -> None:
    desk = Desk()
    await static_session.set_scope(SiteScope(base_url=editor.url, own=("127.0.0.1",)))
    await act(static_session, "goto", editor.loop)
    # Its first run cannot be told from a one-off timer (README: declare it); after that it can.
    await static_session.page.wait_for_function("ticks >= 1")
    await static_session.guard(desk)
    ticks = posts(editor, "/api/tick")
    filled = await act(static_session, "fill", {"target": {"label": "Note"}, "value": "x"})
    await static_session.page.wait_for_function(f"ticks >= {ticks + 3}")
    assert desk.held == [] and posts(editor, "/api/tick") >= ticks + 2
    beacons = [r for r in filled.requests if r.url.endswith("/api/tick")]
    assert beacons and all(r.background for r in beacons)


async def test_the_heartbeat_goes_on_while_a_form_post_is_held(
    static_session: PlaywrightSession, editor: Any
) -> None:
    seen: dict[str, int] = {}

    async def decide(held: HeldRequest) -> bool:
        before = posts(editor, "/api/ping")
        async with asyncio.timeout(10):
            while posts(editor, "/api/ping") < before + 2:  # the person reading, meanwhile
                await asyncio.sleep(0.05)
        seen["pings"] = posts(editor, "/api/ping") - before
        return False

    await static_session.set_scope(SiteScope(base_url=editor.url, own=("127.0.0.1",)))
    await static_session.guard(decide)
    await act(static_session, "goto", editor.editor)
    await act(static_session, "click", {"role": "button", "name": "Preview"}, timeout=10)
    assert seen["pings"] >= 2 and posts(editor, "/api/preview") == 0


async def test_third_party_writes_are_not_asked_about_and_decide_nothing(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    """The same local server under another name is the third party here."""
    other = "http://localhost:" + static_site.url.rsplit(":", 1)[1]
    static_site.add("/collect", "{}")
    static_site.add("/fail", "{}", status=503)
    page = static_site.add(
        "/page",
        f"""<p id=out>idle</p><button onclick="Promise.all([
          fetch('{other}/collect', {{method: 'POST', mode: 'no-cors', body: 'e'}}),
          fetch('{other}/fail', {{method: 'POST', mode: 'no-cors', body: 'e'}}),
        ]).then(() => out.textContent = 'sent')">Go</button>""",
    )
    desk = Desk()
    await static_session.set_scope(SiteScope(base_url=static_site.url, own=("127.0.0.1",)))
    await static_session.guard(desk)
    await act(static_session, "goto", page)
    outcome = await act(static_session, "click", {"role": "button", "name": "Go"})
    await act(static_session, "wait_for", {"target": {"text": "sent"}})
    assert desk.held == [] and posts(static_site, "/collect") == 1
    writes = [r for r in outcome.requests if r.method == "POST"]
    assert {(r.url, r.status, r.third_party) for r in writes} == {
        (f"{other}/collect", 200, True),
        (f"{other}/fail", 503, True),
    }
    assert outcome.mutating_requests == []  # nothing here is the site's own: nothing judged


POPUP = """<!doctype html><title>Pop-up</title><label>Title <input id=title></label>
<div role=dialog aria-label="Update notifications" id=popup
  style="position:fixed;inset:0;background:#fff">
  <p>Would you like to be told about updates?</p>
  <button onclick="fetch('/api/preferences', {method: 'POST', body: 'updates=no'});
    popup.remove()">No thanks</button></div>"""


async def test_what_dismissing_an_overlay_sends_is_not_held(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    """Closing a pop-up saves the choice on the server (Node-RED saves "no update
    notifications" in the user's settings): that is the overlay's dismissal, which the built-in
    rules and the task's policy allow — not held, it reaches the server, nobody is asked."""
    static_site.add("/api/preferences", "{}")
    desk = Desk()
    await static_session.set_scope(SiteScope(base_url=static_site.url, own=("127.0.0.1",)))
    await static_session.guard(desk)
    await act(static_session, "goto", static_site.add("/popup", POPUP))
    dismissed = await static_session.dismiss_obstructions([])
    assert dismissed == ['dialog: clicked "No thanks"']
    await static_session.page.wait_for_function("!document.getElementById('popup')")
    assert desk.held == [] and posts(static_site, "/api/preferences") == 1
    # The step's own action sending the same is still asked about.
    await act(static_session, "goto", static_site.url + "/popup")
    await static_session.page.evaluate(
        "() => { fetch('/api/preferences', {method: 'POST', body: 'again'}).catch(() => {}); }"
    )
    await asyncio.wait_for(desk.asked.wait(), 5)
    assert posts(static_site, "/api/preferences") == 1

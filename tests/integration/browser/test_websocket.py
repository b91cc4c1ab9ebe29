"""Pages driven over a WebSocket (the hostile site's /live, built as NiceGUI pages are): a click
is a message, and the page changes when the site's answer comes back. An action is settled once
that answer is in; what the page said is evidence (frames and bytes, never payloads); only the
site's own sockets count, and the socket's own chatter (pings answered, acknowledgements on a
timer) is not the action's. Judged by the site's truth: what it received, what it stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from browser_support import act, build_step, check

from app.browser import PlaywrightSession
from app.domain.task.domains import SiteScope, site_hosts
from app.engine.validate import judge_no_effect

ADD = {"role": "button", "name": "Add"}


def frames(outcome: Any) -> list[Any]:
    return [r for r in outcome.requests if r.websocket]


@pytest.mark.parametrize("routed", [False, True], ids=["direct", "routed"])
async def test_a_click_is_settled_once_the_sites_answer_over_the_socket_is_in(
    session: PlaywrightSession, site: Any, routed: bool
) -> None:
    # The site takes 1.2 s to answer "Add": longer than anything the page shows meanwhile.
    site.configure(live_sign_in=False, live_delay_ms=1200)
    if routed:
        # With an allowlist, Playwright puts its own WebSocket class in the page's place.
        await session.set_scope(SiteScope(base_url=site.url, own=("127.0.0.1",), allowed=("127.0.0.1",)))
    await act(session, "goto", "/live")
    outcome = await act(session, "click", ADD)
    # When the action is over, so is its effect: the dialog the answer opened is there.
    assert await session.page.is_visible("role=dialog >> text=New note")
    assert outcome.changed and outcome.messages == 1
    (socket,) = frames(outcome)
    assert socket.url == site.url.replace("http", "ws") + "/live/ws"
    assert socket.frames_sent and socket.frames_received and socket.bytes_received
    assert site.truth()["live"]["received"] == {"open_add": 1}


async def test_a_write_over_the_socket_is_over_when_the_site_has_stored_it(
    session: PlaywrightSession, site: Any
) -> None:
    site.configure(live_sign_in=False, live_delay_ms=1200)
    await act(session, "goto", "/live")
    await act(session, "click", ADD)
    typed = await act(session, "fill", {"target": {"label": "Title"}, "value": "Milk"})
    assert typed.messages == 1  # the value went to the site as it was typed (no answer comes)
    saved = await act(session, "click", {"role": "button", "name": "Save"})
    assert saved.messages == 1
    # Stored before the action was judged: a check now, or a crash now, finds it done.
    truth = site.truth()["live"]
    assert truth["saves"] == {"Milk": 1} and [n["title"] for n in truth["notes"]] == ["Milk"]
    assert await session.page.is_visible("role=cell[name='Milk']")


async def test_the_sockets_own_chatter_is_not_the_actions(session: PlaywrightSession, site: Any) -> None:
    # Pings every 50 ms, each answered from the page's message handler, and acknowledgements
    # sent on a timer: the socket is never quiet. A click on a heading does nothing.
    site.configure(live_sign_in=False, live_ping_ms=50)
    async with session.page.expect_websocket() as opened:
        await act(session, "goto", "/live")
    socket = await opened.value
    await socket.wait_for_event("framesent")  # the page's chatter has begun
    step = build_step("click", {"role": "heading", "name": "Live notes"})
    outcome = await session.act(step, timeout=5)
    assert outcome.messages == 0
    assert judge_no_effect(step, outcome, has_expectation=False) is not None
    assert site.truth()["live"]["received"] == {}  # nothing but upkeep reached the site


async def test_a_socket_to_another_host_is_not_the_sites(session: PlaywrightSession, site: Any) -> None:
    site.configure(live_sign_in=False)
    await session.set_scope(SiteScope(base_url=site.url, own=tuple(site_hosts(site.url))))  # as a run's
    await act(session, "goto", "/live")
    elsewhere = site.url.replace("127.0.0.1", "localhost").replace("http", "ws") + "/live/ws"
    # A widget of another host (the same server under another name) with its own socket.
    await session.page.evaluate(
        """async (url) => {
            const other = new WebSocket(url);
            await new Promise((opened) => other.addEventListener('open', opened));
            const b = document.createElement('button');
            b.textContent = 'Chat';
            b.addEventListener('click', () => other.send(JSON.stringify({type: 'open_add'})));
            document.body.prepend(b);
        }""",
        elsewhere,
    )
    outcome = await act(session, "click", {"role": "button", "name": "Chat"})
    assert outcome.messages == 0
    assert not any("localhost" in r.url for r in outcome.requests)
    assert site.truth()["live"]["received"] == {"open_add": 1}  # it went, to another host


async def test_frames_are_counted_never_kept(session: PlaywrightSession, site: Any) -> None:
    password = "Sw0rdfish-over-the-socket"
    site.configure(users={"ada": password})
    await act(session, "goto", "/live/login")
    await act(session, "fill", {"target": {"label": "Username"}, "value": "ada"})
    await act(session, "fill", {"target": {"label": "Password"}, "value": password})
    outcome = await act(session, "click", {"role": "button", "name": "Log in"})
    # The answer is in: the page says so (and opens the notes a moment later).
    assert await session.page.is_visible("text=Signed in: opening your notes")
    (socket,) = frames(outcome)
    assert socket.frames_sent and socket.bytes_sent and socket.bytes_sent > len(password)
    assert password not in json.dumps([r.to_json() for r in outcome.requests])
    assert site.truth()["logins"] == 1


async def test_a_page_is_acted_on_once_its_socket_is_open(session: PlaywrightSession, site: Any) -> None:
    # The socket's handshake takes 0.8 s: a click before it is kept by the page and sent from
    # the open handler, where nothing tells it was the click's. So the click waits for it.
    site.configure(live_sign_in=False, live_connect_ms=800, live_delay_ms=600)
    await act(session, "goto", "/live")
    outcome = await act(session, "click", ADD)
    assert outcome.messages == 1
    assert await session.page.is_visible("role=dialog >> text=New note")
    assert site.truth()["live"]["received"] == {"open_add": 1}


async def test_a_reloaded_page_is_read_once_its_socket_has_brought_its_content(
    session: PlaywrightSession, site: Any
) -> None:
    # The notes come over the socket once it is open: right after a reload the table is
    # empty, and "the note is gone" would hold of a page that has not shown anything yet.
    site.configure(live_sign_in=False, live_delay_ms=0, live_connect_ms=400)
    await act(session, "goto", "/live")
    await act(session, "click", ADD)
    await act(session, "fill", {"target": {"label": "Title"}, "value": "Still here"})
    await act(session, "click", {"role": "button", "name": "Save"})
    assert site.truth()["live"]["saves"] == {"Still here": 1}
    cell = {"role": "cell", "name": "Still here", "exact": True}
    gone = await check(session, {"after_reload": {"hidden": cell}}, timeout=0)
    assert [r.ok for r in gone] == [False], gone
    there = await check(session, {"after_reload": {"visible": cell}}, timeout=0)
    assert [r.ok for r in there] == [True], there

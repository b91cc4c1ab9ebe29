"""Failures come back classified, quickly, with what the engine needs to decide what's next."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import act, expect_ok

from app.browser import PlaywrightSession
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Target


async def fails(session: PlaywrightSession, action: str, args: Any, timeout: float = 5.0) -> StepFailure:
    with pytest.raises(StepFailure) as raised:
        await act(session, action, args, timeout=timeout)
    return raised.value


async def test_missing_target(session: PlaywrightSession) -> None:
    await act(session, "goto", "/notes")
    started = time.monotonic()
    failure = await fails(session, "click", {"role": "button", "name": "Publish"}, timeout=1.0)
    assert time.monotonic() - started < 5.0  # its 1 s timeout, not the default 10 s
    assert failure.failure_class is FailureClass.MISSING_TARGET
    assert 'role=button name="Publish"' in failure.message


async def test_ambiguous_target_lists_candidates(session: PlaywrightSession) -> None:
    await act(session, "goto", "/shop")
    started = time.monotonic()
    failure = await fails(session, "click", {"role": "button", "name": "Add to cart"}, timeout=10)
    assert time.monotonic() - started < 5.0  # several matches fail at once, not after 10 s
    assert failure.failure_class is FailureClass.AMBIGUOUS_TARGET
    assert failure.details["count"] == 3
    assert failure.details["candidates"] == ['<button> "Add to cart"'] * 3


async def test_nth_picks_one_of_several_on_a_re_rendering_page(session: PlaywrightSession, site: Any) -> None:
    # /shop re-renders its list every 500 ms and shifts the layout after 400 ms.
    await act(session, "goto", "/shop")
    outcome = await act(session, "click", {"role": "button", "name": "Add to cart", "nth": 1})
    assert site.truth()["cart"] == ["Water Bottle"]
    assert [(r.method, r.status) for r in outcome.requests] == [("POST", 200)]


async def test_one_visible_among_hidden_duplicates_is_not_ambiguous(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    url = static_site.add(
        "/dup",
        """<nav style="display:none"><button class=save>Save</button>
        </nav><button class=save onclick="this.textContent='Saved'">Save</button>""",
    )
    await act(static_session, "goto", url)
    await act(static_session, "click", {"css": ".save"})
    await expect_ok(static_session, {"visible": {"role": "button", "name": "Saved"}})


async def test_cookie_banner_is_an_obstruction_until_dismissed(session: PlaywrightSession, site: Any) -> None:
    site.configure(cookie_banner=True)
    await act(session, "goto", "/shop")
    started = time.monotonic()
    failure = await fails(session, "click", {"test_id": "add-headlamp"}, timeout=10)
    assert time.monotonic() - started < 6.0  # not the whole 10 s step timeout
    assert failure.failure_class is FailureClass.OBSTRUCTION
    assert "cookie-banner" in failure.details["blocked_by"]
    assert site.truth()["cart"] == []  # the covered click was never dispatched

    assert await session.dismiss_obstructions([]) == ['cookie banner: clicked "Accept all"']
    await act(session, "click", {"test_id": "add-headlamp"})
    assert site.truth()["cart"] == ["Headlamp"]
    assert await session.dismiss_obstructions([]) == []


async def test_newsletter_modal_is_closed(session: PlaywrightSession, site: Any) -> None:
    site.configure(newsletter_modal=True)
    await act(session, "goto", "/notes")
    await act(session, "wait_for", {"test_id": "newsletter-modal"})
    failure = await fails(session, "click", {"test_id": "add-note"})
    assert failure.failure_class is FailureClass.OBSTRUCTION
    assert await session.dismiss_obstructions([]) == ['dialog: clicked "Close"']
    await expect_ok(session, {"hidden": {"test_id": "newsletter-modal"}})


async def test_extra_obstruction_targets(static_session: PlaywrightSession, static_site: Any) -> None:
    url = static_site.add(
        "/promo",
        """<button onclick="this.textContent='done'">Go</button>
        <div id=layer style="position:fixed;inset:0;background:#0008">
        <button onclick="this.parentNode.remove()">Continue to site</button></div>""",
    )
    await act(static_session, "goto", url)
    assert (
        await fails(static_session, "click", {"role": "button", "name": "Go"})
    ).failure_class is FailureClass.OBSTRUCTION
    assert await static_session.dismiss_obstructions([]) == []  # not a known kind
    extra = [Target(css="#nothing-here"), Target(role="button", name="Continue to site")]
    assert await static_session.dismiss_obstructions(extra) == [
        'role=button name="Continue to site": clicked'
    ]
    await act(static_session, "click", {"role": "button", "name": "Go"})


async def test_goto_503_is_transient_with_retry_after(session: PlaywrightSession) -> None:
    failure = await fails(session, "goto", "/flaky")
    assert failure.failure_class is FailureClass.TRANSIENT
    assert failure.details["status"] == 503
    assert failure.details["retry_after"] == 1.0


@pytest.mark.parametrize("path", ["/forbidden", "/no-such-page"])
async def test_goto_4xx_is_permanent(session: PlaywrightSession, path: str) -> None:
    failure = await fails(session, "goto", path)
    assert failure.failure_class is FailureClass.PERMANENT
    assert failure.details["status"] in (403, 404)


@pytest.fixture
def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


async def test_goto_network_errors_are_transient(
    session: PlaywrightSession, refused_url: str, silent_url: str
) -> None:
    failure = await fails(session, "goto", refused_url)
    assert failure.failure_class is FailureClass.TRANSIENT
    assert failure.details["net_error"] == "ERR_CONNECTION_REFUSED"
    failure = await fails(session, "goto", silent_url, timeout=1.0)
    assert failure.failure_class is FailureClass.TRANSIENT


async def test_disabled_button_is_transient(static_session: PlaywrightSession, static_site: Any) -> None:
    url = static_site.add("/disabled", "<button disabled>Pay</button>")
    await act(static_session, "goto", url)
    failure = await fails(static_session, "click", {"role": "button", "name": "Pay"}, timeout=1.5)
    assert failure.failure_class is FailureClass.TRANSIENT
    assert "not enabled" in failure.message


async def test_bad_selector_is_permanent(session: PlaywrightSession) -> None:
    await act(session, "goto", "/notes")
    failure = await fails(session, "extract", {"target": {"css": "button[["}, "into": "x"})
    assert failure.failure_class is FailureClass.PERMANENT


async def test_closed_session_is_reported_as_such(session: PlaywrightSession) -> None:
    await act(session, "goto", "/notes")
    await session.close()
    failure = await fails(session, "click", {"test_id": "add-note"})
    assert failure.failure_class is FailureClass.TRANSIENT
    assert failure.details["session_closed"] is True


TICKETS = """<!doctype html><title>Tickets</title><h1>Tickets</h1><ul>
<li data-testid=ticket-1>Printer on fire
  <form method=post action=/tickets/1/delete><button>– Delete</button></form></li>
<li data-testid=ticket-2>Coffee machine empty
  <form method=post action=/tickets/2/delete><button>– Delete</button></form></li></ul>
<a href=/tickets/help>Delete</a> <button>Save</button> <button>Deleted tickets</button>
<button hidden>Delete all</button>"""


async def test_a_missing_target_names_the_elements_it_may_have_meant(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    static_site.add("/tickets/1/delete", "<p>Deleted</p>")
    await act(static_session, "goto", static_site.add("/tickets", TICKETS))
    failure = await fails(static_session, "click", {"role": "button", "name": "Delete", "exact": True}, 1.0)
    assert failure.failure_class is FailureClass.MISSING_TARGET
    assert failure.message.startswith(
        'role=button name="Delete": no element matches; closest: button "– Delete", button "– Delete"'
    )
    near = failure.details["near_misses"]
    assert [(n["role"], n["text"]) for n in near[:2]] == [("button", "– Delete")] * 2
    # Closest first: the same name of another role, a longer name, a hidden one last among equals.
    assert ("link", "Delete") in [(n["role"], n["text"]) for n in near]
    assert ("button", "Save") not in [(n["role"], n["text"]) for n in near]
    # Each near miss comes with a locator that means exactly that element: the first row's button.
    first = Target.model_validate(near[0]["target"])
    assert first.within is not None and "ticket-1" in first.describe()
    await act(static_session, "click", first.model_dump(exclude_defaults=True))
    assert ("POST", "/tickets/1/delete") in static_site.hits

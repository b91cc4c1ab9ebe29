"""Expectations: each kind passes when it holds and, when it does not, says what was there."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest_asyncio
from browser_support import act, check, expect_ok

from app.browser import PlaywrightSession
from app.engine.ports import CheckResult

PAGE = (
    """<!doctype html><title>Checks page</title>
<h1>Inventory</h1>
<p id=intro>There are   three
items in stock.</p>
<ul><li class=item>Apple</li><li class=item>Pear</li><li class=item>Plum</li></ul>
<label for=qty>Quantity</label><input id=qty value=7>
<label for=pw>Password</label><input id=pw type=password value=s3cret-value>
<label><input type=checkbox id=gift checked> Gift wrap</label>
<label><input type=checkbox id=rush> Rush</label>
<p id=secret hidden>Hidden text</p>
<p id=long>"""
    + "word " * 100
    + "</p>"
)


async def single_failure(session: PlaywrightSession, expect: dict[str, Any]) -> CheckResult:
    started = time.monotonic()
    results = await check(session, expect, timeout=0.15)
    assert time.monotonic() - started < 3.0  # gave up at its timeout instead of hanging
    assert len(results) == 1 and not results[0].ok, results
    return results[0]


@pytest_asyncio.fixture(loop_scope="session")
async def page(static_session: PlaywrightSession, static_site: Any) -> PlaywrightSession:
    await act(static_session, "goto", static_site.add("/checks", PAGE))
    return static_session


async def test_url_and_title(page: PlaywrightSession, static_site: Any) -> None:
    await expect_ok(page, {"url": "/checks", "title": "Checks page"})
    await expect_ok(page, {"url": "**/checks", "title": "re:^Checks"})
    failure = await single_failure(page, {"url": "/other"})
    assert failure.name == "url /other"
    assert failure.detail == f"url is {static_site.url}/checks"
    assert (await single_failure(page, {"title": "Other"})).detail == 'title is "Checks page"'


async def test_visible_and_hidden(page: PlaywrightSession) -> None:
    await expect_ok(
        page,
        {
            "visible": [{"role": "heading", "name": "Inventory"}],
            "hidden": [{"css": "#secret"}, {"css": "#nothing"}],
        },
    )
    assert (await single_failure(page, {"visible": {"css": "#secret"}})).detail == (
        "1 match(es), none visible"
    )
    assert (await single_failure(page, {"visible": {"text": "Banana"}})).detail == ("no element matches")
    failure = await single_failure(page, {"hidden": {"css": ".item"}})
    assert failure.name == 'hidden css=".item"' and failure.detail == "3 still visible"


async def test_text(page: PlaywrightSession) -> None:
    await expect_ok(
        page,
        {
            "text": [
                "three items in stock",  # page text, whitespace-insensitive
                {"target": {"css": "#intro"}, "equals": "There are three items in stock."},
                {"target": {"css": ".item"}, "equals": "Pear"},  # any of several
                {"matches": r"\bthree\s+items\b"},
            ]
        },
    )
    failure = await single_failure(page, {"text": {"target": {"css": "#intro"}, "contains": "four"}})
    assert failure.name == 'text contains "four" in css="#intro"'
    assert failure.detail == 'text is "There are three items in stock."'
    long = await single_failure(page, {"text": {"target": {"css": "#long"}, "equals": "x"}})
    assert len(long.detail) < 230 and long.detail.endswith('…"')
    missing = await single_failure(page, {"text": {"target": {"css": "#nope"}, "contains": "x"}})
    assert missing.detail == "no element matches"


async def test_value_and_password_privacy(page: PlaywrightSession) -> None:
    await expect_ok(page, {"value": {"target": {"label": "Quantity"}, "equals": "7"}})
    failure = await single_failure(page, {"value": {"target": {"label": "Quantity"}, "equals": "8"}})
    assert failure.detail == 'value is "7"'
    failure = await single_failure(page, {"value": {"target": {"label": "Password"}, "equals": "guess"}})
    assert "s3cret" not in failure.detail


async def test_checked_and_unchecked(page: PlaywrightSession) -> None:
    await expect_ok(page, {"checked": {"label": "Gift wrap"}, "unchecked": {"label": "Rush"}})
    assert (await single_failure(page, {"checked": {"label": "Rush"}})).detail == "not checked"
    assert (await single_failure(page, {"unchecked": {"label": "Gift wrap"}})).detail == ("checked")
    assert (await single_failure(page, {"checked": {"css": "input[type=checkbox]"}})).detail == (
        "1 of 2 checked"
    )


async def test_count(page: PlaywrightSession) -> None:
    await expect_ok(
        page,
        {
            "count": [
                {"target": {"css": ".item"}, "equals": 3},
                {"target": {"css": ".item"}, "min": 2, "max": 3},
            ]
        },
    )
    failure = await single_failure(page, {"count": {"target": {"css": ".item"}, "min": 4}})
    assert failure.name == 'count css=".item" >= 4' and failure.detail == "count is 3"


async def test_js(page: PlaywrightSession) -> None:
    await expect_ok(
        page,
        {
            "js": [
                "document.querySelectorAll('.item').length === 3",
                "() => document.title.startsWith('Checks')",
                "[]",
            ]
        },
    )  # truthy in JavaScript
    assert (await single_failure(page, {"js": "0"})).detail == "returned 0"
    failure = await single_failure(page, {"js": "window.noSuchThing.x"})
    assert failure.detail.startswith("error:")


async def test_request_against_the_outcome(session: PlaywrightSession, site: Any) -> None:
    await act(session, "goto", "/profile")
    await act(session, "fill", {"target": {"label": "Display name"}, "value": "Ada"})
    outcome = await act(session, "click", {"role": "button", "name": "Save profile"})
    # The page says "Saved!" while the server answered 500: the evidence says otherwise.
    results = await check(
        session,
        {"text": "Saved!", "request": {"method": "POST", "url": "/api/profile"}},
        outcome,
        timeout=0.15,
    )
    assert [r.ok for r in results] == [True, False]
    assert results[1].name == "request POST /api/profile 200-399"
    assert results[1].detail == f"saw POST {site.url}/api/profile → 500"
    await expect_ok(
        session, {"request": {"method": "POST", "url": "**/api/profile", "status": "5xx"}}, outcome
    )
    results = await check(session, {"request": {"url": "/api/profile"}}, None, timeout=0.1)
    assert not results[0].ok and "no action" in results[0].detail


async def test_after_reload_proves_persistence(session: PlaywrightSession, site: Any) -> None:
    site.configure(profile_fails=False)
    await act(session, "goto", "/profile")
    await act(session, "fill", {"target": {"label": "Display name"}, "value": "Ada"})
    outcome = await act(session, "click", {"role": "button", "name": "Save profile"})
    results = await expect_ok(
        session,
        {
            "request": {"method": "POST", "url": "/api/profile", "status": 200},
            "after_reload": {
                "value": {"target": {"label": "Display name"}, "equals": "Ada"},
                "request": {"method": "GET", "url": "/profile"},
            },
        },
        outcome,
    )
    assert [r.name for r in results][1:] == [
        'after_reload: value of label="Display name" = "Ada"',
        "after_reload: request GET /profile 200-399",
    ]


async def test_after_reload_catches_a_silent_failure(session: PlaywrightSession, site: Any) -> None:
    await act(session, "goto", "/profile")  # profile_fails: POST answers 500, page says Saved!
    await act(session, "fill", {"target": {"label": "Display name"}, "value": "Ada"})
    outcome = await act(session, "click", {"role": "button", "name": "Save profile"})
    results = await check(
        session,
        {
            "text": "Saved!",
            "after_reload": {
                "goto": "/profile",
                "value": {"target": {"label": "Display name"}, "equals": "Ada"},
            },
        },
        outcome,
        timeout=0.5,
    )
    assert results[0].ok and not results[1].ok
    assert results[1].detail == 'value is "Demo User"'


async def test_after_reload_is_skipped_when_earlier_conditions_fail(
    session: PlaywrightSession, site: Any
) -> None:
    outcome = await act(session, "goto", "/notes")
    results = await check(
        session, {"text": "Nope", "after_reload": {"text": "Welcome"}}, outcome, timeout=0.2
    )
    assert [r.ok for r in results] == [False, False]
    assert results[1].detail.startswith("not checked")
    assert site.truth()["requests"].get("GET /notes") == 1  # no reload happened


async def test_check_waits_for_content_that_appears_later(session: PlaywrightSession) -> None:
    # The page's own timer would reveal the report only after a minute: the test reveals it
    # while the check is already waiting, so nothing here depends on the machine's speed.
    await act(session, "goto", "/slow?delay=60000")
    waiting = asyncio.create_task(
        expect_ok(session, {"visible": {"test_id": "report"}, "text": "Quarterly report"}, timeout=10)
    )
    await session.page.wait_for_function("() => true")  # the check has had a turn to look
    assert not waiting.done(), "the check passed before the content existed"
    await session.page.evaluate(
        """() => { const s = document.createElement('section');
                   s.dataset.testid = 'report'; s.innerHTML = '<h2>Quarterly report</h2>';
                   document.body.appendChild(s); }"""
    )
    await waiting


HISTORY = (
    "<!doctype html><title>Orders</title><header>Skip to main content · Search Pages · Help</header>"
    "<h1>Order history</h1>"
    + "".join(f"<p>Order #{1000 + i} was shipped on day {i}.</p>" for i in range(300))
    + "<p id=latest>Your order #1042 has been confirmed and will ship tomorrow.</p>"
    + "".join(f"<p>Order #{2000 + i} was returned.</p>" for i in range(50))
)


async def test_a_failed_text_check_shows_the_passage_nearest_to_what_was_expected(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/history", HISTORY))
    # Deep in a long page: the passage that comes closest, not the page's header.
    failure = await single_failure(static_session, {"text": "Order #1042 confirmed"})
    assert failure.detail.startswith('closest passage: "…')
    assert "Your order #1042 has been confirmed and will ship tomorrow." in failure.detail
    assert "Skip to main content" not in failure.detail and len(failure.detail) < 260

    # A pattern: its words lead to the passage.
    failure = await single_failure(static_session, {"text": {"matches": r"order #1042 (is|was) confirmed"}})
    assert "has been confirmed" in failure.detail

    # Nothing like it at all: the beginning of the page, cut short.
    failure = await single_failure(static_session, {"text": "Refund issued"})
    assert failure.detail.startswith('text is "Skip to main content') and failure.detail.endswith('…"')


async def test_a_failed_text_check_of_an_element_shows_enough_of_its_text(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    long_text = " ".join(f"Line {i} of the terms." for i in range(60)) + " You agree to pay 30 EUR per month."
    await act(static_session, "goto", static_site.add("/terms", f"<div id=terms>{long_text}</div>"))
    failure = await single_failure(
        static_session,
        {"text": {"target": {"css": "#terms"}, "contains": "You agree to pay 20 EUR per month"}},
    )
    assert failure.detail.startswith('closest passage: "…') and failure.detail.endswith(
        'You agree to pay 30 EUR per month."'
    )


async def test_a_check_whose_target_matches_nothing_names_the_closest_elements(
    page: PlaywrightSession,
) -> None:
    failure = await single_failure(page, {"visible": {"role": "heading", "name": "Inventry"}})
    assert failure.detail == 'no element matches; closest: heading "Inventory"'
    failure = await single_failure(page, {"value": {"target": {"label": "Quantities"}, "equals": "7"}})
    assert failure.detail == 'no element matches; closest: textbox "Quantity"'


async def test_after_reload_of_a_page_a_post_answered_reads_it_again_without_resending_it(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    # A form answered 200 (no redirect): reloading that page would send the POST again.
    static_site.add("/saved", "<p>Saved it</p>")
    await act(
        static_session,
        "goto",
        static_site.add("/post-form", "<form method=post action=/saved><button>Save</button></form>"),
    )
    outcome = await act(static_session, "click", {"role": "button", "name": "Save"})
    await expect_ok(static_session, {"after_reload": {"text": "Saved it"}}, outcome)
    assert static_site.hits.count(("POST", "/saved")) == 1
    assert static_site.hits[-1] == ("GET", "/saved")  # read again, as a GET


EDITOR = """<!doctype html><title>Editor</title>
<div role=main><div id=editor contenteditable=true role=textbox aria-label="Notes"
  style="min-height:3em;border:1px solid #999"></div></div>"""


async def test_a_rich_editor_holds_what_was_filled_in_it(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    """A contenteditable editor (CodeMirror, ProseMirror…) has no `value`: its text is what a
    fill's default check and a value expectation compare (JupyterLab's text editor failed its
    own fill: 'value is ""')."""
    await act(static_session, "goto", static_site.add("/editor", EDITOR))
    filled = await act(
        static_session,
        "fill",
        {"target": {"role": "textbox", "name": "Notes"}, "value": "Minutes of Tuesday"},
    )
    await expect_ok(
        static_session,
        {"value": {"target": {"role": "textbox", "name": "Notes"}, "equals": "Minutes of Tuesday"}},
        filled,
    )
    failure = await single_failure(
        static_session, {"value": {"target": {"css": "#editor"}, "equals": "Minutes of Wednesday"}}
    )
    assert failure.detail == 'value is "Minutes of Tuesday"'
    extracted = await act(
        static_session, "extract", {"target": {"css": "#editor"}, "into": "notes", "get": "value"}
    )
    assert extracted.value == "Minutes of Tuesday"


# A single-page app's shell: its list is drawn from requests made after its scripts have set up
# (a settings read, then a pause of its own, then the items), as Node-RED draws its flow tabs.
SHELL = """<!doctype html><title>Flows</title><main id=tabs></main>
<script>
fetch('/settings').then((r) => r.text()).then(() => {
  setTimeout(() => fetch('/items').then((r) => r.json()).then((items) => {
    document.getElementById('tabs').innerHTML = items.map((t) => '<a href=#' + t + '>' + t + '</a>').join('');
  }), 400);
});
</script>"""


async def test_after_reload_hidden_waits_for_the_page_to_show_its_content(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    """Something deleted is proved gone only by a page that has drawn what it draws: the
    reloaded shell shows no tab at first, and "hidden" held of it whatever the server had."""
    static_site.add("/settings", "{}")
    static_site.add("/items", '["Flow one", "Flow two"]')
    await static_session.goto(static_site.add("/flows", SHELL), timeout=10)
    still_there = await check(
        static_session, {"after_reload": {"hidden": [{"role": "link", "name": "Flow two"}]}}, timeout=3
    )
    assert [c.ok for c in still_there] == [False], still_there
    static_site.add("/items", '["Flow one"]')
    gone = await check(
        static_session, {"after_reload": {"hidden": [{"role": "link", "name": "Flow two"}]}}, timeout=3
    )
    assert [c.ok for c in gone] == [True], gone

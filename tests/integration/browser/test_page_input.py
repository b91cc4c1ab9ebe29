"""A person's own input on the page (a headed window during a takeover), as the page reports it.

Playwright's `page.mouse` and `page.keyboard` send CDP Input events, as Chromium's own window does
for a person's hardware input: the page sees them as trusted (`isTrusted`), exactly like a person
clicking and typing in a `--headed` window. They stand in for that person here."""

from __future__ import annotations

import json
from typing import Any

from browser_support import act

from app.browser import PlaywrightSession
from app.engine.ports import InputEvent

FORM = """<!doctype html><title>Sign up</title>
<form action="/welcome" method="get">
  <label>Name <input name=name></label>
  <label>Password <input name=pw type=password></label>
  <label>Secret word <input name=word autocomplete=new-password></label>
  <button>Create account</button>
</form>
<button id=noise onclick="document.querySelector('[name=name]').value = 'set by script';
  document.querySelector('[name=name]').dispatchEvent(new Event('change', {bubbles: true}));
  window.__flightdeckInput && window.__flightdeckInput({kind: 'click', token: 'forged'});">Script</button>
"""


async def click(session: PlaywrightSession, selector: str) -> None:
    box = await session.page.locator(selector).bounding_box()
    assert box is not None
    await session.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


async def test_clicks_values_and_navigation_are_reported_with_secrets_masked(
    static_site: Any, static_session: PlaywrightSession
) -> None:
    static_site.add("/welcome", "<!doctype html><title>Welcome</title><p>Welcome</p>")
    url = static_site.add("/signup", FORM)
    await act(static_session, "goto", url)
    page = static_session.page
    reports: list[dict[str, Any]] = []
    await act(static_session, "fill", {"target": {"label": "Name"}, "value": "engine"})  # not observed
    await static_session.observe_input(reports.append)

    await page.evaluate("document.getElementById('noise').click()")  # untrusted: not the person's
    await click(static_session, "[name=name]")
    await page.keyboard.press("Control+a")
    await page.keyboard.type("Ada Lovelace")
    await click(static_session, "[name=pw]")
    await page.keyboard.type("hunter2-sesame")
    await click(static_session, "[name=word]")
    await page.keyboard.type("swordfish-42")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    await static_session.observe_input(None)
    await click(static_session, "body")  # after the observation: nothing

    kinds = [(r["kind"], r.get("element", {}).get("field")) for r in reports]
    assert kinds == [
        ("click", "name"),
        ("change", "name"),
        ("click", "pw"),
        ("change", "pw"),
        ("click", "word"),
        ("change", "word"),
        ("key", "word"),
        ("click", None),  # Enter clicks the form's default button: Chromium's implicit submission
        ("submit", None),
        ("navigated", None),
    ], reports
    name, pw, word = (r for r in reports if r["kind"] == "change")
    assert name["value"] == "Ada Lovelace" and not name["masked"]
    assert pw["masked"] and word["masked"]
    assert reports[0]["element"]["role"] == "textbox" and reports[0]["element"]["name"] == "Name"
    assert reports[-3]["keyboard"] and reports[-3]["element"]["name"] == "Create account"
    assert reports[-2]["method"] == "GET" and reports[-2]["action"].endswith("/welcome")
    assert reports[-1]["url"].startswith(static_site.url + "/welcome")
    assert all(r["source"] == "page" for r in reports)
    text = json.dumps(reports)
    for secret in ("hunter2", "sesame", "swordfish", "engine", "set by script", "forged"):
        assert secret not in text


async def test_console_input_is_not_reported_again_and_a_restart_sees_new_documents(
    static_site: Any, static_session: PlaywrightSession
) -> None:
    url = static_site.add("/signup2", FORM)
    await act(static_session, "goto", url)
    reports: list[dict[str, Any]] = []
    await static_session.observe_input(reports.append)
    box = await static_session.page.locator("[name=name]").bounding_box()
    assert box is not None
    await static_session.send_input(InputEvent("click", x=box["x"] + 5, y=box["y"] + 5))
    await static_session.send_input(InputEvent("type", text="from the console"))
    await static_session.send_input(InputEvent("key", key="Tab"))
    await static_session.page.wait_for_timeout(700)  # past the console's grace
    assert reports == []  # send_input records these itself
    await static_session.observe_input(None)
    await static_session.observe_input(reports.append)  # a second takeover of the same page
    await static_session.page.reload()
    await click(static_session, "[name=name]")
    await static_session.page.keyboard.type("Grace")
    await static_session.observe_input(None)  # typed, never committed: reported at the end
    assert [(r["kind"], r.get("value")) for r in reports] == [
        ("navigated", None),
        ("click", None),
        ("change", "Grace"),
    ], reports

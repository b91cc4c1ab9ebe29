"""A person's own input on a taken-over page is in the run's record (issue 13, part 5).

`flightdeck run --headed --wait`, `flightdeck takeover RUN`, and the person clicks and types in
the Chromium window: that input never goes through `Engine.send_input`. The page reports it and
the engine records it as `takeover.input` (`source: "page"`).

The person here is Playwright's `page.mouse` / `page.keyboard`: they send CDP Input events, as
Chromium's window does for a person's hardware input, and the page sees them as trusted
(`isTrusted`), exactly like clicks and keystrokes in a headed window. The run is headless only
because these machines have no display."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from app.domain.events import EventType
from app.domain.states import RunStatus
from app.engine.ports import InputEvent
from app.engine.service import open_takeover
from app.store import handoffs, list_events, verify_events
from tests.integration.engine.conftest import Harness

PASSWORD = "demo-password"  # the hostile site's demo user

SIGN_IN = """
name: sign-in-by-hand
site: SITE
steps:
  - goto: /login?next=/members
  - fill: {target: {label: Username}, value: engine-typed}
  - id: sign-in
    click: {role: button, name: Sign in}
    effect: irreversible
    expect: {text: {target: {test_id: message}, equals: "Signed in as demo"}}
  - goto: /account
  - click: {role: heading, name: Account}
    expect: {visible: {role: heading, name: Account}}
"""


async def click(page: object, locator: object) -> None:
    box = await locator.bounding_box()  # type: ignore[attr-defined]
    assert box is not None
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]


async def test_input_in_the_window_is_recorded_in_order_with_the_password_masked(
    harness: Harness, tmp_path: Path
) -> None:
    harness.site.configure(cookie_banner=False)  # the person's clicks land on the form
    run_id = harness.submit(SIGN_IN)
    assert (await harness.engine.run(run_id, keep=True)).status is RunStatus.WAITING  # the approval
    assert not harness.engine.takeover_input.observing(run_id)
    takeover_id = harness.engine.take_over(run_id, by="ada")
    async with asyncio.timeout(10):  # the engine notices the takeover at once (it opened it)
        while not harness.engine.takeover_input.observing(run_id):
            await asyncio.sleep(0.02)
    session = harness.engine.page(run_id)
    assert session is not None
    page = session.page  # type: ignore[attr-defined]

    # The person, at the window: fixes the user name, types the password, signs in.
    await click(page, page.get_by_label("Username"))
    await page.keyboard.press("Control+a")
    await page.keyboard.type("demo")
    await click(page, page.get_by_label("Password"))
    await page.keyboard.type(PASSWORD)
    async with page.expect_navigation():
        await click(page, page.get_by_role("button", name="Sign in"))
    await page.wait_for_load_state()
    # Console input meanwhile is recorded once, as the console's.
    heading = await page.get_by_role("heading").first.bounding_box()
    at = InputEvent("click", x=heading["x"] + 2, y=heading["y"] + 2)
    await harness.engine.send_input(run_id, at, by="bob")

    assert harness.engine.hand_back(run_id, by="ada")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert not harness.engine.takeover_input.observing(run_id)

    with harness.db.session(readonly=True) as s:
        log = list_events(s, run_id)
        assert verify_events(s, run_id) is None  # the person's input is part of the chain
    types = [e.type for e in log]
    first = types.index(EventType.TAKEOVER_INPUT)
    last = len(types) - 1 - types[::-1].index(EventType.TAKEOVER_INPUT)
    # Nothing before the takeover, nothing after the hand-back (the engine's own goto and click).
    assert EventType.TAKEOVER_STARTED in types[:first]
    assert EventType.TAKEOVER_ENDED in types[last:]
    inputs = [e.data for e in log if e.type == EventType.TAKEOVER_INPUT]
    seen = [
        (d["source"], d["kind"], d.get("element", {}).get("field") or d.get("element", {}).get("tag"))
        for d in inputs
    ]
    assert seen == [
        ("page", "click", "username"),
        ("page", "change", "username"),
        ("page", "click", "password"),
        ("page", "change", "password"),
        ("page", "click", "button"),
        ("page", "submit", "form"),
        ("page", "navigated", None),
        ("console", "click", None),
    ], inputs
    user, password = (d for d in inputs if d["kind"] == "change")
    assert user["value"] == "demo" and not user["masked"]
    assert password["masked"] and password["value"] == "••••••"
    assert inputs[4]["element"] == {"tag": "button", "role": "button", "name": "Sign in"}
    assert inputs[5]["method"] == "POST" and inputs[5]["action"].endswith("/login")
    assert inputs[6]["url"].endswith("/members")
    assert all(d["handoff_id"] == takeover_id for d in inputs)
    assert [d["by"] for d in inputs] == ["ada"] * 7 + ["bob"]
    recorded = json.dumps(inputs)
    assert "engine-typed" not in recorded  # the engine's fill before the takeover
    assert "/account" not in recorded  # the engine's goto after the hand-back

    # The password is nowhere in what was written.
    assert harness.site.truth()["logins"] >= 1
    for path in tmp_path.rglob("flightdeck.db*"):
        assert PASSWORD.encode() not in path.read_bytes(), path


async def test_takeover_and_hand_back_from_another_process_while_the_run_waits_here(
    harness: Harness,
) -> None:
    """`flightdeck run --headed --wait` here; `flightdeck takeover` and `handback` elsewhere:
    they only write to the database (what `cmd_takeover` and `cmd_handback` call)."""
    harness.site.configure(cookie_banner=False)
    run_id = harness.submit(SIGN_IN)
    drive = asyncio.create_task(harness.engine.drive(run_id, wait=True))
    await harness.open_handoff(run_id)  # the approval: the run waits here, its page kept
    takeover_id = open_takeover(harness.db, run_id, by="ada")
    async with asyncio.timeout(10):
        while not harness.engine.takeover_input.observing(run_id):
            await asyncio.sleep(0.05)
    session = harness.engine.page(run_id)
    assert session is not None
    page = session.page  # type: ignore[attr-defined]
    await click(page, page.get_by_label("Username"))
    await page.keyboard.press("Control+a")
    await page.keyboard.type("demo")
    await click(page, page.get_by_label("Password"))
    await page.keyboard.type(PASSWORD)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    with harness.db.session() as s, s.begin():
        assert handoffs.answer_handoff(s, takeover_id, answer={"decision": "hand_back"}, by="ada")
    result = await asyncio.wait_for(drive, 30)
    assert result.status is RunStatus.SUCCEEDED, result.error
    with harness.db.session(readonly=True) as s:
        log = list_events(s, run_id)
        assert verify_events(s, run_id) is None
    inputs = [e.data for e in log if e.type == EventType.TAKEOVER_INPUT]
    assert [(d["kind"], d.get("key")) for d in inputs] == [
        ("click", None),
        ("change", None),
        ("click", None),
        ("change", None),
        ("key", "Enter"),
        ("click", None),  # Enter clicks the form's default button (implicit submission)
        ("submit", None),
        ("navigated", None),
    ], inputs
    assert inputs[3]["masked"] and inputs[5]["keyboard"]
    assert all(d["source"] == "page" and d["by"] == "ada" for d in inputs)
    assert PASSWORD not in json.dumps([e.data for e in log])

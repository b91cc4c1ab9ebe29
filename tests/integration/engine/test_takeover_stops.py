"""Takeover is a clean handover of control (issue 13, part 5): once a person has asked for the page,
the engine performs no further action on it — no cookie banner dismissed, no next attempt — and
never opens an intent under a person's control. The attempt in flight is closed in the record."""

from __future__ import annotations

import asyncio
from typing import Any

from app.domain.events import Event
from app.domain.states import RunStatus
from app.engine.ports import InputEvent
from app.store import handoffs, list_events, runs
from tests.integration.engine.conftest import Harness

NOTE = """
name: note-behind-a-banner
site: SITE
steps:
  - goto: /notes
  - fill: {target: {label: Title}, value: Taken over}
  - id: add
    click: {role: button, name: Add note}
    effect: write
"""


async def test_a_takeover_mid_step_stops_the_engine_before_its_next_action(harness: Harness) -> None:
    harness.site.configure(cookie_banner=True)  # the first click is intercepted by the banner
    taken: list[str] = []

    def take_over_when_obstructed(event: Event) -> None:
        # The person presses "Take over" right as the banner swallowed the click: the engine
        # would dismiss it and try again next.
        if (
            event.type == "attempt.finished"
            and event.data.get("failure_class") == "obstruction"
            and not taken
        ):
            taken.append(harness.engine.take_over(event.run_id, by="ada"))

    harness.engine.sinks.append(take_over_when_obstructed)
    run_id = harness.submit(NOTE)
    result = await harness.engine.run(run_id)

    assert taken, "no click was obstructed: the test needs the banner"
    assert result.status is RunStatus.WAITING
    with harness.db.session(readonly=True) as s:
        events: list[Any] = list_events(s, run_id)  # the record, whoever wrote each event
    kinds = [e.type for e in events]
    after = kinds[kinds.index("takeover.started") :]
    assert "obstruction.dismissed" not in after, kinds
    assert "action.intent" not in after and "attempt.started" not in after, kinds
    # Every intent opened before the takeover is closed: its attempt is finished in the record.
    intents = {(e.data["step"], e.data["attempt"]) for e in events if e.type == "action.intent"}
    finished = {(e.data["step"], e.data["attempt"]) for e in events if e.type == "attempt.finished"}
    assert intents <= finished, (intents, finished)
    assert harness.site.truth()["note_submissions"] == {}
    (handoff,) = harness.engine.open_handoffs(run_id)
    assert handoff.kind == "takeover" and handoff.id == taken[0]


MESSAGE = """
name: message
site: SITE
steps:
  - goto: /messages
  - fill: {target: {label: To}, value: bob}
  - fill: {target: {label: Message}, value: hi}
  - id: send
    click: {role: button, name: Send}
    expect: {text: {target: {test_id: sent-to}, equals: Sent to bob}}
"""


async def test_hand_back_re_checks_at_once_and_closes_the_approval_the_person_made_moot(
    harness: Harness,
) -> None:
    """The run waits for its approval of "Send", driven as the console and `run --wait` drive it.
    The operator takes over, presses Send themselves, and hands back: the run re-checks at once
    (nobody answers the approval), the approval is closed as done by the operator, and the step
    is recorded as theirs, proven by its expectation."""
    harness.site.configure(cookie_banner=False)  # the person's click should land on Send
    run_id = harness.submit(MESSAGE)
    driving = asyncio.create_task(harness.engine.drive(run_id, wait=True))
    approval = await harness.open_handoff(run_id)
    assert approval.kind == "approval"
    async with asyncio.timeout(10):  # the page is kept once the run has parked
        while run_id not in harness.engine.parked:
            await asyncio.sleep(0.02)
    harness.engine.take_over(run_id, by="ada")
    page = (await harness.engine.live_session(run_id)).page
    box = await page.get_by_role("button", name="Send").bounding_box()
    async with page.expect_navigation():
        await harness.engine.send_input(run_id, InputEvent("click", x=box["x"] + 5, y=box["y"] + 5), by="ada")
    assert harness.engine.hand_back(run_id, by="ada")
    result = await asyncio.wait_for(driving, 30)  # not the approval's deadline
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["messages"] == [{"to": "bob", "body": "hi"}]  # once: the person's
    with harness.db.session(readonly=True) as s:
        closed = handoffs.get_handoff(s, approval.id)
        assert closed is not None and closed.status == "cancelled" and closed.answer is None
        assert "done by ada during a takeover" in str(closed.comment or closed.payload)
        step = runs.get_step(s, run_id, 3)
        assert step is not None and step.evidence["by_operator"] is True
        assert step.evidence["done_by"] == "ada"
        assert step.evidence["checks"] and all(c["ok"] for c in step.evidence["checks"])

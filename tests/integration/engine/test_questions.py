"""Clarifications, the network guard and takeover against the hostile site."""

from __future__ import annotations

import asyncio

from app.domain.events import EventType
from app.domain.states import RunStatus
from app.engine.ports import InputEvent
from app.store import handoffs, list_events, list_learned, runs, verify_events
from tests.integration.engine.conftest import Harness

REMOVE = """
name: remove-member
site: SITE
steps:
  - goto: /team
  - id: remove
    click: {role: button, name: Remove}
    expect: {url: /team}
"""


async def test_ambiguous_target_asks_with_numbered_candidates_and_learns_the_pick(harness: Harness) -> None:
    run_id = harness.submit(REMOVE)
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(run_id)
    p = question.payload
    assert question.kind == "clarification" and p["reason"] == "ambiguous_target"
    assert [c["choice"] for c in p["candidates"]] == ["1", "2", "3"]
    assert all(c["box"] for c in p["candidates"])
    assert p["choices"][:3] == ["1", "2", "3"] and "fail" in p["choices"]
    assert harness.engine.artifacts.path(p["screenshot"]).exists()
    assert harness.site.truth()["removed"] == []

    harness.engine.answer(question.id, {"value": "2"}, by="tester")
    # Grace's Remove button is also recognised as irreversible ("remove"): it asks first.
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (approval,) = harness.engine.open_handoffs(run_id)
    assert approval.kind == "approval"
    harness.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    assert (await harness.engine.run(run_id)).status is RunStatus.SUCCEEDED
    assert harness.site.truth()["removed"] == ["Grace Hopper"]
    learned = harness.events_of(run_id, EventType.TARGET_LEARNED)
    assert learned and learned[0].data["by"] == "tester"
    with harness.db.session(readonly=True) as s:
        (row,) = list_learned(s, "remove-member")
        assert row.step_id == "remove" and row.source_run_id == run_id

        learned_target = dict(row.target)
    assert learned_target.get("within"), learned_target  # Grace's row, not "the 2nd Remove"

    # The next run of the task uses the learned target: it means Grace, who is gone now, so it
    # asks where the target is instead of removing whoever is second in the list.
    second = harness.submit(
        REMOVE.replace("steps:", "policy: {step_timeout: 1, retry: {maximum_attempts: 1}}\nsteps:")
    )
    result = await harness.engine.run(second)
    assert result.status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(second)
    assert question.payload["reason"] == "missing_target"
    assert harness.events_of(second, EventType.TARGET_SUBSTITUTED)
    assert harness.site.truth()["removed"] == ["Grace Hopper"]


async def test_missing_target_is_answered_by_pointing_at_the_element(harness: Harness) -> None:
    harness.site.configure(drift=True)  # the button is now "Save note"
    run_id = harness.submit(
        """
        name: drifted-note
        site: SITE
        policy: {step_timeout: 1.5, retry: {maximum_attempts: 1}}
        steps:
          - goto: /notes
          - fill: {target: {label: Title}, value: Pointed}
          - id: add
            click: {role: button, name: Add note}
            expect: {after_reload: {text: {target: {test_id: note, nth: -1}, equals: Pointed}}}
        """
    )
    assert (await harness.engine.run(run_id, keep=True)).status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(run_id)
    assert question.payload["reason"] == "missing_target"
    assert question.payload["accepts"] == ["target", "point"]
    box = (
        await (await harness.engine.live_session(run_id))
        .page.get_by_role("button", name="Save note")
        .bounding_box()
    )
    harness.engine.answer(
        question.id, {"point": [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2]}, by="tester"
    )
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["note_submissions"]["Pointed"] == 1
    (learned,) = harness.events_of(run_id, EventType.TARGET_LEARNED)
    assert "Save note" in learned.data["target"] or "save-note" in learned.data["target"]


async def test_unexpected_result_can_be_skipped_by_the_person(harness: Harness) -> None:
    run_id = harness.submit(
        """
        name: skip
        site: SITE
        steps:
          - goto: /notes
          - id: check
            assert: {text: {target: {test_id: note, nth: 0}, equals: "Not there"}}
            timeout: 1
          - goto: /shop
        """
    )
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(run_id)
    assert question.payload["reason"] == "unexpected"
    harness.engine.answer(question.id, {"value": "skip"}, by="tester")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED
    with harness.db.session(readonly=True) as s:
        assert [st.status for st in runs.get_steps(s, run_id)] == ["succeeded", "skipped", "succeeded"]


async def test_a_missing_input_is_asked_for_and_kept_with_the_run(harness: Harness) -> None:
    task = """
    name: needs-title
    site: SITE
    inputs: {title: {type: string, description: "the note's title"}}
    steps:
      - goto: /notes
      - fill: {target: {label: Title}, value: "{{ title }}"}
      - click: {role: button, name: Add note}
    """
    from tests.helpers.tasks import task_from

    parsed, snapshot = task_from(task, harness.site.base_url)
    run_id = harness.engine.submit(parsed, snapshot, parsed.resolve_inputs({}, allow_missing=True))
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(run_id)
    assert question.payload["reason"] == "missing_input" and question.payload["input"] == "title"
    harness.engine.answer(question.id, {"value": "Asked for"}, by="tester")
    assert (await harness.engine.run(run_id)).status is RunStatus.SUCCEEDED
    assert harness.site.truth()["note_submissions"]["Asked for"] == 1
    with harness.db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        assert run is not None and run.inputs == {"title": "Asked for"}


GUARDED = """
name: report
site: SITE
POLICY
steps:
  - goto: /report
  - id: show
    click: {test_id: show-report}
    effect: read
    expect: {text: {target: {role: status}, equals: Report loaded}}
"""


async def test_a_write_during_a_read_step_is_held_and_denied(harness: Harness) -> None:
    run_id = harness.submit(GUARDED.replace("POLICY", ""))
    running = asyncio.create_task(harness.engine.run(run_id))
    held = await harness.open_handoff(run_id)
    assert held.kind == "approval"
    assert held.payload["request"]["method"] == "POST" and held.payload["request"]["url"].endswith(
        "/api/track"
    )
    with harness.db.session(readonly=True) as s:
        assert runs.get_run(s, run_id).status is RunStatus.WAITING  # type: ignore[union-attr]
    assert harness.site.truth()["tracked"] == []  # held: it has not reached the server
    harness.engine.answer(held.id, {"decision": "deny"}, by="tester")
    result = await asyncio.wait_for(running, 30)
    assert result.status is RunStatus.FAILED and result.failure_class == "denied"
    assert "/api/track" in (result.error or "")
    assert harness.site.truth()["tracked"] == []  # aborted: it never reached the server
    assert harness.events_of(run_id, EventType.REQUEST_BLOCKED)


async def test_an_approved_held_request_goes_through_once(harness: Harness) -> None:
    run_id = harness.submit(GUARDED.replace("POLICY", ""))
    running = asyncio.create_task(harness.engine.run(run_id))
    held = await harness.open_handoff(run_id)
    harness.engine.answer(held.id, {"decision": "approve"}, by="tester")
    result = await asyncio.wait_for(running, 30)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["tracked"] == ["report_viewed"]
    assert harness.events_of(run_id, EventType.REQUEST_RELEASED)


async def test_an_allowlisted_request_is_not_held(harness: Harness) -> None:
    result = await harness.run(GUARDED.replace("POLICY", "policy: {allow_requests: ['**/api/track']}"))
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["tracked"] == ["report_viewed"]
    assert not harness.events_of(result.run_id, EventType.REQUEST_HELD)


async def test_takeover_then_hand_back_completes_the_step_done_by_the_person(harness: Harness) -> None:
    harness.site.configure(cookie_banner=False)  # the person's click should land on Send
    run_id = harness.submit(
        """
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
    )
    assert (await harness.engine.run(run_id, keep=True)).status is RunStatus.WAITING  # "Send": approval
    takeover_id = harness.engine.take_over(run_id, by="operator")
    page = (await harness.engine.live_session(run_id)).page
    box = await page.get_by_role("button", name="Send").bounding_box()
    async with page.expect_navigation():
        record = await harness.engine.send_input(
            run_id, InputEvent("click", x=box["x"] + 5, y=box["y"] + 5), by="operator"
        )
    assert record["kind"] == "click"
    assert harness.site.truth()["messages"] == [{"to": "bob", "body": "hi"}]
    assert harness.engine.hand_back(run_id, by="operator")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["messages"] == [{"to": "bob", "body": "hi"}]  # not sent twice
    finished = [e for e in harness.events_of(run_id, EventType.STEP_FINISHED) if e.data["step"] == "send"]
    assert finished[-1].data.get("by_operator") is True
    with harness.db.session(readonly=True) as s:
        inputs = [e for e in list_events(s, run_id) if e.type == EventType.TAKEOVER_INPUT]
        assert inputs and inputs[0].data["by"] == "operator" and inputs[0].data["kind"] == "click"
        assert verify_events(s, run_id) is None  # the operator's input is part of the chain
        kinds = {h.id: (h.kind, h.status) for h in handoffs.list_handoffs(s, run_id=run_id, status=None)}
    assert kinds[takeover_id] == ("takeover", "answered")
    assert ("approval", "open") not in kinds.values()  # the pending approval no longer applies


async def test_a_page_that_cannot_be_rebuilt_asks_the_person(harness: Harness) -> None:
    run_id = harness.submit(
        """
        name: rebuild
        site: SITE
        policy: {step_timeout: 1, retry: {maximum_attempts: 1}}
        steps:
          - goto: /notes
          - wait_for: {test_id: add-note}
          - ask: {question: "Go on?", choices: ["yes", "no"]}
          - goto: /shop
        """
    )
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING  # the ask; page not kept
    (ask,) = harness.engine.open_handoffs(run_id)
    harness.site.configure(drift=True)  # the page the run relied on has changed meanwhile
    harness.engine.answer(ask.id, {"value": "yes"}, by="tester")
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (recovery,) = harness.engine.open_handoffs(run_id)
    assert recovery.kind == "recovery" and recovery.payload["choices"] == [
        "retry",
        "skip",
        "fail",
        "takeover",
    ]
    assert "add-note" in recovery.question
    harness.engine.answer(recovery.id, {"value": "skip"}, by="tester")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error

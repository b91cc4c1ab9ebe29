"""Approvals against the hostile site: recognised by policy, previewed, bound to the exact action,
edited, timed out — judged by the server's own truth."""

from __future__ import annotations

import asyncio

from app.domain.events import EventType
from app.domain.states import RunStatus
from app.store import handoffs, runs
from tests.helpers.secrets_shown import without_random_ids
from tests.integration.engine.conftest import Harness

CHECKOUT = """
name: checkout
site: SITE
POLICY
steps:
  - goto: /checkout
  - fill: {target: {label: Name on card}, value: Ada Lovelace}
  - fill: {target: {label: Card number}, value: "4111 1111 1111 1111"}
  - fill: {target: {label: CVV}, value: "123"}
  - id: pay
    click: {role: button, name: Pay now}
    expect: {text: {target: {test_id: last4}, equals: "1111"}}
"""


def checkout(policy: str = "") -> str:
    return CHECKOUT.replace("POLICY", f"policy: {policy}" if policy else "")


async def test_pay_button_is_recognised_and_previewed_with_secrets_masked(harness: Harness) -> None:
    run_id = harness.submit(checkout())
    waiting = await harness.engine.run(run_id)
    assert waiting.status is RunStatus.WAITING
    assert harness.site.truth()["payments"] == []  # nothing fired
    (approval,) = harness.engine.open_handoffs(run_id)
    preview = approval.payload
    assert approval.kind == "approval" and approval.step_index == 4
    assert "pay" in preview["reason"].lower()
    assert preview["target"]["description"] == 'button "Pay now"'
    assert preview["target"]["box"] and preview["target"]["box"][2] > 0
    fields = {f["name"]: f for f in preview["fields"]}
    assert fields["name"]["value"] == "Ada Lovelace" and not fields["name"]["masked"]
    assert fields["card_number"]["masked"] and fields["cvv"]["masked"]
    assert preview["expected_request"]["method"] == "POST"
    assert preview["expected_request"]["url"].endswith("/checkout")
    shot = harness.engine.artifacts.path(preview["screenshot"])
    assert shot.exists() and shot.stat().st_size > 1000
    assert approval.deadline is not None and approval.default_answer == {"decision": "deny"}
    recognised = harness.events_of(run_id, EventType.IRREVERSIBLE_RECOGNISED)
    assert recognised and "Pay" in recognised[0].data["reason"]

    assert harness.engine.answer(approval.id, {"decision": "approve"}, by="ops-lead")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert [p["last4"] for p in harness.site.truth()["payments"]] == ["1111"]
    used = harness.events_of(run_id, EventType.APPROVAL_USED)
    assert used and used[0].data["by"] == "ops-lead"
    # The card number and CVV were shown masked: the approval's record holds neither.
    with harness.db.session(readonly=True) as s:
        (h,) = handoffs.list_handoffs(s, run_id=run_id, status=None)
        shown = without_random_ids(str(h.payload))  # a screenshot's hash may hold any digits
    assert "4111" not in shown and "'123'" not in shown
    # The CVV field's check is recorded without its value (it is a password field).
    assert not any('"123"' in str(e.data) for e in harness.events_of(run_id, EventType.ATTEMPT_FINISHED))


async def test_an_approval_is_void_when_the_values_change_before_it_is_used(harness: Harness) -> None:
    run_id = harness.submit(checkout())
    await harness.engine.run(run_id, keep=True)  # the page stays live while it waits
    (first,) = harness.engine.open_handoffs(run_id)
    page = (await harness.engine.live_session(run_id)).page
    await page.get_by_label("Name on card").fill("Mallory")  # someone changes the form meanwhile
    harness.engine.answer(first.id, {"decision": "approve"}, by="tester")
    again = await harness.engine.run(run_id, keep=True)
    assert again.status is RunStatus.WAITING
    assert harness.site.truth()["payments"] == []  # the old yes did not fire the new values
    (second,) = harness.engine.open_handoffs(run_id)
    assert second.id != first.id and second.action_hash != first.action_hash
    assert {f["name"]: f["value"] for f in second.payload["fields"]}["name"] == "Mallory"
    assert harness.events_of(run_id, EventType.APPROVAL_VOID)
    harness.engine.answer(second.id, {"decision": "approve"}, by="tester")
    done = await harness.engine.run(run_id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert [p["name"] for p in harness.site.truth()["payments"]] == ["Mallory"]


async def test_edit_values_then_approve_submits_the_edited_values(harness: Harness) -> None:
    run_id = harness.submit(checkout())
    await harness.engine.run(run_id)
    (approval,) = harness.engine.open_handoffs(run_id)
    harness.engine.answer(approval.id, {"decision": "approve", "values": {"name": "Grace Hopper"}}, by="t")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert [p["name"] for p in harness.site.truth()["payments"]] == ["Grace Hopper"]
    assert harness.events_of(run_id, EventType.APPROVAL_USED)[0].data["edited"] == ["name"]


async def test_an_unanswered_approval_is_denied_at_its_deadline(harness: Harness) -> None:
    run_id = harness.submit(checkout("{approval_timeout: 0.5}"))
    result = await asyncio.wait_for(harness.engine.drive(run_id, wait=True), 30)
    assert result.status is RunStatus.FAILED and result.failure_class == "denied"
    assert "deadline" in (result.error or "")
    assert harness.site.truth()["payments"] == []
    with harness.db.session(readonly=True) as s:
        (h,) = handoffs.list_handoffs(s, run_id=run_id, status=None)
        assert h.status == "expired" and h.answered_by == "deadline"


async def test_approval_policy_none_fires_without_asking_and_says_so(harness: Harness) -> None:
    result = await harness.run(checkout("{approval: none}"))
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(harness.site.truth()["payments"]) == 1
    (notice,) = harness.events_of(result.run_id, EventType.POLICY_NOTICE)
    assert notice.data["approval"] == "none"


async def test_all_writes_policy_asks_before_an_ordinary_save(harness: Harness) -> None:
    run_id = harness.submit(
        """
        name: note
        site: SITE
        policy: {approval: all-writes}
        steps:
          - goto: /notes
          - fill: {target: {label: Title}, value: Careful}
          - click: {role: button, name: Add note}
        """
    )
    waiting = await harness.engine.run(run_id)
    assert waiting.status is RunStatus.WAITING
    assert "Careful" not in harness.site.truth()["note_submissions"]
    (approval,) = harness.engine.open_handoffs(run_id)
    assert "all-writes" in approval.payload["reason"]


async def test_task_rules_extend_the_defaults(harness: Harness) -> None:
    # "Add note" is not irreversible by the built-in words; this task says it is.
    run_id = harness.submit(
        """
        name: note
        site: SITE
        policy: {approval_rules: {words: [add note]}}
        steps:
          - goto: /notes
          - fill: {target: {label: Title}, value: Ruled}
          - click: {role: button, name: Add note}
        """
    )
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (approval,) = harness.engine.open_handoffs(run_id)
    assert "add note" in approval.payload["reason"].lower()


async def test_a_waiting_run_holds_no_slot(harness: Harness) -> None:
    harness.engine.slots = asyncio.Semaphore(1)  # one slot in all
    parked = harness.submit(checkout())
    assert (await harness.engine.run(parked, keep=True)).status is RunStatus.WAITING
    other = await asyncio.wait_for(
        harness.run("name: look\nsite: SITE\nsteps:\n  - goto: /shop\n"), 30
    )  # would hang if the waiting run held the only slot
    assert other.status is RunStatus.SUCCEEDED
    assert harness.engine.busy_slots == 0


async def test_answer_from_the_same_process_continues_a_waiting_drive(harness: Harness) -> None:
    run_id = harness.submit(checkout())
    drive = asyncio.create_task(harness.engine.drive(run_id, wait=True))
    approval = await harness.open_handoff(run_id)
    harness.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    result = await asyncio.wait_for(drive, 30)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(harness.site.truth()["payments"]) == 1


async def test_cancelling_a_waiting_run_ends_its_wait_and_frees_its_page(harness: Harness) -> None:
    run_id = harness.submit(checkout())
    drive = asyncio.create_task(harness.engine.drive(run_id, wait=True))
    await harness.open_handoff(run_id)
    harness.engine.cancel(run_id)
    result = await asyncio.wait_for(drive, 30)
    assert result.status is RunStatus.CANCELLED
    assert await harness.engine.live_session(run_id) is None
    assert harness.site.truth()["payments"] == []
    with harness.db.session(readonly=True) as s:
        (h,) = handoffs.list_handoffs(s, run_id=run_id, status=None)
        assert h.status == "cancelled"


async def test_a_run_paused_while_waiting_is_not_continued_by_the_answer(harness: Harness) -> None:
    run_id = harness.submit(checkout())
    drive = asyncio.create_task(harness.engine.drive(run_id, wait=True))
    approval = await harness.open_handoff(run_id)
    harness.engine.pause(run_id)
    harness.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    result = await asyncio.wait_for(drive, 30)
    assert result.status is RunStatus.PAUSED
    assert harness.site.truth()["payments"] == []  # paused: resumed by a person, not by the answer
    resumed = await harness.engine.drive(run_id, wait=False)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert len(harness.site.truth()["payments"]) == 1


DELETE_ITEM = """
name: delete-item
site: SITE
inputs: {item: integer}
steps:
  - goto: /items
  - extract: {target: {css: "[data-id='{{ item }}'] span"}, into: name}
  - click: {test_id: "delete-{{ item }}"}
    effect: write
    expect: {url: "/items/{{ item }}/delete"}
  - id: confirm-delete
    click: {role: button, name: "Yes, delete"}
    effect: irreversible
    description: "Permanently delete {{ name }} (item {{ item }})"
    expect:
      after_reload:
        goto: /items
        hidden: {text: "{{ name }}", exact: true}
"""


async def test_an_approval_shows_its_step_description_with_the_runs_inputs_and_outputs(
    harness: Harness,
) -> None:
    run_id = harness.submit(DELETE_ITEM, {"item": 2})
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (approval,) = harness.engine.open_handoffs(run_id)
    assert approval.question == "Approve: Permanently delete Invoice 1002 (item 2)?"
    assert approval.payload["description"] == "Permanently delete Invoice 1002 (item 2)"
    assert approval.payload["step"]["description"] == "Permanently delete Invoice 1002 (item 2)"
    with harness.db.session(readonly=True) as s:
        shown = [step.summary for step in runs.get_steps(s, run_id)]
    assert shown[2] == 'click test_id="delete-2"'  # what ran, not the template

    harness.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    assert (await harness.engine.run(run_id)).status is RunStatus.SUCCEEDED
    assert harness.site.truth()["deletions"] == {"2": 1}

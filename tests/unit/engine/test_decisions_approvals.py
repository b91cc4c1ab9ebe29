"""Approval voiding, on a scripted page: an approval bound to an action (G4) is closed without
firing when it no longer applies — made moot because the step's expectation already holds when
the run wakes (a person did it during a takeover), or asked again because the page changed
under it while it waited."""

from __future__ import annotations

from app.domain.events import EventType
from app.domain.states import RunStatus
from app.domain.task import Action, Step
from tests.helpers.scripted_browser import Element, Reply, ScriptedSession, button, by_test_id, label, textbox
from tests.unit.engine.conftest import Scripted

MESSAGE = """
name: message
site: SITE
steps:
  - goto: /messages
  - fill: {target: {label: To}, value: bob}
  - fill: {target: {label: Message}, value: hi}
  - id: send
    click: {role: button, name: Send}
    effect: irreversible
    expect: {text: {target: {test_id: sent-to}, equals: Sent to bob}}
"""
SEND = 3


def messenger(scripted: Scripted) -> None:
    """A message form; once a message went out, the page says to whom."""
    site = scripted.site
    site.state.update(sent=[], send_id="send-v1")

    def render(state: dict[str, object]) -> dict[str, Element]:
        shown = {
            label("To"): textbox(),
            label("Message"): textbox(),
            button("Send"): Element(
                form_method="POST", form_action="/messages", identity=str(state["send_id"])
            ),
        }
        sent = state["sent"]
        assert isinstance(sent, list)
        if sent:
            shown[by_test_id("sent-to")] = Element(text=f"Sent to {sent[-1][0]}", tag="p", role="status")
        return shown

    def send(state: dict[str, list[tuple[str, str]]], page: ScriptedSession) -> None:
        state["sent"].append((page.value(label("To")), page.value(label("Message"))))

    site.page("/messages", render)
    site.on_click(button("Send"), send, Reply(303))


async def test_an_approval_the_person_made_moot_during_a_takeover_is_voided(scripted: Scripted) -> None:
    messenger(scripted)
    run_id = scripted.submit(MESSAGE)
    waiting = await scripted.engine.run(run_id)
    assert waiting.status is RunStatus.WAITING
    (approval,) = scripted.engine.open_handoffs(run_id)
    assert approval.kind == "approval" and approval.step_index == SEND

    scripted.engine.take_over(run_id, by="ada")
    scripted.site.state["sent"].append(("bob", "hi"))  # ada sends it herself
    assert scripted.engine.hand_back(run_id, by="ada")
    result = await scripted.engine.run(run_id)  # nobody answered the approval

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert scripted.site.posts("/messages") == 0  # the engine sent nothing: the person did
    closed = scripted.handoff(approval.id)
    assert closed.status == "cancelled" and closed.answer is None
    assert "done by ada during a takeover" in str(closed.comment or closed.payload)
    step = scripted.step(run_id, SEND)
    assert step.evidence["by_operator"] is True and step.evidence["done_by"] == "ada"
    assert step.evidence["checks"] and all(c["ok"] for c in step.evidence["checks"])
    assert scripted.events_of(run_id, EventType.APPROVAL_USED) == []
    assert scripted.engine.verify(run_id) is None


async def test_an_approval_whose_page_changed_while_it_waited_is_voided_and_asked_again(
    scripted: Scripted,
) -> None:
    messenger(scripted)
    run_id = scripted.submit(MESSAGE)
    await scripted.engine.run(run_id)
    (first,) = scripted.engine.open_handoffs(run_id)

    scripted.site.state["send_id"] = "send-v2"  # the site swapped the button meanwhile
    again = await scripted.engine.run(run_id)
    assert again.status is RunStatus.WAITING and scripted.site.posts("/messages") == 0
    assert scripted.handoff(first.id).status == "cancelled"
    (void,) = scripted.events_of(run_id, EventType.APPROVAL_VOID)
    assert void.data["handoff_id"] == first.id
    (second,) = scripted.engine.open_handoffs(run_id)
    assert second.kind == "approval" and second.id != first.id
    assert second.action_hash != first.action_hash

    scripted.engine.answer(second.id, {"decision": "approve"}, by="ada")
    done = await scripted.engine.run(run_id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert scripted.site.state["sent"] == [("bob", "hi")] and scripted.site.posts("/messages") == 1
    (used,) = scripted.events_of(run_id, EventType.APPROVAL_USED)
    assert used.data["handoff_id"] == second.id


async def test_an_approval_given_for_another_page_never_fires_this_one(scripted: Scripted) -> None:
    messenger(scripted)
    run_id = scripted.submit(MESSAGE)
    await scripted.engine.run(run_id)
    (first,) = scripted.engine.open_handoffs(run_id)
    scripted.engine.answer(first.id, {"decision": "approve"}, by="ada")

    scripted.site.state["send_id"] = "send-v2"  # changed after the yes, before it was used
    again = await scripted.engine.run(run_id)
    assert again.status is RunStatus.WAITING and scripted.site.posts("/messages") == 0
    voids = scripted.events_of(run_id, EventType.APPROVAL_VOID)
    assert [v.data["handoff_id"] for v in voids] == [first.id]
    assert "changed since it was approved" in voids[0].data["reason"]
    (second,) = scripted.engine.open_handoffs(run_id)
    assert second.kind == "approval" and second.id != first.id


async def test_a_run_paused_as_it_reaches_an_irreversible_step_asks_nothing(scripted: Scripted) -> None:
    """Paused by the operator while the step before ran: the run stops there; no approval opens
    on a paused run (its countdown would run while nobody is meant to be asked), and resuming
    asks it then."""
    messenger(scripted)
    run_id = scripted.submit(MESSAGE)

    def pause_while_typing(step: Step) -> None:
        if step.action is Action.FILL and step.args.value == "hi":  # the step before "send"
            scripted.engine.pause(run_id)

    scripted.site.before_act = pause_while_typing
    paused = await scripted.engine.run(run_id)
    scripted.site.before_act = None
    assert paused.status is RunStatus.PAUSED, paused.error
    assert scripted.handoffs(run_id) == [] and scripted.site.posts("/messages") == 0

    scripted.engine.requeue(run_id)
    waiting = await scripted.engine.run(run_id)
    assert waiting.status is RunStatus.WAITING
    (approval,) = scripted.engine.open_handoffs(run_id)
    assert approval.kind == "approval" and approval.step_index == SEND

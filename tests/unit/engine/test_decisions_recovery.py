"""Recovery's settle after a crash, on a scripted page: an attempt with an intent and no outcome
(the process died between dispatching a write and recording what came back) is re-read, never
sent again blindly — done when its expectation holds, done now when its re-read proves it absent
(a write), a person asked when nothing can tell (no re-read, or an irreversible step).

The crash is the record state a kill leaves, written with the store's own functions: the run
`running` under an owner whose process is gone, the step's attempt with its intent and no
outcome. The run then resumes as after a restart: start-up recovery, then `Engine.run` with a
new browser session (nothing typed survives; what the server stored does)."""

from __future__ import annotations

import subprocess

import pytest

from app.domain.events import EventType
from app.domain.states import AttemptOutcome, RunStatus
from app.domain.task import Action, Step
from app.engine.owner import new_owner_id
from app.store import attempts, events, leases, runs
from tests.helpers.scripted_browser import Element, ScriptedSession, button, by_test_id, label, textbox
from tests.unit.engine.conftest import Scripted

STEPS = """steps:
  - goto: /issues/1
  - fill: {target: {label: Comment}, value: Toner replaced}
  - id: comment
    click: {role: button, name: Add comment}
"""
REREAD = "    expect: {after_reload: {text: {target: {test_id: comment, nth: -1}, equals: Toner replaced}}}\n"
EFFECTS = {
    "write": "    effect: write\n" + REREAD,
    "blind": "    effect: write\n",
    "irreversible": "    effect: irreversible\n" + REREAD,
}
COMMENT = 2


def tracker(scripted: Scripted) -> None:
    site = scripted.site
    site.state["comments"] = []

    def render(state: dict[str, list[str]]) -> dict[str, Element]:
        shown = {
            label("Comment"): textbox(),
            button("Add comment"): Element(form_method="POST", form_action="/issues/1"),
        }
        if state["comments"]:
            shown[by_test_id("comment")] = Element(text=state["comments"][-1], tag="li", role="listitem")
        return shown

    def add(state: dict[str, list[str]], page: ScriptedSession) -> None:
        state["comments"].append(page.value(label("Comment")))

    site.page("/issues/1", render)
    site.on_click(button("Add comment"), add)


def dead_owner() -> str:
    """The owner id of a process on this host that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    host = new_owner_id().split(":", 1)[0]
    return f"{host}:{proc.pid}:deadbeef"


async def crashed_while_commenting(scripted: Scripted, effect: str, *, applied: bool) -> str:
    """Run the task until step `comment` is about to fire, then leave what a kill -9 right
    after its dispatch leaves. `applied`: the site stored the comment before the process died."""
    tracker(scripted)
    # Approvals off: the crash comes after the approval was used, and what decides the settle
    # is the step's effect alone (an irreversible step is never sent again without a person).
    policy = "policy: {approval: none}\n" if effect == "irreversible" else ""
    run_id = scripted.submit("name: comment\nsite: SITE\n" + policy + STEPS + EFFECTS[effect])

    def pause_before_commenting(step: Step) -> None:
        if step.action is Action.FILL:  # the step before: the run stops before the next one fires
            scripted.engine.pause(run_id)

    scripted.site.before_act = pause_before_commenting
    paused = await scripted.engine.run(run_id)
    scripted.site.before_act = None
    assert paused.status is RunStatus.PAUSED, paused.error
    assert scripted.site.posts() == 0 and scripted.attempts(run_id, COMMENT) == []

    with scripted.db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        assert run is not None and run.checkpoint["next_step"] == COMMENT
        runs.transition(s, run, RunStatus.QUEUED, reason="resumed")
        runs.transition(s, run, RunStatus.RUNNING, reason="resumed")
        assert leases.claim(s, run_id, dead_owner(), 30)
        data = {"step": "comment", "index": COMMENT, "attempt": 1}
        events.append_events(
            s,
            run_id,
            [(EventType.ATTEMPT_STARTED, {**data, "action": "click"}), (EventType.ACTION_INTENT, data)],
        )
        attempt = attempts.start_attempt(s, run_id, COMMENT, 1, scripted.site.url("/issues/1"))
        attempts.mark_intent(s, attempt)
    if applied:  # dispatched, and the site stored it; then the process died
        scripted.site.state["comments"].append("Toner replaced")
        scripted.site.received.append(("POST", "/issues/1", 303))
    return run_id


async def resume(scripted: Scripted, run_id: str) -> RunStatus:
    assert scripted.engine.recover() == [run_id]  # start-up: found running, its owner dead
    result = await scripted.engine.run(run_id)
    return result.status


@pytest.mark.parametrize("effect", ["write", "irreversible"])
async def test_an_intent_whose_expectation_holds_is_done_without_sending_again(
    scripted: Scripted, effect: str
) -> None:
    run_id = await crashed_while_commenting(scripted, effect, applied=True)
    assert await resume(scripted, run_id) is RunStatus.SUCCEEDED
    assert scripted.site.posts("/issues/1") == 1  # the one before the crash
    assert scripted.site.state["comments"] == ["Toner replaced"]
    (attempt,) = scripted.attempts(run_id, COMMENT)
    assert attempt.outcome is AttemptOutcome.UNKNOWN and attempt.failure_class == "ambiguous_outcome"
    assert attempt.checks and all(c["ok"] for c in attempt.checks)  # what proved it
    step = scripted.step(run_id, COMMENT)
    assert step.status == "succeeded" and step.evidence["verified_after_recovery"] is True
    assert scripted.handoffs(run_id) == []
    recovered = scripted.events_of(run_id, EventType.RUN_RECOVERED)
    assert recovered and recovered[0].data["next_step"] == COMMENT
    assert scripted.engine.verify(run_id) is None


async def test_a_write_whose_re_read_finds_it_absent_is_done_now(scripted: Scripted) -> None:
    run_id = await crashed_while_commenting(scripted, "write", applied=False)
    assert await resume(scripted, run_id) is RunStatus.SUCCEEDED
    assert scripted.site.posts("/issues/1") == 1 and scripted.site.state["comments"] == ["Toner replaced"]
    first, second = scripted.attempts(run_id, COMMENT)
    assert first.outcome is AttemptOutcome.UNKNOWN and not all(c["ok"] for c in first.checks)
    assert second.outcome is AttemptOutcome.SUCCEEDED


@pytest.mark.parametrize(
    ("effect", "applied"),
    [("blind", True), ("blind", False), ("irreversible", False)],
    ids=["no re-read, applied", "no re-read, not applied", "irreversible, re-read absent"],
)
async def test_an_intent_nothing_can_settle_asks_a_person(
    scripted: Scripted, effect: str, applied: bool
) -> None:
    run_id = await crashed_while_commenting(scripted, effect, applied=applied)
    assert await resume(scripted, run_id) is RunStatus.WAITING
    assert scripted.site.posts("/issues/1") == (1 if applied else 0)  # nothing sent after the crash
    (asked,) = scripted.engine.open_handoffs(run_id)
    assert asked.kind == "verification" and asked.step_index == COMMENT
    assert asked.question.startswith("The run was interrupted right after") and asked.question.endswith(
        "Did it happen?"
    )
    assert asked.payload["attempts"] == [1] and asked.payload["choices"] == ["done", "not_done"]
    (attempt,) = scripted.attempts(run_id, COMMENT)
    assert attempt.outcome is AttemptOutcome.UNKNOWN  # settled by the question, in its transaction

    # "It happened": the step is done as it is, nothing sent again.
    scripted.engine.answer(asked.id, {"decision": "done"}, by="ada")
    done = await scripted.engine.run(run_id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert scripted.site.posts("/issues/1") == (1 if applied else 0)
    step = scripted.step(run_id, COMMENT)
    assert step.evidence["by_operator"] is True and step.evidence["done_by"] == "ada"

"""Diagnose → retry / ask / stop, decided on a scripted page (no Chromium): a transient failure
is retried within the policy's budget, a missing target asks the person where it is, repeating
an action that changes nothing asks whether the run is stuck, and a policy that asks nobody
(`ask_on: []`) fails instead. Judged by the run's record, as the real-Chromium tests
(tests/integration/engine/test_hostile_site_runs.py) judge theirs."""

from __future__ import annotations

import pytest

from app.domain.errors import FailureClass
from app.domain.events import EventType
from app.domain.states import AttemptOutcome, RunStatus
from app.engine.service import RunResult
from tests.helpers.scripted_browser import (
    NOTHING,
    Element,
    Reply,
    ScriptedSession,
    button,
    by_test_id,
    label,
    textbox,
)
from tests.unit.engine.conftest import Scripted

FAST = "retry: {maximum_attempts: %d, initial_interval: 0.01, maximum_interval: 0.02}"

ORDER = """
name: place-order
site: SITE
policy: {%s}
steps:
  - goto: /order
  - fill: {target: {label: Quantity}, value: "3"}
  - id: place
    click: {role: button, name: Place order}
    effect: write
    expect: {request: {method: POST, url: "**/api/order", status: 201}}
"""


def order_site(scripted: Scripted, *replies: Reply) -> None:
    site = scripted.site
    site.state["orders"] = []
    site.page("/order", lambda st: {label("Quantity"): textbox(), button("Place order"): Element()})

    def place(state: dict[str, list[str]], page: ScriptedSession) -> None:
        state["orders"].append(page.value(label("Quantity")))

    site.on_click(button("Place order"), place, *replies)


def api(status: int, **more: object) -> Reply:
    return Reply(status, path="/api/order", document=False, **more)  # type: ignore[arg-type]


async def test_a_transient_failure_is_retried_within_the_budget(scripted: Scripted) -> None:
    order_site(scripted, api(503), api(429, retry_after=0.01), api(201))
    result = await scripted.run(ORDER % (FAST % 3))
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert scripted.site.posts("/api/order") == 3 and scripted.site.state["orders"] == ["3"]
    retries = scripted.events_of(result.run_id, EventType.RETRY_SCHEDULED)
    assert [(e.data["attempt"], e.data["failure_class"]) for e in retries] == [
        (2, "transient"),
        (3, "transient"),
    ]
    tried = scripted.attempts(result.run_id, 2)
    assert [a.outcome for a in tried] == [
        AttemptOutcome.FAILED,
        AttemptOutcome.FAILED,
        AttemptOutcome.SUCCEEDED,
    ]
    assert [a.failure_class for a in tried] == ["transient", "transient", None]
    # Turned away (503, 429): nothing was applied, so nothing was re-read before sending again.
    assert scripted.events_of(result.run_id, EventType.STEP_REREAD) == []
    assert scripted.step(result.run_id, 2).attempts == 3
    assert scripted.engine.verify(result.run_id) is None


async def test_a_transient_failure_past_the_budget_fails_the_run(scripted: Scripted) -> None:
    order_site(scripted, api(503))
    result = await scripted.run(ORDER % (FAST % 2))
    assert result.status is RunStatus.FAILED and result.failure_class == "transient"
    assert "returned 503" in (result.error or "")
    assert scripted.site.posts("/api/order") == 2 and scripted.site.state["orders"] == []
    assert len(scripted.events_of(result.run_id, EventType.RETRY_SCHEDULED)) == 1
    assert scripted.handoffs(result.run_id) == []  # a transient failure is nobody's question


async def test_a_permanent_failure_is_never_retried(scripted: Scripted) -> None:
    order_site(scripted, api(422))
    result = await scripted.run(ORDER % (FAST % 4))
    assert result.status is RunStatus.FAILED and result.failure_class == "permanent"
    assert scripted.site.posts("/api/order") == 1
    assert scripted.events_of(result.run_id, EventType.RETRY_SCHEDULED) == []


# ----------------------------------------------------------------- missing target
ARCHIVE = """
name: archive
site: SITE
policy: {%s}
steps:
  - goto: /notes
  - id: archive
    click: {role: button, name: Archive}
    expect: {text: {target: {test_id: status}, equals: Archived}}
"""


def notes_site(scripted: Scripted, archive_name: str) -> None:
    """The notes page, whose archive button is called `archive_name` (the task says Archive)."""
    site = scripted.site
    site.state["archived"] = False

    def render(state: dict[str, bool]) -> dict[str, Element]:
        shown = {button(archive_name): Element(), label("Title"): textbox()}
        if state["archived"]:
            shown[by_test_id("status")] = Element(text="Archived", tag="p", role="status")
        return shown

    def archive(state: dict[str, bool], page: ScriptedSession) -> None:
        state["archived"] = True

    site.page("/notes", render)
    site.on_click(button(archive_name), archive, Reply(303))


async def test_a_missing_target_asks_where_it_is_and_learns_the_answer(scripted: Scripted) -> None:
    notes_site(scripted, "Move to archive")
    run_id = scripted.submit(ARCHIVE % (FAST % 3))
    waiting = await scripted.engine.run(run_id)
    assert waiting.status is RunStatus.WAITING
    (question,) = scripted.engine.open_handoffs(run_id)
    assert question.kind == "clarification" and question.step_index == 1
    assert question.payload["reason"] == "missing_target"
    assert question.payload["failure"]["class"] == "missing_target"
    assert question.payload["choices"] == ["retry", "skip", "fail", "takeover"]
    assert question.payload["accepts"] == ["target", "point"]
    assert 'I can\'t find role=button name="Archive"' in question.question
    assert scripted.site.posts() == 0  # nothing was clicked

    scripted.engine.answer(question.id, {"target": {"role": "button", "name": "Move to archive"}}, by="ada")
    done = await scripted.engine.run(run_id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert scripted.site.state["archived"] is True
    (learned,) = scripted.events_of(run_id, EventType.TARGET_LEARNED)
    assert learned.data["target"] == 'role=button name="Move to archive"' and learned.data["by"] == "ada"


async def test_a_missing_target_with_nobody_to_ask_fails(scripted: Scripted) -> None:
    notes_site(scripted, "Move to archive")
    result = await scripted.run(ARCHIVE % ("ask_on: [], " + FAST % 3))
    assert result.status is RunStatus.FAILED and result.failure_class == "missing_target"
    assert scripted.handoffs(result.run_id) == []


# ----------------------------------------------------------------- stuck
def same_fill(times: int, policy: str = "") -> str:
    steps = "\n".join("  - fill: {target: {label: Title}, value: same}" for _ in range(times))
    return f"name: loop\nsite: SITE\n{policy}steps:\n  - goto: /notes\n{steps}\n"


REFRESH = """
name: refresh
site: SITE
policy: {%s}
steps:
  - goto: /notes
  - click: {role: button, name: Refresh}
    # Judged by its expectation: without one, each "no effect" verdict looks again for a
    # second first (an effect may lag), which a fast test need not wait for.
    expect: {text: {target: {test_id: status}, equals: Fresh}}
"""


async def stuck(scripted: Scripted, task: str) -> tuple[str, RunResult]:
    scripted.site.page("/notes", lambda st: {label("Title"): textbox(), button("Refresh"): Element()})
    scripted.site.on_click(button("Refresh"), None, NOTHING)  # the page never changes
    run_id = scripted.submit(task)
    return run_id, await scripted.engine.run(run_id)


@pytest.mark.parametrize("how", ["the same fill", "a click that changes nothing"])
async def test_repeating_an_action_that_changes_nothing_asks_whether_it_is_stuck(
    scripted: Scripted, how: str
) -> None:
    task = same_fill(5) if how == "the same fill" else REFRESH % (FAST % 5)
    run_id, waiting = await stuck(scripted, task)
    assert waiting.status is RunStatus.WAITING
    (question,) = scripted.engine.open_handoffs(run_id)
    assert question.kind == "clarification" and question.payload["reason"] == "stuck"
    assert question.payload["choices"] == ["retry", "skip", "fail", "takeover"]
    assert question.payload["attempts"] and question.payload["screenshot"]
    if how != "the same fill":
        # Each click failed as "no effect" and was retried: the third identical one is the loop.
        tried = scripted.attempts(run_id, 1)
        assert [a.failure_class for a in tried] == ["no_effect"] * 3
    scripted.engine.answer(question.id, {"value": "fail"}, by="ada")
    result = await scripted.engine.run(run_id)
    assert result.status is RunStatus.FAILED and result.failure_class == "stuck"
    assert "the operator chose to fail it" in (result.error or "")


@pytest.mark.parametrize("how", ["the same fill", "a click that changes nothing"])
async def test_a_stuck_run_with_nobody_to_ask_fails(scripted: Scripted, how: str) -> None:
    task = (
        same_fill(5, "policy: {ask_on: []}\n")
        if how == "the same fill"
        else REFRESH % ("ask_on: [], " + FAST % 5)
    )
    run_id, result = await stuck(scripted, task)
    assert result.status is RunStatus.FAILED and result.failure_class == FailureClass.STUCK.value
    assert scripted.handoffs(run_id) == []

"""Nobody is watching: every handoff kind has a deadline, and at the deadline its safe default
applies — a question fails its step, a takeover that is never handed back fails the run, and
`ask_on` decides which questions the engine asks at all. Judged by the hostile site's truth
(nothing was sent that a person did not allow) and by the handoffs' own rows."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.domain.states import TERMINAL, RunStatus
from app.engine.dispatch import Dispatcher
from app.store import handoffs, runs
from app.store.models import Handoff
from app.store.types import utcnow
from tests.helpers.tasks import task_from
from tests.integration.engine.conftest import Harness

DRIFTED = """
name: drifted-note
site: SITE
policy: {step_timeout: 1, retry: {maximum_attempts: 1}POLICY}
steps:
  - goto: /notes
  - fill: {target: {label: Title}, value: Unseen}
  - id: add
    click: {role: button, name: Add note}
"""


def drifted(policy: str = "") -> str:
    """The "Add note" button is called "Save note" on the site: a missing target."""
    return DRIFTED.replace("POLICY", f", {policy}" if policy else "")


def every_handoff(harness: Harness, run_id: str) -> list[Any]:
    with harness.db.session(readonly=True) as s:
        return list(handoffs.list_handoffs(s, run_id=run_id, status=None))


async def test_a_question_waits_an_hour_by_default_then_its_step_fails(harness: Harness) -> None:
    harness.site.configure(drift=True)
    waiting = harness.submit(drifted())
    assert (await harness.engine.run(waiting)).status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(waiting)
    assert question.payload["reason"] == "missing_target"
    assert question.default_answer == {"decision": "fail"}
    assert (question.deadline - question.created_at).total_seconds() == pytest.approx(3600, abs=5)

    short = harness.submit(drifted("question_timeout: 0.5"))
    result = await asyncio.wait_for(harness.engine.drive(short, wait=True), 60)
    assert result.status is RunStatus.FAILED and result.failure_class == "missing_target"
    assert "(nobody answered before the deadline)" in (result.error or "")
    (expired,) = every_handoff(harness, short)
    assert expired.status == "expired" and expired.answered_by == "deadline"
    assert harness.site.truth()["note_submissions"] == {}


async def test_a_missing_input_nobody_gives_fails_at_the_deadline(harness: Harness) -> None:
    task, snapshot = task_from(
        """
        name: needs-title
        site: SITE
        inputs: {title: string}
        policy: {question_timeout: 0.5}
        steps:
          - goto: /notes
          - fill: {target: {label: Title}, value: "{{ title }}"}
          - click: {role: button, name: Add note}
        """,
        harness.site.base_url,
    )
    run_id = harness.engine.submit(task, snapshot, task.resolve_inputs({}, allow_missing=True))
    result = await asyncio.wait_for(harness.engine.drive(run_id, wait=True), 60)
    assert result.status is RunStatus.FAILED
    assert "nobody gave the input 'title' before the deadline" in (result.error or "")
    assert harness.site.truth()["note_submissions"] == {}


async def test_ask_on_leaves_out_what_the_task_does_not_want_asked(harness: Harness) -> None:
    task, snapshot = task_from(
        """
        name: needs-title
        site: SITE
        inputs: {title: string}
        policy: {ask_on: [missing_target]}
        steps:
          - goto: /notes
          - fill: {target: {label: Title}, value: "{{ title }}"}
        """,
        harness.site.base_url,
    )
    run_id = harness.engine.submit(task, snapshot, task.resolve_inputs({}, allow_missing=True))
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.FAILED
    assert "started without the input 'title'" in (result.error or "")
    assert every_handoff(harness, run_id) == []


REBUILD = """
name: rebuild
site: SITE
policy: {step_timeout: 1, retry: {maximum_attempts: 1}POLICY}
steps:
  - goto: /notes
  - wait_for: {test_id: add-note}
  - ask: {question: "Go on?", choices: ["yes", "no"]}
  - goto: /shop
"""


async def _interrupted_page(harness: Harness, policy: str) -> str:
    """A run whose page cannot be rebuilt when it continues (the site changed meanwhile)."""
    run_id = harness.submit(REBUILD.replace("POLICY", f", {policy}"))
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING  # the ask; page not kept
    (ask,) = harness.engine.open_handoffs(run_id)
    harness.site.configure(drift=True)
    harness.engine.answer(ask.id, {"value": "yes"}, by="tester")
    return run_id


async def test_an_unanswered_recovery_question_fails_the_run_at_its_deadline(harness: Harness) -> None:
    run_id = await _interrupted_page(harness, "question_timeout: 0.5")
    result = await asyncio.wait_for(harness.engine.drive(run_id, wait=True), 60)
    assert result.status is RunStatus.FAILED
    assert "could not re-establish the page" in (result.error or "")
    assert "(nobody answered before the deadline)" in (result.error or "")
    recovery = [h for h in every_handoff(harness, run_id) if h.kind == "recovery"]
    assert [h.status for h in recovery] == ["expired"]


async def test_recovery_is_not_asked_when_ask_on_leaves_it_out(harness: Harness) -> None:
    run_id = await _interrupted_page(harness, "ask_on: [missing_target, stuck]")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.FAILED
    assert "could not re-establish the page" in (result.error or "")
    assert [h.kind for h in every_handoff(harness, run_id)] == ["clarification"]  # the ask step only


async def test_a_takeover_never_handed_back_fails_the_run_at_its_deadline(harness: Harness) -> None:
    harness.site.configure(cookie_banner=False)
    run_id = harness.submit(
        """
        name: message
        site: SITE
        policy: {takeover_timeout: 0.5}
        steps:
          - goto: /messages
          - fill: {target: {label: To}, value: bob}
          - fill: {target: {label: Message}, value: hi}
          - id: send
            click: {role: button, name: Send}
        """
    )
    assert (await harness.engine.run(run_id, keep=True)).status is RunStatus.WAITING  # "Send": approval
    takeover_id = harness.engine.take_over(run_id, by="operator")
    result = await asyncio.wait_for(harness.engine.drive(run_id, wait=True), 60)
    assert result.status is RunStatus.FAILED and result.failure_class == "denied"
    assert "nobody handed the page back before the deadline" in (result.error or "")
    assert harness.site.truth()["messages"] == []  # nothing was sent on a page a person held
    kinds = {h.id: (h.kind, h.status) for h in every_handoff(harness, run_id)}
    assert kinds[takeover_id] == ("takeover", "expired")
    assert ("approval", "open") not in kinds.values()  # nobody is left asked about a failed run


async def test_the_console_scheduler_applies_a_deadline_that_passed_while_nobody_held_the_run(
    harness: Harness,
) -> None:
    harness.site.configure(drift=True)
    run_id = harness.submit(drifted())
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING  # nobody holds it now
    # An hour goes by with no process looking at the run.
    with harness.db.session() as s, s.begin():
        s.execute(
            update(Handoff).where(Handoff.run_id == run_id).values(deadline=utcnow() - timedelta(seconds=1))
        )
    dispatcher = Dispatcher(harness.engine, poll=0.1)
    dispatcher.start()
    try:
        await harness.until(lambda: _status(harness, run_id) in TERMINAL, 60)
    finally:
        await dispatcher.stop()
    assert _status(harness, run_id) is RunStatus.FAILED
    with harness.db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        assert run is not None and "nobody answered before the deadline" in (run.error or "")
    assert harness.site.truth()["note_submissions"] == {}


def _status(harness: Harness, run_id: str) -> RunStatus:
    with harness.db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        assert run is not None
        return RunStatus(run.status)

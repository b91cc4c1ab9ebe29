from __future__ import annotations

from sqlalchemy.orm import Session

from app.domain.states import AttemptOutcome, StepStatus
from app.store import (
    Database,
    finish_attempt,
    get_step,
    list_attempts,
    mark_intent,
    open_handoff,
    pending_intents,
    start_attempt,
    unsettled,
)

from .conftest import new_run


def test_attempt_lifecycle(session: Session) -> None:
    run_id = new_run(session).id
    first = start_attempt(session, run_id, 0, 1, before_fp="https://a.test#1")
    finish_attempt(
        session,
        first,
        outcome=AttemptOutcome.FAILED,
        failure_class="transient",
        error="HTTP 503",
        after_fp="https://a.test#1",
        requests=[{"method": "POST", "url": "https://a.test/save", "status": 503}],
        checks=[{"name": "request POST /save 2xx", "ok": False, "detail": "503"}],
        screenshot_after="cd" * 32,
    )
    second = start_attempt(session, run_id, 0, 2, before_fp="https://a.test#1")
    finish_attempt(session, second, outcome=AttemptOutcome.SUCCEEDED, after_fp="https://a.test#2")
    start_attempt(session, run_id, 1, 1, before_fp="https://a.test#2")

    assert [(a.step_index, a.number) for a in list_attempts(session, run_id)] == [
        (0, 1),
        (0, 2),
        (1, 1),
    ]
    assert [a.number for a in list_attempts(session, run_id, step_index=0)] == [1, 2]
    assert first.outcome is AttemptOutcome.FAILED and first.finished_at is not None
    assert first.requests[0]["status"] == 503


def test_intent_without_outcome_survives_as_pending(db: Database) -> None:
    # G3: the intent is committed before dispatch; a crash leaves it without an outcome.
    with db.session() as s, s.begin():
        run_id = new_run(s).id
        read = start_attempt(s, run_id, 0, 1, before_fp="fp")
        send = start_attempt(s, run_id, 1, 1, before_fp="fp")
        mark_intent(s, send)
        finish_attempt(s, read, outcome=AttemptOutcome.SUCCEEDED)
    with db.session() as s, s.begin():
        pending = pending_intents(s, run_id)
        assert [(a.step_index, a.number) for a in pending] == [(1, 1)]
        assert pending[0].intent_at is not None and pending[0].outcome is None
        finish_attempt(s, pending[0], outcome=AttemptOutcome.UNKNOWN)
    with db.session(readonly=True) as s:
        assert pending_intents(s, run_id) == []


def _unknown_at(s: Session, run_id: str, index: int, number: int) -> None:
    row = start_attempt(s, run_id, index, number, before_fp="fp")
    mark_intent(s, row)
    finish_attempt(s, row, outcome=AttemptOutcome.UNKNOWN)


def test_an_unknown_outcome_nobody_decided_on_stays_unsettled(db: Database) -> None:
    """G3: recovery marked the action's outcome unknown, then died before deciding (complete
    the step, ask a person, or try again): the next start must settle it again, not run the
    step as if nothing had been sent."""
    with db.session() as s, s.begin():
        run_id = new_run(s).id
        _unknown_at(s, run_id, 1, 1)
    with db.session(readonly=True) as s:
        assert [(a.step_index, a.number) for a in unsettled(s, run_id)] == [(1, 1)]
        assert pending_intents(s, run_id) == []  # what recovery used to look at alone


def test_a_decision_settles_an_unknown_outcome(db: Database) -> None:
    with db.session() as s, s.begin():
        run_id = new_run(s, steps=4).id
        _unknown_at(s, run_id, 0, 1)  # then a person was asked about it
        open_handoff(
            s, run_id=run_id, step_index=0, kind="verification", question="?", payload={"attempts": [1]}
        )
        _unknown_at(s, run_id, 1, 1)  # then the step was tried again
        start_attempt(s, run_id, 1, 2, before_fp="fp")
        _unknown_at(s, run_id, 2, 1)  # then a re-read proved it done
        get_step(s, run_id, 2).status = StepStatus.SUCCEEDED  # type: ignore[union-attr]
        _unknown_at(s, run_id, 3, 1)  # asked about attempt 1 only: attempt 2 is a new doubt
        open_handoff(
            s, run_id=run_id, step_index=3, kind="verification", question="?", payload={"attempts": [1]}
        )
        _unknown_at(s, run_id, 3, 2)
    with db.session(readonly=True) as s:
        assert [(a.step_index, a.number) for a in unsettled(s, run_id)] == [(3, 2)]

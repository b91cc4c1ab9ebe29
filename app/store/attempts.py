"""Attempts: one try of a step, with everything observed, and the intent mark for G3."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.states import AttemptOutcome, StepStatus
from app.store.models import Attempt, Handoff, StepRecord
from app.store.types import utcnow


def start_attempt(s: Session, run_id: str, step_index: int, number: int, before_fp: str) -> Attempt:
    """A new attempt with no outcome yet (flushed, so it has its id)."""
    attempt = Attempt(
        run_id=run_id,
        step_index=step_index,
        number=number,
        before_fp=before_fp,
        started_at=utcnow(),
        requests=[],
        checks=[],
    )
    s.add(attempt)
    s.flush()
    return attempt


def mark_intent(s: Session, attempt: Attempt) -> None:
    """Record that an irreversible action is about to be dispatched.

    The caller must COMMIT this before dispatching: after a crash, "intent but no outcome"
    is what tells recovery to ask a person instead of firing again (G3).
    """
    attempt.intent_at = utcnow()
    s.flush()


def finish_attempt(
    s: Session,
    attempt: Attempt,
    *,
    outcome: AttemptOutcome,
    failure_class: str | None = None,
    error: str | None = None,
    after_fp: str | None = None,
    requests: Sequence[dict[str, Any]] = (),
    checks: Sequence[dict[str, Any]] = (),
    screenshot_before: str | None = None,
    screenshot_after: str | None = None,
) -> None:
    """Record what the attempt observed. Screenshots left as None keep any value set earlier."""
    attempt.outcome = AttemptOutcome(outcome)
    attempt.failure_class = None if failure_class is None else str(failure_class)
    attempt.error = error
    attempt.after_fp = after_fp
    attempt.requests = list(requests)
    attempt.checks = list(checks)
    if screenshot_before is not None:
        attempt.screenshot_before = screenshot_before
    if screenshot_after is not None:
        attempt.screenshot_after = screenshot_after
    attempt.finished_at = utcnow()
    s.flush()


def list_attempts(s: Session, run_id: str, step_index: int | None = None) -> list[Attempt]:
    query = select(Attempt).where(Attempt.run_id == run_id)
    if step_index is not None:
        query = query.where(Attempt.step_index == step_index)
    return list(s.scalars(query.order_by(Attempt.step_index, Attempt.number)))


def get_attempt(s: Session, run_id: str, step_index: int, number: int) -> Attempt | None:
    query = select(Attempt).where(
        Attempt.run_id == run_id, Attempt.step_index == step_index, Attempt.number == number
    )
    return s.scalars(query).first()


def update_requests(s: Session, attempt: Attempt, requests: Sequence[dict[str, Any]]) -> None:
    """Requests of an attempt as they stand now: ones that started or were answered after the
    attempt was recorded (a page's script may post after the step was judged)."""
    attempt.requests = list(requests)
    s.flush()


def step_requests(s: Session, run_id: str, step_index: int) -> list[dict[str, Any]]:
    """Every request of every attempt of a step, oldest first, each with its attempt number:
    what the step's evidence lists, however the step ended (retried, recovered, signed in again)."""
    return [
        {**request, "attempt": attempt.number}
        for attempt in list_attempts(s, run_id, step_index)
        for request in attempt.requests or []
    ]


def pending_intents(s: Session, run_id: str) -> list[Attempt]:
    """Irreversible actions that may have fired but have no recorded outcome (after a crash)."""
    query = select(Attempt).where(
        Attempt.run_id == run_id, Attempt.intent_at.is_not(None), Attempt.outcome.is_(None)
    )
    return list(s.scalars(query.order_by(Attempt.step_index, Attempt.number)))


def unsettled(s: Session, run_id: str) -> list[Attempt]:
    """Actions that may have fired and that nothing has settled yet (G3): an intent with no
    recorded outcome (the process died between dispatch and record), or an outcome recovery
    marked unknown with no decision after it — its step neither finished, nor tried again, nor
    put to a person as "did it happen?". Recovery writes the unknown outcome and its decision
    in one transaction; this also holds for a record written before it did."""
    tried = list_attempts(s, run_id)
    latest: dict[int, Attempt] = {}
    for a in tried:
        latest[a.step_index] = a
    finished = {
        r.index
        for r in s.scalars(select(StepRecord).where(StepRecord.run_id == run_id))
        if r.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)
    }
    asked = list(s.scalars(select(Handoff).where(Handoff.run_id == run_id, Handoff.kind == "verification")))
    found = []
    for a in tried:
        if (a.intent_at is not None and a.outcome is None) or (
            a.outcome is AttemptOutcome.UNKNOWN
            and latest[a.step_index] is a
            and a.step_index not in finished
            and not any(_asks_about(h, a) for h in asked)
        ):
            found.append(a)
    return found


def _asks_about(h: Handoff, a: Attempt) -> bool:
    if h.step_index != a.step_index:
        return False
    numbers = (h.payload or {}).get("attempts")
    if numbers is not None:
        return a.number in numbers
    return h.created_at is not None and h.created_at >= a.started_at  # before attempts were named

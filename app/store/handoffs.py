"""Handoffs: durable questions for the person (G4). Answering is a single conditional UPDATE,
so two answers racing from the console and the CLI cannot both win."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, select, update
from sqlalchemy.orm import Session

from app.domain.events import EventType
from app.store._ids import resolve_prefix
from app.store.events import append_event
from app.store.models import Handoff, HandoffKind, HandoffStatus
from app.store.types import utcnow

HANDOFF_EXPIRED = EventType.HANDOFF_EXPIRED
HANDOFF_CANCELLED = EventType.HANDOFF_CANCELLED


def open_handoff(
    s: Session,
    *,
    run_id: str,
    step_index: int | None,
    kind: HandoffKind | str,
    question: str,
    payload: Mapping[str, Any],
    deadline: datetime | None = None,
    default_answer: Any = None,
    action_hash: str | None = None,
) -> Handoff:
    handoff = Handoff(
        run_id=run_id,
        step_index=step_index,
        kind=HandoffKind(kind),
        status=HandoffStatus.OPEN,
        question=question,
        payload=dict(payload),
        deadline=deadline,
        default_answer=default_answer,
        action_hash=action_hash,
        created_at=utcnow(),
    )
    s.add(handoff)
    s.flush()
    append_event(
        s,
        run_id,
        EventType.HANDOFF_OPENED,
        {
            "handoff_id": handoff.id,
            "kind": handoff.kind.value,
            "step_index": step_index,
            "question": question,
            "payload": handoff.payload,
            "deadline": None if deadline is None else deadline.isoformat(),
            "default_answer": default_answer,
            "action_hash": action_hash,
        },
    )
    return handoff


def get_handoff(s: Session, handoff_id: str) -> Handoff | None:
    return s.get(Handoff, handoff_id)


def resolve_handoff_id(s: Session, text: str) -> str:
    """Exact id or a unique prefix of at least 4 characters; LookupError otherwise."""
    return resolve_prefix(s, Handoff.id, text, "handoff")


def list_handoffs(
    s: Session, *, run_id: str | None = None, status: HandoffStatus | str | None = "open"
) -> list[Handoff]:
    """Oldest first (the order they should be answered in). `status=None`: all of them."""
    query = select(Handoff)
    if run_id is not None:
        query = query.where(Handoff.run_id == run_id)
    if status is not None:
        query = query.where(Handoff.status == HandoffStatus(status))
    return list(s.scalars(query.order_by(Handoff.created_at, Handoff.id)))


def _close(s: Session, handoff_id: str, status: HandoffStatus, **values: Any) -> bool:
    """Move an open handoff to `status`; False (and nothing written) if it was not open."""
    result = s.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.OPEN)
        .values(status=status, **values)
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount == 1


def answer_handoff(s: Session, handoff_id: str, *, answer: Any, by: str, comment: str | None = None) -> bool:
    """Answer an open handoff. False, and nothing changed, if it is no longer open: a second
    answer is a no-op (G4). An answer arriving after the deadline but before `expire_due` ran
    still counts: the person's choice beats the default."""
    now = utcnow()
    if not _close(
        s,
        handoff_id,
        HandoffStatus.ANSWERED,
        answer=answer,
        answered_by=by,
        answered_at=now,
        comment=comment,
    ):
        return False
    handoff = s.get_one(Handoff, handoff_id)
    append_event(
        s,
        handoff.run_id,
        EventType.HANDOFF_ANSWERED,
        {"handoff_id": handoff_id, "answer": answer, "by": by, "comment": comment},
    )
    return True


def _due(now: datetime) -> Select[Any]:
    return select(Handoff).where(
        Handoff.status == HandoffStatus.OPEN,
        Handoff.deadline.is_not(None),
        Handoff.deadline < now,
    )


def any_due(s: Session, now: datetime | None = None) -> bool:
    """Whether some open handoff is past its deadline (a read: whether `expire_due` has work)."""
    return s.scalars(_due(now or utcnow()).limit(1)).first() is not None


def expire_due(s: Session, now: datetime | None = None, *, run_id: str | None = None) -> list[Handoff]:
    """Close open handoffs (of one run, or all) whose deadline has passed; each gets its
    `default_answer` as answer."""
    now = now or utcnow()
    query = _due(now)
    if run_id is not None:
        query = query.where(Handoff.run_id == run_id)
    due: list[Handoff] = list(s.scalars(query))
    expired = []
    for handoff in due:
        if _close(
            s,
            handoff.id,
            HandoffStatus.EXPIRED,
            answer=handoff.default_answer,
            answered_by="deadline",
            answered_at=now,
        ):
            append_event(
                s,
                handoff.run_id,
                HANDOFF_EXPIRED,
                {"handoff_id": handoff.id, "answer": handoff.default_answer},
            )
            expired.append(handoff)
    return expired


def cancel_handoff(s: Session, handoff_id: str, *, reason: str = "") -> bool:
    """Close one open handoff without an answer (it no longer applies)."""
    handoff = s.get(Handoff, handoff_id)
    if handoff is None or not _close(s, handoff_id, HandoffStatus.CANCELLED, comment=reason or None):
        return False
    append_event(s, handoff.run_id, HANDOFF_CANCELLED, {"handoff_id": handoff_id, "reason": reason})
    return True


def cancel_open_handoffs(s: Session, run_id: str, *, reason: str = "") -> list[Handoff]:
    """Cancel the run's open handoffs (the run was cancelled or failed; nobody should answer)."""
    cancelled = []
    for handoff in list_handoffs(s, run_id=run_id, status=HandoffStatus.OPEN):
        if _close(s, handoff.id, HandoffStatus.CANCELLED, comment=reason or None):
            append_event(s, run_id, HANDOFF_CANCELLED, {"handoff_id": handoff.id, "reason": reason})
            cancelled.append(handoff)
    return cancelled

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from app.store import (
    Database,
    HandoffKind,
    HandoffStatus,
    answer_handoff,
    any_due,
    cancel_open_handoffs,
    expire_due,
    get_handoff,
    list_events,
    list_handoffs,
    open_handoff,
    resolve_handoff_id,
    verify_events,
)
from app.store.types import utcnow

from .conftest import new_run


def _approval(s: Session, run_id: str, **kwargs: object) -> str:
    handoff = open_handoff(
        s,
        run_id=run_id,
        step_index=2,
        kind=HandoffKind.APPROVAL,
        question="Send the invoice to ada@example.test?",
        payload={"action": "click", "target": 'role=button name="Send"'},
        action_hash="ab" * 32,
        **kwargs,  # type: ignore[arg-type]
    )
    return handoff.id


def test_open_handoff_is_listed_and_logged(db: Database) -> None:
    with db.session() as s, s.begin():
        run_id = new_run(s).id
        handoff_id = _approval(s, run_id)
    with db.session(readonly=True) as s:
        assert [h.id for h in list_handoffs(s)] == [handoff_id]
        assert [h.id for h in list_handoffs(s, run_id="nope")] == []
        handoff = get_handoff(s, handoff_id)
        assert handoff is not None and len(handoff.id) == 10
        assert (handoff.kind, handoff.status) == (HandoffKind.APPROVAL, HandoffStatus.OPEN)
        event = list_events(s, run_id)[-1]
        assert event.type == "handoff.opened"
        assert event.data["handoff_id"] == handoff_id
        assert event.data["action_hash"] == "ab" * 32


def test_answering_twice_is_a_no_op(db: Database) -> None:
    with db.session() as s, s.begin():
        run_id = new_run(s).id
        handoff_id = _approval(s, run_id)
    with db.session() as s, s.begin():
        assert answer_handoff(s, handoff_id, answer={"approve": True}, by="ada", comment="ok")
    with db.session() as s, s.begin():
        assert not answer_handoff(s, handoff_id, answer={"approve": False}, by="bob")
    with db.session(readonly=True) as s:
        handoff = get_handoff(s, handoff_id)
        assert handoff is not None
        assert handoff.status is HandoffStatus.ANSWERED
        assert (handoff.answer, handoff.answered_by, handoff.comment) == (
            {"approve": True},
            "ada",
            "ok",
        )
        assert handoff.answered_at is not None
        answered = [e for e in list_events(s, run_id) if e.type == "handoff.answered"]
        assert len(answered) == 1 and answered[0].data["by"] == "ada"
        assert list_handoffs(s) == []
        assert [h.id for h in list_handoffs(s, status=None)] == [handoff_id]


def test_due_handoffs_expire_with_their_default(db: Database) -> None:
    now = utcnow()
    with db.session() as s, s.begin():
        run_id = new_run(s).id
        due = _approval(s, run_id, deadline=now - timedelta(seconds=1), default_answer="deny")
        later = _approval(s, run_id, deadline=now + timedelta(hours=1))
        never = _approval(s, run_id)
    with db.session() as s, s.begin():
        assert [h.id for h in expire_due(s, now)] == [due]
        assert expire_due(s, now) == []
        assert not answer_handoff(s, due, answer="approve", by="late")
    with db.session(readonly=True) as s:
        handoff = get_handoff(s, due)
        assert handoff is not None
        assert (handoff.status, handoff.answer) == (HandoffStatus.EXPIRED, "deny")
        assert {h.id for h in list_handoffs(s)} == {later, never}
        assert verify_events(s, run_id) is None


def test_due_handoffs_of_one_run_expire_and_the_others_wait_their_turn(db: Database) -> None:
    now = utcnow()
    past = now - timedelta(seconds=1)
    with db.session() as s, s.begin():
        mine, other = new_run(s).id, new_run(s).id
        due_mine = _approval(s, mine, deadline=past, default_answer="deny")
        due_other = _approval(s, other, deadline=past, default_answer="deny")
    with db.session(readonly=True) as s:
        assert any_due(s, now)
    with db.session() as s, s.begin():
        assert [h.id for h in expire_due(s, now, run_id=mine)] == [due_mine]
    with db.session(readonly=True) as s:
        assert [h.id for h in list_handoffs(s)] == [due_other]
        assert any_due(s, now)
    with db.session() as s, s.begin():
        assert [h.id for h in expire_due(s, now)] == [due_other]
    with db.session(readonly=True) as s:
        assert not any_due(s, now)


def test_cancel_open_handoffs_of_a_run(db: Database) -> None:
    with db.session() as s, s.begin():
        run_id = new_run(s).id
        first, second = _approval(s, run_id), _approval(s, run_id)
        answer_handoff(s, first, answer=True, by="ada")
        assert [h.id for h in cancel_open_handoffs(s, run_id, reason="run cancelled")] == [second]
        assert list_handoffs(s, run_id=run_id) == []


def test_resolve_handoff_id(session: Session) -> None:
    run_id = new_run(session).id
    handoff_id = _approval(session, run_id)
    assert resolve_handoff_id(session, handoff_id[:4]) == handoff_id
    with pytest.raises(LookupError, match="no handoff"):
        resolve_handoff_id(session, "zzzz")

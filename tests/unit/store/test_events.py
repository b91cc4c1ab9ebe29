from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest
from sqlalchemy import text

from app.domain.events import GENESIS
from app.domain.states import RunStatus
from app.store import Database, append_event, append_events, list_events, verify_events

from .conftest import new_run


@pytest.fixture
def run_id(db: Database) -> str:
    with db.session() as s, s.begin():
        return new_run(s).id


def _append_ticks(db: Database, run_id: str, n: int) -> None:
    with db.session() as s, s.begin():
        append_events(s, run_id, [("tick", {"i": i}) for i in range(n)])


def test_chain_of_many_events_verifies(db: Database, run_id: str) -> None:
    _append_ticks(db, run_id, 600)
    with db.session() as s, s.begin():
        for i in range(5):
            append_event(s, run_id, "tock", {"i": i})
    with db.session(readonly=True) as s:
        events = list_events(s, run_id)
        assert [e.seq for e in events] == list(range(1, 607))
        assert events[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in pairwise(events))
        assert verify_events(s, run_id) is None
        assert [e.seq for e in list_events(s, run_id, after_seq=604)] == [605, 606]


def test_stored_data_is_exactly_what_was_hashed(db: Database, run_id: str) -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    with db.session() as s, s.begin():
        event = append_event(s, run_id, "odd", {"tuple": (1, 2), "status": RunStatus.RUNNING, "when": when})
    assert event.data == {"tuple": [1, 2], "status": "running", "when": str(when)}
    assert event.at.endswith("+00:00") and len(event.at) == len("2024-05-01T00:00:00.000000+00:00")
    with db.session(readonly=True) as s:
        assert list_events(s, run_id)[-1] == event
        assert verify_events(s, run_id) is None


def test_edited_event_is_named(db: Database, run_id: str) -> None:
    _append_ticks(db, run_id, 10)
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET data = :d WHERE run_id = :r AND seq = 7"),
            {"d": '{"i": 999}', "r": run_id},
        )
    with db.session(readonly=True) as s:
        assert verify_events(s, run_id) == (7, "its content does not match its hash (edited)")


def test_deleted_event_is_named_as_a_gap(db: Database, run_id: str) -> None:
    _append_ticks(db, run_id, 10)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE run_id = :r AND seq = 4"), {"r": run_id})
    with db.session(readonly=True) as s:
        broken = verify_events(s, run_id)
    assert broken is not None
    assert broken[0] == 5 and "expected event #4" in broken[1]


def test_emptied_log_does_not_verify(db: Database, run_id: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE run_id = :r"), {"r": run_id})
    with db.session(readonly=True) as s:
        assert verify_events(s, run_id) == (
            1,
            "the run has no events at all (expected run.created)",
        )


def test_interleaved_sessions_keep_one_chain(db: Database, run_id: str) -> None:
    # The engine holds one session while the CLI answers a handoff in another: each
    # transaction must see the other's events, not a stale cached head.
    with db.session() as engine_s, db.session() as cli_s:
        for i in range(3):
            with engine_s.begin():
                append_event(engine_s, run_id, "engine", {"i": i})
            with cli_s.begin():
                append_event(cli_s, run_id, "cli", {"i": i})
    with db.session(readonly=True) as s:
        assert [e.type for e in list_events(s, run_id)][1:] == ["engine", "cli"] * 3
        assert verify_events(s, run_id) is None


def test_rolled_back_savepoint_does_not_leave_a_gap(db: Database, run_id: str) -> None:
    with db.session() as s, s.begin():
        append_event(s, run_id, "kept", {})
        savepoint = s.begin_nested()
        append_event(s, run_id, "dropped", {})
        savepoint.rollback()
        append_event(s, run_id, "kept", {})
    with db.session(readonly=True) as s:
        assert [e.type for e in list_events(s, run_id)] == ["run.created", "kept", "kept"]
        assert verify_events(s, run_id) is None


def test_rolled_back_transaction_does_not_leave_a_gap(db: Database, run_id: str) -> None:
    with db.session() as s:  # transactions begun explicitly below
        with s.begin():
            append_event(s, run_id, "kept", {})
        tx = s.begin()
        append_event(s, run_id, "dropped", {})
        tx.rollback()
        with s.begin():
            append_event(s, run_id, "kept", {})
    with db.session(readonly=True) as s:
        assert [e.seq for e in list_events(s, run_id)] == [1, 2, 3]
        assert verify_events(s, run_id) is None

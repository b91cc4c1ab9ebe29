from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.domain.errors import IllegalTransition
from app.domain.states import RunStatus, StepStatus
from app.store import (
    Database,
    Run,
    count_runs,
    get_run,
    get_step,
    get_steps,
    list_events,
    list_runs,
    resolve_run_id,
    transition,
)

from .conftest import new_run


def test_create_run_queues_it_with_pending_steps_and_an_event(db: Database) -> None:
    with db.session() as s, s.begin():
        run = new_run(s, steps=3)
    with db.session(readonly=True) as s:
        stored = get_run(s, run.id)
        assert stored is not None
        assert len(stored.id) == 12
        assert stored.status is RunStatus.QUEUED
        assert stored.step_count == 3
        assert stored.checkpoint == {}
        assert stored.task_text == "name: demo\n"
        assert stored.created_at.tzinfo is not None
        steps = get_steps(s, run.id)
        assert [(st.index, st.step_id, st.status) for st in steps] == [
            (0, "s0", StepStatus.PENDING),
            (1, "s1", StepStatus.PENDING),
            (2, "s2", StepStatus.PENDING),
        ]
        step = get_step(s, run.id, 1)
        assert step is not None and step.summary == "Click button 1"
        events = list_events(s, run.id)
        assert [e.type for e in events] == ["run.created"]
        assert events[0].data["steps"] == ["s0", "s1", "s2"]


def test_transition_records_times_version_and_an_event(db: Database) -> None:
    with db.session() as s, s.begin():
        run = new_run(s)
        transition(s, run, RunStatus.RUNNING, reason="worker picked it up")
    started = run.started_at
    assert started is not None and run.finished_at is None and run.version == 1
    with db.session() as s, s.begin():
        run = s.get_one(Run, run.id)
        transition(s, run, RunStatus.WAITING, reason="approval")
        transition(s, run, RunStatus.RUNNING, reason="approved")
        transition(s, run, RunStatus.FAILED, failure_class="permanent", error="HTTP 403")
    with db.session(readonly=True) as s:
        stored = get_run(s, run.id)
        assert stored is not None
        assert stored.status is RunStatus.FAILED
        assert stored.started_at == started  # only the first time it ran
        assert stored.finished_at is not None and stored.finished_at >= started
        assert (stored.failure_class, stored.error, stored.version) == ("permanent", "HTTP 403", 4)
        last = list_events(s, run.id)[-1]
        assert last.type == "run.status"
        assert last.data == {
            "from": "running",
            "to": "failed",
            "reason": "",
            "failure_class": "permanent",
            "error": "HTTP 403",
        }


def test_illegal_transition_raises_and_writes_nothing(db: Database) -> None:
    with db.session() as s, s.begin():
        run = new_run(s)
    with db.session() as s, s.begin():
        run = s.get_one(Run, run.id)
        with pytest.raises(IllegalTransition, match="queued to succeeded"):
            transition(s, run, RunStatus.SUCCEEDED)
        assert run.status is RunStatus.QUEUED
    with db.session(readonly=True) as s:
        stored = get_run(s, run.id)
        assert stored is not None
        assert stored.status is RunStatus.QUEUED and stored.version == 0
        assert stored.finished_at is None
        assert len(list_events(s, run.id)) == 1


def test_list_and_count_runs(session: Session) -> None:
    runs = [new_run(session, task_name=f"t{i}") for i in range(4)]
    transition(session, runs[1], RunStatus.RUNNING)
    transition(session, runs[2], RunStatus.CANCELLED)
    assert [r.task_name for r in list_runs(session)] == ["t3", "t2", "t1", "t0"]
    assert [r.task_name for r in list_runs(session, newest_first=False, limit=2)] == ["t0", "t1"]
    assert [r.task_name for r in list_runs(session, limit=2, offset=1)] == ["t2", "t1"]
    queued_or_running = [RunStatus.QUEUED, RunStatus.RUNNING]
    assert {r.task_name for r in list_runs(session, statuses=queued_or_running)} == {
        "t0",
        "t1",
        "t3",
    }
    assert count_runs(session) == 4
    assert count_runs(session, [RunStatus.CANCELLED]) == 1
    assert count_runs(session, []) == 0


def test_resolve_run_id_by_exact_id_or_unique_prefix(session: Session) -> None:
    for run_id in ("abcd1111aaaa", "abcd2222bbbb"):
        session.add(Run(id=run_id, task_name="t", task_text=""))
    session.flush()
    assert resolve_run_id(session, "abcd1111aaaa") == "abcd1111aaaa"
    assert resolve_run_id(session, "abcd1") == "abcd1111aaaa"
    assert resolve_run_id(session, " ABCD2 ") == "abcd2222bbbb"
    with pytest.raises(LookupError, match=r"several runs \(abcd1111aaaa, abcd2222bbbb\)"):
        resolve_run_id(session, "abcd")
    with pytest.raises(LookupError, match="at least 4 characters"):
        resolve_run_id(session, "abc")
    with pytest.raises(LookupError, match="no run id starts with 'ffff'"):
        resolve_run_id(session, "ffff")
    with pytest.raises(LookupError, match="no run id starts with"):
        resolve_run_id(session, "abc%")  # a wildcard typed is a character


def test_transition_judges_the_stored_state_not_a_stale_object(db: Database) -> None:
    with db.session() as s, s.begin():
        run_id = new_run(s).id
    with db.session() as engine_s, db.session() as cli_s:
        with engine_s.begin():
            run = engine_s.get_one(Run, run_id)
            transition(engine_s, run, RunStatus.RUNNING)
        with cli_s.begin():  # the operator cancels from another process meanwhile
            transition(cli_s, cli_s.get_one(Run, run_id), RunStatus.CANCELLED, reason="operator")
        with engine_s.begin():
            engine_s.add(run)  # still says "running" in memory
            with pytest.raises(IllegalTransition, match="from cancelled to succeeded"):
                transition(engine_s, run, RunStatus.SUCCEEDED)
    with db.session(readonly=True) as s:
        stored = s.get_one(Run, run_id)
        assert stored.status is RunStatus.CANCELLED and stored.version == 2

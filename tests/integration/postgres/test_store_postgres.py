"""The store on a real PostgreSQL server: migrations, runs, the event chain, leases and handoffs,
several processes racing on one database (G2), and the real command line with `--db`."""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.domain.errors import IllegalTransition
from app.domain.events import GENESIS
from app.domain.states import RunStatus, StepStatus
from app.resources import demo_tasks_dir
from app.store import (
    Database,
    HandoffKind,
    HandoffStatus,
    LeaseLost,
    Run,
    answer_handoff,
    append_event,
    append_events,
    claim,
    create_run,
    fenced,
    get_handoff,
    get_run,
    get_steps,
    heartbeat,
    list_events,
    list_handoffs,
    open_handoff,
    orphaned_runs,
    resolve_run_id,
    transition,
    verify_events,
)
from app.store.db import alembic_config
from app.store.models import Base
from app.store.types import utcnow
from tests.helpers.cli import ROOT

TABLES = {"runs", "steps", "attempts", "events", "handoffs", "artifacts", "session_profiles"}


def new_run(s: Session, steps: int = 3, task_name: str = "demo") -> Run:
    # Same shape as tests/unit/store/conftest.py's helper; the non-ASCII input checks the encoding.
    return create_run(
        s,
        task_name=task_name,
        task_source="tasks/demo.yaml",
        task_text="name: demo\n",
        inputs={"who": "ada", "note": "café ✓ 🚀"},
        site="example.test",
        steps=[(f"s{i}", "click", "write", f"Click button {i}") for i in range(steps)],
    )


def _new_runs(db: Database, n: int) -> list[str]:
    with db.session() as s, s.begin():
        return [new_run(s, task_name=f"run-{i}").id for i in range(n)]


# ---------------------------------------------------------------------------------- migrations


def test_database_migrates_a_fresh_postgres_database(pg_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    first = Database(pg_url)
    try:
        assert not first.is_sqlite and first.engine.dialect.name == "postgresql"
        with first.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head
        with first.session() as s, s.begin():
            run_id = new_run(s).id
    finally:
        first.dispose()
    # Opening it again runs the (now empty) upgrade and keeps the data.
    second = Database(pg_url)
    try:
        with second.session(readonly=True) as s:
            run = get_run(s, run_id)
            assert run is not None and run.inputs == {"who": "ada", "note": "café ✓ 🚀"}
    finally:
        second.dispose()


def test_migrated_schema_matches_the_models(db: Database) -> None:
    # What `alembic check` does, on PostgreSQL's own types and reflection.
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_datetimes_are_aware_utc_whatever_the_session_time_zone(pg_url: str) -> None:
    # A server or role configured for local time must not shift stored instants.
    url = f"{pg_url}?options={quote('-c timezone=Asia/Kathmandu')}"
    with Database(url) as db:
        with db.engine.connect() as conn:
            assert conn.scalar(text("SHOW timezone")) == "Asia/Kathmandu"
        when = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        with db.session() as s, s.begin():
            run = new_run(s)
            transition(s, run, RunStatus.RUNNING)
            assert claim(s, run.id, "w", ttl_s=60, now=when)
        with db.session(readonly=True) as s:
            stored = get_run(s, run.id)
            assert stored is not None and stored.lease_expires_at is not None
            assert stored.lease_expires_at == when + timedelta(seconds=60)
            assert stored.lease_expires_at.utcoffset() == timedelta(0)
            # SQL comparisons of the lease against "now" hold on the instant, not wall-clock text.
            assert orphaned_runs(s, when + timedelta(seconds=59)) == []
            assert [r.id for r in orphaned_runs(s, when + timedelta(seconds=61))] == [run.id]


# ------------------------------------------------------------------------------ runs and events


def test_create_run_and_transitions(db: Database) -> None:
    with db.session() as s, s.begin():
        run = new_run(s)
        run_id = run.id
    with db.session() as s, s.begin():
        run = s.get_one(Run, run_id)
        transition(s, run, RunStatus.RUNNING, reason="picked up")
        transition(s, run, RunStatus.SUCCEEDED)
    with db.session() as s, pytest.raises(IllegalTransition), s.begin():
        transition(s, s.get_one(Run, run_id), RunStatus.RUNNING)
    with db.session(readonly=True) as s:
        run = s.get_one(Run, run_id)
        assert (run.status, run.version, run.step_count) == (RunStatus.SUCCEEDED, 2, 3)
        assert run.started_at is not None and run.finished_at is not None
        assert run.started_at <= run.finished_at
        assert [st.status for st in get_steps(s, run_id)] == [StepStatus.PENDING] * 3
        assert resolve_run_id(s, run_id[:6].upper()) == run_id
        events = list_events(s, run_id)
        assert [e.type for e in events] == ["run.created", "run.status", "run.status"]
        assert [(e.data["from"], e.data["to"]) for e in events[1:]] == [
            ("queued", "running"),
            ("running", "succeeded"),
        ]
        assert verify_events(s, run_id) is None


def test_event_chain_appends_and_verifies(db: Database) -> None:
    (run_id,) = _new_runs(db, 1)
    odd = {"text": 'ünïcødé ✓ 🚀 "quoted" \\ back', "float": 0.1 + 0.2, "big": 2**53 + 1, "nested": [{}]}
    with db.session() as s, s.begin():
        append_events(s, run_id, [("tick", {"i": i}) for i in range(500)])
        event = append_event(s, run_id, "odd", odd)
    with db.session() as s, s.begin():
        for i in range(5):
            append_event(s, run_id, "tock", {"i": i})
    with db.session(readonly=True) as s:
        events = list_events(s, run_id)
        assert [e.seq for e in events] == list(range(1, 508))
        assert events[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in pairwise(events))
        assert events[501] == event  # the JSON came back exactly as it was hashed
        assert verify_events(s, run_id) is None


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            "UPDATE events SET data = CAST(:d AS json) WHERE run_id = :r AND seq = 7",
            (7, "its content does not match its hash (edited)"),
        ),
        (
            "UPDATE events SET hash = repeat('0', 64) WHERE run_id = :r AND seq = 7",
            (7, "its content does not match its hash (edited)"),
        ),
        (
            "UPDATE events SET prev_hash = repeat('f', 64) WHERE run_id = :r AND seq = 3",
            (3, "its link to the previous event does not match"),
        ),
        (
            "DELETE FROM events WHERE run_id = :r AND seq = 4",
            (5, "expected event #4, found #5 (missing or reordered)"),
        ),
        (
            "DELETE FROM events WHERE run_id = :r",
            (1, "the run has no events at all (expected run.created)"),
        ),
    ],
    ids=["data", "hash", "link", "gap", "emptied"],
)
def test_tampering_is_detected(db: Database, tamper: str, expected: tuple[int, str]) -> None:
    (run_id,) = _new_runs(db, 1)
    with db.session() as s, s.begin():
        append_events(s, run_id, [("tick", {"i": i}) for i in range(10)])
    with db.engine.begin() as conn:
        conn.execute(text(tamper), {"r": run_id, "d": json.dumps({"i": 999})})
    with db.session(readonly=True) as s:
        assert verify_events(s, run_id) == expected


# ----------------------------------------------------------------------- leases and handoffs


def test_two_owners_one_lease_and_the_stale_one_is_fenced_out(db: Database) -> None:
    (run_id,) = _new_runs(db, 1)
    with db.session() as a:
        with a.begin():
            assert claim(a, run_id, "worker-a", ttl_s=30)
            run_a = a.get_one(Run, run_id)
            transition(a, run_a, RunStatus.RUNNING)
            fenced(a, run_a, "worker-a")
        with db.session() as b, b.begin():
            assert not claim(b, run_id, "worker-b", ttl_s=30)  # held and not expired
        with db.session() as b, b.begin():
            assert claim(b, run_id, "worker-b", ttl_s=30, now=utcnow() + timedelta(seconds=31))
        # worker-a wakes up and tries to finish the run: its transaction must not land.
        with pytest.raises(LeaseLost, match="now held by 'worker-b'"), a.begin():
            transition(a, run_a, RunStatus.SUCCEEDED)
            fenced(a, run_a, "worker-a")
        with a.begin():
            assert not heartbeat(a, run_id, "worker-a", ttl_s=30)
    with db.session(readonly=True) as s:
        run = s.get_one(Run, run_id)
        assert (run.status, run.owner, run.version) == (RunStatus.RUNNING, "worker-b", 3)
        assert [e.type for e in list_events(s, run_id)] == ["run.created", "run.status"]
        assert verify_events(s, run_id) is None


def test_fenced_holds_the_row_until_commit(db: Database) -> None:
    # After `fenced` nobody may claim the run before the owner commits: the claim waits for the
    # row lock, then sees the renewed owner and fails.
    (run_id,) = _new_runs(db, 1)
    with db.session() as a, a.begin():
        assert claim(a, run_id, "worker-a", ttl_s=30)
    with db.session() as a, a.begin():
        run_a = a.get_one(Run, run_id)
        fenced(a, run_a, "worker-a")
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '300ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                other.execute(
                    text("UPDATE runs SET owner = 'worker-b' WHERE id = :r"),
                    {"r": run_id},
                )
            other.rollback()


def test_answering_a_handoff_twice_is_a_no_op(db: Database) -> None:
    (run_id,) = _new_runs(db, 1)
    with db.session() as s, s.begin():
        handoff_id = open_handoff(
            s,
            run_id=run_id,
            step_index=2,
            kind=HandoffKind.APPROVAL,
            question="Send the invoice?",
            payload={"action": "click"},
            action_hash="ab" * 32,
        ).id
    with db.session() as s, s.begin():
        assert answer_handoff(s, handoff_id, answer={"approve": True}, by="ada", comment="ok")
    with db.session() as s, s.begin():
        assert not answer_handoff(s, handoff_id, answer={"approve": False}, by="bob")
    with db.session(readonly=True) as s:
        handoff = get_handoff(s, handoff_id)
        assert handoff is not None and handoff.status is HandoffStatus.ANSWERED
        assert (handoff.answer, handoff.answered_by) == ({"approve": True}, "ada")
        assert list_handoffs(s) == []
        answered = [e for e in list_events(s, run_id) if e.type == "handoff.answered"]
        assert len(answered) == 1 and answered[0].data["by"] == "ada"
        assert verify_events(s, run_id) is None


# --------------------------------------------------------------- several processes at once (G2)
# Workers run in spawned processes (no inherited connections); each gets a Barrier so they
# all hit the database at the same moment, and returns a value to the parent.


def _warm(db: Database) -> None:
    with db.engine.connect() as conn:  # connect before the barrier, not during the race
        conn.execute(text("SELECT 1"))


def _open_at_once(barrier: Any, url: str) -> str | None:
    barrier.wait(timeout=60)
    with Database(url) as db, db.engine.connect() as conn:
        version: str | None = conn.scalar(text("SELECT version_num FROM alembic_version"))
        return version


def _claim_rounds(barrier: Any, url: str, owner: str, run_ids: list[str]) -> list[str]:
    """Every worker claims the same run at the same time, round after round."""
    won = []
    with Database(url, migrate=False) as db:
        _warm(db)
        for run_id in run_ids:
            barrier.wait(timeout=60)
            with db.session() as s, s.begin():
                if claim(s, run_id, owner, ttl_s=60):
                    run = s.get_one(Run, run_id)
                    transition(s, run, RunStatus.RUNNING, reason=f"claimed by {owner}")
                    fenced(s, run, owner)
                    won.append(run_id)
    return won


def _answer_race(barrier: Any, url: str, owner: str, handoff_ids: list[str]) -> list[str]:
    won = []
    with Database(url, migrate=False) as db:
        _warm(db)
        for handoff_id in handoff_ids:
            barrier.wait(timeout=60)
            with db.session() as s, s.begin():
                if answer_handoff(s, handoff_id, answer={"by": owner}, by=owner):
                    won.append(handoff_id)
    return won


def _append_race(barrier: Any, url: str, owner: str, own_run: str, shared_run: str, batches: int) -> int:
    """Append batches to this worker's run, and single events to a run all workers share
    (retrying when another worker took the same seq). Returns how many retries it took."""
    retries = 0
    with Database(url, migrate=False) as db:
        _warm(db)
        barrier.wait(timeout=60)
        for b in range(batches):
            with db.session() as s, s.begin():
                append_events(s, own_run, [("tick", {"owner": owner, "b": b, "i": i}) for i in range(5)])
            while True:
                try:
                    with db.session() as s, s.begin():
                        append_event(s, shared_run, "shared", {"owner": owner, "b": b})
                    break
                except IntegrityError:
                    retries += 1
    return retries


def _child(target: Callable[..., Any], barrier: Any, results: Any, index: int, args: tuple[Any, ...]) -> None:
    try:
        results.put((index, True, target(barrier, *args)))
    except BaseException:
        results.put((index, False, traceback.format_exc()))
        raise


def _race(
    target: Callable[..., Any], per_worker_args: list[tuple[Any, ...]], timeout: float = 120
) -> list[Any]:
    """Run `target(barrier, *args)` in one spawned process per args tuple; their results in order."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(per_worker_args))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(target, barrier, results, i, args), daemon=True)
        for i, args in enumerate(per_worker_args)
    ]
    out: dict[int, Any] = {}
    errors: list[str] = []
    try:
        for p in procs:
            p.start()
        deadline = time.monotonic() + timeout
        while len(out) + len(errors) < len(procs) and time.monotonic() < deadline:
            try:
                index, ok, value = results.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
                continue
            if ok:
                out[index] = value
            else:
                errors.append(value)
        for p in procs:
            p.join(timeout=30)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        results.close()
        results.join_thread()
        codes = [p.exitcode for p in procs]
        for p in procs:
            p.close()
    assert not errors, "\n".join(errors)
    assert codes == [0] * len(procs) and len(out) == len(procs), codes
    return [out[i] for i in range(len(procs))]


WORKERS = 4


def test_processes_opening_a_fresh_database_at_once_all_succeed(pg_url: str) -> None:
    # Workers and consoles starting together on a new team database: one migrates, the
    # others wait for it and find the schema current (app/store/db.py takes a lock).
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert _race(_open_at_once, [(pg_url,)] * WORKERS) == [head] * WORKERS


def test_processes_claiming_the_same_run_at_once_exactly_one_wins(db: Database, pg_url: str) -> None:
    run_ids = _new_runs(db, 8)
    owners = [f"worker-{i}" for i in range(WORKERS)]
    results = _race(_claim_rounds, [(pg_url, owner, run_ids) for owner in owners])

    winners = Counter(run_id for won in results for run_id in won)
    assert winners == Counter(run_ids)  # every run claimed, none twice
    owner_of = {run_id: owner for owner, won in zip(owners, results, strict=True) for run_id in won}
    with db.session(readonly=True) as s:
        for run_id in run_ids:
            run = s.get_one(Run, run_id)
            assert (run.owner, run.status, run.version) == (owner_of[run_id], RunStatus.RUNNING, 2)
            assert [e.type for e in list_events(s, run_id)] == ["run.created", "run.status"]
            assert verify_events(s, run_id) is None


def test_processes_answering_the_same_handoff_at_once_exactly_one_wins(db: Database, pg_url: str) -> None:
    run_ids = _new_runs(db, 4)
    with db.session() as s, s.begin():
        handoff_ids = [
            open_handoff(s, run_id=r, step_index=0, kind=HandoffKind.APPROVAL, question="Go?", payload={}).id
            for r in run_ids
        ]
    owners = [f"person-{i}" for i in range(WORKERS)]
    results = _race(_answer_race, [(pg_url, owner, handoff_ids) for owner in owners])
    assert Counter(h for won in results for h in won) == Counter(handoff_ids)
    with db.session(readonly=True) as s:
        for run_id in run_ids:
            answered = [e for e in list_events(s, run_id) if e.type == "handoff.answered"]
            assert len(answered) == 1
            assert verify_events(s, run_id) is None


def test_concurrent_appends_from_several_processes_keep_every_chain_verifying(
    db: Database, pg_url: str
) -> None:
    batches = 25
    *own_runs, shared = _new_runs(db, WORKERS + 1)
    args = [(pg_url, f"worker-{i}", own_runs[i], shared, batches) for i in range(WORKERS)]
    _race(_append_race, args)
    with db.session(readonly=True) as s:
        for i, run_id in enumerate(own_runs):
            events = list_events(s, run_id)
            assert len(events) == 1 + batches * 5
            assert {e.data["owner"] for e in events[1:]} == {f"worker-{i}"}
            assert verify_events(s, run_id) is None
        events = list_events(s, shared)
        assert [e.seq for e in events] == list(range(1, 2 + WORKERS * batches))
        landed = Counter((e.data["owner"], e.data["b"]) for e in events[1:])
        assert landed == Counter((f"worker-{i}", b) for i in range(WORKERS) for b in range(batches))
        assert verify_events(s, shared) is None


# ------------------------------------------------------------------------ the real command line


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )


def test_command_line_runs_a_task_on_postgres_and_verifies_it(pg_url: str, site: Any, tmp_path: Path) -> None:
    env = {**os.environ, "FLIGHTDECK_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("FLIGHTDECK_DATABASE_URL", None)
    task = demo_tasks_dir() / "add-note.yaml"
    password = make_url(pg_url).password
    assert password

    ran = _cli(
        env, "run", str(task), "--site", site.base_url, "--db", pg_url, "--json", "--input", "title=PG"
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "succeeded"
    run_id = result["run_id"]
    assert [n["title"] for n in site.truth()["notes"]].count("PG") == 1

    shown = _cli(env, "show", run_id, "--verify", "--db", pg_url, "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["verified"] is True and summary["status"] == "succeeded"

    # The environment variable selects the same database.
    listed = _cli({**env, "FLIGHTDECK_DATABASE_URL": pg_url}, "runs", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run_id]

    # It really was PostgreSQL: the row is there, and no SQLite file appeared in the data dir.
    assert not list(tmp_path.rglob("*.db"))
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(Run.status).where(Run.id == run_id)) == RunStatus.SUCCEEDED
    finally:
        engine.dispose()
    # The database password is never echoed back.
    for proc in (ran, shown, listed):
        assert password not in proc.stdout + proc.stderr

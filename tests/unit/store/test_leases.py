from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.states import RunStatus
from app.store import (
    Database,
    LeaseLost,
    claim,
    fenced,
    get_run,
    heartbeat,
    orphaned_runs,
    release,
    transition,
)
from app.store.types import utcnow

from .conftest import new_run


@pytest.fixture
def run_id(db: Database) -> str:
    with db.session() as s, s.begin():
        return new_run(s).id


def test_only_one_of_two_owners_claims(db: Database, run_id: str) -> None:
    with db.session() as s, s.begin():
        assert claim(s, run_id, "worker-a", ttl_s=30)
    with db.session() as s, s.begin():
        assert not claim(s, run_id, "worker-b", ttl_s=30)
        assert claim(s, run_id, "worker-a", ttl_s=30)  # renewing one's own lease is fine
    with db.session(readonly=True) as s:
        run = get_run(s, run_id)
        assert run is not None and run.owner == "worker-a" and run.version == 2
        assert run.lease_expires_at is not None and run.lease_expires_at > utcnow()


def test_expired_lease_is_taken_over_and_the_old_owner_is_fenced_out(db: Database, run_id: str) -> None:
    with db.session() as a:
        with a.begin():
            assert claim(a, run_id, "worker-a", ttl_s=30)
            run_a = get_run(a, run_id)
            assert run_a is not None
            transition(a, run_a, RunStatus.RUNNING)
            fenced(a, run_a, "worker-a")  # still ours: no error

        later = utcnow() + timedelta(seconds=31)
        with db.session() as b, b.begin():
            assert claim(b, run_id, "worker-b", ttl_s=30, now=later)

        # worker-a wakes up and tries to finish the run: its transaction must not land.
        with pytest.raises(LeaseLost, match="now held by 'worker-b'"), a.begin():
            transition(a, run_a, RunStatus.SUCCEEDED)
            fenced(a, run_a, "worker-a")
        with a.begin():
            assert not heartbeat(a, run_id, "worker-a", ttl_s=30)

    with db.session(readonly=True) as s:
        run = get_run(s, run_id)
        assert run is not None
        assert (run.status, run.owner) == (RunStatus.RUNNING, "worker-b")


def test_heartbeat_extends_and_release_frees(db: Database, run_id: str) -> None:
    with db.session() as s, s.begin():
        claim(s, run_id, "w", ttl_s=5)
        run = get_run(s, run_id)
        assert run is not None and run.lease_expires_at is not None
        first_expiry, version = run.lease_expires_at, run.version
        assert heartbeat(s, run_id, "w", ttl_s=60)
        assert run.lease_expires_at > first_expiry
        assert run.version == version  # a heartbeat is not a write to the run
        assert not release(s, run_id, "someone-else")
        assert release(s, run_id, "w")
        assert run.owner is None and run.lease_expires_at is None
    with db.session() as s, s.begin():
        assert claim(s, run_id, "other", ttl_s=5)


def test_orphaned_runs_are_running_or_waiting_without_a_live_owner(db: Database) -> None:
    now = utcnow()
    with db.session() as s, s.begin():
        runs = {name: new_run(s, task_name=name) for name in ("live", "expired", "none", "queued")}
        for name in ("live", "expired", "none"):
            transition(s, runs[name], RunStatus.RUNNING)
        transition(s, runs["expired"], RunStatus.WAITING)
        claim(s, runs["live"].id, "w1", ttl_s=60, now=now)
        claim(s, runs["expired"].id, "w2", ttl_s=60, now=now - timedelta(seconds=120))
        claim(s, runs["queued"].id, "w3", ttl_s=60, now=now - timedelta(seconds=120))
    with db.session(readonly=True) as s:
        assert {r.task_name for r in orphaned_runs(s)} == {"expired", "none"}
        later = now + timedelta(seconds=61)
        assert {r.task_name for r in orphaned_runs(s, later)} == {"live", "expired", "none"}

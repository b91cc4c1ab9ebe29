"""Leases: one owner advances a run at a time (G2).

A worker `claim`s a run for `ttl_s` seconds, `heartbeat`s well within that, and calls `fenced`
inside every transaction that advances the run, right before commit. If the worker stalls past
its lease, another may claim the run; from then on the stale worker's `fenced` raises LeaseLost
and its transaction rolls back, so its writes never land.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.domain.states import RunStatus
from app.store.errors import LeaseLost
from app.store.models import Run
from app.store.types import utcnow


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def claim(s: Session, run_id: str, owner: str, ttl_s: float, *, now: datetime | None = None) -> bool:
    """Take (or renew) the lease if it is free, already ours, or expired. One UPDATE, so two
    claimants can never both succeed; bumps the version so the previous owner's view is stale.
    """
    now = now or utcnow()
    free = or_(
        Run.owner.is_(None),
        Run.owner == owner,
        Run.lease_expires_at.is_(None),
        Run.lease_expires_at < now,
    )
    statement = (
        update(Run)
        .where(Run.id == run_id, free)
        .values(owner=owner, lease_expires_at=now + timedelta(seconds=ttl_s), version=Run.version + 1)
        .execution_options(synchronize_session="fetch")
    )
    return _rowcount(s.execute(statement)) == 1


def heartbeat(s: Session, run_id: str, owner: str, ttl_s: float, *, now: datetime | None = None) -> bool:
    """Extend the lease; False if `owner` no longer holds it (stop working on the run).

    Does not bump the version: extending a lease changes nothing about the run itself.
    """
    now = now or utcnow()
    statement = (
        update(Run)
        .where(Run.id == run_id, Run.owner == owner)
        .values(lease_expires_at=now + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session="fetch")
    )
    return _rowcount(s.execute(statement)) == 1


def release(s: Session, run_id: str, owner: str) -> bool:
    """Give the lease up (a no-op returning False if someone else holds it now)."""
    statement = (
        update(Run)
        .where(Run.id == run_id, Run.owner == owner)
        .values(owner=None, lease_expires_at=None)
        .execution_options(synchronize_session="fetch")
    )
    return _rowcount(s.execute(statement)) == 1


def fenced(s: Session, run: Run, owner: str) -> None:
    """Raise LeaseLost unless `owner` still holds the run's lease. Call it last before commit.

    The check holds until commit: on SQLite the transaction already owns the write lock
    (BEGIN IMMEDIATE), on PostgreSQL the row is locked FOR UPDATE, so nobody can claim the run
    between this check and the commit. Refreshes `run.owner/lease_expires_at/version`.
    """
    s.flush()  # pending changes first, so the version read back includes them
    row = s.execute(
        select(Run.owner, Run.lease_expires_at, Run.version).where(Run.id == run.id).with_for_update()
    ).one()
    for name in ("owner", "lease_expires_at", "version"):
        set_committed_value(run, name, getattr(row, name))
    if row.owner != owner:
        raise LeaseLost(run.id, owner, row.owner)


def orphaned_runs(s: Session, now: datetime | None = None) -> list[Run]:
    """Runs in running/waiting that nobody holds: no owner, or the lease ran out."""
    now = now or utcnow()
    query = (
        select(Run)
        .where(
            Run.status.in_([RunStatus.RUNNING, RunStatus.WAITING]),
            or_(Run.owner.is_(None), Run.lease_expires_at.is_(None), Run.lease_expires_at < now),
        )
        .order_by(Run.created_at)
    )
    return list(s.scalars(query))

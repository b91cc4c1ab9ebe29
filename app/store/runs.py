"""Runs and their steps: creation, look-up, listing, and the one way a run changes state."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.events import EventType
from app.domain.states import TERMINAL, RunStatus, check_transition
from app.store._ids import resolve_prefix
from app.store.events import append_event
from app.store.models import Run, RunKind, StepRecord
from app.store.types import utcnow

StepSpec = tuple[str, str, str, str]  # (step_id, action, effect, summary)


def create_run(
    s: Session,
    *,
    task_name: str,
    task_source: str | None,
    task_text: str,
    inputs: Mapping[str, Any],
    site: str | None,
    steps: list[StepSpec],
    parent_run_id: str | None = None,
    kind: RunKind = RunKind.TASK,
) -> Run:
    """A queued run with one pending step row per step, and its `run.created` event."""
    run = Run(
        kind=kind,
        task_name=task_name,
        task_source=task_source,
        task_text=task_text,
        inputs=dict(inputs),
        site=site,
        status=RunStatus.QUEUED,
        checkpoint={},
        step_count=len(steps),
        parent_run_id=parent_run_id,
        version=0,
    )
    s.add(run)
    s.flush()  # the id exists and the row is in place before anything refers to it
    s.add_all(
        StepRecord(run_id=run.id, index=i, step_id=step_id, action=action, effect=effect, summary=summary)
        for i, (step_id, action, effect, summary) in enumerate(steps)
    )
    s.flush()
    append_event(
        s,
        run.id,
        EventType.RUN_CREATED,
        {
            "task_name": task_name,
            "task_source": task_source,
            "kind": str(kind),
            # The snapshot itself is in the run row; its hash ties the chain to that text.
            "task_sha256": hashlib.sha256(task_text.encode()).hexdigest(),
            "inputs": run.inputs,
            "site": site,
            "steps": [step_id for step_id, *_ in steps],
            "parent_run_id": parent_run_id,
        },
    )
    return run


def get_run(s: Session, run_id: str) -> Run | None:
    return s.get(Run, run_id)


def resolve_run_id(s: Session, text: str) -> str:
    """The run id `text` names: exact, or a unique prefix of at least 4 characters.

    Raises LookupError (message fit to show) when nothing or several runs match.
    """
    return resolve_prefix(s, Run.id, text, "run")


def _status_filter(statuses: Collection[RunStatus] | None) -> list[Any]:
    return [] if statuses is None else [Run.status.in_([RunStatus(x) for x in statuses])]


def list_runs(
    s: Session,
    *,
    statuses: Collection[RunStatus] | None = None,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = True,
) -> list[Run]:
    order = (Run.created_at.desc(), Run.id.desc()) if newest_first else (Run.created_at, Run.id)
    query = select(Run).where(*_status_filter(statuses)).order_by(*order)
    return list(s.scalars(query.limit(limit).offset(offset)))


def count_runs(s: Session, statuses: Collection[RunStatus] | None = None) -> int:
    return s.scalar(select(func.count()).select_from(Run).where(*_status_filter(statuses))) or 0


def transition(
    s: Session,
    run: Run,
    to: RunStatus,
    *,
    reason: str = "",
    failure_class: str | None = None,
    error: str | None = None,
) -> None:
    """Move the run to `to` and record it as a `run.status` event, in the caller's transaction.

    Raises domain IllegalTransition (nothing changed) if the table does not allow it.
    `failure_class`/`error` describe the new state, so they replace the previous ones.
    `run` must belong to `s`.
    """
    # Judge the move from the stored state, not from what this object last saw: another
    # process (the CLI cancelling, a worker taking over) may have moved the run meanwhile.
    # The row stays locked until commit (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE).
    s.flush()
    s.refresh(run, ["status", "version"], with_for_update=True)
    src, to = RunStatus(run.status), RunStatus(to)
    check_transition(src, to)
    now = utcnow()
    run.status = to
    run.failure_class = None if failure_class is None else str(failure_class)
    run.error = error
    if to is RunStatus.RUNNING and run.started_at is None:
        run.started_at = now
    if to in TERMINAL:
        run.finished_at = now
    run.updated_at = now
    run.version = run.version + 1
    append_event(
        s,
        run.id,
        EventType.RUN_STATUS,
        {
            "from": src.value,
            "to": to.value,
            "reason": reason,
            "failure_class": run.failure_class,
            "error": error,
        },
    )


def get_steps(s: Session, run_id: str) -> list[StepRecord]:
    query = select(StepRecord).where(StepRecord.run_id == run_id).order_by(StepRecord.index)
    return list(s.scalars(query))


def get_step(s: Session, run_id: str, index: int) -> StepRecord | None:
    return s.get(StepRecord, (run_id, index))

"""Learned targets: a person's answer to "which element did you mean?", kept per task and step."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.domain.events import canonical
from app.store.models import LearnedTarget
from app.store.types import utcnow


def target_key(target: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(target).encode()).hexdigest()


def get_learned(s: Session, task_name: str, step_id: str, original: dict[str, Any]) -> LearnedTarget | None:
    return s.get(LearnedTarget, (task_name, step_id, target_key(original)))


def learn_target(
    s: Session,
    *,
    task_name: str,
    step_id: str,
    original: dict[str, Any],
    target: dict[str, Any],
    run_id: str | None,
    handoff_id: str | None,
    by: str | None,
) -> LearnedTarget:
    """Remember (or replace) what `original` means for this task's step."""
    row = get_learned(s, task_name, step_id, original)
    if row is None:
        row = LearnedTarget(task_name=task_name, step_id=step_id, original=target_key(original))
        s.add(row)
    row.target = dict(target)
    row.source_run_id = run_id
    row.handoff_id = handoff_id
    row.learned_by = by
    row.created_at = utcnow()
    s.flush()
    return row


def list_learned(s: Session, task_name: str | None = None) -> list[LearnedTarget]:
    query = select(LearnedTarget)
    if task_name is not None:
        query = query.where(LearnedTarget.task_name == task_name)
    return list(s.scalars(query.order_by(LearnedTarget.task_name, LearnedTarget.step_id)))


def forget_learned(s: Session, task_name: str, step_id: str | None = None) -> int:
    statement = delete(LearnedTarget).where(LearnedTarget.task_name == task_name)
    if step_id is not None:
        statement = statement.where(LearnedTarget.step_id == step_id)
    return int(getattr(s.execute(statement), "rowcount", 0) or 0)

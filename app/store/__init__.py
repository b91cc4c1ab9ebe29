"""Storage: SQLAlchemy models, repositories and Alembic migrations (SQLite by default).

Repository functions take the Session first and never commit: the caller owns the
transaction, so one step outcome and the next state commit together::

    with db.session() as s, s.begin():
        ...
"""

from __future__ import annotations

from app.store import models
from app.store.artifacts import ArtifactStore, default_artifacts_dir, record_artifact
from app.store.attempts import (
    finish_attempt,
    list_attempts,
    mark_intent,
    pending_intents,
    start_attempt,
    unsettled,
)
from app.store.db import Database, default_data_dir, default_database_url
from app.store.errors import LeaseLost
from app.store.events import append_event, append_events, list_events, verify_events
from app.store.handoffs import (
    answer_handoff,
    any_due,
    cancel_handoff,
    cancel_open_handoffs,
    expire_due,
    get_handoff,
    list_handoffs,
    open_handoff,
    resolve_handoff_id,
)
from app.store.learned import forget_learned, get_learned, learn_target, list_learned
from app.store.leases import claim, fenced, heartbeat, orphaned_runs, release
from app.store.models import (
    Artifact,
    Attempt,
    EventRecord,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Run,
    RunKind,
    SessionProfile,
    StepRecord,
)
from app.store.runs import (
    count_runs,
    create_run,
    get_run,
    get_step,
    get_steps,
    list_runs,
    resolve_run_id,
    transition,
)

__all__ = [
    "Artifact",
    "ArtifactStore",
    "Attempt",
    "Database",
    "EventRecord",
    "Handoff",
    "HandoffKind",
    "HandoffStatus",
    "LeaseLost",
    "Run",
    "RunKind",
    "SessionProfile",
    "StepRecord",
    "answer_handoff",
    "any_due",
    "append_event",
    "append_events",
    "cancel_handoff",
    "cancel_open_handoffs",
    "claim",
    "count_runs",
    "create_run",
    "default_artifacts_dir",
    "default_data_dir",
    "default_database_url",
    "expire_due",
    "fenced",
    "finish_attempt",
    "forget_learned",
    "get_handoff",
    "get_learned",
    "get_run",
    "get_step",
    "get_steps",
    "heartbeat",
    "learn_target",
    "list_attempts",
    "list_events",
    "list_handoffs",
    "list_learned",
    "list_runs",
    "mark_intent",
    "models",
    "open_handoff",
    "orphaned_runs",
    "pending_intents",
    "record_artifact",
    "release",
    "resolve_handoff_id",
    "resolve_run_id",
    "start_attempt",
    "transition",
    "unsettled",
    "verify_events",
]

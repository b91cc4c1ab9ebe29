"""Tables. The Alembic migrations in `migrations/versions` must produce exactly this schema
(tests/unit/store/test_migrations.py compares them)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import uuid4

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.domain.states import AttemptOutcome, RunStatus, StepStatus
from app.store.types import EnumText, UTCDateTime, utcnow


class RunKind(StrEnum):
    TASK = "task"  # a task file's steps, all known when the run is created
    OPEN = "open"  # an agent sends the steps one at a time (MCP / SDK): app/engine/agentruns.py


class HandoffKind(StrEnum):
    APPROVAL = "approval"  # an irreversible action is ready to fire
    CLARIFICATION = "clarification"  # pick a target, supply a missing input
    TAKEOVER = "takeover"  # the person drives, then hands back
    VERIFICATION = "verification"  # outcome unknown: did it happen?
    RECOVERY = "recovery"  # what to do with a run found interrupted


class HandoffStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"  # the deadline passed; `answer` holds the default that applied
    CANCELLED = "cancelled"


def new_run_id() -> str:
    return uuid4().hex[:12]


def new_handoff_id() -> str:
    return uuid4().hex[:10]


class Base(DeclarativeBase):
    # Deterministic constraint names: batch migrations on SQLite and ALTERs on PostgreSQL
    # need to refer to constraints by name.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_status_created_at", "status", "created_at"),
        Index("ix_runs_created_at", "created_at"),
        Index("ix_runs_updated_at", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_run_id)
    task_name: Mapped[str] = mapped_column(String(200))
    task_source: Mapped[str | None] = mapped_column(Text)  # path of the task file, if any
    # The YAML as it was when the run was created, so a resume never sees an edited file.
    # Never rewritten: an open run's agent steps are step rows (StepRecord.spec).
    task_text: Mapped[str] = mapped_column(Text)
    kind: Mapped[RunKind] = mapped_column(EnumText(RunKind), default=RunKind.TASK, server_default="task")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    site: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[RunStatus] = mapped_column(EnumText(RunStatus), default=RunStatus.QUEUED)
    failure_class: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    # JSON columns do not track in-place mutation: assign a new dict (Checkpoint.to_json()).
    checkpoint: Mapped[dict[str, Any]] = mapped_column(default=dict)
    step_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    owner: Mapped[str | None] = mapped_column(String(200))  # lease holder
    lease_expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumped on every fenced write
    parent_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))  # retry of

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.task_name!r} {self.status}>"


class StepRecord(Base):
    __tablename__ = "steps"
    __table_args__ = (Index("ix_steps_run_id_step_id", "run_id", "step_id"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0-based
    step_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    effect: Mapped[str] = mapped_column(String(32))  # read | write | irreversible
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[StepStatus] = mapped_column(EnumText(StepStatus), default=StepStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure_class: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)  # requests/checks summary
    # An open run's step as its agent sent it (task-file syntax, as JSON); the run executes it
    # from here. None for a step of the task snapshot (Run.task_text).
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    def __repr__(self) -> str:
        return f"<StepRecord {self.run_id}#{self.index} {self.step_id!r} {self.status}>"


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("run_id", "step_index", "number"),
        ForeignKeyConstraint(["run_id", "step_index"], ["steps.run_id", "steps.index"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32))
    step_index: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)  # 1-based
    outcome: Mapped[AttemptOutcome | None] = mapped_column(EnumText(AttemptOutcome))
    failure_class: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Irreversible actions: committed BEFORE dispatch, so a crash leaves "intent, no outcome" (G3).
    intent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    before_fp: Mapped[str] = mapped_column(Text)
    after_fp: Mapped[str | None] = mapped_column(Text)
    requests: Mapped[list[Any]] = mapped_column(default=list)
    checks: Mapped[list[Any]] = mapped_column(default=list)
    screenshot_before: Mapped[str | None] = mapped_column(String(64))  # artifact sha256
    screenshot_after: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<Attempt {self.run_id}#{self.step_index}.{self.number} {self.outcome}>"


class EventRecord(Base):
    """Append-only; see app/store/events.py. The app never updates or deletes a row."""

    __tablename__ = "events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))  # ISO text exactly as hashed
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status", "status"), Index("ix_handoffs_run_id", "run_id"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_handoff_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    step_index: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[HandoffKind] = mapped_column(EnumText(HandoffKind))
    status: Mapped[HandoffStatus] = mapped_column(EnumText(HandoffStatus), default=HandoffStatus.OPEN)
    question: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answer: Mapped[Any | None] = mapped_column(JSON)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[datetime | None]
    default_answer: Mapped[Any | None] = mapped_column(JSON)
    # Binds an approval to the exact action it showed (G4): changed action -> ask again.
    action_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Handoff {self.id} {self.kind} {self.status} run={self.run_id}>"


class Artifact(Base):
    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))  # screenshot | trace | ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionProfile(Base):
    __tablename__ = "session_profiles"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # storage state; encrypted by its owner
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LearnedTarget(Base):
    """A target a person chose or pointed at for a task's step; later runs of the task use it
    (issue: clarifications). Keyed by the task and step and the target as written, so editing
    the task file's target forgets what was learned for the old one."""

    __tablename__ = "learned_targets"

    task_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    original: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the written target
    target: Mapped[dict[str, Any]] = mapped_column()  # the learned Target, as JSON
    source_run_id: Mapped[str | None] = mapped_column(String(32))
    handoff_id: Mapped[str | None] = mapped_column(String(32))
    learned_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

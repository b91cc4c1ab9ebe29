"""Read models for the console: plain, immutable rows built from the store in one short read
transaction. The console calls these from a worker thread (never in a Qt slot) and keeps the
results; nothing here holds a database session open after it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app.domain.states import TERMINAL, RunStatus
from app.store import Database, handoffs
from app.store.models import Attempt, Handoff, HandoffStatus, Run, RunKind, StepRecord
from app.store.types import utcnow

# Columns the queue can sort by, as the console names them.
SORT_COLUMNS: dict[str, Any] = {
    "created_at": Run.created_at,
    "started_at": Run.started_at,
    "task_name": Run.task_name,
    "status": Run.status,
    "site": Run.site,
    "updated_at": Run.updated_at,
}


@dataclass(frozen=True)
class RunFilter:
    """What the queue shows: statuses (empty: all), a site, free text (task name or run id)."""

    statuses: tuple[RunStatus, ...] = ()
    site: str = ""
    text: str = ""
    sort: str = "created_at"
    descending: bool = True

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.statuses:
            clauses.append(Run.status.in_(list(self.statuses)))
        if self.site:
            clauses.append(Run.site == self.site)
        if self.text.strip():
            needle = self.text.strip()
            clauses.append(or_(Run.task_name.contains(needle), Run.id.startswith(needle)))
        return clauses

    def order(self) -> list[Any]:
        column = SORT_COLUMNS.get(self.sort, Run.created_at)
        if self.descending:
            return [column.desc(), Run.id.desc()]
        return [column.asc(), Run.id.asc()]


@dataclass(frozen=True)
class RunRow:
    id: str
    task_name: str
    status: RunStatus
    site: str
    steps_done: int
    step_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    failure_class: str | None
    error: str | None
    needs_you: int  # open handoffs
    parent_run_id: str | None = None
    agent: bool = False  # an open run: an agent sends its steps (MCP); waiting means its turn

    @property
    def agents_turn(self) -> bool:
        """Waiting for its agent's next step, not for a person."""
        return self.agent and self.status is RunStatus.WAITING and not self.needs_you

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def duration_s(self, now: datetime | None = None) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or (None if self.terminal else (now or utcnow()))
        return None if end is None else max(0.0, (end - self.started_at).total_seconds())


def _rows(s: Session, found: Sequence[Run]) -> list[RunRow]:
    ids = [r.id for r in found]
    waiting: dict[str, int] = {}
    if ids:
        q = (
            select(Handoff.run_id, func.count())
            .where(Handoff.run_id.in_(ids), Handoff.status == HandoffStatus.OPEN)
            .group_by(Handoff.run_id)
        )
        waiting = {run_id: n for run_id, n in s.execute(q)}
    return [
        RunRow(
            id=r.id,
            task_name=r.task_name,
            status=RunStatus(r.status),
            site=r.site or "",
            steps_done=min(int((r.checkpoint or {}).get("next_step", 0)), r.step_count),
            step_count=r.step_count,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            updated_at=r.updated_at,
            failure_class=r.failure_class,
            error=r.error,
            needs_you=waiting.get(r.id, 0),
            parent_run_id=r.parent_run_id,
            agent=r.kind == RunKind.OPEN,
        )
        for r in found
    ]


def count_runs(db: Database, flt: RunFilter) -> int:
    with db.session(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(Run).where(*flt.where())) or 0


def page_runs(db: Database, flt: RunFilter, offset: int, limit: int) -> list[RunRow]:
    """One page of the queue in the filter's order."""
    with db.session(readonly=True) as s:
        query = select(Run).where(*flt.where()).order_by(*flt.order()).offset(offset).limit(limit)
        return _rows(s, list(s.scalars(query)))


def runs_by_id(db: Database, run_ids: Sequence[str]) -> list[RunRow]:
    with db.session(readonly=True) as s:
        return _rows(s, list(s.scalars(select(Run).where(Run.id.in_(list(run_ids))))))


def changed_runs(db: Database, since: datetime, limit: int = 500) -> list[RunRow]:
    """Runs updated at or after `since` (newest last), using the updated_at index."""
    with db.session(readonly=True) as s:
        query = select(Run).where(Run.updated_at >= since).order_by(Run.updated_at).limit(limit)
        return _rows(s, list(s.scalars(query)))


def run_sites(db: Database) -> list[str]:
    with db.session(readonly=True) as s:
        return sorted(x for x in s.scalars(select(Run.site).distinct()) if x)


@dataclass(frozen=True)
class AttemptView:
    number: int
    outcome: str | None
    failure_class: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    requests: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    screenshot_before: str | None  # artifact sha256
    screenshot_after: str | None

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


@dataclass(frozen=True)
class StepView:
    index: int
    step_id: str
    action: str
    effect: str
    summary: str
    status: str
    attempts: int
    failure_class: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    evidence: dict[str, Any]
    attempt_list: list[AttemptView] = field(default_factory=list)


@dataclass(frozen=True)
class HandoffView:
    id: str
    run_id: str
    task_name: str
    kind: str
    status: str
    question: str
    payload: dict[str, Any]
    step_index: int | None
    deadline: datetime | None
    default_answer: Any
    created_at: datetime
    answer: Any = None
    answered_by: str | None = None

    def seconds_left(self, now: datetime | None = None) -> float | None:
        if self.deadline is None:
            return None
        return (self.deadline - (now or utcnow())).total_seconds()


# Who needs a person most: an action waiting to fire, then an outcome nobody knows, then the rest.
_URGENCY = {"approval": 0, "verification": 1, "takeover": 2, "clarification": 3, "recovery": 4}


def _handoff_view(h: Handoff, task_name: str) -> HandoffView:
    return HandoffView(
        id=h.id,
        run_id=h.run_id,
        task_name=task_name,
        kind=str(h.kind),
        status=str(h.status),
        question=h.question,
        payload=dict(h.payload or {}),
        step_index=h.step_index,
        deadline=h.deadline,
        default_answer=h.default_answer,
        created_at=h.created_at,
        answer=h.answer,
        answered_by=h.answered_by,
    )


def urgency(h: HandoffView) -> tuple[float, int, datetime]:
    """Sort key, most urgent first: the nearest deadline, then the kind, then the oldest."""
    left = h.seconds_left()
    return (left if left is not None else float("inf"), _URGENCY.get(h.kind, 9), h.created_at)


def open_handoffs(db: Database) -> list[HandoffView]:
    """Every open handoff, most urgent first. Deadlines that passed apply their default first."""
    with db.session() as s, s.begin():
        handoffs.expire_due(s)
    with db.session(readonly=True) as s:
        q = (
            select(Handoff, Run.task_name)
            .join(Run, Run.id == Handoff.run_id)
            .where(Handoff.status == HandoffStatus.OPEN)
        )
        found = [_handoff_view(h, name) for h, name in s.execute(q)]
    return sorted(found, key=urgency)


@dataclass(frozen=True)
class RunDetail:
    run: RunRow
    steps: list[StepView]
    handoffs: list[HandoffView]
    inputs: dict[str, Any]
    task_source: str | None


def run_detail(db: Database, run_id: str) -> RunDetail | None:
    """A run with its steps, their attempts (evidence) and its handoffs, for the execution log."""
    with db.session(readonly=True) as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        row = _rows(s, [run])[0]
        records = list(
            s.scalars(select(StepRecord).where(StepRecord.run_id == run_id).order_by(StepRecord.index))
        )
        attempts: dict[int, list[AttemptView]] = {}
        for a in s.scalars(
            select(Attempt).where(Attempt.run_id == run_id).order_by(Attempt.step_index, Attempt.number)
        ):
            attempts.setdefault(a.step_index, []).append(
                AttemptView(
                    number=a.number,
                    outcome=str(a.outcome) if a.outcome else None,
                    failure_class=a.failure_class,
                    error=a.error,
                    started_at=a.started_at,
                    finished_at=a.finished_at,
                    requests=list(a.requests or []),
                    checks=list(a.checks or []),
                    screenshot_before=a.screenshot_before,
                    screenshot_after=a.screenshot_after,
                )
            )
        steps = [
            StepView(
                index=r.index,
                step_id=r.step_id,
                action=r.action,
                effect=r.effect,
                summary=r.summary,
                status=str(r.status),
                attempts=r.attempts,
                failure_class=r.failure_class,
                error=r.error,
                started_at=r.started_at,
                finished_at=r.finished_at,
                duration_ms=r.duration_ms,
                evidence=dict(r.evidence or {}),
                attempt_list=attempts.get(r.index, []),
            )
            for r in records
        ]
        hs = [_handoff_view(h, run.task_name) for h in handoffs.list_handoffs(s, run_id=run_id)]
        return RunDetail(row, steps, hs, dict(run.inputs or {}), run.task_source)


# ----------------------------------------------------------------- task library
# The console's task library reads task files, not the database; it lives with the other read
# models so the widgets stay free of I/O (the panel runs `scan_library` on a worker thread).

from pathlib import Path  # noqa: E402

from app.domain.errors import TaskValidationError, ValidationIssue  # noqa: E402


@dataclass(frozen=True)
class LibraryInput:
    """One declared input of a task file, as the start dialog builds its form field."""

    name: str
    type: str  # string, integer, number, boolean
    required: bool
    default: Any
    description: str | None


@dataclass(frozen=True)
class LibraryEntry:
    """One task file of the library folder: what it does, or why it cannot run."""

    path: str
    file_name: str
    name: str
    description: str | None
    site: str | None
    inputs: tuple[LibraryInput, ...]
    step_count: int
    issues: tuple[ValidationIssue, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.issues


LIBRARY_PATTERNS = ("*.yaml", "*.yml")


def scan_library(folder: str | Path) -> list[LibraryEntry]:
    """Every task file of `folder` (not recursive), validated, sorted by file name. A file that
    cannot be read or validated is still listed, with its issues. Raises FileNotFoundError when
    the folder is missing (the library says so instead of showing an empty list)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}")
    files = {p for pattern in LIBRARY_PATTERNS for p in root.glob(pattern) if p.is_file()}
    return [_library_entry(p) for p in sorted(files, key=lambda p: (p.name.lower(), p.name))]


def _library_entry(file: Path) -> LibraryEntry:
    import yaml

    from app.engine.taskfiles import load_task_file

    path = str(file)
    try:
        task, _ = load_task_file(path)
    except TaskValidationError as exc:
        issues = tuple(exc.issues)
    except Exception as exc:  # undecodable bytes, a loader bug: one bad file must not hide the rest
        issues = (ValidationIssue(path, None, "(file)", f"cannot load: {exc}", "check the file"),)
    else:
        return LibraryEntry(
            path=path,
            file_name=file.name,
            name=task.name,
            description=task.description,
            site=task.site,
            inputs=tuple(
                LibraryInput(name, spec.type, spec.required, spec.default, spec.description)
                for name, spec in task.inputs.items()
            ),
            step_count=len(task.steps),
        )
    # Invalid: show what can still be read, so the person recognises the file.
    raw: Any = None
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except Exception:
        raw = None
    data = raw if isinstance(raw, dict) else {}
    name = data.get("name")
    description = data.get("description")
    steps = data.get("steps")
    return LibraryEntry(
        path=path,
        file_name=file.name,
        name=name.strip() if isinstance(name, str) and name.strip() else file.stem,
        description=description if isinstance(description, str) else None,
        site=data.get("site") if isinstance(data.get("site"), str) else None,
        inputs=(),
        step_count=len(steps) if isinstance(steps, list) else 0,
        issues=issues,
    )


# ----------------------------------------------------------------- execution log
@dataclass(frozen=True)
class EventView:
    seq: int
    type: str
    at: str  # ISO 8601 UTC, as recorded (and hashed)
    data: dict[str, Any]


@dataclass(frozen=True)
class RunLog:
    """What the console's execution log shows of a run.

    `action_ms`: how long each attempt's action took in the browser, keyed by (step index,
    attempt number), from its attempt.finished event (absent when the action raised). The
    attempt rows cannot say for reads: a read attempt is written once, when it ends.
    `events`: events after the `after_seq` asked for, oldest first, at most `limit` (the
    newest ones when there are more)."""

    detail: RunDetail
    action_ms: dict[tuple[int, int], float]
    events: list[EventView]


def run_log(db: Database, run_id: str, after_seq: int = 0, limit: int = 500) -> RunLog | None:
    from app.domain.events import EventType
    from app.store.models import EventRecord

    detail = run_detail(db, run_id)
    if detail is None:
        return None
    with db.session(readonly=True) as s:
        finished = s.scalars(
            select(EventRecord.data).where(
                EventRecord.run_id == run_id, EventRecord.type == EventType.ATTEMPT_FINISHED.value
            )
        )
        action_ms = {
            (int(d["index"]), int(d["attempt"])): float(d["duration_ms"])
            for d in finished
            if d.get("duration_ms") is not None and "index" in d and "attempt" in d
        }
        newest = s.execute(
            select(EventRecord.seq, EventRecord.type, EventRecord.at, EventRecord.data)
            .where(EventRecord.run_id == run_id, EventRecord.seq > after_seq)
            .order_by(EventRecord.seq.desc())
            .limit(limit)
        )
        events = [EventView(seq, kind, at, dict(data or {})) for seq, kind, at, data in newest]
    events.reverse()
    return RunLog(detail, action_ms, events)


# ----------------------------------------------------------------- live views
@dataclass(frozen=True)
class LiveRunView:
    """What a live view's overlay says about a run: its task, its status, the step it is on
    and what it waits for."""

    run: RunRow
    step_index: int | None  # 0-based: the step being executed or waited on; None when none is
    step_action: str  # e.g. "click"
    step_summary: str  # e.g. 'click role=button name="Save"'
    waiting_for: tuple[str, ...]  # kinds of its open handoffs ("approval", "takeover"…)

    @property
    def taken_over(self) -> bool:
        return "takeover" in self.waiting_for


def live_run_views(db: Database, run_ids: Sequence[str]) -> dict[str, LiveRunView]:
    """The overlay facts of each run in `run_ids` (absent ones are left out): three small
    indexed queries however many live views there are."""
    ids = list(run_ids)
    if not ids:
        return {}
    with db.session(readonly=True) as s:
        rows = _rows(s, list(s.scalars(select(Run).where(Run.id.in_(ids)))))
        current = {r.id: min(r.steps_done, r.step_count - 1) for r in rows if r.step_count and not r.terminal}
        steps = {
            (st.run_id, st.index): st
            for st in s.scalars(
                select(StepRecord).where(
                    StepRecord.run_id.in_(list(current)), StepRecord.index.in_(set(current.values()))
                )
            )
        }
        kinds: dict[str, list[str]] = {}
        for run_id, kind in s.execute(
            select(Handoff.run_id, Handoff.kind).where(
                Handoff.run_id.in_(ids), Handoff.status == HandoffStatus.OPEN
            )
        ):
            kinds.setdefault(run_id, []).append(str(kind))
    found: dict[str, LiveRunView] = {}
    for row in rows:
        index = current.get(row.id)
        step = steps.get((row.id, index)) if index is not None else None
        found[row.id] = LiveRunView(
            run=row,
            step_index=index if step is not None else None,
            step_action=step.action if step is not None else "",
            step_summary=step.summary if step is not None else "",
            waiting_for=tuple(sorted(kinds.get(row.id, []))),
        )
    return found


# ----------------------------------------------------------------- the console's task queue


@dataclass(frozen=True)
class QueuePage:
    """The first page of the queue with its total and the point live refresh starts from, read
    in one transaction so no commit falls between them."""

    rows: list[RunRow]
    total: int  # runs the filter shows
    mark: datetime | None  # the newest updated_at of any run (None: no runs yet)


def queue_first_page(db: Database, flt: RunFilter, limit: int) -> QueuePage:
    with db.session(readonly=True) as s:
        mark = s.scalar(select(func.max(Run.updated_at)))
        total = s.scalar(select(func.count()).select_from(Run).where(*flt.where())) or 0
        query = select(Run).where(*flt.where()).order_by(*flt.order()).limit(limit)
        return QueuePage(_rows(s, list(s.scalars(query))), total, mark)


@dataclass(frozen=True)
class QueueChanges:
    rows: list[RunRow]  # runs changed at or after `since`, oldest change first
    matching: frozenset[str]  # the ids among `rows` that the filter shows
    total: int  # runs the filter shows now
    newest: datetime | None  # the newest updated_at among `rows`
    complete: bool  # False: more than `limit` changed; ask again from `newest`


def queue_changes(db: Database, flt: RunFilter, since: datetime | None, limit: int = 500) -> QueueChanges:
    """What changed in the queue since `since` (inclusive), judged against the filter by the
    database itself (its text match is the one the pages use)."""
    with db.session(readonly=True) as s:
        query = select(Run).order_by(Run.updated_at).limit(limit)
        if since is not None:
            query = query.where(Run.updated_at >= since)
        found = list(s.scalars(query))
        complete = len(found) < limit
        if since is not None:
            # A question opened on a run that was already waiting leaves the run row as it was,
            # yet its "needs you" count changed. Open handoffs are few (indexed by status).
            asked = set(
                s.scalars(
                    select(Handoff.run_id).where(
                        Handoff.status == HandoffStatus.OPEN, Handoff.created_at >= since
                    )
                )
            ) - {r.id for r in found}
            if asked:
                found += list(s.scalars(select(Run).where(Run.id.in_(list(asked)))))
        ids = [r.id for r in found]
        matching: frozenset[str] = frozenset()
        if ids:
            matching = frozenset(s.scalars(select(Run.id).where(Run.id.in_(ids), *flt.where())))
        total = s.scalar(select(func.count()).select_from(Run).where(*flt.where())) or 0
        newest = max((r.updated_at for r in found), default=None)
        return QueueChanges(_rows(s, found), matching, total, newest, complete)

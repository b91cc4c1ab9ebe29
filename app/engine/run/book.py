"""The run's book: a step's outcome and the run's status written to the record, each with the
checkpoint in one transaction (DESIGN.md step 5, G1)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.domain.checkpoint import Checkpoint
from app.domain.errors import StepFailure
from app.domain.events import EventType
from app.domain.states import TERMINAL, RunStatus, StepStatus, can_transition
from app.domain.task import Action, Step, Target, Task
from app.engine import faults
from app.engine.asking import learned_key
from app.engine.attempts import StepResult, dispatches_intent, step_evidence
from app.engine.recorder import RunRecorder, RunStopped
from app.store import Database, attempts, get_learned, handoffs, runs
from app.store.models import Run, StepRecord


class StepBook:
    def __init__(
        self, db: Database, run_id: str, recorder: RunRecorder, url: Callable[[], str | None]
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.recorder = recorder
        self.url = url  # where the page is now (None: no page yet)
        self._attempt_numbers: dict[int, int] | None = None

    async def transition(
        self,
        to: RunStatus,
        reason: str,
        failure: StepFailure | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        """Move the run to `to`; RunStopped when someone else moved it meanwhile (cancel,
        pause): their word stands."""

        def change(s: Session, run: Run) -> bool:
            if checkpoint is not None:
                run.checkpoint = checkpoint.to_json()
            current = RunStatus(run.status)
            if current == to:
                return True
            if not can_transition(current, to):
                return False
            runs.transition(
                s,
                run,
                to,
                reason=reason,
                failure_class=failure.failure_class.value if failure else None,
                error=failure.message if failure else None,
            )
            return True

        if not await self.recorder.commit(change):
            raise RunStopped

    def started(self, index: int, step: Step) -> None:
        summary = step.summary()
        self.recorder.emit(
            EventType.STEP_STARTED,
            step=step.id,
            index=index,
            action=step.action.value,
            effect=step.effect.value,
            summary=summary,
        )
        self.recorder.stage(lambda s, run: _mark_running(s, self.run_id, index, summary))

    async def complete(
        self,
        index: int,
        step: Step,
        result: StepResult,
        cp: Checkpoint,
        *,
        verified_after_recovery: bool = False,
    ) -> None:
        cp.next_step = index + 1
        cp.last_url = self.url() or cp.last_url
        if step.action is Action.GOTO and not (result.skipped or result.by_operator):
            cp.pages = {}  # a rebuild never needs to go further back than this goto
        if cp.last_url:
            cp.pages[str(index)] = cp.last_url
        status = StepStatus.SKIPPED if result.skipped else StepStatus.SUCCEEDED
        notes: dict[str, Any] = {}
        if verified_after_recovery:
            notes["verified_after_recovery"] = True
        if result.by_operator:
            notes["by_operator"] = True
            if result.done_by:
                notes["done_by"] = result.done_by
        if result.skipped:
            notes["skipped_by_operator"] = True
        self.recorder.emit(
            EventType.STEP_FINISHED,
            step=step.id,
            index=index,
            status=status.value,
            attempts=result.attempts,
            duration_ms=round(result.duration_ms, 1),
            **notes,
        )

        def change(s: Session, run: Run) -> None:
            record = _step_record(s, self.run_id, index)
            record.status = status
            record.attempts = result.attempts
            record.failure_class = None
            record.error = None
            record.finished_at = datetime.now(UTC)
            record.duration_ms = round(result.duration_ms)
            record.evidence = step_evidence(s, self.run_id, index, result) | notes
            run.checkpoint = cp.to_json()

        if verified_after_recovery or result.by_operator or result.skipped:
            await self.recorder.commit(change)
        elif dispatches_intent(step):
            # Its intent is durable; should this outcome be lost to a crash, recovery checks
            # the expectation instead of firing again. The next intent waits for it (FIFO).
            self.recorder.commit_behind(change)
            if faults.armed("after_outcome"):
                await self.recorder.flush()
                faults.crash_point("after_outcome")
        else:
            await self.recorder.commit_soon(change)  # a read: replayed after a crash anyway

    async def fail(
        self, index: int, step: Step, result: StepResult, cp: Checkpoint, *, end_run: bool = True
    ) -> None:
        """Record the step as failed; with `end_run`, the run fails with it (else it goes on
        past the step: an open task's agent decides what to do about it)."""
        failure = result.failure
        assert failure is not None
        if not end_run:
            cp.next_step = index + 1
        self.recorder.emit(
            EventType.STEP_FINISHED,
            step=step.id,
            index=index,
            status=StepStatus.FAILED.value,
            attempts=result.attempts,
            duration_ms=round(result.duration_ms, 1),
            failure_class=failure.failure_class.value,
            error=failure.message,
        )

        def change(s: Session, run: Run) -> None:
            record = _step_record(s, self.run_id, index)
            record.status = StepStatus.FAILED
            record.attempts = result.attempts
            record.failure_class = failure.failure_class.value
            record.error = failure.message
            record.finished_at = datetime.now(UTC)
            record.duration_ms = round(result.duration_ms)
            record.evidence = step_evidence(s, self.run_id, index, result)
            run.checkpoint = cp.to_json()
            if end_run and RunStatus(run.status) not in TERMINAL:
                runs.transition(
                    s,
                    run,
                    RunStatus.FAILED,
                    reason=f"step {step.id} failed",
                    failure_class=failure.failure_class.value,
                    error=failure.message,
                )
                # Nothing left to ask about (an approval open while a takeover ran out).
                handoffs.cancel_open_handoffs(s, self.run_id, reason=f"the run failed at step {step.id}")

        await self.recorder.commit(change)

    def next_attempt_number(self, index: int) -> int:
        """Attempts are numbered across interruptions: a resumed step continues the count."""
        if self._attempt_numbers is None:
            with self.db.session(readonly=True) as s:
                self._attempt_numbers = {}
                for a in attempts.list_attempts(s, self.run_id):
                    known = self._attempt_numbers.get(a.step_index, 0)
                    self._attempt_numbers[a.step_index] = max(known, a.number)
        return self._attempt_numbers.get(index, 0) + 1

    def attempted(self, index: int, count: int) -> None:
        """The step was tried `count` times so far in this execution (it may be tried again)."""
        if self._attempt_numbers is not None and count:
            self._attempt_numbers[index] = count

    def learn_from_earlier_runs(self, task: Task, cp: Checkpoint) -> None:
        """Targets people chose for this task before: use them (and say so in the record)."""
        with self.db.session(readonly=True) as s:
            for step in task.steps:
                if step.target is None or step.id in cp.learned:
                    continue
                row = get_learned(s, task.name, step.id, learned_key(step.target))
                if row is not None:
                    cp.learned[step.id] = dict(row.target)
                    self.recorder.emit(
                        EventType.TARGET_SUBSTITUTED,
                        step=step.id,
                        original=step.target.describe(),
                        target=Target.model_validate(row.target).describe(),
                        learned_in_run=row.source_run_id,
                        by=row.learned_by,
                    )


def _step_record(s: Session, run_id: str, index: int) -> StepRecord:
    record = runs.get_step(s, run_id, index)
    if record is None:
        raise LookupError(f"run {run_id} has no step #{index}")
    return record


def _mark_running(s: Session, run_id: str, index: int, summary: str) -> None:
    record = _step_record(s, run_id, index)
    record.status = StepStatus.RUNNING
    record.summary = summary  # rendered: the task file's templates filled in
    if record.started_at is None:
        record.started_at = datetime.now(UTC)

"""The run loop: steps in order, each checkpointed; gates, handoffs, recovery after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from app.domain.checkpoint import Checkpoint
from app.domain.errors import FailureClass, FlightdeckError, StepFailure
from app.domain.events import EventType
from app.domain.states import TERMINAL, AttemptOutcome, RunStatus, StepStatus, can_transition
from app.domain.task import Action, AskArgs, Effect, ExtractArgs, GotoArgs, Step, Task, load_task
from app.domain.task.templating import TemplateError, render
from app.engine import faults
from app.engine.approvals import action_hash, approval_preview, needs_approval
from app.engine.attempts import MAX_DISMISSALS, StepExecutor, StepResult, dispatches_intent
from app.engine.ports import MUTATING_METHODS, BrowserProvider, BrowserSession
from app.engine.progress import Budget, NoProgressDetector
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import EventSink, RunRecorder, RunStopped
from app.engine.validate import effective_expectation
from app.store import ArtifactStore, Database, attempts, handoffs, leases, runs
from app.store.models import Handoff, Run, StepRecord

log = logging.getLogger("flightdeck.engine")

LEASE_TTL = 30.0


@dataclass
class RunResult:
    run_id: str
    status: RunStatus
    failure_class: str | None = None
    error: str | None = None
    open_handoffs: list[str] = field(default_factory=list)


class _Park(Exception):
    """The run must wait for a person (a handoff was opened)."""

    def __init__(self, handoff_id: str) -> None:
        self.handoff_id = handoff_id


class RunLoop:
    def __init__(
        self,
        *,
        db: Database,
        provider: BrowserProvider,
        artifacts: ArtifactStore,
        limiter: SiteRateLimiter,
        run_id: str,
        owner: str,
        sinks: list[EventSink],
    ) -> None:
        self.db = db
        self.provider = provider
        self.artifacts = artifacts
        self.limiter = limiter
        self.run_id = run_id
        self.owner = owner
        self.recorder = RunRecorder(db, run_id, owner, sinks)
        self.session: BrowserSession | None = None
        self._handoffs: list[Handoff] | None = None
        self._attempt_numbers: dict[int, int] | None = None

    # ----------------------------------------------------------------- lifecycle
    async def execute(self) -> RunResult:
        with self.db.session(readonly=True) as s:
            run = runs.get_run(s, self.run_id)
            assert run is not None
            task = load_task(run.task_text, run.task_source or f"run {run.id}")
            inputs: dict[str, Any] = dict(run.inputs or {})
            checkpoint = Checkpoint.from_json(run.checkpoint)
            start_status = RunStatus(run.status)
        self.recorder.prime()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._transition(RunStatus.RUNNING, "resumed" if checkpoint.next_step else "started")
            self.session = await self.provider.open_session(
                base_url=task.site, timeout=task.policy.step_timeout
            )
            await self._loop(task, inputs, checkpoint, recovering=start_status != RunStatus.QUEUED)
        except _Park:
            pass
        except RunStopped:
            pass
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            try:
                await self.recorder.close()  # everything submitted is durable before we let go
            finally:
                if self.session is not None:
                    with contextlib.suppress(Exception):
                        await self.session.close()
                self._release()
        return self.result()

    def result(self) -> RunResult:
        with self.db.session(readonly=True) as s:
            run = runs.get_run(s, self.run_id)
            assert run is not None
            open_ids = [h.id for h in handoffs.list_handoffs(s, run_id=self.run_id, status="open")]
            return RunResult(self.run_id, RunStatus(run.status), run.failure_class, run.error, open_ids)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(LEASE_TTL / 3)
            if not await asyncio.to_thread(self._renew):
                log.warning("run %s: lease lost", self.run_id)
                return

    def _renew(self) -> bool:
        with self.db.session() as s, s.begin():
            return leases.heartbeat(s, self.run_id, self.owner, LEASE_TTL)

    def _release(self) -> None:
        with contextlib.suppress(Exception), self.db.session() as s, s.begin():
            leases.release(s, self.run_id, self.owner)

    async def _transition(
        self,
        to: RunStatus,
        reason: str,
        failure: StepFailure | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        def change(s: Session, run: Run) -> bool:
            if checkpoint is not None:
                run.checkpoint = checkpoint.to_json()
            current = RunStatus(run.status)
            if current == to:
                return True
            if not can_transition(current, to):
                return False  # cancelled or paused by someone else meanwhile: their word stands
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

    # ----------------------------------------------------------------- the loop
    async def _loop(self, task: Task, inputs: dict[str, Any], cp: Checkpoint, recovering: bool) -> None:
        assert self.session is not None
        budget = Budget(task.policy, cp)
        progress = NoProgressDetector(task.policy, cp)
        executor = StepExecutor(
            task=task,
            run_id=self.run_id,
            session=self.session,
            recorder=self.recorder,
            artifacts=self.artifacts,
            limiter=self.limiter,
            budget=budget,
            progress=progress,
        )
        if cp.next_step < len(task.steps) and (
            (recovering and cp.next_step > 0) or self._has_pending_intent()
        ):
            try:
                await self._reestablish(task, inputs, cp, executor)
            except StepFailure as failure:
                index = min(cp.next_step, len(task.steps) - 1)
                await self._fail(index, task.steps[index], StepResult(ok=False, failure=failure), cp)
                return
        while cp.next_step < len(task.steps):
            if self.recorder.status is not RunStatus.RUNNING:  # cancelled or paused meanwhile
                raise RunStopped
            index = cp.next_step
            try:
                step = self._render(task.steps[index], inputs, cp)
                result = await self._run_one(task, index, step, cp, executor, inputs)
            except StepFailure as failure:  # budgets, no progress, template errors
                result = StepResult(ok=False, failure=failure)
            cp.elapsed = budget.elapsed
            if not result.ok:
                await self._fail(index, task.steps[index], result, cp)
                return
            await self._complete(index, task.steps[index], result, cp)
        await self._transition(RunStatus.SUCCEEDED, "all steps succeeded", checkpoint=cp)

    def _render(self, step: Step, inputs: dict[str, Any], cp: Checkpoint) -> Step:
        try:
            data = step.model_dump(mode="json", exclude={"args", "expect"})
            rendered_args = render(
                step.args.model_dump(mode="json", exclude_defaults=True), inputs, cp.outputs
            )
            rendered_expect = (
                render(step.expect.model_dump(mode="json", exclude_defaults=True), inputs, cp.outputs)
                if step.expect
                else None
            )
            args = type(step.args).model_validate(rendered_args)
            return Step.model_validate({**data, "args": args, "expect": rendered_expect})
        except (TemplateError, ValueError) as exc:
            raise StepFailure(FailureClass.PERMANENT, f"step {step.id}: {exc}") from exc

    async def _run_one(
        self,
        task: Task,
        index: int,
        step: Step,
        cp: Checkpoint,
        executor: StepExecutor,
        inputs: dict[str, Any],
    ) -> StepResult:
        self.recorder.emit(
            EventType.STEP_STARTED,
            step=step.id,
            index=index,
            action=step.action.value,
            effect=step.effect.value,
            summary=step.summary(),
        )
        self.recorder.stage(lambda s, run: _mark_step(s, self.run_id, index, StepStatus.RUNNING))
        if step.action is Action.ASK:
            return await self._answer_or_ask(index, step, cp)
        verified = await self._verification_answer(index)
        if verified is not None:
            return verified
        if needs_approval(step, task.policy):
            await self._gate_approval(index, step)
        result = await executor.run_step(index, step, first_attempt=self._next_attempt_number(index))
        if result.ok and isinstance(step.args, ExtractArgs) and result.outcome is not None:
            cp.outputs[step.args.into] = result.outcome.value
            self.recorder.emit(
                EventType.OUTPUT_EXTRACTED,
                step=step.id,
                name=step.args.into,
                value=_preview(result.outcome.value),
            )
        return result

    # ----------------------------------------------------------------- outcomes
    async def _complete(
        self,
        index: int,
        step: Step,
        result: StepResult,
        cp: Checkpoint,
        *,
        verified_after_recovery: bool = False,
    ) -> None:
        cp.next_step = index + 1
        cp.last_url = self.session.url if self.session else cp.last_url
        self.recorder.emit(
            EventType.STEP_FINISHED,
            step=step.id,
            index=index,
            status=StepStatus.SUCCEEDED.value,
            attempts=result.attempts,
            duration_ms=round(result.duration_ms, 1),
            **({"verified_after_recovery": True} if verified_after_recovery else {}),
        )

        def change(s: Session, run: Run) -> None:
            record = _step_record(s, self.run_id, index)
            record.status = StepStatus.SUCCEEDED
            record.attempts = result.attempts
            record.failure_class = None
            record.error = None
            record.finished_at = datetime.now(UTC)
            record.duration_ms = round(result.duration_ms)
            record.evidence = _evidence(result)
            run.checkpoint = cp.to_json()

        if verified_after_recovery:
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

    async def _fail(self, index: int, step: Step, result: StepResult, cp: Checkpoint) -> None:
        failure = result.failure
        assert failure is not None
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
            record.evidence = _evidence(result)
            run.checkpoint = cp.to_json()
            if RunStatus(run.status) not in TERMINAL:
                runs.transition(
                    s,
                    run,
                    RunStatus.FAILED,
                    reason=f"step {step.id} failed",
                    failure_class=failure.failure_class.value,
                    error=failure.message,
                )

        await self.recorder.commit(change)

    # ----------------------------------------------------------------- handoffs
    async def _gate_approval(self, index: int, step: Step) -> None:
        """Fire only with an approval bound to exactly this action; otherwise park (G4)."""
        wanted = action_hash(step)
        found = self._handoffs_of("approval", index)
        for h in sorted(found, key=lambda h: h.created_at, reverse=True):
            if h.status == "open" and h.action_hash == wanted:
                await self._park(h.id, "waiting for approval")
            if h.status == "answered" and h.action_hash == wanted and not (h.payload or {}).get("used"):
                answer = (h.answer or {}).get("decision")
                if answer == "approve":
                    await self._consume(h.id, with_intent=True)
                    return
                raise StepFailure(
                    FailureClass.DENIED,
                    f"the operator denied {step.summary()}" + (f": {h.comment}" if h.comment else ""),
                    {"handoff": h.id, "by": h.answered_by},
                )
        url = self.session.url if self.session else ""
        handoff_id = await self._open_handoff(
            index,
            "approval",
            f"Approve: {step.description or step.summary()}?",
            approval_preview(step, url),
            wanted,
        )
        await self._park(handoff_id, "waiting for approval")

    async def _verification_answer(self, index: int) -> StepResult | None:
        """The operator said whether an interrupted action happened: done → complete the step;
        not done → fall through to a fresh approval/attempt (never re-fired without one)."""
        found = [
            h
            for h in self._handoffs_of("verification", index)
            if h.status == "answered" and not (h.payload or {}).get("used")
        ]
        for h in found:
            await self._consume(h.id)
            if (h.answer or {}).get("decision") in ("approve", "done"):
                return StepResult(ok=True, attempts=0)
        return None

    def _handoffs_of(self, kind: str, index: int) -> list[Handoff]:
        """This run's handoffs, read once per execution: while the run is running none can be
        open (an open one parks it), so answers cannot change under us."""
        if self._handoffs is None:
            with self.db.session(readonly=True) as s:
                self._handoffs = list(handoffs.list_handoffs(s, run_id=self.run_id, status=None))
        return [h for h in self._handoffs if h.kind == kind and h.step_index == index]

    async def _consume(self, handoff_id: str, *, with_intent: bool = False) -> None:
        """Mark an answer used. An approval is used up by the intent commit of the action it
        allows — same transaction — so a crash in between neither loses nor reuses it."""

        def change(s: Session, run: Run) -> None:
            h = handoffs.get_handoff(s, handoff_id)
            assert h is not None
            h.payload = {**(h.payload or {}), "used": True}

        if with_intent:
            self.recorder.stage(change)
        else:
            await self.recorder.commit(change)
        for h in self._handoffs or []:
            if h.id == handoff_id:
                h.payload = {**(h.payload or {}), "used": True}

    async def _answer_or_ask(self, index: int, step: Step, cp: Checkpoint) -> StepResult:
        args = step.args
        assert isinstance(args, AskArgs)
        found = self._handoffs_of("clarification", index)
        for h in found:
            if h.status == "open":
                await self._park(h.id, "waiting for an answer")
            if h.status == "answered":
                value = (h.answer or {}).get("value")
                if args.into:
                    cp.outputs[args.into] = value
                return StepResult(ok=True, attempts=1)
        payload = {"question": args.question, "choices": args.choices, "type": args.type, "into": args.into}
        handoff_id = await self._open_handoff(index, "clarification", args.question, payload, None)
        await self._park(handoff_id, "waiting for an answer")

    async def _open_handoff(
        self, index: int, kind: str, question: str, payload: dict[str, Any], hash_: str | None
    ) -> str:
        def change(s: Session, run: Run) -> str:
            h = handoffs.open_handoff(
                s,
                run_id=self.run_id,
                step_index=index,
                kind=kind,
                question=question,
                payload=payload,
                action_hash=hash_,
            )
            _mark_step(s, self.run_id, index, StepStatus.WAITING)
            return h.id

        handoff_id: str = await self.recorder.commit(change)
        return handoff_id

    async def _park(self, handoff_id: str, reason: str) -> NoReturn:
        await self._transition(RunStatus.WAITING, reason)
        raise _Park(handoff_id)

    # ----------------------------------------------------------------- recovery
    def _has_pending_intent(self) -> bool:
        with self.db.session(readonly=True) as s:
            return bool(attempts.pending_intents(s, self.run_id))

    async def _reestablish(
        self, task: Task, inputs: dict[str, Any], cp: Checkpoint, executor: StepExecutor
    ) -> None:
        """After a crash: rebuild page state without redoing completed writes (G1, G3).

        Read steps since the last navigation are re-executed (they only rebuild page state:
        the form values a crash threw away); completed writes are skipped. A write caught
        between dispatch and outcome is checked by its expectation instead of being re-fired.
        """
        start = cp.next_step
        while start > 0 and task.steps[start].action is not Action.GOTO:
            start -= 1
        self.recorder.emit(EventType.RUN_RECOVERED, from_step=start, next_step=cp.next_step)
        replay_error: StepFailure | None = None
        try:
            await self._replay(task, inputs, cp, executor, start, record=True)
        except StepFailure as exc:
            # The interrupted action may itself be why the page cannot be rebuilt (the
            # deleted item's link is gone): find out whether it happened before giving up.
            replay_error = exc
        await self.recorder.commit()
        interrupted_step = cp.next_step
        redo = await self._settle_intent(task, inputs, cp, executor)
        if replay_error is not None and (redo or cp.next_step == interrupted_step):
            raise replay_error  # the step must run, and its page cannot be rebuilt
        if redo:
            # The check reloaded the page: rebuild the form state before doing the step.
            await self._replay(task, inputs, cp, executor, start, record=False)

    async def _replay(
        self,
        task: Task,
        inputs: dict[str, Any],
        cp: Checkpoint,
        executor: StepExecutor,
        start: int,
        *,
        record: bool,
    ) -> None:
        assert self.session is not None
        changed_server = self._steps_that_changed_the_server(start, cp.next_step)
        skipped = False
        for index in range(start, cp.next_step):
            step = self._render(task.steps[index], inputs, cp)
            if index in changed_server or step.effect is Effect.IRREVERSIBLE or step.action is Action.ASK:
                skipped = True
                if record:
                    self.recorder.emit(
                        EventType.STEP_SKIPPED,
                        step=step.id,
                        index=index,
                        reason="completed before the interruption; not redone",
                    )
                continue
            timeout = executor.budget.timeout_for(step)
            if isinstance(step.args, GotoArgs):
                await self.session.goto(step.args.url, timeout=timeout)
                continue
            for _ in range(MAX_DISMISSALS + 1):
                try:
                    outcome = await self.session.act(step, timeout=timeout)
                    break
                except StepFailure as failure:
                    # A fresh browser context meets the cookie banner again.
                    if failure.failure_class is not FailureClass.OBSTRUCTION or not (
                        await self.session.dismiss_obstructions(list(task.policy.obstructions))
                    ):
                        raise StepFailure(
                            failure.failure_class,
                            f"could not re-establish the page after the interruption: "
                            f"step {step.id}: {failure.message}",
                            failure.details,
                        ) from None
            if isinstance(step.args, ExtractArgs):
                cp.outputs[step.args.into] = outcome.value
        if skipped and cp.last_url and self.session.url != cp.last_url:
            # A skipped write may have moved the run to another page (a wizard's next page):
            # go where the run was at its last checkpoint.
            await self.session.goto(cp.last_url, timeout=executor.budget.timeout_for(task.steps[0]))

    def _next_attempt_number(self, index: int) -> int:
        """Attempts are numbered across interruptions: a resumed step continues the count."""
        if self._attempt_numbers is None:
            with self.db.session(readonly=True) as s:
                self._attempt_numbers = {}
                for a in attempts.list_attempts(s, self.run_id):
                    known = self._attempt_numbers.get(a.step_index, 0)
                    self._attempt_numbers[a.step_index] = max(known, a.number)
        return self._attempt_numbers.get(index, 0) + 1

    def _steps_that_changed_the_server(self, start: int, end: int) -> set[int]:
        """Completed steps whose successful attempt sent a mutating request.

        Judged by evidence, not by the declared effect: a `write` click that only followed a
        link sent nothing mutating, so replaying it is safe and rebuilds the page state.
        """
        with self.db.session(readonly=True) as s:
            found = [a for a in attempts.list_attempts(s, self.run_id) if start <= a.step_index < end]
        return {
            a.step_index
            for a in found
            if a.outcome is AttemptOutcome.UNKNOWN
            or any(str(r.get("method", "")).upper() in MUTATING_METHODS for r in (a.requests or []))
        }

    async def _settle_intent(
        self, task: Task, inputs: dict[str, Any], cp: Checkpoint, executor: StepExecutor
    ) -> bool:
        """The step at next_step may have fired before the crash. Find out, never guess.

        Returns True when the step proved not done after a reload, so it must be done now.
        """
        with self.db.session(readonly=True) as s:
            pending = [a for a in attempts.pending_intents(s, self.run_id) if a.step_index == cp.next_step]
            tried = attempts.list_attempts(s, self.run_id, cp.next_step)
        if cp.next_step >= len(task.steps):
            return False
        index = cp.next_step
        if not pending:
            last = max(tried, key=lambda a: a.number, default=None)
            step = task.steps[index]
            if (
                last is not None
                and last.outcome is AttemptOutcome.SUCCEEDED
                and step.effect is not Effect.READ
            ):
                # The outcome was committed, only the checkpoint after it was lost: done.
                await self._complete(
                    index, step, StepResult(ok=True, attempts=last.number), cp, verified_after_recovery=True
                )
            return False
        step = self._render(task.steps[index], inputs, cp)
        expect = effective_expectation(step)
        checkable = expect.model_copy(update={"request": []}) if expect else None
        found: list[dict[str, Any]] = []
        held = False
        if checkable is not None and not checkable.is_empty():
            checks = (
                await self.session.check(checkable, None, timeout=executor.budget.timeout_for(step))
                if self.session
                else []
            )
            found = [c.to_json() for c in checks]
            held = all(c.ok for c in checks)

        def close_attempts(s: Session, run: Run) -> None:
            for row in attempts.pending_intents(s, self.run_id):
                attempts.finish_attempt(
                    s,
                    row,
                    outcome=AttemptOutcome.UNKNOWN,
                    failure_class=FailureClass.AMBIGUOUS_OUTCOME.value,
                    error="interrupted after dispatch; outcome not recorded",
                    after_fp=None,
                    requests=[],
                    checks=found,
                    screenshot_before=None,
                    screenshot_after=None,
                )

        await self.recorder.commit(close_attempts)
        if held:
            result = StepResult(ok=True, attempts=len(pending))
            await self._complete(index, step, result, cp, verified_after_recovery=True)
            return False
        if step.effect is Effect.WRITE and checkable is not None and not checkable.is_empty():
            return True  # proven not done: safe to do it now
        payload = {
            "step": step.id,
            "summary": step.summary(),
            "checks": found,
            "question": "Did this action happen?",
        }
        handoff_id = await self._open_handoff(
            index,
            "verification",
            f"The run was interrupted right after '{step.summary()}' was sent. Did it happen?",
            payload,
            action_hash(step),
        )
        await self._park(handoff_id, "outcome unknown after interruption")


def _step_record(s: Session, run_id: str, index: int) -> StepRecord:
    record = runs.get_step(s, run_id, index)
    if record is None:
        raise LookupError(f"run {run_id} has no step #{index}")
    return record


def _mark_step(s: Session, run_id: str, index: int, status: StepStatus) -> None:
    record = _step_record(s, run_id, index)
    record.status = status
    if status is StepStatus.RUNNING and record.started_at is None:
        record.started_at = datetime.now(UTC)


def _evidence(result: StepResult) -> dict[str, Any]:
    outcome = result.outcome
    return {
        "requests": [r.to_json() for r in outcome.requests] if outcome else [],
        "checks": [c.to_json() for c in result.checks],
        "url": outcome.after.url if outcome else None,
        "changed": outcome.changed if outcome else None,
    }


def _preview(value: Any) -> Any:
    text = str(value)
    return value if len(text) <= 200 else text[:200] + "…"


__all__ = ["FlightdeckError", "RunLoop", "RunResult"]

"""One step through the run loop's phases (DESIGN.md "The run loop"):

    plan      render the step (asking for an input it lacks); read the answers people gave
              about it (a verification, a takeover handed back, a question's choice)
    gates     signed in and connected for an approved action; the approval gate (G4)
    act       the attempts: budgets, rate limit, network guard, intent before dispatch
    validate  (inside act: attempts.py judges each attempt by its evidence)
    complete  the outcome and the checkpoint in one transaction
    diagnose  a failure's class decides: sign in again, clear an overlay, ask, or fail

The loop (loop.py) calls `step` for each step in order; `step` returns False when the run
stopped (failed), and raises Park when it waits for a person.
"""

from __future__ import annotations

from typing import Any

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.states import RunStatus
from app.domain.task import Action, ExtractArgs, Step
from app.engine.approvals import Approved
from app.engine.attempts import StepResult
from app.engine.desk import park
from app.engine.recorder import RunStopped
from app.engine.run.answered import Answered
from app.engine.run.book import StepBook
from app.engine.run.signin import SignIn
from app.engine.run.state import RunState


class StepPipeline:
    def __init__(self, state: RunState, *, book: StepBook, answered: Answered, signin: SignIn) -> None:
        self.st = state
        self.book = book
        self.answered = answered
        self.signin = signin
        self._cleared: set[int] = set()  # steps whose overlays were dismissed once already

    async def step(self, index: int) -> bool:
        st = self.st
        if st.recorder.status is not RunStatus.RUNNING:  # cancelled or paused meanwhile
            raise RunStopped
        if st.control.taken():
            st.control.stop_requested = None
            await self.answered.open_takeover(index, st.task.steps[index], "the operator took over")
        step: Step | None = None
        try:
            step = await self.answered.rendered(index)
            result = await self._plan_and_act(index, step)
        except StepFailure as failure:  # budgets, no progress, template errors
            result = StepResult(ok=False, failure=failure)
        st.cp.elapsed = st.budget.elapsed
        if result.ok:
            await self.book.complete(index, st.task.steps[index], result, st.cp)
            return True
        return await self._diagnose(index, step, result)

    # ----------------------------------------------------------------- plan, gates, act
    async def _plan_and_act(self, index: int, step: Step) -> StepResult:
        self.book.started(index, step)
        if step.action is Action.ASK:
            return await self.answered.ask_step(index, step)
        answered = await self._answers(index, step)
        if isinstance(answered, StepResult):
            return answered
        step = answered
        approved = await self._gates(index, step)
        if approved is not None:
            step = approved.step
        return await self._act(index, step, approved)

    async def _answers(self, index: int, step: Step) -> Step | StepResult:
        """What people said about this step: the result it settles, or the step to run."""
        st = self.st
        for kind in ("takeover", "clarification", "recovery", "verification"):
            waiting = st.desk.open_one(kind, index)
            if waiting is not None:
                park(waiting.id)
        verified = await self.answered.verification(index)
        if verified is not None:
            return verified
        handed_back = await self.answered.handed_back(index, step)
        if handed_back is not None:
            return handed_back
        chosen = await st.clarifier.resolution(index, step)
        if chosen is not None:
            if chosen.kind == "skip":
                return StepResult(ok=True, skipped=True)
            if chosen.kind == "fail":
                return StepResult(ok=False, failure=chosen.failure, by_operator=True)
            if chosen.kind == "takeover":
                await self.answered.open_takeover(index, step, "the operator chose to take over")
            if chosen.kind == "target" and chosen.target is not None:
                st.cp.learned[step.id] = chosen.target.model_dump(mode="json", exclude_defaults=True)
                step = st.render(st.task.steps[index])
            st.progress.reset()  # the person looked: a fresh start for the loop detector
        return step

    async def _gates(self, index: int, step: Step) -> Approved | None:
        """The approval gate, on a page that is signed in and connected; what was approved
        (the action as shown, with the values the person edited) or None: no approval needed."""
        st = self.st
        await self.signin.before_approved_action(index, step)
        approved = await st.gate.check(index, step, st.session, st.timeout_for(step))
        if approved is not None and approved.fields and approved.step.target is not None:
            await st.session.fill_fields(
                approved.step.target, approved.fields, timeout=st.timeout_for(approved.step)
            )
        return approved

    async def _act(self, index: int, step: Step, approved: Approved | None) -> StepResult:
        st = self.st
        result = await st.executor.run_step(
            index,
            step,
            first_attempt=self.book.next_attempt_number(index),
            irreversible=approved is not None,
            before_shot=approved.screenshot if approved is not None else None,
        )
        if (
            approved is not None
            and result.failure is not None
            and result.failure.failure_class is FailureClass.SESSION_EXPIRED
            and st.signs.refused(result.outcome)
        ):
            st.gate.refused(index, approved)
        self.book.attempted(index, result.attempts)
        if st.guard.stopped:
            raise RunStopped
        if result.ok and isinstance(step.args, ExtractArgs) and result.outcome is not None:
            st.cp.outputs[step.args.into] = result.outcome.value
            st.recorder.emit(
                EventType.OUTPUT_EXTRACTED,
                step=step.id,
                name=step.args.into,
                value=_preview(result.outcome.value),
            )
        return result

    # ----------------------------------------------------------------- diagnose
    async def _diagnose(self, index: int, step: Step | None, result: StepResult) -> bool:
        """A failed step: sign in again and go on, dismiss an overlay and try once more, ask a
        person, or fail (the run with it, unless an agent decides what comes next)."""
        st = self.st
        failure = result.failure
        assert failure is not None
        if (
            step is not None
            and st.task.login is not None
            and failure.failure_class is FailureClass.SESSION_EXPIRED
        ):
            try:
                await self.signin.log_in(index)
                await self.signin.after_expiry(index, step, result)
                return True  # the step again, signed in
            except StepFailure as again:
                result = StepResult(
                    ok=False, failure=again, attempts=result.attempts, duration_ms=result.duration_ms
                )
                failure = again
        if step is not None and await self._cleared_overlays(index, step, result):
            return True  # an overlay may have hidden the target: one more try, then ask
        if step is not None and not result.by_operator and st.clarifier.asks_about(failure):
            await st.clarifier.ask(index, step, failure)
        await self.book.fail(index, st.task.steps[index], result, st.cp, end_run=not st.task.open)
        return st.task.open  # an agent hears of the failure and decides what comes next

    async def _cleared_overlays(self, index: int, step: Step, result: StepResult) -> bool:
        """Before asking where a missing target is: a banner or modal may be covering it, and
        the person would be pointing at the overlay. Dismiss known ones once per step."""
        st = self.st
        failure = result.failure
        if (
            failure is None
            or result.by_operator  # the person's "fail" (or its deadline) is not a question
            or failure.failure_class is not FailureClass.MISSING_TARGET
            or index in self._cleared
            or not st.clarifier.asks_about(failure)
        ):
            return False
        self._cleared.add(index)
        dismissed = await st.session.dismiss_obstructions(list(st.task.policy.obstructions))
        if dismissed:
            st.recorder.emit(EventType.OBSTRUCTION_DISMISSED, step=step.id, index=index, dismissed=dismissed)
        return bool(dismissed)


def _preview(value: Any) -> Any:
    text = str(value)
    return value if len(text) <= 200 else text[:200] + "…"

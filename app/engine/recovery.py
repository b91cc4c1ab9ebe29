"""Recovery after a crash: rebuild the page without redoing completed writes (G1, G3), and
settle an action that may have fired just before the process died (never guess)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.domain.checkpoint import Checkpoint
from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.states import AttemptOutcome
from app.domain.task import Action, Effect, ExtractArgs, GotoArgs, Step, Task
from app.engine.approvals import action_hash
from app.engine.attempts import MAX_DISMISSALS, StepExecutor, StepResult
from app.engine.credentials import Credentials
from app.engine.desk import HandoffDesk, park
from app.engine.login_page import sent_to_login
from app.engine.ports import BrowserSession, CheckResult, RequestRecord
from app.engine.recorder import RunRecorder
from app.engine.validate import effective_expectation
from app.store import Database, attempts
from app.store.models import Run

if TYPE_CHECKING:
    from collections.abc import Awaitable


class RecoveryMixin:
    """Part of RunLoop (runner.py): the re-establishing half."""

    db: Database
    run_id: str
    recorder: RunRecorder
    session: BrowserSession | None
    desk: HandoffDesk

    credentials: Credentials

    def _render(self, step: Step, inputs: dict[str, Any], cp: Checkpoint) -> Step:
        raise NotImplementedError

    def _log_in(self, task: Task, index: int, inputs: dict[str, Any], cp: Checkpoint) -> Awaitable[None]:
        raise NotImplementedError

    def _complete(
        self,
        index: int,
        step: Step,
        result: StepResult,
        cp: Checkpoint,
        *,
        verified_after_recovery: bool = False,
    ) -> Awaitable[None]:
        raise NotImplementedError

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
                if task.login is not None and sent_to_login(step, self.session.url, task.login, task.site):
                    # A saved session that expired meanwhile: sign in, then go there again.
                    await self._log_in(task, cp.next_step, inputs, cp)
                    await self.session.goto(step.args.url, timeout=timeout)
                continue
            for _ in range(MAX_DISMISSALS + 1):
                try:
                    outcome = await self.session.act(self.credentials.for_action(step), timeout=timeout)
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

    def _steps_that_changed_the_server(self, start: int, end: int) -> set[int]:
        """Completed steps whose successful attempt sent a mutating request to the site under
        test (a third-party or background one changed nothing there).

        Judged by evidence, not by the declared effect: a `write` click that only followed a
        link sent nothing mutating, so replaying it is safe and rebuilds the page state.
        """
        with self.db.session(readonly=True) as s:
            found = [a for a in attempts.list_attempts(s, self.run_id) if start <= a.step_index < end]
        return {
            a.step_index
            for a in found
            if a.outcome is AttemptOutcome.UNKNOWN
            or any(RequestRecord.from_json(r).changes_the_site for r in (a.requests or []))
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
        checks: list[CheckResult] = []
        held = False
        if checkable is not None and not checkable.is_empty():
            checks = (
                await self.session.check(checkable, None, timeout=executor.budget.timeout_for(step))
                if self.session
                else []
            )
            held = all(c.ok for c in checks)
        found = [c.to_json() for c in checks]

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
            # The checks that proved it are the step's evidence (what the operator and an agent read).
            result = StepResult(ok=True, attempts=len(pending), checks=checks)
            await self._complete(index, step, result, cp, verified_after_recovery=True)
            return False
        irreversible = step.effect is Effect.IRREVERSIBLE or self.desk.ever_approved(index)
        if not irreversible and checkable is not None and not checkable.is_empty():
            return True  # proven not done: safe to do it now
        context = await self.desk.context(index, step)
        payload = {
            **context,
            "checks": found,
            "choices": ["done", "not_done"],
            "reason": "interrupted after the action was sent; its outcome was not recorded",
        }
        handoff_id = await self.desk.open(
            index,
            "verification",
            f"The run was interrupted right after '{step.summary()}' was sent. Did it happen?",
            payload,
            action_hash=action_hash(step),
        )
        park(handoff_id)

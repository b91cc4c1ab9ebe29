"""Rebuilding a run's page, and settling an action that may have fired (never guess): after a
crash (G1, G3), after signing in again, and between two attempts of a step."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy.orm import Session

from app.domain.checkpoint import Checkpoint
from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.states import AttemptOutcome, StepStatus
from app.domain.task import Action, Effect, Expectation, GotoArgs, Step, Task
from app.engine.approvals import action_hash
from app.engine.attempts import MAX_DISMISSALS, StepExecutor, StepResult, dispatches_intent
from app.engine.credentials import Credentials
from app.engine.desk import DEFAULT_UNKNOWN, HandoffDesk, park
from app.engine.guard import RequestGuard
from app.engine.login_page import SignedOutSigns
from app.engine.pageplan import Completed, PagePlan, plan_page, redoable, url_of, usable
from app.engine.ports import ActionOutcome, BrowserSession, CheckResult, TargetInfo
from app.engine.recorder import RunRecorder
from app.engine.reread import may_have_applied, reread_expectation
from app.store import Database, attempts, runs
from app.store.models import Attempt, Run, StepRecord

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

AFTER_CRASH = "after the interruption"


class RecoveryMixin:
    """Part of RunLoop (runner.py): the re-establishing half."""

    db: Database
    run_id: str
    recorder: RunRecorder
    session: BrowserSession | None
    desk: HandoffDesk
    executor: StepExecutor
    guard: RequestGuard

    credentials: Credentials
    signs: SignedOutSigns

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

    def _only_a_person_resends(self, index: int, step: Step) -> bool:
        """Irreversible — declared, or approved as such: never sent again without a person (G3)."""
        return step.effect is Effect.IRREVERSIBLE or self.desk.ever_approved(index)

    async def _has_pending_intent(self) -> bool:
        await self.recorder.durable()
        with self.db.session(readonly=True) as s:
            return bool(attempts.unsettled(s, self.run_id))

    async def _reestablish(
        self, task: Task, inputs: dict[str, Any], cp: Checkpoint, executor: StepExecutor
    ) -> None:
        """After a crash: rebuild page state without redoing completed writes (G1, G3), then
        settle a write caught between dispatch and outcome by re-reading, never re-firing it."""
        replay_error: StepFailure | None = None
        try:
            await self._replay(task, inputs, cp, executor, purpose=AFTER_CRASH, record=True)
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
            # The re-read reloaded the page: rebuild the form state before doing the step.
            await self._replay(task, inputs, cp, executor, purpose=AFTER_CRASH, record=False)

    async def _replay(
        self,
        task: Task,
        inputs: dict[str, Any],
        cp: Checkpoint,
        executor: StepExecutor,
        *,
        end: int | None = None,
        purpose: str,
        record: bool,
    ) -> PagePlan:
        """Rebuild the page step `end` (default: the next step) starts from: open the page the
        last page-changing completed step left (pageplan.py), then do the read steps after it
        again. The one page-rebuilding routine: recovery, re-login and retries all use it.

        A page that turns out signed out only once its scripts have run (an SPA asks for the
        password in a dialog after its first API call was refused) is signed into, and the
        rebuild starts over, once."""
        assert self.session is not None
        try:
            return await self._replay_once(
                task, inputs, cp, executor, end=end, purpose=purpose, record=record
            )
        except StepFailure:
            if task.login is None or await self.signs.shown(self.session) is None:
                raise
        await self._log_in(task, cp.next_step, inputs, cp)
        return await self._replay_once(task, inputs, cp, executor, end=end, purpose=purpose, record=False)

    async def _replay_once(
        self,
        task: Task,
        inputs: dict[str, Any],
        cp: Checkpoint,
        executor: StepExecutor,
        *,
        end: int | None,
        purpose: str,
        record: bool,
    ) -> PagePlan:
        assert self.session is not None
        end = cp.next_step if end is None else end
        plan = plan_page(task.steps, await self._completed(task, cp, end), end)
        origin = task.steps[plan.origin].id if plan.origin is not None else None
        if record:
            where = {"from_url": plan.url, "left_by": origin} if plan.url else {}
            self.recorder.emit(EventType.RUN_RECOVERED, from_step=plan.start, next_step=end, **where)
        if plan.url is not None and origin is not None:
            timeout = executor.budget.timeout_for(task.steps[plan.origin or 0])
            await self._open_again(
                task,
                inputs,
                cp,
                plan.url,
                timeout=timeout,
                failed=lambda message: (
                    f"could not re-establish the page {purpose}: {plan.url}, where step {origin} left "
                    f"it, did not open again ({message}); a page a write led to may not open again "
                    "by its address (a one-time page)"
                ),
            )
        rebuilt_from = f" (rebuilt from {plan.url}, where step {origin} left it)" if plan.url else ""
        for index in range(plan.start, end):
            step = self._render(task.steps[index], inputs, cp)
            if index not in plan.replay:
                if record and step.effect is not Effect.READ:
                    self.recorder.emit(
                        EventType.STEP_SKIPPED,
                        step=step.id,
                        index=index,
                        reason="completed before the interruption; not redone",
                    )
                continue

            def failed(message: str, step: Step = step) -> str:
                return f"could not re-establish the page {purpose}: step {step.id}: {message}{rebuilt_from}"

            timeout = executor.budget.timeout_for(step)
            if isinstance(step.args, GotoArgs):
                await self._open_again(task, inputs, cp, step.args.url, timeout=timeout, failed=failed)
                self._replayed(index, step, purpose, None)
                continue
            async with self.guard.rebuilding(self.session, index, step):
                outcome = await self._act_again(task, step, timeout, failed)
            self._replayed(index, step, purpose, outcome)
            reload = step.expect.after_reload if step.expect else None
            if reload is not None and reload.goto:
                # Its check took the page there, and the steps after it ran there.
                await self._open_again(task, inputs, cp, reload.goto, timeout=timeout, failed=failed)
        return plan

    def _replayed(self, index: int, step: Step, purpose: str, outcome: ActionOutcome | None) -> None:
        """Every action done again is in the record, with what it sent (a rebuild that sent a
        write would otherwise leave no trace of it)."""
        assert self.session is not None
        self.recorder.emit(
            EventType.STEP_REPLAYED,
            step=step.id,
            index=index,
            action=step.action.value,
            summary=step.summary(),
            purpose=purpose,
            url=self.session.url,
            requests=[r.to_json() for r in outcome.requests] if outcome is not None else [],
        )

    async def _open_again(
        self,
        task: Task,
        inputs: dict[str, Any],
        cp: Checkpoint,
        url: str,
        *,
        timeout: float,
        failed: Callable[[str], str],
    ) -> None:
        """Open `url`; signed out meanwhile (a saved session expired): sign in, open it again."""
        assert self.session is not None
        going = Step(id="rebuild", action=Action.GOTO, args=GotoArgs(url=url), effect=Effect.READ)
        for first in (True, False):
            try:
                signed_out = await self.signs.visit(self.session, url, timeout=timeout)
            except StepFailure as failure:
                raise StepFailure(failure.failure_class, failed(failure.message), failure.details) from None
            if not first or task.login is None or signed_out is None or self.signs.on_purpose(going):
                return
            await self._log_in(task, cp.next_step, inputs, cp)

    async def _act_again(
        self, task: Task, step: Step, timeout: float, failed: Callable[[str], str]
    ) -> ActionOutcome:
        assert self.session is not None
        for _ in range(MAX_DISMISSALS + 1):
            try:
                return await self.session.act(self.credentials.for_action(step), timeout=timeout)
            except StepFailure as failure:
                # A fresh browser context meets the cookie banner again.
                if failure.failure_class is not FailureClass.OBSTRUCTION or not (
                    await self.session.dismiss_obstructions(list(task.policy.obstructions))
                ):
                    raise StepFailure(
                        failure.failure_class, failed(failure.message), failure.details
                    ) from None
        raise StepFailure(FailureClass.OBSTRUCTION, failed("the page stays covered"))

    async def _completed(self, task: Task, cp: Checkpoint, end: int) -> list[Completed]:
        """Steps 0…end-1 as the record has them: what redoing each would do, and where each
        left the page (from the checkpoint: the record's copy of a URL may be redacted)."""
        await self.recorder.durable()
        with self.db.session(readonly=True) as s:
            records = {r.index: r for r in runs.get_steps(s, self.run_id) if r.index < end}
            tried: dict[int, list[Attempt]] = {}
            for a in attempts.list_attempts(s, self.run_id):
                if a.step_index < end:
                    tried.setdefault(a.step_index, []).append(a)
            return [
                _completed_step(task.steps[i], i, records.get(i), tried.get(i, []), cp.pages.get(str(i)))
                for i in range(end)
            ]

    # ----------------------------------------------------------------- settling a write
    async def _reread_expectation(
        self,
        task: Task,
        step: Step,
        timeout: float,
        outcome: ActionOutcome | None = None,
        *,
        index: int | None = None,
    ) -> Expectation | None:
        """What re-reads, from the page the step starts on, whether it happened (reread.py).
        `outcome`: what the attempt in doubt observed, when it was recorded; `index`: the
        step's, when an approval of it may say what its target was."""
        assert self.session is not None
        expect = step.expect
        if expect is None or expect.after_reload is None:
            return None
        posted_to: list[str] | None = None
        if outcome is not None:
            posted_to = [r.url for r in outcome.mutating_requests if r.resource_type == "document"]
        target: TargetInfo | None = None
        if posted_to is None and expect.after_reload.goto is None and step.target is not None:
            try:
                target = await self.session.inspect(step.target, timeout=min(timeout, 2.0))
            except StepFailure:
                # Gone from the page (the dialog it sat in died with the browser): the approval
                # showed the person exactly what would fire, its form included.
                target = self._approved_target(index) if index is not None else None
                if target is None:
                    return None  # where its form posts is unknown: so is the page it leads to
        return reread_expectation(step, self.session.url, task.site, posted_to=posted_to, target=target)

    def _approved_target(self, index: int) -> TargetInfo | None:
        """The target of the step's approval that was used (it fired), as the approval showed it."""
        for h in self.desk.of("approval", index):
            shown = (h.payload or {}).get("target")
            if (h.payload or {}).get("used") and (h.answer or {}).get("decision") == "approve" and shown:
                box = shown.get("box")
                return TargetInfo(
                    description=str(shown.get("description", "")),
                    tag=str(shown.get("tag", "")),
                    role=str(shown.get("role", "")),
                    text=str(shown.get("text", "")),
                    box=(box[0], box[1], box[2], box[3]) if box else None,
                    href=shown.get("href"),
                    form_method=shown.get("form_method"),
                    form_action=shown.get("form_action"),
                )
        return None

    async def _ask_whether_done(
        self,
        index: int,
        step: Step,
        question: str,
        reason: str,
        checks: list[dict[str, Any]],
        *,
        attempts: list[int] | None = None,
    ) -> NoReturn:
        """A person verifies: `approve` (done) completes the step, `deny` lets it run again.
        `attempts`: the numbers of the attempts in doubt (their question settles them)."""
        context = await self.desk.context(index, step)
        payload = {**context, "checks": checks, "choices": ["done", "not_done"], "reason": reason}
        if attempts is not None:
            payload["attempts"] = attempts
        handoff_id = await self.desk.open(
            index,
            "verification",
            question,
            payload,
            action_hash=action_hash(step),
            timeout=self.desk.task.policy.verification_timeout,
            default=DEFAULT_UNKNOWN,
        )
        park(handoff_id)

    async def _reread(
        self,
        task: Task,
        inputs: dict[str, Any],
        cp: Checkpoint,
        index: int,
        proof: Expectation,
        timeout: float,
    ) -> list[CheckResult]:
        """Re-read whether step `index` happened, on a signed-in page. A page that shows it is
        signed out proves nothing either way: a `hidden` check holds of any page a sign-in
        form replaced (Node-RED's editor after a new browser opened it: its sign-in dialog, no
        tabs; the deletion "verified" though nothing was deleted). So the run signs in and reads
        again, once; a page still signed out then is no proof."""
        assert self.session is not None
        where = self.session.url
        checks = await self.session.check(proof, None, timeout=timeout)
        why = await self.signs.now(self.session)
        if why is None:
            return checks
        await self._log_in(task, index, inputs, cp)
        if usable(where) and self.session.url != where and not self.signs.at_url(where):
            await self.session.goto(where, timeout=timeout)
        checks = await self.session.check(proof, None, timeout=timeout)
        why = await self.signs.now(self.session)
        if why is None:
            return checks
        return [*checks, CheckResult(name="signed in", ok=False, detail=f"the page still shows {why}")]

    async def _settle_intent(
        self, task: Task, inputs: dict[str, Any], cp: Checkpoint, executor: StepExecutor
    ) -> bool:
        """The step at next_step may have fired before the crash. Find out, never guess.

        Returns True when the step proved not done after a reload, so it must be done now.
        """
        await self.recorder.durable()
        with self.db.session(readonly=True) as s:
            pending = [a for a in attempts.unsettled(s, self.run_id) if a.step_index == cp.next_step]
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
                # The outcome was committed, only the checkpoint after it was lost: done. The
                # steps after it ran on the page it led to.
                left = url_of(last.after_fp)
                if self.session is not None and usable(left) and left != self.session.url:
                    with contextlib.suppress(StepFailure):
                        await self.session.goto(str(left), timeout=executor.budget.timeout_for(step))
                await self._complete(
                    index, step, StepResult(ok=True, attempts=last.number), cp, verified_after_recovery=True
                )
            return False
        step = self._render(task.steps[index], inputs, cp)
        timeout = executor.budget.timeout_for(step)
        proof = await self._reread_expectation(task, step, timeout, index=index) if self.session else None
        checks: list[CheckResult] = []
        if proof is not None and self.session is not None:
            checks = await self._reread(task, inputs, cp, index, proof, timeout)
        held = bool(checks) and all(c.ok for c in checks)
        found = [c.to_json() for c in checks]

        numbers = [a.number for a in pending]

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

        # The unknown outcome rides on the transaction that records the decision about it (the
        # step completed, a person asked, or the next attempt's intent): a crash in between
        # cannot leave an outcome nobody decided on. An unknown outcome without a decision
        # still counts as unsettled (attempts.unsettled), whatever wrote it.
        self.recorder.stage(close_attempts)
        if held:
            # The checks that proved it are the step's evidence (what the operator and an agent read).
            result = StepResult(ok=True, attempts=len(pending), checks=checks)
            await self._complete(index, step, result, cp, verified_after_recovery=True)
            return False
        if not self._only_a_person_resends(index, step) and proof is not None:
            return True  # proven not done: safe to do it now
        await self._ask_whether_done(
            index,
            step,
            f"The run was interrupted right after '{step.summary()}' was sent. Did it happen?",
            "interrupted after the action was sent; its outcome was not recorded",
            found,
            attempts=numbers,
        )

    # ----------------------------------------------------------------- between attempts
    async def _before_retry(
        self,
        task: Task,
        inputs: dict[str, Any],
        cp: Checkpoint,
        index: int,
        step: Step,
        result: StepResult,
        start_url: str,
        *,
        last: bool = False,
    ) -> StepResult | None:
        """Before the next attempt of a step: put the page back where the step starts (the
        failed attempt may have left it on an error page), and never send a write again that
        may have happened (G3). A StepResult: proven done by re-reading, no attempt needed.

        `last`: no attempt follows (irreversible, or out of attempts). A write that may have
        happened is still settled: done if re-read, else a person verifies — also when the
        re-read finds nothing of an irreversible one, which only a person sends again."""
        assert self.session is not None
        failure = result.failure
        if failure is None or step.action is Action.GOTO:
            return None  # a goto opens its page itself
        uncertain = dispatches_intent(step) and may_have_applied(failure, result.outcome)
        if last and not uncertain:
            return None  # the server did not apply it, and it is not sent again: it failed
        if not uncertain and not _left_the_page(start_url, self.session.url, result.outcome):
            return None
        purpose = f"for the next attempt of step {step.id}"
        await self._replay(task, inputs, cp, self.executor, end=index, purpose=purpose, record=False)
        self.recorder.emit(EventType.PAGE_REBUILT, step=step.id, index=index, url=self.session.url)
        if not uncertain:
            return None
        timeout = self.executor.budget.timeout_for(step)
        proof = await self._reread_expectation(task, step, timeout, result.outcome)
        if proof is None:
            await self._ask_whether_done(
                index,
                step,
                f"'{step.summary()}' failed ({failure.message}), but the site may have applied it. "
                "Did it happen?",
                "the attempt may have reached the site, and the step has no after_reload that "
                "re-reads it from here: it is not sent again without a person",
                [],
            )
        checks = await self._reread(task, inputs, cp, index, proof, timeout)
        done = bool(checks) and all(c.ok for c in checks)
        self.recorder.emit(
            EventType.STEP_REREAD, step=step.id, index=index, done=done, checks=[c.to_json() for c in checks]
        )
        if done:
            # The attempt's requests (the 500 that stored it) and the re-read are its evidence.
            return StepResult(ok=True, outcome=result.outcome, checks=checks)
        if last:
            if self._only_a_person_resends(index, step):
                await self._ask_whether_done(
                    index,
                    step,
                    f"'{step.summary()}' failed ({failure.message}); re-reading did not find it "
                    "done, but it is not sent again without a person. Did it happen?",
                    "an irreversible action may have reached the site: it is not sent again without a person",
                    [c.to_json() for c in checks],
                )
            return None  # proven absent, and out of attempts: it failed
        # Proven absent; the re-read reloaded the page: rebuild its form state again.
        await self._replay(task, inputs, cp, self.executor, end=index, purpose=purpose, record=False)
        return None


def _completed_step(
    step: Step, index: int, record: StepRecord | None, tried: list[Attempt], left_url: str | None
) -> Completed:
    evidence: dict[str, Any] = (record.evidence if record is not None else None) or {}
    # Skipped by the person, or failed and gone past (an agent's open task): it did nothing to
    # redo, and doing it again would only fail again.
    skipped = bool(evidence.get("skipped_by_operator")) or (
        record is not None and record.status in (StepStatus.SKIPPED, StepStatus.FAILED)
    )
    by_person = bool(evidence.get("by_operator"))
    unknown = any(a.outcome is AttemptOutcome.UNKNOWN for a in tried)
    requests = [r for a in tried for r in a.requests or []]
    replayable = not (skipped or by_person) and redoable(
        step, requests, attempted=bool(tried), unknown=unknown
    )
    ordered = sorted(tried, key=lambda a: a.number)
    # Without a URL in the checkpoint (kept since the last goto only): where the action left it.
    left = left_url or evidence.get("url") or (url_of(ordered[-1].after_fp) if ordered else None)
    before = url_of(ordered[0].before_fp) if ordered else None
    loaded = any(r.get("resource_type") == "document" for a in tried for r in a.requests or [])
    reloaded = step.expect is not None and step.expect.after_reload is not None
    navigated = (
        not skipped
        and step.action is not Action.ASK
        and (
            by_person
            or unknown
            or loaded
            or reloaded
            or (before is not None and left is not None and left != before)
        )
    )
    return Completed(index=index, replayable=replayable, navigated=navigated, left_url=left)


def _left_the_page(start_url: str, url_now: str, outcome: ActionOutcome | None) -> bool:
    """The attempt took the page away from where the step started: another address, or another
    document at the same one (a form posted to its own page, answered with an error page)."""
    return url_now != start_url or (outcome is not None and outcome.main_status is not None)

"""Settling an action that may have fired (never guess, G3): after a crash, and before a
step's next attempt. Done when its expectation re-reads as holding; sent again only when the
evidence says it did not happen; otherwise a person verifies."""

from __future__ import annotations

import contextlib
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.states import AttemptOutcome
from app.domain.task import Action, Effect, Expectation, Step
from app.engine.approvals import action_hash
from app.engine.attempts import StepResult, dispatches_intent
from app.engine.desk import DEFAULT_UNKNOWN, park
from app.engine.pageplan import url_of, usable
from app.engine.ports import ActionOutcome, CheckResult, TargetInfo
from app.engine.reread import may_have_applied, reread_expectation
from app.engine.run.book import StepBook
from app.engine.run.pages import AFTER_CRASH, LogIn, PageRebuilder
from app.engine.run.state import RunState
from app.store import Database, attempts
from app.store.models import Run


class Settler:
    def __init__(
        self, state: RunState, db: Database, pages: PageRebuilder, book: StepBook, log_in: LogIn
    ) -> None:
        self.st = state
        self.db = db
        self.pages = pages
        self.book = book
        self.log_in = log_in

    def only_a_person_resends(self, index: int, step: Step) -> bool:
        """Irreversible — declared, or approved as such: never sent again without a person (G3)."""
        return step.effect is Effect.IRREVERSIBLE or self.st.desk.ever_approved(index)

    async def has_pending_intent(self) -> bool:
        await self.st.recorder.durable()
        with self.db.session(readonly=True) as s:
            return bool(attempts.unsettled(s, self.st.run_id))

    # ----------------------------------------------------------------- after a crash
    async def reestablish(self) -> None:
        """After a crash: rebuild page state without redoing completed writes (G1, G3), then
        settle a write caught between dispatch and outcome by re-reading, never re-firing it."""
        replay_error: StepFailure | None = None
        try:
            await self.pages.replay(purpose=AFTER_CRASH, record=True)
        except StepFailure as exc:
            # The interrupted action may itself be why the page cannot be rebuilt (the
            # deleted item's link is gone): find out whether it happened before giving up.
            replay_error = exc
        await self.st.recorder.commit()
        interrupted_step = self.st.cp.next_step
        redo = await self._settle_intent()
        if replay_error is not None and (redo or self.st.cp.next_step == interrupted_step):
            raise replay_error  # the step must run, and its page cannot be rebuilt
        if redo:
            # The re-read reloaded the page: rebuild the form state before doing the step.
            await self.pages.replay(purpose=AFTER_CRASH, record=False)

    async def _settle_intent(self) -> bool:
        """The step at next_step may have fired before the crash. Find out, never guess.

        Returns True when the step proved not done after a reload, so it must be done now.
        """
        st = self.st
        cp, task = st.cp, st.task
        await st.recorder.durable()
        with self.db.session(readonly=True) as s:
            pending = [a for a in attempts.unsettled(s, st.run_id) if a.step_index == cp.next_step]
            tried = attempts.list_attempts(s, st.run_id, cp.next_step)
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
                if usable(left) and left != st.session.url:
                    with contextlib.suppress(StepFailure):
                        await st.session.goto(str(left), timeout=st.timeout_for(step))
                await self.book.complete(
                    index, step, StepResult(ok=True, attempts=last.number), cp, verified_after_recovery=True
                )
            return False
        step = st.render(task.steps[index])
        timeout = st.timeout_for(step)
        proof = await self.reread_expectation(step, timeout, index=index)
        checks: list[CheckResult] = []
        if proof is not None:
            checks = await self.reread(index, proof, timeout)
        held = bool(checks) and all(c.ok for c in checks)
        found = [c.to_json() for c in checks]

        numbers = [a.number for a in pending]

        def close_attempts(s: Session, run: Run) -> None:
            for row in attempts.pending_intents(s, st.run_id):
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
        st.recorder.stage(close_attempts)
        if held:
            # The checks that proved it are the step's evidence (what the operator and an agent read).
            result = StepResult(ok=True, attempts=len(pending), checks=checks)
            await self.book.complete(index, step, result, cp, verified_after_recovery=True)
            return False
        if not self.only_a_person_resends(index, step) and proof is not None:
            return True  # proven not done: safe to do it now
        await self.ask_whether_done(
            index,
            step,
            f"The run was interrupted right after '{step.summary()}' was sent. Did it happen?",
            "interrupted after the action was sent; its outcome was not recorded",
            found,
            attempts=numbers,
        )

    # ----------------------------------------------------------------- between attempts
    async def before_retry(
        self, index: int, step: Step, result: StepResult, start_url: str, last: bool = False
    ) -> StepResult | None:
        """Before the next attempt of a step: put the page back where the step starts (the
        failed attempt may have left it on an error page), and never send a write again that
        may have happened (G3). A StepResult: proven done by re-reading, no attempt needed.

        `last`: no attempt follows (irreversible, or out of attempts). A write that may have
        happened is still settled: done if re-read, else a person verifies — also when the
        re-read finds nothing of an irreversible one, which only a person sends again."""
        session = self.st.session
        failure = result.failure
        if failure is None or step.action is Action.GOTO:
            return None  # a goto opens its page itself
        uncertain = dispatches_intent(step) and may_have_applied(failure, result.outcome)
        if last and not uncertain:
            return None  # the server did not apply it, and it is not sent again: it failed
        if not uncertain and not _left_the_page(start_url, session.url, result.outcome):
            return None
        purpose = f"for the next attempt of step {step.id}"
        await self.pages.rebuild(index, purpose)
        self.st.recorder.emit(EventType.PAGE_REBUILT, step=step.id, index=index, url=session.url)
        if not uncertain:
            return None
        timeout = self.st.timeout_for(step)
        proof = await self.reread_expectation(step, timeout, result.outcome)
        if proof is None:
            await self.ask_whether_done(
                index,
                step,
                f"'{step.summary()}' failed ({failure.message}), but the site may have applied it. "
                "Did it happen?",
                "the attempt may have reached the site, and the step has no after_reload that "
                "re-reads it from here: it is not sent again without a person",
                [],
            )
        checks = await self.reread(index, proof, timeout)
        done = bool(checks) and all(c.ok for c in checks)
        self.st.recorder.emit(
            EventType.STEP_REREAD, step=step.id, index=index, done=done, checks=[c.to_json() for c in checks]
        )
        if done:
            # The attempt's requests (the 500 that stored it) and the re-read are its evidence.
            return StepResult(ok=True, outcome=result.outcome, checks=checks)
        if last:
            if self.only_a_person_resends(index, step):
                await self.ask_whether_done(
                    index,
                    step,
                    f"'{step.summary()}' failed ({failure.message}); re-reading did not find it "
                    "done, but it is not sent again without a person. Did it happen?",
                    "an irreversible action may have reached the site: it is not sent again without a person",
                    [c.to_json() for c in checks],
                )
            return None  # proven absent, and out of attempts: it failed
        # Proven absent; the re-read reloaded the page: rebuild its form state again.
        await self.pages.rebuild(index, purpose)
        return None

    # ----------------------------------------------------------------- re-reading
    async def reread_expectation(
        self,
        step: Step,
        timeout: float,
        outcome: ActionOutcome | None = None,
        *,
        index: int | None = None,
    ) -> Expectation | None:
        """What re-reads, from the page the step starts on, whether it happened (reread.py).
        `outcome`: what the attempt in doubt observed, when it was recorded; `index`: the
        step's, when an approval of it may say what its target was."""
        session = self.st.session
        expect = step.expect
        if expect is None or expect.after_reload is None:
            return None
        posted_to: list[str] | None = None
        if outcome is not None:
            posted_to = [r.url for r in outcome.mutating_requests if r.resource_type == "document"]
        target: TargetInfo | None = None
        if posted_to is None and expect.after_reload.goto is None and step.target is not None:
            try:
                target = await session.inspect(step.target, timeout=min(timeout, 2.0))
            except StepFailure:
                # Gone from the page (the dialog it sat in died with the browser): the approval
                # showed the person exactly what would fire, its form included.
                target = self._approved_target(index) if index is not None else None
                if target is None:
                    return None  # where its form posts is unknown: so is the page it leads to
        return reread_expectation(step, session.url, self.st.task.site, posted_to=posted_to, target=target)

    def _approved_target(self, index: int) -> TargetInfo | None:
        """The target of the step's approval that was used (it fired), as the approval showed it."""
        for h in self.st.desk.of("approval", index):
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

    async def reread(self, index: int, proof: Expectation, timeout: float) -> list[CheckResult]:
        """Re-read whether step `index` happened, on a signed-in page. A page that shows it is
        signed out proves nothing either way: a `hidden` check holds of any page a sign-in
        form replaced (Node-RED's editor after a new browser opened it: its sign-in dialog, no
        tabs; the deletion "verified" though nothing was deleted). So the run signs in and reads
        again, once; a page still signed out then is no proof."""
        st = self.st
        session = st.session
        where = session.url
        checks = await session.check(proof, None, timeout=timeout)
        why = await st.signs.now(session)
        if why is None:
            return checks
        await self.log_in(index)
        if usable(where) and session.url != where and not st.signs.at_url(where):
            await session.goto(where, timeout=timeout)
        checks = await session.check(proof, None, timeout=timeout)
        why = await st.signs.now(session)
        if why is None:
            return checks
        return [*checks, CheckResult(name="signed in", ok=False, detail=f"the page still shows {why}")]

    async def ask_whether_done(
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
        desk = self.st.desk
        context = await desk.context(index, step)
        payload = {**context, "checks": checks, "choices": ["done", "not_done"], "reason": reason}
        if attempts is not None:
            payload["attempts"] = attempts
        handoff_id = await desk.open(
            index,
            "verification",
            question,
            payload,
            action_hash=action_hash(step),
            timeout=self.st.task.policy.verification_timeout,
            default=DEFAULT_UNKNOWN,
        )
        park(handoff_id)


def _left_the_page(start_url: str, url_now: str, outcome: ActionOutcome | None) -> bool:
    """The attempt took the page away from where the step started: another address, or another
    document at the same one (a form posted to its own page, answered with an error page)."""
    return url_now != start_url or (outcome is not None and outcome.main_status is not None)

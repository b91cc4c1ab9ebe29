"""Rebuilding a run's page without redoing a write: after a crash, after signing in again, and
between two attempts of a step (pageplan.py says from where; this does it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.states import AttemptOutcome, StepStatus
from app.domain.task import Action, Effect, GotoArgs, Step
from app.engine.attempts import MAX_DISMISSALS
from app.engine.credentials import Credentials
from app.engine.pageplan import Completed, PagePlan, plan_page, redoable, url_of
from app.engine.ports import ActionOutcome
from app.engine.run.state import RunState
from app.store import Database, attempts, runs
from app.store.models import Attempt, StepRecord

AFTER_CRASH = "after the interruption"
SIGNED_IN_AGAIN = "after signing in again"

LogIn = Callable[[int], Awaitable[None]]  # sign in again for step N (signin.SignIn.log_in)


class PageRebuilder:
    def __init__(self, state: RunState, db: Database, credentials: Credentials, log_in: LogIn) -> None:
        self.st = state
        self.db = db
        self.credentials = credentials
        self.log_in = log_in

    async def rebuild(self, index: int, purpose: str = SIGNED_IN_AGAIN) -> None:
        """The page step `index` runs on, rebuilt as after a crash (from where the last
        page-changing step left it, the read steps since) without redoing a write."""
        await self.replay(end=index, purpose=purpose, record=False)

    async def replay(self, *, end: int | None = None, purpose: str, record: bool) -> PagePlan:
        """Rebuild the page step `end` (default: the next step) starts from: open the page the
        last page-changing completed step left (pageplan.py), then do the read steps after it
        again. The one page-rebuilding routine: recovery, re-login and retries all use it.

        A page that turns out signed out only once its scripts have run (an SPA asks for the
        password in a dialog after its first API call was refused) is signed into, and the
        rebuild starts over, once."""
        st = self.st
        try:
            return await self._replay_once(end=end, purpose=purpose, record=record)
        except StepFailure:
            if st.task.login is None or await st.signs.shown(st.session) is None:
                raise
        await self.log_in(st.cp.next_step)
        return await self._replay_once(end=end, purpose=purpose, record=False)

    async def _replay_once(self, *, end: int | None, purpose: str, record: bool) -> PagePlan:
        st = self.st
        task, cp = st.task, st.cp
        end = cp.next_step if end is None else end
        plan = plan_page(task.steps, await self._completed(end), end)
        origin = task.steps[plan.origin].id if plan.origin is not None else None
        if record:
            where = {"from_url": plan.url, "left_by": origin} if plan.url else {}
            st.recorder.emit(EventType.RUN_RECOVERED, from_step=plan.start, next_step=end, **where)
        if plan.url is not None and origin is not None:
            timeout = st.timeout_for(task.steps[plan.origin or 0])
            await self.open_again(
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
            step = st.render(task.steps[index])
            if index not in plan.replay:
                if record and step.effect is not Effect.READ:
                    st.recorder.emit(
                        EventType.STEP_SKIPPED,
                        step=step.id,
                        index=index,
                        reason="completed before the interruption; not redone",
                    )
                continue

            def failed(message: str, step: Step = step) -> str:
                return f"could not re-establish the page {purpose}: step {step.id}: {message}{rebuilt_from}"

            timeout = st.timeout_for(step)
            if isinstance(step.args, GotoArgs):
                await self.open_again(step.args.url, timeout=timeout, failed=failed)
                self._replayed(index, step, purpose, None)
                continue
            async with st.guard.rebuilding(st.session, index, step):
                outcome = await self._act_again(step, timeout, failed)
            self._replayed(index, step, purpose, outcome)
            reload = step.expect.after_reload if step.expect else None
            if reload is not None and reload.goto:
                # Its check took the page there, and the steps after it ran there.
                await self.open_again(reload.goto, timeout=timeout, failed=failed)
        return plan

    def _replayed(self, index: int, step: Step, purpose: str, outcome: ActionOutcome | None) -> None:
        """Every action done again is in the record, with what it sent (a rebuild that sent a
        write would otherwise leave no trace of it)."""
        self.st.recorder.emit(
            EventType.STEP_REPLAYED,
            step=step.id,
            index=index,
            action=step.action.value,
            summary=step.summary(),
            purpose=purpose,
            url=self.st.session.url,
            requests=[r.to_json() for r in outcome.requests] if outcome is not None else [],
        )

    async def open_again(self, url: str, *, timeout: float, failed: Callable[[str], str]) -> None:
        """Open `url`; signed out meanwhile (a saved session expired): sign in, open it again."""
        st = self.st
        going = Step(id="rebuild", action=Action.GOTO, args=GotoArgs(url=url), effect=Effect.READ)
        for first in (True, False):
            try:
                signed_out = await st.signs.visit(st.session, url, timeout=timeout)
            except StepFailure as failure:
                raise StepFailure(failure.failure_class, failed(failure.message), failure.details) from None
            if not first or st.task.login is None or signed_out is None or st.signs.on_purpose(going):
                return
            await self.log_in(st.cp.next_step)

    async def _act_again(self, step: Step, timeout: float, failed: Callable[[str], str]) -> ActionOutcome:
        session = self.st.session
        for _ in range(MAX_DISMISSALS + 1):
            try:
                return await session.act(self.credentials.for_action(step), timeout=timeout)
            except StepFailure as failure:
                # A fresh browser context meets the cookie banner again.
                if failure.failure_class is not FailureClass.OBSTRUCTION or not (
                    await session.dismiss_obstructions(list(self.st.task.policy.obstructions))
                ):
                    raise StepFailure(
                        failure.failure_class, failed(failure.message), failure.details
                    ) from None
        raise StepFailure(FailureClass.OBSTRUCTION, failed("the page stays covered"))

    async def _completed(self, end: int) -> list[Completed]:
        """Steps 0…end-1 as the record has them: what redoing each would do, and where each
        left the page (from the checkpoint: the record's copy of a URL may be redacted)."""
        st = self.st
        await st.recorder.durable()  # the steps just done may still be staged
        with self.db.session(readonly=True) as s:
            records = {r.index: r for r in runs.get_steps(s, st.run_id) if r.index < end}
            tried: dict[int, list[Attempt]] = {}
            for a in attempts.list_attempts(s, st.run_id):
                if a.step_index < end:
                    tried.setdefault(a.step_index, []).append(a)
            return [
                _completed_step(
                    st.task.steps[i], i, records.get(i), tried.get(i, []), st.cp.pages.get(str(i))
                )
                for i in range(end)
            ]


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

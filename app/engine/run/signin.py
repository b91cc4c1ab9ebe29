"""Signing in: at the start (login.at_start), when the session expired mid-run, and before an
approved action fires on a page that waited for a person. The login block itself is
login.py's; this decides when it runs, how often (policy.max_relogins), and what the step
that met the expiry does next."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.orm import Session

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.task import GotoArgs, Step
from app.engine.asking import NOBODY_ANSWERED
from app.engine.attempts import StepResult
from app.engine.credentials import Credentials
from app.engine.desk import DEFAULT_FAIL, Answer, park
from app.engine.login import LoginBlock, login_failure, login_question
from app.engine.ratelimit import SiteRateLimiter
from app.engine.run.book import StepBook
from app.engine.run.pages import PageRebuilder
from app.engine.run.settle import Settler
from app.engine.run.state import RunState
from app.store.models import HandoffStatus, Run


class SignIn:
    def __init__(
        self,
        state: RunState,
        *,
        credentials: Credentials,
        limiter: SiteRateLimiter,
        pages: PageRebuilder,
        settler: Settler,
        book: StepBook,
        save_profile: Callable[[], Awaitable[None]] | None,
        profile_cookies: int,
    ) -> None:
        self.st = state
        self.credentials = credentials
        self.limiter = limiter
        self.pages = pages
        self.settler = settler
        self.book = book
        self.save_profile = save_profile  # keep a fresh login in the session profile
        self.profile_cookies = profile_cookies  # cookies the session profile brought

    def answer(self, index: int) -> Answer | None:
        """An answer to a failed login's question not acted on yet."""
        desk = self.st.desk
        for h in desk.of("clarification", index):
            if (h.payload or {}).get("login") and h.status is HandoffStatus.OPEN:
                park(h.id)
        answer = desk.unused("clarification", index)
        return answer if answer is not None and (answer.handoff.payload or {}).get("login") else None

    async def at_start(self) -> None:
        """`login.at_start`: sign in before step 1. A session profile that brought cookies may
        be signed in already: its first page (step 1's goto, else the site) is opened, and
        the login runs only if that page shows a signed-out sign."""
        st = self.st
        task = st.task
        if self.profile_cookies:
            first = st.render(task.steps[0]).args
            url = first.url if isinstance(first, GotoArgs) else (task.site or "")
            if url:
                try:
                    why = await st.signs.visit(st.session, url, timeout=task.policy.step_timeout)
                except StepFailure as failure:
                    why = f"could not tell: {failure.message}"  # signing in is the safe side
                st.recorder.emit(
                    EventType.SESSION_CHECKED, step=task.steps[0].id, index=0, url=url, signed_out=why
                )
                if why is None:
                    return  # the profile's session is alive: no login
        await self.log_in(0, at_start=True)

    async def log_in(self, index: int, *, at_start: bool = False) -> None:
        """Run the login block for step `index`. Raises StepFailure when the run must not log
        in (bound reached, the person said stop) or the login failed and nobody is to be asked
        (`ask_on` leaves `login` out; the site never judged it: transient, retried already);
        else parks on a clarification (a rejected credential is a person's to fix, never
        retried on its own). `at_start`: the task signs in first (login.at_start); no session
        has expired."""
        st = self.st
        task, cp, recorder = st.task, st.cp, st.recorder
        assert task.login is not None
        answer = self.answer(index)
        if answer is not None:
            await st.desk.consume(answer)
            choice = answer.decision or str(answer.data.get("value", ""))
            if choice != "retry":
                why = NOBODY_ANSWERED if answer.expired else "the operator chose to stop"
                error = (answer.handoff.payload or {}).get("error") or "logging in failed"
                raise StepFailure(FailureClass.PERMANENT, f"{error} ({why})", {"login": True})
        elif cp.browser_logins > task.policy.max_relogins:
            raise StepFailure(
                FailureClass.SESSION_EXPIRED,
                f"the session expired again after {cp.browser_logins} logins in this browser session "
                f"(policy.max_relogins: {task.policy.max_relogins})",
                {"logins": cp.logins, "browser_logins": cp.browser_logins},
            )
        step = task.steps[index]
        cp.logins += 1
        cp.browser_logins += 1
        if not at_start:
            recorder.emit(EventType.SESSION_EXPIRED, step=step.id, index=index, url=st.session.url)
        recorder.emit(EventType.LOGIN_STARTED, step=step.id, index=index, login=cp.logins, at_start=at_start)

        def count(s: Session, run: Run) -> None:
            # Logins are numbered across the run, crashes included.
            run.checkpoint = {
                **(run.checkpoint or {}),
                "logins": cp.logins,
                "browser_logins": cp.browser_logins,
            }

        await recorder.commit(count)
        block = LoginBlock(
            task=task,
            session=st.session,
            recorder=recorder,
            credentials=self.credentials,
            limiter=self.limiter,
            budget=st.budget,
            guard=st.guard,
            render=st.render,
            signs=st.signs,
        )
        result = await block.run(index)
        recorder.emit(
            EventType.LOGIN_FINISHED,
            step=step.id,
            index=index,
            ok=result.ok,
            rejected=result.rejected,
            attempts=result.attempts,
            failure_class=result.failure.failure_class.value if result.failure else None,
            error=result.message or None,
        )
        if not result.ok:
            if result.unjudged or not st.clarifier.asks("login"):
                raise login_failure(task, result)
            question, fields = login_question(task, result)
            context = await st.desk.context(index, step)
            handoff_id = await st.desk.open(
                index,
                "clarification",
                question,
                {**context, **fields},
                timeout=task.policy.question_timeout,
                default=DEFAULT_FAIL,
            )
            park(handoff_id)
        await recorder.commit()
        if self.save_profile is not None:
            await self.save_profile()  # the fresh login survives a crash

    async def after_expiry(self, index: int, step: Step, result: StepResult) -> None:
        """Signed in again, before the step is tried again: rebuild its page (as after a crash),
        and when it had sent something, find out whether it happened anyway (the expiry may have
        met only the check's reload): a write is never done twice."""
        st = self.st
        # A write the site turned away as signed out did not happen: it is done again (an
        # approved one under its approval, if the action is still the one approved).
        outcome = result.outcome
        sent = outcome is not None and (
            bool(outcome.messages)  # over a WebSocket: nothing says it was turned away
            or (bool(outcome.mutating_requests) and not st.signs.refused(outcome))
        )
        if sent and self.settler.only_a_person_resends(index, step):
            raise StepFailure(
                FailureClass.AMBIGUOUS_OUTCOME,
                f"{step.summary()} was sent when the session had expired; not sent again without a person",
                {"login": True},
            )
        await self.pages.rebuild(index)
        timeout = st.timeout_for(step)
        proof = await self.settler.reread_expectation(step, timeout, result.outcome) if sent else None
        if proof is None:
            return
        checks = await self.settler.reread(index, proof, timeout)
        if checks and all(c.ok for c in checks):
            done = StepResult(ok=True, attempts=result.attempts, checks=checks)
            await self.book.complete(index, step, done, st.cp, verified_after_recovery=True)
            return
        await self.pages.rebuild(index)  # the check reloaded: its form state again

    async def before_approved_action(self, index: int, step: Step) -> None:
        """Before an approved action fires on a page that waited for the person: is the page
        still connected to the site, and its session still signed in? If not, sign in again
        (when it must) and rebuild the page; the approval gate then compares the rebuilt page
        with what was approved (G4) before anything fires."""
        st = self.st
        session = st.session
        answer = st.desk.unused("approval", index)
        if answer is None or answer.decision != "approve":
            return
        try:
            lost = await session.connection_lost()
        except StepFailure:
            lost = None  # not known: the page's own answer to the action will tell
        if lost is not None:
            # A page driven over a socket that dropped is not where the person approved it:
            # clicking there sends nothing, or something the site's next page would forget.
            await self.pages.rebuild(index)
            st.recorder.emit(EventType.PAGE_REBUILT, step=step.id, index=index, url=session.url, why=lost)
        if st.task.login is None:
            return
        try:
            why = await st.signs.probe(session, timeout=st.timeout_for(step))
        except StepFailure as failure:
            # Not known: the action fires, and a signed-out answer to it says it did not happen.
            st.recorder.emit(
                EventType.SESSION_CHECKED, step=step.id, index=index, url=session.url, error=failure.message
            )
            return
        st.recorder.emit(
            EventType.SESSION_CHECKED, step=step.id, index=index, url=session.url, signed_out=why
        )
        if why is None:
            return
        await self.log_in(index)
        await self.pages.rebuild(index)

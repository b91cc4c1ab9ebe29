"""Resuming a run where its checkpoint left off: signed in (at the start, or again when a
person said "retry" to a failed login), then, after an interruption, the page rebuilt and an
action in doubt settled (settle.py) — or a person asked when the page cannot be rebuilt."""

from __future__ import annotations

from app.domain.errors import StepFailure
from app.engine.attempts import StepResult
from app.engine.run.answered import Answered
from app.engine.run.book import StepBook
from app.engine.run.settle import Settler
from app.engine.run.signin import SignIn
from app.engine.run.state import RunState


class Resume:
    def __init__(
        self, state: RunState, *, book: StepBook, signin: SignIn, settler: Settler, answered: Answered
    ) -> None:
        self.st = state
        self.book = book
        self.signin = signin
        self.settler = settler
        self.answered = answered

    async def resume(self, *, rebuild: bool) -> bool:
        """Where the checkpoint left off: signed in, the page rebuilt, an action in doubt
        settled. False: the run failed doing so."""
        st = self.st
        task, cp = st.task, st.cp
        retried = (
            task.login is not None and cp.next_step < len(task.steps) and self.signin.answer(cp.next_step)
        )
        # Signed in first, once per browser: a page kept while the run waited is signed in already.
        at_start = (
            task.login is not None
            and task.login.at_start
            and cp.next_step == 0
            and bool(task.steps)
            and (cp.logins == 0 or rebuild)
        )
        if retried or at_start:
            # The person answered "retry" to a rejected login, or the task signs in first.
            try:
                if retried:
                    await self.signin.log_in(cp.next_step)
                else:
                    await self.signin.at_start()
            except StepFailure as failure:
                await self.book.fail(
                    cp.next_step, task.steps[cp.next_step], StepResult(ok=False, failure=failure), cp
                )
                return False
        needs_rebuild = cp.next_step < len(task.steps) and (
            rebuild
            or await self.settler.has_pending_intent()
            # The answer to "the page could not be rebuilt" (also with the page kept live).
            or st.desk.unused("recovery", cp.next_step) is not None
        )
        if needs_rebuild and self.answered.said_done(cp.next_step):
            # The person says the interrupted action happened: its step is done as it is, and
            # its page may be gone with it (a deleted item's page). The page to rebuild is the
            # next step's.
            index = cp.next_step
            done = await self.answered.verification(index)
            assert done is not None
            await self.book.complete(index, task.steps[index], done, cp)
            needs_rebuild = cp.next_step < len(task.steps)
        return not needs_rebuild or await self._rebuild()

    async def _rebuild(self) -> bool:
        """Re-establish the page after an interruption; ask the person when it cannot be done.
        False: the run failed (the person said so)."""
        st = self.st
        task, cp = st.task, st.cp
        index = min(cp.next_step, len(task.steps) - 1)
        step = task.steps[index]
        chosen = await st.clarifier.resolution(index, step, kind="recovery")
        if chosen is not None and chosen.kind == "fail":
            assert chosen.failure is not None
            await self.book.fail(index, step, StepResult(ok=False, failure=chosen.failure), cp)
            return False
        if chosen is not None and chosen.kind == "takeover":
            await self.answered.open_takeover(index, step, "rebuild the page, then hand back")
        if chosen is not None and chosen.kind == "skip":
            return True  # the person says the page is fine as it is
        try:
            await self.settler.reestablish()
        except StepFailure as failure:
            if not st.clarifier.asks("recovery"):
                await self.book.fail(index, step, StepResult(ok=False, failure=failure), cp)
                return False
            await st.clarifier.ask(index, st.render(step), failure, reason="recovery")
        return True

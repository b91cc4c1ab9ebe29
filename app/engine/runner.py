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
from app.domain.sealing import Sealer
from app.domain.states import TERMINAL, RunStatus, StepStatus, can_transition
from app.domain.task import (
    Action,
    AskArgs,
    ExtractArgs,
    GotoArgs,
    Step,
    Target,
    Task,
    bind_inputs,
)
from app.domain.task.spec import coerce_input
from app.domain.task.templating import TemplateError, render, render_text
from app.engine import faults
from app.engine.agentruns import run_task
from app.engine.approvals import ApprovalGate
from app.engine.asking import NOBODY_ANSWERED, Clarifier, learned_key
from app.engine.attempts import StepExecutor, StepResult, dispatches_intent, step_evidence
from app.engine.credentials import Credentials
from app.engine.desk import DEFAULT_FAIL, Answer, HandoffDesk, Park, park
from app.engine.guard import RequestGuard, Waiter
from app.engine.login import LoginBlock, login_failure, login_question
from app.engine.login_page import SignedOutSigns
from app.engine.ports import (
    BrowserProvider,
    BrowserSession,
    ProfileBusy,
    SecretSource,
    SessionProfiles,
)
from app.engine.progress import Budget, NoProgressDetector
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import EventSink, RunRecorder, RunStopped
from app.engine.recovery import RecoveryMixin
from app.engine.redaction import LogRedaction
from app.engine.tracing import RunTrace, TraceMode
from app.engine.validate import effective_expectation
from app.engine.waiting import SessionPool
from app.secrets import Redactor
from app.store import ArtifactStore, Database, attempts, get_learned, handoffs, leases, runs
from app.store.models import HandoffStatus, Run, StepRecord

log = logging.getLogger("flightdeck.engine")

LEASE_TTL = 30.0
SIGNED_IN_AGAIN = "after signing in again"


@dataclass
class RunResult:
    run_id: str
    status: RunStatus
    failure_class: str | None = None
    error: str | None = None
    open_handoffs: list[str] = field(default_factory=list)


class RunLoop(RecoveryMixin):
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
        waiter: Waiter,
        pool: SessionPool | None = None,
        keep: bool = False,
        secrets: SecretSource | None = None,
        profiles: SessionProfiles | None = None,
        log_redaction: LogRedaction | None = None,
        trace: TraceMode | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.db = db
        self.trace_override = trace  # `flightdeck run --trace`: wins over the task's policy
        # G7: what this run's credentials resolve to, so that nothing it writes contains it.
        # Given when it must outlive this execution (an agent's run: what is returned to it).
        self.redactor = redactor if redactor is not None else Redactor()
        self.sealer = Sealer()  # tagged with the run's tag once its checkpoint is read
        self.credentials = Credentials(secrets, self.redactor, self.sealer)
        self.profiles = profiles
        self.log_redaction = log_redaction
        self.provider = provider
        self.artifacts = artifacts
        self.limiter = limiter
        self.run_id = run_id
        self.owner = owner
        self.recorder = RunRecorder(db, run_id, owner, sinks, self.redactor, self.sealer)
        self.session: BrowserSession | None = None
        self.waiter = waiter
        self.pool = pool
        self.keep = keep  # keep the live page (and the lease) when the run parks
        self.kept = False  # it did: the run waits in this process
        self.stop_requested: str | None = None  # in-process takeover/pause: stop at the next step
        self._attempt_numbers: dict[int, int] | None = None
        self._profile_cookies = 0  # cookies a session profile brought into this execution

    # ----------------------------------------------------------------- lifecycle
    async def execute(self) -> RunResult:
        with self.db.session(readonly=True) as s:
            run = runs.get_run(s, self.run_id)
            assert run is not None
            inputs: dict[str, Any] = dict(run.inputs or {})
            # What the run executes: its site and login page made from its inputs.
            task = bind_inputs(run_task(s, run), inputs)
            checkpoint = Checkpoint.from_json(run.checkpoint)
            start_status = RunStatus(run.status)
        # G7, before anything is written: every secret the task can type is known (whichever
        # process continues the run), and where the checkpoint and inputs hold placeholders
        # for them, the run continues from the values.
        self.sealer.tag = checkpoint.seal_tag
        unreadable = await asyncio.to_thread(self.credentials.prime, [ref for _, ref in task.secret_refs()])
        if unreadable is not None:
            return await self._refused(task, checkpoint, unreadable)
        inputs = self.sealer.unseal(inputs)
        checkpoint = Checkpoint.from_json(self.sealer.unseal(checkpoint.to_json()))
        profile = task.session if self.profiles is not None else None
        busy = await self._acquire_profile(profile) if profile is not None else None
        if profile is not None and busy is not None:
            return await self._queued_for_profile(profile, busy, start_status)
        if self.log_redaction is not None:
            self.log_redaction.add(self.run_id, self.redactor)
        self.recorder.prime()
        self.desk = HandoffDesk(
            db=self.db, run_id=self.run_id, task=task, recorder=self.recorder, artifacts=self.artifacts
        )
        self.desk.render = lambda step: self._render(step, inputs, checkpoint)
        trace = RunTrace(self.trace_override or task.policy.trace, self.recorder, self.artifacts)
        heartbeat = asyncio.create_task(self._heartbeat())
        live = await self.pool.take(self.run_id) if self.pool is not None else None
        try:
            fresh = start_status is RunStatus.QUEUED and checkpoint.next_step == 0
            await self._transition(RunStatus.RUNNING, "started" if fresh else "resumed")
            if fresh and task.policy.approval == "none":
                # An explicit opt-out of approvals is part of the record (issue: policy modes).
                self.recorder.emit(
                    EventType.POLICY_NOTICE, approval="none", note="approvals are off for this task"
                )
            self.session = live or await self._open_session(task, profile)
            self.desk.session = self.session
            # A page kept from an earlier stretch may hold values typed then, which this
            # execution's Redactor never saw: no trace of it when the task types credentials.
            if live is None or not task.secret_refs():
                await trace.start(self.session)
            # A live page kept from before the run parked is exactly where the run left it.
            if live is None:
                checkpoint.browser_logins = 0  # a new browser: nothing is signed in here yet
            await self._loop(task, inputs, checkpoint, rebuild=live is None and not fresh)
        except Park:
            # Usually the handoff's own transaction moved the run to waiting already.
            with contextlib.suppress(RunStopped):
                await self._transition(RunStatus.WAITING, "waiting for a person")
        except RunStopped:
            pass
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if profile is not None:
                await self._save_profile(profile)  # success or not: the cookies it has now
            with contextlib.suppress(Exception):  # logged inside; never fails the run
                await trace.finish(self.recorder.status)
            try:
                await self.recorder.close()  # everything submitted is durable before we let go
            finally:
                status = self.recorder.status
                if (
                    self.keep
                    and self.pool is not None
                    and self.session is not None
                    and status in (RunStatus.WAITING, RunStatus.PAUSED)
                    and await self._disarmed()
                    and await self.pool.put(self.run_id, self.session)
                ):
                    self.kept = True  # the lease stays: the engine renews it
                else:
                    if self.session is not None:
                        with contextlib.suppress(Exception):
                            await self.session.close()
                    self._release()
                if profile is not None and self.profiles is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.profiles.release, profile, self.run_id)
                if self.log_redaction is not None:
                    self.log_redaction.discard(self.run_id)
        return self.result()

    # ----------------------------------------------------------------- sessions
    async def _acquire_profile(self, name: str) -> str | None:
        """None: this run holds the profile now; else why it cannot."""
        assert self.profiles is not None
        try:
            await asyncio.to_thread(self.profiles.acquire, name, self.run_id)
        except ProfileBusy as busy:
            return str(busy) or f"session profile '{name}' is in use by another run"
        return None

    async def _queued_for_profile(self, name: str, busy: str, status: RunStatus) -> RunResult:
        """Another run holds the session profile: nothing ran, nothing changed; the run waits
        in the queue (the dispatcher tries it again later, `flightdeck resume` too)."""
        reason = f"queued until session profile '{name}' is free: {busy}"
        if status is RunStatus.INTERRUPTED:

            def requeue(s: Session, run: Run) -> None:
                if RunStatus(run.status) is RunStatus.INTERRUPTED:
                    runs.transition(s, run, RunStatus.QUEUED, reason=reason)

            with contextlib.suppress(RunStopped):
                await self.recorder.commit(requeue)
        await self.recorder.close()
        self._release()
        result = self.result()
        result.error = reason
        return result

    async def _refused(self, task: Task, cp: Checkpoint, failure: StepFailure) -> RunResult:
        """A credential the task types cannot be read here: the run fails at its next step,
        before anything is typed (or written that could not be masked)."""
        index = min(cp.next_step, len(task.steps) - 1)
        self.recorder.prime()
        with contextlib.suppress(RunStopped):
            await self._transition(RunStatus.RUNNING, "reading its credentials")
            if index >= 0:
                await self._fail(index, task.steps[index], StepResult(ok=False, failure=failure), cp)
            else:  # an agent's run with no step yet
                await self._transition(RunStatus.FAILED, "a credential cannot be read", failure)
        await self.recorder.close()
        self._release()
        return self.result()

    async def _open_session(self, task: Task, profile: str | None) -> BrowserSession:
        session = await self.provider.open_session(base_url=task.site, timeout=task.policy.step_timeout)
        try:
            # Before the first navigation: a credential is never typed into another site (G7).
            await session.set_scope(task.scope())
            if profile is not None and self.profiles is not None:
                state = await asyncio.to_thread(self.profiles.load, profile)
                if state:
                    await session.load_state(state)
                    self._profile_cookies = len(state.get("cookies") or [])
                    self.recorder.emit(
                        EventType.PROFILE_LOADED, profile=profile, cookies=len(state.get("cookies") or [])
                    )
        except BaseException:
            with contextlib.suppress(Exception):
                await session.close()
            raise
        return session

    async def _save_profile(self, name: str) -> None:
        """Keep the session's cookies for the next run of this profile (a login done here is
        not done again there). Best effort: a browser that is gone has nothing to save."""
        if self.session is None or self.profiles is None:
            return
        try:
            state = await self.session.storage_state()
            await asyncio.to_thread(self.profiles.save, name, state)
        except Exception:
            log.warning("run %s: could not save session profile %s", self.run_id, name, exc_info=True)
            return
        self.recorder.emit(EventType.PROFILE_SAVED, profile=name, cookies=len(state.get("cookies") or []))
        with contextlib.suppress(Exception):
            await self.recorder.commit()

    async def _disarmed(self) -> bool:
        """The page may be kept: this loop's network guard is off it (False: the page broke)."""
        guard = getattr(self, "guard", None)
        if guard is None or self.session is None:
            return True
        try:
            await guard.disarm(self.session)
        except Exception:
            return False
        return True

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
    async def _loop(self, task: Task, inputs: dict[str, Any], cp: Checkpoint, rebuild: bool) -> None:
        assert self.session is not None
        budget = Budget(task.policy, cp)
        progress = NoProgressDetector(task.policy, cp)
        self.gate = ApprovalGate(self.desk, task.policy, task.site)
        self.guard = RequestGuard(self.desk, task.policy, self.waiter)
        self.signs = SignedOutSigns(task)
        self.clarifier = Clarifier(self.desk, list(task.policy.ask_on), task.policy.question_timeout)
        executor = StepExecutor(
            task=task,
            run_id=self.run_id,
            session=self.session,
            recorder=self.recorder,
            artifacts=self.artifacts,
            limiter=self.limiter,
            budget=budget,
            progress=progress,
            guard=self.guard,
            credentials=self.credentials,
            signs=self.signs,
            before_retry=lambda index, step, result, start_url, last: self._before_retry(
                task, inputs, cp, index, step, result, start_url, last=last
            ),
            taken=lambda: self.stop_requested == "takeover",
        )
        self.executor = executor
        self._learn_from_earlier_runs(task, cp)
        retried = (
            task.login is not None and cp.next_step < len(task.steps) and self._login_answer(cp.next_step)
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
                    await self._log_in(task, cp.next_step, inputs, cp)
                else:
                    await self._sign_in_at_start(task, inputs, cp)
            except StepFailure as failure:
                await self._fail(
                    cp.next_step, task.steps[cp.next_step], StepResult(ok=False, failure=failure), cp
                )
                return
        needs_rebuild = cp.next_step < len(task.steps) and (
            rebuild
            or await self._has_pending_intent()
            # The answer to "the page could not be rebuilt" (also with the page kept live).
            or self.desk.unused("recovery", cp.next_step) is not None
        )
        if needs_rebuild and self._said_done(cp.next_step):
            # The person says the interrupted action happened: its step is done as it is, and
            # its page may be gone with it (a deleted item's page). The page to rebuild is the
            # next step's.
            index = cp.next_step
            done = await self._verification_answer(index)
            assert done is not None
            await self._complete(index, task.steps[index], done, cp)
            needs_rebuild = cp.next_step < len(task.steps)
        if needs_rebuild and not await self._rebuild(task, inputs, cp, executor):
            return
        cleared: set[int] = set()
        while cp.next_step < len(task.steps):
            if self.recorder.status is not RunStatus.RUNNING:  # cancelled or paused meanwhile
                raise RunStopped
            index = cp.next_step
            if self.stop_requested == "takeover":
                self.stop_requested = None
                await self._open_takeover(index, task.steps[index], "the operator took over")
            step: Step | None = None
            try:
                step = await self._render_or_ask(task, index, inputs, cp)
                result = await self._run_one(task, index, step, cp, executor, inputs)
            except StepFailure as failure:  # budgets, no progress, template errors
                result = StepResult(ok=False, failure=failure)
            cp.elapsed = budget.elapsed
            if (
                not result.ok
                and step is not None
                and task.login is not None
                and result.failure is not None
                and result.failure.failure_class is FailureClass.SESSION_EXPIRED
            ):
                try:
                    await self._log_in(task, index, inputs, cp)
                    await self._after_login(task, index, step, result, cp, inputs)
                    continue  # the step again, signed in
                except StepFailure as failure:
                    result = StepResult(
                        ok=False, failure=failure, attempts=result.attempts, duration_ms=result.duration_ms
                    )
            if not result.ok:
                assert result.failure is not None
                if step is not None and await self._cleared_overlays(task, index, step, result, cleared):
                    continue  # an overlay may have hidden the target: one more try, then ask
                if step is not None and not result.by_operator and self.clarifier.asks_about(result.failure):
                    await self.clarifier.ask(index, step, result.failure)
                await self._fail(index, task.steps[index], result, cp, end_run=not task.open)
                if task.open:
                    continue  # the agent hears of the failure and decides what comes next
                return
            await self._complete(index, task.steps[index], result, cp)
        if task.open:
            # The agent's turn: the run (and its page, when kept) waits for its next step.
            await self._transition(RunStatus.WAITING, "waiting for the agent's next step", checkpoint=cp)
            return
        await self._transition(RunStatus.SUCCEEDED, "all steps succeeded", checkpoint=cp)

    # ----------------------------------------------------------------- login
    def _login_answer(self, index: int) -> Answer | None:
        """An answer to a failed login's question not acted on yet."""
        for h in self.desk.of("clarification", index):
            if (h.payload or {}).get("login") and h.status is HandoffStatus.OPEN:
                park(h.id)
        answer = self.desk.unused("clarification", index)
        return answer if answer is not None and (answer.handoff.payload or {}).get("login") else None

    async def _sign_in_at_start(self, task: Task, inputs: dict[str, Any], cp: Checkpoint) -> None:
        """`login.at_start`: sign in before step 1. A session profile that brought cookies may
        be signed in already: its first page (step 1's goto, else the site) is opened, and
        the login runs only if that page shows a signed-out sign."""
        assert self.session is not None
        if self._profile_cookies:
            first = self._render(task.steps[0], inputs, cp).args
            url = first.url if isinstance(first, GotoArgs) else (task.site or "")
            if url:
                try:
                    why = await self.signs.visit(self.session, url, timeout=task.policy.step_timeout)
                except StepFailure as failure:
                    why = f"could not tell: {failure.message}"  # signing in is the safe side
                self.recorder.emit(
                    EventType.SESSION_CHECKED, step=task.steps[0].id, index=0, url=url, signed_out=why
                )
                if why is None:
                    return  # the profile's session is alive: no login
        await self._log_in(task, 0, inputs, cp, at_start=True)

    async def _log_in(
        self, task: Task, index: int, inputs: dict[str, Any], cp: Checkpoint, *, at_start: bool = False
    ) -> None:
        """Run the login block for step `index`. Raises StepFailure when the run must not log
        in (bound reached, the person said stop) or the login failed and nobody is to be asked
        (`ask_on` leaves `login` out; the site never judged it: transient, retried already);
        else parks on a clarification (a rejected credential is a person's to fix, never
        retried on its own). `at_start`: the task signs in first (login.at_start); no session
        has expired."""
        assert task.login is not None and self.session is not None
        answer = self._login_answer(index)
        if answer is not None:
            await self.desk.consume(answer)
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
            self.recorder.emit(EventType.SESSION_EXPIRED, step=step.id, index=index, url=self.session.url)
        self.recorder.emit(
            EventType.LOGIN_STARTED, step=step.id, index=index, login=cp.logins, at_start=at_start
        )

        def count(s: Session, run: Run) -> None:
            # Logins are numbered across the run, crashes included.
            run.checkpoint = {
                **(run.checkpoint or {}),
                "logins": cp.logins,
                "browser_logins": cp.browser_logins,
            }

        await self.recorder.commit(count)
        block = LoginBlock(
            task=task,
            session=self.session,
            recorder=self.recorder,
            credentials=self.credentials,
            limiter=self.limiter,
            budget=self.executor.budget,
            guard=self.guard,
            render=lambda template: self._render(template, inputs, cp),
            signs=self.signs,
        )
        result = await block.run(index)
        self.recorder.emit(
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
            if result.unjudged or not self.clarifier.asks("login"):
                raise login_failure(task, result)
            question, fields = login_question(task, result)
            context = await self.desk.context(index, step)
            handoff_id = await self.desk.open(
                index,
                "clarification",
                question,
                {**context, **fields},
                timeout=task.policy.question_timeout,
                default=DEFAULT_FAIL,
            )
            park(handoff_id)
        await self.recorder.commit()
        if task.session is not None and self.profiles is not None:
            await self._save_profile(task.session)  # the fresh login survives a crash

    async def _after_login(
        self, task: Task, index: int, step: Step, result: StepResult, cp: Checkpoint, inputs: dict[str, Any]
    ) -> None:
        """Before the step is tried again: rebuild its page (as after a crash), and when it had
        sent something, find out whether it happened anyway (the expiry may have met only the
        check's reload): a write is never done twice."""
        assert self.session is not None
        # A write the site turned away as signed out did not happen: it is done again (an
        # approved one under its approval, if the action is still the one approved).
        outcome = result.outcome
        sent = outcome is not None and (
            bool(outcome.messages)  # over a WebSocket: nothing says it was turned away
            or (bool(outcome.mutating_requests) and not self.signs.refused(outcome))
        )
        if sent and self._only_a_person_resends(index, step):
            raise StepFailure(
                FailureClass.AMBIGUOUS_OUTCOME,
                f"{step.summary()} was sent when the session had expired; not sent again without a person",
                {"login": True},
            )
        await self._rebuild_page(task, index, inputs, cp)
        timeout = self.executor.budget.timeout_for(step)
        proof = await self._reread_expectation(task, step, timeout, result.outcome) if sent else None
        if proof is None:
            return
        checks = await self._reread(task, inputs, cp, index, proof, timeout)
        if checks and all(c.ok for c in checks):
            done = StepResult(ok=True, attempts=result.attempts, checks=checks)
            await self._complete(index, step, done, cp, verified_after_recovery=True)
            return
        await self._rebuild_page(task, index, inputs, cp)  # the check reloaded: its form state again

    async def _rebuild_page(self, task: Task, index: int, inputs: dict[str, Any], cp: Checkpoint) -> None:
        """The page step `index` runs on, rebuilt as after a crash (from where the last
        page-changing step left it, the read steps since) without redoing a write."""
        await self._replay(task, inputs, cp, self.executor, end=index, purpose=SIGNED_IN_AGAIN, record=False)

    async def _signed_in_for_approval(
        self, task: Task, index: int, step: Step, inputs: dict[str, Any], cp: Checkpoint
    ) -> None:
        """Before an approved action fires on a page that waited for the person: is the page
        still connected to the site, and its session still signed in? If not, sign in again
        (when it must) and rebuild the page; the approval gate then compares the rebuilt page
        with what was approved (G4) before anything fires."""
        if self.session is None:
            return
        answer = self.desk.unused("approval", index)
        if answer is None or answer.decision != "approve":
            return
        try:
            lost = await self.session.connection_lost()
        except StepFailure:
            lost = None  # not known: the page's own answer to the action will tell
        if lost is not None:
            # A page driven over a socket that dropped is not where the person approved it:
            # clicking there sends nothing, or something the site's next page would forget.
            await self._rebuild_page(task, index, inputs, cp)
            self.recorder.emit(
                EventType.PAGE_REBUILT, step=step.id, index=index, url=self.session.url, why=lost
            )
        if task.login is None:
            return
        try:
            why = await self.signs.probe(self.session, timeout=self.executor.budget.timeout_for(step))
        except StepFailure as failure:
            # Not known: the action fires, and a signed-out answer to it says it did not happen.
            self.recorder.emit(
                EventType.SESSION_CHECKED,
                step=step.id,
                index=index,
                url=self.session.url,
                error=failure.message,
            )
            return
        self.recorder.emit(
            EventType.SESSION_CHECKED, step=step.id, index=index, url=self.session.url, signed_out=why
        )
        if why is None:
            return
        await self._log_in(task, index, inputs, cp)
        await self._rebuild_page(task, index, inputs, cp)

    async def _cleared_overlays(
        self, task: Task, index: int, step: Step, result: StepResult, cleared: set[int]
    ) -> bool:
        """Before asking where a missing target is: a banner or modal may be covering it, and
        the person would be pointing at the overlay. Dismiss known ones once per step."""
        failure = result.failure
        if (
            failure is None
            or result.by_operator  # the person's "fail" (or its deadline) is not a question
            or failure.failure_class is not FailureClass.MISSING_TARGET
            or index in cleared
            or self.session is None
            or not self.clarifier.asks_about(failure)
        ):
            return False
        cleared.add(index)
        dismissed = await self.session.dismiss_obstructions(list(task.policy.obstructions))
        if dismissed:
            self.recorder.emit(
                EventType.OBSTRUCTION_DISMISSED, step=step.id, index=index, dismissed=dismissed
            )
        return bool(dismissed)

    async def _rebuild(
        self, task: Task, inputs: dict[str, Any], cp: Checkpoint, executor: StepExecutor
    ) -> bool:
        """Re-establish the page after an interruption; ask the person when it cannot be done.
        False: the run failed (the person said so)."""
        index = min(cp.next_step, len(task.steps) - 1)
        step = task.steps[index]
        chosen = await self.clarifier.resolution(index, step, kind="recovery")
        if chosen is not None and chosen.kind == "fail":
            assert chosen.failure is not None
            await self._fail(index, step, StepResult(ok=False, failure=chosen.failure), cp)
            return False
        if chosen is not None and chosen.kind == "takeover":
            await self._open_takeover(index, step, "rebuild the page, then hand back")
        if chosen is not None and chosen.kind == "skip":
            return True  # the person says the page is fine as it is
        try:
            await self._reestablish(task, inputs, cp, executor)
        except StepFailure as failure:
            if not self.clarifier.asks("recovery"):
                await self._fail(index, step, StepResult(ok=False, failure=failure), cp)
                return False
            await self.clarifier.ask(index, self._render(step, inputs, cp), failure, reason="recovery")
        return True

    def _learn_from_earlier_runs(self, task: Task, cp: Checkpoint) -> None:
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

    async def _render_or_ask(self, task: Task, index: int, inputs: dict[str, Any], cp: Checkpoint) -> Step:
        """The step with inputs, outputs and learned targets filled in. An input the run was not
        given (an agent or the console may start a run without it) is asked for."""
        template = task.steps[index]
        while True:
            try:
                return self._render(template, inputs, cp)
            except StepFailure as failure:
                missing = getattr(failure.__cause__, "missing", None)
                if missing is None or missing not in task.inputs:
                    raise
                if not await self._missing_input(task, index, template, missing, inputs):
                    raise

    def _render(self, step: Step, inputs: dict[str, Any], cp: Checkpoint) -> Step:
        try:
            data = step.model_dump(mode="json", exclude={"args", "expect"})
            args_data = step.args.model_dump(mode="json", exclude_defaults=True)
            if step.id in cp.learned and "target" in args_data:
                args_data["target"] = cp.learned[step.id]
            rendered_args = render(args_data, inputs, cp.outputs)
            rendered_expect = (
                render(step.expect.model_dump(mode="json", exclude_defaults=True), inputs, cp.outputs)
                if step.expect
                else None
            )
            if step.description is not None:
                data["description"] = render_text(step.description, inputs, cp.outputs)
            args = type(step.args).model_validate(rendered_args)
            return Step.model_validate({**data, "args": args, "expect": rendered_expect})
        except (TemplateError, ValueError) as exc:
            raise StepFailure(FailureClass.PERMANENT, f"step {step.id}: {exc}") from exc

    async def _missing_input(
        self, task: Task, index: int, step: Step, name: str, inputs: dict[str, Any]
    ) -> bool:
        """Ask for input `name`, or take the answer already given. False: asking is pointless
        (the question was cancelled)."""
        spec = task.inputs[name]
        for h in self.desk.of("clarification", index):
            if (h.payload or {}).get("input") != name:
                continue
            if h.status is HandoffStatus.OPEN:
                park(h.id)
            if h.status is HandoffStatus.EXPIRED:
                raise StepFailure(
                    FailureClass.PERMANENT,
                    f"step {step.id}: nobody gave the input '{name}' before the deadline",
                )
            if h.status is not HandoffStatus.ANSWERED:
                return False  # cancelled unanswered: the step cannot be rendered
            if (h.payload or {}).get("used"):
                continue
            answer = Answer(h)
            value = coerce_input(spec.type, answer.data.get("value"))
            inputs[name] = value

            def change(s: Any, run: Run, value: Any = value) -> None:
                run.inputs = {**(run.inputs or {}), name: value}

            self.recorder.stage(change)
            await self.desk.consume(answer)
            return True
        if not self.clarifier.asks("missing_input"):
            raise StepFailure(
                FailureClass.PERMANENT,
                f"step {step.id}: the run was started without the input '{name}', and "
                "policy.ask_on leaves out missing_input (nobody is asked)",
            )
        context = await self.desk.context(index, step, screenshot=False)
        payload = {
            **context,
            "reason": "missing_input",
            "input": name,
            "type": spec.type,
            "description": spec.description,
            "choices": None,
        }
        question = f"Step {step.id} needs the input '{name}' ({spec.type})" + (
            f": {spec.description}" if spec.description else ""
        )
        handoff_id = await self.desk.open(
            index,
            "clarification",
            question,
            payload,
            timeout=task.policy.question_timeout,
            default=DEFAULT_FAIL,
        )
        park(handoff_id)

    async def _run_one(
        self,
        task: Task,
        index: int,
        step: Step,
        cp: Checkpoint,
        executor: StepExecutor,
        inputs: dict[str, Any],
    ) -> StepResult:
        assert self.session is not None
        summary = step.summary()
        self.recorder.emit(
            EventType.STEP_STARTED,
            step=step.id,
            index=index,
            action=step.action.value,
            effect=step.effect.value,
            summary=summary,
        )
        self.recorder.stage(lambda s, run: _mark_step(s, self.run_id, index, StepStatus.RUNNING, summary))
        if step.action.value == "ask":
            return await self._answer_or_ask(index, step, cp)
        for kind in ("takeover", "clarification", "recovery", "verification"):
            waiting = self.desk.open_one(kind, index)
            if waiting is not None:
                park(waiting.id)
        verified = await self._verification_answer(index)
        if verified is not None:
            return verified
        handed_back = await self._handed_back(index, step, executor)
        if handed_back is not None:
            return handed_back
        chosen = await self.clarifier.resolution(index, step)
        if chosen is not None:
            if chosen.kind == "skip":
                return StepResult(ok=True, skipped=True)
            if chosen.kind == "fail":
                return StepResult(ok=False, failure=chosen.failure, by_operator=True)
            if chosen.kind == "takeover":
                await self._open_takeover(index, step, "the operator chose to take over")
            if chosen.kind == "target" and chosen.target is not None:
                cp.learned[step.id] = chosen.target.model_dump(mode="json", exclude_defaults=True)
                step = self._render(task.steps[index], inputs, cp)
            executor.progress.reset()  # the person looked: a fresh start for the loop detector
        await self._signed_in_for_approval(task, index, step, inputs, cp)
        approved = await self.gate.check(index, step, self.session, executor.budget.timeout_for(step))
        if approved is not None:
            step = approved.step
            if approved.fields and step.target is not None:
                await self.session.fill_fields(
                    step.target, approved.fields, timeout=executor.budget.timeout_for(step)
                )
        result = await executor.run_step(
            index,
            step,
            first_attempt=self._next_attempt_number(index),
            irreversible=approved is not None,
            before_shot=approved.screenshot if approved is not None else None,
        )
        if (
            approved is not None
            and result.failure is not None
            and result.failure.failure_class is FailureClass.SESSION_EXPIRED
            and self.signs.refused(result.outcome)
        ):
            self.gate.refused(index, approved)
        if self._attempt_numbers is not None and result.attempts:
            self._attempt_numbers[index] = result.attempts  # the step may be tried again in this execution
        if self.guard.stopped:
            raise RunStopped
        if result.ok and isinstance(step.args, ExtractArgs) and result.outcome is not None:
            cp.outputs[step.args.into] = result.outcome.value
            self.recorder.emit(
                EventType.OUTPUT_EXTRACTED,
                step=step.id,
                name=step.args.into,
                value=_preview(result.outcome.value),
            )
        return result

    async def _handed_back(self, index: int, step: Step, executor: StepExecutor) -> StepResult | None:
        """After a takeover: did the person do the step? Judged by its expectation, read-only."""
        answer = self.desk.unused("takeover", index)
        if answer is None:
            return None
        await self.desk.consume(answer)
        self.recorder.emit(EventType.TAKEOVER_ENDED, step=step.id, index=index, by=answer.by)
        if answer.expired:
            # The person may be gone halfway through (a form half filled, a dialog open), or
            # still at it: going on from a page nobody vouches for could send what no one meant.
            raise StepFailure(
                FailureClass.DENIED,
                "nobody handed the page back before the deadline (policy.takeover_timeout); "
                "the run stops rather than act on a page a person may have left half-done",
                {"handoff": answer.id},
            )
        expect = effective_expectation(step)
        checkable = expect.model_copy(update={"request": []}) if expect else None
        if checkable is None or checkable.is_empty() or self.session is None:
            return None  # nothing to judge by: the step runs again (an approval still gates it)
        checks = await self.session.check(
            checkable, None, timeout=min(2.0, executor.budget.timeout_for(step))
        )
        if checks and all(c.ok for c in checks):
            for h in self.desk.of("approval", index):
                if h.status is HandoffStatus.OPEN:  # the person did it: nothing left to approve
                    who = answer.by or "the operator"
                    await self.desk.void(h, f"done by {who} during a takeover (its expectation holds)")
            return StepResult(ok=True, attempts=0, checks=checks, by_operator=True, done_by=answer.by)
        return None

    async def _open_takeover(self, index: int, step: Step, why: str) -> NoReturn:
        step = self.desk.rendered(step)
        context = await self.desk.context(index, step)
        payload = {**context, "reason": why, "choices": ["hand_back"]}
        handoff_id = await self.desk.open(
            index,
            "takeover",
            f"You have the page of step {step.id} ({step.summary()}). Hand back when done.",
            payload,
            timeout=self.desk.task.policy.takeover_timeout,
            default=DEFAULT_FAIL,
        )
        self.recorder.emit(EventType.TAKEOVER_STARTED, step=step.id, index=index, handoff_id=handoff_id)
        park(handoff_id)

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

    async def _fail(
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

    def _next_attempt_number(self, index: int) -> int:
        """Attempts are numbered across interruptions: a resumed step continues the count."""
        if self._attempt_numbers is None:
            with self.db.session(readonly=True) as s:
                self._attempt_numbers = {}
                for a in attempts.list_attempts(s, self.run_id):
                    known = self._attempt_numbers.get(a.step_index, 0)
                    self._attempt_numbers[a.step_index] = max(known, a.number)
        return self._attempt_numbers.get(index, 0) + 1

    # ----------------------------------------------------------------- handoffs
    def _said_done(self, index: int) -> bool:
        """A person answered "it happened" to the verification of step `index`, not acted on."""
        answer = self.desk.unused("verification", index)
        return (
            answer is not None
            and not answer.expired
            and (answer.decision or str(answer.data.get("value", ""))) in ("approve", "done", "yes")
        )

    async def _verification_answer(self, index: int) -> StepResult | None:
        """The operator said whether an interrupted action happened: done → complete the step;
        not done → fall through to a fresh approval/attempt (never re-fired without one)."""
        answer = self.desk.unused("verification", index)
        if answer is None:
            return None
        await self.desk.consume(answer)
        if answer.expired:
            # Nobody knows whether it happened: it is not sent again (G3), nor called done.
            raise StepFailure(
                FailureClass.AMBIGUOUS_OUTCOME,
                f"{self.desk.task.steps[index].summary()} may have happened before the interruption and "
                "nobody said whether it did before the deadline (policy.verification_timeout); "
                "it was not sent again",
                {"handoff": answer.id},
            )
        said = answer.decision or str(answer.data.get("value", ""))
        if said in ("approve", "done", "yes"):
            return StepResult(ok=True, attempts=0, by_operator=True, done_by=answer.by)
        return None

    async def _answer_or_ask(self, index: int, step: Step, cp: Checkpoint) -> StepResult:
        args = step.args
        assert isinstance(args, AskArgs)
        for h in self.desk.of("clarification", index):
            if h.status is HandoffStatus.OPEN:
                park(h.id)
            if h.status is HandoffStatus.EXPIRED and h.answer is None:
                raise StepFailure(
                    FailureClass.DENIED, f"nobody answered {args.question!r} before the deadline"
                )
            if h.status in (HandoffStatus.ANSWERED, HandoffStatus.EXPIRED):
                value = Answer(h).data.get("value")
                if args.into:
                    cp.outputs[args.into] = value
                return StepResult(ok=True, attempts=1)
        context = await self.desk.context(index, step, screenshot=False)
        payload = {
            **context,
            "question": args.question,
            "choices": args.choices,
            "type": args.type,
            "into": args.into,
        }
        handoff_id = await self.desk.open(
            index, "clarification", args.question, payload, timeout=self.desk.task.policy.question_timeout
        )
        park(handoff_id)


def _step_record(s: Session, run_id: str, index: int) -> StepRecord:
    record = runs.get_step(s, run_id, index)
    if record is None:
        raise LookupError(f"run {run_id} has no step #{index}")
    return record


def _mark_step(s: Session, run_id: str, index: int, status: StepStatus, summary: str) -> None:
    record = _step_record(s, run_id, index)
    record.status = status
    record.summary = summary  # rendered: the task file's templates filled in
    if status is StepStatus.RUNNING and record.started_at is None:
        record.started_at = datetime.now(UTC)


def _preview(value: Any) -> Any:
    text = str(value)
    return value if len(text) <= 200 else text[:200] + "…"


__all__ = ["FlightdeckError", "RunLoop", "RunResult"]

"""The run loop: one execution of a run, from claiming it to letting it go.

`RunLoop.execute` reads the run, opens its browser session, builds the run's state and its
collaborators (state.py: what they share; book, pages, settle, signin, answered, pipeline:
what each does), resumes where the checkpoint says (signing in, rebuilding the page, settling
an action in doubt), then takes each step through the pipeline. It ends with the run
succeeded, failed, waiting for a person (Park) or stopped by someone else (RunStopped), and
everything it wrote durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.domain.checkpoint import Checkpoint
from app.domain.errors import StepFailure
from app.domain.events import EventType
from app.domain.sealing import Sealer
from app.domain.states import RunStatus
from app.domain.task import Step, Task, bind_inputs
from app.engine.agentruns import run_task
from app.engine.approvals import ApprovalGate
from app.engine.asking import Clarifier
from app.engine.attempts import StepExecutor, StepResult
from app.engine.credentials import Credentials
from app.engine.desk import HandoffDesk, Park
from app.engine.guard import RequestGuard, Waiter
from app.engine.login_page import SignedOutSigns
from app.engine.ports import BrowserProvider, BrowserSession, SecretSource, SessionProfiles
from app.engine.progress import Budget, NoProgressDetector
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import EventSink, RunRecorder, RunStopped
from app.engine.redaction import LogRedaction
from app.engine.run.answered import Answered
from app.engine.run.book import StepBook
from app.engine.run.pages import PageRebuilder
from app.engine.run.pipeline import StepPipeline
from app.engine.run.resume import Resume
from app.engine.run.sessions import RunBrowser
from app.engine.run.settle import Settler
from app.engine.run.signin import SignIn
from app.engine.run.state import Control, RunState, render_step
from app.engine.tracing import RunTrace, TraceMode
from app.engine.waiting import SessionPool
from app.secrets import Redactor
from app.store import ArtifactStore, Database, handoffs, leases, runs
from app.store.models import Run

log = logging.getLogger("flightdeck.engine")

LEASE_TTL = 30.0


@dataclass
class RunResult:
    run_id: str
    status: RunStatus
    failure_class: str | None = None
    error: str | None = None
    open_handoffs: list[str] = field(default_factory=list)


@dataclass
class _Crew:
    """What the loop drives of one execution's collaborators (the rest they hold themselves)."""

    resume: Resume
    pipeline: StepPipeline


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
        self.log_redaction = log_redaction
        self.artifacts = artifacts
        self.limiter = limiter
        self.run_id = run_id
        self.owner = owner
        self.recorder = RunRecorder(db, run_id, owner, sinks, self.redactor, self.sealer)
        self.browser = RunBrowser(run_id, provider, profiles, self.recorder)
        self.book = StepBook(db, run_id, self.recorder, lambda: self.session.url if self.session else None)
        self.guard: RequestGuard | None = None
        self.waiter = waiter
        self.pool = pool
        self.keep = keep  # keep the live page (and the lease) when the run parks
        self.kept = False  # it did: the run waits in this process
        self.control = Control()
        self._settler: Settler | None = None  # this execution's (`_crew`)

    @property
    def session(self) -> BrowserSession | None:
        """The run's page (None until it is open)."""
        return self.browser.session

    @property
    def stop_requested(self) -> str | None:
        return self.control.stop_requested

    @stop_requested.setter
    def stop_requested(self, value: str | None) -> None:
        """In-process takeover: the loop stops at the next step (never mid-action)."""
        self.control.stop_requested = value

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
        profile = self.browser.profile_of(task)
        busy = await self.browser.acquire(profile) if profile is not None else None
        if profile is not None and busy is not None:
            return await self._queued_for_profile(profile, busy, start_status)
        if self.log_redaction is not None:
            self.log_redaction.add(self.run_id, self.redactor)
        desk = HandoffDesk(
            db=self.db, run_id=self.run_id, task=task, recorder=self.recorder, artifacts=self.artifacts
        )
        desk.render = lambda step: render_step(step, inputs, checkpoint)
        trace = RunTrace(self.trace_override or task.policy.trace, self.recorder, self.artifacts)
        heartbeat = asyncio.create_task(self._heartbeat())
        live = await self.pool.take(self.run_id) if self.pool is not None else None
        try:
            fresh = start_status is RunStatus.QUEUED and checkpoint.next_step == 0
            await self.book.transition(RunStatus.RUNNING, "started" if fresh else "resumed")
            if fresh and task.policy.approval == "none":
                # An explicit opt-out of approvals is part of the record (issue: policy modes).
                self.recorder.emit(
                    EventType.POLICY_NOTICE, approval="none", note="approvals are off for this task"
                )
            if live is not None:
                self.browser.session = live
            session = live or await self.browser.open(task, profile)
            desk.session = session
            # A page kept from an earlier stretch may hold values typed then, which this
            # execution's Redactor never saw: no trace of it when the task types credentials.
            if live is None or not task.secret_refs():
                await trace.start(session)
            # A live page kept from before the run parked is exactly where the run left it.
            if live is None:
                checkpoint.browser_logins = 0  # a new browser: nothing is signed in here yet
            state = self._state(task, inputs, checkpoint, session, desk)
            await self._run(state, self._crew(state), rebuild=live is None and not fresh)
        except Park:
            # Usually the handoff's own transaction moved the run to waiting already.
            with contextlib.suppress(RunStopped):
                await self.book.transition(RunStatus.WAITING, "waiting for a person")
        except RunStopped:
            pass
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if profile is not None:
                await self.browser.save(profile)  # success or not: the cookies it has now
            with contextlib.suppress(Exception):  # logged inside; never fails the run
                await trace.finish(self.recorder.status)
            try:
                await self.recorder.close()  # everything submitted is durable before we let go
            finally:
                await self._let_go(profile)
        return self.result()

    async def _let_go(self, profile: str | None) -> None:
        """Keep the page for a run that waits in this process, else close it and release the
        lease; the session profile and the log redaction go with the execution."""
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
            await self.browser.close()
            self._release()
        if profile is not None:
            await self.browser.release(profile)
        if self.log_redaction is not None:
            self.log_redaction.discard(self.run_id)

    # ----------------------------------------------------------------- the execution's parts
    def _state(
        self, task: Task, inputs: dict[str, Any], cp: Checkpoint, session: BrowserSession, desk: HandoffDesk
    ) -> RunState:
        """The run's state with the gates its policy sets up. The executor's retries consult
        the settler, built after it (`_crew`): bound late, through `self._settler`."""
        budget = Budget(task.policy, cp)
        progress = NoProgressDetector(task.policy, cp)
        self.guard = guard = RequestGuard(desk, task.policy, self.waiter)
        signs = SignedOutSigns(task)
        executor = StepExecutor(
            task=task,
            run_id=self.run_id,
            session=session,
            recorder=self.recorder,
            artifacts=self.artifacts,
            limiter=self.limiter,
            budget=budget,
            progress=progress,
            guard=guard,
            credentials=self.credentials,
            signs=signs,
            before_retry=self._before_retry,
            taken=self.control.taken,
        )
        return RunState(
            run_id=self.run_id,
            task=task,
            inputs=inputs,
            cp=cp,
            session=session,
            recorder=self.recorder,
            desk=desk,
            control=self.control,
            budget=budget,
            progress=progress,
            gate=ApprovalGate(desk, task.policy, task.site),
            guard=guard,
            signs=signs,
            clarifier=Clarifier(desk, list(task.policy.ask_on), task.policy.question_timeout),
            executor=executor,
        )

    async def _before_retry(
        self, index: int, step: Step, result: StepResult, start_url: str, last: bool
    ) -> StepResult | None:
        assert self._settler is not None
        return await self._settler.before_retry(index, step, result, start_url, last)

    def _crew(self, state: RunState) -> _Crew:
        # Signing in rebuilds pages and re-reads; rebuilding and re-reading may sign in: the
        # one cycle, closed by handing the latter `signin.log_in` as a function.
        def log_in(index: int) -> Any:
            return signin.log_in(index)

        pages = PageRebuilder(state, self.db, self.credentials, log_in)
        settler = self._settler = Settler(state, self.db, pages, self.book, log_in)
        task = state.task
        profile = self.browser.profile_of(task)
        signin = SignIn(
            state,
            credentials=self.credentials,
            limiter=self.limiter,
            pages=pages,
            settler=settler,
            book=self.book,
            save_profile=(lambda: self.browser.save(profile)) if profile is not None else None,
            profile_cookies=self.browser.profile_cookies,
        )
        answered = Answered(state)
        pipeline = StepPipeline(state, book=self.book, answered=answered, signin=signin)
        resume = Resume(state, book=self.book, signin=signin, settler=settler, answered=answered)
        return _Crew(resume, pipeline)

    # ----------------------------------------------------------------- the loop
    async def _run(self, st: RunState, crew: _Crew, *, rebuild: bool) -> None:
        task, cp = st.task, st.cp
        self.book.learn_from_earlier_runs(task, cp)
        if not await crew.resume.resume(rebuild=rebuild):
            return
        while cp.next_step < len(task.steps):
            if not await crew.pipeline.step(cp.next_step):
                return
        if task.open:
            # The agent's turn: the run (and its page, when kept) waits for its next step.
            await self.book.transition(RunStatus.WAITING, "waiting for the agent's next step", checkpoint=cp)
            return
        await self.book.transition(RunStatus.SUCCEEDED, "all steps succeeded", checkpoint=cp)

    # ----------------------------------------------------------------- sessions

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
        with contextlib.suppress(RunStopped):
            await self.book.transition(RunStatus.RUNNING, "reading its credentials")
            if index >= 0:
                await self.book.fail(index, task.steps[index], StepResult(ok=False, failure=failure), cp)
            else:  # an agent's run with no step yet
                await self.book.transition(RunStatus.FAILED, "a credential cannot be read", failure)
        await self.recorder.close()
        self._release()
        return self.result()

    async def _disarmed(self) -> bool:
        """The page may be kept: this loop's network guard is off it (False: the page broke)."""
        if self.guard is None or self.session is None:
            return True
        try:
            await self.guard.disarm(self.session)
        except Exception:
            return False
        return True

    # ----------------------------------------------------------------- the lease
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

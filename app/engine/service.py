"""The engine as the command line and the console see it: submit, run, resume, answer."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
from collections.abc import Iterable
from typing import Any

from app.domain.errors import FlightdeckError
from app.domain.events import EventType
from app.domain.states import TERMINAL, RunStatus
from app.domain.task import Task, bind_inputs, load_task
from app.engine import agentruns
from app.engine.credentials import check_credentials
from app.engine.desk import DEFAULT_FAIL, deadline_after
from app.engine.owner import new_owner_id, owner_is_dead
from app.engine.ports import BrowserProvider, BrowserSession, InputEvent, SecretSource, SessionProfiles
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import EventSink
from app.engine.redaction import LogRedaction
from app.engine.run import LEASE_TTL, RunLoop, RunResult
from app.engine.stopping import stop_tasks
from app.engine.takeover_input import TakeoverInput
from app.engine.tracing import TraceMode
from app.engine.waiting import (
    DEFAULT_IDLE_LIMIT_S,
    DEFAULT_MAX_LIVE,
    QUERY_EVERY_S,
    AnswerWatcher,
    SessionPool,
)
from app.secrets import Redactor
from app.store import ArtifactStore, Database, RunKind, events, handoffs, leases, runs

log = logging.getLogger("flightdeck.engine")


def control_run(db: Database, run_id: str, to: RunStatus, reason: str) -> None:
    """Cancel or pause a run from any process: the owner notices at its next checkpoint."""
    with db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        runs.transition(s, run, to, reason=reason)
        if to is RunStatus.CANCELLED:
            handoffs.cancel_open_handoffs(s, run_id, reason=reason)


def open_takeover(db: Database, run_id: str, *, by: str) -> str:
    """Open a takeover handoff for a running or waiting run, from any process. A running run
    goes to `waiting` in the same transaction; its owner stops before its next step."""
    with db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        status = RunStatus(run.status)
        if status not in (RunStatus.RUNNING, RunStatus.WAITING):
            raise FlightdeckError(
                f"run {run_id} is {status}; only a running or waiting run can be taken over"
            )
        existing = [h for h in handoffs.list_handoffs(s, run_id=run_id) if h.kind == "takeover"]
        if existing:
            return existing[0].id
        index = int((run.checkpoint or {}).get("next_step", 0))
        index = min(index, max(0, run.step_count - 1))
        policy = load_task(run.task_text, run.task_source or f"run {run.id}").policy
        deadline = deadline_after(policy.takeover_timeout)
        h = handoffs.open_handoff(
            s,
            run_id=run_id,
            step_index=index,
            kind="takeover",
            question=f"{by} took over the page. Hand back when done.",
            payload={"reason": "the operator took over", "by": by, "choices": ["hand_back"]},
            deadline=deadline,
            default_answer=DEFAULT_FAIL if deadline is not None else None,
        )
        events.append_event(
            s, run_id, EventType.TAKEOVER_STARTED, {"handoff_id": h.id, "by": by, "index": index}
        )
        if status is RunStatus.RUNNING:
            runs.transition(s, run, RunStatus.WAITING, reason=f"taken over by {by}")
        return h.id


class RunBusy(FlightdeckError):
    """Another live process owns the run."""


class Engine:
    """One per process. Runs share the browser provider, the rate limiter and the slots."""

    def __init__(
        self,
        db: Database,
        provider: BrowserProvider,
        artifacts: ArtifactStore,
        *,
        concurrency: int = 4,
        sinks: Iterable[EventSink] = (),
        idle_limit: float | None = None,
        max_live_waiting: int | None = None,
        site_limit: tuple[float, int] | None = None,
        secrets: SecretSource | None = None,
        profiles: SessionProfiles | None = None,
        trace: TraceMode | None = None,
    ) -> None:
        """`secrets`: where `secret:` fills get their values (None: tasks that use credentials
        are refused at submit). `profiles`: where `session:` profiles persist (None: a task's
        `session:` is ignored and every run starts with a fresh browser context)."""
        self.db = db
        self.secrets = secrets
        self.trace = trace  # overrides every task's `policy.trace` (`flightdeck run --trace`)
        self.profiles = profiles
        # Engine and browser log lines pass through every running run's Redactor (G7).
        self.log_redaction = LogRedaction()
        self.log_redaction.install()
        self.provider = provider
        self.artifacts = artifacts
        self.limiter = SiteRateLimiter(site_limit)  # site_limit: (per second, burst) cap
        self.concurrency = concurrency
        self.slots = asyncio.Semaphore(concurrency)
        self.sinks = list(sinks)
        self.owner = new_owner_id()
        if idle_limit is None:
            idle_limit = float(os.environ.get("FLIGHTDECK_IDLE_LIMIT", DEFAULT_IDLE_LIMIT_S))
        if max_live_waiting is None:
            max_live_waiting = int(os.environ.get("FLIGHTDECK_MAX_LIVE_WAITING", DEFAULT_MAX_LIVE))
        self.pool = SessionPool(idle_limit, max_live_waiting)
        self.watcher = AnswerWatcher(db)
        self._loops: dict[str, RunLoop] = {}  # runs executing in this process
        self._parked: set[str] = set()  # runs waiting in this process: we hold their lease
        self._redactors: dict[str, Redactor] = {}  # runs whose results go to an agent
        # Parked runs' Redactors (what their credentials resolved to): for input recorded while
        # they wait (a takeover).
        self._parked_redactors: dict[str, Redactor] = {}
        self.takeover_input = TakeoverInput(db, self.pool, lambda: self._parked, self._redactor_of)
        self._keeper: asyncio.Task[None] | None = None

    @property
    def busy_slots(self) -> int:
        return len(self._loops)

    @property
    def parked(self) -> frozenset[str]:
        """Runs waiting for a person in this process (their lease and live page are kept here)."""
        return frozenset(self._parked)

    def page(self, run_id: str) -> BrowserSession | None:
        """The live page of a run executing or parked in this process, as it is (a parked one
        may be frozen); None when it has none here. For live views."""
        loop = self._loops.get(run_id)
        if loop is not None and loop.session is not None:
            return loop.session
        return self.pool.peek(run_id)

    def live_runs(self) -> list[str]:
        """Runs with a live page in this process."""
        return [r for r in {*self._loops, *self._parked} if self.page(r) is not None]

    async def close(self) -> None:
        """Let go of waiting runs (they stay waiting in the database) and their pages."""
        if self._keeper is not None:
            await stop_tasks(self._keeper)
        await self.watcher.close()
        await self.takeover_input.close()
        await self.pool.close()
        for run_id in list(self._parked):
            self._let_go(run_id)
        self.log_redaction.uninstall()

    # ----------------------------------------------------------------- submit
    def submit(self, task: Task, task_text: str, inputs: dict[str, Any]) -> str:
        """Queue a run. Raises TaskValidationError, with nothing written, when a credential the
        task refers to cannot be read (unknown, no keyring, no credential store here)."""
        check_credentials(task, self.secrets)
        site = bind_inputs(task, inputs).site  # a site made from inputs: checked now, shown as run
        with self.db.session() as s, s.begin():
            run = runs.create_run(
                s,
                task_name=task.name,
                task_source=task.source,
                task_text=task_text,
                inputs=inputs,
                site=site,
                steps=[(st.id, st.action.value, st.effect.value, st.summary()) for st in task.steps],
                kind=RunKind.OPEN if task.open else RunKind.TASK,
            )
            return run.id

    # ----------------------------------------------------------------- run
    async def run(self, run_id: str, *, keep: bool = False) -> RunResult:
        """Run (or continue) a run in this process until it finishes or must wait.

        `keep`: when it parks, keep its live page and its lease here (this process will wait
        for the answer and continue it: `drive`). Otherwise let go; anyone may continue it.
        """
        async with self.slots:  # a waiting run has returned its slot (DESIGN: durable waiting)
            self._parked.discard(run_id)
            # The person's input is recorded until now: from here on the page is the engine's.
            await self.takeover_input.stop(run_id)
            self._parked_redactors.pop(run_id, None)
            self._claim(run_id)
            loop = RunLoop(
                db=self.db,
                provider=self.provider,
                artifacts=self.artifacts,
                limiter=self.limiter,
                run_id=run_id,
                owner=self.owner,
                sinks=self.sinks,
                waiter=self.watcher.wait,
                pool=self.pool,
                keep=keep,
                secrets=self.secrets,
                profiles=self.profiles,
                log_redaction=self.log_redaction,
                trace=self.trace,
                redactor=self._redactors.get(run_id),
            )
            self._loops[run_id] = loop
            try:
                result = await loop.execute()
            except BaseException:
                # Whatever happened (Ctrl-C included), the run stays resumable: mark it
                # interrupted so `resume` knows it did not finish.
                await self.pool.drop(run_id)
                self._interrupt(run_id, "the process stopped mid-run")
                raise
            finally:
                self._loops.pop(run_id, None)
            if loop.kept:
                self._parked.add(run_id)
                self._parked_redactors[run_id] = loop.redactor
                self._ensure_keeper()
                self.takeover_input.wake()  # taken over already, perhaps by another process
            return result

    async def drive(self, run_id: str, *, wait: bool = True) -> RunResult:
        """Run to the end. With `wait`, a run that must wait for a person waits here (holding
        no slot, its page kept live) and continues as soon as the answer arrives, from
        whichever process or console it comes."""
        result = await self.run(run_id, keep=wait)
        idle_rounds = 0
        while wait and result.status is RunStatus.WAITING:
            if result.open_handoffs:
                await self._until_one_closes(run_id, result.open_handoffs)
                idle_rounds = 0
            else:
                # Answered before we looked (or closed some other way): continue now, but
                # never spin on a run that keeps waiting without a question.
                idle_rounds += 1
                if idle_rounds > 1:
                    break
            status = self._status_if_ours(run_id)
            if status is not RunStatus.WAITING:
                break  # cancelled or paused meanwhile, or another process continued it
            result = await self.run(run_id, keep=wait)
        status = self._status_if_ours(run_id)
        if status is None or status in TERMINAL:
            await self.pool.drop(run_id)  # nothing will continue here: free the page and the lease
            if run_id in self._parked:
                self._let_go(run_id)
        return self._result(run_id) if status is not result.status else result

    async def _until_one_closes(self, run_id: str, waiting: list[str]) -> None:
        """Until one of the run's open handoffs closes — also one opened while it waited: a
        person who takes over a run waiting for its approval hands back, and the run re-checks
        at once (the person may have done the step; the approval is then moot), instead of
        waiting for the approval's answer or its deadline."""
        known = set(self._handoff_ids(run_id, open_only=False))
        while True:
            answered = asyncio.ensure_future(self.watcher.wait_any(waiting))
            opened = asyncio.ensure_future(self._until_new(run_id, known))
            done, _ = await asyncio.wait({answered, opened}, return_when=asyncio.FIRST_COMPLETED)
            for task in (answered, opened):
                task.cancel()
            if answered in done:
                return
            known = opened.result()
            still_open = self._handoff_ids(run_id, open_only=True)
            if set(known) - set(waiting) - set(still_open):
                return  # opened and closed already (a hand-back within one look)
            waiting = still_open

    async def _until_new(self, run_id: str, known: set[str]) -> set[str]:
        """Every handoff id of the run, once one not in `known` exists (opened by any process)."""
        while True:
            await asyncio.sleep(QUERY_EVERY_S)
            now = set(await asyncio.to_thread(self._handoff_ids, run_id, open_only=False))
            if now - known:
                return now

    def _handoff_ids(self, run_id: str, *, open_only: bool) -> list[str]:
        with self.db.session(readonly=True) as s:
            found = handoffs.list_handoffs(s, run_id=run_id, status="open" if open_only else None)
            return [h.id for h in found]

    def _status_if_ours(self, run_id: str) -> RunStatus | None:
        """The run's status, or None when another process holds it."""
        with self.db.session(readonly=True) as s:
            run = runs.get_run(s, run_id)
            if run is None or run.owner not in (None, self.owner):
                return None
            return RunStatus(run.status)

    def _result(self, run_id: str) -> RunResult:
        with self.db.session(readonly=True) as s:
            run = runs.get_run(s, run_id)
            assert run is not None
            open_ids = [h.id for h in handoffs.list_handoffs(s, run_id=run_id, status="open")]
            return RunResult(run_id, RunStatus(run.status), run.failure_class, run.error, open_ids)

    def _ensure_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_parked())

    async def _keep_parked(self) -> None:
        """Renew the leases of runs waiting here (others then leave them to us) and close
        pages idle past the limit. One small write per LEASE_TTL/3 for all of them."""
        while self._parked:
            await asyncio.sleep(LEASE_TTL / 3)
            for run_id in await self.pool.reap():
                self._let_go(run_id)
            parked = list(self._parked)
            lost = await asyncio.to_thread(self._renew_parked, parked)
            for run_id in lost:
                self._parked.discard(run_id)
                await self.pool.drop(run_id)

    def _renew_parked(self, parked: list[str]) -> list[str]:
        lost = []
        with self.db.session() as s, s.begin():
            for run_id in parked:
                if not leases.heartbeat(s, run_id, self.owner, LEASE_TTL):
                    lost.append(run_id)
        return lost

    def _let_go(self, run_id: str) -> None:
        self._parked.discard(run_id)
        self._parked_redactors.pop(run_id, None)
        self.takeover_input.wake()  # its page is no longer observed
        with contextlib.suppress(Exception), self.db.session() as s, s.begin():
            leases.release(s, run_id, self.owner)

    def _claim(self, run_id: str) -> None:
        with self.db.session() as s, s.begin():
            # A deadline that passed while no process held the run applies before it goes on.
            handoffs.expire_due(s, run_id=run_id)
            run = runs.get_run(s, run_id)
            if run is None:
                raise LookupError(f"no run {run_id}")
            status = RunStatus(run.status)
            if status in TERMINAL:
                raise FlightdeckError(f"run {run_id} already {status}; nothing to resume")
            if run.owner and run.owner != self.owner and owner_is_dead(run.owner):
                leases.release(s, run_id, run.owner)  # its process is gone: no need to wait out the lease
            if not leases.claim(s, run_id, self.owner, LEASE_TTL):
                raise RunBusy(f"run {run_id} is being run by {run.owner}")
            run = runs.get_run(s, run_id)
            assert run is not None
            if RunStatus(run.status) is RunStatus.PAUSED:
                runs.transition(s, run, RunStatus.QUEUED, reason="resumed by the operator")
            elif RunStatus(run.status) is RunStatus.RUNNING:
                runs.transition(s, run, RunStatus.INTERRUPTED, reason="previous owner died")

    def _interrupt(self, run_id: str, reason: str) -> None:
        try:
            with self.db.session() as s, s.begin():
                run = runs.get_run(s, run_id)
                if run is not None and RunStatus(run.status) is RunStatus.RUNNING:
                    runs.transition(s, run, RunStatus.INTERRUPTED, reason=reason)
                leases.release(s, run_id, self.owner)
        except Exception:  # never mask the original error
            log.exception("could not mark run %s interrupted", run_id)

    # ----------------------------------------------------------------- agents
    def _redactor_of(self, run_id: str) -> Redactor:
        """What a run's records pass through outside its execution (input during a takeover)."""
        return self._redactors.get(run_id) or self._parked_redactors.get(run_id) or Redactor()

    def redactor(self, run_id: str) -> Redactor:
        """The Redactor of a run whose results leave the process (an agent's run): one for all
        its executions here, so whatever a fill resolved is masked in what the agent gets back."""
        return self._redactors.setdefault(run_id, Redactor())

    async def finish_open_run(
        self, run_id: str, *, outcome: agentruns.Outcome, summary: str, agent: dict[str, Any]
    ) -> RunStatus:
        """End an agent's open run and let go of its page and lease here."""
        status = await asyncio.to_thread(
            agentruns.finish, self.db, run_id, outcome=outcome, summary=summary, agent=agent
        )
        await self.pool.drop(run_id)
        self._let_go(run_id)
        self._redactors.pop(run_id, None)
        return status

    # ----------------------------------------------------------------- control
    def recover(self) -> list[str]:
        """Start-up recovery: runs left `running` by a dead process become `interrupted`.

        Also when their lease has not run out yet: a process on this host killed a moment ago
        is known dead at once (its pid is gone), and its runs should not show as running."""
        found: list[str] = []
        with self.db.session() as s, s.begin():
            candidates = {r.id: r for r in leases.orphaned_runs(s)}
            candidates.update(
                {r.id: r for r in runs.list_runs(s, statuses=[RunStatus.RUNNING], limit=10_000)}
            )
            for run in candidates.values():
                if RunStatus(run.status) is RunStatus.RUNNING and (
                    owner_is_dead(run.owner) or run.owner is None
                ):
                    runs.transition(
                        s, run, RunStatus.INTERRUPTED, reason="found running at start-up with no live owner"
                    )
                    if run.owner:
                        leases.release(s, run.id, run.owner)
                    found.append(run.id)
        return found

    def cancel(self, run_id: str, reason: str = "cancelled by the operator") -> None:
        control_run(self.db, run_id, RunStatus.CANCELLED, reason)

    def pause(self, run_id: str) -> None:
        control_run(self.db, run_id, RunStatus.PAUSED, "paused by the operator")

    def requeue(self, run_id: str) -> None:
        """Resume a paused or interrupted run: it goes back to the queue, and whoever schedules
        runs (the console's dispatcher, `flightdeck resume`) continues it from its checkpoint."""
        with self.db.session() as s, s.begin():
            run = runs.get_run(s, run_id)
            if run is None:
                raise LookupError(f"no run {run_id}")
            status = RunStatus(run.status)
            if status in (RunStatus.PAUSED, RunStatus.INTERRUPTED):
                runs.transition(s, run, RunStatus.QUEUED, reason="resumed by the operator")
            elif status is not RunStatus.WAITING:
                raise FlightdeckError(f"run {run_id} is {status}; only a paused or interrupted run resumes")

    def retry(self, run_id: str) -> str:
        """A new run of the same task snapshot and inputs (the old run's record stays as it is)."""
        with self.db.session() as s, s.begin():
            old = runs.get_run(s, run_id)
            if old is None:
                raise LookupError(f"no run {run_id}")
            # An open run's agent steps are step rows: the new run's snapshot holds them all.
            text = agentruns.snapshot_text(s, old)
            task = load_task(text, old.task_source or f"run {old.id}")
            new = runs.create_run(
                s,
                task_name=old.task_name,
                task_source=old.task_source,
                task_text=text,
                kind=old.kind,
                inputs=dict(old.inputs or {}),
                site=old.site,
                steps=[(st.id, st.action.value, st.effect.value, st.summary()) for st in task.steps],
                parent_run_id=old.id,
            )
            tag = (old.checkpoint or {}).get("seal_tag")
            if tag:  # the inputs may hold references sealed with it (app/domain/sealing.py)
                new.checkpoint = {"seal_tag": tag}
            return new.id

    def answer(
        self, handoff_id: str, answer: dict[str, Any], *, by: str | None = None, comment: str | None = None
    ) -> bool:
        """Record a person's answer. Answering twice is a no-op (G4); returns False then.
        A run waiting in this process continues at once."""
        with self.db.session() as s, s.begin():
            changed = handoffs.answer_handoff(
                s, handoff_id, answer=answer, by=by or getpass.getuser(), comment=comment
            )
        if changed:
            self.watcher.wake()
        return changed

    # ----------------------------------------------------------------- takeover
    def take_over(self, run_id: str, *, by: str | None = None) -> str:
        """Ask for the run's page: the run stops at its next safe point (between steps) and
        waits on a `takeover` handoff; its id is returned. Hand back with `hand_back`."""
        handoff_id = open_takeover(self.db, run_id, by=by or getpass.getuser())
        loop = self._loops.get(run_id)
        if loop is not None:
            loop.stop_requested = "takeover"
        self.takeover_input.wake()  # a page parked here: record the person's input from now on
        return handoff_id

    def hand_back(self, run_id: str, *, by: str | None = None) -> bool:
        """End a takeover: the run re-checks the current step's expectation and goes on."""
        with self.db.session(readonly=True) as s:
            open_h = [h for h in handoffs.list_handoffs(s, run_id=run_id) if h.kind == "takeover"]
        if not open_h:
            return False
        handed = self.answer(open_h[0].id, {"decision": "hand_back"}, by=by)
        self.takeover_input.wake()
        return handed

    async def send_input(self, run_id: str, event: InputEvent, *, by: str | None = None) -> dict[str, Any]:
        """Operator input to a taken-over run's page; recorded as an event (secrets redacted)."""
        session = await self.pool.awake(run_id)
        if session is None:
            raise FlightdeckError(f"run {run_id} has no live page in this process to take over")
        with self.db.session(readonly=True) as s:
            taking = [h for h in handoffs.list_handoffs(s, run_id=run_id) if h.kind == "takeover"]
        if not taking:
            raise FlightdeckError(f"run {run_id} is not taken over; take it over first")
        record = await session.send_input(event)
        who = by or getpass.getuser()
        data = {**record, "source": "console", "by": who, "handoff_id": taking[0].id}
        data = self._redactor_of(run_id).redact_value(data)

        def write() -> None:
            with self.db.session() as s, s.begin():
                events.append_event(s, run_id, EventType.TAKEOVER_INPUT, data)

        await asyncio.to_thread(write)
        return record

    async def live_session(self, run_id: str) -> Any:
        """The live page of a run waiting in this process (for live views, takeover), thawed;
        None when it has none here."""
        return await self.pool.awake(run_id)

    def open_handoffs(self, run_id: str | None = None) -> list[Any]:
        with self.db.session() as s, s.begin():
            handoffs.expire_due(s)  # a deadline that passed applies its default first
        with self.db.session(readonly=True) as s:
            return list(handoffs.list_handoffs(s, run_id=run_id, status="open"))

    def run_owner_alive(self, run_id: str) -> bool:
        with self.db.session(readonly=True) as s:
            run = runs.get_run(s, run_id)
            return bool(run and run.owner and not owner_is_dead(run.owner))

    def verify(self, run_id: str) -> tuple[int, str] | None:
        with self.db.session(readonly=True) as s:
            return events.verify_events(s, run_id)


__all__ = ["Engine", "EventType", "RunBusy", "RunResult"]

"""The engine as the command line and the console see it: submit, run, resume, answer."""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Iterable
from typing import Any

from app.domain.errors import FlightdeckError
from app.domain.events import EventType
from app.domain.states import TERMINAL, RunStatus
from app.domain.task import Task
from app.engine.owner import new_owner_id, owner_is_dead
from app.engine.ports import BrowserProvider
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import EventSink
from app.engine.runner import LEASE_TTL, RunLoop, RunResult
from app.store import ArtifactStore, Database, events, handoffs, leases, runs

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
    ) -> None:
        self.db = db
        self.provider = provider
        self.artifacts = artifacts
        self.limiter = SiteRateLimiter()
        self.slots = asyncio.Semaphore(concurrency)
        self.sinks = list(sinks)
        self.owner = new_owner_id()

    # ----------------------------------------------------------------- submit
    def submit(self, task: Task, task_text: str, inputs: dict[str, Any]) -> str:
        with self.db.session() as s, s.begin():
            run = runs.create_run(
                s,
                task_name=task.name,
                task_source=task.source,
                task_text=task_text,
                inputs=inputs,
                site=task.site,
                steps=[(st.id, st.action.value, st.effect.value, st.summary()) for st in task.steps],
            )
            return run.id

    # ----------------------------------------------------------------- run
    async def run(self, run_id: str) -> RunResult:
        """Run (or continue) a run in this process until it finishes or must wait."""
        async with self.slots:  # a waiting run has returned its slot (DESIGN: durable waiting)
            self._claim(run_id)
            loop = RunLoop(
                db=self.db,
                provider=self.provider,
                artifacts=self.artifacts,
                limiter=self.limiter,
                run_id=run_id,
                owner=self.owner,
                sinks=self.sinks,
            )
            try:
                return await loop.execute()
            except BaseException:
                # Whatever happened (Ctrl-C included), the run stays resumable: mark it
                # interrupted so `resume` knows it did not finish.
                self._interrupt(run_id, "the process stopped mid-run")
                raise

    def _claim(self, run_id: str) -> None:
        with self.db.session() as s, s.begin():
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

    # ----------------------------------------------------------------- control
    def recover(self) -> list[str]:
        """Start-up recovery: runs left `running` by a dead process become `interrupted`."""
        found: list[str] = []
        with self.db.session() as s, s.begin():
            for run in leases.orphaned_runs(s):
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

    def answer(
        self, handoff_id: str, answer: dict[str, Any], *, by: str | None = None, comment: str | None = None
    ) -> bool:
        """Record a person's answer. Answering twice is a no-op (G4); returns False then."""
        with self.db.session() as s, s.begin():
            return handoffs.answer_handoff(
                s, handoff_id, answer=answer, by=by or getpass.getuser(), comment=comment
            )

    def open_handoffs(self, run_id: str | None = None) -> list[Any]:
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

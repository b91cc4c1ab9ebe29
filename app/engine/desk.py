"""The run's side of handoffs: open them with everything a person needs, find the answers,
mark answers used. One `HandoffDesk` per run execution.

Answers are read once per execution: while a run is running none of its handoffs can be open
(an open one parks the run), so answers cannot change under us.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from app.domain.errors import StepFailure
from app.domain.states import RunStatus, StepStatus
from app.domain.task import Step, Task
from app.engine.ports import BrowserSession
from app.engine.recorder import RunRecorder, RunStopped
from app.store import ArtifactStore, Database, attempts, handoffs, record_artifact, runs
from app.store.models import Handoff, HandoffStatus, Run
from app.store.types import utcnow

CLOSED = (HandoffStatus.ANSWERED, HandoffStatus.EXPIRED)

# What a deadline answers (README "Handoffs: deadlines") when the policy has no choice to make
# (approvals: `approval_default`): the safe answer, never "it happened" nor "go ahead".
DEFAULT_FAIL = {"decision": "fail"}  # a question: its step fails; a takeover: the run fails
DEFAULT_UNKNOWN = {"decision": "unknown"}  # a verification: the outcome stays unknown, nothing re-sent


def deadline_after(timeout: float | None) -> datetime | None:
    """When a handoff opened now with this timeout (seconds; None: none) stops waiting."""
    return utcnow() + timedelta(seconds=timeout) if timeout else None


class Park(Exception):
    """The run must wait for a person (a handoff is open)."""

    def __init__(self, handoff_id: str) -> None:
        self.handoff_id = handoff_id


@dataclass(frozen=True)
class Answer:
    """A closed handoff as the run sees it."""

    handoff: Handoff

    @property
    def id(self) -> str:
        return self.handoff.id

    @property
    def data(self) -> dict[str, Any]:
        answer = self.handoff.answer
        return answer if isinstance(answer, dict) else {"value": answer}

    @property
    def decision(self) -> str | None:
        decision = self.data.get("decision")
        return None if decision is None else str(decision)

    @property
    def expired(self) -> bool:
        return self.handoff.status is HandoffStatus.EXPIRED

    @property
    def by(self) -> str | None:
        return self.handoff.answered_by

    @property
    def comment(self) -> str | None:
        return self.handoff.comment


class HandoffDesk:
    def __init__(
        self,
        *,
        db: Database,
        run_id: str,
        task: Task,
        recorder: RunRecorder,
        artifacts: ArtifactStore,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.task = task
        self.recorder = recorder
        self.artifacts = artifacts
        self.session: BrowserSession | None = None
        # The run's inputs and outputs filled into a step's strings (its summary and
        # description in every handoff); set by the run loop once it knows them.
        self.render: Callable[[Step], Step] | None = None
        self._cache: list[Handoff] | None = None

    # ----------------------------------------------------------------- reading
    def of(self, kind: str, index: int) -> list[Handoff]:
        """This run's handoffs of `kind` for step `index`, newest first."""
        if self._cache is None:
            with self.db.session(readonly=True) as s:
                self._cache = list(handoffs.list_handoffs(s, run_id=self.run_id, status=None))
        found = [h for h in self._cache if h.kind == kind and h.step_index == index]
        return sorted(found, key=lambda h: h.created_at, reverse=True)

    def open_one(self, kind: str, index: int) -> Handoff | None:
        return next((h for h in self.of(kind, index) if h.status is HandoffStatus.OPEN), None)

    def unused(self, kind: str, index: int) -> Answer | None:
        """The newest answer (or expired default) not yet acted on."""
        for h in self.of(kind, index):
            if (
                h.status in CLOSED
                and not (h.payload or {}).get("used")
                and "request" not in (h.payload or {})
            ):
                return Answer(h)
        return None

    def ever_approved(self, index: int) -> bool:
        """Whether an approval for this step was used: it fired as an irreversible action."""
        return any(
            (h.payload or {}).get("used")
            and "request" not in (h.payload or {})  # a held request let through, not the step
            and (h.answer or {}).get("decision") == "approve"
            for h in self.of("approval", index)
        )

    # ----------------------------------------------------------------- writing
    async def consume(self, answer: Answer, *, with_next_commit: bool = False, **note: Any) -> None:
        """Mark an answer used. `with_next_commit`: in the same transaction as the next commit
        (an approval is used up by the intent of the action it allows: a crash in between
        neither loses nor reuses it)."""
        handoff_id = answer.id

        def change(s: Session, run: Run) -> None:
            h = handoffs.get_handoff(s, handoff_id)
            assert h is not None
            h.payload = {**(h.payload or {}), "used": True, **note}

        if with_next_commit:
            self.recorder.stage(change)
        else:
            await self.recorder.commit(change)
        answer.handoff.payload = {**(answer.handoff.payload or {}), "used": True, **note}

    async def open(
        self,
        index: int | None,
        kind: str,
        question: str,
        payload: dict[str, Any],
        *,
        action_hash: str | None = None,
        timeout: float | None = None,
        default: Any = None,
    ) -> str:
        deadline = deadline_after(timeout)

        def change(s: Session, run: Run) -> str | None:
            status = RunStatus(run.status)
            if status not in (RunStatus.RUNNING, RunStatus.WAITING):
                # Paused or cancelled since the run last wrote (by the operator, another
                # process): nothing is asked of a run that is not going on — its deadline would
                # count down while nobody is meant to answer. Resumed, the step asks again.
                # (Waiting: a person took the page over meanwhile; the run parks on it.)
                return None
            h = handoffs.open_handoff(
                s,
                run_id=self.run_id,
                step_index=index,
                kind=kind,
                question=question,
                payload=payload,
                action_hash=action_hash,
                deadline=deadline,
                default_answer=default if deadline is not None else None,
            )
            if index is not None:
                record = runs.get_step(s, self.run_id, index)
                if record is not None:
                    record.status = StepStatus.WAITING
            if status is RunStatus.RUNNING:
                # Same transaction: nobody sees an open handoff on a run that looks busy.
                runs.transition(s, run, RunStatus.WAITING, reason=f"waiting for {kind}")
            return h.id

        handoff_id: str | None = await self.recorder.commit(change)
        if handoff_id is None:
            raise RunStopped
        self._cache = None  # re-read: the new one is open
        return handoff_id

    async def void(self, h: Handoff, reason: str) -> None:
        """Close an open handoff that no longer applies (the page changed under it)."""

        def change(s: Session, run: Run) -> None:
            handoffs.cancel_handoff(s, h.id, reason=reason)

        await self.recorder.commit(change)
        self._cache = None

    # ----------------------------------------------------------------- context
    def rendered(self, step: Step) -> Step:
        """`step` as the person should read it: rendered, unless that is not possible yet (an
        input it needs is what is being asked for)."""
        if self.render is None:
            return step
        try:
            return self.render(step)
        except StepFailure:
            return step

    async def context(self, index: int, step: Step, *, screenshot: bool = True) -> dict[str, Any]:
        """What every handoff carries: the task, the step, what was tried, the page now."""
        step = self.rendered(step)
        await self.recorder.durable()  # the attempts that led here may still be staged
        with self.db.session(readonly=True) as s:
            # This step's attempts; when it has none yet (stuck before trying), the run's
            # latest ones: what led here.
            tried = attempts.list_attempts(s, self.run_id, index) or attempts.list_attempts(s, self.run_id)
        data: dict[str, Any] = {
            "task": self.task.name,
            "step": {
                "id": step.id,
                "index": index,
                "summary": step.summary(),
                "description": step.description,
                "action": step.action.value,
                "effect": step.effect.value,
            },
            "url": self.session.url if self.session else None,
            "attempts": [
                {
                    "step_index": a.step_index,
                    "number": a.number,
                    "outcome": a.outcome.value if a.outcome else None,
                    "failure_class": a.failure_class,
                    "error": a.error,
                }
                for a in tried[-5:]
            ],
        }
        if screenshot:
            data["screenshot"] = await self.screenshot()
        return data

    async def screenshot(self, data: bytes | None = None) -> str | None:
        """Store a screenshot (the page now, or `data`) as an artifact; its sha256."""
        if data is None:
            if self.session is None:
                return None
            try:
                data = await self.session.screenshot()
            except Exception:
                return None  # the question matters more than the picture
        if not data:
            return None
        sha = await asyncio.to_thread(self.artifacts.put, data)
        size = len(data)
        self.recorder.stage(lambda s, run: record_artifact(s, sha, "image/jpeg", size, "screenshot"))
        return sha


def park(handoff_id: str) -> NoReturn:
    raise Park(handoff_id)

"""Network guard (G6): no request that can change the site under test leaves the browser during
a step declared `read`, unless it is the page's own background traffic (declared in
policy.background_requests, or sent by a timer of the page that repeats: app/browser/parties.py).
It is held and shown to the operator as an approval; approve → it goes, deny or timeout → it is
aborted and the step fails with that reason. Requests to third parties are never held.

While a request is held the run is `waiting` (the inbox shows it) but keeps its page and its
slot: the page is in the middle of an action and cannot be parked.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.states import RunStatus, can_transition
from app.domain.task import Effect, Policy, Step
from app.engine.desk import Answer, HandoffDesk
from app.engine.ports import BrowserSession, HeldRequest
from app.store import runs
from app.store.models import Handoff, Run

Waiter = Callable[[str], Awaitable[Handoff]]


class RequestGuard:
    def __init__(self, desk: HandoffDesk, policy: Policy, waiter: Waiter) -> None:
        self.desk = desk
        self.policy = policy
        self.waiter = waiter
        self._armed: bool | None = None  # unknown: a kept page may still carry an old guard
        self._step: tuple[int, Step] | None = None
        self.blocked: list[tuple[HeldRequest, str]] = []  # (request, why) during this attempt
        self.stopped = False  # the run was cancelled/paused while a request was held

    async def arm(self, session: BrowserSession, index: int, step: Step) -> None:
        """Before each attempt: guard read steps, let everything through otherwise. Switching
        costs a round trip only when the guard's state actually changes."""
        self._step = (index, step)
        self.blocked = []
        want = self.policy.network_guard and step.effect is Effect.READ
        if want is not self._armed:
            await session.guard(self._decide if want else None)
            self._armed = want

    @contextlib.asynccontextmanager
    async def rebuilding(self, session: BrowserSession, index: int, step: Step) -> AsyncIterator[None]:
        """While step `index` is done again to rebuild a page (recovery, a retry, a new sign-in):
        every write it sends to the site is refused and recorded, whatever the step's effect and
        the policy. A rebuild redoes a step only on its record's word that it sent nothing; a
        page in a new browser may answer the same input otherwise (JupyterLab's Ctrl+S opened
        its "Rename file" dialog the first time and saved the file as it was the second) — and
        a write is never sent again on a guess."""

        async def refuse(held: HeldRequest) -> bool:
            self.desk.recorder.emit(
                EventType.REQUEST_BLOCKED,
                step=step.id,
                index=index,
                reason="a page is rebuilt without sending a write",
                method=held.method,
                url=held.url,
            )
            return False

        await session.guard(refuse)
        self._armed = None
        try:
            yield
        finally:
            await session.guard(None)
            self._armed = False

    async def disarm(self, session: BrowserSession) -> None:
        """Before the page is parked: this guard's run loop is ending."""
        if self._armed is not False:
            await session.guard(None)
            self._armed = False

    def failure(self) -> StepFailure | None:
        if not self.blocked:
            return None
        held, why = self.blocked[0]
        return StepFailure(
            FailureClass.DENIED,
            f"{held.method} {held.url} was blocked during a read step: {why}",
            {"request": held.to_json()},
        )

    async def _decide(self, held: HeldRequest) -> bool:
        if self._step is None:
            return False
        index, step = self._step
        recorder = self.desk.recorder
        recorder.emit(EventType.REQUEST_HELD, step=step.id, index=index, **held.to_json())
        context = await self.desk.context(index, step)
        payload: dict[str, Any] = {
            **context,
            "reason": "a read step tried to send a request that can change server state",
            "request": held.to_json(),
            "expected_request": {"method": held.method, "url": held.url},
            "fields": [f.to_json() for f in held.fields],
        }
        handoff_id = await self.desk.open(
            index,
            "approval",
            f"Let {held.method} {held.url} through? (sent during read step {step.id})",
            payload,
            timeout=self.policy.approval_timeout,
            default={"decision": self.policy.approval_default},
        )
        closed = await self.waiter(handoff_id)
        await self.desk.consume(Answer(closed))  # decided here and now; never read as a step approval
        resumed = await self._status(RunStatus.WAITING, RunStatus.RUNNING, "held request decided")
        answer = closed.answer if isinstance(closed.answer, dict) else {}
        decision = answer.get("decision")
        if decision == "approve" and resumed:
            recorder.emit(
                EventType.REQUEST_RELEASED,
                step=step.id,
                index=index,
                handoff_id=handoff_id,
                by=closed.answered_by,
            )
            return True
        why = (
            "the run was stopped"
            if not resumed
            else "no answer before the deadline"
            if closed.answered_by == "deadline"
            else "the operator denied it"
        )
        if not resumed:
            self.stopped = True
        self.blocked.append((held, why))
        recorder.emit(EventType.REQUEST_BLOCKED, step=step.id, index=index, handoff_id=handoff_id, reason=why)
        return False

    async def _status(self, src: RunStatus, dst: RunStatus, reason: str) -> bool:
        def change(s: Session, run: Run) -> bool:
            current = RunStatus(run.status)
            if current is dst:
                return True
            if current is not src or not can_transition(current, dst):
                return False  # cancelled or paused meanwhile: their word stands
            runs.transition(s, run, dst, reason=reason)
            return True

        ok: bool = await self.desk.recorder.commit(change)
        return ok

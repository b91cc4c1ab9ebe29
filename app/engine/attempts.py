"""One step, attempt by attempt: Act → Validate, or Fail → Diagnose → Retry / Stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.retry import RetryPolicy
from app.domain.states import AttemptOutcome, RunStatus
from app.domain.task import Action, Effect, Step, Task
from app.engine.credentials import Credentials
from app.engine.faults import crash_point
from app.engine.guard import RequestGuard
from app.engine.login_page import SignedOutSigns
from app.engine.ports import (
    ActionOutcome,
    BrowserSession,
    CheckResult,
    Fingerprint,
    FormError,
    RequestRecord,
)
from app.engine.progress import Budget, NoProgressDetector
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import RunRecorder, RunStopped
from app.engine.validate import (
    effective_expectation,
    explains_with_form,
    judge_checks,
    judge_network,
    judge_no_effect,
    with_form_errors,
)
from app.store import ArtifactStore, attempts, events, record_artifact, runs
from app.store.models import Attempt, Run

# Overlays dismissed per step before an obstruction counts as an ordinary failure.
MAX_DISMISSALS = 3
# Recorded attempts watched for late requests (see `_late_requests`).
WATCHED_ATTEMPTS = 8


def dispatches_intent(step: Step) -> bool:
    """Steps that may change the server get an intent committed before they fire (G3)."""
    return step.effect is not Effect.READ and step.action not in (Action.ASSERT, Action.EXTRACT)


@dataclass
class StepResult:
    ok: bool
    outcome: ActionOutcome | None = None
    failure: StepFailure | None = None
    attempts: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    duration_ms: float = 0.0
    skipped: bool = False  # the operator chose to skip the step
    by_operator: bool = False  # done by the person (takeover, verification), not by the engine
    done_by: str | None = None  # who: the person who handed back, or said it happened


# Called between two attempts of a step with (index, step, failed result, URL the step started
# at, last): rebuilds the page the step needs and settles a write that may have happened
# (run/settle.py). A StepResult settles the step without another attempt. `last`: no attempt
# follows (the step is irreversible, or its attempts are used up): only a write that may have
# happened is settled — proven done by re-reading, or a person asked — and None leaves the
# step failed.
BeforeRetry = Callable[[int, Step, "StepResult", str, bool], Awaitable["StepResult | None"]]


@dataclass
class _Recorded:
    """An attempt as recorded, and the outcome's list of its requests, which keeps filling until
    the next action (a script posting after the step was judged; an answer that came late)."""

    step: str
    index: int
    number: int
    requests: list[RequestRecord]
    written: list[dict[str, Any]]

    @property
    def unanswered(self) -> bool:
        return any(r.status is None and r.failure is None for r in self.requests)


def step_evidence(s: Session, run_id: str, index: int, result: StepResult) -> dict[str, Any]:
    """What a step's record says it did: the requests of all its attempts (also failed, retried
    and recovered ones: the attempt rows hold them), the checks that decided it, and what its
    failure found on the page (near misses of a missing target, form errors)."""
    outcome = result.outcome
    evidence: dict[str, Any] = {
        "requests": attempts.step_requests(s, run_id, index),
        "checks": [c.to_json() for c in result.checks],
        "url": outcome.after.url if outcome else None,
        "changed": outcome.changed if outcome else None,
    }
    details = result.failure.details if result.failure is not None else {}
    for key in ("near_misses", "form_errors"):
        if details.get(key):
            evidence[key] = details[key]
    if not evidence["checks"] and details.get("failed_checks"):
        evidence["checks"] = details["failed_checks"]
    return evidence


def _amend_requests(
    run_id: str, index: int, number: int, requests: list[dict[str, Any]], s: Session, run: Run
) -> None:
    row = attempts.get_attempt(s, run_id, index, number)
    if row is None:
        return
    attempts.update_requests(s, row, requests)
    record = runs.get_step(s, run_id, index)
    if record is not None and record.finished_at is not None:
        record.evidence = {**(record.evidence or {}), "requests": attempts.step_requests(s, run_id, index)}


class StepExecutor:
    """Runs the attempts of one step. Shared state lives in the checkpoint, not here."""

    def __init__(
        self,
        *,
        task: Task,
        run_id: str,
        session: BrowserSession,
        recorder: RunRecorder,
        artifacts: ArtifactStore,
        limiter: SiteRateLimiter,
        budget: Budget,
        progress: NoProgressDetector,
        guard: RequestGuard | None = None,
        credentials: Credentials | None = None,
        signs: SignedOutSigns | None = None,
        before_retry: BeforeRetry | None = None,
        taken: Callable[[], bool] | None = None,
    ) -> None:
        self.task = task
        # In-process: a person asked for the page (takeover) since the last commit.
        self.taken = taken or (lambda: False)
        self.signs = signs or SignedOutSigns(task)
        self.before_retry = before_retry
        # Resolves `secret:` fills at the moment of the action (G7): see credentials.py.
        self.credentials = credentials
        self.run_id = run_id
        self.session = session
        self.recorder = recorder
        self.artifacts = artifacts
        self.limiter = limiter
        self.budget = budget
        self.progress = progress
        self.guard = guard
        self._last_fp: Fingerprint | None = None
        self._last_shot: tuple[str | None, str] | None = None  # (fingerprint, sha) of the latest screenshot
        self._new_artifacts: list[tuple[str, int]] = []  # recorded with the attempt's commit
        self._recorded: list[_Recorded] = []
        recorder.before_commit.append(self._late_requests)

    def retry_policy(self, step: Step, irreversible: bool = False) -> RetryPolicy:
        policy = (step.retry or self.task.policy.retry).to_policy()
        if irreversible or step.effect is Effect.IRREVERSIBLE:
            # Re-firing needs a fresh approval: never retried automatically once dispatched.
            return RetryPolicy(maximum_attempts=1)
        return policy

    async def run_step(
        self,
        index: int,
        step: Step,
        first_attempt: int = 1,
        *,
        irreversible: bool = False,
        before_shot: str | None = None,
    ) -> StepResult:
        """`irreversible`: approved as such (declared, or recognised by the approval policy).
        `before_shot`: a screenshot of the page as it is now (the approval's), if there is one."""
        if before_shot is not None:
            self._last_shot = (None, before_shot)
        policy = self.retry_policy(step, irreversible)
        started = time.monotonic()
        start_url = self.session.url  # where every attempt of the step must start
        number = first_attempt  # attempt number, as recorded
        tries = 0  # attempts that count against the retry policy
        dismissals = 0
        while True:
            self._still_ours()
            self.budget.check()
            self.progress.check()
            result = await self._attempt(index, step, number)
            self.budget.checkpoint.attempts_used += 1
            result.attempts = number
            failure = result.failure
            if failure is None:
                result.duration_ms = (time.monotonic() - started) * 1000
                return result
            if failure.failure_class is FailureClass.OBSTRUCTION and dismissals < MAX_DISMISSALS:
                self._still_ours()
                dismissed = await self.session.dismiss_obstructions(list(self.task.policy.obstructions))
                self.recorder.emit(
                    EventType.OBSTRUCTION_DISMISSED, step=step.id, index=index, dismissed=dismissed
                )
                if dismissed:
                    # The action never reached the page: trying again costs no retry.
                    dismissals += 1
                    settled = await self._between_attempts(index, step, result, start_url)
                    if settled is not None:
                        settled.attempts = number
                        settled.duration_ms = (time.monotonic() - started) * 1000
                        return settled
                    number += 1
                    continue
            tries += 1
            # Doing it again without signing in again would only be sent to the login page
            # again: the run loop logs in (or stops) first.
            expired = failure.failure_class is FailureClass.SESSION_EXPIRED
            if expired or not policy.should_retry(tries, failure.failure_class):
                if failure.failure_class is FailureClass.TRANSIENT:
                    # Not sent again (irreversible, or out of attempts), but the attempt may have
                    # been applied (a 500, a dropped connection, a timeout): a step reported
                    # failed must not have happened unseen. Re-read it, or ask (G3).
                    settled = await self._between_attempts(index, step, result, start_url, last=True)
                    if settled is not None:
                        settled.attempts = number
                        result = settled
                result.duration_ms = (time.monotonic() - started) * 1000
                return result
            delay = policy.delay(tries, failure.details.get("retry_after"))
            self.recorder.emit(
                EventType.RETRY_SCHEDULED,
                step=step.id,
                index=index,
                attempt=number + 1,
                delay=round(delay, 3),
                failure_class=failure.failure_class.value,
                error=failure.message,
            )
            await self.recorder.commit()
            await asyncio.sleep(delay)
            settled = await self._between_attempts(index, step, result, start_url)
            if settled is not None:
                settled.attempts = number
                settled.duration_ms = (time.monotonic() - started) * 1000
                return settled
            number += 1

    def _still_ours(self) -> None:
        """Before anything more is done on the page: once a person has taken it over (or the run
        was paused or cancelled), the engine does nothing more there — no banner dismissed, no
        next attempt. The attempt in flight was recorded already (its outcome's commit is what
        told us); the run stops and waits for the hand-back."""
        status = self.recorder.status
        if self.taken() or (status is not None and status is not RunStatus.RUNNING):
            raise RunStopped

    async def _between_attempts(
        self, index: int, step: Step, result: StepResult, start_url: str, *, last: bool = False
    ) -> StepResult | None:
        """The page the next attempt needs, or the step settled without one: proven done, or
        its page cannot be rebuilt (the attempt's failure then ends the step, saying why).
        `last`: no attempt follows; see BeforeRetry."""
        if self.before_retry is None:
            return None
        try:
            return await self.before_retry(index, step, result, start_url, last)
        except StepFailure as problem:
            failure = result.failure
            assert failure is not None
            # The attempt's failure stays what the step failed of: the rebuild's own missing
            # target is another step's, not a question about this one.
            ended = StepFailure(
                failure.failure_class,
                f"{failure.message}; not tried again: {problem.message}",
                {**failure.details, "rebuild_error": problem.message},
            )
            return StepResult(ok=False, outcome=result.outcome, failure=ended)

    async def _attempt(self, index: int, step: Step, number: int) -> StepResult:
        timeout = self.budget.timeout_for(step)
        waited = await self.limiter.acquire(self.session.url or self.task.site, self.task.policy)
        if waited > 0.05:
            self.recorder.emit(EventType.RATE_LIMITED, step=step.id, waited=round(waited, 3))
        # The page as the previous attempt left it stands in for "before" until the action
        # reports its own: one evaluate and one screenshot fewer per step.
        before_fp = self._last_fp or Fingerprint(self.session.url, "")
        shots = self.task.policy.screenshots
        every = shots == "all" or (shots == "auto" and step.effect is Effect.IRREVERSIBLE)
        shot_before = None
        if every:
            shot_before = self._last_shot[1] if self._last_shot else await self._screenshot(None)
        mutating = dispatches_intent(step)
        started = {
            "step": step.id,
            "index": index,
            "attempt": number,
            "action": step.action.value,
            "summary": step.summary(),
            "url": before_fp.url,
        }
        attempt_row: Attempt | None = None
        if mutating:
            crash_point("before_intent")

            def start(s: Session, run: Run) -> Attempt | None:
                if RunStatus(run.status) is not RunStatus.RUNNING:
                    # A person took the page over (or paused or cancelled the run) since the last
                    # commit: in the same transaction that would open the intent, nothing opens.
                    return None
                events.append_events(
                    s,
                    self.run_id,
                    [
                        (EventType.ATTEMPT_STARTED, started),
                        (EventType.ACTION_INTENT, {"step": step.id, "index": index, "attempt": number}),
                    ],
                )
                attempt = attempts.start_attempt(s, self.run_id, index, number, before_fp.short())
                # Intent is durable before dispatch: after a crash we know it may have fired (G3).
                attempts.mark_intent(s, attempt)
                return attempt

            attempt_row = await self.recorder.commit(start)
            if attempt_row is None:
                raise RunStopped
            crash_point("after_intent")
        else:
            self.recorder.emit(EventType.ATTEMPT_STARTED, **started)
        outcome: ActionOutcome | None = None
        checks: list[CheckResult] = []
        failure: StepFailure | None = None
        if self.guard is not None:
            await self.guard.arm(self.session, index, step)
        acted = step
        try:
            # On the login page already (the last step ended there): acting would only miss
            # its target after the whole timeout.
            if step.action is not Action.GOTO:
                early = self.signs.sent_away(step, self.session.url)
                if early is not None:
                    raise early
            if self.credentials is not None:
                acted = self.credentials.for_action(step)  # the value exists from here on
            outcome = await self.session.act(acted, timeout=timeout)
            if mutating:
                crash_point("after_dispatch")
        except StepFailure as exc:
            failure = exc
        except Exception as exc:  # a browser crash is not the task's fault; retry decides
            # Whether a write went out before it is unknown: it is re-read before any resend.
            unknown = {"dispatched": True} if mutating else {}
            failure = StepFailure(FailureClass.TRANSIENT, f"{type(exc).__name__}: {exc}", unknown)
        blocked = self.guard.failure() if self.guard is not None else None
        if blocked is not None:
            failure = blocked  # the operator's no decides the step, whatever the page did next
        if failure is not None and outcome is None and blocked is None:
            failure = await self.signs.judge(step, self.session, None, failure)
        early_shot: asyncio.Task[str | None] | None = None
        if outcome is not None and blocked is None:
            failure = judge_network(outcome, self.signs.statuses)
            if failure is None or failure.failure_class is not FailureClass.SESSION_EXPIRED:
                failure = self.signs.sent_away(step, outcome.after.url) or failure
            expect = effective_expectation(acted)
            if every and (expect is None or expect.after_reload is None):
                # The page as the action left it, captured while the checks read it: the
                # checks only read, so the two overlap instead of adding up.
                early_shot = asyncio.create_task(self._screenshot(outcome.after.short()))
            # A reload would take away the errors of a form the write was answered with.
            shown_errors = (
                await self._form_errors()
                if mutating and failure is None and expect is not None and expect.after_reload is not None
                else None
            )
            if failure is None and expect is not None:
                checks = await self.session.check(expect, outcome, timeout=timeout)
                failure = judge_checks(step, outcome, checks)
            if failure is None:
                failure = await self._no_effect(step, outcome, expect is not None)
            # Whatever the verdict so far: the page may show it is signed out (the check's
            # reload may be what met the expired session; an SPA renders its sign-in form in
            # place of the page, and the step's own target is then simply missing).
            failure = await self.signs.judge(step, self.session, outcome, failure)
            expired = failure is not None and failure.failure_class is FailureClass.SESSION_EXPIRED
            if mutating and not expired and explains_with_form(step, outcome, failure):
                errors = shown_errors if shown_errors is not None else await self._form_errors()
                failure = with_form_errors(failure, errors)
            if failure is None or failure.failure_class in (FailureClass.NO_EFFECT, FailureClass.UNEXPECTED):
                self.progress.record(step, outcome.changed or outcome.sent_anything)
        if outcome is not None:
            before_fp = outcome.before
        after_fp = outcome.after if outcome is not None else await self._safe_fingerprint(before_fp)
        self._last_fp = after_fp
        if early_shot is not None:
            shot_after = await early_shot
        elif every or (shots == "auto" and failure is not None):
            shot_after = await self._screenshot(after_fp.short())
        else:
            shot_after = None
        requests = [r.to_json() for r in outcome.requests] if outcome else []
        data: dict[str, Any] = {
            "step": step.id,
            "index": index,
            "attempt": number,
            "outcome": AttemptOutcome.FAILED.value if failure else AttemptOutcome.SUCCEEDED.value,
            "url": after_fp.url,
            "changed": before_fp != after_fp,
            "requests": requests,
            "checks": [c.to_json() for c in checks],
            "duration_ms": round(outcome.duration_ms, 1) if outcome else None,
            "screenshot_before": shot_before,
            "screenshot_after": shot_after,
        }
        if outcome is not None and outcome.dialogs:
            data["dialogs"] = outcome.dialogs
        if failure is not None:
            data["failure_class"] = failure.failure_class.value
            data["error"] = failure.message
        if mutating:
            self.recorder.emit(EventType.ACTION_DONE, step=step.id, index=index, attempt=number)
        self.recorder.emit(EventType.ATTEMPT_FINISHED, **data)

        new_artifacts, self._new_artifacts = self._new_artifacts, []

        def finish(s: Session, run: Run) -> None:
            for sha, size in new_artifacts:
                record_artifact(s, sha, "image/jpeg", size, "screenshot")
            # A read attempt is written once, with its outcome: one commit instead of two.
            row = (
                s.get(Attempt, attempt_row.id)  # the intent's row, from its own transaction
                if attempt_row is not None
                else attempts.start_attempt(s, self.run_id, index, number, before_fp.short())
            )
            assert row is not None
            row.before_fp = before_fp.short()
            attempts.finish_attempt(
                s,
                row,
                outcome=AttemptOutcome.FAILED if failure else AttemptOutcome.SUCCEEDED,
                failure_class=failure.failure_class.value if failure else None,
                error=failure.message if failure else None,
                after_fp=after_fp.short(),
                requests=requests,
                checks=[c.to_json() for c in checks],
                screenshot_before=shot_before,
                screenshot_after=shot_after,
            )

        if failure is None:
            self.recorder.stage(finish)  # committed with the step's completion, atomically
        else:
            await self.recorder.commit(finish)  # durable before any retry or stop
        if outcome is not None:
            self._recorded = [*self._recorded, _Recorded(step.id, index, number, outcome.requests, requests)][
                -WATCHED_ATTEMPTS:
            ]
        return StepResult(ok=failure is None, outcome=outcome, failure=failure, checks=checks)

    async def _form_errors(self) -> list[FormError]:
        """The error messages the page shows about its form: why a write did not go through
        (not the page's header). Best effort: a page that cannot be read shows none."""
        try:
            return await self.session.form_errors()
        except Exception:
            return []

    def _late_requests(self) -> None:
        """Before each commit: requests of recorded attempts that started or were answered since
        they were recorded join the record (an event, and the attempt's row), so nothing the
        page sent is missing from it. An attempt stops being watched once a later one was
        recorded and it awaits no answer."""
        watched: list[_Recorded] = []
        for rec in self._recorded:
            now = [r.to_json() for r in rec.requests]
            if now != rec.written:
                rec.written = now
                self.recorder.emit(
                    EventType.ATTEMPT_REQUESTS,
                    step=rec.step,
                    index=rec.index,
                    attempt=rec.number,
                    requests=now,
                )
                self.recorder.stage(partial(_amend_requests, self.run_id, rec.index, rec.number, now))
            if rec is self._recorded[-1] or rec.unanswered:
                watched.append(rec)
        self._recorded = watched

    async def _no_effect(self, step: Step, outcome: ActionOutcome, has_expect: bool) -> StepFailure | None:
        failure = judge_no_effect(step, outcome, has_expect)
        if failure is None:
            return None
        # Effects can lag the network going quiet (a JS timer): look again briefly.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            now = await self.session.fingerprint()
            if now != outcome.before:
                outcome.after = now
                return None
        return failure

    async def _safe_fingerprint(self, fallback: Any) -> Any:
        try:
            return await self.session.fingerprint()
        except Exception:
            return fallback

    async def _screenshot(self, fingerprint: str | None) -> str | None:
        if self.task.policy.screenshots == "off":
            return None
        if fingerprint and self._last_shot is not None and self._last_shot[0] == fingerprint:
            return self._last_shot[1]  # same page state as the last shot: reuse it
        try:
            data = await self.session.screenshot()
        except Exception:
            return None  # evidence is best-effort; a failed screenshot must not fail the step
        sha = await asyncio.to_thread(self.artifacts.put, data)
        self._new_artifacts.append((sha, len(data)))
        self._last_shot = (fingerprint, sha)
        return sha

"""Signing in (DESIGN.md "session expired"): recognising that a step was sent to the login page,
and running the task's login block. Whether to log in, and what to do when it fails, is the
run loop's (runner.py); this module only knows the page and the block.

A login is judged by where it leaves the browser: a credential the site accepted sends the
browser on (to the page it came from, usually); one it rejected keeps it on the login page, or
answers the form with 401/403. A rejected credential is never tried again on its own: the same
value would be rejected again, and sites lock accounts that keep failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.task import Action, Step, Task
from app.engine.attempts import MAX_DISMISSALS
from app.engine.credentials import Credentials
from app.engine.faults import crash_point
from app.engine.guard import RequestGuard
from app.engine.login_page import on_login_page
from app.engine.ports import ActionOutcome, BrowserSession, CheckResult
from app.engine.progress import Budget
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import RunRecorder
from app.engine.validate import effective_expectation, judge_checks, judge_network

# Statuses of a login form's answer that mean "not these credentials".
REJECTED_STATUSES = frozenset({401, 403, 422})


@dataclass
class LoginResult:
    ok: bool
    rejected: bool = False  # the site refused the credential (not a broken page or network)
    message: str = ""


class LoginBlock:
    """Runs the task's login steps once, recording each as a `login.step` event (values typed
    from credentials never appear: only the step's summary, which names the reference)."""

    def __init__(
        self,
        *,
        task: Task,
        session: BrowserSession,
        recorder: RunRecorder,
        credentials: Credentials,
        limiter: SiteRateLimiter,
        budget: Budget,
        guard: RequestGuard,
        render: Callable[[Step], Step],
    ) -> None:
        assert task.login is not None
        self.task = task
        self.login = task.login
        self.session = session
        self.recorder = recorder
        self.credentials = credentials
        self.limiter = limiter
        self.budget = budget
        self.guard = guard
        self.render = render

    async def run(self, index: int) -> LoginResult:
        """`index`: the step that needs the login (for the network guard's questions)."""
        last: ActionOutcome | None = None
        if self.login.steps[0].action is not Action.GOTO and not self._on_login_page(self.session.url):
            if "*" in self.login.page or self.login.page.startswith("re:"):
                return LoginResult(False, False, f"not on the login page ({self.session.url})")
            await self.session.goto(self.login.page, timeout=self.task.policy.step_timeout)
        for template in self.login.steps:
            try:
                step = self.render(template)
            except StepFailure as bad:
                return LoginResult(False, False, bad.message)
            outcome, checks, failure = await self._step(index, step)
            crash_point("login_step")
            self.recorder.emit(
                EventType.LOGIN_STEP,
                step=step.id,
                action=step.action.value,
                summary=step.summary(),
                url=self.session.url,
                ok=failure is None,
                requests=[r.to_json() for r in outcome.requests] if outcome else [],
                checks=[c.to_json() for c in checks],
                error=failure.message if failure else None,
                failure_class=failure.failure_class.value if failure else None,
            )
            if failure is not None:
                return LoginResult(False, self._rejected(failure, outcome), failure.message)
            last = outcome
        if self._on_login_page(self.session.url) and not self._went_on(last):
            return LoginResult(False, True, f"still on the login page ({self.session.url}) after signing in")
        return LoginResult(True)

    def _on_login_page(self, url: str) -> bool:
        return on_login_page(self.login, url, self.task.site)

    def _went_on(self, outcome: ActionOutcome | None) -> bool:
        """The last login action led to a page other than the login page (the credential was
        accepted, even if that page sent the browser straight back: the session is what fails)."""
        return outcome is not None and any(
            r.resource_type == "document"
            and r.status is not None
            and r.status < 400
            and not self._on_login_page(r.url)
            for r in outcome.judged_requests
        )

    def _rejected(self, failure: StepFailure, outcome: ActionOutcome | None) -> bool:
        answered = [r.status for r in (outcome.mutating_requests if outcome else []) if r.status]
        return (
            any(status in REJECTED_STATUSES for status in answered)
            or failure.failure_class is FailureClass.SESSION_EXPIRED
            or (bool(answered) and self._on_login_page(self.session.url))
        )

    async def _step(
        self, index: int, step: Step
    ) -> tuple[ActionOutcome | None, list[CheckResult], StepFailure | None]:
        policy = self.task.policy.retry.to_policy()
        dismissals = tries = 0
        timeout = self.budget.timeout_for(step)
        while True:
            await self.limiter.acquire(self.session.url or self.task.site, self.task.policy)
            await self.guard.arm(self.session, index, step)
            outcome: ActionOutcome | None = None
            checks: list[CheckResult] = []
            try:
                acted = self.credentials.for_action(step)
                outcome = await self.session.act(acted, timeout=timeout)
                failure = self.guard.failure() or judge_network(outcome)
                expect = effective_expectation(acted)
                if failure is None and expect is not None:
                    checks = await self.session.check(expect, outcome, timeout=timeout)
                    failure = judge_checks(acted, outcome, checks)
            except StepFailure as exc:
                failure = exc
            if failure is None:
                return outcome, checks, None
            if (
                failure.failure_class is FailureClass.OBSTRUCTION
                and dismissals < MAX_DISMISSALS
                and await self.session.dismiss_obstructions(list(self.task.policy.obstructions))
            ):
                dismissals += 1  # the action never reached the page
                continue
            tries += 1
            sent = bool(outcome and outcome.mutating_requests)
            # A login form that was sent is never sent again here: see the module docstring.
            if sent or not policy.should_retry(tries, failure.failure_class):
                return outcome, checks, failure
            await asyncio.sleep(policy.delay(tries, failure.details.get("retry_after")))


def login_question(task: Task, result: LoginResult) -> tuple[str, dict[str, Any]]:
    """The clarification a failed login becomes: its question and payload fields."""
    assert task.login is not None
    names = task.login.credentials()
    which = ", ".join(names) if names else "used by the login steps"
    if result.rejected:
        question = (
            f"The credential {which} was rejected: update it and answer 'retry' to log in "
            "again, or 'fail' to stop the run."
        )
    else:
        question = f"Logging in failed: {result.message}. Answer 'retry' to try again, or 'fail' to stop."
    return question, {
        "login": True,
        "credentials": names,
        "rejected": result.rejected,
        "error": result.message,
        "choices": ["retry", "fail"],
    }

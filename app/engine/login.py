"""Signing in (DESIGN.md "session expired"): running the task's login block. Whether to log in,
and what to do when it fails, is the run loop's (run/signin.py); whether a page is signed out is
the recogniser's (login_page.py); this module only knows the block.

A login is judged once the site has answered it, within the step timeout: a credential the
site accepted sends the browser on (to the page it came from, usually) or takes the sign-in
form away — often a moment after the last step, when the answer comes over a WebSocket or a
script navigates on a timer. Only the site's refusal is a rejection: the form answered with
401/403/422, or sent back after it was posted, or an error message the page did not show
before. A sign-in still on the login page when the timeout is over, with no refusal shown, is
a failed login, never a rejected credential. A rejected credential is never tried again on its
own: the same value would be rejected again, and sites lock accounts that keep failing.

A sign-in the site never judged is another matter: its form answered 5xx or 429, or the
connection failed (a proxy or an overloaded server answered, or nothing did). The block is then
tried again from the login page with the task's retry policy. This cannot lock an account: a
lockout counts refusals, and there was none; should a server count an attempt before failing,
the retries are bounded (`policy.retry.maximum_attempts`, 3 by default) and a refusal stops them.
Every try of every login step is a `login.step` event with its requests, every retry a
`retry.scheduled` event (`login: true`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.task import Action, Expectation, Step, Task
from app.engine.attempts import MAX_DISMISSALS
from app.engine.credentials import Credentials
from app.engine.faults import crash_point
from app.engine.guard import RequestGuard
from app.engine.login_page import SignedOutSigns
from app.engine.ports import ActionOutcome, BrowserSession, CheckResult, FormError, RequestRecord
from app.engine.progress import Budget
from app.engine.ratelimit import SiteRateLimiter
from app.engine.recorder import RunRecorder
from app.engine.validate import effective_expectation, judge_checks, judge_network

# Statuses of a login form's answer that mean "not these credentials".
REJECTED_STATUSES = frozenset({401, 403, 422})
# How often the page is looked at while the site's answer to a sign-in is awaited.
ANSWER_POLL_S = 0.1


@dataclass
class LoginResult:
    ok: bool
    rejected: bool = False  # the site refused the credential (not a broken page or network)
    message: str = ""
    failure: StepFailure | None = None  # why it failed, classified
    attempts: int = 1  # tries of the whole block
    retryable: bool = False  # nothing was decided: trying the block again is safe
    step: str | None = None  # the login step that failed

    @property
    def unjudged(self) -> bool:
        """It failed without the site refusing anything, its retries used up: a transient
        failure like any other, not a question for a person (a page that never showed what a
        login step expected still is one: the sign-in form may have changed)."""
        return (
            not self.ok
            and not self.rejected
            and self.failure is not None
            and self.failure.failure_class is FailureClass.TRANSIENT
            and "failed_checks" not in self.failure.details
        )


def _no_decision(request: RequestRecord) -> bool:
    """Nobody judged the request: it was answered 5xx or 429, or its connection failed. (One
    the browser cancelled for a navigation, or one still pending, may have been judged.)"""
    if request.status is None:
        return request.failure is not None and "aborted" not in request.failure.lower()
    return request.status == 429 or request.status >= 500


class LoginBlock:
    """Runs the task's login steps (again from the login page while the site never judged the
    sign-in), recording each try as a `login.step` event (values typed from credentials never
    appear: only the step's summary, which names the reference)."""

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
        signs: SignedOutSigns | None = None,
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
        self.signs = signs or SignedOutSigns(task)

    async def run(self, index: int) -> LoginResult:
        """`index`: the step that needs the login (for the network guard's questions)."""
        policy = self.task.policy.retry.to_policy()
        start = self.session.url
        attempt = 1
        while True:
            result = await self._attempt(index, attempt, start)
            result.attempts = attempt
            failure = result.failure
            if (
                result.ok
                or failure is None
                or not result.retryable
                or not policy.should_retry(attempt, failure.failure_class)
            ):
                return result
            delay = policy.delay(attempt, failure.details.get("retry_after"))
            self.recorder.emit(
                EventType.RETRY_SCHEDULED,
                step=result.step,
                index=index,
                attempt=attempt + 1,
                delay=round(delay, 3),
                failure_class=failure.failure_class.value,
                error=failure.message,
                login=True,
            )
            await self.recorder.commit()
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(self, index: int, attempt: int, start: str) -> LoginResult:
        """One try of the whole block, from the login page."""
        last: ActionOutcome | None = None
        if self.login.steps[0].action is not Action.GOTO and (
            attempt > 1 or not self._on_login_page(self.session.url)
        ):
            # A try after the first starts afresh: the last one may have left an error page.
            page = self.login.page
            if page is None:
                # The sign-in form shows in place (an SPA): the block runs where it is, and a
                # try after the first starts again from where the first one found the form.
                page = start if attempt > 1 else None
            elif "*" in page or page.startswith("re:"):
                if attempt == 1:
                    message = f"not on the login page ({self.session.url})"
                    return LoginResult(
                        False, message=message, failure=StepFailure(FailureClass.UNEXPECTED, message)
                    )
                page = start  # where the first try found the login form
            try:
                if page is not None:
                    await self.session.goto(page, timeout=self.task.policy.step_timeout)
            except StepFailure as unreachable:
                return LoginResult(False, message=unreachable.message, failure=unreachable, retryable=True)
        shown: set[str] = set()
        for number, template in enumerate(self.login.steps, 1):
            try:
                step = self.render(template)
            except StepFailure as bad:
                return LoginResult(False, False, bad.message, bad, step=template.id)
            if number == len(self.login.steps):
                # What the page says before the sign-in is sent is no answer to it.
                shown = {e.message for e in await self._form_errors()}
            outcome, failure = await self._step(index, step, attempt)
            if failure is not None:
                return self._failed(step, outcome, failure)
            last = outcome
        return await self._answer(last, shown)

    async def _answer(self, last: ActionOutcome | None, shown: set[str]) -> LoginResult:
        """Wait, within the step timeout, for the site's answer to the sign-in (see the module
        docstring): let in, refused, or neither by the end."""
        deadline = time.monotonic() + self.task.policy.step_timeout
        while True:
            # Let in first: a page that sent the browser straight back to the login page after
            # accepting the credential says the session fails, not the credential.
            still = await self._still_shown()
            left = not self._on_login_page(self.session.url) or self._went_on(last)
            if left and still is None:
                return LoginResult(True)
            refused = await self._refusal(last, shown)
            if refused is not None:
                return LoginResult(False, True, refused, StepFailure(FailureClass.PERMANENT, refused))
            if time.monotonic() >= deadline:
                where = (
                    f"the page still shows {still}"
                    if still
                    else f"still on the login page ({self.session.url})"
                )
                message = (
                    f"{where} {self.task.policy.step_timeout:g} s after signing in, and the site showed "
                    "no refusal"
                )
                return LoginResult(False, False, message, StepFailure(FailureClass.UNEXPECTED, message))
            await asyncio.sleep(ANSWER_POLL_S)

    async def _refusal(self, last: ActionOutcome | None, shown: set[str]) -> str | None:
        """The site's refusal of the sign-in, said in its words when it has some; None when
        it has not refused (yet)."""
        sent = last.mutating_requests if last is not None else []
        refused = next((r for r in sent if r.status in REJECTED_STATUSES), None)
        if refused is not None:
            return f"{refused.method} {refused.url} answered {refused.status}"
        new = [e for e in await self._form_errors() if e.message not in shown]
        if new:
            return f"the site refused it: {new[0].quote()}"
        if last is not None and self._on_login_page(self.session.url):
            judged = [
                i for i, r in enumerate(last.requests) if r.mutating and r.status and not _no_decision(r)
            ]
            again = judged and any(
                r.resource_type == "document" and r.status is not None and self._on_login_page(r.url)
                for r in last.requests[judged[0] :]
            )
            if again:
                return f"the site answered the sign-in with its login page again ({self.session.url})"
        return None

    async def _still_shown(self) -> str | None:
        """The signed-out sign an in-place sign-in form still shows, or None once it is gone."""
        if not self.signs.visible:
            return None
        gone = await self.session.check(Expectation(hidden=self.signs.visible), None, timeout=0)
        still = [c.name.removeprefix("hidden ") for c in gone if not c.ok]
        return still[0] if still else None

    async def _form_errors(self) -> list[FormError]:
        try:
            return await self.session.form_errors()
        except StepFailure:
            return []  # a page that cannot be read now shows no refusal

    def _failed(self, step: Step, outcome: ActionOutcome | None, failure: StepFailure) -> LoginResult:
        sent = outcome.mutating_requests if outcome is not None else []
        if sent and all(_no_decision(r) for r in sent):
            # The sign-in went out and nobody judged it: see the module docstring.
            return LoginResult(False, False, failure.message, failure, retryable=True, step=step.id)
        # A sign-in that was judged is never sent again here; anything else may be tried again
        # from the login page, as the retry policy says.
        rejected = bool(sent) and self._rejected(failure, outcome)
        return LoginResult(False, rejected, failure.message, failure, retryable=not sent, step=step.id)

    def _on_login_page(self, url: str) -> bool:
        return self.signs.at_url(url)

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
        answered = [
            r.status
            for r in (outcome.mutating_requests if outcome else [])
            if r.status and not _no_decision(r)
        ]
        return (
            any(status in REJECTED_STATUSES for status in answered)
            or failure.failure_class is FailureClass.SESSION_EXPIRED
            or (bool(answered) and self._on_login_page(self.session.url))
        )

    async def _step(
        self, index: int, step: Step, attempt: int
    ) -> tuple[ActionOutcome | None, StepFailure | None]:
        """Act once (again after dismissing an overlay that kept the action from the page),
        each try recorded as a `login.step` event."""
        dismissals = 0
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
            crash_point("login_step")
            self.recorder.emit(
                EventType.LOGIN_STEP,
                step=step.id,
                action=step.action.value,
                summary=step.summary(),
                attempt=attempt,
                url=self.session.url,
                ok=failure is None,
                requests=[r.to_json() for r in outcome.requests] if outcome else [],
                checks=[c.to_json() for c in checks],
                error=failure.message if failure else None,
                failure_class=failure.failure_class.value if failure else None,
            )
            if (
                failure is not None
                and failure.failure_class is FailureClass.OBSTRUCTION
                and dismissals < MAX_DISMISSALS
            ):
                dismissed = await self.session.dismiss_obstructions(list(self.task.policy.obstructions))
                if dismissed:
                    self.recorder.emit(
                        EventType.OBSTRUCTION_DISMISSED, step=step.id, index=index, dismissed=dismissed
                    )
                    dismissals += 1  # the action never reached the page
                    continue
            return outcome, failure


def _which(task: Task) -> tuple[str, list[str]]:
    assert task.login is not None
    names = task.login.credentials()
    return (", ".join(names) if names else "used by the login steps"), names


def login_question(task: Task, result: LoginResult) -> tuple[str, dict[str, Any]]:
    """The clarification a failed login becomes: its question and payload fields."""
    which, names = _which(task)
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


def login_failure(task: Task, result: LoginResult) -> StepFailure:
    """How a failed login ends its step when nobody is asked: the task leaves `login` out of
    `ask_on`, or the site never judged the sign-in (transient, its retries used up)."""
    if result.rejected:
        which, _ = _which(task)
        return StepFailure(
            FailureClass.PERMANENT,
            f"The credential {which} was rejected ({result.message}); update it and run the task again",
            {"login": True, "rejected": True},
        )
    failure = result.failure or StepFailure(FailureClass.PERMANENT, result.message)
    tries = f" ({result.attempts} attempts)" if result.attempts > 1 else ""
    return StepFailure(
        failure.failure_class,
        f"signing in failed{tries}: {failure.message}",
        {**failure.details, "login": True},
    )

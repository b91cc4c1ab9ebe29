"""Validate and Diagnose: judge an attempt by its evidence and classify what went wrong."""

from __future__ import annotations

from typing import Any

from app.domain.errors import FailureClass, StepFailure
from app.domain.task import (
    Action,
    Expectation,
    FillArgs,
    Step,
    TargetArgs,
    ValueCheck,
)
from app.domain.task.spec import SIGNED_OUT_STATUSES
from app.engine.ports import ActionOutcome, CheckResult, FormError

# Actions that, without an explicit expectation, must visibly do *something*.
EXPECTS_CHANGE = frozenset({Action.CLICK, Action.PRESS})


def effective_expectation(step: Step) -> Expectation | None:
    """The step's own expectation plus the defaults of its action.

    fill → the field holds the value; check/uncheck → the box is in that state;
    assert → its arguments are the expectation. (goto status and mutating request status
    are judged from the outcome directly, see `judge_network`.)
    """
    expect = step.expect or Expectation()
    args = step.args
    if step.action is Action.ASSERT and isinstance(args, Expectation):
        merged = args.model_dump(exclude_defaults=True)
        merged.update(expect.model_dump(exclude_defaults=True))
        expect = Expectation.model_validate(merged)
    elif step.action is Action.FILL and isinstance(args, FillArgs) and args.value is not None:
        # A `secret:` fill has its value only once resolved, just before the action: the check
        # of it is made from that step (and its check result names no value: checks.py).
        expect = expect.model_copy(
            update={"value": [*expect.value, ValueCheck(target=args.target, equals=args.value)]}
        )
    elif step.action in (Action.CHECK, Action.UNCHECK) and isinstance(args, TargetArgs):
        key = "checked" if step.action is Action.CHECK else "unchecked"
        expect = expect.model_copy(update={key: [*getattr(expect, key), args.target]})
    return None if expect.is_empty() else expect


def judge_network(
    outcome: ActionOutcome, signed_out: frozenset[int] = frozenset(SIGNED_OUT_STATUSES)
) -> StepFailure | None:
    """A mutating request to the site under test answered 4xx/5xx fails the step whatever the
    page shows; one of the `signed_out` statuses (the task's login.signed_out.status) means the
    session expired. Third-party, background and refused requests are evidence only (DESIGN.md
    "Judging on the real web"): a page's telemetry to a host that cannot be reached says
    nothing about the step."""
    for request in outcome.mutating_requests:
        if request.failure is not None and request.status is None:
            if "ERR_ABORTED" in request.failure or "aborted" in request.failure.lower():
                continue  # superseded by a navigation; the browser cancelled it, not the server
            return StepFailure(
                FailureClass.TRANSIENT,
                f"{request.method} {request.url} failed: {request.failure}",
                {"request": request.to_json()},
            )
        status = request.status
        if status is None or status < 400:
            continue
        what = f"{request.method} {request.url} returned {status}"
        if status == 429 or status >= 500:
            details: dict[str, Any] = {"request": request.to_json()}
            if request.retry_after is not None:
                details["retry_after"] = request.retry_after
            return StepFailure(FailureClass.TRANSIENT, what, details)
        if status in signed_out:
            return StepFailure(FailureClass.SESSION_EXPIRED, what, {"request": request.to_json()})
        return StepFailure(FailureClass.PERMANENT, what, {"request": request.to_json()})
    return None


def judge_checks(step: Step, outcome: ActionOutcome, checks: list[CheckResult]) -> StepFailure | None:
    failed = [c for c in checks if not c.ok]
    if not failed:
        return None
    summary = "; ".join(f"{c.name}: {c.detail}" if c.detail else c.name for c in failed[:3])
    summary += _refused(outcome)
    details = {"failed_checks": [c.to_json() for c in failed]}
    # A request the allowlist refused is something the action did (a socket it opened, a form it
    # posted elsewhere): not "nothing happened", however soon the page showed the refusal.
    if (
        not outcome.changed
        and not outcome.mutating_requests
        and not outcome.messages
        and not any(r.refused for r in outcome.requests)
        and step.action in EXPECTS_CHANGE
    ):
        return StepFailure(FailureClass.NO_EFFECT, f"nothing happened: {summary}", details)
    if step.action in (Action.ASSERT, Action.WAIT_FOR, Action.EXTRACT, Action.GOTO):
        # Read-only steps waiting for content: the content may simply be late.
        return StepFailure(FailureClass.TRANSIENT, f"expectation not met: {summary}", details)
    return StepFailure(FailureClass.UNEXPECTED, f"expectation not met: {summary}", details)


def _refused(outcome: ActionOutcome) -> str:
    """What the allowlist kept from leaving, said beside a failure it may explain (a refused
    request decides nothing by itself: DESIGN.md "Judging on the real web")."""
    refused = [r for r in outcome.requests if r.refused and r.resource_type not in _QUIET]
    if not refused:
        return ""
    shown = ", ".join(f"{r.method} {r.url}" for r in refused[:3])
    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
    return f" (refused by policy.allow_domains: {shown}{more})"


# Refused quietly: a page works without another host's pictures, styles, scripts and fonts.
_QUIET = frozenset({"image", "stylesheet", "script", "font", "media"})


def judge_no_effect(step: Step, outcome: ActionOutcome, has_expectation: bool) -> StepFailure | None:
    """A click or key press with no expectation must change the page or send something to the
    site under test (a request, or a WebSocket message: its effect may not be on the page yet;
    a heartbeat or a tracker firing meanwhile is not the click's doing)."""
    if has_expectation or step.action not in EXPECTS_CHANGE:
        return None
    if outcome.changed or outcome.sent_anything or outcome.dialogs:
        return None
    return StepFailure(
        FailureClass.NO_EFFECT,
        f"{step.summary()} changed nothing: no request, page unchanged{_refused(outcome)}",
        {"fingerprint": outcome.after.short()},
    )


# Failures after which a page's form errors say why: the write was refused (4xx), or it did not
# have the result expected of it. (A 5xx, an expired session or a missing target say it already.)
_ANSWERED_WITH_FORM = frozenset({FailureClass.PERMANENT, FailureClass.UNEXPECTED, FailureClass.NO_EFFECT})
QUOTED_FORM_ERRORS = 5


def explains_with_form(step: Step, outcome: ActionOutcome, failure: StepFailure | None) -> bool:
    """Whether the page's form errors are worth reading after this attempt of a write: it
    failed as a refused or unexpected write, or it sent something, had no expectation of its own
    to judge it by, and looked done (a 200 that shows the form again with its errors, or a
    WebSocket answer that does)."""
    if failure is not None:
        return failure.failure_class in _ANSWERED_WITH_FORM or "failed_checks" in failure.details
    return step.expect is None and (bool(outcome.mutating_requests) or bool(outcome.messages))


def with_form_errors(failure: StepFailure | None, errors: list[FormError]) -> StepFailure | None:
    """The failure of a write whose page shows form errors, quoting them first: they say why it
    did not go through. A message tied to a field is a validation the same write would meet
    again: the step fails as permanent (DESIGN.md). Messages about no field (an alert) only add
    to a failure: on their own they may say "Saved"."""
    if not errors:
        return failure
    bound = any(e.field for e in errors)
    if failure is None and not bound:
        return None
    quoted = "; ".join(e.quote() for e in errors[:QUOTED_FORM_ERRORS])
    if len(errors) > QUOTED_FORM_ERRORS:
        quoted += f" (+{len(errors) - QUOTED_FORM_ERRORS} more)"
    details = {**(failure.details if failure else {}), "form_errors": [e.to_json() for e in errors]}
    if failure is None:
        return StepFailure(FailureClass.PERMANENT, f"the form came back with errors: {quoted}", details)
    cls = FailureClass.PERMANENT if bound else failure.failure_class
    return StepFailure(cls, f"the form came back with errors: {quoted}; {failure.message}", details)

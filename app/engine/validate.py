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
from app.engine.ports import ActionOutcome, CheckResult

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


def judge_network(outcome: ActionOutcome) -> StepFailure | None:
    """A mutating request to the site under test answered 4xx/5xx fails the step whatever the
    page shows. Third-party, background and refused requests are evidence only (DESIGN.md
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
        if status in (401, 419, 440):
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
    if not outcome.changed and not outcome.mutating_requests and step.action in EXPECTS_CHANGE:
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
    site under test (a heartbeat or a tracker firing meanwhile is not the click's doing)."""
    if has_expectation or step.action not in EXPECTS_CHANGE:
        return None
    if outcome.changed or outcome.judged_requests or outcome.dialogs:
        return None
    return StepFailure(
        FailureClass.NO_EFFECT,
        f"{step.summary()} changed nothing: no request, page unchanged{_refused(outcome)}",
        {"fingerprint": outcome.after.short()},
    )

"""Playwright errors → classified StepFailures (DESIGN.md "Diagnose").

Playwright reports *why* an action timed out only in its call log ("… intercepts pointer
events", "element is not enabled"), so classification reads the message text.
"""

from __future__ import annotations

import re

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from app.domain.errors import FailureClass, StepFailure

_INTERCEPT = re.compile(r"^\s*-\s*(.*?)\s+intercepts pointer events", re.MULTILINE)
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")


def is_closed(exc: BaseException) -> bool:
    return "has been closed" in str(exc) or type(exc).__name__ == "TargetClosedError"


def call_log(exc: BaseException, lines: int = 4) -> list[str]:
    text = str(exc)
    if "Call log:" not in text:
        return []
    log = [ln.strip(" -") for ln in text.split("Call log:", 1)[1].splitlines() if ln.strip()]
    return log[-lines:]


def headline(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]


def classify(exc: PlaywrightError, *, what: str, page_url: str = "") -> StepFailure:
    """Turn a Playwright error raised while doing `what` into a StepFailure."""
    text = str(exc)
    details: dict[str, object] = {"error": headline(exc)}
    log = call_log(exc)
    if log:
        details["log"] = log
    if is_closed(exc):
        details["session_closed"] = True
        return StepFailure(FailureClass.TRANSIENT, f"{what}: the browser page closed", details)
    blocked = _INTERCEPT.findall(text)
    if blocked:
        details["blocked_by"] = blocked[-1][:300]
        return StepFailure(
            FailureClass.OBSTRUCTION,
            f"{what}: another element covers it ({blocked[-1][:120]})",
            details,
        )
    if "strict mode violation" in text:
        return StepFailure(FailureClass.AMBIGUOUS_TARGET, f"{what}: several elements match", details)
    net = _NET_ERROR.search(text)
    if net:
        details["net_error"] = net.group(1)
        return StepFailure(FailureClass.TRANSIENT, f"{what}: network error {net.group(1)}", details)
    if page_url.startswith("chrome-error://"):
        return StepFailure(FailureClass.TRANSIENT, f"{what}: the page failed to load", details)
    if "did not find some options" in text:
        return StepFailure(FailureClass.MISSING_TARGET, f"{what}: option not found", details)
    if isinstance(exc, PlaywrightTimeoutError):
        tail = " ".join(log).lower()
        # A disabled or moving element may settle (a form enabling its button): retry.
        for state in ("not enabled", "not stable", "not editable", "outside of the viewport"):
            if state in tail:
                return StepFailure(FailureClass.TRANSIENT, f"{what}: element is {state}", details)
        if "not visible" in tail:
            return StepFailure(FailureClass.MISSING_TARGET, f"{what}: element is not visible", details)
        return StepFailure(FailureClass.MISSING_TARGET, f"{what}: timed out", details)
    if "Execution context was destroyed" in text or "navigat" in text.lower():
        return StepFailure(FailureClass.TRANSIENT, f"{what}: interrupted by a navigation", details)
    # Anything else is the target being the wrong kind of element, a missing file, an unknown
    # key…: doing the same thing again cannot help.
    return StepFailure(FailureClass.PERMANENT, f"{what}: {headline(exc)}", details)

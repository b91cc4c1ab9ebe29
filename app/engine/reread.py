"""Whether a write that failed, or was cut short, happened on the server (G3, DESIGN "Judging
on the real web"): a write is sent again only on evidence that the server did not apply it, or
after its expectation, re-read, proves it absent; otherwise a person verifies."""

from __future__ import annotations

from urllib.parse import urldefrag

from app.domain.errors import StepFailure
from app.domain.task import Expectation, Step
from app.domain.task.expectations import match_pattern
from app.engine.ports import ActionOutcome, RequestRecord, TargetInfo

# Answers with which a server refuses to take a request at all: nothing was applied.
REFUSED = frozenset({429, 503})
# Network errors raised before a request reaches any server.
NOT_SENT = (
    "ERR_NAME_NOT_RESOLVED",
    "ERR_NAME_RESOLUTION_FAILED",
    "ERR_CONNECTION_REFUSED",
    "ERR_ADDRESS_UNREACHABLE",
    "ERR_INTERNET_DISCONNECTED",
    "ERR_BLOCKED_BY_CLIENT",
    "ERR_BLOCKED_BY_ADMINISTRATOR",
)


def may_have_applied(failure: StepFailure, outcome: ActionOutcome | None) -> bool:
    """Whether a failed attempt may have changed the server: anything it sent that was not
    refused. A 500, a 502/504 from a gateway, a reset or a timeout after sending say nothing
    about what the application did; nor does a WebSocket message, which has no status at all."""
    if outcome is None:
        # Pointer actions that fail (covered, missing, disabled) were never dispatched.
        return bool(failure.details.get("dispatched"))
    return bool(outcome.frames_sent) or any(_may_have_reached(r) for r in outcome.mutating_requests)


def _may_have_reached(request: RequestRecord) -> bool:
    if request.status is None:
        return not any(code in (request.failure or "") for code in NOT_SENT)
    return not (request.status in REFUSED or 400 <= request.status < 500)


def reread_expectation(
    step: Step,
    page_url: str,
    base_url: str | None,
    *,
    posted_to: list[str] | None,
    target: TargetInfo | None = None,
) -> Expectation | None:
    """What proves, on the page the step starts from, whether it happened: the `after_reload`
    part of its expectation (the other conditions describe the page the action produced, which
    is gone). None when nothing can prove it from here:

    - no `after_reload`;
    - an `after_reload` without `goto` reloads this page, which shows nothing of a write that
      leads elsewhere: the step's `url` says it does not end here, or it posted a form to
      another address (`posted_to`: the document requests the attempt sent; unknown after a
      crash, when the form of `target`, read before, stands in for them).
    """
    expect = step.expect
    if expect is None or expect.after_reload is None:
        return None
    reread = Expectation(after_reload=expect.after_reload)
    if expect.after_reload.goto:
        return reread
    if expect.url is not None and not match_pattern(expect.url, page_url, base_url):
        return None
    if posted_to is None:
        form = target is not None and target.form_action and (target.form_method or "GET") != "GET"
        posted_to = [target.form_action] if form and target is not None and target.form_action else []
    here = urldefrag(page_url).url
    return None if any(urldefrag(url).url != here for url in posted_to) else reread

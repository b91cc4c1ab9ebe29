"""The write-retry table (issue 13; README "Durability and recovery"): for each way a write's
attempt can fail, and each kind of step, what the run does — re-sent, done without re-sending
(its re-read found it), a person asked ("did it happen?"), or failed — judged by the hostile
site's own counts (comments received, comments stored), in real Chromium.

A write is re-sent only on evidence that the server did not apply it (the connection refused,
429, 503, a redirect to the sign-in) or after its re-read found it absent; an irreversible step
is never re-sent without a person. Every row posts a comment on the issue tracker:
`write` re-reads it with `after_reload`, `blind` has nothing to re-read it by, `irreversible`
is approved first and re-reads it too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from app.domain.events import EventType
from app.domain.states import RunStatus
from app.store import list_attempts
from tests.integration.engine.conftest import Harness
from tests.integration.engine.test_sessions import LOGIN

POLICY = "policy: {retry: {maximum_attempts: 3, initial_interval: 0.05, maximum_interval: 0.1}}\n"
STEPS = """steps:
  - goto: /issues/new
  - fill: {target: {label: Title}, value: Printer jam}
  - click: {role: button, name: Create issue}
  - fill: {target: {label: Comment}, value: Toner replaced}
  - id: comment
    click: {role: button, name: Add comment}
    timeout: 1.5
"""
REREAD = "    expect: {after_reload: {text: {target: {test_id: comment, nth: -1}, equals: Toner replaced}}}\n"
EFFECTS = {
    "write": REREAD,
    "blind": "",
    "irreversible": "    effect: irreversible\n" + REREAD,
}
COMMENT = 4  # the step's index

# What happens (the README's table)
RESENT = "re-sent"
DONE = "done, not re-sent"
ASKED = "verification handoff"
FAILS = "fails"


@dataclass
class Seen:
    """What the run did, and what the site says happened."""

    run_id: str
    status: RunStatus
    failure_class: str | None
    asked: list[Any]  # open handoffs other than approvals
    attempts: int  # of the comment step
    reread: list[bool]  # each re-read of the step: done?
    posts: int  # comment POSTs the tracker received
    stored: int  # comments it stored


async def drive(harness: Harness, effect: str, *, login: bool = False, **knobs: Any) -> Seen:
    """Run the task with the site's knobs armed; approve the irreversible step when asked."""
    harness.site.configure(cookie_banner=False, **knobs)
    text = "name: comment\nsite: SITE\n" + POLICY + (LOGIN if login else "") + STEPS + EFFECTS[effect]
    run_id = harness.submit(text)
    result = await harness.engine.run(run_id)
    while result.status is RunStatus.WAITING:
        approvals = [h for h in harness.engine.open_handoffs(run_id) if h.kind == "approval"]
        if not approvals:
            break
        harness.engine.answer(approvals[0].id, {"decision": "approve"}, by="tester")
        result = await harness.engine.run(run_id)
    return seen(harness, run_id, result)


def seen(harness: Harness, run_id: str, result: Any) -> Seen:
    with harness.db.session(readonly=True) as s:
        attempts = len(list_attempts(s, run_id, COMMENT))
    truth = harness.site.truth()
    return Seen(
        run_id=run_id,
        status=result.status,
        failure_class=result.failure_class,
        asked=[h for h in harness.engine.open_handoffs(run_id) if h.kind != "approval"],
        attempts=attempts,
        reread=[e.data["done"] for e in harness.events_of(run_id, EventType.STEP_REREAD)],
        posts=truth["comment_posts"],
        stored=sum(len(issue["comments"]) for issue in truth["issues"]),
    )


def check(seen: Seen, happens: str, *, posts: int, stored: int) -> None:
    assert (seen.posts, seen.stored) == (posts, stored), "the site's counts"
    if happens == RESENT:
        assert seen.status is RunStatus.SUCCEEDED and not seen.asked
        assert seen.attempts == 2  # the attempt that failed, and the one sent again
        assert stored == 1  # once, however many times it was sent
    elif happens == DONE:
        assert seen.status is RunStatus.SUCCEEDED and not seen.asked
        assert seen.attempts == 1 and seen.reread == [True]  # proven by re-reading it
    elif happens == ASKED:
        assert seen.status is RunStatus.WAITING and seen.attempts == 1
        (asked,) = seen.asked
        assert asked.kind == "verification" and asked.question.endswith("Did it happen?")
    else:
        assert happens == FAILS
        assert seen.status is RunStatus.FAILED and seen.failure_class == "transient"
        assert seen.attempts == 1 and not seen.asked


# ----------------------------------------------------------------- nothing was applied
@pytest.mark.parametrize(
    ("effect", "happens", "posts", "stored"),
    [("write", RESENT, 1, 1), ("blind", RESENT, 1, 1), ("irreversible", FAILS, 0, 0)],
)
async def test_a_refused_connection_is_sent_again(
    harness: Harness, effect: str, happens: str, posts: int, stored: int
) -> None:
    """The form posts where nothing listens: the request never reached a server. (Two pages
    with the dead form for the irreversible step: its page is shown again after approval.)"""
    result = await drive(harness, effect, comment_refused=2 if effect == "irreversible" else 1)
    check(result, happens, posts=posts, stored=stored)
    assert result.reread == []  # nothing to find out: it was not sent


@pytest.mark.parametrize("knob", ["comment_429", "comment_503"])
@pytest.mark.parametrize(
    ("effect", "happens", "posts", "stored"),
    [("write", RESENT, 2, 1), ("blind", RESENT, 2, 1), ("irreversible", FAILS, 1, 0)],
)
async def test_a_429_or_503_is_sent_again_unless_irreversible(
    harness: Harness, knob: str, effect: str, happens: str, posts: int, stored: int
) -> None:
    result = await drive(harness, effect, **{knob: 1})
    check(result, happens, posts=posts, stored=stored)
    assert result.reread == []


@pytest.mark.parametrize(
    ("effect", "happens"), [("write", RESENT), ("blind", RESENT), ("irreversible", RESENT)]
)
async def test_a_redirect_to_the_sign_in_signs_in_and_sends_again(
    secure: Harness, effect: str, happens: str
) -> None:
    """The session ended just before the write arrived: the site sent it to the sign-in page
    without applying it. Signed in again, the write is sent again — an approved one under its
    approval, the action being still the one approved."""
    result = await drive(secure, effect, login=True, comment_signed_out=1)
    check(result, happens, posts=1, stored=1)  # the turned-away POST never reached the tracker
    assert secure.site.truth()["requests"]["POST /issues/1"] == 2  # turned away, then stored
    expired = secure.events_of(result.run_id, EventType.SESSION_EXPIRED)
    assert COMMENT in [e.data["index"] for e in expired]


# ----------------------------------------------------------------- it may have been applied
@pytest.mark.parametrize(("effect", "happens"), [("write", DONE), ("blind", ASKED), ("irreversible", DONE)])
async def test_a_500_after_storing_is_found_by_re_reading(
    harness: Harness, effect: str, happens: str
) -> None:
    result = await drive(harness, effect, comment_500=1)
    check(result, happens, posts=1, stored=1)


@pytest.mark.parametrize(
    ("effect", "happens", "posts"), [("write", RESENT, 2), ("blind", ASKED, 1), ("irreversible", ASKED, 1)]
)
async def test_a_500_that_stored_nothing_is_sent_again_only_once_re_read(
    harness: Harness, effect: str, happens: str, posts: int
) -> None:
    result = await drive(harness, effect, comment_500_unsaved=1)
    check(result, happens, posts=posts, stored=posts - 1)
    if effect == "write":
        assert result.reread == [False]  # the re-read found it absent: then sent again
    if effect == "irreversible":
        assert result.reread == [False]
        # "Not done": sent again only under a fresh approval.
        (asked,) = result.asked
        harness.engine.answer(asked.id, {"decision": "deny"}, by="tester")
        again = await harness.engine.run(result.run_id)
        assert again.status is RunStatus.WAITING and harness.site.truth()["comment_posts"] == 1
        (approval,) = harness.engine.open_handoffs(result.run_id)
        assert approval.kind == "approval"
        harness.engine.answer(approval.id, {"decision": "approve"}, by="tester")
        done = await harness.engine.run(result.run_id)
        assert done.status is RunStatus.SUCCEEDED, done.error
        truth = harness.site.truth()
        assert truth["comment_posts"] == 2 and truth["issues"][0]["comments"] == ["Toner replaced"]


@pytest.mark.parametrize(("effect", "happens"), [("write", DONE), ("blind", ASKED), ("irreversible", DONE)])
async def test_a_timeout_after_sending_is_re_read_first(harness: Harness, effect: str, happens: str) -> None:
    """The tracker stored the comment and answers long after the step's timeout.

    Found and left: the step's timeout does not always bound a click's wait for its document's
    answer; in some runs the click waits the 8 s out, and the step is judged by the answer
    (a 303: done). Either way the comment is sent once."""
    result = await drive(harness, effect, comment_hang=1, comment_hang_ms=8000)
    if result.attempts == 1 and result.reread == [] and result.status is RunStatus.SUCCEEDED:
        assert (result.posts, result.stored) == (1, 1)  # the answer came in time after all
        return
    check(result, happens, posts=1, stored=1)

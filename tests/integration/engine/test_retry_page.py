"""Retrying a step whose attempt left the page (issue 12, defect 10), and never re-sending a
write that may have happened (G3): real Chromium, the hostile site's issue tracker, judged by
the site's truth.

A form POST answered by an error page leaves the browser on that page: the next attempt needs
the form again, filled as the earlier steps filled it — the same rebuild as after a crash. A
503 is the site refusing the request (nothing stored): sent again. A 500 says nothing about
what the application did: the write is re-read first (its `after_reload`), and without one a
person is asked."""

from __future__ import annotations

from app.domain.events import EventType
from app.domain.states import AttemptOutcome, RunStatus
from app.store import list_attempts, runs
from tests.integration.engine.conftest import Harness
from tests.integration.engine.test_sessions import LOGIN

NEW_ISSUE = """
name: new-issue
site: SITE
policy: {retry: {maximum_attempts: 3, initial_interval: 0.1}}
steps:
  - goto: /issues/new
  - fill: {target: {label: Title}, value: Printer jam}
  - id: create
    click: {role: button, name: Create issue}
    expect:
      url: "re:/issues/\\\\d+$"
      after_reload: {text: {target: {test_id: issue-title}, equals: Printer jam}}
"""

COMMENT = """
name: comment
site: SITE
policy: {retry: {maximum_attempts: 3, initial_interval: 0.1}}
steps:
  - goto: /issues/new
  - fill: {target: {label: Title}, value: Printer jam}
  - click: {role: button, name: Create issue}
  - fill: {target: {label: Comment}, value: Toner replaced}
  - id: comment
    click: {role: button, name: Add comment}
    EXPECT
"""
REREAD = "expect: {after_reload: {text: {target: {test_id: comment, nth: -1}, equals: Toner replaced}}}"


def comments(harness: Harness) -> list[str]:
    return [c for t in harness.site.truth()["issues"] for c in t["comments"]]


async def test_a_503_error_page_then_the_form_again_stores_once(harness: Harness) -> None:
    harness.site.configure(cookie_banner=False, issue_503=1)
    result = await harness.run(NEW_ISSUE)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = harness.site.truth()
    assert truth["issues"] == [{"id": 1, "title": "Printer jam", "comments": []}]
    assert truth["issue_posts"] == 2  # refused once (nothing stored), then stored
    rebuilt = harness.events_of(result.run_id, EventType.PAGE_REBUILT)
    assert [e.data["step"] for e in rebuilt] == ["create"]
    assert rebuilt[0].data["url"].endswith("/issues/new")  # not the error page at /issues


async def test_a_503_on_a_form_that_posts_to_its_own_page(harness: Harness) -> None:
    # The error page has the form's own address: only the new document tells the page changed.
    harness.site.configure(cookie_banner=False, comment_503=1)
    result = await harness.run(COMMENT.replace("EXPECT", REREAD))
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert comments(harness) == ["Toner replaced"]
    assert harness.site.truth()["comment_posts"] == 2


async def test_a_503_on_every_attempt_fails_as_transient_with_every_attempt_recorded(
    harness: Harness,
) -> None:
    harness.site.configure(cookie_banner=False, issue_503=5)
    result = await harness.run(NEW_ISSUE)
    assert result.status is RunStatus.FAILED
    assert result.failure_class == "transient"
    assert "returned 503" in (result.error or "")
    truth = harness.site.truth()
    assert truth["issues"] == [] and truth["issue_posts"] == 3
    with harness.db.session(readonly=True) as s:
        step = runs.get_step(s, result.run_id, 2)
        tried = list_attempts(s, result.run_id, 2)
    assert step is not None and step.attempts == 3 and step.failure_class == "transient"
    assert [a.outcome for a in tried] == [AttemptOutcome.FAILED] * 3
    for attempt in tried:  # each one reached the form's button and sent its POST
        posts = [r for r in attempt.requests if r["method"] == "POST"]
        assert [(r["url"].rsplit("/", 1)[-1], r["status"]) for r in posts] == [("issues", 503)]
    assert len(harness.events_of(result.run_id, EventType.RETRY_SCHEDULED)) == 2


async def test_a_500_after_storing_is_re_read_and_not_sent_again(harness: Harness) -> None:
    harness.site.configure(cookie_banner=False, comment_500=1)
    result = await harness.run(COMMENT.replace("EXPECT", REREAD))
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert comments(harness) == ["Toner replaced"]
    assert harness.site.truth()["comment_posts"] == 1  # the re-read found it: never sent twice
    (reread,) = harness.events_of(result.run_id, EventType.STEP_REREAD)
    assert reread.data["done"] is True
    with harness.db.session(readonly=True) as s:
        step = runs.get_step(s, result.run_id, 4)
    assert step is not None and step.status == "succeeded"
    assert [r["status"] for r in step.evidence["requests"] if r["method"] == "POST"] == [500]
    assert [c["ok"] for c in step.evidence["checks"]] == [True]  # the re-read that proved it


async def test_a_500_that_cannot_be_re_read_is_asked_not_sent_again(harness: Harness) -> None:
    harness.site.configure(cookie_banner=False, comment_500=1)
    run_id = harness.submit(COMMENT.replace("EXPECT", ""))
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.WAITING
    (asked,) = harness.engine.open_handoffs(run_id)
    assert asked.kind == "verification" and "returned 500" in asked.question
    assert harness.site.truth()["comment_posts"] == 1  # not sent again on its own
    harness.engine.answer(asked.id, {"decision": "approve"}, by="tester")  # "it happened"
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert comments(harness) == ["Toner replaced"]
    assert harness.site.truth()["comment_posts"] == 1


async def test_a_rebuild_from_the_page_a_write_led_to_signs_in_again_first(
    secure: Harness,
) -> None:
    """The run waits after creating a issue and typing a comment; it continues in a new browser
    without the session: the issue's page sends it to the sign-in, the login block runs, and
    the comment is typed again on the issue's page (not on the new-issue form)."""
    secure.site.configure(cookie_banner=False)
    run_id = secure.submit(
        "name: signed-in-issue\nsite: SITE\n"
        + LOGIN
        + """steps:
  - goto: /issues/new
  - fill: {target: {label: Title}, value: Printer jam}
  - click: {role: button, name: Create issue}
  - fill: {target: {label: Comment}, value: Toner replaced}
  - ask: {question: "Post the comment?", choices: ["yes", "no"]}
  - id: comment
    click: {role: button, name: Add comment}
"""
    )
    assert (await secure.engine.run(run_id)).status is RunStatus.WAITING  # the page is not kept
    (asked,) = secure.engine.open_handoffs(run_id)
    secure.engine.answer(asked.id, {"value": "yes"}, by="tester")
    result = await secure.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    assert truth["issues"] == [{"id": 1, "title": "Printer jam", "comments": ["Toner replaced"]}]
    assert truth["issue_posts"] == 1 and truth["comment_posts"] == 1
    assert truth["logins"] == 2 and truth["failed_logins"] == 0  # once per browser
    (recovered,) = secure.events_of(result.run_id, EventType.RUN_RECOVERED)
    assert recovered.data["from_url"].endswith("/issues/1")

"""What a failure shows of the page, judged against the hostile site's ticket desk: a write
answered with its form and errors fails quoting those errors (and nothing is stored), and a
target that matches nothing names what it may have meant — in the failure, the record and the
question to the person, whose pick is then acted on."""

from __future__ import annotations

from app.domain.states import RunStatus
from app.store import list_attempts, runs
from tests.integration.engine.conftest import Harness

CREATE = """
name: new-ticket
site: SITE
policy: {ask_on: []}
steps:
  - goto: /tickets
  - fill: {target: {label: Title}, value: Printer jam}
  - fill: {target: {label: Email}, value: not-an-email}
  - id: create
    click: {role: button, name: Create ticket}
    effect: write
"""
ERRORS = 'Email: "Enter a valid email address."; "Please correct the errors below."'


async def test_a_write_answered_with_its_form_and_errors_fails_quoting_them(harness: Harness) -> None:
    harness.site.configure(cookie_banner=False)
    proven = CREATE + (
        "    expect:\n"
        "      after_reload: {text: {target: {test_id: ticket-title, nth: -1}, equals: Printer jam}}\n"
    )
    for text in (CREATE, proven):  # with no expectation of its own, and with one that fails
        result = await harness.run(text)
        assert result.status is RunStatus.FAILED, result
        assert result.failure_class == "permanent"  # the same form would be refused again
        assert result.error is not None and result.error.startswith(
            f"the form came back with errors: {ERRORS}"
        )
        assert "Skip to main content" not in result.error
        with harness.db.session(readonly=True) as s:
            create = runs.get_steps(s, result.run_id)[-1]
            assert create.attempts == 1  # not retried
            assert create.evidence["form_errors"][0] == {
                "message": "Enter a valid email address.",
                "field": "Email",
            }
    truth = harness.site.truth()
    assert [t["title"] for t in truth["tickets"]] == ["Printer on fire", "Coffee machine empty"]
    assert truth["ticket_posts"] == 2  # one POST per run, each refused


async def test_a_missing_target_asks_with_its_near_misses_and_acts_on_the_pick(harness: Harness) -> None:
    harness.site.configure(cookie_banner=False)
    run_id = harness.submit(
        """
        name: delete-ticket
        site: SITE
        policy: {step_timeout: 1, retry: {maximum_attempts: 1}}
        steps:
          - goto: /tickets
          - id: delete
            click: {role: button, name: Delete, exact: true}
            effect: write
            expect: {after_reload: {count: {target: {css: "[data-testid=tickets] > li"}, equals: 1}}}
        """
    )
    assert (await harness.engine.run(run_id)).status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(run_id)
    p = question.payload
    assert p["reason"] == "missing_target"
    assert [(c["choice"], c["description"]) for c in p["candidates"][:2]] == [
        ("1", 'button "– Delete"'),
        ("2", 'button "– Delete"'),
    ]
    assert p["choices"][:2] == ["1", "2"] and "fail" in p["choices"]
    assert 'Closest: 1. button "– Delete", 2. button "– Delete"' in question.question
    assert harness.engine.artifacts.path(p["screenshot"]).exists()  # numbered on the page
    with harness.db.session(readonly=True) as s:
        (attempt,) = list_attempts(s, run_id, 1)
        assert attempt.failure_class == "missing_target"
        assert 'no element matches; closest: button "– Delete"' in (attempt.error or "")
    assert harness.site.truth()["ticket_deletions"] == {}

    harness.engine.answer(question.id, {"value": "1"}, by="tester")
    result = await harness.engine.run(run_id)
    if result.status is RunStatus.WAITING:  # "Delete" reads as irreversible: approved first
        (approval,) = harness.engine.open_handoffs(run_id)
        assert approval.kind == "approval", (approval.question, approval.payload)
        harness.engine.answer(approval.id, {"decision": "approve"}, by="tester")
        result = await harness.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = harness.site.truth()
    assert truth["ticket_deletions"] == {"1": 1}
    assert [t["title"] for t in truth["tickets"]] == ["Coffee machine empty"]

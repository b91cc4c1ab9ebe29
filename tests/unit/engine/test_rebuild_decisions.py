"""Where a page is rebuilt from, and whether a write in doubt may be sent again: the decisions,
without a browser (the real-Chromium tests are tests/integration/cli/test_crash_after_redirect.py
and tests/integration/engine/test_retry_page.py)."""

from __future__ import annotations

from dataclasses import replace

from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Effect, load_task
from app.engine.pageplan import Completed, PagePlan, plan_page, redoable
from app.engine.ports import ActionOutcome, Fingerprint, RequestRecord, TargetInfo
from app.engine.reread import may_have_applied, reread_expectation

SITE = "http://127.0.0.1:8000"
TASK = load_task(
    f"""
name: issues
site: {SITE}
steps:
  - goto: /issues/new
  - fill: {{target: {{label: Title}}, value: Jam}}
  - id: create
    click: {{role: button, name: Create issue}}
    expect:
      url: "re:/issues/\\\\d+$"
      after_reload: {{text: Jam}}
  - fill: {{target: {{label: Comment}}, value: Fixed}}
  - id: comment
    click: {{role: button, name: Add comment}}
    expect: {{after_reload: {{text: Fixed}}}}
  - id: archive
    click: {{role: button, name: Archive}}
    expect: {{after_reload: {{goto: /issues, hidden: {{text: Jam}}}}}}
  - assert: {{text: Archived}}
""",
    "issues.yaml",
)
STEPS = TASK.steps
ISSUE = f"{SITE}/issues/7"


def done(index: int, *, replayable: bool, navigated: bool = False, left: str | None = None) -> Completed:
    return Completed(index=index, replayable=replayable, navigated=navigated, left_url=left)


def test_a_write_that_led_to_another_page_is_where_the_rebuild_starts() -> None:
    record = [
        done(0, replayable=True, left=f"{SITE}/issues/new"),
        done(1, replayable=True, left=f"{SITE}/issues/new"),
        done(2, replayable=False, navigated=True, left=ISSUE),
        done(3, replayable=True, left=ISSUE),
    ]
    plan = plan_page(STEPS, record, end=4)
    assert (plan.url, plan.origin, plan.start) == (ISSUE, 2, 3)
    assert 3 in plan.replay and 2 not in plan.replay  # the comment is typed again, not the issue


def test_a_write_that_stayed_on_its_page_keeps_the_form_state_typed_before_it() -> None:
    # A fetch that saved without loading a page: the fills before it are still on the page.
    record = [
        done(0, replayable=True, left=f"{SITE}/issues/new"),
        done(1, replayable=True, left=f"{SITE}/issues/new"),
        done(2, replayable=False, navigated=False, left=f"{SITE}/issues/new"),
        done(3, replayable=True, left=f"{SITE}/issues/new"),
    ]
    plan = plan_page(STEPS, record, end=4)
    assert (plan.url, plan.start) == (None, 0)  # from the goto, skipping the write
    assert plan.replay == {0, 1, 3}


def test_several_writes_in_a_row_start_from_the_last_one_that_moved_the_page() -> None:
    record = [
        done(0, replayable=True),
        done(1, replayable=True),
        done(2, replayable=False, navigated=True, left=ISSUE),
        done(3, replayable=True, left=ISSUE),
        done(4, replayable=False, navigated=True, left=ISSUE),
        done(5, replayable=False, navigated=True, left=f"{SITE}/issues"),
    ]
    plan = plan_page(STEPS, record, end=6)
    assert (plan.url, plan.origin, plan.start) == (f"{SITE}/issues", 5, 6)


def test_a_link_click_that_sent_nothing_is_done_again_and_an_unknown_page_is_not_opened() -> None:
    record = [
        done(0, replayable=True),
        done(1, replayable=True),
        done(2, replayable=True, navigated=True, left=ISSUE),  # a `write` that only followed a link
        done(3, replayable=False, navigated=True, left="chrome-error://chromewebdata/"),
    ]
    plan = plan_page(STEPS, record, end=4)
    assert (plan.url, plan.start) == (None, 0)
    assert plan.replay == {0, 1, 2}


def outcome(*requests: RequestRecord) -> ActionOutcome:
    page = Fingerprint(ISSUE, "")
    return ActionOutcome(before=page, after=page, requests=list(requests))


def post(status: int | None, failure: str | None = None, kind: str = "document") -> RequestRecord:
    return RequestRecord("POST", f"{SITE}/issues", status, resource_type=kind, failure=failure)


def test_only_a_refusal_or_nothing_sent_counts_as_not_applied() -> None:
    failed = StepFailure(FailureClass.TRANSIENT, "x")
    assert not may_have_applied(failed, outcome(post(503)))
    assert not may_have_applied(failed, outcome(post(429)))
    assert not may_have_applied(failed, outcome(post(None, "net::ERR_CONNECTION_REFUSED")))
    assert not may_have_applied(failed, None)  # the click itself failed: nothing went out
    assert not may_have_applied(failed, outcome(RequestRecord("GET", ISSUE, 503)))
    for unsure in (post(500), post(502), post(504), post(303), post(None, "net::ERR_CONNECTION_RESET")):
        assert may_have_applied(failed, outcome(unsure)), unsure
    sent = StepFailure(FailureClass.TRANSIENT, "x", {"dispatched": True})
    assert may_have_applied(sent, None)  # the action went out, watching its result failed


def test_a_write_is_re_read_only_where_its_after_reload_can_show_it() -> None:
    create, comment, archive = STEPS[2], STEPS[4], STEPS[5]
    assert reread_expectation(STEPS[1], ISSUE, SITE, posted_to=None) is None  # no after_reload
    # The new issue shows on a page whose address is not known on the form's page.
    assert reread_expectation(create, f"{SITE}/issues/new", SITE, posted_to=None) is None
    # A comment posts to its own page: reloading that page shows it.
    assert reread_expectation(comment, ISSUE, SITE, posted_to=[ISSUE]) is not None
    assert reread_expectation(comment, ISSUE, SITE, posted_to=[]) is not None  # a fetch
    assert reread_expectation(comment, ISSUE, SITE, posted_to=[f"{SITE}/comments"]) is None
    form = TargetInfo("button", "button", "button", "Add comment", None, form_method="POST")
    elsewhere = replace(form, form_action=f"{SITE}/comments")
    assert reread_expectation(comment, ISSUE, SITE, posted_to=None, target=elsewhere) is None
    assert reread_expectation(comment, ISSUE, SITE, posted_to=None, target=form) is not None
    # An after_reload with its own goto reads the same place from anywhere.
    proof = reread_expectation(archive, f"{SITE}/issues/new", SITE, posted_to=[f"{SITE}/x"])
    assert proof is not None and proof.after_reload is not None and proof.url is None


def test_a_goto_needs_no_rebuild_and_checks_are_not_redone() -> None:
    record = [done(i, replayable=True) for i in range(6)]
    assert plan_page(STEPS, record[:0], end=0).replay == frozenset()  # step 0 is a goto
    later = load_task(
        f"""
name: reads
site: {SITE}
steps:
  - goto: /issues/7
  - extract: {{target: {{test_id: issue-title}}, into: title}}
  - assert: {{text: Jam}}
  - fill: {{target: {{label: Comment}}, value: Fixed}}
  - goto: /issues
""",
        "reads.yaml",
    ).steps
    assert plan_page(later, record[:3], end=3).replay == {0}  # the extract's output is kept
    assert plan_page(later, record[:4], end=4) == PagePlan(start=4, replay=frozenset())


def frames(sent: int) -> dict[str, object]:
    """A WebSocket's tally as an attempt records it."""
    record = RequestRecord("WS", "ws://127.0.0.1:8000/live/ws", 101, "websocket", frames_sent=sent)
    return record.to_json()


def test_a_step_that_may_change_the_site_is_redone_only_on_proof_it_sent_nothing() -> None:
    read_click = STEPS[2].model_copy(update={"effect": Effect.READ})
    write_click = STEPS[2]  # a click: a write unless declared otherwise
    link = RequestRecord("GET", ISSUE, 200, "document").to_json()
    posted = RequestRecord("POST", f"{SITE}/issues", 303, "document").to_json()
    # Declared read: done again, a message over the socket included (it opens a dialog)...
    assert redoable(read_click, [frames(2)], attempted=True, unknown=False)
    assert not redoable(read_click, [posted], attempted=True, unknown=False)  # ...not a write
    # A write: only on its record's word that it sent the site nothing.
    assert redoable(write_click, [link], attempted=True, unknown=False)  # it followed a link
    assert not redoable(write_click, [frames(1)], attempted=True, unknown=False)
    assert not redoable(write_click, [link, frames(1)], attempted=True, unknown=False)
    assert not redoable(write_click, [], attempted=False, unknown=False)  # no record of it
    assert not redoable(write_click, [link], attempted=True, unknown=True)  # cut short


def test_a_write_that_sent_a_websocket_message_may_have_applied() -> None:
    failed = StepFailure(FailureClass.NO_EFFECT, "x")
    said = outcome()
    said.messages = 1
    assert may_have_applied(failed, said)  # a message has no status: nothing says it was refused
    tallied = outcome(RequestRecord("WS", "ws://x/ws", 101, "websocket", frames_sent=1, frames_received=0))
    assert may_have_applied(failed, tallied)
    assert not may_have_applied(failed, outcome())

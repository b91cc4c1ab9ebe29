"""Real task files, real Chromium, the hostile site: judged against the server's own truth."""

from __future__ import annotations

import asyncio

from app.domain.events import Event, EventType
from app.domain.states import RunStatus
from app.engine.service import control_run
from app.store import handoffs, list_attempts, runs
from tests.integration.engine.conftest import Harness

ADD_NOTE = """
name: add-note
site: SITE
inputs: {title: string}
steps:
  - goto: /notes
  - fill: {target: {label: Title}, value: "{{ title }}"}
  - id: add
    click: {role: button, name: Add note}
    expect:
      after_reload:
        text: {target: {test_id: note, nth: -1}, equals: "{{ title }}"}
"""


async def test_note_is_stored_once_and_the_cookie_banner_is_dismissed(harness: Harness) -> None:
    result = await harness.run(ADD_NOTE, {"title": "Buy milk"})
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = harness.site.truth()
    assert [n["title"] for n in truth["notes"]].count("Buy milk") == 1
    assert truth["note_submissions"]["Buy milk"] == 1
    dismissed = harness.events_of(result.run_id, EventType.OBSTRUCTION_DISMISSED)
    assert dismissed and dismissed[0].data["dismissed"], "the cookie banner was in the way"


async def test_post_500_behind_a_saved_message_fails_as_transient_after_retries(harness: Harness) -> None:
    result = await harness.run(
        """
        name: save-profile
        site: SITE
        policy: {retry: {maximum_attempts: 2, initial_interval: 0.1}}
        steps:
          - goto: /profile
          - fill: {target: {label: Display name}, value: "Ada"}
          - id: save
            click: {role: button, name: Save profile}
            # A 500 may come after the save: sent again only once a reload proves it absent.
            expect:
              after_reload: {value: {target: {label: Display name}, equals: "Ada"}}
        """
    )
    assert result.status is RunStatus.FAILED
    assert result.failure_class == "transient"
    assert "returned 500" in (result.error or "")
    truth = harness.site.truth()
    assert truth["profile_posts"] == 2  # retried once, as declared
    assert truth["profile"]["display_name"] == "Demo User"  # nothing changed server-side
    with harness.db.session(readonly=True) as s:
        step = runs.get_step(s, result.run_id, 2)
        # Three attempts: one blocked by the cookie banner (free), two that reached the server.
        assert step is not None and step.attempts == 3 and step.failure_class == "transient"
    rereads = harness.events_of(result.run_id, EventType.STEP_REREAD)
    # Re-read after the first 500: absent, so sent again; re-read after the last one too (it may
    # have been applied): absent, so the step fails rather than being called done.
    assert [e.data["done"] for e in rereads] == [False, False]


async def test_silently_dropped_form_is_caught_and_not_retried(harness: Harness) -> None:
    result = await harness.run(
        """
        name: silent-drop
        site: SITE
        policy: {ask_on: []}  # stop, don't ask: this test is about catching it
        steps:
          - goto: /notes/drop
          - fill: {target: {label: Title}, value: "Dropped"}
          - click: {role: button, name: Add note}
            expect:
              after_reload:
                goto: /notes
                text: {target: {test_id: note, nth: -1}, equals: "Dropped"}
        """
    )
    assert result.status is RunStatus.FAILED
    assert result.failure_class == "unexpected"
    truth = harness.site.truth()
    assert truth["note_submissions"]["Dropped"] == 1  # a write that "worked" is never blindly redone
    assert "Dropped" not in [n["title"] for n in truth["notes"]]


async def test_validation_error_is_permanent_and_never_retried(harness: Harness) -> None:
    result = await harness.run(
        """
        name: empty-note
        site: SITE
        policy: {retry: {maximum_attempts: 4, initial_interval: 0.1}}
        steps:
          - goto: /notes
          - click: {role: button, name: Add note}
        """
    )
    assert result.status is RunStatus.FAILED
    assert result.failure_class == "permanent"
    assert "422" in (result.error or "")
    assert harness.site.truth()["note_submissions"][""] == 1


async def test_503_then_201_is_retried_with_backoff_and_stored_once(harness: Harness) -> None:
    harness.site.configure(order_503=1, order_429=1)
    result = await harness.run(
        """
        name: place-order
        site: SITE
        policy: {retry: {maximum_attempts: 4, initial_interval: 0.1, maximum_interval: 2}}
        steps:
          - goto: /order
          - fill: {target: {label: Quantity}, value: "3"}
          - id: place
            click: {role: button, name: Place order}
            effect: write  # declared: the approval rules (the word "order") leave it alone
            expect:
              request: {method: POST, url: "**/api/order", status: 201}
        """
    )
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = harness.site.truth()
    assert truth["order_posts"] == 3  # 503, 429, then 201
    assert len(truth["orders"]) == 1
    retries = harness.events_of(result.run_id, EventType.RETRY_SCHEDULED)
    assert [e.data["failure_class"] for e in retries] == ["transient", "transient"]
    assert retries[1].data["delay"] >= 1.0  # the 429's Retry-After: 1 was honoured


async def test_flaky_page_load_is_retried(harness: Harness) -> None:
    harness.site.configure(flaky_failures=2)
    result = await harness.run(
        """
        name: flaky
        site: SITE
        policy: {retry: {maximum_attempts: 3, initial_interval: 0.1}}
        steps:
          - goto: /flaky
          - assert: {title: Inventory}
        """
    )
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["flaky_gets"] == 3


async def test_late_content_and_shifting_layout(harness: Harness) -> None:
    result = await harness.run(
        """
        name: slow-and-shifty
        site: SITE
        steps:
          - goto: /slow
          - extract: {target: {test_id: report}, into: report}
          - goto: /shop
          - click: {test_id: add-headlamp}
            expect:
              text: {target: {role: status}, contains: "Added Headlamp"}
        """
    )
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["cart"] == ["Headlamp"]


async def test_wizard_across_pages(harness: Harness) -> None:
    result = await harness.run(
        """
        name: wizard
        site: SITE
        steps:
          - goto: /wizard
          - fill: {target: {label: Full name}, value: "Grace"}
          - click: {role: button, name: Next}
          - fill: {target: {label: City}, value: "Arlington"}
          - select: {target: {label: Plan}, label: Pro}
          - check: {label: I accept the terms}
          - click: {role: button, name: Finish}
            expect: {url: /wizard/done, text: "Welcome, Grace"}
        """
    )
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert harness.site.truth()["signups"] == [{"name": "Grace", "city": "Arlington", "plan": "Pro"}]


DELETE = """
name: delete-invoice
site: SITE
steps:
  - goto: /items
  - click: {test_id: delete-1}
    effect: read
  - id: confirm
    click: {role: button, name: "Yes, delete"}
    effect: irreversible
    expect:
      after_reload: {goto: /items, hidden: {text: Invoice 1001, exact: true}}
"""


async def test_irreversible_step_waits_for_approval_then_fires_once(harness: Harness) -> None:
    run_id = harness.submit(DELETE)
    first = await harness.engine.run(run_id)
    assert first.status is RunStatus.WAITING
    assert harness.site.truth()["deletions"] == {}  # nothing fired without a yes
    (handoff,) = harness.engine.open_handoffs(run_id)
    assert handoff.kind == "approval" and handoff.payload["summary"].startswith("click")
    assert harness.engine.answer(handoff.id, {"decision": "approve"}, by="tester")
    assert not harness.engine.answer(handoff.id, {"decision": "deny"}, by="tester")  # second answer: no-op
    second = await harness.engine.run(run_id)
    assert second.status is RunStatus.SUCCEEDED, second.error
    assert harness.site.truth()["deletions"] == {"1": 1}


async def test_denied_irreversible_step_never_fires(harness: Harness) -> None:
    run_id = harness.submit(DELETE)
    await harness.engine.run(run_id)
    (handoff,) = harness.engine.open_handoffs(run_id)
    harness.engine.answer(handoff.id, {"decision": "deny"}, by="tester", comment="wrong invoice")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.FAILED and result.failure_class == "denied"
    assert "wrong invoice" in (result.error or "")
    assert harness.site.truth()["deletions"] == {}


async def test_repeating_an_action_that_changes_nothing_asks_then_stops_as_stuck(harness: Harness) -> None:
    steps = "\n".join("  - fill: {target: {label: Title}, value: same}" for _ in range(5))
    run_id = harness.submit(f"name: loop\nsite: SITE\nsteps:\n  - goto: /notes\n{steps}\n")
    waiting = await harness.engine.run(run_id)
    assert waiting.status is RunStatus.WAITING
    (question,) = harness.engine.open_handoffs(run_id)
    assert question.kind == "clarification" and question.payload["reason"] == "stuck"
    assert question.payload["choices"] == ["retry", "skip", "fail", "takeover"]
    assert question.payload["attempts"] and question.payload["screenshot"]
    harness.engine.answer(question.id, {"value": "fail"}, by="tester")
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.FAILED
    assert result.failure_class == "stuck"
    assert "the operator chose to fail it" in (result.error or "")


async def test_budget_max_steps_stops_the_run(harness: Harness) -> None:
    result = await harness.run(
        "name: budget\nsite: SITE\npolicy: {max_steps: 2}\nsteps:\n"
        "  - goto: /notes\n  - goto: /shop\n  - goto: /items\n"
    )
    assert result.status is RunStatus.FAILED and result.failure_class == "budget"


async def test_every_attempt_leaves_evidence(harness: Harness) -> None:
    text = ADD_NOTE.replace("steps:", "policy: {screenshots: all}\nsteps:", 1)
    result = await harness.run(text, {"title": "Evidence"})
    assert result.status is RunStatus.SUCCEEDED
    with harness.db.session(readonly=True) as s:
        attempts = list_attempts(s, result.run_id)
        assert attempts and all(a.screenshot_after for a in attempts)
        click = [a for a in attempts if a.step_index == 2][-1]
        assert any(r["method"] == "POST" and r["status"] == 303 for r in click.requests)
        assert handoffs.list_handoffs(s, run_id=result.run_id, status=None) == []
    shot = harness.engine.artifacts.read(click.screenshot_after)
    assert shot[:3] == b"\xff\xd8\xff"  # a JPEG
    assert harness.engine.verify(result.run_id) is None


async def test_global_concurrency_limit_runs_one_at_a_time(harness: Harness) -> None:
    harness.engine.slots = asyncio.Semaphore(1)
    text = "name: slow\nsite: SITE\nsteps:\n  - goto: /slow\n  - wait_for: {test_id: report}\n"
    first, second = harness.submit(text), harness.submit(text)
    results = await asyncio.gather(harness.engine.run(first), harness.engine.run(second))
    assert [r.status for r in results] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    spans = {}
    for run_id in (first, second):
        statuses = harness.events_of(run_id, EventType.RUN_STATUS)
        start = next(e.at for e in statuses if e.data["to"] == "running")
        end = next(e.at for e in statuses if e.data["to"] == "succeeded")
        spans[run_id] = (start, end)
    (_, a_end), (b_start, _) = sorted(spans.values())
    assert b_start >= a_end, "the second run started before the first finished"


async def test_cancel_from_elsewhere_stops_the_run_at_the_next_step(harness: Harness) -> None:
    run_id = harness.submit(
        "name: cancel-me\nsite: SITE\nsteps:\n  - goto: /slow\n  - wait_for: {test_id: report}\n"
        "  - goto: /notes\n  - fill: {target: {label: Title}, value: never}\n"
        "  - click: {role: button, name: Add note}\n"
    )

    def cancel_after_first_step(event: Event) -> None:
        if event.run_id == run_id and event.type == EventType.STEP_FINISHED and event.data["index"] == 0:
            control_run(harness.db, run_id, RunStatus.CANCELLED, "operator changed their mind")

    harness.engine.sinks.append(cancel_after_first_step)
    result = await harness.engine.run(run_id)
    assert result.status is RunStatus.CANCELLED
    assert harness.site.truth()["note_submissions"] == {}
    assert harness.engine.verify(run_id) is None

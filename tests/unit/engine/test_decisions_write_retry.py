"""The write-retry rules (README "Retries follow the same rules"), decided on a scripted page:
a write turned away (connection refused, 429, 503) is sent again; one that may have been
applied (500, a reset connection) is re-read before anything else — done if its re-read finds
it, sent again only when the re-read finds it absent, a person asked when nothing can re-read
it; an irreversible step is never sent again without a person. The real-Chromium rows are in
tests/integration/engine/test_write_retry_table.py; these judge the same decisions by the
scripted site's counts (comments received, comments stored) and the run's record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from app.domain.events import EventType
from app.domain.states import RunStatus
from app.store.models import Handoff
from tests.helpers.scripted_browser import Element, Reply, ScriptedSession, button, by_test_id, label, textbox
from tests.unit.engine.conftest import Scripted

POLICY = "policy: {retry: {maximum_attempts: 3, initial_interval: 0.01, maximum_interval: 0.02}}\n"
STEPS = """steps:
  - goto: /issues/1
  - fill: {target: {label: Comment}, value: Toner replaced}
  - id: comment
    click: {role: button, name: Add comment}
"""
REREAD = "    expect: {after_reload: {text: {target: {test_id: comment, nth: -1}, equals: Toner replaced}}}\n"
EFFECTS = {
    "write": "    effect: write\n" + REREAD,
    "blind": "    effect: write\n",
    "irreversible": "    effect: irreversible\n" + REREAD,
}
COMMENT = 2  # the step's index

RESENT = "re-sent"
DONE = "done, not re-sent"
ASKED = "verification handoff"
FAILS = "fails"


@dataclass
class Seen:
    run_id: str
    status: RunStatus
    failure_class: str | None
    asked: list[Handoff]  # open handoffs other than approvals
    attempts: int  # of the comment step
    reread: list[bool]  # each re-read of the step: done?
    posts: int  # comment posts the site received
    stored: int  # comments it stored


def tracker(scripted: Scripted, *replies: Reply) -> None:
    """An issue page with a comment form; each post meets the next reply."""
    site = scripted.site
    site.state["comments"] = []

    def render(state: dict[str, list[str]]) -> dict[str, Element]:
        shown = {
            label("Comment"): textbox(),
            button("Add comment"): Element(form_method="POST", form_action="/issues/1"),
        }
        if state["comments"]:
            shown[by_test_id("comment")] = Element(text=state["comments"][-1], tag="li", role="listitem")
        return shown

    def add(state: dict[str, list[str]], page: ScriptedSession) -> None:
        state["comments"].append(page.value(label("Comment")))

    site.page("/issues/1", render)
    site.on_click(button("Add comment"), add, *replies)


async def drive(scripted: Scripted, effect: str, *replies: Reply) -> Seen:
    """Run the task; approve the irreversible step whenever it asks."""
    tracker(scripted, *replies)
    run_id = scripted.submit("name: comment\nsite: SITE\n" + POLICY + STEPS + EFFECTS[effect])
    result = await scripted.engine.run(run_id)
    while result.status is RunStatus.WAITING:
        approvals = [h for h in scripted.engine.open_handoffs(run_id) if h.kind == "approval"]
        if not approvals:
            break
        scripted.engine.answer(approvals[0].id, {"decision": "approve"}, by="tester")
        result = await scripted.engine.run(run_id)
    return seen(scripted, run_id, result)


def seen(scripted: Scripted, run_id: str, result: Any) -> Seen:
    return Seen(
        run_id=run_id,
        status=result.status,
        failure_class=result.failure_class,
        asked=[h for h in scripted.engine.open_handoffs(run_id) if h.kind != "approval"],
        attempts=len(scripted.attempts(run_id, COMMENT)),
        reread=[e.data["done"] for e in scripted.events_of(run_id, EventType.STEP_REREAD)],
        posts=scripted.site.posts("/issues/1"),
        stored=len(scripted.site.state["comments"]),
    )


def check(seen: Seen, happens: str, *, posts: int, stored: int) -> None:
    assert (seen.posts, seen.stored) == (posts, stored), "the site's counts"
    if happens == RESENT:
        assert seen.status is RunStatus.SUCCEEDED and not seen.asked
        assert seen.attempts == 2  # the attempt that failed, and the one sent again
    elif happens == DONE:
        assert seen.status is RunStatus.SUCCEEDED and not seen.asked
        assert seen.attempts == 1 and seen.reread == [True]  # proven by re-reading it
    elif happens == ASKED:
        assert seen.status is RunStatus.WAITING and seen.attempts == 1
        (asked,) = seen.asked
        assert asked.kind == "verification" and asked.question.endswith("Did it happen?")
        assert asked.payload["choices"] == ["done", "not_done"]
    else:
        assert happens == FAILS
        assert seen.status is RunStatus.FAILED and seen.failure_class == "transient"
        assert seen.attempts == 1 and not seen.asked


REFUSED = Reply(None, failure="net::ERR_CONNECTION_REFUSED")
STORED = Reply(303)


# ----------------------------------------------------------------- nothing was applied
@pytest.mark.parametrize(
    "turned_away", [REFUSED, Reply(429), Reply(503)], ids=["connection refused", "429", "503"]
)
@pytest.mark.parametrize(
    ("effect", "happens", "stored"),
    [("write", RESENT, 1), ("blind", RESENT, 1), ("irreversible", FAILS, 0)],
)
async def test_a_write_turned_away_is_sent_again_unless_irreversible(
    scripted: Scripted, turned_away: Reply, effect: str, happens: str, stored: int
) -> None:
    result = await drive(scripted, effect, turned_away, STORED)
    reached = 0 if turned_away is REFUSED else 1  # a refused connection reached no server
    check(result, happens, posts=reached + stored, stored=stored)
    assert result.reread == []  # nothing to find out: the site said it did not apply it


# ----------------------------------------------------------------- it may have been applied
MAY_HAVE = [Reply(500), Reply(None, failure="net::ERR_CONNECTION_RESET")]


@pytest.mark.parametrize("answer", MAY_HAVE, ids=["500", "reset"])
@pytest.mark.parametrize(("effect", "happens"), [("write", DONE), ("blind", ASKED), ("irreversible", DONE)])
async def test_a_write_the_site_applied_is_found_by_re_reading(
    scripted: Scripted, answer: Reply, effect: str, happens: str
) -> None:
    applied = Reply(answer.status, failure=answer.failure, applied=True)
    result = await drive(scripted, effect, applied, STORED)
    check(result, happens, posts=1, stored=1)
    if happens == DONE:
        step = scripted.step(result.run_id, COMMENT)
        assert step.evidence["checks"] and all(c["ok"] for c in step.evidence["checks"])


@pytest.mark.parametrize("answer", MAY_HAVE, ids=["500", "reset"])
@pytest.mark.parametrize(
    ("effect", "happens"), [("write", RESENT), ("blind", ASKED), ("irreversible", ASKED)]
)
async def test_a_write_the_site_did_not_apply_is_sent_again_only_once_re_read(
    scripted: Scripted, answer: Reply, effect: str, happens: str
) -> None:
    result = await drive(scripted, effect, answer, STORED)
    posts = 2 if happens == RESENT else 1
    check(result, happens, posts=posts, stored=posts - 1)
    if effect != "blind":
        assert result.reread == [False]  # the re-read found it absent (then sent again, or asked)
    else:
        assert result.reread == []  # nothing re-reads it: a person says
        assert "no after_reload" in result.asked[0].payload["reason"]


async def test_an_irreversible_step_not_done_is_sent_again_only_under_a_fresh_approval(
    scripted: Scripted,
) -> None:
    result = await drive(scripted, "irreversible", Reply(500), STORED)
    (asked,) = result.asked
    assert asked.payload["checks"] and not all(c["ok"] for c in asked.payload["checks"])  # what it found
    scripted.engine.answer(asked.id, {"decision": "deny"}, by="tester")  # "not done"
    again = await scripted.engine.run(result.run_id)
    assert again.status is RunStatus.WAITING and scripted.site.posts("/issues/1") == 1
    (approval,) = scripted.engine.open_handoffs(result.run_id)
    assert approval.kind == "approval"
    scripted.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    done = await scripted.engine.run(result.run_id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert scripted.site.posts("/issues/1") == 2 and scripted.site.state["comments"] == ["Toner replaced"]
    assert scripted.engine.verify(result.run_id) is None

"""Takeover is a clean handover of control (issue 13, part 5): once a person has asked for the page,
the engine performs no further action on it — no cookie banner dismissed, no next attempt — and
never opens an intent under a person's control. The attempt in flight is closed in the record."""

from __future__ import annotations

from typing import Any

from app.domain.events import Event
from app.domain.states import RunStatus
from app.store import list_events

from tests.integration.engine.conftest import Harness

NOTE = """
name: note-behind-a-banner
site: SITE
steps:
  - goto: /notes
  - fill: {target: {label: Title}, value: Taken over}
  - id: add
    click: {role: button, name: Add note}
    effect: write
"""


async def test_a_takeover_mid_step_stops_the_engine_before_its_next_action(harness: Harness) -> None:
    harness.site.configure(cookie_banner=True)  # the first click is intercepted by the banner
    taken: list[str] = []

    def take_over_when_obstructed(event: Event) -> None:
        # The person presses "Take over" right as the banner swallowed the click: the engine
        # would dismiss it and try again next.
        if event.type == "attempt.finished" and event.data.get("failure_class") == "obstruction" and not taken:
            taken.append(harness.engine.take_over(event.run_id, by="ada"))

    harness.engine.sinks.append(take_over_when_obstructed)
    run_id = harness.submit(NOTE)
    result = await harness.engine.run(run_id)

    assert taken, "no click was obstructed: the test needs the banner"
    assert result.status is RunStatus.WAITING
    with harness.db.session(readonly=True) as s:
        events: list[Any] = list_events(s, run_id)  # the record, whoever wrote each event
    kinds = [e.type for e in events]
    after = kinds[kinds.index("takeover.started") :]
    assert "obstruction.dismissed" not in after, kinds
    assert "action.intent" not in after and "attempt.started" not in after, kinds
    # Every intent opened before the takeover is closed: its attempt is finished in the record.
    intents = {(e.data["step"], e.data["attempt"]) for e in events if e.type == "action.intent"}
    finished = {(e.data["step"], e.data["attempt"]) for e in events if e.type == "attempt.finished"}
    assert intents <= finished, (intents, finished)
    assert harness.site.truth()["note_submissions"] == {}
    (handoff,) = harness.engine.open_handoffs(run_id)
    assert handoff.kind == "takeover" and handoff.id == taken[0]

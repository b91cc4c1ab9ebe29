"""Where a run's page is rebuilt from: after a crash, after signing in again, before a retry.

The page a step needs is where the completed steps before it left it. Steps that changed
nothing on the server are done again (navigation, fills, read clicks: they rebuild the form
state a crash threw away); steps that changed the server, or may have, are never redone — a
write request, or a step not declared `read` whose record does not prove it sent nothing (a
message over a WebSocket is a write) — so the page one of them led to is opened by its
address, as the record kept it. The rebuild therefore starts at the last completed step that
put the page somewhere by itself — a `goto`, or a write that loaded another page — and replays
only the read steps after it. Every step done again is recorded (`step.replayed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.domain.task import Action, Effect, Step
from app.engine.ports import RequestRecord


@dataclass(frozen=True)
class Completed:
    """What the record says about one completed step."""

    index: int
    replayable: bool  # doing it again changes nothing on the server (evidence: it sent nothing)
    navigated: bool  # it left the page on another document than the one it found
    left_url: str | None  # where the page was when the step completed


@dataclass(frozen=True)
class PagePlan:
    """Open `url` (where step `origin` left the page), then walk steps `start`…end-1: each in
    `replay` is done again, the others are skipped."""

    start: int
    replay: frozenset[int]
    url: str | None = None
    origin: int | None = None


def plan_page(steps: Sequence[Step], completed: Sequence[Completed], end: int) -> PagePlan:
    """The rebuild of the page step `end` starts from. `completed`: steps 0…end-1, in order."""
    if end < len(steps) and steps[end].action is Action.GOTO:
        return PagePlan(start=end, replay=frozenset())  # it opens its page itself
    # Assertions and extracts leave the page as they found it (outputs are checkpointed).
    replay = frozenset(
        c.index
        for c in completed
        if c.replayable and c.index < end and steps[c.index].action not in (Action.ASSERT, Action.EXTRACT)
    )
    for done in reversed([c for c in completed if c.index < end]):
        if done.replayable and steps[done.index].action is Action.GOTO:
            return PagePlan(start=done.index, replay=replay)
        if not done.replayable and done.navigated and usable(done.left_url):
            return PagePlan(start=done.index + 1, replay=replay, url=done.left_url, origin=done.index)
    return PagePlan(start=0, replay=replay)


def redoable(step: Step, requests: Sequence[Mapping[str, Any]], *, attempted: bool, unknown: bool) -> bool:
    """Whether doing a completed step again changes nothing on the server, by its record:
    `requests`, what all its attempts sent (as recorded); `attempted`: it has attempts on
    record; `unknown`: one of them was cut short after it was sent.

    A step declared `read` is done again unless it sent a write request all the same (opening a
    dialog of a page driven over a WebSocket is a message too, and safe to send again). Any
    other step only on evidence that it sent the site nothing: attempts recorded, none with a
    write request or a WebSocket message (a `write` click that only followed a link). A message
    is a write whose effect only the site knows."""
    if step.action is Action.ASK or step.effect is Effect.IRREVERSIBLE or unknown:
        return False
    # Only a write to the site under test counts (a third-party or background one changed
    # nothing there).
    if any(RequestRecord.from_json(dict(r)).changes_the_site for r in requests):
        return False
    if step.effect is Effect.READ:
        return True
    return attempted and not any(r.get("frames_sent") for r in requests)


def usable(url: str | None) -> bool:
    """An address that can be opened again (not an error page or a blank one)."""
    return bool(url) and str(url).startswith(("http://", "https://", "file://"))


def url_of(fingerprint: str | None) -> str | None:
    """The URL of a short fingerprint (`URL#hash8`, see ports.Fingerprint.short)."""
    if not fingerprint:
        return None
    url, sep, _ = fingerprint.rpartition("#")
    return url if sep else fingerprint

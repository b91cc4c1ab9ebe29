"""Where a run's page is rebuilt from: after a crash, after signing in again, before a retry.

The page a step needs is where the completed steps before it left it. Steps that changed
nothing on the server are done again (navigation, fills, read clicks: they rebuild the form
state a crash threw away); steps that changed the server are never redone, so the page one of
them led to is opened by its address, as the record kept it. The rebuild therefore starts at
the last completed step that put the page somewhere by itself — a `goto`, or a write that
loaded another page — and replays only the read steps after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.task import Action, Step


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


def usable(url: str | None) -> bool:
    """An address that can be opened again (not an error page or a blank one)."""
    return bool(url) and str(url).startswith(("http://", "https://", "file://"))


def url_of(fingerprint: str | None) -> str | None:
    """The URL of a short fingerprint (`URL#hash8`, see ports.Fingerprint.short)."""
    if not fingerprint:
        return None
    url, sep, _ = fingerprint.rpartition("#")
    return url if sep else fingerprint

"""The rule that tells a page's repeating timer from what a step's action sends, on initiator
stacks shaped as Chromium reports them (app/browser/parties.py has the measured table; the
integration tests in tests/integration/browser/test_background.py run it in Chromium)."""

from __future__ import annotations

from typing import Any

from app.browser.parties import repeating_timer


def frame(name: str, script: str = "7") -> dict[str, Any]:
    return {"functionName": name, "scriptId": script, "url": "https://shop.example.com/", "lineNumber": 3}


def stack(*parts: tuple[str | None, list[dict[str, Any]]]) -> dict[str, Any]:
    """Innermost first: (description of the async boundary above it, its frames)."""
    node: dict[str, Any] | None = None
    for description, frames in reversed(parts):
        node = {"callFrames": frames, **({"parent": node} if node else {})}
        if description:
            node["description"] = description
    assert node is not None
    return {"type": "script", "stack": node}


def test_only_a_timer_that_repeats_is_the_pages_own() -> None:
    heartbeat = stack((None, [frame("ping")]), ("setInterval", [frame("")]))
    assert repeating_timer(heartbeat)
    after_awaits = stack(
        (None, [frame("")]),
        ("await", [frame("send")]),
        ("await", [frame("ping")]),
        ("setInterval", [frame("")]),
    )
    assert repeating_timer(after_awaits)
    loop = stack((None, [frame("tick")]), ("setTimeout", [frame("tick")]), ("setTimeout", [frame("")]))
    assert repeating_timer(loop)
    # What a step's action sends: its handler, a timer the handler set, a debounced listener.
    assert not repeating_timer(stack((None, [frame("onclick")])))
    assert not repeating_timer(stack((None, [frame("")]), ("setTimeout", [frame("onclick")])))
    assert not repeating_timer(stack((None, [frame("")]), ("setTimeout", [frame("")])))
    async_handler = stack((None, [frame("save")]), ("await", [frame("save")]))
    assert not repeating_timer(async_handler)
    # The loop's first run: set from the page's own script, not yet a loop.
    assert not repeating_timer(stack((None, [frame("tick")]), ("setTimeout", [frame("")])))
    # The same name in another script is another function.
    other = stack((None, [frame("tick", "7")]), ("setTimeout", [frame("tick", "9")]))
    assert not repeating_timer(other)
    assert not repeating_timer({"type": "other"})  # a form the click submitted

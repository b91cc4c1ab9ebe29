"""The rule that tells a page's repeating timer from what a step's action sends, on initiator
stacks shaped as Chromium reports them (app/browser/parties.py has the measured table; the
integration tests in tests/integration/browser/test_background.py run it in Chromium)."""

from __future__ import annotations

import time
from typing import Any

from app.browser.parties import FORGET_S, Initiators, repeating_timer


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


class Sent:
    """A request as Playwright reports it (method and URL are all the matching reads)."""

    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url


def reported(initiators: Initiators, method: str, url: str, initiator: dict[str, Any]) -> None:
    initiators._on_sent({"request": {"method": method, "url": url}, "initiator": initiator})


HEARTBEAT = stack((None, [frame("ping")]), ("setInterval", [frame("")]))
HANDLER = stack((None, [frame("onclick")]))


def test_chromiums_word_is_matched_in_order_and_never_when_stale(monkeypatch: Any) -> None:
    initiators = Initiators()
    url = "https://shop.example.com/api/save"
    reported(initiators, "POST", url, HANDLER)
    reported(initiators, "POST", url, stack((None, [frame("")]), ("setTimeout", [frame("")])))
    first, second, third = Sent("POST", url), Sent("POST", url), Sent("POST", url)
    assert initiators.repeating(first) is False and initiators.repeating(first) is False
    assert initiators.repeating(second) is False
    assert initiators.repeating(third) is None  # Chromium has not said (yet)
    reported(initiators, "POST", url, HANDLER)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + FORGET_S + 1)
    assert initiators.repeating(third) is None  # an old word is not this request's


def test_a_request_the_page_sent_from_a_repeating_timer_stays_the_pages_own() -> None:
    """Sent again with no async stack (the page came back in another renderer process), the
    heartbeat is still the page's; a one-off POST elsewhere is not."""
    initiators = Initiators()
    ping = "https://shop.example.com/editing/ping"
    reported(initiators, "POST", ping + "?t=1", HEARTBEAT)
    assert initiators.repeating(Sent("POST", ping + "?t=1")) is True
    reported(initiators, "POST", ping + "?t=2", stack((None, [frame("ping")])))
    assert initiators.repeating(Sent("POST", ping + "?t=2")) is True
    assert initiators.repeating(Sent("POST", ping + "?t=3")) is True  # before Chromium's word
    save = "https://shop.example.com/editing/save"
    reported(initiators, "POST", save, HANDLER)
    assert initiators.repeating(Sent("POST", save)) is False
    assert initiators.repeating(Sent("PUT", ping)) is None  # another method is another request

"""Operator input during a takeover: it really reaches the page (over CDP), and its record never
holds what was typed into a password or secret field."""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_asyncio
from browser_support import act

from app.browser import PlaywrightSession
from app.engine.ports import InputEvent

PAGE = """<!doctype html><title>Takeover</title>
<style>body { margin: 0; height: 3000px } button, input { display: block; margin: 20px }</style>
<button id=go onclick="this.textContent = 'Clicked ' + event.detail">Go</button>
<input id=name aria-label=Name>
<input id=pw type=password aria-label=Password>
<input id=code name=otp aria-label=Code>
<p id=log></p>
<script>
const log = [];
for (const type of ['mousedown', 'mousemove', 'mouseup', 'contextmenu', 'keydown']) {
  addEventListener(type, (e) => {
    log.push(type + ':' + (e.buttons ?? '') + ':' + (e.key ?? ''));
    document.getElementById('log').textContent = log.join(' ');
  });
}
addEventListener('contextmenu', (e) => e.preventDefault());
</script>"""


@pytest_asyncio.fixture(loop_scope="session")
async def page_url(static_site: Any, static_session: PlaywrightSession) -> str:
    url = static_site.add("/takeover", PAGE)
    await act(static_session, "goto", url)
    return url


async def centre(session: PlaywrightSession, selector: str) -> tuple[float, float]:
    box = await session.page.locator(selector).bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


async def test_click_reaches_the_page_and_is_recorded(
    static_session: PlaywrightSession, page_url: str
) -> None:
    x, y = await centre(static_session, "#go")
    record = await static_session.send_input(InputEvent(kind="click", x=x, y=y))
    assert record == {"kind": "click", "x": x, "y": y, "button": "left"}
    assert await static_session.page.text_content("#go") == "Clicked 1"  # one click, not two


async def test_typing_is_recorded_except_into_secret_fields(
    static_session: PlaywrightSession, page_url: str
) -> None:
    page = static_session.page
    for selector in ("#name", "#pw", "#code"):
        x, y = await centre(static_session, selector)
        await static_session.send_input(InputEvent(kind="click", x=x, y=y))
        await page.wait_for_function(
            "(s) => document.activeElement === document.querySelector(s)", arg=selector
        )
        typed = await static_session.send_input(InputEvent(kind="type", text="hunter2"))
        key = await static_session.send_input(InputEvent(kind="key", key="x"))
        enter = await static_session.send_input(InputEvent(kind="key", key="Tab"))
        # Really typed, whatever the record says.
        assert await page.input_value(selector) == "hunter2x"
        if selector == "#name":
            assert typed == {"kind": "type", "text": "hunter2"}
            assert key == {"kind": "key", "key": "x"}
        else:
            assert typed == {"kind": "type", "text": "••••", "redacted": True}
            assert key == {"kind": "key", "key": "••••", "redacted": True}
            assert "hunter2" not in json.dumps([typed, key])
        assert enter == {"kind": "key", "key": "Tab"}  # which key, not what it typed


async def test_drag_right_click_and_wheel(static_session: PlaywrightSession, page_url: str) -> None:
    page = static_session.page
    await static_session.send_input(InputEvent(kind="down", x=300, y=400))
    moved = await static_session.send_input(InputEvent(kind="move", x=320, y=410))
    await static_session.send_input(InputEvent(kind="up", x=320, y=410))
    assert moved == {"kind": "move", "x": 320, "y": 410}
    await static_session.send_input(InputEvent(kind="click", x=300, y=400, button="right"))
    await page.wait_for_function("document.getElementById('log').textContent.includes('contextmenu')")
    log = (await page.text_content("#log") or "").split()
    # The move between down and up carried the pressed button: a drag, not a hover.
    assert log[:3] == ["mousedown:1:", "mousemove:1:", "mouseup:0:"]
    assert "contextmenu:2:" in log

    wheel = await static_session.send_input(InputEvent(kind="wheel", x=300, y=300, delta_y=400))
    assert wheel == {"kind": "wheel", "x": 300, "y": 300, "delta_x": 0.0, "delta_y": 400}
    await page.wait_for_function("window.scrollY > 0")


async def test_pointer_events_need_a_position(static_session: PlaywrightSession, page_url: str) -> None:
    with pytest.raises(ValueError):
        await static_session.send_input(InputEvent(kind="click"))

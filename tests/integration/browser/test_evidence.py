"""Evidence: recorded requests, fingerprints, screenshots."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import act, build_step, check, differing_pixels, expect_ok

from app.browser import PlaywrightProvider, PlaywrightSession


async def test_fetch_post_recorded_with_its_status(session: PlaywrightSession, site: Any) -> None:
    await act(session, "goto", "/profile")
    outcome = await act(session, "click", {"role": "button", "name": "Save profile"})
    [post] = outcome.mutating_requests
    assert (post.method, post.url, post.status) == ("POST", site.url + "/api/profile", 500)
    assert post.resource_type == "fetch"
    assert post.failed and post.duration_ms is not None
    assert outcome.main_status is None  # no navigation happened
    assert site.truth()["profile_posts"] == 1


async def test_retry_after_is_parsed_from_a_429(session: PlaywrightSession, site: Any) -> None:
    site.configure(order_429=1)
    await act(session, "goto", "/order")
    outcome = await act(session, "click", {"role": "button", "name": "Place order"})
    [post] = outcome.mutating_requests
    assert (post.status, post.retry_after) == (429, 1.0)


async def test_a_late_request_still_lands_in_the_outcome(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    static_site.add("/api/late", "{}")
    url = static_site.add(
        "/late",
        """<button onclick="setTimeout(() =>
        fetch('/api/late', {method: 'POST'}), 400)">Later</button>
        <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">""",
    )
    await act(static_session, "goto", url)
    outcome = await act(static_session, "click", {"role": "button", "name": "Later"})
    await expect_ok(static_session, {"request": {"method": "POST", "url": "/api/late"}}, outcome)
    assert [r.url for r in outcome.requests] == [static_site.url + "/api/late"]  # no data: URL


async def test_fingerprint_tracks_content_not_noise(session: PlaywrightSession) -> None:
    await act(session, "goto", "/shop")
    await session.page.wait_for_selector("[data-testid=promo]")  # the layout shift is done
    first = await session.fingerprint()
    # Wait for the next re-render: the product nodes are replaced by identical new ones.
    node = await session.page.query_selector("[data-testid=add-bottle]")
    assert node is not None
    await session.page.wait_for_function("el => !el.isConnected", arg=node)
    await node.dispose()
    assert await session.fingerprint() == first
    await act(session, "click", {"test_id": "add-bottle"})
    changed = await session.fingerprint()
    assert changed != first and changed.url == first.url  # "Added Water Bottle"


async def test_fingerprint_sees_form_values_but_not_passwords(
    session: PlaywrightSession,
) -> None:
    await act(session, "goto", "/login")
    empty = await session.fingerprint()
    outcome = await act(session, "fill", {"target": {"label": "Username"}, "value": "demo"})
    assert outcome.before == empty and outcome.changed
    outcome = await act(session, "fill", {"target": {"label": "Password"}, "value": "one"})
    assert outcome.changed  # a password being typed is a change…
    outcome = await act(session, "fill", {"target": {"label": "Password"}, "value": "two"})
    assert not outcome.changed  # …but its value is not part of the fingerprint


async def test_screenshot_is_a_masked_jpeg(
    shared_provider: PlaywrightProvider, session: PlaywrightSession
) -> None:
    await act(session, "goto", "/login")
    await act(session, "fill", {"target": {"label": "Password"}, "value": "hunter2hunter2"})
    box = await session.page.get_by_label("Password").bounding_box()
    assert box is not None
    shot = await session.screenshot()
    assert shot[:3] == b"\xff\xd8\xff"  # JPEG
    # The middle of the password field is painted solid magenta: no character of it is there.
    width, (red, green, blue, _) = await pixel_at(shared_provider, shot, box)
    assert width == 1280
    assert red > 200 and green < 60 and blue > 200


async def test_a_card_number_is_masked_in_screenshots_like_in_previews(
    shared_provider: PlaywrightProvider, session: PlaywrightSession
) -> None:
    # Not a password field: `autocomplete="cc-number"` makes it secret (masking.py), and what a
    # preview's values table masks, a screenshot must not show either (G7).
    await act(session, "goto", "/checkout")
    await act(session, "fill", {"target": {"label": "Card number"}, "value": "4111 1111 1111 1111"})
    box = await session.page.get_by_label("Card number").bounding_box()
    assert box is not None
    _, (red, green, blue, _) = await pixel_at(shared_provider, await session.screenshot(), box)
    assert red > 200 and green < 60 and blue > 200


async def test_a_field_typed_from_a_credential_renders_like_a_password_in_the_live_page(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    # What the live view shows is the page as Chromium renders it (CDP screencast), not a masked
    # screenshot: the field itself must show discs, as a password field holding the value does.
    style = "font: 24px monospace; width: 420px; height: 44px; border: 1px solid #888; padding: 4px"
    static_site.add(
        "/three",
        "".join(
            f'<p><label for="{name.lower()}">{name}</label><br>'
            f'<input id="{name.lower()}" type="{kind}" style="{style}"></p>'
            for name, kind in (("Account", "text"), ("Password", "password"), ("Plain", "text"))
        ),
    )
    await act(static_session, "goto", "/three")
    value = "ada.lovelace@example.com"
    # As the engine hands a credential's fill to the browser: the reference, and the value read now.
    typed = build_step("fill", {"target": {"label": "Account"}, "secret": "shop.username"})
    typed = typed.model_copy(update={"args": typed.args.model_copy(update={"value": value})})
    await static_session.act(typed, timeout=5)
    await act(static_session, "fill", {"target": {"label": "Password"}, "value": value})
    await act(static_session, "fill", {"target": {"label": "Plain"}, "value": value})
    page = static_session.page
    await page.evaluate("document.activeElement.blur()")  # no focus ring on the last one filled
    account, password, plain = [
        await page.locator(f"#{n}").screenshot() for n in ("account", "password", "plain")
    ]
    # Discs like the password field's (here pixel for pixel; a margin for other font set-ups),
    # not the text the same value shows as when typed by hand.
    like_password = await differing_pixels(page, account, password)
    like_text = await differing_pixels(page, account, plain)
    assert 0 <= like_password * 5 < like_text, (like_password, like_text)
    print("PIX", like_password, like_text)
    assert await page.locator("#account").input_value() == value  # the page still holds the value


async def pixel_at(provider: PlaywrightProvider, shot: bytes, box: Any) -> Any:
    """Decode a JPEG in a browser and read the pixel just inside the left of `box`."""
    viewer = await provider.open_session(base_url=None, timeout=5)
    try:
        data = base64.b64encode(shot).decode()
        pixel = await viewer.page.evaluate(
            """async ([src, x, y]) => {
                const img = new Image(); img.src = src; await img.decode();
                const c = document.createElement('canvas');
                c.width = img.width; c.height = img.height;
                const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                return [img.width, Array.from(g.getImageData(x, y, 1, 1).data)];
            }""",
            [f"data:image/jpeg;base64,{data}", int(box["x"] + 8), int(box["y"] + box["height"] / 2)],
        )
    finally:
        await viewer.close()
    return pixel


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/poll"


CHAINED = """<button id=save>Save</button><ul id=list></ul><p id=clock>tick</p>
<script>
document.getElementById('save').addEventListener('click', async () => {
  await fetch('/api/save', {method: 'POST'});              // save…
  const r = await fetch('/api/list');                      // …then reload the list
  const items = await r.json();
  document.getElementById('list').innerHTML = items.map((i) => '<li>' + i + '</li>').join('');
});
document.getElementById('clock').addEventListener('click', () => {
  document.getElementById('clock').textContent = 'ticked';
});
</script>"""


async def test_act_waits_for_chained_requests_and_their_handlers(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    static_site.add("/api/save", "{}")
    static_site.add("/api/list", '["milk", "eggs"]')
    await act(static_session, "goto", static_site.add("/chained", CHAINED))
    outcome = await act(static_session, "click", {"css": "#save"})
    assert [(r.method, r.url.removeprefix(static_site.url)) for r in outcome.requests] == [
        ("POST", "/api/save"),
        ("GET", "/api/list"),
    ]
    # `after` was read once the page had used the second response.
    [ok] = await check(static_session, {"count": {"target": {"css": "li"}, "equals": 2}})
    assert ok.ok and outcome.changed
    assert outcome.after == await static_session.fingerprint()


async def test_a_request_left_open_before_the_action_does_not_slow_it(
    static_session: PlaywrightSession, static_site: Any, silent_url: str
) -> None:
    page = CHAINED + f"<script>fetch('{silent_url}', {{mode: 'no-cors'}})</script>"
    await static_session.goto(static_site.add("/polling", page), timeout=5)
    started = time.monotonic()
    outcome = await act(static_session, "click", {"css": "#clock"})
    # Waiting on the open request would take the full 2 s read-wait cap.
    assert time.monotonic() - started < 1.5
    assert outcome.changed and outcome.requests == []


async def test_a_slow_mutating_request_is_waited_for(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    # Slower than the cap for reads: a write's status decides the step, so act waits for it.
    static_site.add("/api/pay", "{}", status=502, delay=2.3)
    url = static_site.add("/pay", "<button onclick=\"fetch('/api/pay', {method: 'POST'})\">Pay</button>")
    await act(static_session, "goto", url)
    outcome = await act(static_session, "click", {"role": "button", "name": "Pay"}, timeout=5)
    assert [(r.method, r.status) for r in outcome.requests] == [("POST", 502)]

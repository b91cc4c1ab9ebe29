"""The provider: one browser shared by concurrent runs, one isolated context per run.

These use the plain `provider` fixture (a fresh provider per test, as the engine's tests do).
"""

from __future__ import annotations

import asyncio
from typing import Any

from browser_support import act, check

from app.browser import PlaywrightProvider
from app.domain.errors import FailureClass, StepFailure


async def test_concurrent_sessions_share_one_browser_and_are_isolated(
    provider: PlaywrightProvider, hostile_site: Any
) -> None:
    sessions = await asyncio.gather(
        *(provider.open_session(base_url=hostile_site.url, timeout=10) for _ in range(3))
    )
    assert provider.browser_info is not None
    first, second, third = sessions
    # Consent given in one run's context does not leak into another's.
    await act(first, "goto", "/notes")
    assert await first.dismiss_obstructions([]) == ['cookie banner: clicked "Accept all"']
    await act(first, "goto", "/notes")
    await act(second, "goto", "/notes")
    [banner_first] = await check(first, {"hidden": {"css": "#cookie-banner"}}, timeout=0.2)
    [banner_second] = await check(second, {"visible": {"css": "#cookie-banner"}}, timeout=0.2)
    assert banner_first.ok and banner_second.ok
    assert first.url == second.url == hostile_site.url + "/notes"
    assert await third.screenshot()  # screenshots are on by default

    await provider.close()  # closes every session too
    try:
        await act(second, "goto", "/shop")
    except StepFailure as failure:
        assert failure.failure_class is FailureClass.TRANSIENT
        assert failure.details.get("session_closed") is True
    else:
        raise AssertionError("a closed session must not act")


async def test_screenshots_can_be_turned_off(static_site: Any) -> None:
    provider = PlaywrightProvider(screenshots=False)
    try:
        session = await provider.open_session(base_url=static_site.url, timeout=5)
        await act(session, "goto", static_site.add("/", "<p>hello</p>"))
        assert await session.screenshot() == b""
    finally:
        await provider.close()

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


def _browser_nice_values(executable: str) -> list[int]:
    import os

    from app.browser.priority import _descendants

    target = os.path.realpath(executable)
    found = []
    for pid in _descendants(os.getpid()):
        try:
            if os.path.realpath(f"/proc/{pid}/exe") == target:
                found.append(os.getpriority(os.PRIO_PROCESS, pid))
        except OSError:
            continue
    return found


async def test_the_consoles_browser_runs_below_its_window_and_its_pages_too(hostile_site: Any) -> None:
    """Lowered: the browser, its zygote, and the renderers of pages opened afterwards (they come
    from the zygote); the console's own process keeps its priority."""
    import os

    lowered = PlaywrightProvider(niceness=8)
    try:
        first = await lowered.open_session(base_url=hostile_site.url, timeout=10)
        await act(first, "goto", "/notes")
        later = await lowered.open_session(base_url=hostile_site.url, timeout=10)
        await act(later, "goto", "/shop")  # a renderer started after the lowering
        assert lowered.browser_info is not None
        path = lowered.browser_info.path
        # Chromium sets a new renderer's priority itself (to 0 or 5; as root it may): the
        # provider lowers it again within a second.
        async with asyncio.timeout(10):
            while min(values := _browser_nice_values(path)) < 8:
                await asyncio.sleep(0.05)
        assert len(values) >= 4, values  # browser, zygotes, renderers, gpu…
        assert os.getpriority(os.PRIO_PROCESS, 0) == 0
    finally:
        await lowered.close()

"""Shared pieces for the browser tests.

Starting Playwright's driver and Chromium costs ~1.5 s, so these tests share one provider for the
whole test session (each test still gets its own context: isolation is per context). Tests that
use it run in the session's event loop, which the provider's objects belong to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from app.browser import PlaywrightProvider, PlaywrightSession


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if "shared_provider" in getattr(item, "fixturenames", ()):
            item.add_marker(session_loop, append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_provider() -> AsyncIterator[PlaywrightProvider]:
    browser = PlaywrightProvider(headless=True)
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
def site(hostile_site: Any) -> Any:
    """The hostile site without its cookie banner (tests about the banner turn it back on)."""
    hostile_site.configure(cookie_banner=False)
    return hostile_site


@pytest_asyncio.fixture(loop_scope="session")
async def session(shared_provider: PlaywrightProvider, site: Any) -> AsyncIterator[PlaywrightSession]:
    browser_session = await shared_provider.open_session(base_url=site.url, timeout=10)
    yield browser_session
    await browser_session.close()


@pytest_asyncio.fixture(loop_scope="session")
async def static_session(
    shared_provider: PlaywrightProvider, static_site: Any
) -> AsyncIterator[PlaywrightSession]:
    browser_session = await shared_provider.open_session(base_url=static_site.url, timeout=10)
    yield browser_session
    await browser_session.close()

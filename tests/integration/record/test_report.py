"""The run report as a reader meets it: written by `flightdeck report`, opened in headless
Chromium with every network request watched. The run behind it had retries, an approval and
a failure; page text in it (`<b>now</b>`) must show as text, never as markup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from app.browser.discovery import find_browser, launch_args

SHOT = Path("/tmp/flightdeck-report.png")  # looked at by a person while writing the report


@pytest.fixture
async def page() -> AsyncIterator[tuple[Page, list[str]]]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=find_browser().path, args=launch_args())
        context = await browser.new_context(viewport={"width": 1200, "height": 900})
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        try:
            yield await context.new_page(), requests
        finally:
            await browser.close()


async def test_report_shows_every_section_offline(report: Path, page: tuple[Page, list[str]]) -> None:
    view, requests = page
    await view.goto(report.as_uri())
    await view.wait_for_load_state("load")
    text = await view.inner_text("body")
    # Summary and outcome: the task, its status, the failure.
    assert "delete-then-check" in await view.inner_text("#summary")
    assert "failed" in await view.inner_text("#summary")
    outcome = await view.inner_text("#outcome")
    assert "Refund issued <b>now</b>" in outcome and "5 of 6 steps" in outcome
    assert "playwright show-trace" in outcome  # the trace is there, and how to open it
    assert await view.locator("b", has_text="now").count() == 0  # page text stayed text
    # Chain verification.
    assert "✓ The event chain verifies" in await view.inner_text("#verification")
    # Timeline: every step with status, attempts and duration.
    rows = await view.locator("#timeline tr").all_inner_texts()
    assert len(rows) == 7  # header + 6 steps
    assert "1-goto" in rows[1] and "succeeded" in rows[1] and "\t3\t" in rows[1]
    assert "confirm-delete" in rows[5] and "irreversible" in rows[5]
    assert "refund-shown" in rows[6] and "failed" in rows[6]
    # Attempts: retries with their cause, requests with their status, checks with results.
    first = await view.inner_text("#step-0")
    assert "retry #2 scheduled after transient" in first and "answered 503" in first
    assert "Attempt 3" in first
    assert "GET\thttp://" in first and "/flaky\t200" in first
    last = await view.inner_text("#step-5")
    assert "Attempt 3" in last and "no element matches" in last
    assert await view.locator("#step-5 table.checks tr", has_text="failed").count() == 3
    # The handoff: who answered what, and when.
    handoff = await view.locator("#handoffs tr").all_inner_texts()
    assert len(handoff) == 2
    assert "approval" in handoff[1] and "answered" in handoff[1] and "ops-lead" in handoff[1]
    assert "approve — “ok <go>”" in handoff[1]
    assert "Approve: Permanently delete Invoice 1001?" in handoff[1]
    assert "approved by ops-lead" in await view.inner_text("#step-4")
    # Screenshots: inline, and they decode.
    images = view.locator("img")
    assert await images.count() >= 6
    sizes: list[Any] = await images.evaluate_all(
        "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.src.slice(0, 15)])"
    )
    assert all(done and width > 0 and src.startswith("data:image/") for done, width, src in sizes)
    # Nothing but the file itself was fetched.
    assert [url for url in requests if not url.startswith("data:")] == [report.as_uri()]
    assert "Event log" in text
    await view.screenshot(path=str(SHOT), full_page=False)

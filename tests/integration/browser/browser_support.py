"""Small helpers for the browser tests (imported by the test modules next to it)."""

from __future__ import annotations

import base64
from typing import Any

from app.browser import PlaywrightProvider, PlaywrightSession
from app.domain.task import Action, Expectation, Step
from app.domain.task.spec import ARGS_MODEL, DEFAULT_EFFECT
from app.engine.ports import ActionOutcome, CheckResult

RGB = tuple[int, int, int]


def build_step(action: str, args: Any) -> Step:
    kind = Action(action)
    return Step(
        id=f"{kind.value}-step",
        action=kind,
        args=ARGS_MODEL[kind].model_validate(args),
        effect=DEFAULT_EFFECT[kind],
    )


async def act(session: PlaywrightSession, action: str, args: Any, *, timeout: float = 5.0) -> ActionOutcome:
    return await session.act(build_step(action, args), timeout=timeout)


async def check(
    session: PlaywrightSession,
    expect: dict[str, Any],
    outcome: ActionOutcome | None = None,
    *,
    timeout: float = 2.0,
) -> list[CheckResult]:
    return await session.check(Expectation.model_validate(expect), outcome, timeout=timeout)


async def expect_ok(
    session: PlaywrightSession,
    expect: dict[str, Any],
    outcome: ActionOutcome | None = None,
    *,
    timeout: float = 2.0,
) -> list[CheckResult]:
    results = await check(session, expect, outcome, timeout=timeout)
    assert results and all(r.ok for r in results), results
    return results


async def pixels(provider: PlaywrightProvider, jpeg: bytes, points: list[tuple[float, float]]) -> list[RGB]:
    """The colours of a JPEG at `points`, decoded by a browser (no imaging library needed)."""
    viewer = await provider.open_session(base_url=None, timeout=5)
    try:
        src = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
        found = await viewer.page.evaluate(
            """async ([src, points]) => {
                const img = new Image(); img.src = src; await img.decode();
                const c = document.createElement('canvas');
                c.width = img.width; c.height = img.height;
                const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                return points.map(([x, y]) => Array.from(g.getImageData(x, y, 1, 1).data).slice(0, 3));
            }""",
            [src, [[int(x), int(y)] for x, y in points]],
        )
    finally:
        await viewer.close()
    return [(r, g, b) for r, g, b in found]


async def differing_pixels(page: Any, png_a: bytes, png_b: bytes) -> int:
    """How many pixels of two same-sized PNGs differ, decoded by a browser `page` (any page:
    it only draws data: URLs on a canvas)."""
    urls = ["data:image/png;base64," + base64.b64encode(png).decode() for png in (png_a, png_b)]
    count: int = await page.evaluate(
        """async (urls) => {
            const data = await Promise.all(urls.map(async (src) => {
                const img = new Image(); img.src = src; await img.decode();
                const c = document.createElement('canvas');
                c.width = img.width; c.height = img.height;
                const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                return g.getImageData(0, 0, img.width, img.height).data;
            }));
            if (data[0].length !== data[1].length) return -1;
            let n = 0;
            for (let i = 0; i < data[0].length; i += 4) {
                const [a, b] = [data[0], data[1]];
                if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) n++;
            }
            return n;
        }""",
        urls,
    )
    return count

"""Stopping the console's background loops while they are being woken.

On Python 3.11 `asyncio.wait_for` swallows a cancellation that arrives in the same turn as
the awaited event is set; a loop built on it then never stops and closing the console hangs
(seen in CI, about one run in a few, as a hang closing the window)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.browser import PlaywrightProvider
from app.engine.changes import ChangeFeed
from app.engine.dispatch import Dispatcher
from app.engine.service import Engine
from app.store import ArtifactStore, Database


async def _until_waiting(event: asyncio.Event) -> None:
    """Until some task waits on `event` (the loop went idle), by stepping the loop."""
    async with asyncio.timeout(10):
        while not getattr(event, "_waiters", None):
            await asyncio.sleep(0)


async def test_the_dispatcher_stops_when_woken_in_the_same_turn(
    db: Database, tmp_path: Path, provider: PlaywrightProvider
) -> None:
    engine = Engine(db, provider, ArtifactStore(tmp_path / "artifacts"))
    try:
        for _ in range(3):  # the order of the two wake-ups is the loop's; try it more than once
            dispatcher = Dispatcher(engine, poll=60)
            dispatcher.start()
            await _until_waiting(dispatcher._wake)
            dispatcher.wake()  # a change arrives just as the console closes
            async with asyncio.timeout(10):
                await dispatcher.stop()
    finally:
        await engine.close()


async def test_the_change_feed_stops_when_nudged_in_the_same_turn(db: Database) -> None:
    for _ in range(3):
        feed = ChangeFeed(db, poll=60, fallback=60)
        feed.start()
        await _until_waiting(feed._nudged)
        feed.nudge()
        async with asyncio.timeout(10):
            await feed.close()

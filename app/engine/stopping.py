"""Stopping background tasks without losing the caller's own cancellation."""

from __future__ import annotations

import asyncio
from typing import Any


async def stop_tasks(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel `tasks` and wait until they have ended, whatever they ended with.

    Not `with suppress(CancelledError): await task`: that also swallows a cancellation of the
    caller that arrives meanwhile (a close given up after a timeout would then go on waiting).
    `gather` tells the two apart: the tasks' own outcomes are returned, the caller's
    cancellation is raised."""
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    if live:
        await asyncio.gather(*live, return_exceptions=True)

"""Waiting on conditions inside qasync coroutines (the Qt loop keeps running while we wait)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from app.ui.console import Console, ConsoleOptions


@contextlib.asynccontextmanager
async def running_console(options: ConsoleOptions) -> AsyncIterator[Console]:
    """A started console back end (engine, scheduler, change feed, bridge)."""
    console = Console(options)
    console.start()
    try:
        yield console
    finally:
        await console.close()


async def until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Wait until `predicate()` is truthy (checked every 20 ms while the loop runs); return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


async def next_signal(signal: Any, timeout: float = 15.0) -> tuple[Any, ...]:
    """The arguments of the next emission of a Qt signal."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[Any, ...]] = loop.create_future()

    def got(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(got)
    try:
        return await asyncio.wait_for(future, timeout)
    finally:
        signal.disconnect(got)

"""One "something was committed" signal for views that show the database (the console).

On SQLite it is `PRAGMA data_version` read on the event loop every `poll` seconds (a few
microseconds, no query) and it fires only when some connection, in any process, committed.
Elsewhere (PostgreSQL) it fires every `fallback` seconds and the views re-read what they show.
Listeners are plain callables; they decide for themselves what to refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from app.engine.stopping import stop_tasks
from app.engine.waiting import DataVersion
from app.store import Database

log = logging.getLogger("flightdeck.engine")

Listener = Callable[[], None]


class ChangeFeed:
    def __init__(self, db: Database, *, poll: float = 0.1, fallback: float = 1.0) -> None:
        self.db = db
        self.poll = poll
        self.fallback = fallback
        self._listeners: list[Listener] = []
        self._version = DataVersion.open(db)
        self._task: asyncio.Task[None] | None = None
        self._nudged = asyncio.Event()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def nudge(self) -> None:
        """Something in this process committed: tell the listeners without waiting a tick."""
        self._nudged.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="change-feed")

    async def close(self) -> None:
        if self._task is not None:
            await stop_tasks(self._task)
            self._task = None
        if self._version is not None:
            self._version.close()
            self._version = None

    async def _watch(self) -> None:
        interval = self.poll if self._version is not None else self.fallback
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):  # not wait_for: see Dispatcher._serve
                    await self._nudged.wait()
            nudged = self._nudged.is_set()
            self._nudged.clear()
            changed = self._version.changed() if self._version is not None else True
            if nudged or changed:
                self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # one broken view must not stop the others from refreshing
                log.exception("change listener failed")

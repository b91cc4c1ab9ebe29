"""Durable waiting: runs parked on a handoff cost nothing while they wait.

`AnswerWatcher` is the one place that notices answers. However many runs wait, it is one timer
and, on SQLite, one `PRAGMA data_version` per tick (a few microseconds, no query) until some
connection commits something; only then does it read which watched handoffs closed. Answers
given in this process wake it at once. It also applies deadlines: a handoff past its deadline
is closed with its default answer (`store.expire_due`).

`SessionPool` keeps the live browser page of a parked run so that it continues exactly where it
stopped (no replay, an approval fires within milliseconds), until an idle limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.engine.ports import BrowserSession
from app.engine.stopping import stop_tasks
from app.store import Database, handoffs
from app.store.models import Handoff, HandoffStatus
from app.store.types import utcnow

log = logging.getLogger("flightdeck.engine")

POLL_S = 0.05  # answer → action latency budget is 150 ms (README: performance)
# Without a change signal (PostgreSQL), read at most this often: one indexed query per tick
# for all waiting runs together.
QUERY_EVERY_S = 0.25
# How long a parked run keeps its live page, unless configured (FLIGHTDECK_IDLE_LIMIT).
DEFAULT_IDLE_LIMIT_S = 900.0
# How many parked pages stay live at once (FLIGHTDECK_MAX_LIVE_WAITING). Even frozen, an idle
# page costs Chromium ~1 % of a core (measured, README); beyond this the longest-waiting
# pages are closed and rebuilt from the checkpoint when their answer comes.
DEFAULT_MAX_LIVE = 4


class AnswerWatcher:
    def __init__(self, db: Database, *, poll: float = POLL_S) -> None:
        self.db = db
        self.poll = poll
        self._waiters: dict[str, list[asyncio.Future[Handoff]]] = {}
        self._deadlines: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._version: DataVersion | None = DataVersion.open(db)
        self._last_query = 0.0

    async def wait(self, handoff_id: str) -> Handoff:
        """Return the handoff once it is no longer open (answered, expired or cancelled)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[Handoff] = loop.create_future()
        self._waiters.setdefault(handoff_id, []).append(future)
        self._deadlines.pop(handoff_id, None)
        self.wake()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())
        try:
            return await future
        finally:
            waiting = self._waiters.get(handoff_id, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(handoff_id, None)
                self._deadlines.pop(handoff_id, None)

    async def wait_any(self, handoff_ids: list[str]) -> Handoff:
        tasks = [asyncio.ensure_future(self.wait(h)) for h in handoff_ids]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()

    def wake(self) -> None:
        """Look now (an answer was just given in this process). Safe from any thread: the
        console records answers on a worker thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # nobody waits yet: the first wait reads the database anyway
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    @property
    def watching(self) -> int:
        return len(self._waiters)

    async def close(self) -> None:
        if self._task is not None:
            await stop_tasks(self._task)
        if self._version is not None:
            self._version.close()

    async def _watch(self) -> None:
        force = True
        while self._waiters:
            now = time.monotonic()
            changed = self._version.changed() if self._version is not None else False
            due = self._due()
            stale = self._version is None and now - self._last_query >= QUERY_EVERY_S
            if force or changed or due or stale:
                self._last_query = now
                try:
                    closed = await asyncio.to_thread(self._read, due)
                except Exception:  # a locked or briefly unreachable database: try next tick
                    log.exception("could not read handoffs")
                    closed = {}
                for handoff_id, handoff in closed.items():
                    for future in self._waiters.pop(handoff_id, []):
                        if not future.done():
                            future.set_result(handoff)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):  # not wait_for: see Dispatcher._serve
                    await self._wake.wait()
            force = self._wake.is_set()

    def _due(self) -> bool:
        now = utcnow()
        return any(deadline <= now for deadline in self._deadlines.values())

    def _read(self, expire: bool) -> dict[str, Handoff]:
        ids = list(self._waiters)
        if expire:
            with self.db.session() as s, s.begin():
                handoffs.expire_due(s)
        with self.db.session(readonly=True) as s:
            rows = list(s.scalars(select(Handoff).where(Handoff.id.in_(ids))))
        closed: dict[str, Handoff] = {}
        for row in rows:
            if row.status is HandoffStatus.OPEN:
                if row.deadline is not None:
                    self._deadlines[row.id] = row.deadline
            else:
                closed[row.id] = row
        for missing in set(ids) - {r.id for r in rows}:
            log.warning("handoff %s vanished while waited on", missing)
        return closed


class DataVersion:
    """SQLite's cheap "did anyone commit?" signal (`PRAGMA data_version`), on a connection of
    its own: the value changes when any other connection commits."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._last = self._read()

    @classmethod
    def open(cls, db: Database) -> DataVersion | None:
        url = make_url(db.url)
        if not db.is_sqlite or not url.database or url.database == ":memory:":
            return None
        try:
            return cls(url.database)
        except sqlite3.Error:
            return None

    def _read(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        try:
            now = self._read()
        except sqlite3.Error:
            return True
        changed, self._last = now != self._last, now
        return changed

    def close(self) -> None:
        self._conn.close()


class SessionPool:
    """Live pages of parked runs (this process only), closed after `idle_limit` seconds."""

    def __init__(self, idle_limit: float = DEFAULT_IDLE_LIMIT_S, max_live: int = DEFAULT_MAX_LIVE) -> None:
        self.idle_limit = idle_limit
        self.max_live = max_live
        self._parked: dict[str, tuple[BrowserSession, float]] = {}

    async def put(self, run_id: str, session: BrowserSession) -> bool:
        """Keep a parked run's page, frozen. False (and nothing kept) if it cannot be frozen:
        a page that broke is rebuilt on resume rather than trusted."""
        if self.max_live <= 0:
            return False
        try:
            await session.set_frozen(True)
        except Exception:
            return False
        self._parked[run_id] = (session, time.monotonic())
        while len(self._parked) > self.max_live:
            oldest = min(self._parked, key=lambda rid: self._parked[rid][1])
            await self.drop(oldest)
        return True

    async def take(self, run_id: str) -> BrowserSession | None:
        """The live page of a parked run, thawed; None if there is none (or it broke)."""
        found = self._parked.pop(run_id, None)
        if found is None:
            return None
        try:
            await found[0].set_frozen(False)
        except Exception:
            with contextlib.suppress(Exception):
                await found[0].close()
            return None
        return found[0]

    def peek(self, run_id: str) -> BrowserSession | None:
        found = self._parked.get(run_id)
        return found[0] if found else None

    async def awake(self, run_id: str) -> BrowserSession | None:
        """A parked page someone wants to look at or drive (live view, takeover): thawed, and
        kept thawed until the run takes it back."""
        found = self._parked.get(run_id)
        if found is None:
            return None
        await found[0].set_frozen(False)
        self._parked[run_id] = (found[0], time.monotonic())
        return found[0]

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._parked

    def __len__(self) -> int:
        return len(self._parked)

    async def reap(self) -> list[str]:
        """Close the pages that idled past the limit; their runs will rebuild state on resume."""
        now = time.monotonic()
        old = [rid for rid, (_, since) in self._parked.items() if now - since > self.idle_limit]
        for run_id in old:
            await self.drop(run_id)
        return old

    async def drop(self, run_id: str) -> None:
        found = self._parked.pop(run_id, None)
        session = found[0] if found else None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()

    async def close(self) -> None:
        for run_id in list(self._parked):
            await self.drop(run_id)

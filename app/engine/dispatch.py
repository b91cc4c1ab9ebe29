"""The scheduler of a long-lived process (the console, a worker): it starts queued runs as
slots allow, resumes runs found interrupted, and continues waiting runs whose question was
answered (or whose deadline passed) while nobody held them. Runs waiting in this process are
continued by `Engine.drive` itself; a waiting run holds no slot (DESIGN: durable waiting)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

from sqlalchemy import and_, exists, or_, select

from app.domain.states import RunStatus
from app.engine.owner import owner_is_dead
from app.engine.service import Engine, RunBusy
from app.engine.stopping import stop_tasks
from app.store import handoffs
from app.store.models import Handoff, HandoffStatus, Run
from app.store.types import utcnow

log = logging.getLogger("flightdeck.engine")


class Dispatcher:
    def __init__(self, engine: Engine, *, poll: float = 1.0) -> None:
        self.engine = engine
        self.poll = poll  # a safety net: `wake()` is what normally starts things promptly
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Runs that stayed queued (their session profile is in use): not before this time.
        self._deferred: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._main: asyncio.Task[None] | None = None

    @property
    def driving(self) -> frozenset[str]:
        """Runs this process is running or waiting on."""
        return frozenset(self._tasks)

    def start(self) -> None:
        if self._main is None or self._main.done():
            self._main = asyncio.create_task(self._serve(), name="dispatcher")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop starting runs and stop the ones in flight; they stay resumable."""
        await stop_tasks(self._main, *self._tasks.values())
        self._main = None
        self._tasks.clear()

    async def _serve(self) -> None:
        while True:
            try:
                await self._start_ready()
            except Exception:  # a locked or unreachable database: try again next round
                log.exception("dispatcher could not look for runs")
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
                # arrives as the event is set, and stop() would then wait forever.
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()
            self._wake.clear()

    def _busy(self) -> int:
        """Runs of ours that are executing or about to (not parked on a person)."""
        parked = self.engine.parked
        return sum(1 for run_id in self._tasks if run_id not in parked)

    async def _start_ready(self) -> None:
        room = self.engine.concurrency - self._busy()
        if room <= 0:
            return
        ready = await asyncio.to_thread(self._ready, room + len(self._tasks))
        for run_id in ready:
            if room <= 0:
                break
            if run_id in self._tasks or self._deferred.get(run_id, 0.0) > time.monotonic():
                continue
            self._tasks[run_id] = asyncio.create_task(self._drive(run_id), name=f"run-{run_id}")
            room -= 1

    def _ready(self, limit: int) -> list[str]:
        """Runs nobody alive holds that can go on now, oldest first. A waiting run whose
        handoff's deadline passed while nobody held it can: its default answer applies first."""
        now = utcnow()
        with self.engine.db.session(readonly=True) as s:
            due = handoffs.any_due(s, now)  # a read: no write lock taken every poll
        if due:
            with self.engine.db.session() as s, s.begin():
                handoffs.expire_due(s, now)
        answered = and_(
            Run.status == RunStatus.WAITING,
            ~exists().where(Handoff.run_id == Run.id, Handoff.status == HandoffStatus.OPEN),
        )
        query = (
            select(Run.id, Run.owner, Run.lease_expires_at)
            .where(or_(Run.status.in_([RunStatus.QUEUED, RunStatus.INTERRUPTED]), answered))
            .order_by(Run.created_at)
            .limit(limit)
        )
        with self.engine.db.session(readonly=True) as s:
            rows = list(s.execute(query))
        return [run_id for run_id, owner, expires in rows if self._free(owner, expires, now)]

    def _free(self, owner: str | None, expires: datetime | None, now: datetime) -> bool:
        if owner is None or owner == self.engine.owner:
            return True
        return owner_is_dead(owner) or (expires is not None and expires <= now)

    async def _drive(self, run_id: str) -> None:
        deferred = False
        try:
            result = await self.engine.drive(run_id, wait=True)
            if result.status is RunStatus.QUEUED:
                # Still queued: it waits for a session profile another run holds. Try it again
                # when some run ends (that may free it), or after a poll period at the latest.
                self._deferred[run_id] = time.monotonic() + self.poll
                deferred = True
        except RunBusy:
            pass  # another process got it first
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run %s stopped with an error", run_id)
        finally:
            self._tasks.pop(run_id, None)
            if not deferred:
                self._deferred.clear()  # a run ended: the profile it held may be free now
            self._wake.set()  # a slot is free

"""A person's own input on a taken-over page, in the run's record (issue 13).

Input through the console's live view goes through `Engine.send_input`, which records it
(`source: "console"`). A person may also drive the page directly: the window of a `--headed`
run, taken over with `flightdeck takeover RUN` from another terminal. That input never passes
through the engine, so the page reports it (`BrowserSession.observe_input`) and it is recorded
here as `takeover.input` with `source: "page"`, in the run's hash chain, through the run's
Redactor (G7; the page masks secret fields' values itself).

Observed exactly while a run is parked in this process with its page live and a takeover of it
open, from whichever process the takeover was opened: one look per QUERY_EVERY_S for all parked
runs (on SQLite only when something was committed), at once when this process takes over or
hands back. The run stops the observation before it takes its page back (`stop`): the engine's
own actions are never recorded as the person's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from app.domain.events import EventType
from app.engine.ports import BrowserSession
from app.engine.stopping import stop_tasks
from app.engine.waiting import QUERY_EVERY_S, DataVersion, SessionPool
from app.secrets import Redactor
from app.store import Database, events, handoffs

log = logging.getLogger("flightdeck.engine")


@dataclass
class _Watched:
    session: BrowserSession
    handoff_id: str
    by: str | None
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None


class TakeoverInput:
    def __init__(
        self,
        db: Database,
        pool: SessionPool,
        parked: Callable[[], Collection[str]],
        redactor: Callable[[str], Redactor],
    ) -> None:
        self.db = db
        self.pool = pool
        self._parked = parked  # runs waiting in this process with their lease
        self._redactor = redactor
        self._watched: dict[str, _Watched] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._version: DataVersion | None = DataVersion.open(db)

    def observing(self, run_id: str) -> bool:
        """The person's input on this run's page is being recorded now."""
        return run_id in self._watched

    def wake(self) -> None:
        """Look now: a takeover opened or closed (or a run parked). Safe from any thread."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            self._loop = running
            self._kick()
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._kick)

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        force = True
        while self._parked() or self._watched:
            changed = self._version.changed() if self._version is not None else True
            if force or changed:
                try:
                    await self.sync()
                except Exception:  # a locked database, a page that broke: try next time
                    log.exception("could not look for takeovers of parked runs")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(QUERY_EVERY_S):
                    await self._wake.wait()
            force = self._wake.is_set()

    async def sync(self) -> None:
        """Start recording the input of parked runs taken over, stop for the others."""
        parked = [r for r in self._parked() if r in self.pool]
        open_takeovers = await asyncio.to_thread(self._open_takeovers, parked)
        for run_id in list(self._watched):
            if run_id not in open_takeovers or run_id not in self.pool:
                await self.stop(run_id)
        for run_id, (handoff_id, by) in open_takeovers.items():
            watched = self._watched.get(run_id)
            if watched is not None:
                watched.handoff_id, watched.by = handoff_id, by
            elif run_id in self.pool:
                await self._start(run_id, handoff_id, by)

    def _open_takeovers(self, run_ids: list[str]) -> dict[str, tuple[str, str | None]]:
        found: dict[str, tuple[str, str | None]] = {}
        if not run_ids:
            return found
        with self.db.session(readonly=True) as s:
            for run_id in run_ids:
                taking = [h for h in handoffs.list_handoffs(s, run_id=run_id) if h.kind == "takeover"]
                if taking:
                    # The command's takeover names who took over; the run's own one does not.
                    by = next((str(h.payload["by"]) for h in taking if (h.payload or {}).get("by")), None)
                    found[run_id] = (taking[0].id, by)
        return found

    async def _start(self, run_id: str, handoff_id: str, by: str | None) -> None:
        session = await self.pool.awake(run_id)  # a frozen page runs no listener
        if session is None:
            return
        watched = _Watched(session, handoff_id, by)
        watched.writer = asyncio.create_task(self._write(run_id, watched))
        self._watched[run_id] = watched
        try:
            await session.observe_input(watched.queue.put_nowait)
        except Exception:
            log.exception("cannot observe the page input of run %s", run_id)
            self._watched.pop(run_id, None)
            await stop_tasks(watched.writer)

    async def stop(self, run_id: str) -> None:
        """Stop recording the run's page input (what fields hold that was typed and not yet
        committed is recorded first); every report received is durable when this returns."""
        watched = self._watched.pop(run_id, None)
        if watched is None:
            return
        try:
            await watched.session.observe_input(None)
        except Exception:
            log.exception("could not stop observing the page input of run %s", run_id)
        watched.queue.put_nowait(None)
        if watched.writer is not None:
            await watched.writer

    async def close(self) -> None:
        if self._task is not None:
            await stop_tasks(self._task)  # first: it would start observing again
        for run_id in list(self._watched):
            await self.stop(run_id)
        if self._version is not None:
            self._version.close()

    async def _write(self, run_id: str, watched: _Watched) -> None:
        """Append the page's reports to the run's chain in the order they came, a batch per
        transaction (a person types slower than one commit)."""
        done = False
        while not done:
            batch = [await watched.queue.get()]
            while not watched.queue.empty():
                batch.append(watched.queue.get_nowait())
            done = None in batch
            records = [r for r in batch if r is not None]
            if not records:
                continue
            data = [{**r, "by": watched.by, "handoff_id": watched.handoff_id} for r in records]
            try:
                await asyncio.to_thread(self._append, run_id, data)
            except Exception:
                log.exception("could not record %d page input event(s) of run %s", len(data), run_id)

    def _append(self, run_id: str, data: list[dict[str, Any]]) -> None:
        redactor = self._redactor(run_id)
        with self.db.session() as s, s.begin():
            events.append_events(
                s, run_id, [(EventType.TAKEOVER_INPUT, redactor.redact_value(d)) for d in data]
            )

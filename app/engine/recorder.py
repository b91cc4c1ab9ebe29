"""Checkpointing: events and state changes of a run commit together, under the run's lease."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.domain.events import Event
from app.domain.sealing import Sealer
from app.domain.states import RunStatus
from app.engine.redaction import redact_rows
from app.secrets import Redactor
from app.store import Database, commits, events, leases, runs
from app.store.models import Run

Change = Callable[[Session, Run], Any]


class RunStopped(Exception):
    """Someone else changed the run's status (cancel, pause): stop quietly, fire nothing more."""


class EventSink(Protocol):
    def __call__(self, event: Event) -> None: ...


class RunRecorder:
    """Buffers a run's events and writes them with the next state change, in one transaction.

    Buffering is what makes event writes cheap (one commit per step, not per event); writing
    them with the state change is what makes a checkpoint atomic (DESIGN.md step 5).

    Transactions run on one writer thread per run, in order: the event loop (which in the
    console is Qt's) never waits on SQLite, and a commit the run need not wait for (a write's
    outcome while the next read step starts) overlaps with browser work. Anything that must be
    durable before an action fires is awaited (`commit`) — the writer is FIFO, so awaiting
    one commit also means every earlier one landed.
    """

    def __init__(
        self,
        db: Database,
        run_id: str,
        owner: str,
        sinks: list[EventSink],
        redactor: Redactor | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.db = db
        # Every secret value of this run's credentials: nothing written passes it (G7), and
        # what the run executes from holds placeholders for them instead.
        self.redactor = redactor if redactor is not None else Redactor()
        self.sealer = sealer
        self.run_id = run_id
        self.owner = owner
        self.sinks = sinks
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._staged: list[Change] = []
        self.status: RunStatus | None = None  # as of the last commit
        self._committed_at = time.monotonic()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"run-{run_id}")
        self._in_flight: asyncio.Future[Any] | None = None
        # Called on the loop thread before each transaction takes what is buffered: late facts
        # (an attempt's late requests, attempts.py) ride on the next commit instead of their own.
        self.before_commit: list[Callable[[], None]] = []

    def emit(self, type: str, **data: Any) -> None:
        self._pending.append((type, data))

    def stage(self, change: Change) -> None:
        """Apply `change` with the next commit: one transaction per step, not one per fact."""
        self._staged.append(change)

    async def commit(self, change: Change | None = None) -> Any:
        """Write buffered events, staged changes and `change(session, run)` in one transaction,
        fenced by the lease (G2); returns when it is durable, with what `change` returned."""
        return await self._submit(change)

    def commit_behind(self, change: Change | None = None) -> None:
        """Start the transaction and carry on; the next `commit`/`flush` waits for it (and
        re-raises its error, e.g. a lost lease)."""
        self._in_flight = self._submit(change)

    async def commit_soon(self, change: Change, within: float = 0.5) -> None:
        """Commit `change` with the next transaction, or now if none happened for `within` s.

        For outcomes a crash may lose without harm (read steps are replayed on recovery):
        most steps then cost no transaction of their own, and progress still reaches other
        processes within `within` seconds.
        """
        self.stage(change)
        if commits.armed() or time.monotonic() - self._committed_at >= within:
            self.commit_behind()

    async def durable(self) -> None:
        """Make everything staged or in flight durable: call before the run reads its own state
        back (its attempts, its steps), which a staged change would otherwise hide — more so on
        a loaded machine, where a transaction started behind may not have landed yet."""
        if self._staged:
            await self.commit()
        else:
            await self.flush()

    async def flush(self) -> None:
        """Wait until everything submitted so far is durable."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    def _submit(self, change: Change | None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        for hook in self.before_commit:
            hook()
        pending, staged = self._pending, self._staged
        self._pending, self._staged = [], []
        self._committed_at = time.monotonic()
        previous = self._in_flight
        self._in_flight = None
        point = commits.recorder_caller() if commits.armed() else ""
        future = loop.run_in_executor(self._writer, self._write, pending, staged, change, point)

        async def ordered() -> Any:
            if previous is not None:
                await previous  # surface an earlier background failure first
            result, new_events = await future
            for event in new_events:
                for sink in self.sinks:
                    sink(event)  # on the loop thread: sinks may touch the UI
            return result

        return asyncio.ensure_future(ordered())

    def _write(
        self,
        pending: list[tuple[str, dict[str, Any]]],
        staged: list[Change],
        change: Change | None,
        point: str = "",
    ) -> tuple[Any, list[Event]]:
        redactor = self.redactor
        with commits.naming(point) if point else nullcontext(), self.db.session() as s, s.begin():
            if redactor:
                redact_rows(s, redactor, self.sealer)  # events too, whoever appends them
            run = runs.get_run(s, self.run_id)
            if run is None:
                raise LookupError(f"no run {self.run_id}")
            if pending:
                events.append_events(s, self.run_id, pending)
            for item in staged:
                item(s, run)
            result = change(s, run) if change is not None else None
            leases.fenced(s, run, self.owner)  # last before commit: nobody else took the run
            # Every event this transaction wrote for the run, whoever appended it (the buffered
            # ones, a staged change's, a handoff's), as written: nothing is read back.
            new_events = events.take_appended(s, self.run_id)
            self.status = RunStatus(run.status)
        return result, new_events if self.sinks else []

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            self._writer.shutdown(wait=True)

"""Checkpointing: events and state changes of a run commit together, under the run's lease."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.domain.events import Event
from app.domain.states import RunStatus
from app.store import Database, events, leases, runs
from app.store.models import Run


class EventSink(Protocol):
    def __call__(self, event: Event) -> None: ...


class RunRecorder:
    """Buffers a run's events and writes them with the next state change, in one transaction.

    Buffering is what makes event writes cheap (one commit per step, not per event); writing
    them with the state change is what makes a checkpoint atomic (DESIGN.md step 5).
    """

    def __init__(self, db: Database, run_id: str, owner: str, sinks: list[EventSink]) -> None:
        self.db = db
        self.run_id = run_id
        self.owner = owner
        self.sinks = sinks
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._staged: list[Callable[[Session, Run], Any]] = []
        self.status: RunStatus | None = None  # as of the last commit
        self._last_seq = 0

    def emit(self, type: str, **data: Any) -> None:
        self._pending.append((type, data))

    def stage(self, change: Callable[[Session, Run], Any]) -> None:
        """Apply `change` with the next commit: one transaction per step, not one per fact."""
        self._staged.append(change)

    def commit(self, change: Callable[[Session, Run], Any] | None = None) -> Any:
        """Write buffered events, staged changes and `change(session, run)` in one transaction,
        fenced by the lease (G2)."""
        with self.db.session() as s, s.begin():
            run = runs.get_run(s, self.run_id)
            if run is None:
                raise LookupError(f"no run {self.run_id}")
            if self._pending:
                events.append_events(s, self.run_id, self._pending)
            for staged in self._staged:
                staged(s, run)
            result = change(s, run) if change is not None else None
            new_events = events.list_events(s, self.run_id, after_seq=self._last_seq) if self.sinks else []
            leases.fenced(s, run, self.owner)  # last before commit: nobody else took the run
            self.status = RunStatus(run.status)
        self._pending = []
        self._staged = []
        for event in new_events:
            self._last_seq = event.seq
            for sink in self.sinks:
                sink(event)
        return result

    def prime(self) -> None:
        """Start notifying from the run's current last event (don't replay old history)."""
        with self.db.session(readonly=True) as s:
            existing = events.list_events(s, self.run_id)
        self._last_seq = existing[-1].seq if existing else 0

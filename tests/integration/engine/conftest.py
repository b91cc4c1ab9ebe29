from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.browser import PlaywrightProvider
from app.domain.events import Event
from app.engine.service import Engine
from app.store import ArtifactStore, Database
from tests.helpers.tasks import task_from


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'flightdeck.db'}")
    try:
        yield database
    finally:
        database.dispose()


class Harness:
    """An engine on a real SQLite file and real Chromium, plus the events it emitted."""

    def __init__(self, engine: Engine, site: Any, db: Database) -> None:
        self.engine = engine
        self.site = site
        self.db = db
        self.events: list[Event] = []
        self._recorded = asyncio.Event()

    def record(self, event: Event) -> None:
        """The engine's event sink (called on the event loop after each commit)."""
        self.events.append(event)
        self._recorded.set()

    async def open_handoff(self, run_id: str, timeout: float = 30) -> Any:
        """The run's first open handoff, as soon as the run (running in the background) has
        committed one."""
        await self.until(lambda: bool(self.engine.open_handoffs(run_id)), timeout)
        return self.engine.open_handoffs(run_id)[0]

    async def until(self, done: Callable[[], bool], timeout: float = 30) -> None:
        """Return once `done()` holds, looking again whenever the engine has recorded more."""
        async with asyncio.timeout(timeout):
            while True:
                self._recorded.clear()  # before looking: a commit after this wakes us
                if done():
                    return
                await self._recorded.wait()

    def submit(self, text: str, inputs: dict[str, Any] | None = None) -> str:
        task, snapshot = task_from(text, self.site.base_url)
        return self.engine.submit(task, snapshot, task.resolve_inputs(inputs or {}))

    async def run(self, text: str, inputs: dict[str, Any] | None = None) -> Any:
        return await self.engine.run(self.submit(text, inputs))

    def events_of(self, run_id: str, type_: str) -> list[Event]:
        return [e for e in self.events if e.run_id == run_id and e.type == type_]


@pytest.fixture
async def harness(
    site: Any, db: Database, tmp_path: Path, provider: PlaywrightProvider
) -> AsyncIterator[Harness]:
    h: Harness
    engine = Engine(db, provider, ArtifactStore(tmp_path / "artifacts"), sinks=[lambda e: h.record(e)])
    h = Harness(engine, site, db)
    try:
        yield h  # the `provider` fixture closes the browser
    finally:
        await engine.close()

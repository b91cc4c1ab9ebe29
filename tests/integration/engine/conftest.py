from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.browser import PlaywrightProvider
from app.browser.profiles import ProfileStore
from app.domain.events import Event
from app.engine.ports import SecretUnavailable
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


# ----------------------------------------------------------------- credentials and profiles
USER = "ada.lovelace"
PASSWORD = "Anal7tical-Engine!"


class MemorySecrets:
    """A SecretSource over a dict of NAME.FIELD → value (the issue allows an in-memory backend
    for the engine's tests). Counts reads: a value is read at the moment of the action only.
    Every field is secret, the username too (`--secret-username`), unless named in `public`."""

    def __init__(self, values: dict[str, str], public: tuple[str, ...] = ()) -> None:
        self.values = dict(values)
        self.public = public
        self.reads: list[str] = []

    def check(self, ref: str) -> None:
        if ref not in self.values:
            raise SecretUnavailable(f"no credential field {ref}")

    def resolve(self, ref: str) -> str:
        self.check(ref)
        self.reads.append(ref)
        return self.values[ref]

    def secret_value(self, ref: str) -> str | None:
        self.check(ref)
        return None if ref in self.public else self.values[ref]


@pytest.fixture
def secrets() -> MemorySecrets:
    return MemorySecrets({"shop.username": USER, "shop.password": PASSWORD})


@pytest.fixture
def profiles(tmp_path: Path) -> ProfileStore:
    key = os.urandom(32)
    return ProfileStore(tmp_path / "profiles", key=lambda: key)


@pytest.fixture
async def secure(
    site: Any,
    db: Database,
    tmp_path: Path,
    provider: PlaywrightProvider,
    secrets: MemorySecrets,
    profiles: ProfileStore,
) -> AsyncIterator[Harness]:
    """The harness with a credential store and session profiles; the site wants a login."""
    site.configure(require_login=True, users={USER: PASSWORD})
    h: Harness
    engine = Engine(
        db,
        provider,
        ArtifactStore(tmp_path / "artifacts"),
        sinks=[lambda e: h.record(e)],
        secrets=secrets,
        profiles=profiles,
    )
    h = Harness(engine, site, db)
    try:
        yield h
    finally:
        await engine.close()

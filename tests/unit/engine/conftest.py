"""The engine on a real SQLite file with the scripted browser port (tests/helpers/scripted_browser.py):
its decisions, fast. Built as the real-Chromium harness is (tests/integration/engine/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.domain.events import Event
from app.domain.task import Task
from app.engine.service import Engine
from app.store import ArtifactStore, Database, handoffs, leases, list_attempts, runs
from app.store.models import Attempt, Handoff, StepRecord
from tests.helpers.scripted_browser import ScriptedBrowser, ScriptedSite
from tests.helpers.tasks import task_from


class Scripted:
    """An engine driving a scripted site, and every event it handed its sinks."""

    def __init__(self, engine: Engine, site: ScriptedSite, db: Database) -> None:
        self.engine = engine
        self.site = site
        self.db = db
        self.events: list[Event] = []

    def record(self, event: Event) -> None:
        self.events.append(event)

    def submit(self, text: str, inputs: dict[str, Any] | None = None) -> str:
        task, snapshot = task_from(text, self.site.base_url)
        return self.engine.submit(task, snapshot, task.resolve_inputs(inputs or {}))

    async def run(self, text: str, inputs: dict[str, Any] | None = None) -> Any:
        return await self.engine.run(self.submit(text, inputs))

    def events_of(self, run_id: str, type_: str) -> list[Event]:
        return [e for e in self.events if e.run_id == run_id and e.type == type_]

    def attempts(self, run_id: str, index: int) -> list[Attempt]:
        with self.db.session(readonly=True) as s:
            return list_attempts(s, run_id, index)

    def step(self, run_id: str, index: int) -> StepRecord:
        with self.db.session(readonly=True) as s:
            record = runs.get_step(s, run_id, index)
            assert record is not None
            return record

    def handoffs(self, run_id: str, status: str | None = None) -> list[Handoff]:
        with self.db.session(readonly=True) as s:
            return list(handoffs.list_handoffs(s, run_id=run_id, status=status))

    def handoff(self, handoff_id: str) -> Handoff:
        with self.db.session(readonly=True) as s:
            found = handoffs.get_handoff(s, handoff_id)
            assert found is not None
            return found


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[Scripted]:
    db = Database(f"sqlite:///{tmp_path / 'flightdeck.db'}")
    site = ScriptedSite()
    harness: Scripted
    engine = Engine(
        db, ScriptedBrowser(site), ArtifactStore(tmp_path / "artifacts"), sinks=[lambda e: harness.record(e)]
    )
    harness = Scripted(engine, site, db)
    try:
        yield harness
    finally:
        await engine.close()
        await asyncio.sleep(0)
        db.dispose()


def claimed_run(db: Database, task: Task, owner: str = "me") -> str:
    """A queued run of `task` in `db`, its lease held by `owner` (as a run loop holds it)."""
    with db.session() as s, s.begin():
        run_id: str = runs.create_run(
            s,
            task_name=task.name,
            task_source=f"{task.name}.yaml",
            task_text=f"name: {task.name}\n",
            inputs={},
            site=task.site or "",
            steps=[(st.id, st.action.value, st.effect.value, st.summary()) for st in task.steps],
        ).id
        assert leases.claim(s, run_id, owner, 60)
    return run_id

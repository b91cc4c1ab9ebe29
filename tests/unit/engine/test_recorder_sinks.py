"""The recorder hands its sinks exactly the events each of its transactions wrote — its own
buffered ones and those that staged changes or other code appended in the same transaction —
in seq order, each once, without reading back what it just wrote."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.domain.events import Event
from app.domain.task import load_task
from app.engine.recorder import RunRecorder
from app.store import Database, events
from app.store.models import Run
from tests.unit.engine.conftest import claimed_run

TASK = load_task("name: notes\nsite: http://127.0.0.1:9\nsteps:\n  - goto: /notes\n", "notes.yaml")


def test_sinks_get_every_event_of_each_transaction_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'flightdeck.db'}")
    run_id = claimed_run(db, TASK)
    with db.session() as s, s.begin():
        events.append_event(s, run_id, "test.before", {"n": 0})  # history: never handed on
    seen: list[Event] = []
    recorder = RunRecorder(db, run_id, "me", sinks=[seen.append])

    def reads_back(*_args: object, **_kwargs: object) -> list[Event]:
        raise AssertionError("the recorder read back what it had just written")

    monkeypatch.setattr(events, "list_events", reads_back)

    def staged(s: Session, run: Run) -> None:
        events.append_event(s, run_id, "test.staged", {"n": 2})

    def change(s: Session, run: Run) -> None:
        events.append_events(s, run_id, [("test.change", {"n": 3}), ("test.change", {"n": 4})])

    async def scenario() -> None:
        recorder.emit("test.buffered", n=1)
        recorder.stage(staged)
        await recorder.commit(change)
        recorder.emit("test.next", n=5)
        await recorder.commit()
        await recorder.commit()  # nothing new: nothing handed on again
        await recorder.close()

    asyncio.run(scenario())
    monkeypatch.undo()
    assert [e.data["n"] for e in seen] == [1, 2, 3, 4, 5]
    assert [e.seq for e in seen] == sorted({e.seq for e in seen})  # in order, each once
    with db.session(readonly=True) as s:
        stored = {e.seq: e for e in events.list_events(s, run_id)}
    assert all(stored[e.seq] == e for e in seen)  # exactly what was written, hashes included
    db.dispose()

"""The run reads back what it staged: a handoff names the attempts that led to it even when
their outcomes were still waiting for the next transaction (a read step's outcome is staged,
recorder.commit_soon). Seen on a loaded CI machine: a "seems stuck" question said nothing
about the five tries before it, because the run read its attempts while they were staged."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.orm import Session

from app.domain.states import AttemptOutcome
from app.domain.task import load_task
from app.engine.desk import HandoffDesk
from app.engine.recorder import RunRecorder
from app.store import ArtifactStore, Database, finish_attempt, start_attempt
from app.store.models import Run
from tests.unit.engine.conftest import claimed_run

TASK = load_task(
    "name: notes\nsite: http://127.0.0.1:9\nsteps:\n"
    "  - goto: /notes\n"
    "  - fill: {target: {label: Title}, value: same}\n",
    "notes.yaml",
)


def test_a_handoff_names_the_attempts_still_staged(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'flightdeck.db'}")
    run_id = claimed_run(db, TASK)
    recorder = RunRecorder(db, run_id, "me", sinks=[])
    desk = HandoffDesk(
        db=db, run_id=run_id, task=TASK, recorder=recorder, artifacts=ArtifactStore(tmp_path / "a")
    )

    def tried(number: int) -> object:
        def change(s: Session, run: Run) -> None:
            attempt = start_attempt(s, run_id, 1, number, before_fp="http://127.0.0.1:9/notes")
            finish_attempt(s, attempt, outcome=AttemptOutcome.SUCCEEDED, after_fp="http://127.0.0.1:9/notes")

        return change

    async def scenario() -> dict[str, object]:
        for number in (1, 2, 3):
            recorder.stage(tried(number))  # type: ignore[arg-type]
        try:
            return await desk.context(1, TASK.steps[1], screenshot=False)
        finally:
            await recorder.close()

    context = asyncio.run(scenario())
    assert [a["number"] for a in context["attempts"]] == [1, 2, 3]  # type: ignore[index, union-attr]
    db.dispose()

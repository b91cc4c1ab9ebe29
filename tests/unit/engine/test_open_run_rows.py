"""An open run's steps are rows (issue 13, part 4): the agent's N-th step is validated alone and
written as one step row, so a long run does not re-parse and rewrite a growing YAML snapshot on
every step; the task file is an export made from the rows, the same text as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event, text

from app.domain.errors import TaskValidationError
from app.domain.states import RunStatus, StepStatus
from app.domain.task import load_task
from app.engine import agentruns
from app.store import Database, RunKind, events, runs

SITE = "http://127.0.0.1:9"
AGENT = {"name": "test-agent"}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'flightdeck.db'}")
    yield database
    database.dispose()


def waiting_open_run(db: Database, snapshot: str) -> str:
    """An open run at its agent's turn (what start_run leaves once the snapshot's steps ran)."""
    task = load_task(snapshot, "agent:test")
    with db.session() as s, s.begin():
        run = runs.create_run(
            s,
            task_name=task.name,
            task_source=None,
            task_text=snapshot,
            inputs={},
            site=SITE,
            steps=[(st.id, st.action.value, st.effect.value, st.summary()) for st in task.steps],
            kind=RunKind.OPEN,
        )
        for to in (RunStatus.RUNNING, RunStatus.WAITING):
            runs.transition(s, run, to)
        return run.id


def agent_step(i: int) -> dict[str, Any]:
    """A varied stream of steps: navigation, clicks, extractions and their later use."""
    match i % 4:
        case 0:
            return {"goto": f"/notes/{i}"}
        case 1:
            return {"click": {"role": "button", "name": f"Save {i}"}, "effect": "write"}
        case 2:
            return {"extract": {"target": {"css": f"#n{i}"}, "into": f"note_{i}"}}
        case _:
            return {
                "fill": {"target": {"label": "Title"}, "value": f"copy of {{{{ outputs.note_{i - 1} }}}}"}
            }


def append(db: Database, run_id: str, raw: dict[str, Any]) -> int:
    return agentruns.append_step(db, run_id, raw, agent=AGENT, secrets=None)


def old_snapshot(snapshot: str, sent: list[dict[str, Any]]) -> str:
    """What the snapshot became before steps were rows: the YAML re-dumped with each step."""
    data = yaml.safe_load(snapshot)
    data["steps"] = [*(data.get("steps") or []), *sent]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def test_appending_the_nth_step_does_the_same_work_as_the_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = agentruns.open_task_text(name="long-agent-run", goal="Add notes", site=SITE)
    run_id = waiting_open_run(db, snapshot)
    parsed: list[int] = []  # bytes of YAML the loader parsed, per call
    validated: list[int] = []  # steps validated, per call of the step loader
    real_load_task, real_load_step = agentruns.load_task, agentruns.load_step

    def counting_load_task(task_text: str, filename: str = "<task>") -> Any:
        parsed.append(len(task_text.encode()))
        return real_load_task(task_text, filename)

    def counting_load_step(item: Any, **kw: Any) -> Any:
        validated.append(1)
        return real_load_step(item, **kw)

    monkeypatch.setattr(agentruns, "load_task", counting_load_task)
    monkeypatch.setattr(agentruns, "load_step", counting_load_step)
    written: list[int] = []

    def count_bytes(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            written[-1] += len(repr(params).encode())

    event.listen(db.engine, "before_cursor_execute", count_bytes)
    per_append: list[tuple[int, int, int]] = []  # (yaml bytes parsed, steps validated, bytes written)
    try:
        for i in range(60):
            parsed.clear()
            validated.clear()
            written.append(0)
            assert append(db, run_id, agent_step(i)) == i
            per_append.append((sum(parsed), len(validated), written[-1]))
    finally:
        event.remove(db.engine, "before_cursor_execute", count_bytes)

    # The snapshot (constant: the header) is parsed once per append, one step is validated.
    assert {(p, v) for p, v, _ in per_append} == {(len(snapshot.encode()), 1)}
    # What is written per step does not grow with the run: step 48+i writes what step i did
    # (same kind of step; a few more digits at most). Before, the whole re-dumped snapshot
    # was written each time: ~40 bytes more at every step, ~2 000 more by step 48.
    for i in range(12):
        assert per_append[48 + i][2] - per_append[i][2] < 24, per_append
    grown = len(old_snapshot(snapshot, [agent_step(i) for i in range(60)])) - len(snapshot)
    assert grown > 2000  # what each late append used to rewrite on top of the header alone

    with db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        assert run is not None
        assert run.task_text == snapshot, "the snapshot is never rewritten"
        assert run.step_count == 60
        # The engine runs the same Task the YAML would have given (line numbers aside).
        built = agentruns.run_task(s, run)
        assert built.open
        before = load_task(old_snapshot(snapshot, [agent_step(i) for i in range(60)]), "agent:test")
        assert [st.model_copy(update={"line": None}) for st in before.steps] == built.steps
        # The chain ties every step row to its agent.step event, and verifies.
        sent = {
            e.data["index"]: e.data["step_sha256"]
            for e in events.list_events(s, run_id)
            if e.type == "agent.step"
        }
        rows = runs.get_steps(s, run_id)
        assert sent == {r.index: agentruns.spec_sha256(r.spec) for r in rows}
        assert events.verify_events(s, run_id) is None


def test_a_step_is_refused_with_the_errors_a_task_file_would_give(db: Database) -> None:
    snapshot = agentruns.open_task_text(name="agent", goal="Notes", site=SITE)
    run_id = waiting_open_run(db, snapshot)
    good = [{"goto": "/notes", "id": "open-notes"}, {"extract": {"target": {"css": "h1"}, "into": "title"}}]
    for raw in good:
        append(db, run_id, raw)
    bad_steps: list[Any] = [
        {"goto": "/again", "id": "open-notes"},  # an id already taken
        {"fill": {"target": {"label": "T"}, "value": "{{ outputs.nope }}"}},  # not extracted yet
        {"click": {"text": "Save"}, "efect": "write"},  # a misspelt key
        {"click": {"text": "Save"}, "goto": "/x"},  # two actions
        "click Save",  # not a mapping
    ]
    for bad in bad_steps:
        with pytest.raises(TaskValidationError) as refused:
            append(db, run_id, bad)
        with pytest.raises(TaskValidationError) as in_a_file:
            load_task(old_snapshot(snapshot, [*good, bad]), "agent:test")
        said = [(i.field, i.message, i.fix) for i in refused.value.issues]
        assert said == [(i.field, i.message, i.fix) for i in in_a_file.value.issues], bad
    # Nothing of the refused steps was written; a good one still follows.
    assert append(db, run_id, {"fill": {"target": {"label": "T"}, "value": "{{ outputs.title }}"}}) == 2
    with db.session(readonly=True) as s:
        assert [r.index for r in runs.get_steps(s, run_id)] == [0, 1, 2]


def test_save_task_gives_the_same_file_as_before(db: Database) -> None:
    # A task file's steps first (they stay in the snapshot), then the agent's (rows).
    base = f"name: notes\nsite: {SITE}\ninputs:\n  title: string\nsteps:\n  - goto: /notes\n"
    snapshot = agentruns.open_task_text(name="x", goal="Add one", site=None, base=base)
    run_id = waiting_open_run(db, snapshot)
    sent = [
        {"fill": {"target": {"label": "Title"}, "value": "{{ inputs.title }}"}, "description": "ünïcode"},
        {"click": {"role": "button", "name": "Save"}, "effect": "write", "expect": {"text": "Saved"}},
        {"click": {"text": "Oops"}},
    ]
    for raw in sent:
        append(db, run_id, raw)
    with db.session() as s, s.begin():
        for row in runs.get_steps(s, run_id):
            row.status = StepStatus.FAILED if row.index == 3 else StepStatus.SUCCEEDED
    # What save-task wrote when the snapshot held every step.
    data = yaml.safe_load(old_snapshot(snapshot, sent))
    data.pop("open")
    data["steps"] = data["steps"][:3]
    expected = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    assert agentruns.saved_task(db, run_id) == expected
    # A retry runs every step again, from a snapshot that holds them all.
    with db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        assert run is not None
        assert agentruns.snapshot_text(s, run) == old_snapshot(snapshot, sent)


def test_an_open_run_of_an_older_database_migrates_and_continues(tmp_path: Path) -> None:
    """Before 0004 an open run kept every step in its snapshot: it becomes kind "open", runs
    the steps its snapshot holds, and takes its agent's next step as a row."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url, migrate=False)
    old.upgrade("0003")
    earlier = [{"goto": "/notes"}, {"click": {"text": "New"}}]
    grown = old_snapshot(agentruns.open_task_text(name="agent", goal="Notes", site=SITE), earlier)
    file_run = f"name: plain\nsite: {SITE}\nsteps:\n  - goto: /\n"
    row = (
        "INSERT INTO runs (id, task_name, task_text, inputs, site, status, checkpoint, step_count,"
        " created_at, updated_at, version) VALUES (:id, :name, :text, '{}', :site, 'waiting', '{}',"
        " :n, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 0)"
    )
    step = (
        'INSERT INTO steps (run_id, "index", step_id, action, effect, summary, status, attempts,'
        " evidence) VALUES (:run, :i, :id, :action, 'read', '', 'succeeded', 1, '{}')"
    )
    with old.engine.begin() as conn:
        conn.execute(text(row), {"id": "openold", "name": "agent", "text": grown, "site": SITE, "n": 2})
        conn.execute(text(row), {"id": "fileold", "name": "plain", "text": file_run, "site": SITE, "n": 1})
        for i, action in enumerate(("goto", "click")):
            conn.execute(text(step), {"run": "openold", "i": i, "id": f"{i + 1}-{action}", "action": action})
    old.dispose()

    db = Database(url)  # migrates to head on open
    try:
        with db.session(readonly=True) as s:
            kinds = {r.id: r.kind for r in runs.list_runs(s)}
            assert kinds == {"openold": RunKind.OPEN, "fileold": RunKind.TASK}
            run = runs.get_run(s, "openold")
            assert run is not None and len(agentruns.run_task(s, run).steps) == 2
        assert append(db, "openold", {"click": {"text": "Save"}, "effect": "write"}) == 2
        with db.session(readonly=True) as s:
            run = runs.get_run(s, "openold")
            assert run is not None and run.task_text == grown
            assert [st.id for st in agentruns.run_task(s, run).steps] == ["1-goto", "2-click", "3-click"]
        assert yaml.safe_load(agentruns.saved_task(db, "openold"))["steps"] == earlier
    finally:
        db.dispose()

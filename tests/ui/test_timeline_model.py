"""The execution log's models, without widgets, on real runs: save-profile (the server answers
500 while the page says "Saved!") and add-note (succeeds after a cookie banner is dismissed),
run once for this module by the real engine in real Chromium against the hostile site."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt

from app.browser import PlaywrightProvider
from app.cli.demo import load_site_module
from app.engine import views
from app.engine.service import Engine
from app.engine.taskfiles import load_task_file
from app.engine.views import RunLog
from app.resources import demo_tasks_dir
from app.store import ArtifactStore, Database
from app.ui.models.runlog import ChecksModel, EventsModel, RequestsModel, run_text
from app.ui.models.timeline import ATTEMPT_ROLE, STATUS_ROLE, STEP_ROLE, TimelineModel

DISPLAY = Qt.ItemDataRole.DisplayRole

pytestmark = pytest.mark.usefixtures("qapp")  # status icons are pixmaps


@dataclasses.dataclass
class Runs:
    db: Database
    ids: dict[str, str]  # task file name → run id

    def log(self, name: str) -> RunLog:
        found = views.run_log(self.db, self.ids[name])
        assert found is not None
        return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Two finished runs, executed the way `flightdeck run` executes them."""
    folder = tmp_path_factory.mktemp("timeline")
    db = Database(f"sqlite:///{folder / 'runs.db'}")
    site = load_site_module().HostileSite()
    url = site.start(host="127.0.0.1", port=0)

    async def execute() -> dict[str, str]:
        provider = PlaywrightProvider(headless=True)
        engine = Engine(db, provider, ArtifactStore(folder / "artifacts"))
        try:
            ids = {}
            for name in ("save-profile.yaml", "add-note.yaml"):
                task, text = load_task_file(str(demo_tasks_dir() / name), url)
                ids[name] = engine.submit(task, text, task.resolve_inputs({}))
            await asyncio.gather(*(engine.run(run_id) for run_id in ids.values()))
            return ids
        finally:
            await engine.close()
            await provider.close()

    try:
        yield Runs(db, asyncio.run(execute()))
    finally:
        site.stop()
        db.dispose()


def _cells(model: TimelineModel, row: int, parent: QModelIndex | None = None) -> list[str]:
    parent = parent or QModelIndex()
    return [model.index(row, col, parent).data(DISPLAY) for col in range(model.columnCount())]


def test_the_steps_of_a_failed_run_read_as_the_operator_needs_them(runs: Runs, qtmodeltester: Any) -> None:
    model = TimelineModel()
    model.apply(runs.log("save-profile.yaml"))
    qtmodeltester.check(model)

    assert [model.index(r, 0).data(STATUS_ROLE) for r in range(model.rowCount())] == [
        "succeeded",
        "succeeded",
        "failed",
    ]
    assert [
        model.headerData(c, Qt.Orientation.Horizontal, DISPLAY) for c in range(model.columnCount())
    ] == list(TimelineModel.COLUMNS)
    step, status, action, duration, attempts, failure = _cells(model, 2)
    assert step == "3. save ✎"  # marked: it can change what the server stores
    assert (status, failure) == ("failed", "transient")
    assert action == 'click role=button name="Save profile"'
    assert duration.endswith(("ms", "s"))
    assert _cells(model, 0)[0] == "1. 1-goto"  # a read: no mark
    # The cookie banner costs one attempt, the 500 a retry: each try is a child row.
    save = model.index(2, 0)
    tries = model.rowCount(save)
    assert tries == model.index(2, 0).data(STEP_ROLE).attempts >= 2
    assert attempts == str(tries)
    assert model.index(2, TimelineModel.ATTEMPTS).data(Qt.ItemDataRole.ToolTipRole) == (
        f"{tries} attempts, {tries} failed ({tries - 1} retried)"
    )
    last = _cells(model, tries - 1, save)
    assert last[0] == f"attempt {tries}"
    assert last[1] == "failed"
    assert "POST" in last[2] and "/api/profile" in last[2] and "500" in last[2]
    assert last[5] == "transient"
    assert model.index(tries - 1, 0, save).data(ATTEMPT_ROLE).requests[0]["status"] == 500
    assert model.index(2, TimelineModel.FAILURE).data(Qt.ItemDataRole.ToolTipRole).endswith("returned 500")


def test_a_run_applied_again_as_it_progresses_changes_in_place(runs: Runs, qtmodeltester: Any) -> None:
    """An earlier moment of the same run, then the run as it ended: rows are updated and
    attempts inserted, never reset (a reset would collapse what the operator expanded)."""
    final = runs.log("add-note.yaml")
    steps = final.detail.steps
    earlier_steps = [
        *steps[:2],
        dataclasses.replace(steps[2], status="running", duration_ms=None, attempts=0, attempt_list=[]),
        *(dataclasses.replace(st, status="pending", attempts=0, attempt_list=[]) for st in steps[3:]),
    ]
    earlier = dataclasses.replace(final.detail, steps=earlier_steps)
    model = TimelineModel()
    model.apply(earlier, {key: ms for key, ms in final.action_ms.items() if key[0] < 2})
    qtmodeltester.check(model)
    assert model.active_row() == 2
    assert model.index(2, TimelineModel.DURATION).data(DISPLAY).endswith("…")  # counting up

    resets: list[int] = []
    inserted: list[tuple[int, int, int]] = []
    changed: list[tuple[int, int]] = []  # (parent row or -1, row)
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((parent.row(), first, last)))
    model.dataChanged.connect(lambda tl, br, roles=(): changed.append((tl.parent().row(), tl.row())))
    model.apply(final)

    assert not resets
    assert (2, 0, 0) in inserted  # step 3's attempt appeared beneath it
    add_attempts = len(steps[3].attempt_list)
    assert (3, 0, add_attempts - 1) in inserted
    assert (-1, 2) in changed and (-1, 3) in changed
    steps_1_and_2 = [c for c in changed if c in ((-1, 0), (-1, 1)) or c[0] in (0, 1)]
    assert not steps_1_and_2, "rows (and attempts) that did not change are not repainted"
    assert [model.index(r, 0).data(STATUS_ROLE) for r in range(model.rowCount())] == ["succeeded"] * 4
    assert model.active_row() is None


def test_another_run_replaces_the_rows(runs: Runs, qtmodeltester: Any) -> None:
    model = TimelineModel()
    qtmodeltester.check(model)
    model.apply(runs.log("add-note.yaml"))
    assert model.rowCount() == 4
    model.apply(runs.log("save-profile.yaml"))
    assert model.rowCount() == 3
    assert model.run_id == runs.ids["save-profile.yaml"]
    model.clear()
    assert model.rowCount() == 0 and model.detail is None


def test_the_evidence_tables_show_the_500_and_the_checks(runs: Runs, qtmodeltester: Any) -> None:
    failed = runs.log("save-profile.yaml").detail.steps[2].attempt_list[-1]
    requests = RequestsModel()
    requests.set_requests(failed.requests)
    qtmodeltester.check(requests)
    assert requests.rowCount() == 1
    row = [requests.index(0, c).data(DISPLAY) for c in range(requests.columnCount())]
    assert row[0] == "POST ✎"  # marked: it can change what the server stores
    assert row[1] == "500"
    assert row[2].endswith("/api/profile")
    assert requests.index(0, 1).data(Qt.ItemDataRole.ForegroundRole).name() == "#eb5757"

    added = runs.log("add-note.yaml").detail.steps[3].attempt_list[-1]
    checks = ChecksModel()
    checks.set_checks(added.checks)
    qtmodeltester.check(checks)
    assert checks.rowCount() == 1
    mark, name, found = (checks.index(0, c).data(DISPLAY) for c in range(3))
    assert mark == "✓" and name.startswith("after_reload:") and found == 'text is "Buy milk"'


def test_the_events_table_grows_at_the_end(runs: Runs, qtmodeltester: Any) -> None:
    everything = runs.log("add-note.yaml").events
    model = EventsModel()
    qtmodeltester.check(model)
    run_id = runs.ids["add-note.yaml"]
    model.apply(run_id, everything[:5])
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    model.apply(run_id, everything[5:])
    assert inserted == [(5, len(everything) - 1)]
    assert model.index(0, 2).data(DISPLAY) == "run.created"
    assert "to=succeeded" in model.index(model.rowCount() - 1, 3).data(DISPLAY)  # the last run.status
    model.apply("another", [])
    assert model.rowCount() == 0


def test_the_run_as_text_reads_like_flightdeck_show(runs: Runs) -> None:
    text = run_text(runs.log("save-profile.yaml").detail)
    lines = text.splitlines()
    assert lines[0] == f"✗ run {runs.ids['save-profile.yaml']} failed · save-profile · 2/3 steps"
    assert lines[1].startswith("  transient: POST ") and lines[1].endswith("/api/profile returned 500")
    assert any(line.startswith("  ✓ 1-goto") and "goto" in line and "succeeded" in line for line in lines)
    save = next(line for line in lines if line.startswith("  ✗ save"))
    assert "click" in save and "write" in save and "failed (" in save
    assert any(line.strip().startswith("⇄ POST") and line.endswith("/api/profile → 500") for line in lines)
    assert any("attempt 1 failed: obstruction" in line for line in lines)

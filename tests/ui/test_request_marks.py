"""The execution log's evidence table marks what decided nothing: the demo's add-note task run
by the real engine in real Chromium against the hostile site whose pages send telemetry to a
host that cannot be reached (and that the allowlist refuses)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.browser import PlaywrightProvider
from app.cli.demo import load_site_module
from app.engine import views
from app.engine.service import Engine
from app.engine.taskfiles import load_task_file
from app.resources import demo_tasks_dir
from app.store import ArtifactStore, Database
from app.ui.models.runlog import RequestsModel, run_text

DISPLAY = Qt.ItemDataRole.DisplayRole
TELEMETRY = "http://telemetry.flightdeck-test.invalid/collect"

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def telemetry_run(tmp_path: Path) -> Any:
    db = Database(f"sqlite:///{tmp_path / 'runs.db'}")
    site = load_site_module().HostileSite(telemetry=True)
    url = site.start(host="127.0.0.1", port=0)

    async def execute() -> str:
        provider = PlaywrightProvider(headless=True)
        engine = Engine(db, provider, ArtifactStore(tmp_path / "artifacts"))
        try:
            task, text = load_task_file(str(demo_tasks_dir() / "add-note.yaml"), url)
            run_id = engine.submit(task, text, task.resolve_inputs({}))
            result = await engine.run(run_id)
            assert result.status.value == "succeeded", result.error
            return run_id
        finally:
            await engine.close()
            await provider.close()

    try:
        log = views.run_log(db, asyncio.run(execute()))
        assert log is not None
        yield log
    finally:
        site.stop()
        db.dispose()


def test_third_party_requests_read_as_evidence_only(telemetry_run: Any, qtmodeltester: Any) -> None:
    added = telemetry_run.detail.steps[3].attempt_list[-1]
    model = RequestsModel()
    model.set_requests(added.requests)
    qtmodeltester.check(model)
    rows = [
        [model.index(r, c).data(DISPLAY) for c in range(model.columnCount())] for r in range(model.rowCount())
    ]
    [telemetry] = [r for r, row in enumerate(rows) if row[:1] == ["POST"] and row[2] == TELEMETRY]
    status = rows[telemetry][1]  # not marked as a write of the site's, nor as a failure
    assert status.startswith("net::ERR_BLOCKED_BY_CLIENT") and status.endswith(
        " · third-party; refused: telemetry.flightdeck-test.invalid is not an allowed domain of this task"
    )
    assert model.index(telemetry, 1).data(Qt.ItemDataRole.ForegroundRole) is None
    assert any(row[0] == "POST ✎" and row[1] == "303" and row[2].endswith("/notes") for row in rows)
    shown = run_text(telemetry_run.detail)
    assert f"POST {TELEMETRY} → {status.split(' · ')[0]} (third-party; refused:" in shown

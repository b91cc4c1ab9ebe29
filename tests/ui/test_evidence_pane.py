"""The evidence pane shows every attempt of a step with its own requests: a retried write's
503 and its 201, and, for an attempt a crash cut short, that its requests were not recorded
(rather than "No requests")."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.ui.console import ConsoleOptions
from app.ui.panels.runlog import RunLogPanel
from tests.helpers.cli import Cli
from tests.helpers.tasks import write_task
from tests.ui.helpers import running_console, until

SHOT = Path("/tmp/flightdeck-evidence-pane.png")  # looked at by a person while writing the pane
DISPLAY = Qt.ItemDataRole.DisplayRole


def _recorded_runs(cli: Cli, site: Any, tmp_path: Path) -> tuple[str, str]:
    """A write retried after a 503, and one whose process was killed right after sending it
    (then resumed: its note was found stored, so it was not sent again)."""
    site.configure(cookie_banner=False, order_503=1)
    order = write_task(
        tmp_path,
        "order",
        f"""
        name: order-once
        site: {site.base_url}
        policy: {{retry: {{initial_interval: 0.1}}}}
        steps:
          - goto: /order
          - id: place
            click: {{role: button, name: Place order}}
            effect: write
            expect: {{text: {{target: {{test_id: status}}, contains: Order placed}}}}
        """,
    )
    retried = cli("run", str(order), "--json")
    assert retried.code == 0, retried.out + retried.err
    note = write_task(
        tmp_path,
        "note",
        f"""
        name: note
        site: {site.base_url}
        steps:
          - goto: /notes
          - fill: {{target: {{label: Title}}, value: Ledger}}
          - id: add-note
            click: {{role: button, name: Add note}}
            effect: write
            expect:
              after_reload: {{text: {{target: {{test_id: note, nth: -1}}, equals: Ledger}}}}
        """,
    )
    saved, cli.env = cli.env, {**cli.env, "FLIGHTDECK_CRASH_AT": "after_dispatch"}
    try:
        crashed = cli("run", str(note))
    finally:
        cli.env = saved
    assert crashed.code == -signal.SIGKILL, crashed.out + crashed.err
    run_id = crashed.out.split()[2]
    assert cli("resume", run_id).code == 0
    return retried.json()["run_id"], run_id


async def test_each_attempt_shows_its_requests_and_an_interrupted_one_says_they_are_lost(
    console_options: ConsoleOptions, site: Any, tmp_path: Path, qtbot: Any
) -> None:
    cli = Cli(tmp_path)
    cli.env["FLIGHTDECK_DATABASE_URL"] = str(console_options.database_url)
    retried, interrupted = _recorded_runs(cli, site, tmp_path)
    async with running_console(console_options) as console:
        panel = RunLogPanel(console.bridge)
        qtbot.addWidget(panel)
        panel.resize(1200, 700)
        panel.show()
        evidence, model = panel.evidence, panel.model

        panel.show_run(retried)
        await until(lambda: model.detail is not None and model.detail.run.id == retried, what="the run")
        step = model.index(1, 0)
        assert model.rowCount(step) == 2
        for row, status in ((0, "503"), (1, "201")):
            panel.tree.setCurrentIndex(model.index(row, 0, step))
            assert evidence.title.text().startswith(f"Step 2 · place — attempt {row + 1} of 2")
            cells = [evidence.requests_model.index(0, c).data(DISPLAY) for c in range(3)]
            assert cells[:2] == ["POST ✎", status] and cells[2].endswith("/api/order")

        panel.show_run(interrupted)
        await until(lambda: model.detail is not None and model.detail.run.id == interrupted, what="the run")
        step = model.index(2, 0)
        assert model.rowCount(step) == 1
        panel.tree.setCurrentIndex(model.index(0, 0, step))
        assert evidence.title.text() == "Step 3 · add-note — attempt 1 · unknown"
        assert evidence.requests_note.text() == (
            "Requests not recorded: the run was interrupted after the action was sent."
        )
        assert evidence.checks_heading.text() == "Expectations: 1 of 1 held"  # how it was settled
        evidence.grab().save(str(SHOT))
    assert [n["title"] for n in site.truth()["notes"]].count("Ledger") == 1
    assert site.truth()["orders"] == [1]

"""The execution log panel on the real console back end: real runs in real Chromium against
the hostile site, shown step by step with their evidence, followed live, copied as text."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel

from app.engine.answers import decision_answer
from app.resources import demo_tasks_dir
from app.ui.bridge import Bridge
from app.ui.console import Console, ConsoleOptions
from app.ui.models.timeline import STATUS_ROLE, TimelineModel
from app.ui.panels.evidence import ScreenshotDialog
from app.ui.panels.runlog import EMPTY_TEXT, RunLogPanel
from tests.ui.helpers import running_console, until

DISPLAY = Qt.ItemDataRole.DisplayRole


def _panel(bridge: Bridge, qtbot: Any) -> RunLogPanel:
    panel = RunLogPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    return panel


async def _submit(console: Console, site: Any, *names: str) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in names:
        console.bridge.submit(
            str(demo_tasks_dir() / name), {}, site=site.url, done=lambda rid, n=name: ids.update({n: rid})
        )
    await until(lambda: len(ids) == len(names), what="the runs to be queued")
    return ids


async def _shown_until_finished(panel: RunLogPanel, run_id: str) -> None:
    panel.show_run(run_id)
    await until(
        lambda: (
            panel.model.detail is not None
            and panel.model.detail.run.id == run_id
            and panel.model.detail.run.terminal
        ),
        timeout=60,
        what=f"run {run_id} to finish in the log",
    )


def _statuses(model: TimelineModel) -> list[str]:
    return [model.index(row, 0).data(STATUS_ROLE) for row in range(model.rowCount())]


def _cell(model: TimelineModel, row: int, column: int, parent: QModelIndex | None = None) -> str:
    return str(model.index(row, column, parent or QModelIndex()).data(DISPLAY))


async def test_runs_show_their_steps_and_the_evidence_that_decided_them(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any
) -> None:
    async with running_console(console_options) as console:
        panel = _panel(console.bridge, qtbot)
        assert panel.stack.currentWidget() is panel.empty
        assert panel.empty.text() == EMPTY_TEXT
        ids = await _submit(console, hostile_site, "save-profile.yaml", "add-note.yaml", "silent-drop.yaml")

        # save-profile: the page says "Saved!", the POST answered 500.
        await _shown_until_finished(panel, ids["save-profile.yaml"])
        assert panel.stack.currentIndex() == 1
        assert _statuses(panel.model) == ["succeeded", "succeeded", "failed"]
        assert panel.header.task.text() == "save-profile"
        assert panel.header.pill.text() == "failed"
        assert panel.header.error.text().startswith("transient: POST ")
        assert panel.header.error.text().endswith("/api/profile returned 500")
        # Opening a failed run selects the step that failed, and its evidence is shown.
        assert panel.tree.currentIndex().row() == 2
        evidence = panel.evidence
        assert evidence.title.text().startswith("Step 3 · save — attempt")
        assert evidence.error.isVisible() and "returned 500" in evidence.error.text()
        requests = evidence.requests_model
        assert [requests.index(0, c).data(DISPLAY) for c in range(3)][:2] == ["POST ✎", "500"]
        assert requests.index(0, 2).data(DISPLAY).endswith("/api/profile")
        assert requests.index(0, 1).data(Qt.ItemDataRole.ForegroundRole).name() == "#eb5757"
        assert evidence.requests.isVisible()
        # The screenshot of the page as the failed attempt left it ("Saved!") loads.
        await until(lambda: evidence.after.has_image(), what="the after screenshot")
        assert not evidence.after.pixmap().isNull()
        assert not evidence.before.isVisible(), "no before screenshot is taken on a failure: no empty box"

        # Copy as text, with the keyboard, from the steps.
        panel.activateWindow()
        await until(lambda: QApplication.activeWindow() is panel, what="the panel to be active")
        panel.tree.setFocus()
        QGuiApplication.clipboard().clear()
        qtbot.keyClick(panel.tree, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
        copied = QGuiApplication.clipboard().text()
        assert copied.startswith(f"✗ run {ids['save-profile.yaml']} failed · save-profile · 2/3 steps")
        assert "  ✓ 1-goto" in copied and "  ✓ 2-fill" in copied
        assert "  ✗ save               click    write        failed (" in copied
        assert "/api/profile → 500" in copied

        # add-note succeeds; its last step proved the note is there after a reload.
        await _shown_until_finished(panel, ids["add-note.yaml"])
        assert _statuses(panel.model) == ["succeeded"] * 4
        assert panel.header.pill.text() == "succeeded"
        assert not panel.header.error.isVisible()
        assert panel.header.inputs.text() == "Inputs: title = Buy milk, body = Two litres, semi-skimmed"
        panel.tree.setCurrentIndex(panel.model.index(3, 0))
        checks = evidence.checks_model
        assert checks.rowCount() == 1
        assert checks.index(0, 0).data(DISPLAY) == "✓"
        assert evidence.checks_heading.text() == "Expectations: 1 of 1 held"

        # silent-drop: the redirect looked fine; the re-read after a reload did not find the note.
        await _shown_until_finished(panel, ids["silent-drop.yaml"])
        assert _statuses(panel.model)[-1] == "failed"
        assert panel.tree.currentIndex().row() == panel.model.rowCount() - 1
        assert checks.index(0, 0).data(DISPLAY) == "✗"
        assert checks.index(0, 1).data(DISPLAY).startswith("after_reload:")
        assert evidence.checks_heading.text() == "Expectations: 0 of 1 held"

        panel.show_run("nosuchrun")
        await until(lambda: panel.empty.isVisible(), what="the run to be reported missing")
        assert panel.empty.text() == "Run nosuchrun is not in the database"
        panel.show_run(None)
        assert panel.stack.currentWidget() is panel.empty and panel.empty.text() == EMPTY_TEXT


async def test_a_running_run_updates_in_place_keeping_what_the_operator_opened(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any
) -> None:
    async with running_console(console_options) as console:
        panel = _panel(console.bridge, qtbot)
        run_id = (await _submit(console, hostile_site, "delete-invoice.yaml"))["delete-invoice.yaml"]
        panel.show_run(run_id)
        model = panel.model

        # The irreversible step waits for an approval; the log says so.
        await until(
            lambda: model.rowCount() == 3 and _cell(model, 2, TimelineModel.STATUS) == "waiting: Approval",
            timeout=60,
            what="the approval",
        )
        assert panel.header.waiting.isVisible()
        assert panel.header.waiting.text().startswith("Waiting for you — Approval")
        assert panel.header.pill.text() == "waiting"
        assert panel.header.steps_done.text() == "2 of 3 steps"
        # Until the operator picks a row, the log keeps the step the run is on selected.
        assert panel.tree.currentIndex().row() == 2
        assert panel.evidence.note.text().startswith("Waiting for you — Approval")

        # The operator opens step 2 and selects its last attempt, then approves.
        step2 = model.index(1, 0)
        tries = model.rowCount(step2)
        assert tries >= 1
        panel.tree.expand(step2)
        panel.tree.setCurrentIndex(model.index(tries - 1, 0, step2))
        resets: list[int] = []
        model.modelReset.connect(lambda: resets.append(1))
        assert model.detail is not None
        approval = next(h for h in model.detail.handoffs if h.status == "open")
        console.bridge.answer(approval.id, decision_answer(approval.payload, approval.id, "approve"))

        await until(
            lambda: model.detail is not None and model.detail.run.status == "succeeded",
            timeout=60,
            what="the run to succeed in the log",
        )
        assert _statuses(model) == ["succeeded"] * 3
        assert model.rowCount(model.index(2, 0)) >= 1, "the approved step's attempt appeared beneath it"
        assert not resets, "updates are applied in place"
        assert panel.tree.isExpanded(model.index(1, 0)), "what the operator opened stays open"
        current = panel.tree.currentIndex()
        assert (current.parent().row(), current.row()) == (1, tries - 1), "the selection stays put"
        assert panel.header.pill.text() == "succeeded"
        assert not panel.header.waiting.isVisible()

        # The approved, irreversible step kept screenshots from before and after it fired.
        panel.tree.setCurrentIndex(model.index(2, 0))
        evidence = panel.evidence
        await until(
            lambda: evidence.before.has_image() and evidence.after.has_image(), what="both screenshots"
        )
        assert evidence.shots_heading.text() == "Screenshots"
        # Clicking a thumbnail shows the screenshot full size.
        qtbot.mouseClick(evidence.after, Qt.MouseButton.LeftButton)
        dialog = evidence.findChild(ScreenshotDialog)
        assert dialog is not None and dialog.isVisible()
        big = dialog.findChild(QLabel).pixmap()
        assert big.width() > evidence.after.pixmap().width()
        dialog.close()

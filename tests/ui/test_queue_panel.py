"""The task queue panel as an operator uses it: select a run, pause / resume / cancel / retry
it with the panel's own actions, filter, sort, and spot the runs that need a person.

Runs are created with the store (set-up); every command goes through the panel's actions to
the real engine. Most tests hold the scheduler (concurrency 0) so a run stays in the status the
test put it in; one resumes a run that the real engine then executes in Chromium.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from app.domain.states import RunStatus
from app.engine import views
from app.ui.console import Console, ConsoleOptions
from app.ui.models.runs import NEEDS_YOU, PROGRESS, SITE, STATUS, TASK
from app.ui.panels.queue import QueuePanel
from app.ui.style import STATUS_COLORS
from tests.ui.helpers import running_console, until
from tests.ui.test_run_model import SITE_B, VARIED, Spec, add_runs, bulk_runs, held

S = RunStatus


async def open_panel(console: Console, qtbot: Any) -> QueuePanel:
    panel = QueuePanel(console.bridge)
    qtbot.addWidget(panel)
    panel.resize(1100, 500)
    panel.show()
    await until(panel.model.is_loaded, what="the queue to load")
    return panel


def db_status(console: Console, run_id: str) -> RunStatus:
    return views.runs_by_id(console.db, [run_id])[0].status


def enabled(panel: QueuePanel) -> set[str]:
    named = {
        "pause": panel.pause_action,
        "resume": panel.resume_action,
        "cancel": panel.cancel_action,
        "retry": panel.retry_action,
        "open": panel.open_action,
    }
    return {name for name, action in named.items() if action.isEnabled()}


def shown_status(panel: QueuePanel, run_id: str) -> str:
    return str(panel.model.index(panel.model.row_for(run_id), STATUS).data())


async def test_the_actions_follow_the_selected_runs_status(
    console_options: ConsoleOptions, qtbot: Any
) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        panel = await open_panel(console, qtbot)
        assert enabled(panel) == set(), "nothing selected: no run commands"
        assert panel.start_action.isEnabled()
        expected = {
            S.QUEUED: {"pause", "cancel", "open"},
            S.RUNNING: {"pause", "cancel", "open"},
            S.WAITING: {"pause", "cancel", "open"},
            S.PAUSED: {"resume", "cancel", "open"},
            S.INTERRUPTED: {"resume", "cancel", "open"},
            S.SUCCEEDED: {"retry", "open"},
            S.FAILED: {"retry", "open"},
            S.CANCELLED: {"retry", "open"},
        }
        for run_id, spec in zip(ids, VARIED, strict=True):
            assert panel.select_run(run_id)
            assert enabled(panel) == expected[spec.status], spec.status


async def test_pause_resume_cancel_and_retry_through_the_panel(
    console_options: ConsoleOptions, qtbot: Any
) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, [Spec("signup-wizard", S.QUEUED)])
        run_id = ids[0]
        panel = await open_panel(console, qtbot)
        announced: list[str] = []
        panel.run_selected.connect(announced.append)
        assert panel.select_run(run_id)
        assert announced == [run_id]

        panel.pause_action.trigger()
        await until(lambda: shown_status(panel, run_id) == "Paused", what="the row to say paused")
        assert db_status(console, run_id) is S.PAUSED
        assert enabled(panel) == {"resume", "cancel", "open"}, "the buttons follow the new status"

        panel.resume_action.trigger()
        await until(lambda: shown_status(panel, run_id) == "Queued", what="the row to say queued")
        assert db_status(console, run_id) is S.QUEUED

        # Cancelling asks first; keeping the run changes nothing.
        panel.cancel_action.trigger()
        box = panel.confirmation()
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert "signup-wizard" in box.text()
        box.button(QMessageBox.StandardButton.No).click()
        await console.bridge.settle()
        assert panel.confirmation() is None
        assert db_status(console, run_id) is S.QUEUED

        panel.cancel_action.trigger()
        box = panel.confirmation()
        assert box is not None
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: shown_status(panel, run_id) == "Cancelled", what="the row to say cancelled")
        assert db_status(console, run_id) is S.CANCELLED
        assert enabled(panel) == {"retry", "open"}

        # Retry makes a new run; it appears at the top and becomes the selection.
        panel.retry_action.trigger()
        await until(lambda: len(announced) == 2, what="the new run to be selected")
        new_id = announced[-1]
        assert new_id != run_id
        assert panel.model.row_for(new_id) == 0
        assert panel.selected_run() is not None and panel.selected_run().id == new_id  # type: ignore[union-attr]
        assert db_status(console, new_id) is S.QUEUED
        assert panel.count_label.text() == "2 runs"


async def test_selecting_and_opening_a_run_tells_the_window(
    console_options: ConsoleOptions, qtbot: Any
) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        panel = await open_panel(console, qtbot)
        selected: list[str] = []
        opened: list[str] = []
        panel.run_selected.connect(selected.append)
        panel.record_requested.connect(opened.append)
        row = panel.model.row_for(ids[2])
        rect = panel.table.visualRect(panel.model.index(row, TASK))
        QTest.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert selected == [ids[2]]
        panel.open_action.trigger()
        assert opened == [ids[2]]
        # A run not loaded yet (here: not there yet at all) is selected when it arrives.
        assert not panel.select_run("notyetthere")


async def test_keyboard_and_context_menu_reach_the_same_actions(
    console_options: ConsoleOptions, qtbot: Any
) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        panel = await open_panel(console, qtbot)
        panel.activateWindow()
        panel.select_run(ids[3])  # paused
        panel.table.setFocus()
        await until(lambda: QApplication.focusWidget() is panel.table, what="focus on the table")
        QTest.keyClick(panel.table, Qt.Key.Key_Delete)
        box = panel.confirmation()
        assert box is not None, "Delete asks to cancel the selected run"
        box.button(QMessageBox.StandardButton.No).click()

        rect = panel.table.visualRect(panel.model.index(panel.model.row_for(ids[5]), TASK))
        panel.table.customContextMenuRequested.emit(rect.center())
        menu = await until(lambda: next((m for m in panel.findChildren(QMenu) if m.isVisible()), None))
        texts = [a.text() for a in menu.actions() if not a.isSeparator()]
        assert {"Open record", "Pause", "Resume", "Cancel…", "Retry", "Start task…"} <= set(texts)
        assert panel.selected_run() is not None and panel.selected_run().id == ids[5]  # type: ignore[union-attr]
        assert panel.retry_action in menu.actions() and panel.retry_action.isEnabled()
        menu.close()


async def test_the_filter_bar_narrows_the_table(console_options: ConsoleOptions, qtbot: Any) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        panel = await open_panel(console, qtbot)
        model = panel.model
        assert panel.count_label.text() == "8 runs"

        panel.status_combo.setCurrentText("Needs you")
        await until(lambda: model.is_loaded() and model.rowCount() == 1, what="only the waiting run")
        assert model.run_at(0).id == ids[1]  # type: ignore[union-attr]
        assert panel.count_label.text() == "1 matching run"
        panel.status_combo.setCurrentText("Active")
        await until(lambda: model.is_loaded() and model.rowCount() == 5, what="the unfinished runs")
        panel.status_combo.setCurrentText("All runs")

        # Typing waits for a pause before it re-reads.
        loads: list[int] = []
        model.loaded.connect(lambda: loads.append(1))
        await until(lambda: model.is_loaded() and model.rowCount() == 8, what="all runs again")
        loads.clear()
        for n in range(1, 6):
            QTest.keyClicks(panel.search, "place"[n - 1])
        await until(lambda: loads, what="the search to apply")
        await console.bridge.settle()
        assert len(loads) == 1, "one read for the whole word"
        assert {model.index(r, TASK).data() for r in range(model.rowCount())} == {"place-order"}
        panel.search.clear()

        await until(lambda: panel.site_combo.count() == 3, what="the sites")
        panel.site_combo.setCurrentIndex(panel.site_combo.findData(SITE_B))
        await until(
            lambda: (
                model.is_loaded()
                and {model.index(r, SITE).data() for r in range(model.rowCount())} == {"shop.test"}
            ),
            what="only shop.test runs",
        )
        assert model.rowCount() == 2


async def test_clicking_a_header_sorts_in_the_database(console_options: ConsoleOptions, qtbot: Any) -> None:
    async with running_console(held(console_options)) as console:
        await asyncio.to_thread(add_runs, console.db, VARIED)
        panel = await open_panel(console, qtbot)
        header = panel.table.horizontalHeader()

        def click(column: int) -> None:
            x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
            QTest.mouseClick(
                header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2)
            )

        def names() -> list[str]:
            return [panel.model.index(r, TASK).data() for r in range(panel.model.rowCount())]

        click(TASK)
        await until(lambda: panel.model.is_loaded() and names() == sorted(names()), what="A to Z")
        assert names()[0] == "add-note"
        assert header.sortIndicatorSection() == TASK
        click(TASK)
        await until(lambda: panel.model.is_loaded() and names()[0] == "silent-drop", what="Z to A")
        assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        before = names()
        click(PROGRESS)  # computed in Python: not sortable, nothing changes
        await console.bridge.settle()
        assert names() == before and header.sortIndicatorSection() == TASK


async def test_a_run_that_needs_you_wears_an_amber_badge(console_options: ConsoleOptions, qtbot: Any) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        panel = await open_panel(console, qtbot)
        image = panel.table.viewport().grab().toImage()
        amber = QColor(STATUS_COLORS["waiting"])

        def amber_in(run_id: str) -> bool:
            rect = panel.table.visualRect(panel.model.index(panel.model.row_for(run_id), NEEDS_YOU))
            centre = rect.center() * image.devicePixelRatio()
            pixel = image.pixelColor(centre.x() - 12, centre.y())
            return (
                abs(pixel.red() - amber.red())
                + abs(pixel.green() - amber.green())
                + abs(pixel.blue() - amber.blue())
                < 40
            )

        assert amber_in(ids[1]), "the waiting run with two questions shows the pill"
        assert not amber_in(ids[0]), "a finished run shows none"


async def test_the_count_says_how_much_of_a_long_history_is_loaded(
    console_options: ConsoleOptions, qtbot: Any
) -> None:
    async with running_console(held(console_options)) as console:
        await asyncio.to_thread(bulk_runs, console.db, 1_500)
        panel = await open_panel(console, qtbot)
        assert panel.count_label.text() == "200 of 1\u2009500 runs"
        panel.table.scrollToBottom()
        await until(lambda: panel.model.rowCount() == 400, what="the next page")
        assert panel.count_label.text() == "400 of 1\u2009500 runs"


async def test_a_resumed_run_is_executed_and_its_row_follows_it_live(
    console_options: ConsoleOptions, qtbot: Any, hostile_site: Any
) -> None:
    async with running_console(console_options) as console:
        ids = await asyncio.to_thread(
            add_runs, console.db, [Spec("signup-wizard", S.PAUSED, site=hostile_site.url)]
        )
        panel = await open_panel(console, qtbot)
        seen: list[str] = []
        resets: list[int] = []
        panel.model.modelAboutToBeReset.connect(lambda: resets.append(1))
        panel.model.dataChanged.connect(lambda *_: seen.append(shown_status(panel, ids[0])))
        panel.select_run(ids[0])
        panel.resume_action.trigger()
        await until(lambda: shown_status(panel, ids[0]) == "Succeeded", timeout=60, what="the run to succeed")
        assert "Running" in seen
        row = panel.model.row_for(ids[0])
        assert panel.model.index(row, PROGRESS).data() == "step 7 of 7"
        assert enabled(panel) == {"retry", "open"}
        assert not resets

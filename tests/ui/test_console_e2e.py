"""The real main window, the real engine on a temporary SQLite file, real Chromium, the hostile
site: what a supervisor does, done through the window's own widgets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from app.domain.states import RunStatus
from app.engine import views
from app.resources import demo_tasks_dir
from app.ui.console import Console, ConsoleOptions
from app.ui.dialogs.start import StartTaskDialog
from app.ui.mainwindow import MainWindow
from app.ui.settings import ConsoleSettings
from tests.ui.helpers import running_console, until


@asynccontextmanager
async def main_window(options: ConsoleOptions, tmp_path: Path) -> AsyncIterator[MainWindow]:
    settings = ConsoleSettings(QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat))
    async with running_console(options) as console:
        window = MainWindow(console, settings)
        window.confirm_close = False
        window.show()
        try:
            yield window
        finally:
            window.close()
            await window.live.aclose()


def run_row(console: Console, run_id: str) -> views.RunRow:
    return views.runs_by_id(console.db, [run_id])[0]


def queued_run(window: MainWindow, task_name: str, known: set[str]) -> str | None:
    """A run of `task_name` the queue panel shows that was not there before."""
    model = window.queue.model
    for row in range(model.rowCount()):
        run = model.run_at(row)
        if run is not None and run.task_name == task_name and run.id not in known:
            return run.id
    return None


async def start_through_dialog(window: MainWindow, task: str, site: str) -> str:
    """File ▸ Start task: the dialog generated from the task's inputs, with the site overridden;
    the new run shows up in the queue panel."""
    known = {r.id for r in views.page_runs(window.console.db, views.RunFilter(), 0, 1000)}
    dialog = window.start_task(str(demo_tasks_dir() / f"{task}.yaml"))
    assert isinstance(dialog, StartTaskDialog) and dialog.isVisible()
    dialog.site_edit.setText(site)
    dialog.accept()
    return str(await until(lambda: queued_run(window, task, known), what=f"{task} in the queue"))


async def handoff_card(window: MainWindow, run_id: str, kind: str) -> Any:
    def find() -> Any:
        for card in window.inbox.ordered_cards():
            if card.handoff.run_id == run_id and card.handoff.kind == kind:
                return card
        return None

    return await until(find, timeout=30, what=f"a {kind} card for run {run_id}")


async def test_an_approval_is_seen_live_approved_through_its_card_and_the_delete_fires(
    console_options: ConsoleOptions, tmp_path: Path, hostile_site: Any
) -> None:
    async with main_window(console_options, tmp_path) as window:
        run_id = await start_through_dialog(window, "delete-invoice", hostile_site.url)

        # The live view shows the run's page while it executes (and while it waits, frozen).
        tile = await until(lambda: window.live.tile(run_id), what="a live tile for the run")
        await until(lambda: tile.has_frame, what="the tile's first frame")

        card = await handoff_card(window, run_id, "approval")
        assert "Invoice 1001" in card.handoff.payload.get("description", "") + card.handoff.question
        assert window.inbox_dock.windowTitle() == "Handoffs (1)"
        assert run_row(window.console, run_id).needs_you == 1
        assert hostile_site.truth()["items"][0]["name"] == "Invoice 1001"  # nothing fired yet

        card.approve_button.click()
        await until(
            lambda: run_row(window.console, run_id).status is RunStatus.SUCCEEDED,
            timeout=30,
            what="the run to succeed",
        )
        assert "Invoice 1001" not in [i["name"] for i in hostile_site.truth()["items"]]
        await until(lambda: window.inbox.card(card.handoff.id) is None, what="the card to go")
        # The queue row shows the outcome without anyone reloading it.
        await until(
            lambda: (
                window.queue.model.run_at(window.queue.model.row_for(run_id)).status  # type: ignore[union-attr]
                is RunStatus.SUCCEEDED
            ),
            what="the queue row to show the success",
        )


async def test_a_clarification_is_answered_by_clicking_the_candidate(
    console_options: ConsoleOptions, tmp_path: Path, hostile_site: Any
) -> None:
    async with main_window(console_options, tmp_path) as window:
        run_id = await start_through_dialog(window, "remove-member", hostile_site.url)
        question = await handoff_card(window, run_id, "clarification")
        assert set(question.choice_buttons) >= {"1", "2", "3"}
        question.choice_buttons["2"].click()

        # The second "Remove" removes a person: that is asked for too.
        approval = await handoff_card(window, run_id, "approval")
        assert hostile_site.truth()["removed"] == []
        approval.approve_button.click()
        await until(
            lambda: run_row(window.console, run_id).status is RunStatus.SUCCEEDED,
            timeout=30,
            what="the run to succeed",
        )
        assert hostile_site.truth()["removed"] == ["Grace Hopper"]


async def test_pause_then_resume_from_the_queue_continues_where_it_stopped(
    console_options: ConsoleOptions, tmp_path: Path, site: Any
) -> None:
    async with main_window(console_options, tmp_path) as window:
        run_id = await start_through_dialog(window, "add-note", site.base_url)
        await until(
            lambda: run_row(window.console, run_id).status is RunStatus.RUNNING, what="the run to start"
        )
        window.queue.select_run(run_id)
        await until(window.queue.pause_action.isEnabled, what="Pause to be offered for the running run")
        window.queue.pause_action.trigger()
        paused = await until(
            lambda: (row := run_row(window.console, run_id)).status is RunStatus.PAUSED and row,
            timeout=30,
            what="the run to pause at its next step boundary",
        )
        assert paused.steps_done < paused.step_count

        # The row shows the pause (the queue follows the database), so Resume is offered.
        await until(window.queue.resume_action.isEnabled, what="Resume to be offered")
        assert (r := window.queue.selected_run()) is not None and r.id == run_id
        window.queue.resume_action.trigger()
        await until(
            lambda: run_row(window.console, run_id).status is RunStatus.SUCCEEDED,
            timeout=60,
            what="the resumed run to succeed",
        )
        titles = [n["title"] for n in site.truth()["notes"]]
        assert titles.count("Buy milk") == 1, titles  # stored exactly once across pause and resume


async def test_quitting_while_a_run_executes_asks_first_and_keeps_running_on_no(
    console_options: ConsoleOptions, tmp_path: Path, site: Any
) -> None:
    task = tmp_path / "slow-read.yaml"
    task.write_text(
        "name: slow-read\nsite: SITE\nsteps:\n"
        "  - goto: /\n"
        "  - wait_for: {text: never on this page}\n    timeout: 60s\n".replace("SITE", site.base_url),
        encoding="utf-8",
    )
    async with main_window(console_options, tmp_path) as window:
        window.confirm_close = True
        closed: list[bool] = []
        window.closed.connect(lambda: closed.append(True))
        dialog = window.start_task(str(task))
        assert isinstance(dialog, StartTaskDialog) and dialog.task is not None, dialog.error.text()
        dialog.accept()
        await until(lambda: window.console.engine.busy_slots == 1, what="the run to execute")

        # The question is window-modal (the run goes on under it); No is the default.
        assert not window.close()
        box = await until(lambda: window.findChild(QMessageBox), what="the quit question")
        assert box.accessibleName() == "Quit Flightdeck"
        assert box.text().startswith("1 run is executing. It stops at once and resumes")
        assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
        window.close()  # asking again while it is open does not stack a second question
        assert len(window.findChildren(QMessageBox)) == 1
        box.button(QMessageBox.StandardButton.No).click()
        await until(lambda: window.findChild(QMessageBox) is None, what="the question to close")
        assert window.isVisible() and not closed and window.console.engine.busy_slots == 1

        window.close()
        box = await until(lambda: window.findChild(QMessageBox), what="the quit question again")
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: closed, what="the window to close")
        assert not window.isVisible()


async def test_about_opens_without_blocking_and_names_the_database(
    console_options: ConsoleOptions, tmp_path: Path
) -> None:
    async with main_window(console_options, tmp_path) as window:
        box = window.about()  # returns at once: the box is open, the loop runs on
        assert box.isVisible() and "Flightdeck 0" in box.text() and "console.db" in box.text()
        box.button(QMessageBox.StandardButton.Ok).click()
        await until(lambda: window.findChild(QMessageBox) is None, what="the box to close")

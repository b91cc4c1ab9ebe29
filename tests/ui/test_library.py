"""The task library: the task files of a folder, their problems shown where the person looks, kept
fresh when files change on disk, and the way from a listed task to a running one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit, QListView

from app.domain.states import RunStatus
from app.engine import views
from app.engine.views import scan_library
from app.resources import demo_tasks_dir
from app.ui.bridge import Bridge
from app.ui.console import ConsoleOptions
from app.ui.dialogs.start import StartTaskDialog, open_start_dialog
from app.ui.models.library import LibraryModel
from app.ui.panels.library import LibraryPanel
from tests.ui.helpers import running_console, until

VALID = """\
name: open-notes
description: Open the notes page.
site: http://127.0.0.1:8765
steps:
  - goto: /notes
  - wait_for: {test_id: note}
"""

# Line 6 has a typo'd action: the library must say so with the line and the fix.
BROKEN = """\
name: broken-login
description: Log in and open the account.
site: http://127.0.0.1:8765
steps:
  - goto: /login
  - clik: {role: button, name: Log in}
"""

WITH_INPUTS = """\
name: add-a-note
site: http://127.0.0.1:8765
inputs:
  title: {type: string, description: Title of the note}
  copies: {type: integer, default: 2}
steps:
  - goto: /notes
  - fill: {target: {label: Title}, value: "{{ title }}"}
"""


@pytest.fixture
def task_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "open-notes.yaml").write_text(VALID)
    (folder / "broken.yaml").write_text(BROKEN)
    (folder / "with-inputs.yml").write_text(WITH_INPUTS)
    (folder / "readme.txt").write_text("not a task file")
    return folder


def test_scanning_a_folder_lists_every_task_file_valid_or_not(task_folder: Path) -> None:
    entries = {e.file_name: e for e in scan_library(task_folder)}

    assert sorted(entries) == ["broken.yaml", "open-notes.yaml", "with-inputs.yml"]
    notes = entries["open-notes.yaml"]
    assert (notes.name, notes.step_count, notes.site, notes.valid) == (
        "open-notes",
        2,
        "http://127.0.0.1:8765",
        True,
    )
    inputs = {i.name: i for i in entries["with-inputs.yml"].inputs}
    assert (inputs["title"].type, inputs["title"].required) == ("string", True)
    assert (inputs["copies"].type, inputs["copies"].default, inputs["copies"].required) == (
        "integer",
        2,
        False,
    )
    broken = entries["broken.yaml"]
    assert broken.name == "broken-login", "an invalid file is still recognisable by its name"
    assert not broken.valid
    assert [(i.line, i.field, i.fix) for i in broken.issues] == [
        (6, "steps[1].clik", "did you mean 'click'?")
    ]


async def _scanned(model: LibraryModel, rows: int) -> None:
    """Wait for a settled scan showing `rows` files (also so no scan is in flight at shutdown)."""
    await until(lambda: not model.is_scanning() and model.rowCount() == rows, what=f"{rows} library rows")


def _row(model: LibraryModel, file_name: str) -> QModelIndex:
    for row in range(model.rowCount()):
        index = model.index(row)
        if Path(index.data(LibraryModel.PathRole)).name == file_name:
            return index
    raise AssertionError(f"{file_name} is not listed")


def _data(model: LibraryModel, file_name: str, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    """What the model says about a file, None while it is not listed (a scan may be under way)."""
    row = model.row_of(str(model.folder() / file_name)) if model.folder() else -1
    return model.index(row).data(role) if row >= 0 else None


async def test_the_library_model_shows_each_task_and_the_problems_of_invalid_ones(
    console_options: ConsoleOptions, task_folder: Path, qtmodeltester: Any
) -> None:
    async with running_console(console_options) as console:
        model = LibraryModel(console.bridge, task_folder)
        await _scanned(model, 3)
        qtmodeltester.check(model)

        notes = _row(model, "open-notes.yaml")
        assert notes.data() == "open-notes"
        assert notes.data(LibraryModel.ValidRole) is True
        assert notes.data(LibraryModel.SummaryRole).startswith("2 steps · http://127.0.0.1:8765")
        assert "inputs: title*, copies" in _row(model, "with-inputs.yml").data(LibraryModel.SummaryRole)

        broken = _row(model, "broken.yaml")
        assert broken.data(LibraryModel.ValidRole) is False
        (problem,) = broken.data(LibraryModel.IssuesRole)
        assert problem.startswith("broken.yaml:6  steps[1].clik: unknown action or key 'clik'")
        assert problem.endswith("fix: did you mean 'click'?")
        assert "broken.yaml:6" in broken.data(Qt.ItemDataRole.ToolTipRole)
        assert "invalid" in broken.data(Qt.ItemDataRole.AccessibleTextRole)


async def test_the_panel_shows_problems_under_the_name_and_only_starts_valid_tasks(
    console_options: ConsoleOptions, task_folder: Path, qtbot: Any
) -> None:
    async with running_console(console_options) as console:
        panel = _panel(console.bridge, task_folder, qtbot)
        await _scanned(panel.model, 3)
        started: list[str] = []
        panel.start_requested.connect(started.append)
        view = panel.view

        # The invalid row is drawn taller than the others: its problem is written out under it.
        broken = _row(panel.model, "broken.yaml")
        valid = _row(panel.model, "with-inputs.yml")  # a valid task without description
        assert view.visualRect(broken).height() > view.visualRect(valid).height()
        assert panel.count_label.text() == "3 tasks · 1 with problems"

        view.setCurrentIndex(broken)
        assert not panel.start_button.isEnabled(), "a task file with problems cannot be started"
        _double_click(qtbot, view, broken)
        assert started == []

        _double_click(qtbot, view, valid)
        assert started == [str(task_folder / "with-inputs.yml")]

        view.setCurrentIndex(_row(panel.model, "open-notes.yaml"))
        assert panel.start_button.isEnabled()
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert started[-1] == str(task_folder / "open-notes.yaml")


async def test_open_file_starts_any_task_file(
    console_options: ConsoleOptions, task_folder: Path, tmp_path: Path, qtbot: Any
) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(VALID)
    async with running_console(console_options) as console:
        panel = _panel(console.bridge, task_folder, qtbot)
        await _scanned(panel.model, 3)
        started: list[str] = []
        panel.start_requested.connect(started.append)
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
        dialog = await until(lambda: panel.findChild(QFileDialog), what="the file dialog")
        assert dialog.isVisible() and "yaml" in dialog.nameFilters()[0]
        dialog.selectFile(str(elsewhere))
        dialog.accept()
        assert started == [str(elsewhere)]


async def test_the_list_follows_the_folder_on_disk(
    console_options: ConsoleOptions, task_folder: Path, qtbot: Any
) -> None:
    async with running_console(console_options) as console:
        panel = _panel(console.bridge, task_folder, qtbot)
        model = panel.model
        await _scanned(model, 3)
        panel.select_path(str(task_folder / "broken.yaml"))

        # Fixing the typo in an editor: the problem goes away, the selection stays.
        (task_folder / "broken.yaml").write_text(BROKEN.replace("clik:", "click:"))
        await until(lambda: _data(model, "broken.yaml", LibraryModel.ValidRole), what="the fix to show")
        assert panel.selected_path() == str(task_folder / "broken.yaml")
        assert panel.start_button.isEnabled()

        (task_folder / "new-task.yaml").write_text(VALID.replace("open-notes", "brand-new"))
        await until(lambda: model.rowCount() == 4, what="the new file to be listed")
        assert _row(model, "new-task.yaml").data() == "brand-new"

        (task_folder / "open-notes.yaml").unlink()
        await until(lambda: model.rowCount() == 3, what="the deleted file to go")
        assert "open-notes" not in [e.name for e in model.entries()]

        # Saving by rename (what many editors do) is seen too.
        replacement = task_folder / ".new-task.tmp"
        replacement.write_text(VALID.replace("open-notes", "renamed-save"))
        replacement.replace(task_folder / "new-task.yaml")
        await until(lambda: _data(model, "new-task.yaml") == "renamed-save", what="the renamed save")
        replacement.write_text(VALID.replace("open-notes", "second-save"))
        replacement.replace(task_folder / "new-task.yaml")
        await until(lambda: _data(model, "new-task.yaml") == "second-save", what="a second save")


async def test_an_empty_or_missing_folder_says_so(
    console_options: ConsoleOptions, tmp_path: Path, task_folder: Path, qtbot: Any
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    async with running_console(console_options) as console:
        panel = _panel(console.bridge, empty, qtbot)
        await until(lambda: "No task files here yet" in panel.status_label.text(), what="the empty state")
        assert panel.status_label.isVisible() and not panel.view.isVisible()

        panel.set_folder(tmp_path / "nowhere")
        await until(lambda: "does not exist" in panel.status_label.text(), what="the missing-folder state")

        panel.set_folder(task_folder)
        await _scanned(panel.model, 3)
        await until(lambda: panel.view.isVisible(), what="the list to replace the empty state")
        assert panel.folder() == task_folder


async def test_a_task_started_from_the_library_runs_with_the_form_values(
    console_options: ConsoleOptions, tmp_path: Path, hostile_site: Any, qtbot: Any
) -> None:
    folder = tmp_path / "demo"
    shutil.copytree(demo_tasks_dir(), folder)
    async with running_console(console_options) as console:
        panel = _panel(console.bridge, folder, qtbot)
        await until(lambda: panel.model.row_of(str(folder / "add-note.yaml")) >= 0, what="add-note")
        requested: list[str] = []
        panel.start_requested.connect(requested.append)
        panel.select_path(str(folder / "add-note.yaml"))
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert requested == [str(folder / "add-note.yaml")]

        # What the main window does with the request: the start dialog, then the run is queued.
        queued: list[str] = []
        dialog = open_start_dialog(console.bridge, requested[0], done=queued.append)  # deletes itself
        title = dialog.field("title")
        assert isinstance(title, QLineEdit) and title.text() == "Buy milk", "the default is filled in"
        title.setText("Pay the rent")
        dialog.site_edit.setText(hostile_site.url)
        _ok(dialog).click()
        assert dialog.inputs() == {"title": "Pay the rent", "body": "Two litres, semi-skimmed"}
        assert dialog.site() == hostile_site.url

        run_id = await until(lambda: queued and queued[0], what="the run to be queued")
        await until(
            lambda: views.runs_by_id(console.db, [run_id])[0].status is RunStatus.SUCCEEDED,
            timeout=60,
            what="the run to succeed",
        )
        assert hostile_site.truth()["notes"][-1]["title"] == "Pay the rent"


def _panel(bridge: Bridge, folder: Path, qtbot: Any) -> LibraryPanel:
    panel = LibraryPanel(bridge, folder)
    qtbot.addWidget(panel)
    panel.resize(480, 600)
    panel.show()
    return panel


def _double_click(qtbot: Any, view: QListView, index: QModelIndex) -> None:
    # As a mouse does it: a click, then the second press that makes it a double-click.
    where = view.visualRect(index).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)


def _ok(dialog: StartTaskDialog) -> Any:
    from PySide6.QtWidgets import QDialogButtonBox

    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)

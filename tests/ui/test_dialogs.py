"""The start-task dialog (a form built from a task's declared inputs) and the settings dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
)

from app.ui.dialogs.settings import SettingsDialog
from app.ui.dialogs.start import StartTaskDialog
from app.ui.settings import ConsoleSettings

EVERY_TYPE = """\
name: every-type
description: One input of each type.
site: http://127.0.0.1:8765
inputs:
  title: {type: string, description: Title of the note}
  password: {type: string, description: Account password}
  copies: {type: integer, default: 3, description: How many notes}
  count: {type: integer}
  ratio: {type: number, default: 0.25}
  price: {type: number, required: false}
  urgent: {type: boolean, default: true, description: Mark as urgent}
  greeting: {type: string, default: hello}
steps:
  - goto: /notes
"""

BROKEN = """\
name: broken
site: http://127.0.0.1:8765
steps:
  - goto: /notes
  - clik: {text: Save}
"""


@pytest.fixture
def every_type(tmp_path: Path) -> str:
    path = tmp_path / "every-type.yaml"
    path.write_text(EVERY_TYPE)
    return str(path)


def _start_dialog(path: str, qtbot: Any) -> StartTaskDialog:
    dialog = StartTaskDialog(path)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _fill(dialog: StartTaskDialog, count: int) -> None:
    """The required inputs of EVERY_TYPE."""
    for name, value in (("title", "t"), ("password", "p")):
        field = dialog.field(name)
        assert isinstance(field, QLineEdit)
        field.setText(value)
    spin = dialog.field("count")
    assert isinstance(spin, QSpinBox)
    spin.setValue(count)


def _ok(dialog: Any) -> QPushButton:
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert button is not None
    return button


# ----------------------------------------------------------------- start dialog
def test_the_form_has_a_field_of_the_right_kind_per_input_with_defaults(every_type: str, qtbot: Any) -> None:
    dialog = _start_dialog(every_type, qtbot)

    assert dialog.windowTitle() == "Start every-type"
    title, password, greeting = dialog.field("title"), dialog.field("password"), dialog.field("greeting")
    assert isinstance(title, QLineEdit) and title.text() == ""
    assert isinstance(password, QLineEdit) and password.echoMode() is QLineEdit.EchoMode.Password
    assert isinstance(greeting, QLineEdit) and greeting.text() == "hello"
    assert greeting.echoMode() is QLineEdit.EchoMode.Normal
    copies, count = dialog.field("copies"), dialog.field("count")
    assert isinstance(copies, QSpinBox) and copies.value() == 3
    assert copies.maximum() >= 2**31 - 1 and copies.minimum() <= -(2**31) + 1, "a wide range"
    assert isinstance(count, QSpinBox) and count.text().strip() == "", "no default: shown empty, not 0"
    ratio, price = dialog.field("ratio"), dialog.field("price")
    assert isinstance(ratio, QDoubleSpinBox) and ratio.value() == 0.25 and ratio.text() == "0.25"
    assert isinstance(price, QDoubleSpinBox) and price.text().strip() == ""
    urgent = dialog.field("urgent")
    assert isinstance(urgent, QCheckBox) and urgent.isChecked() and urgent.text() == "Mark as urgent"

    # Every field is named for assistive technology; the help text is on screen.
    for name in ("title", "password", "copies", "count", "ratio", "price", "urgent", "greeting"):
        assert dialog.field(name).accessibleName() == name
    assert dialog.site_edit.accessibleName() == "Site (override)"
    shown = [label.text() for label in dialog.findChildren(QLabel)]
    assert "Title of the note" in shown
    assert any(text.startswith("title") and "*" in text for text in shown), "required inputs are marked"


def test_start_waits_for_the_required_inputs_and_returns_typed_values(every_type: str, qtbot: Any) -> None:
    dialog = _start_dialog(every_type, qtbot)
    ok = _ok(dialog)
    assert not ok.isEnabled()
    assert dialog.missing() == ["title", "password", "count"]

    qtbot.keyClicks(dialog.field("title"), "Pay the rent")
    qtbot.keyClicks(dialog.field("password"), "hunter2")
    assert not ok.isEnabled(), "count is still missing"
    count = dialog.field("count")
    assert isinstance(count, QSpinBox)
    count.setValue(7)
    assert ok.isEnabled()
    dialog.field("urgent").click()  # untick
    price = dialog.field("price")
    assert isinstance(price, QDoubleSpinBox)
    price.setValue(9.5)

    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == StartTaskDialog.DialogCode.Accepted
    inputs = dialog.inputs()
    assert inputs == {
        "title": "Pay the rent",
        "password": "hunter2",
        "copies": 3,
        "count": 7,
        "ratio": 0.25,
        "price": 9.5,
        "urgent": False,
        "greeting": "hello",
    }
    assert type(inputs["count"]) is int and type(inputs["price"]) is float
    assert dialog.site() is None


def test_an_emptied_optional_field_falls_back_to_its_default(every_type: str, qtbot: Any) -> None:
    dialog = _start_dialog(every_type, qtbot)
    greeting = dialog.field("greeting")
    assert isinstance(greeting, QLineEdit)
    greeting.clear()
    assert greeting.placeholderText() == "hello (default)", "the person sees what will be used"
    _fill(dialog, count=0)
    assert dialog.inputs()["greeting"] == "hello"
    assert dialog.inputs()["count"] == 0, "0 is a value once it is chosen"
    assert "price" not in dialog.inputs(), "an optional input left empty is not passed"


def test_a_site_override_must_be_an_http_address(every_type: str, qtbot: Any) -> None:
    dialog = _start_dialog(every_type, qtbot)
    _fill(dialog, count=1)
    assert dialog.site_edit.placeholderText() == "http://127.0.0.1:8765", "the task's own site"

    dialog.site_edit.setText("staging.example")
    assert not _ok(dialog).isEnabled()
    assert not dialog.error.isHidden() and "not an http(s) address" in dialog.error.text()

    dialog.site_edit.setText("http://127.0.0.1:9000/")
    assert _ok(dialog).isEnabled() and dialog.error.isHidden()
    assert dialog.site() == "http://127.0.0.1:9000"


def test_confirming_an_incomplete_form_shows_the_problem_and_stays_open(every_type: str, qtbot: Any) -> None:
    dialog = _start_dialog(every_type, qtbot)
    dialog.accept()  # e.g. a keyboard shortcut that bypasses the disabled button
    assert dialog.isVisible()
    assert not dialog.error.isHidden()
    assert dialog.error.text() == "missing required input 'title'"


def test_a_task_file_with_problems_shows_them_instead_of_a_form(tmp_path: Path, qtbot: Any) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    dialog = _start_dialog(str(path), qtbot)

    assert dialog.task is None
    assert dialog.windowTitle() == "Cannot start task"
    (problems,) = dialog.findChildren(QPlainTextEdit)
    assert problems.toPlainText().startswith("broken.yaml:5  steps[1].clik: unknown action or key 'clik'")
    assert "fix: did you mean 'click'?" in problems.toPlainText()
    assert _ok_or_none(dialog) is None, "there is nothing to start"
    with pytest.raises(ValueError):
        dialog.inputs()


def test_a_missing_task_file_is_a_problem_too(tmp_path: Path, qtbot: Any) -> None:
    dialog = _start_dialog(str(tmp_path / "gone.yaml"), qtbot)
    assert dialog.task is None
    assert "cannot read" in dialog.findChildren(QPlainTextEdit)[0].toPlainText()


def _ok_or_none(dialog: StartTaskDialog) -> QPushButton | None:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


# ----------------------------------------------------------------- settings dialog
@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "s.ini"


def _settings(path: Path) -> ConsoleSettings:
    # A private ini file: tests never touch the user's own settings.
    return ConsoleSettings(QSettings(str(path), QSettings.Format.IniFormat))


def _settings_dialog(settings: ConsoleSettings, qtbot: Any) -> SettingsDialog:
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_settings_are_saved_and_read_back(settings_file: Path, tmp_path: Path, qtbot: Any) -> None:
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    library = tmp_path / "my-tasks"
    library.mkdir()
    dialog = _settings_dialog(_settings(settings_file), qtbot)
    assert dialog.database_url.placeholderText() == "SQLite in the user data dir"
    assert dialog.browser_path.placeholderText() == "discovered automatically"
    themes: list[str] = []
    folders: list[str] = []
    dialog.theme_changed.connect(themes.append)
    dialog.library_folder_changed.connect(folders.append)

    qtbot.keyClicks(dialog.database_url, "postgresql+psycopg://ops@db.internal/flightdeck")
    dialog.browser_path.setText(str(browser))
    dialog.data_dir.setText(str(tmp_path / "data"))
    dialog.concurrency.setValue(40)  # beyond the range: held at 32
    dialog.rate.setValue(2.5)
    dialog.burst.setValue(5)
    dialog.library_folder.setText(str(library))
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)

    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert themes == ["dark"], "the theme applies at once"
    assert folders == [str(library)]
    again = _settings(settings_file)
    assert again.database_url == "postgresql+psycopg://ops@db.internal/flightdeck"
    assert again.browser_path == str(browser)
    assert again.data_dir == str(tmp_path / "data")
    assert again.concurrency == 32
    assert (again.rate_per_second, again.rate_burst) == (2.5, 5)
    assert again.library_folder == library
    assert again.theme == "dark"

    # Opened again, the dialog shows what was saved.
    reopened = _settings_dialog(again, qtbot)
    assert reopened.database_url.text() == "postgresql+psycopg://ops@db.internal/flightdeck"
    assert reopened.concurrency.value() == 32 and reopened.rate.value() == 2.5
    assert reopened.theme.currentText() == "Dark"


def test_a_bad_database_url_is_refused_where_it_was_typed(settings_file: Path, qtbot: Any) -> None:
    settings = _settings(settings_file)
    dialog = _settings_dialog(settings, qtbot)
    qtbot.keyClicks(dialog.database_url, "not a database")
    assert not dialog.database_error.isHidden()
    assert "Not a database URL" in dialog.database_error.text()

    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert dialog.isVisible(), "the dialog stays open on the problem"
    assert _settings(settings_file).database_url == "", "nothing was saved"

    dialog.database_url.setText("sqlite:////tmp/flightdeck.db")
    assert dialog.database_error.isHidden()


def test_a_browser_that_does_not_exist_is_refused(settings_file: Path, tmp_path: Path, qtbot: Any) -> None:
    dialog = _settings_dialog(_settings(settings_file), qtbot)
    dialog.browser_path.setText(str(tmp_path / "no-such-browser"))
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "No file at" in dialog.browser_error.text() and not dialog.browser_error.isHidden()
    assert _settings(settings_file).browser_path == ""


def test_cancel_changes_nothing_and_an_untouched_library_keeps_following_the_default(
    settings_file: Path, qtbot: Any
) -> None:
    settings = _settings(settings_file)
    dialog = _settings_dialog(settings, qtbot)
    dialog.concurrency.setValue(9)
    dialog.reject()
    assert _settings(settings_file).concurrency == 4

    dialog = _settings_dialog(settings, qtbot)
    themes: list[str] = []
    dialog.theme_changed.connect(themes.append)
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert themes == [], "the theme did not change"
    assert settings.q.value("console/library_folder") is None, "the default folder was not pinned"
    assert settings.rate_per_second == 0.0 and not dialog.burst.isEnabled()
    assert dialog.rate.text() == "each task's own limit"

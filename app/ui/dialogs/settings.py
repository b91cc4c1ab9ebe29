"""The console's settings: storage, browser, how many runs at once, a per-site rate ceiling, the
task library folder and the theme. Values are checked before they are saved (a database URL that
does not parse would only fail at the next start, far from where it was typed)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url

from app.ui.settings import ConsoleSettings
from app.ui.widgets.filedialog import choose_path
from app.ui.widgets.formparts import error_label, stacked

THEMES = (("system", "System"), ("light", "Light"), ("dark", "Dark"))


class SettingsDialog(QDialog):
    theme_changed = Signal(str)  # "system" | "light" | "dark": apply now
    library_folder_changed = Signal(str)  # the library panel can switch folders now

    def __init__(self, settings: ConsoleSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setObjectName("settings-dialog")
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.setSizeGripEnabled(True)

        self.database_url = QLineEdit(settings.database_url)
        self.database_url.setPlaceholderText("SQLite in the user data dir")
        self.database_url.setToolTip("e.g. postgresql+psycopg://user@host/flightdeck for a team database")
        self.database_url.setAccessibleName("Database URL")
        self.database_error = error_label("Database URL problem")

        self.data_dir = QLineEdit(settings.data_dir)
        self.data_dir.setPlaceholderText("the user data dir")
        self.data_dir.setToolTip("Where screenshots and other evidence files are kept")
        self.data_dir.setAccessibleName("Data folder")

        self.browser_path = QLineEdit(settings.browser_path)
        self.browser_path.setPlaceholderText("discovered automatically")
        self.browser_path.setToolTip(
            "A Chromium or Chrome executable; empty: Playwright's, else the system's"
        )
        self.browser_path.setAccessibleName("Browser executable")
        self.browser_error = error_label("Browser path problem")

        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, 32)
        self.concurrency.setValue(min(32, settings.concurrency))
        self.concurrency.setSuffix(" runs at once")
        self.concurrency.setAccessibleName("Concurrent runs")

        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.0, 1000.0)
        self.rate.setDecimals(1)
        self.rate.setSingleStep(0.5)
        self.rate.setSuffix(" actions/s")
        self.rate.setSpecialValueText("each task's own limit")
        self.rate.setValue(settings.rate_per_second)
        self.rate.setToolTip("A ceiling per site for every task; 0: only the limits the tasks declare")
        self.rate.setAccessibleName("Per-site rate limit")
        self.burst = QSpinBox()
        self.burst.setRange(1, 1000)
        self.burst.setValue(min(1000, settings.rate_burst))
        self.burst.setPrefix("bursts of up to ")
        self.burst.setSuffix(" actions")
        self.burst.setAccessibleName("Rate limit burst")

        self.library_folder = QLineEdit(str(settings.library_folder))
        self.library_folder.setAccessibleName("Task library folder")
        self._initial_library = self.library_folder.text()

        self.theme = QComboBox()
        for value, label in THEMES:
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        self.theme.setAccessibleName("Theme")

        storage = QGroupBox("Storage and browser")
        storage_form = _form(storage)
        storage_form.addRow("Database URL", stacked(self.database_url, self.database_error))
        storage_form.addRow("Data folder", self._with_browse(self.data_dir, "Choose the data folder", True))
        browser = self._with_browse(self.browser_path, "Choose the browser executable", False)
        storage_form.addRow("Browser", stacked(browser, self.browser_error))

        runs = QGroupBox("Runs")
        runs_form = _form(runs)
        runs_form.addRow("Concurrency", self.concurrency)
        rate_row = QHBoxLayout()
        rate_row.addWidget(self.rate, 1)
        rate_row.addWidget(self.burst, 1)
        runs_form.addRow("Per-site rate limit", rate_row)

        console = QGroupBox("Console")
        console_form = _form(console)
        console_form.addRow(
            "Task library", self._with_browse(self.library_folder, "Choose the task library folder", True)
        )
        console_form.addRow("Theme", self.theme)

        note = QLabel(
            "Storage, browser and concurrency changes take effect the next time the console starts. "
            "The theme and the task library change at once."
        )
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        note.setAccessibleName("When settings take effect")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(storage)
        layout.addWidget(runs)
        layout.addWidget(console)
        layout.addWidget(note)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.database_url.textChanged.connect(self._check_database_url)
        self.browser_path.textChanged.connect(lambda: self.browser_error.hide())
        self.rate.valueChanged.connect(lambda value: self.burst.setEnabled(value > 0))
        self.burst.setEnabled(self.rate.value() > 0)

    def _with_browse(self, edit: QLineEdit, title: str, folder: bool) -> QWidget:
        button = QPushButton("Browse…")
        button.setAccessibleName(f"Browse for {edit.accessibleName().lower()}")
        button.clicked.connect(lambda: self._browse(edit, title, folder))
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        layout.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit, title: str, folder: bool) -> None:
        choose_path(self, title, edit.text().strip(), edit.setText, mode="folder" if folder else "open")

    # ----------------------------------------------------------------- checks
    def _check_database_url(self) -> bool:
        problem = database_url_problem(self.database_url.text())
        self.database_error.setText(problem)
        self.database_error.setVisible(bool(problem))
        return not problem

    def _check_browser(self) -> bool:
        text = self.browser_path.text().strip()
        problem = f"No file at {text}." if text and not Path(text).expanduser().exists() else ""
        self.browser_error.setText(problem)
        self.browser_error.setVisible(bool(problem))
        return not problem

    def accept(self) -> None:
        database_ok = self._check_database_url()
        if not (self._check_browser() and database_ok):
            return
        s = self.settings
        s.database_url = self.database_url.text()
        s.browser_path = self.browser_path.text()
        s.data_dir = self.data_dir.text()
        s.concurrency = self.concurrency.value()
        s.rate_per_second = self.rate.value()
        s.rate_burst = self.burst.value()
        # Written only when changed: an untouched field keeps following the default folder.
        library = self.library_folder.text().strip()
        library_changed = library != self._initial_library
        if library_changed:
            s.library_folder = library
        theme = str(self.theme.currentData())
        theme_changed = theme != s.theme
        s.theme = theme
        s.sync()
        super().accept()
        if theme_changed:
            self.theme_changed.emit(theme)
        if library_changed:
            self.library_folder_changed.emit(str(s.library_folder))


def database_url_problem(text: str) -> str:
    """Why a database URL cannot be used ("" if it parses, or is empty: the embedded default)."""
    text = text.strip()
    if not text:
        return ""
    try:
        make_url(text)
    except Exception as exc:  # ArgumentError, ValueError: both mean "not a URL"
        return f"Not a database URL ({exc}). e.g. postgresql+psycopg://user@host/flightdeck"
    return ""


def _form(box: QGroupBox) -> QFormLayout:
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setVerticalSpacing(6)
    return form

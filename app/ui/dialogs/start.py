"""Start a task: the task file's name, description and site, and a form built from its declared
inputs (typed fields, defaults filled in, required ones marked). The dialog only collects and
checks values; the caller queues the run (`bridge.submit(path, dialog.inputs(), site=dialog.site())`,
or `open_start_dialog` which does both)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import TaskValidationError
from app.domain.task import Task
from app.domain.task.spec import InputSpec, coerce_input
from app.engine.taskfiles import load_task_file
from app.ui.models.library import issue_text
from app.ui.style import status_color

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # QSpinBox is 32-bit
NUMBER_LIMIT = 1e15
# Inputs whose value should not be shown on screen while typed (the spec has no secret flag yet):
# names containing one of these, or made of words like "pin" (api_token, smtpPassword, card_pin).
SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "credential")
SECRET_WORDS = {"pass", "pin", "otp", "pwd"}


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return any(part in lowered for part in SECRET_PARTS) or bool(SECRET_WORDS & set(words))


class _NumberBox(QDoubleSpinBox):
    """A number field that shows 1.5 as "1.5", not "1.500000"."""

    def textFromValue(self, value: float) -> str:
        if value == self.minimum() and self.specialValueText():
            return self.specialValueText()
        text = self.locale().toString(value, "f", self.decimals())
        point = self.locale().decimalPoint()
        return text.rstrip("0").rstrip(point) if point in text else text


class StartTaskDialog(QDialog):
    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.task: Task | None = None
        self.problems: list[str] = []
        self._fields: dict[str, QWidget] = {}
        self._blank: dict[str, bool] = {}  # numeric fields whose "empty" is their minimum
        self._inputs: dict[str, Any] | None = None
        self.setObjectName("start-task-dialog")
        self.setMinimumWidth(520)
        self.setSizeGripEnabled(True)
        try:
            # A small local file, read once as the dialog opens; the run re-reads it when queued.
            self.task, _ = load_task_file(path)
        except TaskValidationError as exc:
            self.problems = [issue_text(i) for i in exc.issues]

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.error = QLabel()
        self.error.setObjectName("start-error")
        self.error.setAccessibleName("Start problem")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        _tint(self.error, "failed")
        self.error.hide()
        self.site_edit = QLineEdit()

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        if self.task is None:
            self._build_problems(layout)
        else:
            self._build_form(layout, self.task)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.buttons.rejected.connect(self.reject)
        self.buttons.accepted.connect(self.accept)
        self._update_ok()

    # ----------------------------------------------------------------- building
    def _build_problems(self, layout: QVBoxLayout) -> None:
        self.setWindowTitle("Cannot start task")
        title = QLabel(f"<b>This task file cannot start</b><br>{_escape(self.path)}")
        title.setWordWrap(True)
        layout.addWidget(title)
        text = QPlainTextEdit("\n".join(self.problems))
        text.setReadOnly(True)
        text.setAccessibleName("Task file problems")
        text.setMinimumHeight(120)
        layout.addWidget(text)
        layout.addWidget(QLabel("Fix the file and open it again."))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")

    def _build_form(self, layout: QVBoxLayout, task: Task) -> None:
        self.setWindowTitle(f"Start {task.name}")
        heading = QLabel(f"<b style='font-size:large'>{_escape(task.name)}</b>")
        heading.setAccessibleName("Task name")
        layout.addWidget(heading)
        if task.description:
            description = QLabel(" ".join(task.description.split()))
            description.setWordWrap(True)
            description.setAccessibleName("Task description")
            layout.addWidget(description)
        steps = f"{len(task.steps)} step{'s' if len(task.steps) != 1 else ''}"
        where = QLabel(f"Site: {task.site or '(none: absolute URLs)'}   ·   {steps}   ·   {self.path}")
        where.setWordWrap(True)
        where.setAccessibleName("Task site and file")
        where.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(where)

        box = QGroupBox("Inputs")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        if not task.inputs:
            form.addRow(QLabel("This task takes no inputs."))
        for name, spec in task.inputs.items():
            field = self._field(name, spec)
            self._fields[name] = field
            label = QLabel(f"{_escape(name)}{' <b>*</b>' if spec.required else ''}")
            label.setBuddy(field)
            # A check box says what it means itself; other fields get their help under them.
            hint = "" if spec.type == "boolean" else _help(spec)
            form.addRow(label, _with_hint(field, hint))
        if any(s.required for s in task.inputs.values()):
            form.addRow("", QLabel("<b>*</b> required"))
        layout.addWidget(box)

        run_box = QGroupBox("Where")
        run_form = QFormLayout(run_box)
        run_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.site_edit.setPlaceholderText(task.site or "https://…")
        self.site_edit.setAccessibleName("Site (override)")
        self.site_edit.setAccessibleDescription("Run against another address, e.g. a staging server")
        self.site_edit.setToolTip("Leave empty to use the task's own site")
        self.site_edit.textChanged.connect(self._update_ok)
        run_form.addRow("Site (override)", self.site_edit)
        layout.addWidget(run_box)

        self.buttons.addButton(QDialogButtonBox.StandardButton.Ok)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Start")
        ok.setAccessibleName("Start the task")
        ok.setDefault(True)

    def _field(self, name: str, spec: InputSpec) -> QWidget:
        description = spec.description or ""
        widget: QWidget
        if spec.type == "boolean":
            box = QCheckBox(description or "yes")
            box.setChecked(spec.default is not None and coerce_input("boolean", spec.default))
            widget = box
        elif spec.type == "integer":
            spin = QSpinBox()
            spin.setRange(INT_MIN + 1, INT_MAX)  # INT_MIN stays free to mean "not given"
            spin.setGroupSeparatorShown(False)
            if spec.default is None:
                self._make_blank(name, spin)
            else:
                spin.setValue(coerce_input("integer", spec.default))
            spin.valueChanged.connect(self._update_ok)
            widget = spin
        elif spec.type == "number":
            number = _NumberBox()
            number.setDecimals(6)
            number.setRange(-NUMBER_LIMIT, NUMBER_LIMIT)
            if spec.default is None:
                self._make_blank(name, number)
            else:
                number.setValue(coerce_input("number", spec.default))
            number.valueChanged.connect(self._update_ok)
            widget = number
        else:
            edit = QLineEdit("" if spec.default is None else str(spec.default))
            if spec.default is not None:
                edit.setPlaceholderText(f"{spec.default} (default)")
            elif spec.required:
                edit.setPlaceholderText("required")
            if getattr(spec, "secret", False) or looks_secret(name):
                edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.textChanged.connect(self._update_ok)
            widget = edit
        widget.setObjectName(f"input-{name}")
        widget.setAccessibleName(name)
        widget.setAccessibleDescription(description or f"{spec.type} input")
        widget.setToolTip(description or f"{spec.type}")
        return widget

    def _make_blank(self, name: str, spin: QSpinBox | QDoubleSpinBox) -> None:
        # "Not given yet": one below the range, shown as empty (Qt's special value), so a
        # required number is not silently 0.
        if isinstance(spin, QSpinBox):
            spin.setMinimum(spin.minimum() - 1)
            spin.setValue(spin.minimum())
        else:
            spin.setMinimum(spin.minimum() - 1.0)
            spin.setValue(spin.minimum())
        spin.setSpecialValueText(" ")
        self._blank[name] = True

    # ----------------------------------------------------------------- values
    def field(self, name: str) -> QWidget:
        """The form field of input `name` (QLineEdit, QSpinBox, QDoubleSpinBox or QCheckBox)."""
        return self._fields[name]

    def raw_inputs(self) -> dict[str, Any]:
        """What the form says, typed; inputs left empty are left out (their default applies)."""
        values: dict[str, Any] = {}
        for name, widget in self._fields.items():
            if isinstance(widget, QCheckBox):
                values[name] = widget.isChecked()
            elif isinstance(widget, QSpinBox | QDoubleSpinBox):
                if not (self._blank.get(name) and widget.value() == widget.minimum()):
                    values[name] = widget.value()
            elif isinstance(widget, QLineEdit) and widget.text().strip():
                values[name] = widget.text()
        return values

    def inputs(self) -> dict[str, Any]:
        """The run's inputs: typed, defaults applied (Task.resolve_inputs). Raises ValueError
        before the form is complete."""
        if self._inputs is not None:
            return dict(self._inputs)
        if self.task is None:
            raise ValueError("the task file has problems")
        return self.task.resolve_inputs(self.raw_inputs())

    def site(self) -> str | None:
        text = self.site_edit.text().strip()
        return text.rstrip("/") if text else None

    def missing(self) -> list[str]:
        """Required inputs not filled in yet."""
        if self.task is None:
            return []
        given = self.raw_inputs()
        return [n for n, s in self.task.inputs.items() if s.required and n not in given]

    def accept(self) -> None:
        if self.task is None:
            return
        try:
            self._inputs = self.task.resolve_inputs(self.raw_inputs())
        except ValueError as exc:
            self._show_error(str(exc))
            return
        super().accept()

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is None:
            return
        self._inputs = None
        missing = self.missing()
        site_problem = _site_problem(self.site_edit.text().strip())
        ok.setEnabled(not missing and not site_problem)
        if site_problem:
            self._show_error(site_problem)
        else:
            self.error.hide()
        ok.setToolTip(f"Fill in: {', '.join(missing)}" if missing else "")

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()


def open_start_dialog(
    bridge: Any, path: str, parent: QWidget | None = None, done: Callable[[str], None] | None = None
) -> StartTaskDialog:
    """Open the start dialog for `path` (non-blocking); when the person confirms, queue the run
    through the bridge; `done(run_id)` once it is queued."""
    dialog = StartTaskDialog(path, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def submit() -> None:
        bridge.submit(path, dialog.inputs(), site=dialog.site(), done=done)

    dialog.accepted.connect(submit)
    dialog.open()
    return dialog


def _with_hint(field: QWidget, hint_text: str) -> QWidget:
    """The field with its help text right under it (tight, so it reads as that field's help)."""
    if not hint_text:
        return field
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 4)
    layout.setSpacing(1)
    layout.addWidget(field)
    hint = QLabel(hint_text)
    hint.setWordWrap(True)
    hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    layout.addWidget(hint)
    return box


def _help(spec: InputSpec) -> str:
    kind = {"string": "", "integer": "whole number", "number": "number", "boolean": ""}[spec.type]
    parts = [p for p in (spec.description or "", kind) if p]
    if len(parts) == 2:
        return f"{parts[0]} ({parts[1]})"
    return parts[0] if parts else ""


def _site_problem(text: str) -> str:
    if not text:
        return ""
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"Site: '{text}' is not an http(s) address (e.g. http://127.0.0.1:8765)."
    return ""


def _tint(label: QLabel, status: str) -> None:
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, status_color(status))
    label.setPalette(palette)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

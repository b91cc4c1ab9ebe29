"""The form that adds a credential or replaces one's values: name, username, password (twice),
an optional TOTP seed, extra fields. It only collects and checks values — by the same rules
(`CredentialError`) that refuse them when the credential is built, shown next to the field —
and the owner stores `credential()` through the bridge. Values are never read back into it:
Replace starts empty, and every field is emptied once the form closes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.secrets import (
    FIELDS,
    MIN_SECRET_LENGTH,
    Credential,
    CredentialError,
    Totp,
    check_credential_name,
    check_extra_fields,
)
from app.ui.widgets.formparts import error_label, stacked

# Passes every rule: stands in for the other fields while one value is checked on its own, so
# each field gets its own message instead of only the first the whole credential would raise.
_STAND_IN = "x" * MIN_SECRET_LENGTH


@dataclass
class ExtraRow:
    key: QLineEdit
    value: QLineEdit
    error: QLabel
    box: QWidget


class CredentialForm(QDialog):
    submitted = Signal()  # OK with a valid form: the owner stores credential(), then finish()

    def __init__(
        self, existing: Mapping[str, list[str]], replacing: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.existing = dict(existing)
        self.replacing = replacing
        self._busy = False
        self.setObjectName("credential-form")
        self.setWindowTitle(f"Replace credential {replacing}" if replacing else "Add credential")
        self.setMinimumWidth(560)
        self.setSizeGripEnabled(True)
        self.problem = error_label("Saving problem")  # what the keyring said, if it refused
        self.progress = QLabel("Saving to the OS keyring…")
        self.progress.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.ok.setAccessibleName("Save the credential")
        self.ok.setDefault(True)

        self.name = _edit("Credential name", "e.g. shop — tasks refer to shop.password")
        self.username = _edit("Username", "the login name or e-mail")
        # Off by default: a username is in the site's URLs and greetings, and the record stays
        # readable; on, it is masked like the password (README "Credentials").
        self.secret_username = QCheckBox("Mask the username too (it is secret on this site)")
        self.secret_username.setAccessibleName("Username is secret")
        self.password = _edit("Password", "", secret=True)
        self.confirm = _edit("Password again", "the same password once more", secret=True)
        self.totp = _edit("TOTP seed", "optional: the key under “enter this key manually”, or otpauth://…")
        self.totp.setEchoMode(QLineEdit.EchoMode.Password)
        self.errors = {w: error_label(f"{w.accessibleName()} problem") for w in self._fixed_fields()}
        if replacing:
            self.name.setText(replacing)
            self.name.setReadOnly(True)
            self.name.setFrame(False)  # shown as fixed text: Replace keeps the name
            self.name.setToolTip("Replace keeps the name; remove the credential to rename it")

        form_box = QGroupBox("Login")
        form = QFormLayout(form_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(6)
        for label, edit in (
            ("Name", self.name),
            ("Username", self.username),
            ("Password", self.password),
            ("Confirm", self.confirm),
            ("TOTP seed", self.totp),
        ):
            form.addRow(label, stacked(edit, self.errors[edit]))
            if edit is self.username:
                form.addRow("", self.secret_username)

        self.extras: list[ExtraRow] = []
        extra_box = QGroupBox("Extra fields")
        self._extra_layout = QVBoxLayout(extra_box)
        self._extra_layout.setSpacing(4)
        hint = QLabel("Anything else a site asks for (a PIN, a memorable word); referred to as NAME.FIELD.")
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._extra_layout.addWidget(hint)
        self.add_field_button = QPushButton("Add field")
        self.add_field_button.setAccessibleName("Add an extra field")
        self.add_field_button.clicked.connect(lambda: self.add_extra())
        self._extra_layout.addWidget(self.add_field_button, 0, Qt.AlignmentFlag.AlignLeft)
        # Field names are not secret (the list shows them): Replace offers the ones it has.
        for key in existing.get(replacing, []) if replacing else []:
            if key not in FIELDS:
                self.add_extra(key)

        note = QLabel(
            f"Values are stored in the OS keyring only and never shown again. Each secret one must "
            f"be at least {MIN_SECRET_LENGTH} characters, so it can be masked in everything "
            "Flightdeck writes." + (" Replace stores new values for every field." if replacing else "")
        )
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(form_box)
        layout.addWidget(extra_box)
        layout.addWidget(note)
        layout.addWidget(self.problem)
        layout.addWidget(self.progress)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for edit in self._fixed_fields():
            edit.textChanged.connect(self.validate)
        self.secret_username.toggled.connect(self.validate)
        self.validate()
        (self.username if replacing else self.name).setFocus()

    def _fixed_fields(self) -> list[QLineEdit]:
        return [self.name, self.username, self.password, self.confirm, self.totp]

    # ----------------------------------------------------------------- extra fields
    def add_extra(self, key: str = "") -> ExtraRow:
        key_edit = _edit("Extra field name", "field name, e.g. pin")
        key_edit.setText(key)
        value = _edit("Extra field value", "value", secret=True)
        error = error_label("Extra field problem")
        remove = QPushButton("Remove")
        remove.setAccessibleName("Remove this extra field")
        box = QWidget()
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(key_edit, 2)
        line.addWidget(value, 3)
        line.addWidget(remove)
        outer = QVBoxLayout(box)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        outer.addLayout(line)
        outer.addWidget(error)
        row = ExtraRow(key_edit, value, error, box)
        self.extras.append(row)
        # Above the "Add field" button, which stays last.
        self._extra_layout.insertWidget(self._extra_layout.count() - 1, box)
        box.show()  # at once: a layout shows a widget added to a visible form only later
        key_edit.textChanged.connect(self.validate)
        value.textChanged.connect(self.validate)
        remove.clicked.connect(lambda: self._remove_extra(row))
        self.validate()
        (value if key else key_edit).setFocus()
        return row

    def _remove_extra(self, row: ExtraRow) -> None:
        row.value.setText("")
        self.extras.remove(row)
        row.box.deleteLater()
        self.validate()

    # ----------------------------------------------------------------- checks
    def validate(self) -> bool:
        """Show each field's problem next to it; enable Save when the form can be stored."""
        name, username, password = self.name.text(), self.username.text(), self.password.text()
        problems = {
            self.name: self._name_problem(name),
            self.username: _problem(
                lambda: Credential(username, _STAND_IN, secret_username=self.secret_username.isChecked())
            )
            if username
            else "",
            self.password: _problem(lambda: Credential(_STAND_IN, password)) if password else "",
            self.confirm: "the two passwords differ"
            if self.confirm.text() and password and self.confirm.text() != password
            else "",
            self.totp: _totp_problem(self.totp.text()),
        }
        for edit, text in problems.items():
            _show(self.errors[edit], text)
        missing = [
            label
            for label, edit in (
                ("name", self.name),
                ("username", self.username),
                ("password", self.password),
                ("the password again", self.confirm),
            )
            if not edit.text()
        ]
        extra_ok = self._validate_extras(missing)
        valid = not missing and not any(problems.values()) and extra_ok
        self.ok.setEnabled(valid and not self._busy)
        self.ok.setToolTip(f"Fill in: {', '.join(missing)}" if missing else "")
        self.problem.hide()
        self._fit()
        return valid

    def _fit(self) -> None:
        """Grow (never shrink, which would jump while typing) when a problem appears: a top-level
        dialog's minimum size ignores wrapped labels, so the fields would be squeezed instead."""
        layout = self.layout()
        if layout is None or not self.isVisible():
            return
        layout.activate()
        width = self.width()
        need = (
            layout.totalHeightForWidth(width)
            if layout.hasHeightForWidth()
            else layout.totalSizeHint().height()
        )
        if need > self.height():
            self.resize(width, need)

    def _name_problem(self, name: str) -> str:
        if not name or self.replacing:
            return ""
        if name in self.existing:
            return f"a credential named {name!r} exists: close this and choose Replace to give it new values"
        return _problem(lambda: check_credential_name(name))

    def _validate_extras(self, missing: list[str]) -> bool:
        ok = True
        seen: set[str] = set()
        for row in self.extras:
            key, value = row.key.text().strip(), row.value.text()
            text = ""
            if not key and not value:
                continue  # an empty row is ignored
            if not key:
                text = "name this field (tasks refer to it as NAME.FIELD)"
            elif key in seen:
                text = f"the field {key!r} is given twice"
            else:
                text = _extra_problem(key, value)
                if not text and not value:
                    missing.append(f"a value for {key}")
            seen.add(key)
            _show(row.error, text)
            ok = ok and not text
        return ok

    # ----------------------------------------------------------------- values
    def credential_name(self) -> str:
        return self.name.text()

    def credential(self) -> Credential:
        """The credential the form describes (raises CredentialError if it is not valid)."""
        seed = self.totp.text().strip()
        extra = {r.key.text().strip(): r.value.text() for r in self.extras if r.key.text().strip()}
        return Credential(
            self.username.text(),
            self.password.text(),
            Totp.parse(seed) if seed else None,
            extra,
            secret_username=self.secret_username.isChecked(),
        )

    def accept(self) -> None:
        # Save (or Enter) asks the owner to store it; the form closes once the keyring has it.
        if not self._busy and self.validate():
            self.submitted.emit()

    def reject(self) -> None:
        if not self._busy:  # a save in flight finishes first (its result comes back here)
            super().reject()

    def done(self, result: int) -> None:
        self.clear_values()
        super().done(result)

    def finish(self) -> None:
        """Stored: close, values emptied."""
        self.set_busy(False)
        super().accept()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        for edit in [*self._fixed_fields(), *(e for r in self.extras for e in (r.key, r.value))]:
            edit.setEnabled(not busy)
        self.secret_username.setEnabled(not busy)
        self.add_field_button.setEnabled(not busy)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(not busy)
        self.validate()

    def show_problem(self, text: str) -> None:
        """The keyring refused (locked, gone…): the values stay so the operator can try again."""
        self.set_busy(False)
        _show(self.problem, text)
        self._fit()

    def clear_values(self) -> None:
        # setText, not clear(): clear() is undoable, so Ctrl+Z would bring a value back.
        for edit in [self.username, self.password, self.confirm, self.totp, *(r.value for r in self.extras)]:
            edit.setText("")


def _problem(check: Callable[[], object]) -> str:
    try:
        check()
    except CredentialError as exc:
        return str(exc)
    return ""


def _extra_problem(key: str, value: str) -> str:
    named = _problem(lambda: check_extra_fields([key]))
    if named or not value:
        return named
    return _problem(lambda: Credential(_STAND_IN, _STAND_IN, extra={key: value}))


def _totp_problem(text: str) -> str:
    if not text.strip():
        return ""
    try:
        totp = Totp.parse(text)
    except CredentialError as exc:
        return str(exc)
    return _problem(lambda: Credential(_STAND_IN, _STAND_IN, totp))


def _edit(name: str, placeholder: str, *, secret: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setAccessibleName(name)
    edit.setPlaceholderText(placeholder)
    if secret:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


def _show(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))

"""Tools ▸ Credentials: the named logins in the OS keyring — names and field names, never a
value — with Add, Replace and Remove.

Every keyring call runs on a worker thread through the bridge (over D-Bus a call can block for
as long as an unlock prompt stays open), and the dialog says when it is busy. Without a usable
keyring it says why and how to get one, and nothing can be edited."""

from __future__ import annotations

import functools
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.engine.ports import SecretUnavailable
from app.secrets import Credential, CredentialError, KeyringStatus, keyring_status
from app.ui.bridge import Bridge
from app.ui.dialogs.credential_form import CredentialForm
from app.ui.style import status_color
from app.ui.widgets.confirm import confirm


class CredentialStore(Protocol):
    """What the dialog needs of `app.secrets.KeyringSecrets` (blocking: worker threads only)."""

    def add(self, name: str, credential: Credential, *, replace: bool = False) -> None: ...
    def catalog(self) -> dict[str, list[str]]: ...
    def remove(self, name: str) -> None: ...


def read_keyring(secrets: CredentialStore) -> tuple[KeyringStatus, dict[str, list[str]]]:
    """Whether the keyring is usable, and if so the names and field names (worker thread)."""
    status = keyring_status()
    return status, (secrets.catalog() if status.usable else {})


class CredentialsDialog(QDialog):
    def __init__(self, bridge: Bridge, secrets: CredentialStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.secrets = secrets
        self.catalog: dict[str, list[str]] = {}
        self.usable = False
        self.loaded = False  # the first answer from the keyring has arrived
        self.form: CredentialForm | None = None
        self.confirmation: QMessageBox | None = None
        self._busy = 0
        self.setObjectName("credentials-dialog")
        self.setWindowTitle("Credentials")
        self.setMinimumSize(640, 420)
        self.setSizeGripEnabled(True)

        self.intro = QLabel(
            "Named logins kept in the OS keyring. Tasks refer to them as NAME.FIELD "
            "(e.g. <code>shop.password</code>); values are never shown here or anywhere else."
        )
        self.intro.setWordWrap(True)
        self.banner = QLabel()  # why the keyring cannot be used, and the fix
        self.banner.setObjectName("keyring-unavailable")
        self.banner.setAccessibleName("Keyring problem")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setFrameShape(QLabel.Shape.StyledPanel)
        self.banner.setMargin(8)
        self.banner.hide()

        self.model = QStandardItemModel(0, 2, self)
        self.model.setHorizontalHeaderLabels(["Credential", "Fields"])
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setAlternatingRowColors(True)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAccessibleName("Credentials")
        self.view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.view.header().setStretchLastSection(True)
        self.view.header().setMinimumSectionSize(160)

        self.add_button = QPushButton("Add…")
        self.add_button.setAccessibleName("Add a credential")
        self.replace_button = QPushButton("Replace…")
        self.replace_button.setAccessibleName("Replace the selected credential's values")
        self.replace_button.setToolTip("Enter new values for the selected credential")
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setAccessibleName("Remove the selected credential")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Read the credentials again")

        self.status = QLabel()  # busy, the last result, or what went wrong
        self.status.setAccessibleName("Credentials status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        row = QHBoxLayout()
        for button in (self.add_button, self.replace_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        self.close_buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.intro)
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.close_buttons)

        self.add_button.clicked.connect(self.add)
        self.replace_button.clicked.connect(self.replace_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.close_buttons.rejected.connect(self.reject)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.view.doubleClicked.connect(self.replace_selected)
        self._update_buttons()
        self.refresh()

    # ----------------------------------------------------------------- state
    @property
    def busy(self) -> bool:
        return self._busy > 0

    def _begin(self, text: str | None) -> None:
        self._busy += 1
        if text is not None:
            self._say(text)
        self._update_buttons()

    def _end(self) -> None:
        self._busy -= 1
        self._update_buttons()

    def _say(self, text: str, *, problem: bool = False) -> None:
        palette = self.status.palette()
        palette.setColor(
            QPalette.ColorRole.WindowText,
            status_color("failed") if problem else self.palette().color(QPalette.ColorRole.WindowText),
        )
        self.status.setPalette(palette)
        self.status.setText(text)

    def _update_buttons(self) -> None:
        editable = self.usable and not self.busy
        selected = self.selected() is not None
        self.add_button.setEnabled(editable)
        self.replace_button.setEnabled(editable and selected)
        self.remove_button.setEnabled(editable and selected)
        self.refresh_button.setEnabled(not self.busy)

    def selected(self) -> str | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.item(rows[0].row(), 0).text() if rows else None

    # ----------------------------------------------------------------- reading
    def refresh(self, *, quiet: bool = False) -> None:
        """Read the keyring again; `quiet` keeps the status line (the result of a command)."""
        self._begin(None if quiet else "Reading the OS keyring…")
        self.bridge.call(
            "reading the credentials",
            read_keyring,
            self.secrets,
            done=lambda result: self._loaded(result, quiet),
            failed=self._load_failed,
        )

    def _loaded(self, result: tuple[KeyringStatus, dict[str, list[str]]], quiet: bool = False) -> None:
        status, catalog = result
        self._end()
        self.loaded = True
        self.usable = status.usable
        if not status.usable:
            self._unavailable(status)
            return
        self.banner.hide()
        self._show_catalog(catalog)
        count = len(catalog)
        if not quiet:
            self._say(
                f"{count} credential{'s' if count != 1 else ''} in {status.backend}."
                if count
                else f"No credentials yet: Add one. They are kept in {status.backend}."
            )
        self._update_buttons()

    def _load_failed(self, exc: BaseException) -> None:
        # A usable backend that refused (a locked collection, a vanished D-Bus daemon).
        self._end()
        self.loaded = True
        self.usable = False
        self._show_catalog({})
        self._say(_reason(exc), problem=True)
        self._update_buttons()

    def _unavailable(self, status: KeyringStatus) -> None:
        reason, _, fix = status.fix.partition(": ")
        if not fix:
            reason, fix = "no usable OS keyring", status.fix
        self.banner.setText(
            f"<b>Credentials are unavailable here: {_escape(reason)}</b> "
            f"(keyring backend <code>{_escape(status.backend)}</code>).<br>"
            f"<b>Fix:</b> {_escape(fix)}, then choose Refresh.<br>"
            "Runs that need a credential are refused until then; nothing is ever stored in a file instead."
        )
        palette = self.banner.palette()
        palette.setColor(QPalette.ColorRole.WindowText, status_color("failed"))
        self.banner.setPalette(palette)
        self.banner.show()
        self._show_catalog({})
        self._say("")
        self._update_buttons()

    def _show_catalog(self, catalog: dict[str, list[str]]) -> None:
        keep = self.selected()
        self.catalog = dict(catalog)
        self.model.removeRows(0, self.model.rowCount())
        for name, fields in catalog.items():
            name_item = QStandardItem(name)
            name_item.setToolTip(f"refer to it as {', '.join(f'{name}.{f}' for f in fields)}")
            self.model.appendRow([name_item, QStandardItem(", ".join(fields))])
            if name == keep:
                self.view.setCurrentIndex(name_item.index())
        self._update_buttons()

    # ----------------------------------------------------------------- commands
    def add(self) -> CredentialForm | None:
        return self._open_form(None)

    def replace_selected(self) -> CredentialForm | None:
        name = self.selected()
        return self._open_form(name) if name else None

    def _open_form(self, replacing: str | None) -> CredentialForm | None:
        if not self.usable or self.busy:
            return None
        if self.form is not None:
            self.form.raise_()
            return self.form
        form = CredentialForm(self.catalog, replacing, self)
        form.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        form.submitted.connect(lambda: self._save(form))
        form.finished.connect(lambda: setattr(self, "form", None))
        self.form = form
        form.open()
        return form

    def _save(self, form: CredentialForm) -> None:
        name, replace = form.credential_name(), form.replacing is not None
        try:
            credential = form.credential()
        except CredentialError as exc:
            form.show_problem(str(exc))
            return
        form.set_busy(True)
        self._begin(f"Storing {name} in the OS keyring…")

        def stored(_: object) -> None:
            self._end()
            fields = ", ".join(f"{name}.{f}" for f in credential.fields)
            form.finish()  # closes it, its values emptied
            self._say(f"✓ {name} {'replaced' if replace else 'stored'}: refer to it as {fields}.")
            self.refresh(quiet=True)

        def refused(exc: BaseException) -> None:
            self._end()
            form.show_problem(_reason(exc))
            self._say("")

        self.bridge.call(
            f"storing credential {name}",
            functools.partial(self.secrets.add, name, credential, replace=replace),
            done=stored,
            failed=refused,
        )

    def remove_selected(self) -> QMessageBox | None:
        """Ask first (a removed credential cannot be brought back); the question does not block."""
        name = self.selected()
        if name is None or not self.usable or self.busy or self.confirmation is not None:
            return None

        def closed() -> None:
            self.confirmation = None

        self.confirmation = confirm(
            self,
            title="Remove credential",
            text=f"Remove the credential “{name}” from the OS keyring?\n\n"
            "Its values are deleted; tasks that refer to it are refused until it is added again.",
            yes="Remove",
            no="Keep it",
            name="Confirm removing the credential",
            on_yes=lambda: self._remove(name),
            on_close=closed,
        )
        return self.confirmation

    def _remove(self, name: str) -> None:
        self._begin(f"Removing {name} from the OS keyring…")

        def removed(_: object) -> None:
            self._end()
            self._say(f"✓ {name} removed.")
            self.refresh(quiet=True)

        def refused(exc: BaseException) -> None:
            self._end()
            self._say(_reason(exc), problem=True)

        self.bridge.call(
            f"removing credential {name}", self.secrets.remove, name, done=removed, failed=refused
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SecretUnavailable | CredentialError):
        return str(exc)  # written for people: names what is wrong and the fix
    return f"{type(exc).__name__}: {exc}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

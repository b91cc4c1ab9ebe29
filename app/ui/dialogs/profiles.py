"""Tools ▸ Session profiles: the saved browser sessions runs reuse — name, size, when saved and
the run using it — with Clear (the next run starts logged out) and Refresh.

Listing and clearing read lock and profile files: they run on worker threads through the
bridge. A profile a live run holds cannot be cleared: the button says so, and if a run took it
since the list was read, the store refuses and the dialog shows why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

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

from app.engine.ports import ProfileBusy
from app.ui.bridge import Bridge
from app.ui.style import status_color
from app.ui.widgets.confirm import confirm

if TYPE_CHECKING:  # importing app.browser loads Playwright: the console defers that
    from app.browser.profiles import ProfileInfo


class ProfileManager(Protocol):
    """What the dialog needs of `app.browser.profiles.ProfileStore` (blocking: worker threads)."""

    def list_profiles(self) -> list[ProfileInfo]: ...
    def clear(self, name: str) -> bool: ...


COLUMNS = ("Profile", "Size", "Last saved", "In use by")


class ProfilesDialog(QDialog):
    def __init__(self, bridge: Bridge, profiles: ProfileManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.profiles = profiles
        self.infos: list[ProfileInfo] = []
        self.loaded = False
        self.confirmation: QMessageBox | None = None
        self._busy = 0
        self._stale = False  # a change arrived while a read was in flight: read again after it
        self._rebuilding = False  # re-selecting after a re-read is not the operator choosing
        self.setObjectName("profiles-dialog")
        self.setWindowTitle("Session profiles")
        self.setMinimumSize(680, 380)
        self.setSizeGripEnabled(True)

        intro = QLabel(
            "Browser sessions (cookies, local storage) that runs of a task with <code>session:</code> "
            "reuse, so a site is not signed into every time. Stored encrypted; clearing one means the "
            "next run starts logged out."
        )
        intro.setWordWrap(True)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setAlternatingRowColors(True)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAccessibleName("Session profiles")
        header = self.view.header()
        header.setMinimumSectionSize(90)
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        self.clear_button = QPushButton("Clear…")
        self.clear_button.setAccessibleName("Clear the selected session profile")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Read the session profiles again")
        self.status = QLabel()
        self.status.setAccessibleName("Session profiles status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        row = QHBoxLayout()
        row.addWidget(self.clear_button)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(close)

        self.clear_button.clicked.connect(self.clear_selected)
        self.refresh_button.clicked.connect(self.refresh)
        close.rejected.connect(self.reject)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        # Runs take and give back profiles as they start and finish; each does commit, so the
        # change notification is the moment to re-read who holds what.
        bridge.changed.connect(self._changed)
        self._update_buttons()
        self.refresh()

    # ----------------------------------------------------------------- state
    @property
    def busy(self) -> bool:
        return self._busy > 0

    def selected(self) -> ProfileInfo | None:
        rows = self.view.selectionModel().selectedRows()
        return self.infos[rows[0].row()] if rows else None

    def _update_buttons(self) -> None:
        info = self.selected()
        self.clear_button.setEnabled(info is not None and not info.locked_by and not self.busy)
        self.clear_button.setToolTip(
            f"In use by run {info.locked_by}: clear it after that run finishes"
            if info is not None and info.locked_by
            else ""
        )
        self.refresh_button.setEnabled(not self.busy)

    def _selection_changed(self) -> None:
        self._update_buttons()
        info = self.selected()
        if info is not None and info.locked_by and not self._rebuilding:
            # A disabled button alone does not say why.
            self._say(
                f"{info.name} is in use by run {info.locked_by}: it can be cleared after that run finishes."
            )

    def _say(self, text: str, *, problem: bool = False) -> None:
        palette = self.status.palette()
        palette.setColor(
            QPalette.ColorRole.WindowText,
            status_color("failed") if problem else self.palette().color(QPalette.ColorRole.WindowText),
        )
        self.status.setPalette(palette)
        self.status.setText(text)

    # ----------------------------------------------------------------- reading
    def _changed(self) -> None:
        if not self.isVisible():
            return  # read again when reopened, not while nobody looks
        if self.busy:
            self._stale = True
        else:
            self.refresh(quiet=True)

    def refresh(self, *, quiet: bool = False) -> None:
        self._busy += 1
        self._stale = False
        if not quiet:
            self._say("Reading the session profiles…")
        self._update_buttons()
        self.bridge.call(
            "reading the session profiles",
            self.profiles.list_profiles,
            done=lambda infos: self._loaded(infos, quiet),
            failed=self._failed,
        )

    def _loaded(self, infos: list[ProfileInfo], quiet: bool) -> None:
        self._busy -= 1
        self.loaded = True
        self._show(infos)
        count = len(infos)
        if not quiet:  # a quiet re-read keeps what the status says (the result of a clear)
            self._say(
                f"{count} session profile{'s' if count != 1 else ''}."
                if count
                else "No session profiles yet: a task with a session profile saves one when it runs."
            )
        if self._stale:
            self.refresh(quiet=True)

    def _failed(self, exc: BaseException) -> None:
        self._busy -= 1
        self.loaded = True
        self._say(f"The session profiles cannot be read: {exc}", problem=True)
        self._update_buttons()

    def _show(self, infos: list[ProfileInfo]) -> None:
        keep = self.selected()
        self._rebuilding = True
        self.infos = list(infos)
        self.model.removeRows(0, self.model.rowCount())
        for info in infos:
            saved = info.saved_at.astimezone().strftime("%Y-%m-%d %H:%M") if info.saved_at else "never"
            size = QStandardItem(_size(info.size))
            size.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.model.appendRow(
                [
                    QStandardItem(info.name),
                    size,
                    QStandardItem(saved),
                    QStandardItem(f"run {info.locked_by}" if info.locked_by else "—"),
                ]
            )
            if keep is not None and info.name == keep.name:
                self.view.setCurrentIndex(self.model.index(self.model.rowCount() - 1, 0))
        self._rebuilding = False
        self._update_buttons()

    # ----------------------------------------------------------------- clearing
    def clear_selected(self) -> QMessageBox | None:
        """Ask first (the saved sign-in is gone for good); the question does not block."""
        info = self.selected()
        if info is None or self.busy or self.confirmation is not None:
            return None
        if info.locked_by:
            self._say(
                f"{info.name} is in use by run {info.locked_by}: clear it after that run finishes.",
                problem=True,
            )
            return None
        name = info.name

        def closed() -> None:
            self.confirmation = None

        self.confirmation = confirm(
            self,
            title="Clear session profile",
            text=f"Clear the session profile “{name}”?\n\n"
            "Its saved cookies and storage are deleted: the next run that uses it starts logged out.",
            yes="Clear",
            no="Keep it",
            name="Confirm clearing the session profile",
            on_yes=lambda: self._clear(name),
            on_close=closed,
        )
        return self.confirmation

    def _clear(self, name: str) -> None:
        self._busy += 1
        self._say(f"Clearing {name}…")
        self._update_buttons()

        def cleared(existed: bool) -> None:
            self._busy -= 1
            self._say(
                f"✓ {name} cleared: the next run that uses it starts logged out."
                if existed
                else f"{name} had no saved session."
            )
            self.refresh(quiet=True)

        def refused(exc: BaseException) -> None:
            self._busy -= 1
            self._update_buttons()
            if isinstance(exc, ProfileBusy):
                self._say(f"Not cleared: {exc}.", problem=True)
            else:
                self._say(f"{name} cannot be cleared: {exc}", problem=True)
            self.refresh(quiet=True)

        self.bridge.call(
            f"clearing session profile {name}", self.profiles.clear, name, done=cleared, failed=refused
        )


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"

"""The task library as an item model: the task files of one folder, validated on a worker thread,
kept fresh by watching the folder. Invalid files stay in the list with their problems (file:line,
field, problem, fix) so the person sees why a task cannot start, not just that it is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QFileSystemWatcher,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from app.domain.errors import ValidationIssue
from app.engine.views import LibraryEntry, scan_library
from app.ui.bridge import Bridge

# Editors save in bursts (write, rename, chmod); one re-scan after the burst is enough.
RESCAN_DELAY_MS = 250
ModelIndex = QModelIndex | QPersistentModelIndex


def issue_text(issue: ValidationIssue) -> str:
    """One problem as the library shows it: where, what, and how to fix it."""
    where = Path(issue.file).name + (f":{issue.line}" if issue.line else "")
    text = f"{where}  {issue.field}: {issue.message}"
    return f"{text} — fix: {issue.fix}" if issue.fix else text


def entry_summary(entry: LibraryEntry) -> str:
    """The second line under a task's name: size, site and inputs at a glance."""
    if not entry.valid:
        count = len(entry.issues)
        return f"{entry.file_name} · cannot start: {count} problem{'s' if count != 1 else ''}"
    parts = [f"{entry.step_count} step{'s' if entry.step_count != 1 else ''}"]
    if entry.site:
        parts.append(entry.site)
    if entry.inputs:
        parts.append("inputs: " + ", ".join(i.name + ("*" if i.required else "") for i in entry.inputs))
    parts.append(entry.file_name)
    return " · ".join(parts)


class LibraryModel(QAbstractListModel):
    EntryRole = Qt.ItemDataRole.UserRole + 1  # the LibraryEntry
    PathRole = Qt.ItemDataRole.UserRole + 2  # str
    ValidRole = Qt.ItemDataRole.UserRole + 3  # bool
    SummaryRole = Qt.ItemDataRole.UserRole + 4  # str: steps · site · inputs · file
    IssuesRole = Qt.ItemDataRole.UserRole + 5  # list[str], one line per problem (issue_text)
    DescriptionRole = Qt.ItemDataRole.UserRole + 6  # str

    scanned = Signal()  # a scan finished (with entries, or with folder_error set)

    def __init__(self, bridge: Bridge, folder: Path | str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._bridge = bridge
        self._folder: Path | None = None
        self._entries: list[LibraryEntry] = []
        self._folder_error = ""
        self._generation = 0  # results of a scan overtaken by a newer one are dropped
        self._scanning = False
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._schedule_rescan)
        self._watcher.fileChanged.connect(self._schedule_rescan)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(RESCAN_DELAY_MS)
        self._debounce.timeout.connect(self.refresh)
        if folder is not None:
            self.set_folder(folder)

    # ----------------------------------------------------------------- API
    def folder(self) -> Path | None:
        return self._folder

    def folder_error(self) -> str:
        """Why the folder could not be read ("" when it could)."""
        return self._folder_error

    def is_scanning(self) -> bool:
        """A scan is running, or due (the folder changed a moment ago)."""
        return self._scanning or self._debounce.isActive()

    def entries(self) -> list[LibraryEntry]:
        return list(self._entries)

    def entry(self, row: int) -> LibraryEntry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def row_of(self, path: str) -> int:
        return next((i for i, e in enumerate(self._entries) if e.path == path), -1)

    def set_folder(self, folder: Path | str) -> None:
        self._folder = Path(folder)
        self._unwatch()
        self._watcher.addPath(str(self._folder))  # fails quietly if missing; Refresh retries
        if self._entries:
            self.beginResetModel()
            self._entries = []
            self.endResetModel()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the folder now (on a worker thread); the view updates when it is done."""
        self._debounce.stop()
        if self._folder is None:
            return
        self._generation += 1
        generation, folder = self._generation, self._folder
        self._scanning = True
        self._bridge.spawn(
            "scanning the task library",
            asyncio.to_thread(scan_library, folder),
            done=lambda entries: self._scanned(generation, entries, ""),
            failed=lambda exc: self._scanned(generation, [], _reason(exc)),
        )

    # ----------------------------------------------------------------- Qt model
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        # Invalid files stay selectable: the person reads their problems and fixes them.
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.name
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [entry.path]
            if entry.description:
                lines.append(entry.description.strip())
            lines.extend(issue_text(i) for i in entry.issues)
            return "\n".join(lines)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            if entry.valid:
                return f"{entry.name}, {entry_summary(entry)}"
            return f"{entry.name}, invalid: " + "; ".join(issue_text(i) for i in entry.issues)
        if role == self.EntryRole:
            return entry
        if role == self.PathRole:
            return entry.path
        if role == self.ValidRole:
            return entry.valid
        if role == self.SummaryRole:
            return entry_summary(entry)
        if role == self.IssuesRole:
            return [issue_text(i) for i in entry.issues]
        if role == self.DescriptionRole:
            return " ".join((entry.description or "").split())
        return None

    # ----------------------------------------------------------------- internals
    def _schedule_rescan(self, _path: str = "") -> None:
        self._debounce.start()

    def _scanned(self, generation: int, entries: list[LibraryEntry], error: str) -> None:
        if generation != self._generation:
            return
        self._scanning = False
        self._folder_error = error
        if [e.path for e in entries] == [e.path for e in self._entries]:
            # Same files: update in place so the selection and scroll position stay put.
            changed = [
                i for i, (new, old) in enumerate(zip(entries, self._entries, strict=True)) if new != old
            ]
            self._entries = entries
            if changed:
                self.dataChanged.emit(self.index(min(changed)), self.index(max(changed)))
        else:
            self.beginResetModel()
            self._entries = entries
            self.endResetModel()
        self._watch_files()
        self.scanned.emit()

    def _watch_files(self) -> None:
        # Editors that save by renaming drop the file from the watcher: re-add after every scan.
        watched = set(self._watcher.files())
        wanted = {e.path for e in self._entries}
        gone = sorted(watched - wanted)
        new = sorted(wanted - watched)
        if gone:
            self._watcher.removePaths(gone)
        if new:
            self._watcher.addPaths(new)
        if self._folder is not None and str(self._folder) not in self._watcher.directories():
            self._watcher.addPath(str(self._folder))  # the folder may exist by now

    def _unwatch(self) -> None:
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "This folder does not exist."
    if isinstance(exc, PermissionError):
        return "This folder cannot be read (permission denied)."
    return f"This folder cannot be read: {exc}"

"""The open handoffs, most urgent first: the inbox's list and the tray badge's count.

Rows are `views.HandoffView`s read on a worker thread (`views.open_handoffs` through the bridge)
whenever something was committed. A refresh applies the difference as row inserts, removals
and moves, never a reset: the inbox keeps one card per handoff, and a card the person is
editing must survive another handoff arriving.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import shiboken6
from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from app.engine import views
from app.engine.views import HandoffView
from app.ui.bridge import Bridge
from app.ui.style import HANDOFF_LABELS

log = logging.getLogger("flightdeck.ui")

AnyIndex = QModelIndex | QPersistentModelIndex


class HandoffListModel(QAbstractListModel):
    IdRole = Qt.ItemDataRole.UserRole + 1
    RunRole = Qt.ItemDataRole.UserRole + 2
    KindRole = Qt.ItemDataRole.UserRole + 3
    DeadlineRole = Qt.ItemDataRole.UserRole + 4  # datetime (UTC) or None
    HandoffRole = Qt.ItemDataRole.UserRole + 5  # the HandoffView itself

    count_changed = Signal(int)  # the number of open handoffs (also on the first load)
    arrived = Signal(list)  # HandoffViews new since the last refresh (never on the first load)
    refreshed = Signal()  # a refresh was applied (whether or not anything changed)

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._rows: list[HandoffView] = []
        self._loaded = False
        self._reading = False
        self._again = False  # a change came in while reading: read once more afterwards
        bridge.changed.connect(self.refresh)
        self.refresh()

    # ----------------------------------------------------------------- reading
    def refresh(self) -> None:
        """Re-read the open handoffs. One read at a time; changes meanwhile make one more."""
        if self._reading:
            self._again = True
            return
        self._reading = True
        self._again = False
        self._bridge.read(views.open_handoffs, done=self._read_done, failed=self._read_failed)

    def _read_done(self, rows: list[HandoffView]) -> None:
        if not shiboken6.isValid(self):  # the inbox closed while the read ran
            return
        self._reading = False
        self.apply(rows)
        if self._again:
            self.refresh()

    def _read_failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._reading = False
        log.warning("reading the open handoffs failed: %s", exc)
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._bridge.failed.emit("reading the open handoffs", details)
        # The next commit retries; retrying at once could spin on a broken database.

    def apply(self, rows: list[HandoffView]) -> None:
        """Make the rows equal `rows` (already most urgent first) with minimal row changes."""
        known = {h.id for h in self._rows}
        wanted = {h.id for h in rows}
        count = len(self._rows)
        for i in reversed(range(len(self._rows))):
            if self._rows[i].id not in wanted:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        for i, h in enumerate(rows):
            if i < len(self._rows) and self._rows[i].id == h.id:
                self._update(i, h)
                continue
            j = next((k for k in range(i + 1, len(self._rows)) if self._rows[k].id == h.id), None)
            if j is None:
                self.beginInsertRows(QModelIndex(), i, i)
                self._rows.insert(i, h)
                self.endInsertRows()
            else:
                self.beginMoveRows(QModelIndex(), j, j, QModelIndex(), i)
                self._rows.insert(i, self._rows.pop(j))
                self.endMoveRows()
                self._update(i, h)
        first = not self._loaded
        self._loaded = True
        if first or len(self._rows) != count:
            self.count_changed.emit(len(self._rows))
        new = [h for h in rows if h.id not in known]
        if new and not first:
            self.arrived.emit(new)
        self.refreshed.emit()

    def _update(self, row: int, h: HandoffView) -> None:
        if self._rows[row] != h:
            self._rows[row] = h
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)

    # ----------------------------------------------------------------- access
    @property
    def loaded(self) -> bool:
        """Whether the first read has come back."""
        return self._loaded

    def handoffs(self) -> list[HandoffView]:
        return list(self._rows)

    def handoff(self, row: int) -> HandoffView:
        return self._rows[row]

    def row_of(self, handoff_id: str) -> int:
        return next((i for i, h in enumerate(self._rows) if h.id == handoff_id), -1)

    # ----------------------------------------------------------------- model
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows) or index.column() != 0:
            return None
        h = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{HANDOFF_LABELS.get(h.kind, h.kind)} · {h.task_name}: {h.question}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return h.question
        if role == self.IdRole:
            return h.id
        if role == self.RunRole:
            return h.run_id
        if role == self.KindRole:
            return h.kind
        if role == self.DeadlineRole:
            return h.deadline
        if role == self.HandoffRole:
            return h
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role, name in (
            (self.IdRole, b"handoffId"),
            (self.RunRole, b"runId"),
            (self.KindRole, b"kind"),
            (self.DeadlineRole, b"deadline"),
            (self.HandoffRole, b"handoff"),
        ):
            names[role] = QByteArray(name)
        return names

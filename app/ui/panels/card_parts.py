"""Pieces the handoff cards share: the deadline countdown, the screenshot, the values table,
the inline error, and short texts made from payloads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import shiboken6
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QMouseEvent, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QApplication,
    QDialog,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import TaskValidationError
from app.engine.views import HandoffView
from app.ui.bridge import Bridge
from app.ui.style import STATUS_COLORS

MASK = "••••••"
ERROR_COLOR = STATUS_COLORS["failed"]
URGENT_SECONDS = 120  # the countdown turns red below this


# ----------------------------------------------------------------- texts
def _clock(seconds: float) -> str:
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def default_effect(default: Any) -> str:
    """What the deadline does, as a verb phrase: "denies", "fails the step"…"""
    if default is None:
        return "expires unanswered"
    if isinstance(default, Mapping):
        decision = default.get("decision")
        if decision is not None:
            return {
                "approve": "approves",
                "deny": "denies",
                "fail": "fails the step",
                "hand_back": "hands back",
                "unknown": "fails the step, outcome unknown",
            }.get(str(decision), f"answers {decision}")
        if "value" in default:
            return f"answers “{default['value']}”"
    return f"answers {default}"


def countdown_text(h: HandoffView, now: datetime | None = None) -> str:
    """'denies in 59:12': what happens at the deadline, and when."""
    left = h.seconds_left(now)
    if left is None:
        return "no deadline"
    effect = default_effect(h.default_answer)
    if left <= 0:
        return f"deadline passed: {effect}"
    return f"{effect} in {_clock(left)}"


def compact(value: Any) -> str:
    """A nested payload value (an expectation, a target) as one readable line."""
    if isinstance(value, Mapping):
        # A target reads as what it names: 'test_id “last4”', not 'target {test_id “last4”}'.
        return ", ".join(compact(v) if k == "target" else f"{k} {_nested(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(compact(v) for v in value)
    return str(value)


def _nested(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + compact(value) + "}"
    if isinstance(value, list):
        return "[" + compact(value) + "]" if len(value) != 1 else _nested(value[0])
    if isinstance(value, str):
        return f"“{value}”"
    return str(value).lower() if isinstance(value, bool) else str(value)


def step_line(payload: Mapping[str, Any]) -> str:
    """'Step 3 · confirm-delete · click role=button name="Yes, delete"'."""
    step = payload.get("step") or {}
    if not step:
        return ""
    number = step.get("index")
    head = f"Step {number + 1}" if isinstance(number, int) else "Step"
    return f"{head} · {step.get('id', '')} · {step.get('summary', '')}"


def error_text(exc: TaskValidationError) -> str:
    """An answer that does not fit the question, said in one or two lines."""
    lines = []
    for issue in exc.issues:
        lines.append(issue.message + (f" ({issue.fix})" if issue.fix else ""))
    return "\n".join(lines) or str(exc)


# ----------------------------------------------------------------- widgets
def error_label(parent: QWidget | None = None) -> QLabel:
    """Where an answer's problem is shown, in place, instead of a dialog."""
    label = QLabel(parent)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {ERROR_COLOR};")
    label.setAccessibleName("Answer error")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def muted(label: QLabel) -> QLabel:
    """Secondary text (context, captions): the palette's quieter colour, in light and dark themes."""
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # follows a theme switch
    return label


def wrapped(text: str, parent: QWidget | None = None, *, selectable: bool = True) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ScreenshotView(QWidget):
    """A stored screenshot, loaded through the bridge, scaled to the room it has (up to
    `max_width`, keeping its aspect); click to enlarge."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None, max_width: int = 440) -> None:
        super().__init__(parent)
        self._full = QPixmap()
        self._scaled = QPixmap()
        self._text = "Loading screenshot…"
        self.max_width = max_width
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setAccessibleName("Screenshot of the page (click to enlarge)")
        self.setToolTip("Click to enlarge")

    def load(self, bridge: Bridge, sha: str) -> None:
        bridge.artifact(sha, self._loaded)

    def _loaded(self, data: bytes) -> None:
        if not shiboken6.isValid(self):  # the card went away while the file was read
            return
        pixmap = QPixmap()
        if not pixmap.loadFromData(data):
            self._text = "(the screenshot could not be read)"
            self.update()
            return
        self._full = pixmap
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.updateGeometry()
        self.update()

    @property
    def full(self) -> QPixmap:
        """The screenshot at its own size (null until loaded)."""
        return self._full

    def set_max_width(self, width: int) -> None:
        if width != self.max_width:
            self.max_width = width
            self.updateGeometry()

    def _width_for(self, width: int) -> int:
        return max(1, min(width, self.max_width, self._full.width() or self.max_width))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if self._full.isNull():
            return 60
        return int(self._width_for(width) * self._full.height() / max(1, self._full.width()))

    def sizeHint(self) -> QSize:
        width = self._width_for(self.max_width)
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, 60)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._full.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, self._text)
            return
        width = self._width_for(self.width())
        ratio = self.devicePixelRatioF() or 1.0
        if self._scaled.isNull() or self._scaled.width() != int(width * ratio):
            # Scaled once per size, not on every paint.
            self._scaled = self._full.scaledToWidth(
                int(width * ratio), Qt.TransformationMode.SmoothTransformation
            )
            self._scaled.setDevicePixelRatio(ratio)
        painter.drawPixmap(0, 0, self._scaled)
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.drawRect(0, 0, width - 1, int(self._scaled.height() / ratio) - 1)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self._full.isNull():
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class ScreenshotDialog(QDialog):
    """The screenshot at full size (scrollable), to read small text or check the outline."""

    def __init__(self, pixmap: QPixmap, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        image = QLabel()
        image.setPixmap(pixmap)
        image.setAccessibleName("Screenshot at full size")
        area = QScrollArea()
        area.setWidget(image)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(area)
        screen = QGuiApplication.primaryScreen()
        room = screen.availableGeometry().size() * 0.9 if screen is not None else QSize(1280, 800)
        self.resize(min(pixmap.width() + 24, room.width()), min(pixmap.height() + 24, room.height()))


class ValuesTable(QTableWidget):
    """The form values an action will send: secrets masked and never editable; the others
    editable once the person asks to edit."""

    def __init__(
        self, payload: Mapping[str, Any], editable: Mapping[str, str], parent: QWidget | None = None
    ):
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Field", "Value"])
        self.setAccessibleName("Form values")
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._original: dict[str, str] = {}
        self._editable = set(editable)
        rows: list[tuple[str, str, str, bool, str]] = []  # name, label, value, masked, note
        hidden: list[tuple[str, str, str, bool, str]] = []
        for f in payload.get("fields") or []:
            is_hidden = f.get("kind") == "hidden"  # sent, but not on screen: listed last
            (hidden if is_hidden else rows).append(
                (
                    str(f["name"]),
                    str(f.get("label") or f["name"]),
                    str(f.get("value") or ""),
                    bool(f.get("masked")),
                    "hidden field" if is_hidden else "",
                )
            )
        for name, value in (payload.get("values") or {}).items():
            masked = value == MASK
            label = "Value to type" if name == "value" else str(name)
            rows.append((str(name), label, "" if value is None else str(value), masked, ""))
        for name, label, value, masked, note in rows + hidden:
            self._add(name, label, value, masked, note)
        self.set_editing(False)
        self._fit()

    def _add(self, name: str, label: str, value: str, masked: bool, note: str) -> None:
        row = self.rowCount()
        self.insertRow(row)
        head = QTableWidgetItem(label + (f" ({note})" if note else ""))
        head.setFlags(Qt.ItemFlag.ItemIsEnabled)
        head.setToolTip(f"form field “{name}”")
        head.setData(Qt.ItemDataRole.UserRole, name)
        cell = QTableWidgetItem(f"{MASK}  secret, not shown" if masked else value)
        cell.setData(Qt.ItemDataRole.UserRole, name)
        cell.setData(Qt.ItemDataRole.UserRole + 1, masked)
        if masked:
            cell.setForeground(QColor(STATUS_COLORS["queued"]))
            cell.setToolTip("A secret: masked here, never stored, and not editable")
        else:
            self._original.setdefault(name, value)
        self.setItem(row, 0, head)
        self.setItem(row, 1, cell)

    def _fit(self) -> None:
        """No inner scrolling: the card's scroll area scrolls; the table shows every row."""
        self.resizeRowsToContents()
        height = self.horizontalHeader().height() + 2 * self.frameWidth()
        height += sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(height)

    def _cells(self) -> list[QTableWidgetItem]:
        return [c for c in (self.item(row, 1) for row in range(self.rowCount())) if c is not None]

    def set_editing(self, on: bool) -> None:
        for cell in self._cells():
            name = cell.data(Qt.ItemDataRole.UserRole)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if on and name in self._editable and not cell.data(Qt.ItemDataRole.UserRole + 1):
                flags |= Qt.ItemFlag.ItemIsEditable
            cell.setFlags(flags)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.AllEditTriggers
            if on
            else QAbstractItemView.EditTrigger.NoEditTriggers
        )

    def finish_editing(self) -> None:
        """Commit a cell still being typed in (a keyboard shortcut approves without leaving it)."""
        editor = QApplication.focusWidget()
        if editor is not None and editor is not self and self.isAncestorOf(editor):
            self.commitData(editor)
            self.closeEditor(editor, QAbstractItemDelegate.EndEditHint.NoHint)

    def cell_of(self, name: str) -> QTableWidgetItem | None:
        return next((c for c in self._cells() if c.data(Qt.ItemDataRole.UserRole) == name), None)

    def edits(self) -> dict[str, str]:
        """Values the person changed: name → new value."""
        changed: dict[str, str] = {}
        for name, before in self._original.items():
            cell = self.cell_of(name)
            if cell is not None and name in self._editable and cell.text() != before:
                changed[name] = cell.text()
        return changed


def on_valid(widget: QWidget, fn: Callable[..., None]) -> Callable[..., None]:
    """`fn` for a callback that may arrive after `widget` was deleted (then: nothing)."""

    def call(*args: Any) -> None:
        if shiboken6.isValid(widget):
            fn(*args)

    return call

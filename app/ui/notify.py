"""Telling the person they are needed when the console is not in front: a tray icon whose badge
counts the open handoffs, a desktop notification for new ones, and the taskbar alert.

Where there is no system tray (some desktops, offscreen tests) the badge icon is still kept
(`icon`, `icon_changed`: the main window can show it as its window icon) and notifications
fall back to the taskbar alert.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from app.engine.views import HandoffView
from app.ui.panels.card_parts import countdown_text
from app.ui.style import HANDOFF_LABELS, STATUS_COLORS

ICON_SIZE = 64
BADGE_COLOR = STATUS_COLORS["failed"]


def app_icon(size: int = ICON_SIZE) -> QIcon:
    """Flightdeck's mark, drawn (no image files needed): a paper plane on a rounded square."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(STATUS_COLORS["running"]))
    p.drawRoundedRect(QRectF(0, 0, size, size), size * 0.2, size * 0.2)
    plane = QPainterPath()
    s = size / 64
    plane.moveTo(QPointF(12 * s, 34 * s))
    plane.lineTo(QPointF(52 * s, 14 * s))
    plane.lineTo(QPointF(40 * s, 52 * s))
    plane.lineTo(QPointF(31 * s, 39 * s))
    plane.closeSubpath()
    p.setBrush(QColor("#ffffff"))
    p.drawPath(plane)
    p.end()
    return QIcon(pixmap)


def badge_icon(base: QIcon, count: int, size: int = ICON_SIZE) -> QIcon:
    """`base` with the number of open handoffs in a red disc (none when 0)."""
    pixmap = base.pixmap(size, size)
    if count <= 0:
        return QIcon(pixmap)
    pixmap = pixmap.copy()
    text = str(count) if count < 100 else "99+"
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    diameter = size * (0.56 if len(text) < 3 else 0.66)
    disc = QRectF(size - diameter, 0, diameter, diameter)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(BADGE_COLOR))
    p.drawEllipse(disc)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(diameter * (0.62 if len(text) == 1 else 0.48)))
    p.setFont(font)
    p.setPen(QColor("#ffffff"))
    p.drawText(disc, Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return QIcon(pixmap)


def _what(h: HandoffView) -> str:
    """What an approval would do, as the end of 'task wants to …'."""
    p = h.payload
    request = p.get("request")
    if request:
        return f"send {request.get('method', '')} {request.get('url', '')}"
    what = str(p.get("description") or p.get("summary") or h.question)
    return what[:1].lower() + what[1:] if what[:2] != what[:2].upper() else what


def message_for(handoffs: Sequence[HandoffView]) -> tuple[str, str]:
    """(title, body) of the desktop notification for newly arrived handoffs."""
    lines = []
    for h in handoffs:
        if h.kind == "approval":
            lines.append(f"{h.task_name} wants to {_what(h)}")
        else:
            lines.append(f"{h.task_name}: {h.question}")
    first = handoffs[0]
    if len(handoffs) == 1:
        title = {
            "approval": "Approval needed",
            "clarification": f"Question from {first.task_name}",
            "verification": "Did it happen?",
            "recovery": "Recovery needed",
            "takeover": "Takeover",
        }.get(first.kind, HANDOFF_LABELS.get(first.kind, "Flightdeck"))
        deadline = countdown_text(first)
        body = lines[0] + ("" if first.deadline is None else f" ({deadline})")
        return title, body
    more = f"\n…and {len(lines) - 3} more" if len(lines) > 3 else ""
    return f"{len(handoffs)} handoffs need you", "\n".join(lines[:3]) + more


class Notifier(QObject):
    activated = Signal()  # the tray icon or its message was clicked: bring the inbox forward
    icon_changed = Signal(QIcon)  # the badge icon changed (for the window icon)

    def __init__(
        self, window: QWidget | None = None, icon: QIcon | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent if parent is not None else window)  # lives as long as the window
        self.window = window
        self.base = icon if icon is not None and not icon.isNull() else app_icon()
        self.icon = self.base
        self.count = 0
        self.last_message: tuple[str, str] | None = None
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(self.base, self)
            self.tray.setToolTip("Flightdeck")
            self.tray.activated.connect(self._tray_activated)
            self.tray.messageClicked.connect(self.activated)
            self.tray.show()

    def set_count(self, count: int) -> None:
        """The number of open handoffs: painted on the icon, said in its tooltip."""
        count = max(0, count)
        if count == self.count:
            return
        self.count = count
        self.icon = badge_icon(self.base, count)
        if self.tray is not None:
            self.tray.setIcon(self.icon)
            self.tray.setToolTip(f"Flightdeck: {count} need you" if count else "Flightdeck")
        self.icon_changed.emit(self.icon)

    def notify(self, handoffs: Sequence[HandoffView]) -> None:
        """New handoffs arrived: a desktop notification, and the taskbar entry asks for attention."""
        if not handoffs:
            return
        title, body = message_for(handoffs)
        self.last_message = (title, body)
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(title, body, self.icon, 15000)
        if self.window is not None:
            QApplication.alert(self.window)

    def _tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.activated.emit()

    def hide(self) -> None:
        """The window is closing: take the icon out of the tray."""
        if self.tray is not None:
            self.tray.hide()

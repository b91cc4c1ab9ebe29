"""Shared look: status colours and glyphs, readable on light and dark palettes alike."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

# Mid-saturation colours that keep contrast on both a white and a near-black background.
STATUS_COLORS: dict[str, str] = {
    "queued": "#8a8f98",
    "running": "#2f80ed",
    "waiting": "#e2a100",  # a person is needed
    "paused": "#9b51e0",
    "interrupted": "#e67e22",
    "succeeded": "#27ae60",
    "failed": "#eb5757",
    "cancelled": "#7f8c8d",
    # steps
    "pending": "#8a8f98",
    "skipped": "#7f8c8d",
}

STATUS_GLYPHS: dict[str, str] = {
    "queued": "○",
    "running": "▶",
    "waiting": "⏸",
    "paused": "⏸",
    "interrupted": "↯",
    "succeeded": "✓",
    "failed": "✗",
    "cancelled": "⊘",
    "pending": "·",
    "skipped": "↷",
}

HANDOFF_LABELS: dict[str, str] = {
    "approval": "Approval",
    "clarification": "Question",
    "takeover": "Takeover",
    "verification": "Did it happen?",
    "recovery": "Recovery",
}


def status_color(status: str) -> QColor:
    return QColor(STATUS_COLORS.get(status, "#8a8f98"))


@cache
def status_icon(status: str, size: int = 14) -> QIcon:
    """A filled dot in the status colour (cached: item models ask for it on every paint)."""
    pixmap = QPixmap(size * 2, size * 2)  # drawn at 2x: crisp on high-DPI screens
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(status_color(status))
    painter.drawEllipse(2, 2, size - 4, size - 4)
    painter.end()
    return QIcon(pixmap)

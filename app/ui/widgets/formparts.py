"""Pieces of forms: a field with its problem shown right under it."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.ui.style import status_color


def stacked(field: QWidget, error: QLabel) -> QWidget:
    """A field with its (usually hidden) problem right under it."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(field)
    layout.addWidget(error)
    return box


def error_label(name: str) -> QLabel:
    """A hidden label in the failure colour, for a field's problem."""
    label = QLabel()
    label.setAccessibleName(name)
    label.setWordWrap(True)
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, status_color("failed"))
    label.setPalette(palette)
    label.hide()
    return label

"""Light and dark themes. "system" follows the OS colour scheme (and its changes) where Qt can
read it; everything else in the console uses palette roles, so one palette switch restyles all."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: "#202227",
    QPalette.ColorRole.WindowText: "#e6e7ea",
    QPalette.ColorRole.Base: "#17181c",
    QPalette.ColorRole.AlternateBase: "#1e2025",
    QPalette.ColorRole.ToolTipBase: "#2b2e35",
    QPalette.ColorRole.ToolTipText: "#e6e7ea",
    QPalette.ColorRole.PlaceholderText: "#8a8f98",
    QPalette.ColorRole.Text: "#e6e7ea",
    QPalette.ColorRole.Button: "#2a2d33",
    QPalette.ColorRole.ButtonText: "#e6e7ea",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#2f80ed",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6aa9ff",
    QPalette.ColorRole.Mid: "#3a3d44",
    QPalette.ColorRole.Midlight: "#34373e",
    QPalette.ColorRole.Dark: "#121316",
    QPalette.ColorRole.Shadow: "#000000",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7",
    QPalette.ColorRole.WindowText: "#1d2025",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f0f2f5",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#1d2025",
    QPalette.ColorRole.PlaceholderText: "#8a8f98",
    QPalette.ColorRole.Text: "#1d2025",
    QPalette.ColorRole.Button: "#e9ebef",
    QPalette.ColorRole.ButtonText: "#1d2025",
    QPalette.ColorRole.BrightText: "#c0392b",
    QPalette.ColorRole.Highlight: "#2f80ed",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#1f6fd6",
    QPalette.ColorRole.Mid: "#c9ccd3",
    QPalette.ColorRole.Midlight: "#dfe2e7",
    QPalette.ColorRole.Dark: "#a0a4ab",
    QPalette.ColorRole.Shadow: "#5c5f66",
}


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        return bool(scheme() == Qt.ColorScheme.Dark)
    return False


def palette_for(dark: bool) -> QPalette:
    palette = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(colour))
        disabled = QColor(colour)
        if role in (
            QPalette.ColorRole.WindowText,
            QPalette.ColorRole.Text,
            QPalette.ColorRole.ButtonText,
        ):
            disabled.setAlpha(110)
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication, mode: str) -> bool:
    """Apply "system", "light" or "dark"; returns whether the result is dark."""
    app.setStyle("Fusion")  # renders the same everywhere, honours the palette fully
    dark = system_is_dark() if mode == "system" else mode == "dark"
    app.setPalette(palette_for(dark))
    app.setProperty("flightdeck_theme", "dark" if dark else "light")
    return dark


def follow_system(app: QApplication, current: Callable[[], str]) -> None:
    """Re-apply when the OS switches between light and dark (while the setting is "system")."""
    hints = QGuiApplication.styleHints()
    signal = getattr(hints, "colorSchemeChanged", None)
    if signal is not None:
        signal.connect(lambda *_: current() == "system" and apply_theme(app, "system"))

"""FocusPane: one run's page large, with a bar (back, the run's name and status, Take over /
Hand back) and a banner that says, unmistakably, what the operator's clicks do now: watch,
drive the page (takeover) or point at an element."""

from __future__ import annotations

from typing import Literal, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.ui.widgets.frameview import CONTROL_COLOR, FrameView

W = TypeVar("W", bound=QWidget)

# watch: nothing asked; taking: take-over asked, the run has not stopped yet; control: the
# operator drives; handing_back: hand-back sent; point: one click names an element.
FocusState = Literal["watch", "taking", "control", "handing_back", "point"]

_BANNERS: dict[str, tuple[str, str]] = {
    "control": (
        "You are in control — mouse and keyboard go to the page; the run waits. Hand back when you are done.",
        f"background: {CONTROL_COLOR.name()}; color: white; font-weight: bold;",
    ),
    "point": (
        "Click the element the run could not find — Esc to cancel",
        "background: palette(highlight); color: palette(highlighted-text); font-weight: bold;",
    ),
    "taking": (
        "Taking over… the run stops after its current step.",
        "background: palette(alternate-base); color: palette(window-text);",
    ),
    "handing_back": (
        "Handing back… the run checks the current step and goes on.",
        "background: palette(alternate-base); color: palette(window-text);",
    ),
}


def named(widget: W, name: str, tip: str = "") -> W:
    """`widget` with an accessible name (and a tooltip)."""
    widget.setAccessibleName(name)
    if tip:
        widget.setToolTip(tip)
    return widget


class FocusPane(QWidget):
    back_requested = Signal()
    take_over_requested = Signal()
    hand_back_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.back_button = named(
            QPushButton("← All live views"), "Back to all live views", "Back to the grid (Esc)"
        )
        self.title = named(QLabel(), "Focused run")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.take_button = named(
            QPushButton("Take over"),
            "Take over this run's page",
            "Stop the run after its current step and drive the page yourself",
        )
        self.hand_back_button = named(
            QPushButton("Hand back"),
            "Hand the page back to the run",
            "The run re-checks the current step and goes on",
        )
        self.banner = named(QLabel(), "Live view state")
        self.banner.setWordWrap(True)
        self.banner.setMargin(8)
        self.banner.hide()
        self.view = FrameView(compact=False)
        self.view.setAccessibleName("Focused live view")

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 6, 6, 0)
        bar.addWidget(self.back_button)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.take_button)
        bar.addWidget(self.hand_back_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)

        self.back_button.clicked.connect(self.back_requested)
        self.take_button.clicked.connect(self.take_over_requested)
        self.hand_back_button.clicked.connect(self.hand_back_requested)

    def present(self, *, title: str, detail: str, status: str, state: FocusState, can_take: bool) -> None:
        """Show the run and what the operator's input does now."""
        self.view.set_info(title, detail, status)
        self.title.setText(f"{title} — {status}")
        taken = state in ("control", "taking", "handing_back")
        self.take_button.setVisible(not taken)
        self.take_button.setEnabled(can_take and state == "watch")
        self.hand_back_button.setVisible(taken)
        self.hand_back_button.setEnabled(state == "control")
        self.view.set_mode("control" if state == "control" else "point" if state == "point" else "watch")
        banner = _BANNERS.get(state)
        if banner is None:
            self.banner.hide()
            return
        text, style = banner
        self.banner.setStyleSheet(f"QLabel {{ {style} }}")
        self.banner.setText(text)
        self.banner.show()

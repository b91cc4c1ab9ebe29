"""The frame every handoff card shares: kind, task and run, question, deadline countdown, inline
error, the "Sent…" state, keys. The kinds (cards.py, cards_questions.py) fill in body and buttons.

A card answers through the bridge (`bridge.answer` / `bridge.hand_back`); every answer is built
and checked by `app.engine.answers`, so a wrong one is shown in place and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import TaskValidationError
from app.engine.views import HandoffView
from app.store.types import utcnow
from app.ui.bridge import Bridge
from app.ui.panels.card_parts import (
    ERROR_COLOR,
    URGENT_SECONDS,
    ScreenshotDialog,
    ScreenshotView,
    countdown_text,
    error_label,
    error_text,
    muted,
    on_valid,
    wrapped,
)
from app.ui.style import HANDOFF_LABELS, STATUS_COLORS

# Shown in tooltips and the inbox header; the inbox panel binds them.
APPROVE_KEYS = "Ctrl+Enter"
DENY_KEYS = "Ctrl+Backspace"

# The kind's badge: the colour of the run state it stands for, text readable on it.
KIND_COLORS: dict[str, tuple[str, str]] = {
    "approval": (STATUS_COLORS["waiting"], "#1b1b1b"),
    "verification": (STATUS_COLORS["interrupted"], "#1b1b1b"),
    "clarification": (STATUS_COLORS["running"], "#ffffff"),
    "recovery": (STATUS_COLORS["interrupted"], "#1b1b1b"),
    "takeover": (STATUS_COLORS["paused"], "#ffffff"),
}
SIDE_BY_SIDE = 820  # narrower than this: the screenshot goes above the details


class HandoffCard(QFrame):
    run_selected = Signal(str)
    takeover_requested = Signal(str)  # run id: open its live view in control
    point_requested = Signal(str, str)  # handoff id, run id: point at the element in the live view
    takeover_chosen = Signal(str)  # run id: answered "takeover"; the run opens the takeover itself
    navigate = Signal(int)  # +1 / -1: the person pressed J/K (or Down/Up) on this card

    def __init__(self, handoff: HandoffView, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.handoff = handoff
        self.bridge = bridge
        self.sent = False
        self.screenshot: ScreenshotView | None = None
        label = HANDOFF_LABELS.get(handoff.kind, handoff.kind)
        self.setObjectName("handoffCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # J/K put the focus on the card itself
        self.setAccessibleName(f"{label} from {handoff.task_name}")
        self.setProperty("current", False)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)
        outer.setSpacing(6)
        head = QHBoxLayout()
        self.kind_label = QLabel(label)
        back, fore = KIND_COLORS.get(handoff.kind, (STATUS_COLORS["queued"], "#ffffff"))
        self.kind_label.setStyleSheet(
            f"background: {back}; color: {fore}; border-radius: 3px; padding: 1px 6px; font-weight: bold;"
        )
        # A link, not a button: it wraps in a narrow dock instead of widening the card.
        self.run_link = QLabel(
            f'<a href="run">{escape(handoff.task_name)} · run {escape(handoff.run_id)}</a>'
        )
        self.run_link.setWordWrap(True)
        self.run_link.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.run_link.setToolTip("Show this run in the queue and the execution log")
        self.run_link.setAccessibleName(f"Show run {handoff.run_id}")
        self.run_link.linkActivated.connect(lambda _: self.run_selected.emit(self.handoff.run_id))
        self.countdown = QLabel()
        self.countdown.setAccessibleName("Deadline")
        head.addWidget(self.kind_label)
        head.addWidget(self.run_link, 1)
        head.addWidget(self.countdown)
        outer.addLayout(head)

        self.question = wrapped(handoff.question)
        font = self.question.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.question.setFont(font)
        self.question.setAccessibleName("Question")
        outer.addWidget(self.question)

        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body_layout.setSpacing(6)
        outer.addWidget(self.body)
        self.error = error_label()
        outer.addWidget(self.error)
        self.action_bar = QWidget()
        self.buttons = QHBoxLayout(self.action_bar)
        self.buttons.setContentsMargins(0, 4, 0, 0)
        outer.addWidget(self.action_bar)
        self.status = QLabel()
        self.status.setAccessibleName("Answer status")
        self._split: QBoxLayout | None = None

        self.build()
        self._has_buttons = self.buttons.count() > 0
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.status)
        self.set_status("")
        self.tick()

    # ----------------------------------------------------------------- for the kinds
    def build(self) -> None:
        """Fill `body_layout` and `buttons`."""

    def primary(self) -> bool:
        """Ctrl+Enter: approve / confirm. True when it did something."""
        return False

    def secondary(self) -> bool:
        """Ctrl+Backspace: deny."""
        return False

    def choose(self, number: int) -> bool:
        """A digit key: pick the choice with that number."""
        return False

    def button(self, text: str, slot: Callable[[], Any], tip: str = "", name: str = "") -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.setAccessibleName(name or text)
        b.clicked.connect(lambda: slot())
        self.buttons.addWidget(b)
        return b

    def context(self, *lines: str) -> None:
        """Grey lines under the question: why it asks, which step, where."""
        for line in lines:
            if line:
                self.body_layout.addWidget(muted(wrapped(line)))

    def split(self) -> tuple[QVBoxLayout, QVBoxLayout]:
        """Screenshot beside the details (above them when the card is narrow)."""
        self._split = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self._split.setSpacing(12)
        left, right = QVBoxLayout(), QVBoxLayout()
        left.setSpacing(4)
        right.setSpacing(6)
        self._split.addLayout(left)
        self._split.addLayout(right, 1)
        self.body_layout.addLayout(self._split)
        return left, right

    def add_screenshot(self, layout: QVBoxLayout, caption: str = "") -> None:
        sha = self.handoff.payload.get("screenshot")
        if not isinstance(sha, str) or not sha:
            return
        self.screenshot = ScreenshotView()
        self.screenshot.clicked.connect(self.enlarge)
        self.screenshot.load(self.bridge, sha)
        layout.addWidget(self.screenshot)
        if caption:
            layout.addWidget(muted(QLabel(caption)))
        layout.addStretch(1)

    def enlarge(self) -> ScreenshotDialog | None:
        if self.screenshot is None or self.screenshot.full.isNull():
            return None
        dialog = ScreenshotDialog(
            self.screenshot.full, f"{self.handoff.task_name}: {self.handoff.question}", self
        )
        dialog.show()
        return dialog

    # ----------------------------------------------------------------- answering
    def attempt(self, make: Callable[[], dict[str, Any]], comment: str | None = None) -> bool:
        """Build the answer (checked by app.engine.answers) and send it; a wrong one shows here."""
        if self.sent:
            return False
        try:
            answer = make()
        except TaskValidationError as exc:
            self.show_error(error_text(exc))
            return False
        self.send(answer, comment)
        return True

    def send(self, answer: dict[str, Any], comment: str | None = None) -> None:
        self._sending()
        self.bridge.answer(self.handoff.id, answer, comment=comment or None, done=on_valid(self, self._sent))

    def _sending(self) -> None:
        self.error.hide()
        self.sent = True
        self.body.setEnabled(False)
        self.action_bar.setEnabled(False)
        self.set_status("Sent…")

    def _sent(self, changed: bool) -> None:
        if not changed:  # someone answered first (another console, the command line)
            self.set_status("Already answered")

    def unsend(self, problem: str) -> None:
        """The answer could not be recorded: the card is live again and says why."""
        self.sent = False
        self.body.setEnabled(True)
        self.action_bar.setEnabled(True)
        self.set_status("")
        self.show_error(f"Not sent: {problem}")

    def set_status(self, text: str) -> None:
        """What happened to the answer; the button row shows only when it has something."""
        self.status.setText(text)
        self.action_bar.setVisible(self._has_buttons or bool(text))

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    # ----------------------------------------------------------------- living
    def update_handoff(self, handoff: HandoffView) -> None:
        self.handoff = handoff

    def tick(self, now: datetime | None = None) -> bool:
        """Refresh the countdown; True once the deadline has passed."""
        left = self.handoff.seconds_left(now or utcnow())
        self.countdown.setText(countdown_text(self.handoff, now))
        urgent = left is not None and left < URGENT_SECONDS
        self.countdown.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: bold;" if urgent else "")
        return left is not None and left <= 0

    def set_current(self, on: bool) -> None:
        if self.property("current") != on:
            self.setProperty("current", on)
            self.style().unpolish(self)
            self.style().polish(self)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Keys reach the card only when the focused control did not use them (text fields keep
        # their letters and digits), so J and 3 never fire while the person types.
        key = event.key()
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if plain and key in (Qt.Key.Key_J, Qt.Key.Key_Down):
            self.navigate.emit(1)
        elif plain and key in (Qt.Key.Key_K, Qt.Key.Key_Up):
            self.navigate.emit(-1)
        elif plain and Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and not self.sent:
            if not self.choose(key - Qt.Key.Key_0):
                event.ignore()
                return
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)  # clicking a card makes it the current one
        super().mousePressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._split is not None:
            wide = event.size().width() >= SIDE_BY_SIDE
            self._split.setDirection(
                QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
            )
            if self.screenshot is not None:
                # Beside the details it shares the row; above them it may use the width.
                self.screenshot.set_max_width(440 if wide else 640)
        super().resizeEvent(event)

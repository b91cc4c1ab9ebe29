"""The handoff inbox: one card per open handoff, most urgent first, each answerable on its own.

Cards are kept per handoff id while the model reports the same handoff, so a card being
edited (values, a comment, a typed answer) survives others arriving, leaving or moving.

Keys (while the inbox has the focus): J / K or Down / Up move between cards, Ctrl+Enter
approves or confirms the current card, Ctrl+Backspace (or Ctrl+D) denies, 1–9 pick a choice.
"""

from __future__ import annotations

import logging

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.engine.views import HandoffView
from app.store.types import utcnow
from app.ui.bridge import Bridge
from app.ui.models.handoffs import HandoffListModel
from app.ui.panels.card_base import APPROVE_KEYS, DENY_KEYS, HandoffCard
from app.ui.panels.card_parts import muted
from app.ui.panels.cards import build_card
from app.ui.panels.cards_questions import QuestionCard

log = logging.getLogger("flightdeck.ui")

KEYS_HINT = f"J/K move · {APPROVE_KEYS} approve · {DENY_KEYS} deny · 1–9 choose"
CARD_STYLE = """
QFrame#handoffCard { border: 1px solid palette(mid); border-radius: 6px; background: palette(base); }
QFrame#handoffCard[current="true"] { border: 2px solid palette(highlight); }
QFrame#handoffCard QLineEdit {
    border: 1px solid palette(mid); border-radius: 3px; padding: 3px 4px; background: palette(base);
}
QFrame#handoffCard QLineEdit:focus { border-color: palette(highlight); }
"""


class InboxPanel(QWidget):
    run_selected = Signal(str)
    point_requested = Signal(str, str)  # handoff id, run id
    takeover_requested = Signal(str)  # run id
    count_changed = Signal(int)
    arrived = Signal(list)  # HandoffViews new since the last refresh

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setObjectName("inboxPanel")
        self.setAccessibleName("Handoff inbox")
        self.cards: dict[str, HandoffCard] = {}
        self._current: str | None = None
        # Runs whose question was answered "takeover": the run itself opens the takeover at its
        # next safe point; the live view is asked for then (asking earlier would open a second).
        self._taking_over: set[str] = set()

        self.title = QLabel("Needs you")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.title.setAccessibleName("Open handoffs")
        hint = muted(QLabel(KEYS_HINT))
        hint.setAccessibleName("Keyboard shortcuts")
        hint.setWordWrap(True)
        head = QVBoxLayout()
        head.setSpacing(2)
        head.addWidget(self.title)
        head.addWidget(hint)

        self.empty = muted(QLabel("Nothing needs you right now."))
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.container = QWidget()
        self.container.setStyleSheet(CARD_STYLE)
        self.list_layout = QVBoxLayout(self.container)
        self.list_layout.setContentsMargins(8, 8, 8, 8)
        self.list_layout.setSpacing(10)
        self.list_layout.addWidget(self.empty)
        self.list_layout.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(self.container)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(head)
        layout.addWidget(self.scroll_area, 1)

        self.model = HandoffListModel(bridge, self)
        self._connect_signals()
        self._timer = QTimer(self)
        self._timer.setInterval(1000)  # the countdowns
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        self._sync()

    def _connect_signals(self) -> None:
        m = self.model
        for signal in (m.rowsInserted, m.rowsRemoved, m.rowsMoved, m.dataChanged, m.modelReset):
            signal.connect(self._sync)
        m.count_changed.connect(self._count)
        m.arrived.connect(self.arrived)
        self.bridge.failed.connect(self._command_failed)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)
        for keys, slot in (
            ("Ctrl+Return", self.approve_current),
            ("Ctrl+Enter", self.approve_current),
            ("Ctrl+Backspace", self.deny_current),
            ("Ctrl+D", self.deny_current),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    # ----------------------------------------------------------------- cards
    def _sync(self) -> None:
        """Make the cards follow the model's rows: same handoffs, same order."""
        rows = self.model.handoffs()
        wanted = {h.id for h in rows}
        focus = QApplication.focusWidget()
        lost_focus = False
        for handoff_id in [i for i in self.cards if i not in wanted]:
            card = self.cards.pop(handoff_id)
            lost_focus = lost_focus or (focus is not None and (focus is card or card.isAncestorOf(focus)))
            self.list_layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        for position, h in enumerate(rows):
            known = self.cards.get(h.id)
            if known is None:
                card = self._new_card(h)
                if h.kind == "takeover" and h.run_id in self._taking_over:
                    # The run opened the takeover it was asked for: now the page is theirs.
                    self._taking_over.discard(h.run_id)
                    self.takeover_requested.emit(h.run_id)
            else:
                card = known
                card.update_handoff(h)
            if self.list_layout.indexOf(card) != position:
                self.list_layout.removeWidget(card)
                self.list_layout.insertWidget(position, card)
        self.empty.setVisible(not rows)
        if self._current not in self.cards:
            self._current = None
        if lost_focus and self.cards:
            # The card the person just answered went: the keys go on with the next one (the
            # one now first), not nowhere, so Ctrl+Enter / J / K keep working.
            following = self.ordered_cards()[0]
            self.focus_card(following.handoff.id)
        self._mark_current()

    def _new_card(self, h: HandoffView) -> HandoffCard:
        card = build_card(h, self.bridge, self.container)
        card.run_selected.connect(self.run_selected)
        card.takeover_requested.connect(self.takeover_requested)
        card.point_requested.connect(self.point_requested)
        card.navigate.connect(self.move_focus)
        card.takeover_chosen.connect(self._taking_over.add)
        self.cards[card.handoff.id] = card
        return card

    def ordered_cards(self) -> list[HandoffCard]:
        return [self.cards[h.id] for h in self.model.handoffs() if h.id in self.cards]

    def card(self, handoff_id: str) -> HandoffCard | None:
        return self.cards.get(handoff_id)

    def _count(self, n: int) -> None:
        self.title.setText(f"Needs you: {n}" if n else "Needs you")
        self.count_changed.emit(n)

    def tick(self) -> None:
        now = utcnow()
        due = False
        for card in self.cards.values():
            due = card.tick(now) or due
        if due:  # a deadline passed: the read applies its default and the card goes
            self.model.refresh()

    # ----------------------------------------------------------------- the current card
    def current_card(self) -> HandoffCard | None:
        """The card with the focus inside, else the last one moved to, else the first."""
        focus = QApplication.focusWidget()
        while focus is not None:
            if isinstance(focus, HandoffCard) and self.cards.get(focus.handoff.id) is focus:
                return focus
            focus = focus.parentWidget()
        if self._current in self.cards:
            return self.cards[self._current]
        ordered = self.ordered_cards()
        return ordered[0] if ordered else None

    def move_focus(self, step: int) -> None:
        ordered = self.ordered_cards()
        if not ordered:
            return
        current = self.current_card()
        at = ordered.index(current) if current in ordered else -1
        target = ordered[max(0, min(len(ordered) - 1, at + step))]
        self.focus_card(target.handoff.id)

    def focus_card(self, handoff_id: str) -> None:
        card = self.cards.get(handoff_id)
        if card is None:
            return
        self._current = handoff_id
        card.setFocus(Qt.FocusReason.OtherFocusReason)
        self.scroll_area.ensureWidgetVisible(card, 0, 0)
        self._mark_current()

    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if not shiboken6.isValid(self):
            return
        if new is not None and self.isAncestorOf(new):
            card = self.current_card()
            self._current = card.handoff.id if card is not None else None
        self._mark_current()

    def _mark_current(self) -> None:
        """Outline the card the keys act on, while the inbox has the focus."""
        focus = QApplication.focusWidget()
        active = focus is not None and self.isAncestorOf(focus)
        current = self.current_card() if active else None
        for card in self.cards.values():
            card.set_current(card is current)

    def approve_current(self) -> None:
        card = self.current_card()
        if card is not None and not card.sent:
            card.primary()

    def deny_current(self) -> None:
        card = self.current_card()
        if card is not None and not card.sent:
            card.secondary()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Reached when the focus is on the panel itself (no card yet): J/K still move.
        key = event.key()
        if key in (Qt.Key.Key_J, Qt.Key.Key_Down):
            self.move_focus(1)
        elif key in (Qt.Key.Key_K, Qt.Key.Key_Up):
            self.move_focus(-1)
        else:
            super().keyPressEvent(event)

    # ----------------------------------------------------------------- from the main window
    def answer_point(self, handoff_id: str, x: float, y: float) -> bool:
        """The person clicked the live page for a missing-target question (CSS px)."""
        card = self.cards.get(handoff_id)
        if not isinstance(card, QuestionCard):
            return False
        return card.answer_point(x, y)

    def stop_pointing(self, handoff_id: str) -> None:
        """Pointing was cancelled in the live view (Esc): the card stops saying "click…"."""
        card = self.cards.get(handoff_id)
        if isinstance(card, QuestionCard) and not card.sent:
            card.set_status("")

    def _command_failed(self, what: str, details: str) -> None:
        """An answer or hand-back that did not go through: that card is live again."""
        for card in self.cards.values():
            mine = (f"answering {card.handoff.id}", f"handing back run {card.handoff.run_id}")
            if card.sent and what in mine:
                problem = details.strip().splitlines()[-1] if details.strip() else what
                card.unsend(problem)

"""Handoff cards: one widget per open handoff, with everything needed to answer it from the card
alone. Approvals, verifications and takeovers here; questions in cards_questions.py; the shared
frame in card_base.py.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from app.engine import answers
from app.engine.views import HandoffView
from app.ui.bridge import Bridge
from app.ui.panels.card_base import APPROVE_KEYS, DENY_KEYS, HandoffCard
from app.ui.panels.card_parts import ValuesTable, compact, on_valid, step_line, wrapped
from app.ui.panels.cards_questions import QuestionCard

__all__ = ["ApprovalCard", "HandoffCard", "QuestionCard", "TakeoverCard", "VerificationCard", "build_card"]


# ----------------------------------------------------------------- approval
class ApprovalCard(HandoffCard):
    """An irreversible action (or a held request) ready to fire: what, where, with which values."""

    def build(self) -> None:
        p = self.handoff.payload
        held = p.get("request")
        self.context(
            f"Why: {p['reason']}" if p.get("reason") else "",
            step_line(p),
        )
        left, right = self.split()
        self.add_screenshot(left, "The element is outlined. Click to enlarge.")
        details = QFormLayout()
        details.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        details.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        if p.get("url"):
            details.addRow("Page:", self._value(str(p["url"]), "Page URL"))
        target = p.get("target") or {}
        if target.get("description"):
            details.addRow("Element:", self._value(str(target["description"]), "Element"))
        request = held or p.get("expected_request")
        if request:
            text = f"{request.get('method', '')} {request.get('url', '')}".strip()
            details.addRow("Request held:" if held else "Sends:", self._value(text, "Expected request"))
        if p.get("expect"):
            details.addRow("Expects:", self._value(compact(p["expect"]), "Expectation"))
        right.addLayout(details)
        self.editable = answers.editable_fields(p)
        self.table: ValuesTable | None = None
        if p.get("fields") or p.get("values"):
            right.addWidget(QLabel("Values it will send:"))
            self.table = ValuesTable(p, self.editable)
            right.addWidget(self.table)
        right.addStretch(1)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment (optional, kept with your decision)")
        self.comment.setAccessibleName("Comment")
        self.body_layout.addWidget(self.comment)

        self.approve_button = self.button("Approve", self.approve, f"Let it fire ({APPROVE_KEYS})", "Approve")
        self.approve_button.setDefault(True)
        self.deny_button = self.button(
            "Deny", self.deny, f"Do not fire it: the step fails as denied ({DENY_KEYS})", "Deny"
        )
        self.edit_button = self.button("Edit values", self.toggle_editing, "Change values before approving")
        self.edit_button.setCheckable(True)
        self.edit_button.setEnabled(self.table is not None and bool(self.editable))
        if self.table is not None and not self.editable:
            self.edit_button.setToolTip("Nothing here can be edited (secrets never are)")

    def _value(self, text: str, name: str) -> QLabel:
        label = wrapped(text)
        label.setAccessibleName(name)
        return label

    def toggle_editing(self) -> None:
        if self.table is None:
            return
        on = self.edit_button.isChecked()
        self.table.set_editing(on)
        if on:
            first = next(iter(self.editable), None)
            cell = self.table.cell_of(first) if first is not None else None
            if cell is not None:
                self.table.setCurrentItem(cell)
                self.table.editItem(cell)

    def edits(self) -> dict[str, str]:
        if self.table is None:
            return {}
        self.table.finish_editing()
        return self.table.edits()

    def approve(self) -> bool:
        p, hid = self.handoff.payload, self.handoff.id
        edits = self.edits()
        return self.attempt(lambda: answers.decision_answer(p, hid, "approve", edits), self.comment.text())

    def deny(self) -> bool:
        p, hid = self.handoff.payload, self.handoff.id
        return self.attempt(lambda: answers.decision_answer(p, hid, "deny"), self.comment.text())

    primary = approve
    secondary = deny


# ----------------------------------------------------------------- verification
class VerificationCard(HandoffCard):
    """The process died right after an irreversible action was sent: did it happen?"""

    def build(self) -> None:
        p = self.handoff.payload
        self.context(
            f"Why: {p['reason']}" if p.get("reason") else "",
            step_line(p),
            f"Page now: {p['url']}" if p.get("url") else "",
        )
        left, right = self.split()
        self.add_screenshot(left, "The page now. Click to enlarge.")
        checks = p.get("checks") or []
        if checks:
            right.addWidget(QLabel("What the page shows now:"))
            for c in checks:
                mark = "✓" if c.get("ok") else "✗"
                right.addWidget(wrapped(f"{mark} {c.get('name', '')} {c.get('detail') or ''}".strip()))
        right.addWidget(wrapped("Look at the site: it is never sent twice on its own."))
        right.addStretch(1)
        self.happened_button = self.button(
            "It happened", self.happened, f"The action took effect: the step is done ({APPROVE_KEYS})"
        )
        self.not_happened_button = self.button(
            "It did not happen",
            self.not_happened,
            f"It did not take effect: the step asks again before firing ({DENY_KEYS})",
        )

    def happened(self) -> bool:
        p, hid = self.handoff.payload, self.handoff.id
        return self.attempt(lambda: answers.decision_answer(p, hid, "approve"))

    def not_happened(self) -> bool:
        p, hid = self.handoff.payload, self.handoff.id
        return self.attempt(lambda: answers.decision_answer(p, hid, "deny"))

    primary = happened
    secondary = not_happened


# ----------------------------------------------------------------- takeover
class TakeoverCard(HandoffCard):
    """A person has the page: drive it in the live view, then hand back."""

    def build(self) -> None:
        p = self.handoff.payload
        self.context(
            f"Why: {p['reason']}" if p.get("reason") else "",
            step_line(p),
            f"Page: {p['url']}" if p.get("url") else "",
        )
        self.open_button = self.button(
            "Open live view",
            lambda: self.takeover_requested.emit(self.handoff.run_id),
            f"Drive the page yourself ({APPROVE_KEYS} or key 1)",
        )
        self.hand_back_button = self.button(
            "Hand back",
            self.hand_back,
            "The run re-checks the current step on the page and goes on (key 2)",
        )

    def hand_back(self) -> bool:
        if self.sent:
            return False
        self._sending()
        self.bridge.hand_back(self.handoff.run_id, done=on_valid(self, self._sent))
        return True

    def primary(self) -> bool:
        self.takeover_requested.emit(self.handoff.run_id)
        return True

    def choose(self, number: int) -> bool:
        if number == 1:
            return self.primary()
        if number == 2:
            return self.hand_back()
        return False


def build_card(handoff: HandoffView, bridge: Bridge, parent: QWidget | None = None) -> HandoffCard:
    """The card for a handoff's kind."""
    kinds: dict[str, type[HandoffCard]] = {
        "approval": ApprovalCard,
        "verification": VerificationCard,
        "takeover": TakeoverCard,
        "clarification": QuestionCard,
        "recovery": QuestionCard,
    }
    return kinds.get(handoff.kind, QuestionCard)(handoff, bridge, parent)

"""The question cards: clarifications (an `ask` step, an ambiguous or missing target, a missing
input, a stuck run, an unexpected page) and recovery after a restart.

The answer is one of the payload's choices (a button each, digit keys), a typed value (checked
against the question's type), a selector, or a point on the live page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from app.engine import answers
from app.ui.panels.card_base import APPROVE_KEYS, DENY_KEYS, HandoffCard
from app.ui.panels.card_parts import compact, muted, step_line, wrapped

REASONS = {
    "ambiguous_target": "several elements match the target",
    "missing_target": "the target is not on the page",
    "missing_input": "an input the task needs was not given",
    "stuck": "the run repeats itself without progress",
    "unexpected": "the page did not turn out as expected",
    "recovery": "the run's page could not be rebuilt after an interruption",
}
# What the run does on each action choice (asking.py, run/pipeline.py).
ACTIONS: dict[str, tuple[str, str]] = {
    "retry": ("Retry", "Try the step again; the loop detector starts afresh"),
    "skip": ("Skip step", "Record the step as skipped by you and go on"),
    "fail": ("Fail step", "Fail the step: the run fails"),
    "takeover": ("Take over", "Take the page in the live view, then hand back"),
}
PLACEHOLDERS = {
    "integer": "a whole number",
    "number": "a number",
    "boolean": "yes or no",
}


def candidate_text(c: Mapping[str, Any]) -> str:
    """'button "Remove" · within test_id “member-grace-hopper”': what tells candidates apart."""
    text = str(c.get("description") or c.get("text") or "")
    within = (c.get("target") or {}).get("within")
    if within:
        text += f" · within {compact(within)}"
    return text


class QuestionCard(HandoffCard):
    def build(self) -> None:
        p = self.handoff.payload
        self.choices: list[str] = [str(c) for c in p.get("choices") or []]
        self.accepts: list[str] = [str(a) for a in p.get("accepts") or []]
        self.choice_buttons: dict[str, QPushButton] = {}
        self.answer_field: QLineEdit | None = None
        self.selector_field: QLineEdit | None = None
        self.point_button: QPushButton | None = None
        self._context(p)
        candidates = p.get("candidates") or []
        if p.get("screenshot"):
            left, right = self.split()
            self.add_screenshot(left, "Candidates are numbered on the page." if candidates else "")
        else:
            right = self.body_layout
        if candidates:
            right.addWidget(QLabel("Which one?"))
            grid = QGridLayout()
            grid.setColumnStretch(1, 1)
            for row, c in enumerate(candidates):
                choice = str(c.get("choice"))
                b = self._choice_button(choice, choice)
                b.setFixedWidth(b.sizeHint().height() * 2)
                grid.addWidget(b, row, 0)
                grid.addWidget(wrapped(candidate_text(c)), row, 1)
            right.addLayout(grid)
        if "point" in self.accepts or "target" in self.accepts:
            self._target_row(right)
        other = [c for c in self.choices if c not in self.choice_buttons]
        if other:
            row_layout = QHBoxLayout()
            for choice in other:
                label, _ = ACTIONS.get(choice, (choice, ""))
                row_layout.addWidget(self._choice_button(choice, label))
            row_layout.addStretch(1)
            if candidates or "point" in self.accepts:
                right.addWidget(QLabel("Or:"))
            right.addLayout(row_layout)
        if not self.choices and not self.accepts:
            self._free_form(right, str(p.get("type") or "string"))
        if isinstance(right, QVBoxLayout) and right is not self.body_layout:
            right.addStretch(1)

    def _context(self, p: Mapping[str, Any]) -> None:
        reason = str(p.get("reason") or ("recovery" if self.handoff.kind == "recovery" else ""))
        failure = (p.get("failure") or {}).get("message")
        why = REASONS.get(reason, reason.replace("_", " "))
        lines = [f"Why: {why}" + (f" ({failure})" if failure else "") if why else ""]
        lines.append(step_line(p) + (f" · on {p['url']}" if p.get("url") else ""))
        if p.get("input"):
            lines.append(f"Input “{p['input']}” ({p.get('type') or 'string'})")
        tried = [a for a in p.get("attempts") or [] if a.get("error")][-3:]
        for a in tried:
            lines.append(f"Attempt {a.get('number')}: {a.get('failure_class') or 'failed'}: {a['error']}")
        self.context(*lines)

    def _choice_button(self, choice: str, label: str) -> QPushButton:
        number = len(self.choice_buttons) + 1
        _, tip = ACTIONS.get(choice, ("", f"Answer {choice}"))
        keys = f"key {number}" if number <= 9 else ""
        if choice == "fail":
            keys = f"{keys}, {DENY_KEYS}" if keys else DENY_KEYS
        b = QPushButton(label)
        b.setToolTip(f"{tip} ({keys})" if keys else tip)
        b.setAccessibleName(f"Answer {label}")
        b.clicked.connect(lambda: self.pick(choice))
        self.choice_buttons[choice] = b
        return b

    def _target_row(self, layout: QVBoxLayout | Any) -> None:
        row = QHBoxLayout()
        if "point" in self.accepts:
            self.point_button = QPushButton("Point in live view")
            self.point_button.setToolTip("Click the element on the run's live page")
            self.point_button.setAccessibleName("Point at the element in the live view")
            self.point_button.clicked.connect(self.request_point)
            row.addWidget(self.point_button)
        self.selector_field = QLineEdit()
        self.selector_field.setPlaceholderText('or a selector, e.g. role=button[name="Save"] or #save')
        self.selector_field.setAccessibleName("New target selector")
        self.selector_field.returnPressed.connect(self.use_selector)
        row.addWidget(self.selector_field, 1)
        use = QPushButton("Use selector")
        use.setToolTip(f"Retry the step with this target ({APPROVE_KEYS})")
        use.setAccessibleName("Use selector")
        use.clicked.connect(self.use_selector)
        row.addWidget(use)
        layout.addLayout(row)

    def _free_form(self, layout: QVBoxLayout | Any, kind: str) -> None:
        row = QHBoxLayout()
        self.answer_field = QLineEdit()
        self.answer_field.setPlaceholderText(f"Your answer: {PLACEHOLDERS.get(kind, 'text')}")
        self.answer_field.setAccessibleName("Answer")
        self.answer_field.returnPressed.connect(self.send_typed)
        row.addWidget(self.answer_field, 1)
        send = QPushButton("Send answer")
        send.setToolTip(f"Send the answer ({APPROVE_KEYS})")
        send.setAccessibleName("Send answer")
        send.clicked.connect(self.send_typed)
        row.addWidget(send)
        layout.addLayout(row)
        if kind != "string":
            layout.addWidget(muted(QLabel(f"Expected: {PLACEHOLDERS.get(kind, kind)}")))

    # ----------------------------------------------------------------- answers
    def pick(self, choice: str) -> bool:
        p, hid = self.handoff.payload, self.handoff.id
        sent = self.attempt(lambda: answers.value_answer(p, hid, choice))
        if sent and choice == "takeover":
            # The run opens a takeover handoff at its next safe point (run/pipeline.py); the inbox
            # asks for the live view when that handoff appears.
            self.set_status("Sent… the live view opens when the run hands you the page")
            self.takeover_chosen.emit(self.handoff.run_id)
        return sent

    def send_typed(self) -> bool:
        if self.answer_field is None:
            return False
        text = self.answer_field.text().strip()
        if not text:
            self.show_error("Type an answer first.")
            return False
        p, hid = self.handoff.payload, self.handoff.id
        return self.attempt(lambda: answers.value_answer(p, hid, text))

    def use_selector(self) -> bool:
        if self.selector_field is None:
            return False
        text = self.selector_field.text().strip()
        if not text:
            self.show_error("Type a selector first, or point at the element.")
            return False
        p, hid = self.handoff.payload, self.handoff.id
        return self.attempt(lambda: answers.target_answer(p, hid, text))

    def request_point(self) -> None:
        self.set_status("Click the element in the live view…")
        self.point_requested.emit(self.handoff.id, self.handoff.run_id)

    def answer_point(self, x: float, y: float) -> bool:
        p, hid = self.handoff.payload, self.handoff.id
        return self.attempt(lambda: answers.point_answer(p, hid, x, y))

    def primary(self) -> bool:
        if self.answer_field is not None:
            return self.send_typed()
        if self.selector_field is not None and self.selector_field.text().strip():
            return self.use_selector()
        return False

    def secondary(self) -> bool:
        return "fail" in self.choices and self.pick("fail")

    def choose(self, number: int) -> bool:
        ordered = list(self.choice_buttons)
        if 1 <= number <= len(ordered):
            return self.pick(ordered[number - 1])
        return False

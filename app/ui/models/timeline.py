"""The execution log's tree: a run's steps, each step's attempts beneath it, and the wording
the log uses for them. Each fresh read of the run is applied in place (dataChanged, inserted
rows), so what the operator expanded or selected stays where it was (see models/runlog.py for
the feed that reads it)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QFont

from app.engine.ports import RequestRecord
from app.engine.views import AttemptView, RunDetail, RunLog, StepView
from app.store.types import utcnow
from app.ui.style import HANDOFF_LABELS, status_color, status_icon

log = logging.getLogger("flightdeck.ui")

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

STEP_ROLE = Qt.ItemDataRole.UserRole + 1  # the StepView (of the parent step, on an attempt row)
ATTEMPT_ROLE = Qt.ItemDataRole.UserRole + 2  # the AttemptView; None on a step row
STATUS_ROLE = Qt.ItemDataRole.UserRole + 3  # step status or attempt outcome, as recorded

ACTIVE = ("running", "waiting")  # step statuses of the step a run is on now
# Resource types worth listing; images, styles and scripts only bury the request that mattered.
_INTERESTING = ("document", "fetch", "xhr", "")


# ----------------------------------------------------------------- wording
def format_ms(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def local_time(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at is not None else ""


# Steps that can change the server are marked, the way the requests table marks a POST.
EFFECT_MARKS = {"write": "✎", "irreversible": "⚠"}
EFFECT_WORDS = {
    "read": "reads the page",
    "write": "can change what the server stores",
    "irreversible": "cannot be undone",
}


def step_label(step: StepView) -> str:
    mark = EFFECT_MARKS.get(step.effect)
    return f"{step.index + 1}. {step.step_id}" + (f" {mark}" if mark else "")


def attempts_tip(step: StepView) -> str:
    failed = sum(1 for a in step.attempt_list if a.outcome == "failed")
    tried = f"{step.attempts} attempt{'s' if step.attempts != 1 else ''}"
    return f"{tried}, {failed} failed ({step.attempts - 1} retried)" if step.attempts > 1 else tried


def shown_requests(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests an operator cares about (as `flightdeck show` lists them)."""
    return [
        r
        for r in requests
        if r.get("resource_type", "") in _INTERESTING or str(r.get("method", "GET")).upper() != "GET"
    ]


def request_line(r: dict[str, Any]) -> str:
    status = r.get("status")
    outcome = str(status) if status is not None else (r.get("failure") or "no response")
    note = RequestRecord.from_json(r).note
    return f"{r.get('method', '?')} {r.get('url', '')} → {outcome}" + (f" ({note})" if note else "")


def waiting_kinds(detail: RunDetail) -> dict[int, str]:
    """Step index → the kind of handoff open on it."""
    return {h.step_index: h.kind for h in detail.handoffs if h.status == "open" and h.step_index is not None}


# ----------------------------------------------------------------- steps and attempts
class TimelineModel(QAbstractItemModel):
    """Top-level rows: the run's steps; children: each step's attempts."""

    COLUMNS = ("Step", "Status", "Action", "Duration", "Attempts", "Failure")
    STEP, STATUS, ACTION, DURATION, ATTEMPTS, FAILURE = range(6)
    _TOP = 0  # internal id of step rows; an attempt row carries its step's row + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._detail: RunDetail | None = None
        self._action_ms: dict[tuple[int, int], float] = {}
        self._waiting: dict[int, str] = {}
        self._steps: list[StepView] = []
        self._cells: list[tuple[str, ...]] = []
        self._attempt_cells: list[list[tuple[str, ...]]] = []

    # ------------------------------------------------------------- what is shown
    @property
    def detail(self) -> RunDetail | None:
        return self._detail

    @property
    def run_id(self) -> str | None:
        return self._detail.run.id if self._detail is not None else None

    def step_at(self, index: Index) -> StepView | None:
        row = self._step_row(index)
        return self._steps[row] if row is not None else None

    def attempt_at(self, index: Index) -> AttemptView | None:
        if not index.isValid() or index.internalId() == self._TOP:
            return None
        step = self._steps[index.internalId() - 1]
        return step.attempt_list[index.row()]

    def active_row(self) -> int | None:
        """The step the run is on now (running or waiting for a person), if any."""
        return next((row for row, st in enumerate(self._steps) if st.status in ACTIVE), None)

    def clear(self) -> None:
        self.apply(None)

    # ------------------------------------------------------------- updates
    def apply(
        self, result: RunLog | RunDetail | None, action_ms: dict[tuple[int, int], float] | None = None
    ) -> None:
        """Show a run (a RunLog, or a RunDetail with the action times). The same run as before
        is updated in place; another run replaces the rows."""
        if isinstance(result, RunLog):
            detail: RunDetail | None = result.detail
            action_ms = result.action_ms
        else:
            detail = result
        if detail is None or self._detail is None or not self._same_shape(detail):
            self.beginResetModel()
            self._set(detail, action_ms or {})
            self.endResetModel()
            return
        old_steps, old_cells, old_attempts = self._steps, self._cells, self._attempt_cells
        self._detail, self._action_ms = detail, action_ms or {}
        self._waiting = waiting_kinds(detail)
        self._steps, self._cells, self._attempt_cells = list(old_steps), list(old_cells), list(old_attempts)
        last = len(self.COLUMNS) - 1
        for row, step in enumerate(detail.steps[: len(old_steps)]):
            cells = self._step_cells(step)
            children = [self._attempt_row(step, a) for a in step.attempt_list]
            before, after = len(old_attempts[row]), len(children)
            parent = self.index(row, 0)
            if after > before:  # a new attempt began
                self.beginInsertRows(parent, before, after - 1)
                self._steps[row], self._attempt_cells[row] = step, children
                self.endInsertRows()
            elif after < before:  # not in normal runs; keep the model honest anyway
                self.beginRemoveRows(parent, after, before - 1)
                self._steps[row], self._attempt_cells[row] = step, children
                self.endRemoveRows()
            self._steps[row], self._cells[row], self._attempt_cells[row] = step, cells, children
            if cells != old_cells[row] or step != old_steps[row]:
                self.dataChanged.emit(parent, self.index(row, last))
            for n in range(min(before, after)):
                if (
                    children[n] != old_attempts[row][n]
                    or step.attempt_list[n] != old_steps[row].attempt_list[n]
                ):
                    self.dataChanged.emit(self.index(n, 0, parent), self.index(n, last, parent))
        added = detail.steps[len(old_steps) :]
        if added:  # a live task (an agent) sends its steps one at a time
            self.beginInsertRows(_ROOT, len(old_steps), len(detail.steps) - 1)
            for step in added:
                self._steps.append(step)
                self._cells.append(self._step_cells(step))
                self._attempt_cells.append([self._attempt_row(step, a) for a in step.attempt_list])
            self.endInsertRows()

    def tick(self) -> None:
        """Running steps' durations count up: repaint them (the panel calls this each second)."""
        for row, step in enumerate(self._steps):
            if step.status in ACTIVE and step.duration_ms is None and step.started_at is not None:
                cell = self.index(row, self.DURATION)
                self.dataChanged.emit(cell, cell, [Qt.ItemDataRole.DisplayRole])

    def _same_shape(self, detail: RunDetail) -> bool:
        assert self._detail is not None
        if detail.run.id != self._detail.run.id or len(detail.steps) < len(self._steps):
            return False
        return all(a.step_id == b.step_id for a, b in zip(self._steps, detail.steps, strict=False))

    def _set(self, detail: RunDetail | None, action_ms: dict[tuple[int, int], float]) -> None:
        self._detail, self._action_ms = detail, action_ms
        self._waiting = waiting_kinds(detail) if detail is not None else {}
        self._steps = list(detail.steps) if detail is not None else []
        self._cells = [self._step_cells(st) for st in self._steps]
        self._attempt_cells = [[self._attempt_row(st, a) for a in st.attempt_list] for st in self._steps]

    def _step_cells(self, step: StepView) -> tuple[str, ...]:
        status = step.status
        if step.index in self._waiting:
            status = f"waiting: {HANDOFF_LABELS.get(self._waiting[step.index], 'a person')}"
        return (
            step_label(step),
            status,
            step.summary,
            format_ms(step.duration_ms),
            str(step.attempts) if step.attempts > 0 else "",
            step.failure_class or "",
        )

    def _attempt_row(self, step: StepView, a: AttemptView) -> tuple[str, ...]:
        return (
            f"attempt {a.number}",
            a.outcome or "in progress",
            _attempt_summary(a),
            format_ms(self._attempt_ms(step, a)),
            "",
            a.failure_class or "",
        )

    def _attempt_ms(self, step: StepView, a: AttemptView) -> float | None:
        known = self._action_ms.get((step.index, a.number))
        if known is not None:
            return known
        # No action time (the action raised). A step that can change the server commits its
        # attempt before firing, so the row's own times span the attempt; a read's do not.
        mutating = step.effect != "read" and step.action not in ("assert", "extract")
        return a.duration_ms if mutating else None

    # ------------------------------------------------------------- Qt model
    def _step_row(self, index: Index) -> int | None:
        if not index.isValid():
            return None
        return index.row() if index.internalId() == self._TOP else index.internalId() - 1

    def index(self, row: int, column: int, parent: Index = _ROOT) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, self._TOP)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, child: Index | None = None) -> Any:
        if child is None:
            return QObject.parent(self)  # QObject.parent(), which this name also stands for
        if not child.isValid() or child.internalId() == self._TOP:
            return QModelIndex()
        return self.createIndex(child.internalId() - 1, 0, self._TOP)

    def rowCount(self, parent: Index = _ROOT) -> int:
        if not parent.isValid():
            return len(self._steps)
        if parent.internalId() == self._TOP and parent.column() == 0:
            return len(self._steps[parent.row()].attempt_list)
        return 0

    def columnCount(self, parent: Index = _ROOT) -> int:
        return len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = 0) -> Any:
        row = self._step_row(index)
        if row is None:
            return None
        step = self._steps[row]
        attempt = self.attempt_at(index)
        column = index.column()
        status = (attempt.outcome or "running") if attempt is not None else step.status
        if role == Qt.ItemDataRole.DisplayRole:
            if attempt is not None:
                return self._attempt_cells[row][index.row()][column]
            if column == self.DURATION and step.duration_ms is None and step.status in ACTIVE:
                return _elapsed(step)
            return self._cells[row][column]
        if role == Qt.ItemDataRole.DecorationRole and column == self.STEP:
            return status_icon("interrupted" if status == "unknown" else status)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.STATUS:
                return status_color(status)
            if column == self.FAILURE:
                return status_color("failed")
        if role == Qt.ItemDataRole.ToolTipRole:
            error = attempt.error if attempt is not None else step.error
            if column in (self.FAILURE, self.ACTION) and error:
                return error
            if column == self.ACTION:
                return (
                    self._cells[row][column]
                    if attempt is None
                    else self._attempt_cells[row][index.row()][column]
                )
            if column == self.STEP and attempt is None:
                return f"{step.step_id}: {step.effect}, {EFFECT_WORDS.get(step.effect, step.effect)}"
            if column == self.ATTEMPTS and attempt is None and step.attempts:
                return attempts_tip(step)
        if role == Qt.ItemDataRole.FontRole and column == self.STEP and step.effect == "irreversible":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.DURATION, self.ATTEMPTS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == STEP_ROLE:
            return step
        if role == ATTEMPT_ROLE:
            return attempt
        if role == STATUS_ROLE:
            return status
        return None


def _attempt_summary(a: AttemptView) -> str:
    if a.error:
        return a.error.splitlines()[0] if a.error.strip() else a.error
    parts = []
    requests = shown_requests(a.requests)
    if requests:
        parts.append(request_line(requests[-1]) if len(requests) == 1 else f"{len(requests)} requests")
    if a.checks:
        ok = sum(1 for c in a.checks if c.get("ok"))
        parts.append(f"{ok}/{len(a.checks)} checks held")
    return " · ".join(parts)


def _elapsed(step: StepView) -> str:
    if step.started_at is None:
        return ""
    return format_ms((utcnow() - step.started_at).total_seconds() * 1000) + "…"

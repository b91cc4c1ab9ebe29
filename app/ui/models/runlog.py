"""The execution log's feed and its plain views of a run: the feed that keeps a shown run
current, the run's events as a table, and the run as text (Copy as text).

The feed re-reads the whole run (`views.run_log`, on a worker thread) whenever something was
committed, one read in flight at a time; the models apply each result in place."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QFont

from app.engine import views
from app.engine.ports import MUTATING_METHODS, RequestRecord
from app.engine.views import EventView, RunDetail, RunLog
from app.ui.bridge import Bridge
from app.ui.models.timeline import Index, format_ms, local_time, request_line, shown_requests
from app.ui.style import STATUS_GLYPHS, status_color

log = logging.getLogger("flightdeck.ui")

_ROOT = QModelIndex()


def run_text(detail: RunDetail) -> str:
    """The run as plain text, worded like `flightdeck show` (for Copy as text)."""
    run = detail.run
    done = sum(1 for st in detail.steps if st.status == "succeeded")
    icon = STATUS_GLYPHS.get(run.status, "?")
    lines = [f"{icon} run {run.id} {run.status} · {run.task_name} · {done}/{len(detail.steps)} steps"]
    if run.failure_class:
        lines.append(f"  {run.failure_class}: {run.error or ''}")
    if run.started_at is not None:
        took = run.duration_s()
        lines.append(
            f"  started {local_time(run.started_at)}"
            + (f" · {'took ' if run.terminal else ''}{format_ms(took * 1000)}" if took is not None else "")
            + ("" if run.terminal or took is None else " so far")
        )
    if detail.inputs:
        lines.append("  inputs: " + ", ".join(f"{k}={v}" for k, v in detail.inputs.items()))
    for h in detail.handoffs:
        if h.status == "open":
            lines.append(f"  waiting for you: {h.kind} {h.id}: {h.question}")
    for st in detail.steps:
        glyph = STATUS_GLYPHS.get(st.status, "?")
        line = f"  {glyph} {st.step_id:<18} {st.action:<8} {st.effect:<12} {st.status}"
        if st.attempts > 1:
            line += f" ({st.attempts} attempts)"
        if st.duration_ms is not None:
            line += f" · {format_ms(st.duration_ms)}"
        lines.append(line)
        if st.failure_class:
            lines.append(f"      {st.failure_class}: {st.error}")
        for a in st.attempt_list:
            if a.outcome == "failed" and (a.number < st.attempts or st.status != "failed"):
                lines.append(f"      ↻ attempt {a.number} failed: {a.failure_class}: {a.error}")
        for r in shown_requests(st.evidence.get("requests") or []):
            lines.append(f"      ⇄ {request_line(r)}")
        for c in st.evidence.get("checks") or []:
            text = f"      ☐ {'ok' if c.get('ok') else 'FAILED'} {c.get('name', '')}"
            if not c.get("ok") and c.get("detail"):
                text += f": {c['detail']}"
            lines.append(text)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- the feed
class RunLogFeed(QObject):
    """Reads the shown run through the bridge and re-reads it after every commit.

    At most one read is in flight; commits meanwhile coalesce into one more read. A finished
    run whose last read changed nothing is not read again until `refresh()`."""

    loaded = Signal(object)  # RunLog: the run now (its `events`: only those not sent before)
    missing = Signal(str)  # run id: no such run

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._run_id: str | None = None
        self._generation = 0  # results of reads for a run no longer shown are dropped
        self._reading = False
        self._again = False
        self._settled = False
        self._after_seq = 0
        self._last: RunLog | None = None
        bridge.changed.connect(self._on_changed)

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def current(self) -> RunLog | None:
        return self._last

    def show_run(self, run_id: str | None) -> None:
        self._run_id = run_id or None
        self._generation += 1
        self._reading = self._again = self._settled = False
        self._after_seq = 0
        self._last = None
        if self._run_id is not None:
            self._read()

    def refresh(self) -> None:
        self._settled = False
        self._on_changed()

    def _on_changed(self) -> None:
        if self._run_id is None or self._settled:
            return
        if self._reading:
            self._again = True
        else:
            self._read()

    def _read(self) -> None:
        assert self._run_id is not None
        self._reading = True
        generation = self._generation
        self._bridge.read(
            views.run_log,
            self._run_id,
            self._after_seq,
            done=lambda result: self._got(generation, result),
            failed=lambda exc: self._failed(generation, exc),
        )

    def _got(self, generation: int, result: RunLog | None) -> None:
        if generation != self._generation:
            return
        self._reading = False
        if result is None:
            self.missing.emit(self._run_id or "")
            return
        last = self._last
        changed = (
            last is None
            or bool(result.events)
            or result.detail != last.detail
            or result.action_ms != last.action_ms
        )
        if result.events:
            self._after_seq = result.events[-1].seq
        self._last = result
        if result.detail.run.terminal and not changed:
            self._settled = True  # nothing moves in a finished run; stop reading it
        if changed:
            self.loaded.emit(result)
        if self._again:
            self._again = False
            self._on_changed()

    def _failed(self, generation: int, exc: BaseException) -> None:
        # A busy database, usually: the next commit reads again. Not worth an error dialog.
        log.warning("reading the run log of %s failed: %s", self._run_id, exc)
        if generation == self._generation:
            self._reading = False
            if self._again:
                self._again = False
                self._on_changed()


# ----------------------------------------------------------------- events
class EventsModel(QAbstractTableModel):
    """The run's recorded events, oldest first (the newest few hundred when there are many)."""

    COLUMNS = ("#", "Time", "Event", "Details")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._run_id: str | None = None
        self._events: list[EventView] = []

    def apply(self, run_id: str | None, events: list[EventView]) -> None:
        """New events of `run_id`; a different run (or a gap) starts the list afresh."""
        contiguous = (
            run_id == self._run_id and self._events and events and events[0].seq == self._events[-1].seq + 1
        )
        if not contiguous:
            if run_id == self._run_id and not events:
                return
            self.beginResetModel()
            self._run_id, self._events = run_id, list(events)
            self.endResetModel()
            return
        self.beginInsertRows(_ROOT, len(self._events), len(self._events) + len(events) - 1)
        self._events.extend(events)
        self.endInsertRows()

    def event_at(self, row: int) -> EventView:
        return self._events[row]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        event = self._events[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            column = index.column()
            if column == 0:
                return str(event.seq)
            if column == 1:
                return _event_time(event.at)
            if column == 2:
                return event.type
            return _event_details(event.data, short=role == Qt.ItemDataRole.DisplayRole)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _event_time(at: str) -> str:
    try:
        return datetime.fromisoformat(at).astimezone().strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        return at


def _event_details(data: dict[str, Any], short: bool) -> str:
    # As `flightdeck show --events` prints them; requests and checks are in the evidence pane.
    text = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("requests", "checks"))
    return text if not short or len(text) < 160 else text[:160] + "…"


# ----------------------------------------------------------------- evidence of one attempt
class RequestsModel(QAbstractTableModel):
    """The requests an attempt made that matter (pages, fetch/XHR, anything mutating)."""

    COLUMNS = ("Method", "Status", "URL", "Time")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._requests: list[dict[str, Any]] = []
        self.hidden = 0  # static resources left out

    def set_requests(self, requests: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._requests = shown_requests(requests)
        self.hidden = len(requests) - len(self._requests)
        self.endResetModel()

    def request_at(self, row: int) -> dict[str, Any]:
        return self._requests[row]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._requests)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        r = self._requests[index.row()]
        column = index.column()
        method = str(r.get("method", "?")).upper()
        record = RequestRecord.from_json(r)
        mutating = method in MUTATING_METHODS and record.judged
        status = r.get("status")
        # Third-party, background and refused requests decide nothing: not shown as failures.
        failed = record.judged and (
            r.get("failure") is not None or (isinstance(status, int) and status >= 400)
        )
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return f"{method} ✎" if mutating else method
            if column == 1:
                shown = str(status) if status is not None else (r.get("failure") or "no response")
                return f"{shown} · {record.note}" if record.note else shown
            if column == 2:
                return str(r.get("url", ""))
            return format_ms(r.get("duration_ms"))
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0 and mutating:
                return f"{method} can change what the server stores"
            if column == 2:
                return str(r.get("url", ""))
            if column == 1 and record.note:
                return f"{record.note}: evidence only, it decides nothing"
            if column == 1 and r.get("failure"):
                return str(r["failure"])
        if role == Qt.ItemDataRole.ForegroundRole and column == 1 and failed:
            return status_color("failed")
        if role == Qt.ItemDataRole.FontRole and ((column == 0 and mutating) or (column == 1 and failed)):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ChecksModel(QAbstractTableModel):
    """An attempt's expectation results: each condition, whether it held, what was found."""

    COLUMNS = ("", "Expectation", "Found")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._checks: list[dict[str, Any]] = []

    def set_checks(self, checks: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._checks = list(checks)
        self.endResetModel()

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._checks)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        c = self._checks[index.row()]
        ok = bool(c.get("ok"))
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return ("✓" if ok else "✗", str(c.get("name", "")), str(c.get("detail", "")))[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{'held' if ok else 'did not hold'}: {c.get('name', '')}\n{c.get('detail', '')}"
        if role == Qt.ItemDataRole.AccessibleTextRole and column == 0:
            return "held" if ok else "did not hold"
        if role == Qt.ItemDataRole.ForegroundRole and column == 0:
            return status_color("succeeded" if ok else "failed")
        return None

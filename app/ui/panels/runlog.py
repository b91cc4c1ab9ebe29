"""The execution log: the selected run step by step, following it live, with the evidence of
the selected step or attempt beside it, and the whole log copyable as text."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.engine.views import RunDetail, RunLog
from app.ui.bridge import Bridge
from app.ui.models.runlog import EventsModel, RunLogFeed, run_text
from app.ui.models.timeline import ATTEMPT_ROLE, STEP_ROLE, TimelineModel, format_ms, local_time
from app.ui.panels.evidence import EvidencePane, compact
from app.ui.panels.record_actions import RecordActions
from app.ui.style import HANDOFF_LABELS, STATUS_COLORS

EMPTY_TEXT = "Select a run in the queue to see its steps"


def _muted(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _selectable(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class RunHeader(QWidget):
    """Task name, status, progress, times, the error, the inputs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 4)
        layout.setSpacing(3)
        top = QHBoxLayout()
        top.setSpacing(8)
        self.task = QLabel()
        self.task.setAccessibleName("Task")
        font = self.task.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.task.setFont(font)
        self.task.setMinimumWidth(60)  # a long task name must not force the dock wide
        self.pill = QLabel()
        self.pill.setAccessibleName("Run status")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Steps done")
        self.progress.setTextVisible(False)  # said beside it: text on a bar is hard to read
        self.progress.setFixedSize(90, 8)
        self.steps_done = _muted(QLabel())
        self.steps_done.setAccessibleName("Progress")
        self.copy = QPushButton("Copy as text")
        self.copy.setAccessibleName("Copy the run log as text")
        keys = QKeySequence(QKeySequence.StandardKey.Copy).toString(QKeySequence.SequenceFormat.NativeText)
        self.copy.setToolTip(f"Copy the whole run log as plain text ({keys})")
        top.addWidget(self.task)
        top.addWidget(self.pill)
        top.addWidget(self.progress)
        top.addWidget(self.steps_done)
        self.report = QPushButton("Open report")
        self.report.setAccessibleName("Open the run report")
        self.report.setToolTip("Write the run's report (one HTML page) and open it in your browser")
        self.export = QPushButton("Export…")
        self.export.setAccessibleName("Export the run's evidence")
        self.export.setToolTip("Save the run's events, screenshots and trace as a zip anyone can verify")
        top.addStretch(1)
        top.addWidget(self.report)
        top.addWidget(self.export)
        top.addWidget(self.copy)
        layout.addLayout(top)
        self.facts = _muted(_selectable(QLabel()))
        self.facts.setAccessibleName("Run facts")
        self.error = _selectable(QLabel())
        self.error.setAccessibleName("Run error")
        self.error.setStyleSheet(f"color: {STATUS_COLORS['failed']};")
        self.waiting = _selectable(QLabel())
        self.waiting.setAccessibleName("Waiting for you")
        self.waiting.setStyleSheet(f"color: {STATUS_COLORS['waiting']};")
        self.inputs = _muted(_selectable(QLabel()))
        self.inputs.setAccessibleName("Inputs")
        for label in (self.facts, self.error, self.waiting, self.inputs):
            layout.addWidget(label)

    def show_detail(self, detail: RunDetail) -> None:
        run = detail.run
        self.task.setText(run.task_name)
        color = STATUS_COLORS.get(run.status, STATUS_COLORS["queued"])
        # White on the status colour: the pill reads the same on light and dark palettes.
        self.pill.setStyleSheet(
            f"QLabel {{ background: {color}; color: white; border-radius: 9px; padding: 1px 10px;"
            " font-weight: 600; }"
        )
        self.pill.setText(run.status)
        total = len(detail.steps) or run.step_count
        done = sum(1 for st in detail.steps if st.status in ("succeeded", "skipped"))
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.steps_done.setText(f"{done} of {total} steps")
        self.tick(detail)
        self.error.setText(f"{run.failure_class}: {run.error}" if run.failure_class else (run.error or ""))
        self.error.setVisible(bool(run.error or run.failure_class))
        waiting = [h for h in detail.handoffs if h.status == "open"]
        self.waiting.setText(
            "\n".join(
                f"Waiting for you — {HANDOFF_LABELS.get(h.kind, h.kind)}: {h.question}" for h in waiting
            )
        )
        self.waiting.setVisible(bool(waiting))
        shown = ", ".join(f"{k} = {v}" for k, v in detail.inputs.items())
        self.inputs.setText(f"Inputs: {shown}" if shown else "")
        self.inputs.setVisible(bool(shown))

    def loading(self, run_id: str) -> None:
        self.task.setText(f"Run {run_id}")
        self.pill.setText("…")
        self.facts.setText("loading…")
        for label in (self.error, self.waiting, self.inputs):
            label.hide()

    def tick(self, detail: RunDetail) -> None:
        run = detail.run
        facts = [f"run {run.id}"]
        if run.site:
            facts.append(run.site)
        if run.started_at is not None:
            facts.append(f"started {local_time(run.started_at)}")
            took = run.duration_s()
            if took is not None:
                facts.append(
                    f"took {format_ms(took * 1000)}" if run.terminal else f"{format_ms(took * 1000)} so far"
                )
        else:
            facts.append(f"queued {local_time(run.created_at)}")
        self.facts.setText(" · ".join(facts))


class RunLogPanel(QWidget):
    """`show_run(run_id)` shows a run; it then follows the run live until another is shown."""

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Execution log")
        self.bridge = bridge
        self.feed = RunLogFeed(bridge, self)
        self.model = TimelineModel(self)
        self.events_model = EventsModel(self)
        self._operator_chose = False  # the operator selected a row: the log no longer picks one
        self._picking = False
        self._events_at_end = True

        self.stack = QStackedWidget()
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAccessibleName("No run selected")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        _muted(self.empty)
        self.stack.addWidget(self.empty)

        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.header = RunHeader()
        column.addWidget(self.header)

        self.tree = QTreeView()
        self.tree.setAccessibleName("Steps")
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        # The action says what the step does: it gets the room; the rest is as wide as its text.
        for col in range(len(TimelineModel.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(TimelineModel.ACTION, QHeaderView.ResizeMode.Stretch)

        self.events = QTableView()
        self.events.setAccessibleName("Events")
        self.events.setModel(self.events_model)
        compact(self.events)
        self.events.setShowGrid(False)
        self.events.setWordWrap(False)
        self.events.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.events.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.events.horizontalHeader().setStretchLastSection(True)
        self.events.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.events.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Run log views")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.tree, "Steps")
        self.tabs.addTab(self.events, "Events")

        self.evidence = EvidencePane(bridge)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(self.evidence)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([600, 400])
        column.addWidget(self.splitter, 1)
        self.stack.addWidget(content)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        self.copy_action = QAction("Copy as text", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.copy_action)

        self.record = RecordActions(bridge, self)

        self.clock = QTimer(self)  # running durations count up
        self.clock.setInterval(1000)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.feed.loaded.connect(self._loaded)
        self.feed.missing.connect(self._missing)
        self.copy_action.triggered.connect(self.copy_as_text)
        self.header.copy.clicked.connect(self.copy_as_text)
        self.header.report.clicked.connect(self.open_report)
        self.header.export.clicked.connect(self.export)
        self.tree.selectionModel().currentChanged.connect(self._current_changed)
        self.model.dataChanged.connect(self._model_data_changed)
        self.model.modelReset.connect(self._model_reset)
        self.events_model.rowsAboutToBeInserted.connect(self._events_about_to_grow)
        self.events_model.rowsInserted.connect(self._events_grew)
        self.clock.timeout.connect(self._tick)

    # ------------------------------------------------------------- public
    @property
    def run_id(self) -> str | None:
        return self.feed.run_id

    def show_run(self, run_id: str | None) -> None:
        if run_id and run_id == self.feed.run_id:
            self.feed.refresh()
            return
        self._operator_chose = False
        self.model.clear()
        self.events_model.apply(None, [])
        self.evidence.clear()
        self.clock.stop()
        if not run_id:
            self.empty.setText(EMPTY_TEXT)
            self.stack.setCurrentWidget(self.empty)
        elif self.stack.currentWidget() is self.empty:
            self.empty.setText("Loading…")
        else:
            # Keep the page (hiding the steps would move the keyboard focus out of them).
            self.header.loading(run_id)
        self.feed.show_run(run_id)

    def text(self) -> str:
        """The whole run log as plain text (what Copy as text puts on the clipboard)."""
        current = self.feed.current
        return run_text(current.detail) if current is not None else ""

    def copy_as_text(self) -> None:
        text = self.text()
        if not text:
            return
        QGuiApplication.clipboard().setText(text)
        self.bridge.notice.emit(f"Copied the log of run {self.run_id} as text")

    def open_report(self) -> None:
        if self.run_id:
            self.record.open_report(self.run_id)

    def export(self) -> None:
        if self.run_id:
            self.record.export(self.run_id)

    # ------------------------------------------------------------- updates
    def _loaded(self, result: RunLog) -> None:
        # Follow the run: scroll to its new step only if the operator can see the current
        # one (has not scrolled away to read something else).
        before = self.model.active_row()
        following = before is None or self._row_visible(before)
        self.model.apply(result)
        self.events_model.apply(result.detail.run.id, result.events)
        self.header.show_detail(result.detail)
        self.stack.setCurrentIndex(1)
        if not self._operator_chose:
            self._pick_row()
        now = self.model.active_row()
        if following and now is not None and now != before:
            self.tree.scrollTo(self.model.index(now, 0), QAbstractItemView.ScrollHint.EnsureVisible)
        if result.detail.run.terminal:
            self.clock.stop()
        elif not self.clock.isActive():
            self.clock.start()

    def _missing(self, run_id: str) -> None:
        self.empty.setText(f"Run {run_id} is not in the database")
        self.stack.setCurrentWidget(self.empty)

    def _pick_row(self) -> None:
        """Until the operator selects a row, select the step that tells the run's story: the
        one that failed, else the one it is on now."""
        detail = self.model.detail
        if detail is None:
            return
        row = next((st.index for st in detail.steps if st.status == "failed"), None)
        if row is None:
            row = self.model.active_row()
        if row is None or self.tree.currentIndex() == self.model.index(row, 0):
            return
        index = self.model.index(row, 0)
        self._picking = True
        self.tree.setAutoScroll(False)  # scrolling follows the run only while the operator does
        try:
            self.tree.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )
        finally:
            self._picking = False
            self.tree.setAutoScroll(True)

    def _row_visible(self, row: int) -> bool:
        rect = self.tree.visualRect(self.model.index(row, 0))
        return rect.isValid() and self.tree.viewport().rect().intersects(rect)

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not self._picking and current.isValid():
            self._operator_chose = True
        self._show_evidence(current)

    def _model_data_changed(
        self, top_left: QModelIndex, bottom_right: QModelIndex, roles: object = None
    ) -> None:
        current = self.tree.currentIndex()
        same_level = current.isValid() and current.parent() == top_left.parent()
        if same_level and top_left.row() <= current.row() <= bottom_right.row():
            self._show_evidence(current)

    def _model_reset(self) -> None:
        self.evidence.clear()

    def _show_evidence(self, index: QModelIndex) -> None:
        step = index.data(STEP_ROLE) if index.isValid() else None
        if step is None:
            self.evidence.clear()
            return
        detail = self.model.detail
        waiting = (
            next(
                (h for h in detail.handoffs if h.status == "open" and h.step_index == step.index),
                None,
            )
            if detail is not None
            else None
        )
        self.evidence.show_evidence(step, index.data(ATTEMPT_ROLE), waiting)

    def _events_about_to_grow(self) -> None:
        bar = self.events.verticalScrollBar()
        self._events_at_end = bar.value() >= bar.maximum()

    def _events_grew(self) -> None:
        if self._events_at_end:
            self.events.scrollToBottom()

    def _tick(self) -> None:
        current = self.feed.current
        if current is None or not self.isVisible():
            return
        self.model.tick()
        self.header.tick(current.detail)

    def resizeEvent(self, event: QResizeEvent) -> None:
        # A wide dock puts the evidence beside the steps; a tall one puts it below them.
        wide = event.size().width() >= 1.3 * event.size().height()
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation != self.splitter.orientation():
            self.splitter.setOrientation(orientation)
            # Beside: the steps get more room; below: the evidence (screenshots are tall).
            self.splitter.setSizes([600, 400] if wide else [400, 600])
        super().resizeEvent(event)

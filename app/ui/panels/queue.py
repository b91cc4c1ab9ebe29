"""The task queue panel: every run with its status, what needs a person, and the commands an
operator gives a run (pause, resume, cancel, retry), filtered and sorted in the database.

The panel only shows and asks: rows come from `RunTableModel`, commands go through the bridge,
and the change feed brings their effect back into the table (no optimistic edits here).
"""

from __future__ import annotations

from dataclasses import replace

import shiboken6
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.domain.states import TERMINAL, RunStatus
from app.engine import views
from app.engine.views import RunRow
from app.ui.bridge import Bridge
from app.ui.models.runs import (
    DURATION,
    NEEDS_YOU,
    PROGRESS,
    SITE,
    STARTED,
    STATUS,
    TASK,
    RunTableModel,
    site_label,
)
from app.ui.style import STATUS_COLORS
from app.ui.widgets.confirm import confirm

S = RunStatus

# The status filter: one choice names a set of statuses (an operator thinks "what is still
# going on", not "queued or running or waiting or paused or interrupted").
STATUS_FILTERS: list[tuple[str, tuple[RunStatus, ...]]] = [
    ("All runs", ()),
    ("Needs you", (S.WAITING,)),
    ("Active", (S.QUEUED, S.RUNNING, S.WAITING, S.PAUSED, S.INTERRUPTED)),
    ("Running", (S.RUNNING,)),
    ("Queued", (S.QUEUED,)),
    ("Paused or interrupted", (S.PAUSED, S.INTERRUPTED)),
    ("Failed", (S.FAILED,)),
    ("Succeeded", (S.SUCCEEDED,)),
    ("Cancelled", (S.CANCELLED,)),
]

# Which command makes sense in which state (the engine refuses the others anyway).
CAN_PAUSE = frozenset({S.QUEUED, S.RUNNING, S.WAITING})
CAN_RESUME = frozenset({S.PAUSED, S.INTERRUPTED})
CAN_CANCEL = frozenset(set(S) - TERMINAL)
CAN_RETRY = TERMINAL

_WIDTHS = {STATUS: 104, NEEDS_YOU: 76, TASK: 150, PROGRESS: 96, SITE: 130, STARTED: 130, DURATION: 80}


class NeedsYouDelegate(QStyledItemDelegate):
    """The "needs you" count as an amber pill: the one thing in the queue that must stand out."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        count = int(index.data(RunTableModel.NeedsYouRole) or 0)
        base = QStyleOptionViewItem(option)
        self.initStyleOption(base, index)
        base.text = ""  # the pill replaces the number
        style = base.widget.style() if base.widget is not None else None
        if style is None:
            return
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, base, painter, base.widget)
        if count <= 0:
            return
        text = f"{count} open"
        metrics = option.fontMetrics
        width = metrics.horizontalAdvance(text) + 16
        height = min(option.rect.height() - 6, metrics.height() + 4)
        pill = QRect(0, 0, width, height)
        pill.moveCenter(option.rect.center())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(STATUS_COLORS["waiting"]))
        painter.drawRoundedRect(pill, height / 2, height / 2)
        # Dark text on amber reads in light and dark themes alike.
        painter.setPen(QColor("#1b1b1b"))
        font = option.font
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class QueuePanel(QWidget):
    run_selected = Signal(str)  # a row was selected (or "Open record" asked for it)
    record_requested = Signal(str)  # "Open record": the main window shows the execution log
    start_requested = Signal()  # "Start task…": the main window opens the start dialog

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self.setAccessibleName("Task queue")
        self._bridge = bridge
        self._selected = ""  # the run last announced with run_selected
        self._wanted = ""  # select_run() for a run not loaded yet: selected when it arrives
        self._confirm: QMessageBox | None = None
        self.model = RunTableModel(bridge, parent=self)

        self._build_actions()
        self._build_filters()
        self._build_table()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.toolbar)
        layout.addLayout(self._filter_row)
        layout.addWidget(self.table, 1)
        self._connect_signals()
        self._update_actions()
        self._read_sites()

    # ----------------------------------------------------------------- building
    def _action(
        self, text: str, tip: str, shortcut: QKeySequence | str, icon: QStyle.StandardPixmap
    ) -> QAction:
        action = QAction(self.style().standardIcon(icon), text, self)
        action.setShortcut(QKeySequence(shortcut))
        # Only while the queue has focus: other panels may use the same keys.
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(
            f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})"
        )
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        P = QStyle.StandardPixmap
        self.start_action = self._action("Start task…", "Start a task from a file", "Ctrl+N", P.SP_FileIcon)
        self.pause_action = self._action("Pause", "Pause the selected run", "Ctrl+Shift+P", P.SP_MediaPause)
        self.resume_action = self._action("Resume", "Resume the selected run", "Ctrl+Shift+R", P.SP_MediaPlay)
        self.cancel_action = self._action("Cancel…", "Cancel the selected run", "Delete", P.SP_BrowserStop)
        self.retry_action = self._action("Retry", "Run the selected task again", "Ctrl+R", P.SP_BrowserReload)
        self.open_action = self._action(
            "Open record", "Show the selected run's execution log", "Ctrl+Return", P.SP_FileDialogDetailedView
        )
        self.run_actions = [self.pause_action, self.resume_action, self.cancel_action, self.retry_action]
        self.toolbar = QToolBar("Queue actions", self)
        self.toolbar.setAccessibleName("Queue actions")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addAction(self.start_action)
        self.toolbar.addSeparator()
        for action in self.run_actions:
            self.toolbar.addAction(action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.open_action)
        for action in (self.start_action, *self.run_actions, self.open_action):
            button = self.toolbar.widgetForAction(action)
            if button is not None:
                button.setAccessibleName(action.text().rstrip("…"))

    def _build_filters(self) -> None:
        self.status_combo = QComboBox(self)
        self.status_combo.setAccessibleName("Status filter")
        self.status_combo.setToolTip("Show runs in these states")
        for label, _ in STATUS_FILTERS:
            self.status_combo.addItem(label)
        self.site_combo = QComboBox(self)
        self.site_combo.setAccessibleName("Site filter")
        self.site_combo.setToolTip("Show runs on this site")
        self.site_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.site_combo.addItem("All sites", "")
        self.search = QLineEdit(self)
        self.search.setAccessibleName("Search runs")
        self.search.setPlaceholderText("Search task name or run id")
        self.search.setClearButtonEnabled(True)
        self.count_label = QLabel(self)
        self.count_label.setAccessibleName("Run count")
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.count_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        # Typing re-reads from the database: wait for a pause in typing first.
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._sites_timer = QTimer(self)  # new sites appear with new runs: re-read, at most each 2 s
        self._sites_timer.setSingleShot(True)
        self._sites_timer.setInterval(2000)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(QLabel("Show", self))
        row.addWidget(self.status_combo)
        row.addWidget(self.site_combo)
        row.addWidget(self.search, 1)
        row.addWidget(self.count_label)
        self._filter_row = row

    def _build_table(self) -> None:
        table = QTableView(self)
        table.setObjectName("queueTable")
        table.setAccessibleName("Runs")
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setTabKeyNavigation(False)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.setItemDelegateForColumn(NEEDS_YOU, NeedsYouDelegate(table))
        rows = table.verticalHeader()
        rows.hide()
        # Fixed row heights: the view never measures 100 000 rows to lay them out.
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(table.fontMetrics().height() + 10)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.DescendingOrder)  # newest first
        # Fixed starting widths the operator can drag; the last column takes what is left.
        # (A stretching Task column would be squeezed to nothing in a narrow dock.)
        header.setStretchLastSection(True)
        for column, width in _WIDTHS.items():
            header.resizeSection(column, width)
        header.setMinimumSectionSize(48)
        self.table = table

    def _connect_signals(self) -> None:
        self.start_action.triggered.connect(self.start_requested)
        self.pause_action.triggered.connect(self.pause_selected)
        self.resume_action.triggered.connect(self.resume_selected)
        self.cancel_action.triggered.connect(self.cancel_selected)
        self.retry_action.triggered.connect(self.retry_selected)
        self.open_action.triggered.connect(self.open_selected)
        self.table.activated.connect(self._activated)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.horizontalHeader().sectionClicked.connect(self._header_clicked)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.status_combo.currentIndexChanged.connect(self._apply_filter)
        self.site_combo.currentIndexChanged.connect(self._apply_filter)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self._apply_filter)
        self._search_timer.timeout.connect(self._apply_filter)
        self._sites_timer.timeout.connect(self._read_sites)
        self.model.total_changed.connect(self._update_count)
        self.model.total_changed.connect(self._sites_maybe_changed)
        self.model.rowsInserted.connect(self._rows_arrived)
        self.model.rowsRemoved.connect(self._rows_changed)
        self.model.modelReset.connect(self._rows_changed)
        self.model.loaded.connect(self._reloaded)
        self.model.dataChanged.connect(self._data_changed)

    # ----------------------------------------------------------------- selection
    def selected_run(self) -> RunRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.run_at(rows[0].row()) if rows else None

    def select_run(self, run_id: str) -> bool:
        """Select a run's row and scroll to it. A run not loaded yet is selected when it
        arrives (a retry's new run, a run of an answered handoff far down the list)."""
        row = self.model.row_for(run_id)
        if row < 0:
            self._wanted = run_id
            return False
        self._wanted = ""
        index = self.model.index(row, TASK)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().select(index, flags)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        return True

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        run = self.selected_run()
        self._update_actions()
        if run is None:
            return
        if run.id != self._selected:
            # The operator chose another run: forget a run we were waiting to select. (Rows
            # moving under the same selection, as when a new run arrives above, do not count.)
            if run.id != self._wanted:
                self._wanted = ""
            self._selected = run.id
            self.run_selected.emit(run.id)

    def _rows_arrived(self) -> None:
        if self._wanted:
            self.select_run(self._wanted)
        self._rows_changed()

    def _reloaded(self) -> None:
        # A new filter or sort re-reads the rows: keep the selected run selected if it is shown.
        if self._wanted or self._selected:
            self.select_run(self._wanted or self._selected)
        self._rows_changed()

    def _data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        run = self.selected_run()
        if run is not None and top_left.row() <= self.model.row_for(run.id) <= bottom_right.row():
            self._update_actions()

    # ----------------------------------------------------------------- commands
    def _update_actions(self) -> None:
        run = self.selected_run()
        status = run.status if run is not None else None
        self.pause_action.setEnabled(status in CAN_PAUSE)
        self.resume_action.setEnabled(status in CAN_RESUME)
        self.cancel_action.setEnabled(status in CAN_CANCEL)
        self.retry_action.setEnabled(status in CAN_RETRY)
        self.open_action.setEnabled(run is not None)

    def pause_selected(self) -> None:
        run = self.selected_run()
        if run is not None and run.status in CAN_PAUSE:
            self._bridge.pause(run.id)

    def resume_selected(self) -> None:
        run = self.selected_run()
        if run is not None and run.status in CAN_RESUME:
            self._bridge.resume(run.id)

    def retry_selected(self) -> None:
        run = self.selected_run()
        if run is not None and run.status in CAN_RETRY:
            self._bridge.retry(run.id, done=self._retried)

    def _retried(self, new_run_id: str) -> None:
        if shiboken6.isValid(self):  # the panel may be gone by the time the command returns
            self.select_run(new_run_id)  # selected now, or when the refresh brings it in

    def _activated(self, _index: QModelIndex) -> None:
        self.open_selected()  # Enter or a double click

    def open_selected(self) -> None:
        run = self.selected_run()
        if run is not None:
            self._selected = run.id
            self.run_selected.emit(run.id)
            self.record_requested.emit(run.id)

    def cancel_selected(self) -> None:
        """Ask first (a cancelled run cannot be resumed); the question does not block the loop."""
        run = self.selected_run()
        if run is None or run.status not in CAN_CANCEL or self._confirm is not None:
            return
        run_id = run.id

        def closed() -> None:
            self._confirm = None

        self._confirm = confirm(
            self,
            title="Cancel run",
            text=f"Cancel the run of “{run.task_name}” ({run.id})?\n\n"
            "It stops before its next step and cannot be resumed; its record stays.",
            yes="Cancel run",
            no="Keep running",
            name="Confirm cancelling the run",
            on_yes=lambda: self._bridge.cancel(run_id),
            on_close=closed,
        )

    def confirmation(self) -> QMessageBox | None:
        """The cancel question while it is open."""
        return self._confirm

    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid():
            self.table.selectRow(index.row())
        menu = QMenu(self)
        menu.setAccessibleName("Run actions")
        menu.addAction(self.open_action)
        menu.addSeparator()
        for action in self.run_actions:
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.start_action)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # ----------------------------------------------------------------- filter and sort
    def _apply_filter(self) -> None:
        self._search_timer.stop()
        statuses = STATUS_FILTERS[max(0, self.status_combo.currentIndex())][1]
        site = str(self.site_combo.currentData() or "")
        text = self.search.text().strip()
        self.model.set_filter(replace(self.model.filter(), statuses=statuses, site=site, text=text))

    def _header_clicked(self, column: int) -> None:
        header = self.table.horizontalHeader()
        if not self.model.sortable(column):
            # Computed columns cannot be ordered in the database: keep the current indicator.
            current = self.model.sort_column()
            order = (
                Qt.SortOrder.DescendingOrder
                if self.model.filter().descending
                else Qt.SortOrder.AscendingOrder
            )
            header.setSortIndicator(current, order)
            return
        if column == self.model.sort_column():
            descending = not self.model.filter().descending
        else:
            descending = column == STARTED  # times read best newest first, names A to Z
        order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        header.setSortIndicator(column, order)
        self.model.sort(column, order)

    def _read_sites(self) -> None:
        self._bridge.read(views.run_sites, done=self._sites_read)

    def _sites_maybe_changed(self) -> None:
        if not self._sites_timer.isActive():
            self._sites_timer.start()

    def _sites_read(self, sites: list[str]) -> None:
        if not shiboken6.isValid(self):
            return
        current = str(self.site_combo.currentData() or "")
        known = [str(self.site_combo.itemData(i)) for i in range(1, self.site_combo.count())]
        if known == sites:
            return
        self.site_combo.blockSignals(True)
        try:
            while self.site_combo.count() > 1:
                self.site_combo.removeItem(1)
            for site in sites:
                self.site_combo.addItem(site_label(site), site)
                self.site_combo.setItemData(self.site_combo.count() - 1, site, Qt.ItemDataRole.ToolTipRole)
            at = self.site_combo.findData(current)
            self.site_combo.setCurrentIndex(max(0, at))
        finally:
            self.site_combo.blockSignals(False)

    def _rows_changed(self) -> None:
        self._update_count()
        self._update_actions()

    def _update_count(self) -> None:
        total, loaded = self.model.total(), self.model.rowCount()
        filtered = self.model.filter().statuses or self.model.filter().site or self.model.filter().text
        noun = "matching runs" if filtered else "runs"
        if total == 0:
            text = f"No {noun}"
        elif loaded >= total:
            text = f"{_n(total)} {noun if total != 1 else noun.replace('runs', 'run')}"
        else:
            text = f"{_n(loaded)} of {_n(total)} {noun}"
        self.count_label.setText(text)


def _n(count: int) -> str:
    """Thousands with a thin space: 100 000."""
    return f"{count:,}".replace(",", "\u2009")

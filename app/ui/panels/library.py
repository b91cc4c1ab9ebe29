"""The task library panel: the task files of a folder, their problems shown inline, and the way to
start one. Starting is the main window's business (it opens the start dialog): the panel only says
which file, through `start_requested(path)`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStackedLayout,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.bridge import Bridge
from app.ui.models.library import LibraryModel
from app.ui.style import status_color
from app.ui.widgets.filedialog import choose_path

TASK_FILE_FILTER = "Task files (*.yaml *.yml);;All files (*)"
MAX_ISSUE_LINES = 6  # more problems than this: the tooltip has them all
PAD = 8
MARK_WIDTH = 20


class LibraryPanel(QWidget):
    start_requested = Signal(str)  # path of a valid task file to start (main window opens the dialog)
    folder_changed = Signal(str)  # the person chose another folder (the main window saves it)

    def __init__(self, bridge: Bridge, folder: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("library-panel")
        self.model = LibraryModel(bridge, parent=self)

        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setAccessibleName("Task library folder")
        self.folder_label.setMinimumWidth(80)
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Task count")
        self.count_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Choose the folder the library lists task files from")
        self.folder_button.setAccessibleName("Choose task folder")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the folder again (it is also watched for changes)")
        self.refresh_button.setAccessibleName("Refresh task library")

        self.view = QListView()
        self.view.setAccessibleName("Task files")
        self.view.setModel(self.model)
        self.view.setItemDelegate(_EntryDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)  # rows re-wrap when the panel resizes
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setAlternatingRowColors(True)

        self.status_label = QLabel()
        self.status_label.setAccessibleName("Task library status")
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_label.setWordWrap(True)
        self.status_label.setMargin(16)
        self.status_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.open_button = QPushButton("Open file…")
        self.open_button.setToolTip("Start a task from any task file")
        self.open_button.setAccessibleName("Open a task file")
        self.start_button = QPushButton("Start…")
        self.start_button.setToolTip("Start the selected task (or double-click it)")
        self.start_button.setAccessibleName("Start the selected task")
        self.start_button.setDefault(True)
        self.start_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.folder_button)
        top.addWidget(self.refresh_button)
        self._stack = QStackedLayout()
        self._stack.addWidget(self.view)
        self._stack.addWidget(self.status_label)
        bottom = QHBoxLayout()
        bottom.addWidget(self.open_button)
        bottom.addWidget(self.count_label, 1, Qt.AlignmentFlag.AlignCenter)
        bottom.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(self._stack, 1)
        layout.addLayout(bottom)

        self._selected_path = ""
        self._connect_signals()
        self.set_folder(folder)

    def _connect_signals(self) -> None:
        self.folder_button.clicked.connect(self.choose_folder)
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self.open_file)
        self.start_button.clicked.connect(self.start_selected)
        self.view.activated.connect(self._activated)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.model.scanned.connect(self._show_state)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.dataChanged.connect(self._update_start)

    # ----------------------------------------------------------------- API
    def folder(self) -> Path | None:
        return self.model.folder()

    def set_folder(self, folder: Path | str) -> None:
        self.folder_label.setText(f"Folder: {folder}")
        self.folder_label.setToolTip(str(folder))
        self.status_label.setText("Reading task files…")
        self._stack.setCurrentWidget(self.status_label)
        self.model.set_folder(folder)

    def refresh(self) -> None:
        self.model.refresh()

    def selected_path(self) -> str:
        """The selected task file ("" when nothing is selected)."""
        index = self.view.currentIndex()
        return str(index.data(LibraryModel.PathRole)) if index.isValid() else ""

    def select_path(self, path: str) -> bool:
        row = self.model.row_of(path)
        if row < 0:
            return False
        self.view.setCurrentIndex(self.model.index(row))
        return True

    def start_selected(self) -> None:
        index = self.view.currentIndex()
        if index.isValid() and index.data(LibraryModel.ValidRole):
            self.start_requested.emit(index.data(LibraryModel.PathRole))

    def choose_folder(self) -> None:
        choose_path(
            self, "Choose the task library folder", self.folder() or "", self._folder_chosen, mode="folder"
        )

    def open_file(self) -> None:
        choose_path(
            self,
            "Open a task file",
            self.folder() or "",
            self.start_requested.emit,
            name_filter=TASK_FILE_FILTER,
        )

    # ----------------------------------------------------------------- slots
    def _folder_chosen(self, path: str) -> None:
        if path:
            self.set_folder(path)
            self.folder_changed.emit(path)

    def _activated(self, index: QModelIndex) -> None:
        if index.data(LibraryModel.ValidRole):
            self.start_requested.emit(index.data(LibraryModel.PathRole))

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_start()

    def _update_start(self) -> None:
        index = self.view.currentIndex()
        valid = index.isValid() and bool(index.data(LibraryModel.ValidRole))
        self.start_button.setEnabled(valid)
        if index.isValid() and not valid:
            self.start_button.setToolTip("This task file has problems; fix them first (see the list)")
        else:
            self.start_button.setToolTip("Start the selected task (or double-click it)")

    def _remember_selection(self) -> None:
        self._selected_path = self.selected_path()

    def _restore_selection(self) -> None:
        if not (self._selected_path and self.select_path(self._selected_path)):
            self._update_start()

    def _show_state(self) -> None:
        entries = self.model.entries()
        invalid = sum(1 for e in entries if not e.valid)
        if self.model.folder_error():
            self.status_label.setText(f"{self.model.folder_error()}\nChoose another folder with “Folder…”.")
        elif not entries:
            self.status_label.setText(
                "No task files here yet.\nPut .yaml task files in this folder, "
                "choose another folder, or open a file."
            )
        count = f"{len(entries)} task{'s' if len(entries) != 1 else ''}" if entries else ""
        self.count_label.setText(count + (f" · {invalid} with problems" if invalid else ""))
        self._stack.setCurrentWidget(self.view if entries else self.status_label)
        if entries and not self.view.currentIndex().isValid():
            self.view.setCurrentIndex(self.model.index(0))
        self._update_start()


class _EntryDelegate(QStyledItemDelegate):
    """Name in bold; under it steps · site · inputs, the description, or the file's problems in
    red, wrapped to the panel's width so a fix is never cut off."""

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view
        self._width = -1
        # Row heights depend on the width (wrapped text): lay the rows out again when the
        # viewport's width changes, including when a scroll bar appears.
        view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self._view.viewport():
            width = self._view.viewport().width()
            if width != self._width:
                self._width = width
                self._view.scheduleDelayedItemsLayout()
        return False

    def _layout(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex, width: int
    ) -> list[tuple[str, QFont, str, int, int]]:
        """(text, font, colour kind, height, draw flags) of each block, top to bottom: the name and
        the summary on one line each (elided), the description and the problems wrapped."""
        bold = QFont(option.font)
        bold.setBold(True)
        small = QFont(option.font)
        if small.pointSizeF() > 0:
            small.setPointSizeF(small.pointSizeF() * 0.92)
        one_line = int(Qt.TextFlag.TextSingleLine)
        wrap = int(Qt.TextFlag.TextWordWrap)
        blocks: list[tuple[str, QFont, str, int]] = [
            (str(index.data() or ""), bold, "text", one_line),
            (str(index.data(LibraryModel.SummaryRole) or ""), small, "muted", one_line),
        ]
        if index.data(LibraryModel.ValidRole):
            description = str(index.data(LibraryModel.DescriptionRole) or "")
            if description:
                blocks.append((description, option.font, "text", wrap))
        else:
            issues = list(index.data(LibraryModel.IssuesRole) or [])
            shown = issues[:MAX_ISSUE_LINES]
            if len(issues) > len(shown):
                shown.append(f"… and {len(issues) - len(shown)} more (hover for all)")
            blocks.extend((line, small, "error", wrap) for line in shown)
        laid_out = []
        for text, font, kind, flags in blocks:
            metrics = QFontMetrics(font)
            if flags == one_line:
                text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
                height = metrics.height()
            else:
                height = metrics.boundingRect(QRect(0, 0, width, 100_000), flags, text).height()
            laid_out.append((text, font, kind, height, flags))
        return laid_out

    def _text_width(self, total: int) -> int:
        return max(60, total - 2 * PAD - MARK_WIDTH)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        width = self._view.viewport().width()
        blocks = self._layout(option, index, self._text_width(width))
        height = sum(b[3] for b in blocks) + 2 * (len(blocks) - 1) + 2 * PAD
        return QSize(width, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = self._view.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, self._view)  # background
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        palette = opt.palette
        colours = {
            "text": palette.color(
                QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
            ),
            "muted": palette.color(
                QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
            ),
            "error": palette.color(QPalette.ColorRole.HighlightedText)
            if selected
            else status_color("failed"),
        }
        rect = opt.rect
        x = rect.left() + PAD + MARK_WIDTH
        width = self._text_width(rect.width())
        y = rect.top() + PAD
        painter.save()
        valid = bool(index.data(LibraryModel.ValidRole))
        blocks = self._layout(opt, index, width)
        if not valid:  # the red mark: this file cannot start
            mark = QFont(opt.font)
            mark.setBold(True)
            painter.setFont(mark)
            painter.setPen(colours["error"])
            painter.drawText(
                QRect(rect.left() + PAD, y, MARK_WIDTH, blocks[0][3]), int(Qt.AlignmentFlag.AlignLeft), "✗"
            )
        for text, font, kind, height, flags in blocks:
            painter.setFont(font)
            painter.setPen(colours[kind])
            painter.drawText(QRect(x, y, width, height), flags, text)
            y += height + 2
        painter.restore()

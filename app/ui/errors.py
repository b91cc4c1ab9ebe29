"""Never a silent death: one excepthook (and the asyncio loop's exception handler) turns an
uncaught exception into a log record and an error dialog; a ring buffer keeps recent log lines
so the dialog and Help ▸ Log can show them (qutebrowser's pattern)."""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger("flightdeck.ui")


class LogBuffer(logging.Handler):
    """The last `capacity` log lines, formatted."""

    def __init__(self, capacity: int = 2000) -> None:
        super().__init__(level=logging.INFO)
        self.lines: deque[str] = deque(maxlen=capacity)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a logging failure must never raise into the caller
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines)


def install_log_buffer() -> LogBuffer:
    buffer = LogBuffer()
    root = logging.getLogger("flightdeck")
    root.addHandler(buffer)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return buffer


def _mono() -> Any:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class ErrorDialog(QDialog):
    """What went wrong, in one sentence, with the details (traceback, recent log) a click away."""

    def __init__(self, title: str, summary: str, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        head = QLabel(f"<b>{title}</b>")
        head.setTextFormat(Qt.TextFormat.RichText)
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note = QLabel("Flightdeck keeps running; runs in flight stay resumable.")
        note.setEnabled(False)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setFont(_mono())
        self.details.setAccessibleName("Error details")
        self.details.setMinimumHeight(220)
        self.details.setVisible(False)
        toggle = QPushButton("Show details")
        toggle.setCheckable(True)
        toggle.toggled.connect(self.details.setVisible)
        toggle.toggled.connect(lambda on: toggle.setText("Hide details" if on else "Show details"))
        copy = QPushButton("Copy details")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(f"{summary}\n\n{details}"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(toggle, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        for w in (head, self.summary, note, self.details, buttons):
            layout.addWidget(w)


class ErrorReporter(QObject):
    """Receives errors from anywhere (excepthook, asyncio, the bridge) and shows them one at a
    time on the UI thread; identical errors in a burst show once."""

    reported = Signal(str, str, str)  # title, summary, details

    def __init__(self, parent_window: Callable[[], QWidget | None], buffer: LogBuffer | None) -> None:
        super().__init__()
        self._window = parent_window
        self._buffer = buffer
        self._open: set[str] = set()
        self.shown: list[tuple[str, str]] = []  # (title, summary): what the operator was shown
        self.modal = True  # tests switch it off to inspect `shown` without a blocking dialog
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def report(self, title: str, summary: str, details: str = "") -> None:
        self.reported.emit(title, summary, details)

    def report_exception(self, title: str, exc: BaseException) -> None:
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("%s: %s", title, exc, exc_info=exc)
        self.report(title, f"{type(exc).__name__}: {exc}", details)

    def _show(self, title: str, summary: str, details: str) -> None:
        self.shown.append((title, summary))
        if summary in self._open:
            return
        if self._buffer is not None and self._buffer.lines:
            details = f"{details}\n\nRecent log:\n{self._buffer.text()[-6000:]}"
        if not self.modal:
            return
        self._open.add(summary)
        dialog = ErrorDialog(title, summary, details, self._window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda *_: self._open.discard(summary))
        dialog.open()  # window-modal, not a nested event loop: the engine keeps running

    # ------------------------------------------------------------- hooks
    def excepthook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        exc.__traceback__ = tb
        self.report_exception("Unexpected error", exc)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, asyncio.CancelledError):
            return
        if isinstance(exc, BaseException):
            self.report_exception("Unexpected error in background work", exc)
        else:
            message = str(context.get("message", "unknown asyncio error"))
            log.error("asyncio: %s", message)
            self.report("Unexpected error in background work", message, repr(context))

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        sys.excepthook = self.excepthook
        loop.set_exception_handler(self.loop_handler)

"""The main window: live views in the middle, the queue and the library on the left, the handoff
inbox on the right, the execution log below. Docks can be moved, tabbed, floated or hidden; the
layout and the window's size are remembered. All signal wiring is in `_connect_signals`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.engine import views
from app.engine.views import RunFilter
from app.ui.console import Console
from app.ui.dialogs.credentials import CredentialsDialog
from app.ui.dialogs.profiles import ProfilesDialog
from app.ui.dialogs.settings import SettingsDialog
from app.ui.dialogs.start import StartTaskDialog, open_start_dialog
from app.ui.errors import ErrorReporter, LogBuffer
from app.ui.notify import Notifier
from app.ui.panels.inbox import InboxPanel
from app.ui.panels.library import LibraryPanel
from app.ui.panels.live import LiveViewsPanel
from app.ui.panels.queue import QueuePanel
from app.ui.panels.runlog import RunLogPanel
from app.ui.settings import ConsoleSettings
from app.ui.theme import apply_theme
from app.ui.widgets.confirm import confirm

ACTIVE = ("running", "waiting", "queued")


class MainWindow(QMainWindow):
    closed = Signal()  # the operator closed the window: the app shuts down

    def __init__(
        self,
        console: Console,
        settings: ConsoleSettings,
        reporter: ErrorReporter | None = None,
        log_buffer: LogBuffer | None = None,
    ) -> None:
        super().__init__()
        self.console = console
        self.bridge = console.bridge
        self.settings = settings
        self.reporter = reporter
        self.log_buffer = log_buffer
        self.confirm_close = True
        self._quit_question: QMessageBox | None = None  # "Quit Flightdeck?" while it is open
        self._quit_confirmed = False
        self._pointing_for: str | None = None  # the handoff a pointing session answers
        self._counts: dict[str, int] = {}
        self._showing: str | None = None
        self._credentials: CredentialsDialog | None = None
        self._profiles: ProfilesDialog | None = None
        self.setWindowTitle("Flightdeck")
        self.setObjectName("MainWindow")
        self.setDockNestingEnabled(True)
        # The queue and the inbox run the full height; the log sits under the live views only.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self._default_size()

        self.live = LiveViewsPanel(self.bridge, self)
        self.queue = QueuePanel(self.bridge, self)
        self.library = LibraryPanel(self.bridge, settings.library_folder, self)
        self.inbox = InboxPanel(self.bridge, self)
        self.runlog = RunLogPanel(self.bridge, self)
        self.notifier = Notifier(self)
        self.setCentralWidget(self.live)

        self.queue_dock = self._dock("Task queue", "queue", self.queue, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.library_dock = self._dock(
            "Task library", "library", self.library, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.tabifyDockWidget(self.queue_dock, self.library_dock)
        self.queue_dock.raise_()
        self.inbox_dock = self._dock("Handoffs", "inbox", self.inbox, Qt.DockWidgetArea.RightDockWidgetArea)
        self.log_dock = self._dock(
            "Execution log", "log", self.runlog, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resizeDocks([self.queue_dock, self.inbox_dock], [600, 430], Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [400], Qt.Orientation.Vertical)
        self._default_state = self.saveState()

        self.status_runs = QLabel()
        self.status_runs.setAccessibleName("Run counts")
        self.status_where = QLabel(self._where())
        self.status_where.setEnabled(False)
        self.statusBar().addWidget(self.status_runs, 1)
        self.statusBar().addPermanentWidget(self.status_where)

        self._build_menus()
        self._connect_signals()
        self._restore_layout()
        self._refresh_counts()

    # ----------------------------------------------------------------- layout
    def _quit(self) -> None:
        self._quit_confirmed = True
        self.close()

    def _default_size(self) -> None:
        """Most of the screen (first start; later starts restore the saved geometry)."""
        screen = QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(1600, 980)
            return
        room = screen.availableGeometry()
        self.resize(min(1920, int(room.width() * 0.94)), min(1120, int(room.height() * 0.94)))

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")  # saveState/restoreState key
        dock.setWidget(widget)
        dock.setAccessibleName(title)
        self.addDockWidget(area, dock)
        return dock

    def _where(self) -> str:
        url = self.console.db.url
        shown = url if len(url) < 70 else "…" + url[-69:]
        return f"database: {shown}"

    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_state()
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        if state:
            self.restoreState(QByteArray(state))

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in (self.queue_dock, self.library_dock, self.inbox_dock, self.log_dock):
            dock.show()
        self.queue_dock.raise_()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.act_start = self._action(
            file, "&Start task from file…", QKeySequence.StandardKey.New, self.start_from_file
        )
        self._action(file, "&Verify evidence bundle…", None, self.runlog.record.verify_chosen)
        self._action(file, "&Settings…", QKeySequence("Ctrl+,"), self.open_settings)
        file.addSeparator()
        self._action(file, "&Quit", QKeySequence.StandardKey.Quit, self.close)

        view = bar.addMenu("&View")
        for dock in (self.queue_dock, self.library_dock, self.inbox_dock, self.log_dock):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self._action(view, "Reset layout", None, self.reset_layout)
        theme = view.addMenu("Theme")
        for mode, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            act = theme.addAction(label)
            act.setCheckable(True)
            act.setChecked(self.settings.theme == mode)
            act.triggered.connect(lambda _=False, m=mode: self.set_theme(m))
        self._theme_actions = theme.actions()

        go = bar.addMenu("&Go")
        self._action(go, "Task &queue", QKeySequence("Ctrl+1"), lambda: self._focus(self.queue_dock))
        self._action(go, "&Handoffs", QKeySequence("Ctrl+2"), lambda: self._focus(self.inbox_dock))
        self._action(go, "Execution &log", QKeySequence("Ctrl+3"), lambda: self._focus(self.log_dock))
        self._action(go, "Task &library", QKeySequence("Ctrl+4"), lambda: self._focus(self.library_dock))

        tools = bar.addMenu("&Tools")
        self._action(tools, "&Credentials…", QKeySequence("Ctrl+Shift+K"), self.open_credentials)
        self._action(tools, "Session &profiles…", QKeySequence("Ctrl+Shift+S"), self.open_profiles)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Show &log", None, self.show_log)
        self._action(help_menu, "&About Flightdeck", None, self.about)

    def _action(
        self,
        menu: QMenu,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | None,
        slot: Callable[[], object],
    ) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(shortcut)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _focus(self, dock: QDockWidget) -> None:
        dock.show()
        dock.raise_()
        dock.widget().setFocus()

    # ----------------------------------------------------------------- wiring
    def _connect_signals(self) -> None:
        b = self.bridge
        b.changed.connect(self._refresh_counts)
        b.failed.connect(self._command_failed)
        b.notice.connect(lambda text: self.statusBar().showMessage(text, 6000))

        self.queue.run_selected.connect(self.show_run)
        self.queue.record_requested.connect(self.open_record)
        self.queue.start_requested.connect(self.start_from_file)
        self.library.start_requested.connect(self.start_task)
        self.library.folder_changed.connect(self._library_folder)
        self.live.run_selected.connect(self.show_run)
        self.live.pointed.connect(self._pointed)
        self.live.pointing_cancelled.connect(self._pointing_cancelled)
        self.notifier.icon_changed.connect(self.setWindowIcon)
        self.inbox.run_selected.connect(self.show_run)
        self.inbox.point_requested.connect(self._point_for)
        self.inbox.takeover_requested.connect(self._take_over)
        self.inbox.count_changed.connect(self._handoff_count)
        self.inbox.arrived.connect(self._handoffs_arrived)
        self.notifier.activated.connect(lambda: self._focus(self.inbox_dock))

    def show_run(self, run_id: str, *, focus_live: bool = True) -> None:
        """One run becomes the subject of every panel that shows a single run."""
        if self._showing == run_id:
            return  # the panels echo the selection back; once is enough
        self._showing = run_id
        self.runlog.show_run(run_id)
        self.queue.select_run(run_id)
        if focus_live and run_id in self.live.live_run_ids:
            self.live.focus_run(run_id)

    def open_record(self, run_id: str) -> None:
        self.show_run(run_id)
        self._focus(self.log_dock)

    def _point_for(self, handoff_id: str, run_id: str) -> None:
        self._pointing_for = handoff_id
        self.live.start_pointing(run_id)
        self.statusBar().showMessage("Click the element in the live view (Esc cancels)", 10000)

    def _pointed(self, run_id: str, x: float, y: float) -> None:
        if self._pointing_for is not None:
            self.inbox.answer_point(self._pointing_for, x, y)
            self._pointing_for = None

    def _pointing_cancelled(self, *_: object) -> None:
        if self._pointing_for is not None:
            self.inbox.stop_pointing(self._pointing_for)
            self._pointing_for = None

    def _take_over(self, run_id: str) -> None:
        self.live.focus_run(run_id)
        self.live.take_over(run_id)

    def _handoff_count(self, count: int) -> None:
        self.inbox_dock.setWindowTitle(f"Handoffs ({count})" if count else "Handoffs")
        self.notifier.set_count(count)
        self._show_counts()
        cards = self.inbox.ordered_cards()
        if self._showing is None and cards:
            # Nothing chosen yet: the log shows the run that needs a person most (the live
            # grid stays a grid).
            self.show_run(cards[0].handoff.run_id, focus_live=False)

    def _handoffs_arrived(self, arrived: list[views.HandoffView]) -> None:
        self.notifier.notify(arrived)

    def _command_failed(self, what: str, details: str) -> None:
        last = details.strip().splitlines()[-1] if details.strip() else what
        if self.reporter is not None:
            self.reporter.report(f"Could not finish {what}", last, details)
        else:
            self.statusBar().showMessage(f"{what} failed: {last}", 10000)

    # ----------------------------------------------------------------- status
    def _refresh_counts(self) -> None:
        def count(db: object) -> dict[str, int]:
            from app.domain.states import RunStatus

            return {
                s.value: views.count_runs(self.console.db, RunFilter(statuses=(s,)))
                for s in (RunStatus.RUNNING, RunStatus.WAITING, RunStatus.QUEUED, RunStatus.FAILED)
            }

        self.bridge.read(count, done=self._set_counts)

    def _set_counts(self, counts: dict[str, int]) -> None:
        self._counts = counts
        self._show_counts()

    def _show_counts(self) -> None:
        c = self._counts
        parts = [f"{c.get('running', 0)} running", f"{c.get('queued', 0)} queued"]
        waiting = c.get("waiting", 0)
        parts.append(f"{waiting} waiting for a person" if waiting else "nobody waiting")
        if c.get("failed"):
            parts.append(f"{c['failed']} failed")
        parts.append(f"{self.console.engine.concurrency} slots")
        self.status_runs.setText("  ·  ".join(parts))

    # ----------------------------------------------------------------- commands
    def start_from_file(self) -> None:
        """Pick any task file (a non-blocking dialog: the engine keeps running meanwhile)."""
        self.library.open_file()

    def start_task(self, path: str) -> StartTaskDialog:
        """The start dialog for a task file (a form from its declared inputs); OK queues a run."""
        return open_start_dialog(self.bridge, path, self, done=self._started)

    def _started(self, run_id: str) -> None:
        self.statusBar().showMessage(f"Run {run_id} queued", 5000)
        self._focus(self.queue_dock)
        # The queue learns of the new run on the next change notification; select it then.
        QTimer.singleShot(300, lambda: self.show_run(run_id))

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.theme_changed.connect(self.set_theme)
        dialog.library_folder_changed.connect(lambda path: self.library.set_folder(Path(path)))
        dialog.open()

    def open_credentials(self) -> CredentialsDialog:
        """Tools ▸ Credentials. One dialog, kept while the window lives (hidden when closed) so a
        keyring call still in flight never answers to a deleted dialog; re-read when reopened."""
        if self._credentials is None:
            self._credentials = CredentialsDialog(self.bridge, self.console.secrets, self)
        elif not self._credentials.isVisible():
            self._credentials.refresh()
        self._credentials.show()
        self._credentials.raise_()
        return self._credentials

    def open_profiles(self) -> ProfilesDialog:
        """Tools ▸ Session profiles (kept like the credentials dialog)."""
        if self._profiles is None:
            self._profiles = ProfilesDialog(self.bridge, self.console.profiles, self)
        elif not self._profiles.isVisible():
            self._profiles.refresh()
        self._profiles.show()
        self._profiles.raise_()
        return self._profiles

    def _library_folder(self, path: str) -> None:
        self.settings.library_folder = path

    def set_theme(self, mode: str) -> None:
        self.settings.theme = mode
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, mode)
        for act, m in zip(self._theme_actions, ("system", "light", "dark"), strict=True):
            act.setChecked(m == mode)

    def show_log(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Flightdeck log")
        dialog.resize(900, 500)
        text = QPlainTextEdit(self.log_buffer.text() if self.log_buffer else "(no log captured)")
        text.setReadOnly(True)
        text.setAccessibleName("Log")
        QVBoxLayout(dialog).addWidget(text)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def about(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setWindowTitle("About Flightdeck")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setText(
            f"<b>Flightdeck {__version__}</b><p>The execution layer between AI agents and the web: "
            "runs in real Chromium, judged by evidence, with a person in the loop before anything "
            f"irreversible.</p><p>{self._where()}</p>"
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not QMessageBox.about(): that spins a nested loop under the engine
        return box

    # ----------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        busy = self.console.engine.busy_slots
        if self.confirm_close and busy and not self._quit_confirmed:
            # Asked window-modal, answered by callback: the runs go on while the person reads.
            event.ignore()
            if self._quit_question is None:
                self._quit_question = confirm(
                    self,
                    title="Quit Flightdeck?",
                    text=(
                        "1 run is executing. It stops at once and resumes from its last checkpoint"
                        if busy == 1
                        else f"{busy} runs are executing. They stop at once and resume from their last "
                        "checkpoint"
                    )
                    + " the next time Flightdeck starts. Runs waiting for a person stay waiting.",
                    yes="Quit",
                    no="Keep running",
                    name="Quit Flightdeck",
                    on_yes=self._quit,
                    on_close=lambda: setattr(self, "_quit_question", None),
                )
            return
        self.settings.save_window_state(bytes(self.saveGeometry().data()), bytes(self.saveState().data()))
        self.settings.sync()
        self.notifier.hide()
        event.accept()
        self.closed.emit()

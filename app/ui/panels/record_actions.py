"""The execution log's "Open report" and "Export…": the run report written on a worker thread
(through the Bridge) and opened in the person's browser; the evidence bundle saved where they
choose. The opener and the save dialog are attributes, so tests run them without a browser or
a modal dialog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QWidget

from app.record import export_run, write_report
from app.record.export import Exported
from app.store.db import default_data_dir
from app.ui.bridge import Bridge


def _save_dialog(parent: QWidget | None, suggested: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(
        parent, "Export the run's evidence", suggested, "Evidence bundle (*.zip)"
    )
    return path or None


class RecordActions(QObject):
    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.widget = parent
        # Where reports go: one file per run, rewritten each time (it reflects the run now).
        self.reports_dir = default_data_dir() / "reports"
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl
        self.choose_export_path: Callable[[str], str | None] = lambda suggested: _save_dialog(
            self.widget, suggested
        )

    def open_report(self, run_id: str) -> None:
        out = self.reports_dir / f"run-{run_id}.html"
        engine = self.bridge.engine

        def opened(path: Path) -> None:
            if not self.open_url(QUrl.fromLocalFile(str(path))):
                self.bridge.notice.emit(f"Report written to {path} (no browser to open it)")
            else:
                self.bridge.notice.emit(f"Opened the report of run {run_id}")

        self.bridge.call(
            f"writing the report of run {run_id}",
            write_report,
            engine.db,
            engine.artifacts,
            run_id,
            out,
            done=opened,
        )

    def export(self, run_id: str) -> None:
        chosen = self.choose_export_path(str(Path.home() / f"run-{run_id}.zip"))
        if not chosen:
            return
        engine = self.bridge.engine

        def exported(result: Exported) -> None:
            note = f"Exported run {run_id} to {result.path}: {result.events} events"
            if result.missing:
                note += f" ({len(result.missing)} artifacts were missing: it will not verify)"
            self.bridge.notice.emit(note)

        self.bridge.call(
            f"exporting run {run_id}",
            export_run,
            engine.db,
            engine.artifacts,
            run_id,
            Path(chosen),
            done=exported,
        )

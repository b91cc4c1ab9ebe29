"""The execution log's "Open report" and "Export…": the run report written on a worker thread
(through the Bridge) and opened in the person's browser; the evidence bundle saved where they
choose. The opener is an attribute, so tests run it without a browser; the file dialogs are the
real ones, opened without a nested loop (`widgets.filedialog`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.record import export_run, verify_bundle, write_report
from app.record.export import Exported
from app.record.verify import Verdict
from app.store.db import default_data_dir
from app.ui.bridge import Bridge
from app.ui.widgets.filedialog import choose_path

BUNDLE_FILTER = "Evidence bundle (*.zip)"


def describe_verdict(path: Path, verdict: Verdict) -> tuple[bool, str]:
    """What the person reads: intact or not, and why (as `flightdeck verify` says it)."""
    run = verdict.manifest.get("run") or {}
    if verdict.ok:
        return True, (
            f"✓ {path.name} verifies: run {run.get('run_id')} ({run.get('task')}, {run.get('status')}), "
            f"{verdict.events} events, {verdict.artifacts} artifacts.\n\nChain head {verdict.head_hash}"
        )
    lines = [f"✗ {path.name} does not verify: {verdict.problems[0]}"]
    lines += [f"also: {problem}" for problem in verdict.problems[1:6]]
    if len(verdict.problems) > 6:
        lines.append(f"… and {len(verdict.problems) - 6} more")
    return False, "\n".join(lines)


class RecordActions(QObject):
    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.widget = parent
        # Where reports go: one file per run, rewritten each time (it reflects the run now).
        self.reports_dir = default_data_dir() / "reports"
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl
        # How a verdict is shown: a non-blocking box (intact: information; broken: warning).
        self.show_verdict: Callable[[bool, str], Any] = self._verdict_box
        self.last_verdict: tuple[bool, str] | None = None

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

    def export(self, run_id: str) -> QFileDialog:
        """Ask where to save the bundle; it is written (on a worker thread) once a path is chosen."""
        return choose_path(
            self.widget,
            "Export the run's evidence",
            Path.home() / f"run-{run_id}.zip",
            lambda chosen: self._export_to(run_id, Path(chosen)),
            mode="save",
            name_filter=BUNDLE_FILTER,
            suffix="zip",
        )

    def _export_to(self, run_id: str, target: Path) -> None:
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
            target,
            done=exported,
        )

    def verify_chosen(self) -> QFileDialog:
        """File ▸ Verify evidence bundle…: the check `flightdeck verify` makes, on a worker
        thread, with no database (the bundle may come from anyone)."""
        return choose_path(
            self.widget,
            "Verify an evidence bundle",
            Path.home(),
            lambda chosen: self.verify(Path(chosen)),
            name_filter=BUNDLE_FILTER,
        )

    def verify(self, path: Path) -> None:

        def verified(verdict: Verdict) -> None:
            self.last_verdict = describe_verdict(path, verdict)
            self.show_verdict(*self.last_verdict)

        def unreadable(exc: BaseException) -> None:  # not a bundle at all: say what it is
            self.last_verdict = (False, f"✗ {exc}")
            self.show_verdict(*self.last_verdict)

        self.bridge.call(f"verifying {path.name}", verify_bundle, path, done=verified, failed=unreadable)

    def _verdict_box(self, ok: bool, text: str) -> QMessageBox:
        icon = QMessageBox.Icon.Information if ok else QMessageBox.Icon.Warning
        box = QMessageBox(icon, "Evidence bundle", text, QMessageBox.StandardButton.Ok, self.widget)
        box.setAccessibleName("Evidence bundle verdict")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.finished.connect(box.deleteLater)
        box.open()  # not exec(): no nested loop inside the asyncio loop's turn
        return box

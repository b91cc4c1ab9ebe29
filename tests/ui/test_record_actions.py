"""The execution log's "Open report" and "Export…", and File ▸ Verify evidence bundle…, on the
real console back end: a real run in real Chromium, the report written for the run shown (and
handed to the opener, which here records the URL instead of starting a browser), the bundle
saved where the person chose in the real file dialog and verified (intact, tampered, not a
bundle)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.record import verify_bundle
from app.resources import demo_tasks_dir
from app.ui.console import ConsoleOptions
from app.ui.panels.runlog import RunLogPanel
from tests.ui.helpers import running_console, until


async def file_dialog(parent: QWidget, mode: str) -> QFileDialog:
    """The file dialog the last action opened (window-modal, not a nested loop: the test goes
    on while it is open)."""
    await until(lambda: parent.findChild(QFileDialog, f"choose-{mode}") is not None, what="the file dialog")
    dialog = parent.findChild(QFileDialog, f"choose-{mode}")
    assert dialog is not None and dialog.isVisible()
    return dialog


async def replace_question(parent: QWidget) -> QMessageBox:
    await until(lambda: parent.findChild(QMessageBox) is not None, what="the question")
    box = parent.findChild(QMessageBox)
    assert box is not None and box.accessibleName() == "Replace the file"
    return box


async def choose(parent: QWidget, mode: str, path: Path) -> None:
    dialog = await file_dialog(parent, mode)
    dialog.selectFile(str(path))
    dialog.accept()
    await until(lambda: parent.findChild(QFileDialog, f"choose-{mode}") is None, what="the dialog to close")


async def test_open_report_and_export_for_the_shown_run(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any, tmp_path: Path
) -> None:
    async with running_console(console_options) as console:
        panel = RunLogPanel(console.bridge)
        qtbot.addWidget(panel)
        panel.resize(1200, 700)
        panel.show()
        ids: list[str] = []
        console.bridge.submit(
            str(demo_tasks_dir() / "save-profile.yaml"), {}, site=hostile_site.url, done=ids.append
        )
        await until(lambda: ids, what="the run to be queued")
        panel.show_run(ids[0])
        await until(
            lambda: panel.model.detail is not None and panel.model.detail.run.terminal,
            timeout=60,
            what="the run to finish in the log",
        )
        opened: list[QUrl] = []
        panel.record.reports_dir = tmp_path / "reports"
        panel.record.open_url = lambda url: opened.append(url) or True
        notices: list[str] = []
        console.bridge.notice.connect(notices.append)

        qtbot.mouseClick(panel.header.report, Qt.MouseButton.LeftButton)
        await until(lambda: opened, what="the report to be opened")
        report = Path(opened[0].toLocalFile())
        assert report.parent == tmp_path / "reports" and ids[0] in report.name
        page = report.read_text(encoding="utf-8")
        assert "save-profile" in page and "The event chain verifies" in page
        assert "/api/profile" in page and "500" in page  # the failed POST, as evidence
        assert any("Opened the report" in n for n in notices)

        target = tmp_path / "chosen" / "evidence.zip"
        target.parent.mkdir()
        qtbot.mouseClick(panel.header.export, Qt.MouseButton.LeftButton)
        dialog = await file_dialog(panel, "save")
        assert dialog.selectedFiles()[0].endswith(f"run-{ids[0]}.zip")  # the suggested name
        assert dialog.acceptMode() is QFileDialog.AcceptMode.AcceptSave
        await choose(panel, "save", target)
        await until(target.exists, what="the bundle to be written")
        verdict = verify_bundle(target)
        assert verdict.ok and verdict.manifest["run"]["run_id"] == ids[0]
        await until(lambda: any("Exported run" in n for n in notices), what="the export notice")

        # Cancelling the save dialog writes nothing.
        qtbot.mouseClick(panel.header.export, Qt.MouseButton.LeftButton)
        (await file_dialog(panel, "save")).reject()
        await until(lambda: panel.findChild(QFileDialog) is None, what="the dialog to close")
        assert sorted(p.name for p in target.parent.iterdir()) == ["evidence.zip"]

        # Choosing the same file asks before replacing it; "Cancel" keeps the old bundle.
        target.write_bytes(b"the old bundle")
        for answer in (QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes):
            qtbot.mouseClick(panel.header.export, Qt.MouseButton.LeftButton)
            await choose(panel, "save", target)
            box = await replace_question(panel)
            assert str(target) in box.text() and box.defaultButton() is box.button(
                QMessageBox.StandardButton.No
            )
            box.button(answer).click()
            if answer is QMessageBox.StandardButton.No:
                await until(lambda: panel.findChild(QMessageBox) is None, what="the question to close")
                assert target.read_bytes() == b"the old bundle"
        await until(lambda: zipfile.is_zipfile(target), what="the bundle to be replaced")
        assert verify_bundle(target).ok

        # A bare name gets the bundle's suffix.
        qtbot.mouseClick(panel.header.export, Qt.MouseButton.LeftButton)
        await choose(panel, "save", target.parent / "again")
        await until((target.parent / "again.zip").exists, what="again.zip to be written")

        # File ▸ Verify evidence bundle…: the same bundle verifies in the console, a tampered
        # copy does not and the person reads which part, a file that is no bundle says so.
        shown: list[tuple[bool, str]] = []
        panel.record.show_verdict = lambda ok, text: shown.append((ok, text))
        panel.record.verify_chosen()
        await choose(panel, "open", target)
        await until(lambda: shown, what="the verdict")
        assert shown[0][0] and "verifies" in shown[0][1] and verdict.head_hash in shown[0][1]

        tampered = tmp_path / "tampered.zip"
        with zipfile.ZipFile(target) as src, zipfile.ZipFile(tampered, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                if item.filename == "events.jsonl":
                    data = data.replace(b'"save-profile"', b'"save-profil3"', 1)
                dst.writestr(item, data)
        panel.record.verify_chosen()
        await choose(panel, "open", tampered)
        await until(lambda: len(shown) == 2, what="the second verdict")
        assert not shown[1][0] and "does not verify: event #1" in shown[1][1], shown[1][1]

        junk = tmp_path / "notes.zip"
        junk.write_text("not a zip")
        panel.record.verify_chosen()
        await choose(panel, "open", junk)
        await until(lambda: len(shown) == 3, what="the third verdict")
        assert not shown[2][0] and "not a zip file" in shown[2][1]

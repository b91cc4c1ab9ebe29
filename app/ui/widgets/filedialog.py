"""Choosing a file or a folder without blocking the loop.

The static `QFileDialog.get*FileName` helpers run a nested event loop (`exec()`) inside the turn
of whatever slot opened them; with qasync, Qt's loop is the asyncio loop, so the engine, the
screencasts and every pending coroutine would run re-entrantly under that call. The dialog is
opened with `open()` instead and answers through a callback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QWidget

from app.ui.widgets.confirm import confirm

PathMode = Literal["open", "save", "folder"]


def choose_path(
    parent: QWidget | None,
    title: str,
    start: str | Path,
    on_chosen: Callable[[str], None],
    *,
    mode: PathMode = "open",
    name_filter: str = "",
    suffix: str = "",
) -> QFileDialog:
    """Open the dialog and return it; `on_chosen(path)` runs only if the person picks a path.

    `start` is a folder, or (to suggest a name) a file path: its folder is shown and the name
    filled in. A save dialog adds `suffix` to a bare name and asks before replacing a file."""
    start = Path(start).expanduser() if str(start) else Path.home()
    folder, name = (start, "") if mode == "folder" or start.is_dir() else (start.parent, start.name)
    dialog = QFileDialog(parent, title, str(folder), name_filter)
    dialog.setObjectName(f"choose-{mode}")
    dialog.setAccessibleName(title)
    if mode == "folder":
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    elif mode == "save":
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setDefaultSuffix(suffix)
        # Qt's own overwrite question is a blocking QMessageBox; ours is window-modal.
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, True)
        on_chosen = _replacing_asked(parent, on_chosen)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    if name:
        dialog.selectFile(name)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.fileSelected.connect(lambda path: _chosen(path, on_chosen))
    dialog.open()
    return dialog


def _chosen(path: str, on_chosen: Callable[[str], None]) -> None:
    if path:  # a native dialog may report "" on cancel
        on_chosen(path)


def _replacing_asked(parent: QWidget | None, on_chosen: Callable[[str], None]) -> Callable[[str], None]:
    def chosen(path: str) -> None:
        if not Path(path).exists() or parent is None:
            on_chosen(path)
            return
        confirm(
            parent,
            title="Replace the file?",
            text=f"{path} already exists. Replace it?",
            yes="Replace",
            no="Cancel",
            name="Replace the file",
            on_yes=lambda: on_chosen(path),
        )

    return chosen

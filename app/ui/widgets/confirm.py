"""A question before something that cannot be undone, asked without blocking the loop.

`QMessageBox.exec()` would spin a nested event loop inside a running coroutine's turn (qasync:
Qt's loop is the asyncio loop), so the box is opened window-modal and answers through a
callback instead."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def confirm(
    parent: QWidget,
    *,
    title: str,
    text: str,
    yes: str,
    no: str,
    name: str,
    on_yes: Callable[[], None],
    on_close: Callable[[], None] = lambda: None,
) -> QMessageBox:
    """Open the question (No is the default: Enter never destroys anything) and return it;
    `on_close` runs whatever the answer, then `on_yes` if it was yes."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    box.setDefaultButton(QMessageBox.StandardButton.No)
    yes_button = box.button(QMessageBox.StandardButton.Yes)
    yes_button.setText(yes)
    box.button(QMessageBox.StandardButton.No).setText(no)
    box.setAccessibleName(name)
    box.setWindowModality(Qt.WindowModality.WindowModal)

    def finished() -> None:
        on_close()
        if box.clickedButton() is yes_button:
            on_yes()
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    return box

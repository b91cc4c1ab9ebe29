"""Qt keyboard events as operator input for a taken-over page (`InputEvent`).

Text goes as "type" (inserted as it is, whatever the keyboard layout); keys that do something
rather than type (Enter, arrows, shortcuts with Control/Alt/Meta) go as a Playwright key name
("Enter", "Control+a", "Shift+Tab").
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from app.engine.ports import InputEvent

K = Qt.Key
_NAMED: dict[Qt.Key, str] = {
    K.Key_Return: "Enter",
    K.Key_Enter: "Enter",
    K.Key_Backspace: "Backspace",
    K.Key_Tab: "Tab",
    K.Key_Backtab: "Tab",  # Qt's name for Shift+Tab; the Shift modifier is added below
    K.Key_Escape: "Escape",
    K.Key_Delete: "Delete",
    K.Key_Insert: "Insert",
    K.Key_Home: "Home",
    K.Key_End: "End",
    K.Key_PageUp: "PageUp",
    K.Key_PageDown: "PageDown",
    K.Key_Left: "ArrowLeft",
    K.Key_Right: "ArrowRight",
    K.Key_Up: "ArrowUp",
    K.Key_Down: "ArrowDown",
    **{getattr(K, f"Key_F{n}"): f"F{n}" for n in range(1, 13)},
}
_MODIFIER_KEYS = {K.Key_Shift, K.Key_Control, K.Key_Alt, K.Key_Meta, K.Key_AltGr, K.Key_CapsLock}
M = Qt.KeyboardModifier


def key_input(event: QKeyEvent) -> InputEvent | None:
    """The input to send for a key press, or None (a modifier on its own)."""
    key = Qt.Key(event.key())
    if key in _MODIFIER_KEYS:
        return None
    mods = event.modifiers()
    chord = [
        name
        for flag, name in ((M.ControlModifier, "Control"), (M.AltModifier, "Alt"), (M.MetaModifier, "Meta"))
        if mods & flag
    ]
    if key in _NAMED:
        if mods & M.ShiftModifier or key == K.Key_Backtab:
            chord.append("Shift")
        return InputEvent(kind="key", key="+".join([*chord, _NAMED[key]]))
    text = event.text()
    if not chord:
        return InputEvent(kind="type", text=text) if text and text.isprintable() else None
    # A shortcut: name the key itself (Control+a), not the control character Qt reports.
    if K.Key_A <= key <= K.Key_Z:
        name = chr(int(key)).lower()
    elif 0x20 < int(key) < 0x7F:
        name = chr(int(key))
    else:
        return None
    if mods & M.ShiftModifier:
        chord.append("Shift")
    return InputEvent(kind="key", key="+".join([*chord, name]))

"""Operator input during a takeover, sent to the page over CDP (DESIGN.md "Live views"), and the
record of it that may be stored: what was typed into a password or secret-looking field is
replaced by "••••" (G7). The field is looked at before the input is sent: that is where it goes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import CDPSession, Page

from app.browser.masking import SECRET_FIELD_JS
from app.engine.ports import InputEvent

REDACTED = "••••"

# The focused element, looked for inside open shadow roots and same-origin frames. Focus inside
# a frame we cannot look into counts as secret: not knowing must not leak.
_FOCUS_IS_SECRET_JS = (
    "() => {"
    + SECRET_FIELD_JS
    + """
  let el = document.activeElement;
  for (;;) {
    if (el && el.shadowRoot && el.shadowRoot.activeElement) { el = el.shadowRoot.activeElement; continue; }
    if (el && (el.tagName === 'IFRAME' || el.tagName === 'FRAME')) {
      let inner = null;
      try { inner = el.contentDocument && el.contentDocument.activeElement; } catch (e) { return true; }
      if (!inner) return true;
      el = inner;
      continue;
    }
    break;
  }
  return !!el && isSecretField(el);
}"""
)

_MOUSE_TYPES = {"click": "", "move": "mouseMoved", "down": "mousePressed", "up": "mouseReleased"}
_BUTTON_BITS = {"left": 1, "right": 2, "middle": 4}
_MODIFIERS = ("control", "alt", "meta")


class OperatorInput:
    """Sends one session's operator input; remembers which mouse buttons are down, so a move
    between a "down" and an "up" drags."""

    def __init__(self, page: Page, cdp: Callable[[], Awaitable[CDPSession]]) -> None:
        self._page = page
        self._cdp = cdp
        self._buttons = 0

    async def send(self, event: InputEvent) -> dict[str, Any]:
        kind = event.kind
        if kind in ("type", "key"):
            return await self._keyboard(event)
        if event.x is None or event.y is None:
            raise ValueError(f"a {kind} event needs x and y")
        cdp = await self._cdp()
        at = {"x": event.x, "y": event.y}
        record: dict[str, Any] = {"kind": kind, "x": event.x, "y": event.y}
        if kind == "wheel":
            await cdp.send(
                "Input.dispatchMouseEvent",
                {"type": "mouseWheel", **at, "deltaX": event.delta_x, "deltaY": event.delta_y},
            )
            return {**record, "delta_x": event.delta_x, "delta_y": event.delta_y}
        if kind == "move":
            held = next((b for b, bit in _BUTTON_BITS.items() if self._buttons & bit), "none")
            await cdp.send(
                "Input.dispatchMouseEvent",
                {"type": "mouseMoved", **at, "button": held, "buttons": self._buttons},
            )
            return record
        bit = _BUTTON_BITS[event.button]
        press = {**at, "button": event.button, "clickCount": 1}
        if kind in ("click", "down"):
            self._buttons |= bit
            await cdp.send(
                "Input.dispatchMouseEvent", {"type": "mousePressed", **press, "buttons": self._buttons}
            )
        if kind in ("click", "up"):
            self._buttons &= ~bit
            await cdp.send(
                "Input.dispatchMouseEvent", {"type": "mouseReleased", **press, "buttons": self._buttons}
            )
        return {**record, "button": event.button}

    async def _keyboard(self, event: InputEvent) -> dict[str, Any]:
        secret = bool(await self._page.evaluate(_FOCUS_IS_SECRET_JS))
        if event.kind == "type":
            text = event.text or ""
            await (await self._cdp()).send("Input.insertText", {"text": text})
            if secret:
                return {"kind": "type", "text": REDACTED, "redacted": True}
            return {"kind": "type", "text": text}
        key = event.key or ""
        if not key:
            raise ValueError("a key event needs a key")
        # Playwright knows the key names ("Enter", "Control+a") and the modifiers.
        await self._page.keyboard.press(key)
        if secret and _types_a_character(key):
            return {"kind": "key", "key": REDACTED, "redacted": True}
        return {"kind": "key", "key": key}


def _types_a_character(key: str) -> bool:
    """Whether `key` puts a character into the field: "a" and "Shift+A" do; "Enter", "Tab" and
    "Control+a" do not."""
    parts = key.split("+")
    if len(parts) > 1 and parts[-1] == "":  # "Shift++" and "+": the key itself is "+"
        parts = [*parts[:-2], "+"]
    *modifiers, last = parts
    return len(last) == 1 and not any(m.lower() in _MODIFIERS for m in modifiers)

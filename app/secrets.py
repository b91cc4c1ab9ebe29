"""The only module that imports keyring, and redaction (DESIGN.md G7): what the keyring
backend is (for `flightdeck doctor`), and the `Redactor` every writer passes text through."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import keyring
import keyring.backends.fail


@dataclass(frozen=True)
class KeyringStatus:
    usable: bool
    backend: str
    fix: str = ""


def keyring_status() -> KeyringStatus:
    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, keyring.backends.fail.Keyring):
        return KeyringStatus(
            False,
            name,
            "no OS keyring: install a Secret Service (apt-get install gnome-keyring dbus-x11) "
            "and run inside a desktop session or `dbus-run-session`",
        )
    if "plaintext" in name.lower() or name.startswith("keyrings.alt"):
        return KeyringStatus(False, name, "a plaintext keyring is not acceptable: uninstall keyrings.alt")
    return KeyringStatus(True, name)


# --------------------------------------------------------------------------- redaction (G7)

MASK = "[secret]"
# Shorter values would blank out ordinary text everywhere (a 2-character "secret" matches in
# most sentences); credentials that short are refused when they are added.
MIN_SECRET_LENGTH = 4


def encodings(value: str) -> set[str]:
    """The forms a secret takes in what Flightdeck writes: as typed, URL-encoded (path and form
    style), base64 (standard and URL-safe, padded or not), JSON-escaped and HTML-escaped."""
    raw = value.encode()
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
    }
    for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = b64.decode()
        forms.update({text, text.rstrip("=")})
    return {form for form in forms if form}


class Redactor:
    """Replaces every known secret value, in any of its `encodings`, with MASK.

    Filled in with each value as it is resolved (the engine adds what a run resolves), and
    applied to whatever is about to be written or returned."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            return
        new = encodings(value) - set(self._needles)
        if new:
            # Longest first, so an encoding that contains another is replaced whole.
            self._needles = sorted({*self._needles, *new}, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(n) for n in self._needles))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def redact_bytes(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        return self.redact(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def redact_value(self, value: Any) -> Any:
        """A JSON-like value (dicts, lists, strings) with every string redacted, keys included."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v) for v in value)
        return value

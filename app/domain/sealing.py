"""Secret values in what a run executes from (DESIGN.md G7, "Judging on the real web").

What a run is continued from — its inputs, its checkpoint (the page it was on, the outputs it
extracted, the targets it learned) — is never masked: a URL with `[secret]` in it leads nowhere,
and the process that continues the run (after an approval, a crash) would act on the damage.
Nor may it hold a secret. So where the value of a secret credential field would be stored
there, a placeholder naming the field is stored instead, and resolved again, from the credential
store, by whichever process continues the run.

A placeholder reads `⟦secret:NAME.FIELD:ENCODING@TAG⟧`, e.g. `⟦secret:shop.username:url@9f…⟧`:
- `⟦` `⟧` (U+27E6, U+27E7) cannot be taken for a `{{ }}` template, nor a template for them;
- ENCODING is the form the value had there (as typed, URL-encoded, base64…: ENCODERS), so the
  text resolves to exactly what it was;
- TAG is the run's own random tag, kept in its checkpoint. Pages put text into the checkpoint
  (a URL, an extracted value): text that only looks like a placeholder is never resolved, so a
  page cannot get a credential typed or sent anywhere by writing one.
Sealing leaves placeholders as they are, so a checkpoint read and written again is unchanged.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus


def _b64(value: str, *, urlsafe: bool = False, padded: bool = True) -> str:
    raw = value.encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return text if padded else text.rstrip("=")


# The forms a value takes in what Flightdeck stores and writes, by name (a placeholder's ENCODING).
ENCODERS: dict[str, Callable[[str], str]] = {
    "raw": lambda v: v,
    "url": lambda v: quote(v, safe=""),
    "form": quote_plus,
    "json": lambda v: json.dumps(v)[1:-1],
    "json-u": lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    "html": html.escape,
    "b64": _b64,
    "b64-np": lambda v: _b64(v, padded=False),
    "b64url": lambda v: _b64(v, urlsafe=True),
    "b64url-np": lambda v: _b64(v, urlsafe=True, padded=False),
}

_PLACEHOLDER = re.compile(r"⟦secret:([A-Za-z0-9][\w-]*\.[A-Za-z][\w-]*):([a-z0-9-]+)@([0-9a-f]+)⟧")


def new_tag() -> str:
    return secrets.token_hex(8)


def conceal(value: Any, mask: str) -> Any:
    """`value` (JSON-like) with every placeholder shown as `mask`: for whoever reads a
    checkpoint without continuing the run (an agent reading its outputs)."""
    return _map_strings(value, lambda text: _PLACEHOLDER.sub(mask, text))


class Sealer:
    """Seals (and resolves again) the values of a run's secret credential fields, by reference.

    `tag` is the run's (its checkpoint's); values are added by reference as they are read."""

    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self._values: dict[str, str] = {}  # NAME.FIELD → value
        self._forms: dict[str, tuple[str, str]] = {}  # a form of a value → (NAME.FIELD, ENCODING)
        self._pattern: re.Pattern[str] | None = None

    def add(self, ref: str, value: str) -> None:
        if not value or self._values.get(ref) == value:
            return
        self._values[ref] = value
        for encoding, encode in ENCODERS.items():
            self._forms.setdefault(encode(value), (ref, encoding))
        # Placeholders first (kept whole), then the forms, longest first (a form containing
        # another is replaced whole).
        forms = sorted(self._forms, key=len, reverse=True)
        self._pattern = re.compile("|".join([_PLACEHOLDER.pattern, *(re.escape(f) for f in forms)]))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def seal(self, value: Any) -> Any:
        """`value` (JSON-like: dicts, lists, strings) with every form of a known value replaced
        by its placeholder. Dict keys are left alone: they name things, values hold them."""
        pattern = self._pattern
        if pattern is None:
            return value

        def one(match: re.Match[str]) -> str:
            found = match.group(0)
            if match.group(1) is not None:
                return found  # a placeholder already (ours, or text that looks like one)
            ref, encoding = self._forms[found]
            return f"⟦secret:{ref}:{encoding}@{self.tag}⟧"

        return _map_strings(value, lambda text: pattern.sub(one, text))

    def unseal(self, value: Any) -> Any:
        """`value` with this run's placeholders replaced by the values they stand for. Raises
        LookupError naming a reference whose value was not added (it was never read)."""

        def one(match: re.Match[str]) -> str:
            ref, encoding, tag = match.groups()
            if tag != self.tag or encoding not in ENCODERS:
                return match.group(0)  # not this run's: plain text
            if ref not in self._values:
                raise LookupError(ref)
            return ENCODERS[encoding](self._values[ref])

        return _map_strings(value, lambda text: _PLACEHOLDER.sub(one, text) if "⟦" in text else text)


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_map_strings(v, change) for v in value)
    return value

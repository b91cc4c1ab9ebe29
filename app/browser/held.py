"""A held request as the operator sees it: method, URL and the fields its body carries, with
secrets masked.

A body field is secret when its name looks like one (masking.py, the rule form previews use),
when a secret field of the page has that name (a password input named `pw`), or when its value
is what a secret field of the page holds (a script that posts the password under any name). The
page's secret values are only compared here, never kept.

Bodies are read as far as they can be shown safely: urlencoded forms and JSON objects field by
field (nested secrets masked inside the value), multipart forms by field name only (files and
their contents stay out), anything else as its size.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Request

from app.browser.masking import MASK, SECRET_FIELD_JS, cut, is_secret_name
from app.engine.ports import FieldValue, HeldRequest

_MULTIPART_NAME = re.compile(
    rb'content-disposition:\s*form-data;\s*name="([^"]*)"(\s*;\s*filename=")?', re.IGNORECASE
)
# [[name, value]…] of the secret fields of a document.
_SECRET_FIELDS_JS = (
    "() => {"
    + SECRET_FIELD_JS
    + """
  return Array.from(document.querySelectorAll('input, textarea')).filter(isSecretField)
    .map((el) => [el.getAttribute('name') || el.id || '', String(el.value || '')]);
}"""
)
_READ_PAGE_S = 2.0
# A secret at least this long is also found inside a longer value ("Basic " + password…).
_SUBSTRING_CHARS = 4


@dataclass
class PageSecrets:
    names: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)

    def name(self, name: str) -> bool:
        return is_secret_name(name) or name in self.names

    def value(self, value: str) -> bool:
        return any(s == value or (len(s) >= _SUBSTRING_CHARS and s in value) for s in self.values)


async def held_request(request: Request, known_names: tuple[str, ...] = ()) -> HeldRequest:
    """`known_names`: secret field names of the sending document, read before (all there is to
    go by for a navigation: its document cannot be read while it is held, see guard.py)."""
    content_type = (await request.header_value("content-type") or "").lower()
    secrets = await page_secrets(request)
    secrets.names.update(name for name in known_names if name)
    return HeldRequest(
        method=request.method.upper(),
        url=request.url,
        resource_type=request.resource_type,
        fields=body_fields(request.post_data_buffer, content_type, secrets),
    )


async def page_secrets(request: Request) -> PageSecrets:
    """The secret fields of the document that sent `request` and of its page's main frame,
    except a frame whose navigation this request is: Chromium answers no command to it then."""
    secrets = PageSecrets()
    try:
        sender = request.frame
        frames: list[Frame] = [sender.page.main_frame]
        navigation = request.is_navigation_request()
    except PlaywrightError:  # a service worker's request has no frame
        return secrets
    if sender != frames[0]:
        frames.append(sender)
    if navigation:
        frames.remove(sender)
    for frame in frames:
        try:
            async with asyncio.timeout(_READ_PAGE_S):
                found = await frame.evaluate(_SECRET_FIELDS_JS)
        except (PlaywrightError, TimeoutError):
            continue  # gone, or busy: the name rule still applies
        for name, value in found:
            if name:
                secrets.names.add(str(name))
            if value:
                secrets.values.add(str(value))
    return secrets


def body_fields(
    body: bytes | None, content_type: str, secrets: PageSecrets | None = None
) -> list[FieldValue]:
    if not body:
        return []
    secrets = secrets or PageSecrets()
    if "application/x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return [_field(name, value, "form", secrets) for name, value in pairs]
    if "multipart/form-data" in content_type:
        return [
            FieldValue(
                name=name.decode("utf-8", "replace"),
                label="",
                kind="file" if file else "multipart",
                value="",
            )
            for name, file in _MULTIPART_NAME.findall(body)
        ]
    if "json" in content_type or body.lstrip()[:1] in (b"{", b"["):
        try:
            data = json.loads(body)
        except ValueError:
            pass
        else:
            if isinstance(data, dict):
                return [_field(str(k), _stringify(v, secrets), "json", secrets) for k, v in data.items()]
            return [_field("(body)", _stringify(data, secrets), "json", secrets)]
    return [FieldValue(name="(body)", label="", kind=content_type or "body", value=f"{len(body)} bytes")]


def _field(name: str, value: str, kind: str, secrets: PageSecrets) -> FieldValue:
    if secrets.name(name) or secrets.value(value):
        return FieldValue(name=name, label="", kind=kind, value=MASK, masked=True)
    return FieldValue(name=name, label="", kind=kind, value=cut(value))


def _stringify(value: Any, secrets: PageSecrets) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(_redact(value, secrets), ensure_ascii=False)


def _redact(value: Any, secrets: PageSecrets) -> Any:
    """`value` with every secret in it masked, however deep."""
    if isinstance(value, dict):
        return {k: MASK if secrets.name(str(k)) else _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str) and secrets.value(value):
        return MASK
    return value

"""The error messages a page shows about its forms, read in one `evaluate`: what a write that
was answered with its form again (a 200 re-rendering it, or a 4xx) says about why it did not
go through — not the page's header.

Where they are found: fields marked `aria-invalid` with the messages that describe them
(`aria-errormessage`, `aria-describedby`); elements with the class names forms use for errors
(`.errorlist`, `.invalid-feedback`, `.error`…) and `role=alert`. A message is tied to a field
when it sits with exactly one field (its group), or describes it; only messages with words in
them count, and only shown ones — except a message that describes a field the page marked
invalid: that one counts even in a closed section or tab (Wagtail keeps the slug, and its
"This field is required.", in a hidden "Promote" tab).
"""

from __future__ import annotations

import json

from playwright.async_api import Page

from app.browser.describe import DESCRIBE_HELPERS
from app.engine.ports import FormError

ERROR_CLASSES = (
    ".errorlist, .errors, .error, .error-message, .errormessage, .errornote, .field-error, "
    ".field-errors, .form-error, .form-errors, .invalid-feedback, .help-block.error, "
    ".has-error .help-block, .help.is-danger, .text-danger, .alert-danger, .alert-error, [role=alert]"
)

# [[message, field]…]: field is the label (or name) of the field it is about, or "".
_FORM_ERRORS_JS = (
    "() => {"
    + DESCRIBE_HELPERS
    + r"""
  const FIELDS = 'input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset])'
    + ':not([type=image]), select, textarea';
  const shown = (el) => boxOf(el) !== null && getComputedStyle(el).visibility !== 'hidden';
  const fieldName = (f) => cut(labelOf(f) || squash(f.getAttribute('placeholder'))
    || f.getAttribute('name') || f.id || '', 80);
  const found = [];
  const taken = [];
  const add = (el, field, tied = false) => {
    if (!el || !(tied || shown(el)) || el.querySelector(FIELDS)) return;  // a wrapper, not a message
    if (taken.some((t) => t === el || t.contains(el) || el.contains(t))) return;
    const text = cut(squash(el.innerText || el.textContent), 300);
    if (!/\p{L}/u.test(text)) return;  // a "*" marking a required field says nothing
    taken.push(el);
    found.push([text, field]);
  };
  for (const f of document.querySelectorAll('[aria-invalid="true"]')) {
    const ids = [f.getAttribute('aria-errormessage'), f.getAttribute('aria-describedby')]
      .join(' ').split(/\s+/).filter(Boolean);
    for (const id of ids) add(document.getElementById(id), fieldName(f), true);
  }
  for (const el of document.querySelectorAll(__CLASSES__)) {
    let field = '';
    for (let n = el.parentElement, up = 0; n && n !== document.body && up < 3; n = n.parentElement, up++) {
      const fields = n.querySelectorAll(FIELDS);
      if (fields.length === 1) { field = fieldName(fields[0]); break; }
      if (fields.length > 1) break;  // the whole form: a message about all of it
    }
    add(el, field);
  }
  return found.slice(0, 10);
}"""
).replace("__CLASSES__", json.dumps(ERROR_CLASSES))


async def form_errors(page: Page) -> list[FormError]:
    rows: list[list[str]] = await page.evaluate(_FORM_ERRORS_JS)
    return [FormError(message, field) for message, field in rows]

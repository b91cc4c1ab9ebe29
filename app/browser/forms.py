"""Setting a form's fields by name: the values an operator edited in an approval preview.

Fields are filled the way a person would (Playwright's fill / select_option / set_checked fire
the page's input and change events). Every name is checked before anything is touched, so an
unknown name changes nothing. A value that is still the mask ("••••••", what a preview showed
for a secret) means "unchanged": the field keeps what it holds.
"""

from __future__ import annotations

import contextlib
from typing import Any

from playwright.async_api import ElementHandle, JSHandle, Page
from playwright.async_api import Error as PlaywrightError

from app.browser.classify import classify
from app.browser.describe import DESCRIBE_HELPERS
from app.browser.locators import remaining, resolve
from app.browser.masking import MASK
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Target

_TRUE = frozenset({"on", "true", "1", "yes", "checked"})

_FORM_OF_JS = "(el) => {" + DESCRIBE_HELPERS + "  return formOf(el);\n}"

# [{name, kind, options: [[value, label]…], value: radio value}…] in form order.
_FIELDS_JS = (
    "(form) => {"
    + DESCRIBE_HELPERS
    + """
  return fieldsOf(form).map((c) => ({
    name: c.getAttribute('name') || c.id,
    kind: c.tagName === 'INPUT' ? (String(c.type || '').toLowerCase() || 'text') : c.tagName.toLowerCase(),
    options: c.tagName === 'SELECT' ? Array.from(c.options).map((o) => [o.value, squash(o.text)]) : [],
    value: String(c.type).toLowerCase() === 'radio' ? c.value : '',  // which radio of a group
    label: c.labels ? Array.from(c.labels).map(labelText).join(' ') : '',
    shown: ['hidden', 'file'].includes(String(c.type).toLowerCase()) ? fieldOf(c).value : null,
  }));
}"""
)
_FIELD_JS = "(form, i) => {" + DESCRIBE_HELPERS + "  return fieldsOf(form)[i];\n}"


async def fill_fields(page: Page, target: Target, values: dict[str, str], *, deadline: float) -> None:
    """See BrowserSession.fill_fields."""
    found = await resolve(page, target, deadline=deadline)
    handles: list[JSHandle] = []
    try:
        form_handle = await found.locator.evaluate_handle(_FORM_OF_JS, timeout=remaining(deadline))
        handles.append(form_handle)
        form = form_handle.as_element()
        if form is None:
            raise StepFailure(
                FailureClass.PERMANENT,
                f"{target.describe()} is not in a form: there are no fields to set",
                {"target": target.describe()},
            )
        fields: list[dict[str, Any]] = await form.evaluate(_FIELDS_JS)
        plan = [(_pick(fields, name, value, target), value) for name, value in values.items()]
        for index, value in plan:
            if index is None or value == MASK:
                continue
            field = (await form.evaluate_handle(_FIELD_JS, index)).as_element()
            if field is None:
                raise StepFailure(
                    FailureClass.TRANSIENT,
                    "the form changed while its fields were being set",
                    {"target": target.describe()},
                )
            handles.append(field)
            await _set(field, fields[index], value, deadline)
    except PlaywrightError as exc:
        raise classify(exc, what=f"set fields of {target.describe()}", page_url=page.url) from None
    finally:
        for handle in handles:
            with contextlib.suppress(PlaywrightError):
                await handle.dispose()


def _pick(fields: list[dict[str, Any]], name: str, value: str, target: Target) -> int | None:
    """The index (in form order) of the field `name` means, None when there is nothing to do;
    raises PERMANENT when there is no such field or it cannot be set."""
    named = [i for i, f in enumerate(fields) if f["name"] == name]
    radios = [i for i in named if fields[i]["kind"] == "radio"]
    if radios:
        # A radio group: the value says which one (by value attribute, else by label).
        for key in ("value", "label"):
            chosen = [i for i in radios if fields[i][key] == value]
            if chosen:
                return chosen[0]
        if len(radios) == 1 and value.lower() in _TRUE:
            return radios[0]
        choices = ", ".join(f"{fields[i]['value']!r}" for i in radios)
        raise StepFailure(
            FailureClass.PERMANENT,
            f"{value!r} is not one of the choices of {name!r} ({choices})",
            {"field": name, "choices": [fields[i]["value"] for i in radios]},
        )
    if not named:
        known = sorted({f["name"] for f in fields})
        raise StepFailure(
            FailureClass.PERMANENT,
            f"the form of {target.describe()} has no field {name!r} (its fields: {', '.join(known)})",
            {"field": name, "fields": known, "target": target.describe()},
        )
    kind = fields[named[0]]["kind"]
    if kind in ("hidden", "file"):
        if value in (fields[named[0]]["shown"], MASK):
            return None  # sent back as the preview showed it
        raise StepFailure(
            FailureClass.PERMANENT,
            f"field {name!r} is a {kind} field: an operator cannot set it",
            {"field": name, "kind": kind},
        )
    return named[0]


async def _set(field: ElementHandle, info: dict[str, Any], value: str, deadline: float) -> None:
    kind = info["kind"]
    timeout = remaining(deadline)
    if kind in ("checkbox", "radio"):
        await field.set_checked(kind == "radio" or value.lower() in _TRUE, timeout=timeout)
    elif kind == "select":
        options: list[list[str]] = info["options"]
        if any(v == value for v, _ in options):
            await field.select_option(value=value, timeout=timeout)
        elif any(label == value for _, label in options):
            await field.select_option(label=value, timeout=timeout)
        else:
            raise StepFailure(
                FailureClass.PERMANENT,
                f"{value!r} is not an option of {info['name']!r}",
                {"field": info["name"], "options": [label for _, label in options]},
            )
    else:
        await field.fill(value, timeout=timeout)

"""What an element is, read in the page in one `evaluate`: tag, role, accessible text, box, link,
the form it submits with its fields (secrets masked in the page: they never cross to Python), and
the hints a robust locator can be derived from.

The role and name are an approximation of the accessibility tree (explicit role, else the
implicit role of common elements); anything derived from them is verified against Playwright's
own engine before use (see targeting.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from app.browser.masking import SECRET_FIELD_JS
from app.engine.ports import FieldValue, TargetInfo

# Page-side helpers shared by every script here. `describe(el)` returns a plain object.
DESCRIBE_HELPERS = (
    SECRET_FIELD_JS
    + r"""
  const squash = (s) => String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  // A page may name an input "action" or "elements": read forms through the prototype.
  const formProp = (form, prop) =>
    Object.getOwnPropertyDescriptor(HTMLFormElement.prototype, prop).get.call(form);
  const BUTTON_TYPES = ['button', 'submit', 'reset', 'image'];
  const INPUT_ROLES = {
    button: 'button', submit: 'button', reset: 'button', image: 'button', checkbox: 'checkbox',
    radio: 'radio', range: 'slider', number: 'spinbutton', search: 'searchbox', email: 'textbox',
    tel: 'textbox', text: 'textbox', url: 'textbox', '': 'textbox',
  };
  const TAG_ROLES = {
    button: 'button', textarea: 'textbox', h1: 'heading', h2: 'heading', h3: 'heading',
    h4: 'heading', h5: 'heading', h6: 'heading', nav: 'navigation', main: 'main', ul: 'list',
    ol: 'list', li: 'listitem', table: 'table', tr: 'row', td: 'cell', th: 'columnheader',
    dialog: 'dialog', option: 'option', progress: 'progressbar', article: 'article',
    aside: 'complementary', fieldset: 'group', hr: 'separator', form: 'form', p: 'paragraph',
  };
  const roleOf = (el) => {
    const explicit = squash(el.getAttribute('role')).split(' ')[0];
    if (explicit) return explicit.toLowerCase();
    const tag = el.tagName.toLowerCase();
    if (tag === 'a' || tag === 'area') return el.hasAttribute('href') ? 'link' : '';
    if (tag === 'select') return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
    if (tag === 'img') return el.getAttribute('alt') === '' ? 'presentation' : 'img';
    if (tag === 'input') {
      const type = String(el.type || '').toLowerCase();
      if (el.hasAttribute('list') && INPUT_ROLES[type] === 'textbox') return 'combobox';
      return INPUT_ROLES[type] || '';
    }
    return TAG_ROLES[tag] || '';
  };
  // A label's own words, without the text of the controls inside it (a select's options).
  const labelText = (label) => {
    const copy = label.cloneNode(true);
    copy.querySelectorAll('input, select, textarea, button').forEach((n) => n.remove());
    return squash(copy.textContent);
  };
  const labelOf = (el) => {
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const text = squash(by.split(/\s+/).map((id) => document.getElementById(id))
        .filter(Boolean).map((n) => n.textContent).join(' '));
      if (text) return text;
    }
    const aria = squash(el.getAttribute('aria-label'));
    if (aria) return aria;
    const labels = el.labels ? Array.from(el.labels).map(labelText).filter(Boolean) : [];
    return labels.join(' ');
  };
  const isControl = (el) => ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName);
  const nameOf = (el) => {
    const label = labelOf(el);
    if (label) return label;
    const tag = el.tagName.toLowerCase();
    const type = String(el.type || '').toLowerCase();
    if (tag === 'input' && (type === 'submit' || type === 'reset' || type === 'button')) {
      return squash(el.value) || (type === 'submit' ? 'Submit' : type === 'reset' ? 'Reset' : '');
    }
    if (tag === 'input' && type === 'image') return squash(el.getAttribute('alt'));
    if (tag === 'img') return squash(el.getAttribute('alt'));
    if (isControl(el)) return squash(el.getAttribute('title') || el.getAttribute('placeholder'));
    return squash(el.innerText || el.textContent) || squash(el.getAttribute('title'));
  };
  const boxOf = (el) => {
    const r = el.getBoundingClientRect();
    if (!el.getClientRects().length || (r.width === 0 && r.height === 0)) return null;
    const round = (v) => Math.round(v * 10) / 10;
    return [round(r.x), round(r.y), round(r.width), round(r.height)];
  };
  const fieldOf = (c) => {
    const tag = c.tagName.toLowerCase();
    const type = String(c.type || '').toLowerCase();
    const kind = tag === 'input' ? (type || 'text') : tag;
    const masked = isSecretField(c);
    let value;
    if (masked) value = MASK;
    else if (type === 'checkbox' || type === 'radio') value = c.checked ? 'on' : 'off';
    else if (tag === 'select') value = Array.from(c.selectedOptions).map((o) => squash(o.text)).join(', ');
    else if (type === 'file') value = Array.from(c.files || []).map((f) => f.name).join(', ');
    else value = String(c.value == null ? '' : c.value);
    const label = labelOf(c) || squash(c.getAttribute('placeholder'));
    return {name: c.getAttribute('name') || c.id, label: cut(label), kind, value: cut(value), masked};
  };
  // The controls a submission would send: named, enabled, not buttons.
  const fieldsOf = (form) => Array.from(formProp(form, 'elements')).filter((c) =>
    ['INPUT', 'SELECT', 'TEXTAREA'].includes(c.tagName) && !c.disabled
    && (c.getAttribute('name') || c.id)
    && !(c.tagName === 'INPUT' && BUTTON_TYPES.includes(String(c.type).toLowerCase())));
  const submitterOf = (el) => {
    const b = el.closest('button, input');
    if (!b) return null;
    const type = String(b.type || '').toLowerCase();
    return (b.tagName === 'BUTTON' && type === 'submit') || type === 'submit' || type === 'image' ? b : null;
  };
  const formOf = (el) => {
    if (el.tagName === 'FORM') return el;
    const owner = el.closest('button, input, select, textarea, output, fieldset, object');
    if (owner && owner.form) return owner.form;
    return el.closest('form');
  };
  const ownText = (el) => {
    if (isControl(el)) return '';
    const text = squash(el.innerText);
    return text.length <= 80 ? text : '';
  };
  // Ancestors a locator can be narrowed to (nearest first): the row of a list of "Remove" buttons.
  const scopesOf = (el) => {
    const found = [];
    for (let n = el.parentElement; n && n !== document.body && found.length < 3; n = n.parentElement) {
      const testId = n.getAttribute('data-testid');
      if (testId) found.push({testId});
      else if (/^[A-Za-z][\w-]*$/.test(n.id)) found.push({id: n.id});
    }
    return found;
  };
  const describe = (el) => {
    const tag = el.tagName.toLowerCase();
    const role = roleOf(el);
    const link = el.closest('a[href], area[href]');
    const form = formOf(el);
    const submitter = form ? submitterOf(el) : null;
    let method = null, action = null, fields = [];
    if (form) {
      method = (submitter && submitter.hasAttribute('formmethod')
        ? submitter.formMethod : formProp(form, 'method')) || 'get';
      action = submitter && submitter.hasAttribute('formaction')
        ? submitter.formAction : formProp(form, 'action');
      fields = fieldsOf(form).map(fieldOf);
    }
    const style = getComputedStyle(el);
    const box = boxOf(el);
    return {
      tag, role, text: cut(nameOf(el)), box, href: link ? link.href : null,
      formMethod: method ? method.toUpperCase() : null, formAction: action, fields,
      visible: box !== null && style.visibility !== 'hidden',
      id: el.id || '', name: el.getAttribute('name') || '', type: el.getAttribute('type') || '',
      testId: el.getAttribute('data-testid') || '', label: isControl(el) ? labelOf(el) : '',
      placeholder: el.getAttribute('placeholder') || '', ownText: ownText(el), scopes: scopesOf(el),
    };
  };
"""
)

# element.evaluate(DESCRIBE_JS) -> describe(element)
DESCRIBE_JS = "(el) => {" + DESCRIBE_HELPERS + "  return describe(el);\n}"
# page.evaluate(DESCRIBE_ALL_JS, [handles]) -> [describe(element)…]
DESCRIBE_ALL_JS = "(els) => {" + DESCRIBE_HELPERS + "  return els.map(describe);\n}"


def identity(raw: dict[str, Any]) -> str:
    """What the element is, not where it is: a layout shift keeps it, a different button not."""
    keys = [raw["tag"], raw["role"], raw["text"], raw["id"], raw["name"], raw["type"], raw["href"]]
    keys += [raw["formAction"], raw["formMethod"]]
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:16]


def description(raw: dict[str, Any]) -> str:
    what = raw["role"] or raw["tag"]
    text = raw["text"]
    if len(text) > 80:
        text = text[:79] + "…"
    return f'{what} "{text}"' if text else what


def target_info(raw: dict[str, Any]) -> TargetInfo:
    box = raw["box"]
    return TargetInfo(
        description=description(raw),
        tag=raw["tag"],
        role=raw["role"],
        text=raw["text"],
        box=(box[0], box[1], box[2], box[3]) if box else None,
        href=raw["href"],
        form_method=raw["formMethod"],
        form_action=raw["formAction"],
        fields=[FieldValue(**f) for f in raw["fields"]],
        identity=identity(raw),
    )

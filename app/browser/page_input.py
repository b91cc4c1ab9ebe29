"""A person's own input on a taken-over page, as the page sees it (issue 13): what is typed and
clicked in a headed Chromium window never passes through `send_input`, so the page itself
reports it.

A capture-phase listener in every document of the page (an init script: also the documents the
person navigates to, and frames) reports each *trusted* click, committed field value, Enter or
Escape and form submission through a binding; Python adds the page's main-frame navigations.
A field's value is read in the page, masked there when it is secret (`isSecretField`: a
password, `autocomplete` current-password/new-password, a secret-looking name, a field a
credential was typed into): its characters never cross to Python. Keystrokes are not reported
one by one, only the value a field holds when it is committed (change, Enter, submit, leaving
the page, or the end of the observation).

Trusted is all the page can tell: the engine's own actions and `send_input` are trusted input
too. The engine never acts on a page while it is observed (observation runs only while the run
is parked under a takeover), and input dispatched by `send_input` is recorded there ("console");
what the page reports while it is being dispatched (and for a moment after) is dropped here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

from app.browser.describe import DESCRIBE_HELPERS
from app.browser.masking import MASK, cut, is_secret_name

log = logging.getLogger("flightdeck.browser")

BINDING = "__flightdeckInput"
# Page events that arrive this long after console input was dispatched are the console's doing.
CONSOLE_GRACE_S = 0.5
_KINDS = frozenset({"click", "change", "key", "submit"})

# `%s` are the binding's name and this session's token (a page script cannot read the closure,
# so it cannot report input of its own making under the token).
_OBSERVE_JS = (
    """(() => {
  if (window.__flightdeckInputOn !== undefined) { window.__flightdeckInputOn = true; return; }
  window.__flightdeckInputOn = true;
  const binding = window[%s];
  try { delete window[%s]; } catch (e) { /* not configurable: left in place */ }
  const TOKEN = %s;
"""
    + DESCRIBE_HELPERS
    + r"""
  const ACTIVE = 'a[href], button, input, select, textarea, label, summary, option, [role], '
    + '[onclick], [contenteditable]';
  const send = (data) => {
    if (!window.__flightdeckInputOn || typeof binding !== 'function') return;
    try {
      const p = binding({...data, token: TOKEN, url: location.href});
      if (p && p.catch) p.catch(() => {});
    } catch (e) { /* the binding is gone: observation ended */ }
  };
  const origin = (e) => {
    const path = e.composedPath ? e.composedPath() : [];
    const el = path.length && path[0] instanceof Element ? path[0] : e.target;
    return el instanceof Element ? el : null;
  };
  const element = (el) => {
    const shown = el.closest(ACTIVE) || el;
    const out = {tag: shown.tagName.toLowerCase(), role: roleOf(shown), name: cut(nameOf(shown), 80)};
    const field = shown.getAttribute('name') || shown.id;
    if (field) out.field = cut(field, 80);
    if (isControl(shown) && shown.type) out.type = String(shown.type).toLowerCase();
    return out;
  };
  const valueOf = (el) => {
    if (isControl(el)) {
      const f = fieldOf(el);
      return {value: f.value, masked: f.masked};
    }
    return {value: cut(squash(el.innerText)), masked: false};
  };
  const rawOf = (el) => (isControl(el) ? (el.type === 'checkbox' || el.type === 'radio'
    ? String(el.checked) : String(el.value)) : String(el.innerText));
  // Fields typed into and not reported yet; what was last reported of each (never sent).
  const dirty = new Set();
  const reported = new WeakMap();
  const editable = (el) => isControl(el) || el.isContentEditable;
  const commit = (el) => {
    dirty.delete(el);
    const raw = rawOf(el);
    if (reported.get(el) === raw) return null;
    reported.set(el, raw);
    return {kind: 'change', element: element(el), ...valueOf(el)};
  };
  const flush = (within) => {
    for (const el of Array.from(dirty)) {
      if (!within || within.contains(el)) { const r = commit(el); if (r) send(r); }
    }
  };
  const trusted = (fn) => (e) => {
    if (e.isTrusted) { try { fn(e); } catch (err) { /* never break the page */ } }
  };
  addEventListener('input', trusted((e) => {
    const el = origin(e);
    if (el && editable(el)) dirty.add(el.isContentEditable ? (el.closest('[contenteditable]') || el) : el);
  }), true);
  addEventListener('change', trusted((e) => {
    const el = origin(e);
    if (el && editable(el)) { const r = commit(el); if (r) send(r); }
  }), true);
  addEventListener('click', trusted((e) => {
    const el = origin(e);
    if (!el) return;
    flush();  // what was typed before the click comes first
    // detail 0: a click the keyboard made (Enter submitting a form clicks its default button)
    send({kind: 'click', element: element(el), button: e.button, keyboard: e.detail === 0});
  }), true);
  addEventListener('keydown', trusted((e) => {
    if (e.key !== 'Enter' && e.key !== 'Escape') return;
    const el = origin(e);
    if (el && dirty.has(el)) { const r = commit(el); if (r) send(r); }
    send({kind: 'key', key: e.key, element: el ? element(el) : null});
  }), true);
  addEventListener('submit', trusted((e) => {
    const form = origin(e);
    if (!form) return;
    flush(form);
    send({kind: 'submit', element: element(form),
      method: String(formProp(form, 'method') || 'get').toUpperCase(),
      action: String(formProp(form, 'action') || ''),
      // Names only: a GET form puts its values in the next URL, masked there by these names.
      secrets: fieldsOf(form).filter(isSecretField).map((c) => c.getAttribute('name')).filter(Boolean)});
  }), true);
  addEventListener('pagehide', () => flush(), true);
  window.__flightdeckInputStop = () => {
    const out = [];
    for (const el of Array.from(dirty)) {
      const r = commit(el);
      if (r) out.push({...r, token: TOKEN, url: location.href});
    }
    window.__flightdeckInputOn = false;
    return out;
  };
})();"""
)

_STOP_JS = "() => { const stop = window.__flightdeckInputStop; return stop ? stop() : []; }"

Report = Callable[[dict[str, Any]], None]


class PageInputWatch:
    """Reports one page's trusted input while `start`ed; see the module docstring."""

    def __init__(self, page: Page) -> None:
        self._page = page
        self._report: Report | None = None
        self._token = secrets.token_hex(16)
        self._script = _OBSERVE_JS % (json.dumps(BINDING), json.dumps(BINDING), json.dumps(self._token))
        self._script_installed: Any = None  # the init script's Playwright Disposable
        # Exposed once for the page's lifetime: Playwright cannot expose a name again after
        # disposing of it. Nothing is reported while stopped.
        self._bound = False
        self._console = 0  # console input being dispatched now
        self._console_until = 0.0
        self._secret_names: set[str] = set()  # of fields in forms the person submitted

    @property
    def active(self) -> bool:
        return self._report is not None

    async def start(self, report: Report) -> None:
        if self._report is not None:
            self._report = report
            return
        self._report = report
        try:
            # The binding first: the script keeps a reference to it and hides it from the page.
            if not self._bound:
                await self._page.expose_binding(BINDING, self._called)
                self._bound = True
            self._script_installed = await self._page.add_init_script(self._script)
            self._page.on("framenavigated", self._navigated)
            for frame in self._page.frames:  # documents loaded already
                with contextlib.suppress(PlaywrightError):
                    await frame.evaluate(self._script)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Report what fields hold that was typed and not committed yet, then stop."""
        report, self._report = self._report, None
        if report is None:
            return
        self._page.remove_listener("framenavigated", self._navigated)
        for frame in self._page.frames:
            try:
                pending = await frame.evaluate(_STOP_JS)
            except PlaywrightError:
                continue  # detached, or a page that cannot be read now
            for item in pending if isinstance(pending, list) else []:
                record = self._clean(item)
                if record is not None:
                    report(record)
        installed, self._script_installed = self._script_installed, None
        if installed is not None:
            with contextlib.suppress(PlaywrightError):
                await installed.close()

    @contextlib.contextmanager
    def console_input(self) -> Iterator[None]:
        """Input dispatched by `send_input` now: recorded there, so not reported again here."""
        self._console += 1
        try:
            yield
        finally:
            self._console -= 1
            self._console_until = time.monotonic() + CONSOLE_GRACE_S

    def _called(self, _source: Any, data: Any) -> None:
        report = self._report
        if report is None or self._console or time.monotonic() < self._console_until:
            return
        record = self._clean(data)
        if record is not None:
            report(record)

    def _navigated(self, frame: Frame) -> None:
        report = self._report
        if report is not None and frame == self._page.main_frame:
            report({"source": "page", "kind": "navigated", "url": self._url(frame.url)})

    def _clean(self, data: Any) -> dict[str, Any] | None:
        """The page's report as it may be recorded: known kinds and keys only, short strings.
        A report without this session's token is not the observer's (a page script's)."""
        if not isinstance(data, dict) or data.get("token") != self._token or data.get("kind") not in _KINDS:
            if isinstance(data, dict) and data.get("token") != self._token:
                log.warning("ignored a page input report without the observer's token")
            return None
        if data["kind"] == "submit" and isinstance(data.get("secrets"), list):
            self._secret_names.update(str(n) for n in data["secrets"])
        record: dict[str, Any] = {"source": "page", "kind": data["kind"], "url": self._url(data.get("url"))}
        element = data.get("element")
        if isinstance(element, dict):
            keys = ("tag", "role", "name", "field", "type")
            record["element"] = {k: cut(str(element[k]), 80) for k in keys if element.get(k)}
        if data["kind"] == "change":
            masked = bool(data.get("masked"))
            record["masked"] = masked
            record["value"] = cut(str(data.get("value", "")))
        elif data["kind"] == "key":
            record["key"] = str(data.get("key", ""))[:20]
        elif data["kind"] == "submit":
            record["method"] = str(data.get("method", ""))[:10]
            record["action"] = self._url(data.get("action"))
        elif data["kind"] == "click":
            button = data.get("button")
            if button not in (None, 0):
                record["button"] = (
                    {1: "middle", 2: "right"}.get(button, str(button))
                    if isinstance(button, int)
                    else str(button)[:10]
                )
            if data.get("keyboard") is True:
                record["keyboard"] = True
        return record

    def _url(self, url: Any) -> str:
        """A URL as it may be recorded: the values of secret query parameters (secret-looking
        names, and the secret fields of a form the person submitted with GET) masked."""
        text = str(url or "")
        try:
            parts = urlsplit(text)
            query = parse_qsl(parts.query, keep_blank_values=True)
        except ValueError:
            return cut(text, 500)
        if any(is_secret_name(k) or k in self._secret_names for k, _ in query):
            masked = [(k, MASK if is_secret_name(k) or k in self._secret_names else v) for k, v in query]
            text = urlunsplit(parts._replace(query=urlencode(masked)))
        return cut(text, 500)

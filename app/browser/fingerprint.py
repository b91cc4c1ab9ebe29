"""What the page looks like, cheaply: one `evaluate` gives the visible text, form values and the
navigation counters the settle logic needs.

Password values never leave the page: a password field contributes only "set"/"empty", so a
fingerprint cannot be brute-forced back into a secret (G7) yet still changes when one is typed.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from app.browser.masking import SECRET_FIELD_JS
from app.engine.ports import Fingerprint

# Installed in every document before any page script. The page knows synchronously what an
# action set in motion; Playwright's network events trail the action (more so when requests
# are routed) and cannot tell when the page has *used* a response. The page keeps:
# - nav/spa: the Navigation API's `navigate` event (cross-document / same-document);
#   a form submission navigates in a later task, so a dispatched `submit` counts once its
#   dispatch is over and it was not cancelled (checked at read time), as does form.submit();
# - net: fetch() and XMLHttpRequest.send() calls, numbered;
# - pending: the numbers of those calls whose response the page is still waiting for, or still
#   reading (json(), text()…). When a read finds none pending, the handlers that awaited them
#   have run: microtasks drain before the next task, and an evaluate is a task.
# - tm/timers: short timers (setTimeout up to TIMER_MS) the page set in reaction to an event the
#   browser dispatched — the user's input (focus, blur, change, keys, clicks) or its own loading
#   (DOMContentLoaded, load) — and the timers those set in turn (up to 3 deep: a loop is not a
#   reaction), numbered; `timers` holds the numbers of those still to run. Debounced handlers
#   work this way: Wagtail derives a page's slug 100 ms after its title loses focus, and a click
#   sent before then posts the form without it (issue 12, defect 12). Intervals, long timers and
#   timers set by the page's background work (fetch callbacks, messages) are not counted.
# - scripts: `<script src>` elements not yet loaded (or failed): a script the page added late
#   (a code-split editor bundle) has not attached its handlers yet.
# - ws: per host, the WebSocket messages the page sent while it handled an input event (a
#   click, a key, typing, a change: `window.event` is that event), and whether a message came
#   back after the last of them, and when. A message sent from a message handler (a heartbeat's
#   answer), a socket's open handler or a timer (an acknowledgement on a schedule) is not an
#   action's; a message the page answered itself (the site's ping) is no answer to one.
#   Payloads are never looked at.
# This replaces a blind "quiet time" after each response (PLATFORM.md's benchmark budget).
TIMER_MS = 1000
INIT_SCRIPT = """
(() => {
  if (window.__flightdeck) return;
  const fd = window.__flightdeck = {
    doc: Math.random().toString(36).slice(2), nav: 0, spa: 0, net: 0, submits: [],
    pending: new Map(), secrets: new WeakSet(), tm: 0, timers: new Map(), loaded: new WeakSet(),
  };
  try {
    navigation.addEventListener('navigate', (e) => {
      if (e.destination && e.destination.sameDocument) fd.spa++; else fd.nav++;
    });
  } catch (e) { /* no Navigation API: the network events still cover navigations */ }
  addEventListener('submit', (e) => { fd.submits.push(e); }, true);
  const submit = HTMLFormElement.prototype.submit;
  HTMLFormElement.prototype.submit = function () { fd.nav++; return submit.call(this); };

  const hold = (id) => fd.pending.set(id, (fd.pending.get(id) || 0) + 1);
  const release = (id) => {
    const n = (fd.pending.get(id) || 1) - 1;
    if (n > 0) fd.pending.set(id, n); else fd.pending.delete(id);
  };
  const track = (id, promise) => {
    hold(id);
    const done = () => release(id);
    promise.then(done, done);
    return promise;
  };
  const callIds = new WeakMap();  // Response -> the fetch call it answers
  const fetch = window.fetch;
  if (fetch) {
    window.fetch = function () {
      const id = ++fd.net;
      return track(id, fetch.apply(this, arguments).then((r) => { callIds.set(r, id); return r; }));
    };
  }
  for (const name of ['json', 'text', 'arrayBuffer', 'blob', 'formData', 'bytes']) {
    const read = Response.prototype[name];
    if (!read) continue;
    Response.prototype[name] = function () {
      const result = read.apply(this, arguments);
      const id = callIds.get(this);
      return id ? track(id, result) : result;
    };
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function () {
    const id = ++fd.net;
    hold(id);
    // loadend comes after readystatechange and load: the page's handlers have run.
    this.addEventListener('loadend', () => release(id), {once: true});
    try { return send.apply(this, arguments); } catch (e) { release(id); throw e; }
  };

  let depth = 0;  // while a counted timer's callback runs: how deep in the chain it is
  const setT = window.setTimeout, clearT = window.clearTimeout, clearI = window.clearInterval;
  // The event being dispatched, if any, when it is the user's or the document's own: one the
  // browser dispatched to an element, the document or the window. A socket's message, an XHR's
  // load or a posted message is the page's background work answering, not a reaction.
  const reacting = () => {
    if (depth > 0) return depth < 3;
    const e = window.event;
    return !!(e && e.isTrusted && !(e instanceof MessageEvent)
      && (e.target instanceof Node || e.target === window));
  };
  window.setTimeout = function (fn, delay) {
    const ms = Number(delay) || 0;
    if (typeof fn !== 'function' || ms > TIMER_MS || !reacting()) {
      return setT.apply(this, arguments);
    }
    const seq = ++fd.tm, level = depth + 1, args = Array.prototype.slice.call(arguments, 2);
    let id = 0;
    id = setT.call(this, function () {
      fd.timers.delete(id);
      const outer = depth;
      depth = level;
      try { return fn.apply(this, args); } finally { depth = outer; }
    }, ms);
    fd.timers.set(id, seq);
    return id;
  };
  window.clearTimeout = function (id) { fd.timers.delete(id); return clearT.apply(this, arguments); };
  window.clearInterval = function (id) { fd.timers.delete(id); return clearI.apply(this, arguments); };

  // Element load/error events do not bubble and never reach the window: capture them here.
  const loaded = (e) => { if (e.target instanceof HTMLScriptElement) fd.loaded.add(e.target); };
  document.addEventListener('load', loaded, true);
  document.addEventListener('error', loaded, true);

  // WebSocket: the class the page uses may be replaced after this script (Playwright's own,
  // when sockets are routed; a polyfill): each one is wrapped as it is put in place. A send
  // that reaches another wrapped send (a wrapper class around a real socket) counts once.
  fd.ws = {};  // host -> [messages sent by input, sent count when one last came back, at]
  const heard = new WeakSet();
  const replied = new WeakSet();  // messages the page answered itself: the site's pings
  const INPUT = ['input', 'change', 'submit', 'reset'];
  let sending = 0;
  const watchSockets = (WS) => {
    if (typeof WS !== 'function' || !WS.prototype || WS.prototype.__flightdeckWatched) return;
    const wsSend = WS.prototype.send;
    if (typeof wsSend !== 'function') return;
    Object.defineProperty(WS.prototype, '__flightdeckWatched', {value: true});
    WS.prototype.send = function () {
      if (sending) return wsSend.apply(this, arguments);
      const e = window.event;
      if (e instanceof MessageEvent) replied.add(e);
      else if (e && (e instanceof UIEvent || INPUT.includes(e.type))) {
        let host = '';
        try { host = new URL(this.url).hostname; } catch (err) { /* relative: the page's */ }
        const s = fd.ws[host] || (fd.ws[host] = [0, 0, 0]);
        s[0]++;
        if (!heard.has(this)) {
          heard.add(this);
          // Added after the page's own listeners: it runs once they have handled the message.
          this.addEventListener('message', (m) => {
            if (!replied.has(m)) { s[1] = s[0]; s[2] = performance.now(); }
          });
        }
      }
      sending++;
      try { return wsSend.apply(this, arguments); } finally { sending--; }
    };
  };
  // The page's sockets not closed yet, as the page sees them (readyState): whether a page that
  // waited is still connected to its site.
  const open = new Set();
  fd.sockets = () => Array.from(open, (ws) => {
    try { return [new URL(ws.url).hostname, ws.readyState]; } catch (e) { return ['', ws.readyState]; }
  });
  const counted = (WS) => typeof WS !== 'function' ? WS : new Proxy(WS, {
    construct(target, args, newTarget) {
      const ws = Reflect.construct(target, args, newTarget);
      open.add(ws);
      ws.addEventListener('close', () => open.delete(ws));
      return ws;
    },
  });
  let sockets = window.WebSocket;
  watchSockets(sockets);
  let made = counted(sockets);
  try {
    Object.defineProperty(window, 'WebSocket', {
      configurable: true,
      get() { return made; },
      set(value) { watchSockets(value); sockets = value; made = counted(value); },
    });
  } catch (e) { /* not configurable here: the class in place is watched */ }
})();
""".replace("TIMER_MS", str(TIMER_MS))

_STATE_BODY = (
    SECRET_FIELD_JS
    + """
  const parts = [document.body ? document.body.innerText : ''];
  const secrets = [];
  let passwords = 0;
  for (const el of document.querySelectorAll('input, textarea, select')) {
    const type = (el.type || '').toLowerCase();
    if (isSecretField(el)) secrets.push(el.getAttribute('name') || el.id || '');
    if (type === 'password') passwords++;
    if (type === 'hidden') continue;
    let v;
    if (type === 'password') v = el.value ? 'password:set' : 'password:empty';
    else if (typedSecret(el)) v = el.value ? 'secret:set' : 'secret:empty';
    else if (type === 'checkbox' || type === 'radio') v = el.checked ? 'on' : 'off';
    else if (type === 'file') v = Array.from(el.files || []).map((f) => f.name).join(',');
    else if (el.tagName === 'SELECT') {
      v = Array.from(el.selectedOptions).map((o) => o.value).join(',');
    }
    else v = el.value;
    parts.push(v);
  }
  const fd = window.__flightdeck
    || {doc: '', nav: -1, spa: -1, net: -1, submits: [], pending: new Map(), tm: -1,
        timers: new Map(), loaded: null};
  fd.nav += fd.submits.filter((e) => !e.defaultPrevented).length;
  fd.submits = [];
  const loading = fd.loaded ? Array.prototype.filter.call(document.scripts, (s) => s.src
    && !fd.loaded.has(s) && !s.noModule
    && /^(|text\\/javascript|application\\/javascript|module)$/i.test(s.type.trim())).length : 0;
  const now = performance.now();
  const ws = Object.entries(fd.ws || {}).map(([h, s]) => [h, s[0], s[1], s[2] ? now - s[2] : -1]);
  const state = [fd.doc, fd.nav, fd.spa, fd.net, Array.from(fd.pending.keys()),
                 parts.join('\\u0000'), secrets, passwords,
                 document.readyState === 'complete' && loading === 0, fd.tm,
                 Array.from(fd.timers.values()), ws, fd.sockets ? fd.sockets() : []];
"""
)

# page.evaluate(PAGE_STATE_JS) -> [doc, nav, spa, net, pending, text, secrets, passwords, loaded,
#                                  tm, timers, ws, sockets]
PAGE_STATE_JS = "() => {" + _STATE_BODY + "  return state;\n}"

# locator.evaluate_all(MATCHES_AND_STATE_JS) -> [count, candidates|null, state]:
# resolving a target and reading the "before" state cost one round trip together.
MATCHES_AND_STATE_JS = (
    "(els) => {"
    + _STATE_BODY
    + """
  const describe = (el) => {
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || '')
      .replace(/\\s+/g, ' ').trim().slice(0, 60);
    return '<' + el.tagName.toLowerCase() + '> ' + JSON.stringify(text);
  };
  const candidates = els.length > 1 ? els.slice(0, 5).map(describe) : null;
  return [els.length, candidates, state];
}"""
)


@dataclass(frozen=True)
class PageState:
    url: str
    doc: str  # random id of the document: the counters only compare within one
    nav: int  # cross-document navigations this document started (or planned)
    spa: int  # same-document navigations (pushState, hash)
    net: int  # fetch / XHR calls
    pending: tuple[int, ...]  # numbers of the calls whose responses the page still awaits
    text: str
    # Names of the document's secret fields (masking.py) and how many password inputs it has:
    # what the network guard and screenshots go by while a held navigation keeps the page from
    # being read (guard.py).
    secret_names: tuple[str, ...] = ()
    passwords: int = 0
    loaded: bool = True  # readyState "complete" and no script of the page still loading
    tm: int = 0  # short timers set in reaction to events (see INIT_SCRIPT)
    timers: tuple[int, ...] = ()  # numbers of those still to run
    # Per host the page's WebSockets go to: messages it sent from input events, how many of them
    # had been sent when a message last came back, and how long ago that was (ms; -1: never).
    sockets: tuple[tuple[str, int, int, float], ...] = ()
    # The page's WebSockets not closed yet: (host, readyState: 0 connecting, 1 open, 2 closing).
    connections: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_js(cls, url: str, raw: Any) -> PageState:
        doc, nav, spa, net, pending, text, secrets, passwords, loaded, tm, timers, ws, connections = raw
        return cls(
            url,
            str(doc),
            int(nav),
            int(spa),
            int(net),
            tuple(pending),
            str(text),
            tuple(secrets),
            int(passwords),
            bool(loaded),
            int(tm),
            tuple(timers),
            tuple((str(h), int(sent), int(heard), float(ago)) for h, sent, heard, ago in ws),
            tuple((str(h), int(ready)) for h, ready in connections),
        )

    @property
    def ready(self) -> bool:
        """The page's own scripts are ready to be acted on: all loaded and run, none of the
        timers they set in reaction to an event still to fire."""
        return self.loaded and not self.timers

    def fingerprint(self) -> Fingerprint:
        digest = hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()
        return Fingerprint(url=self.url, content_hash=digest)

    # A committed navigation starts a new document with fresh counters; the observer's network
    # events cover what happens across documents.
    def navigated_since(self, before: PageState) -> bool:
        """The page started (or planned) a navigation after `before` was read."""
        return self.doc == before.doc and (self.nav > before.nav or self.spa > before.spa)

    def requests_since(self, before: PageState) -> int:
        """How many fetch/XHR calls the page made after `before` was read."""
        return self.net - before.net if self.doc == before.doc else 0

    def messages_since(self, before: PageState, own: Callable[[str], bool]) -> int:
        """How many WebSocket messages to `own` hosts the page sent from input events after
        `before` was read (0 across documents: the observer's frame tallies cover those)."""
        if self.doc != before.doc:
            return 0
        earlier = {host: sent for host, sent, _, _ in before.sockets}
        return sum(sent - earlier.get(host, 0) for host, sent, _, _ in self.sockets if own(host))

    def unanswered_since(self, before: PageState, own: Callable[[str], bool]) -> bool:
        """A message sent to an `own` host after `before` has had no message back yet."""
        if self.doc != before.doc:
            return False
        earlier = {host: sent for host, sent, _, _ in before.sockets}
        return any(
            own(host) and sent > earlier.get(host, 0) and heard < sent
            for host, sent, heard, _ in self.sockets
        )

    def answered_ago(self, before: PageState, own: Callable[[str], bool]) -> float | None:
        """Seconds since a message last came back from an `own` host the page sent to after
        `before`; None when none has."""
        if self.doc != before.doc:
            return None
        earlier = {host: sent for host, sent, _, _ in before.sockets}
        ago = [
            ms / 1000
            for host, sent, heard, ms in self.sockets
            if own(host) and sent > earlier.get(host, 0) and heard > earlier.get(host, 0) and ms >= 0
        ]
        return min(ago) if ago else None

    def waiting_since(self, before: PageState) -> bool:
        """The page still awaits a response to a call made after `before`, or has a timer set
        since then still to fire (a new document: any). Calls from before, like a long poll,
        are none of this action's business."""
        if self.doc != before.doc:
            return bool(self.pending or self.timers)
        return any(call > before.net for call in self.pending) or any(t > before.tm for t in self.timers)


async def read_state(page: Page, *, deadline: float) -> PageState:
    """The page's state in one round trip, riding out a navigation that is under way."""
    while True:
        try:
            raw = await page.evaluate(PAGE_STATE_JS)
            return PageState.from_js(page.url, raw)
        except PlaywrightError as exc:
            if not is_navigation_race(exc) or time.monotonic() >= deadline:
                raise
            # The document went away mid-read; the next one is on its way.
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state(
                    "domcontentloaded", timeout=max(1.0, (deadline - time.monotonic()) * 1000)
                )


def is_navigation_race(exc: BaseException) -> bool:
    """The error only means the document changed under us (retry on the new one)."""
    text = str(exc)
    return (
        "Execution context was destroyed" in text
        or "Cannot find context" in text
        or "navigating" in text.lower()
    )

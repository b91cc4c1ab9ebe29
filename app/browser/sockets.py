"""WebSocket evidence, and waiting for a site's answer over one (DESIGN.md "Judging on the real
web"; README "What the record holds").

A page driven over a WebSocket (NiceGUI, Phoenix LiveView, Blazor Server…) sends no HTTP
request when a button is clicked: the click is a message, and the page changes when the site's
answer comes back. Two sources say what happened, as for fetch (fingerprint.py):

- the page itself (fingerprint.INIT_SCRIPT): the messages it sent while it handled the action's
  input event, and whether one came back after them. Exact, immediate, and blind to the
  socket's own chatter (a heartbeat answered from a message handler, acknowledgements sent on a
  timer): what decides whether the action did something and whether its answer is in;
- Playwright's frame events: every frame the page sent and received on its sockets to the site
  while the action's window was open, tallied per socket as a record beside the requests
  (method "WS"). That is the evidence kept: counts and sizes, never payloads (a typed secret may
  be in one). Recovery reads it to know that a step talked to the site (recovery.py).

Only sockets to the site's own hosts count (the task's site and its subdomains): a chat widget's
or an analytics socket to another host is not the site under test, so it is neither tallied
nor waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from playwright.async_api import Page, WebSocket

from app.browser.fingerprint import PageState
from app.browser.network import NET_HINT_GRACE_S, ActionWindow, PageObserver
from app.engine.ports import RequestRecord

# A message sent while typing often gets no answer at all (the site only takes the value): it
# is waited for this long at most. A click's or a key's answer, like a write's status, until
# the step's deadline.
TYPING_ANSWER_S = 0.3
# An answer may come in several messages (NiceGUI: the components it needs, the update, a
# notification): the page is settled once none came for QUIET_S, at most QUIET_CAP_S after the
# first (a socket that never goes quiet must not hold the step).
QUIET_S = 0.1
QUIET_CAP_S = 1.0


def site_hosts(base_url: str | None) -> Callable[[str], bool]:
    """Whether a host is the site's own: the host of `base_url` or one of its subdomains (any
    host without a site)."""
    site = (urlsplit(base_url).hostname or "").lower() if base_url else ""

    def own(host: str) -> bool:
        host = host.lower().rstrip(".")
        return not site or host == site or host.endswith("." + site)

    return own


class SocketWatch:
    """Tallies the frames of a page's sockets to the site into the observer's live window."""

    def __init__(self, page: Page, observer: PageObserver, own: Callable[[str], bool]) -> None:
        self.own = own
        self._observer = observer
        page.on("websocket", self._on_socket)

    def _on_socket(self, ws: WebSocket) -> None:
        if not self.own(urlsplit(ws.url).hostname or ""):
            return
        ws.on("framesent", lambda payload: self._frame(ws.url, payload, sent=True))
        ws.on("framereceived", lambda payload: self._frame(ws.url, payload, sent=False))

    def _frame(self, url: str, payload: str | bytes, *, sent: bool) -> None:
        window = self._observer.window
        if window is None:
            return
        record = window.sockets.get(url)
        if record is None:
            if not sent:
                window.changed.set()  # wake a wait for an answer; nothing to tally yet
                return
            record = RequestRecord(
                "WS", url, 101, "websocket", frames_sent=0, bytes_sent=0, frames_received=0, bytes_received=0
            )
            window.sockets[url] = record
            window.requests.append(record)
        size = len(payload.encode("utf-8", "surrogatepass")) if isinstance(payload, str) else len(payload)
        if sent:
            record.frames_sent = (record.frames_sent or 0) + 1
            record.bytes_sent = (record.bytes_sent or 0) + size
        else:
            record.frames_received = (record.frames_received or 0) + 1
            record.bytes_received = (record.bytes_received or 0) + size
        window.touch()


class Conversation:
    """What one action said to the site over its WebSockets, while the page settles: when to
    look again, and how many messages the action sent (`messages`, the page's own count)."""

    def __init__(self, window: ActionWindow, before: PageState, own: Callable[[str], bool], *, patient: bool):
        self.window = window
        self.before = before
        self.own = own
        # A click or a key waits for the answer until the deadline; typing briefly.
        self.patient = patient
        self.messages = 0
        self._started = time.monotonic()
        self._answered_at: float | None = None

    def wake_at(self, state: PageState | None, deadline: float) -> float | None:
        """When to look at the page again for the action's messages' sake; None: they ask for
        no more waiting (none sent, answered and quiet, or waited for long enough)."""
        if state is None:
            return None
        now = time.monotonic()
        sent = state.messages_since(self.before, self.own)
        self.messages = max(self.messages, sent)
        if not sent:
            return None
        # Playwright reports a frame after the page sent it: the tally must hold it before the
        # outcome is recorded (a crash right after must not find the step silent).
        tallied = sum(r.frames_sent or 0 for r in self.window.sockets.values())
        if tallied < sent and now < self._started + NET_HINT_GRACE_S:
            return self._started + NET_HINT_GRACE_S
        if state.unanswered_since(self.before, self.own):
            answer_by = deadline if self.patient else min(deadline, self._started + TYPING_ANSWER_S)
            return answer_by if now < answer_by else None
        ago = state.answered_ago(self.before, self.own)
        if ago is None:
            return None
        if self._answered_at is None:
            self._answered_at = now - ago
        if ago < QUIET_S and now < self._answered_at + QUIET_CAP_S:
            return now + (QUIET_S - ago)
        return None

    async def wait(self, until: float) -> None:
        """Until `until`, or until a frame (or anything else) arrives, whichever is first."""
        window = self.window
        if window.activity:
            return  # something arrived since the page was read: read it again now
        # No await between the check above and clear(): no event can slip through.
        window.changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                await window.changed.wait()

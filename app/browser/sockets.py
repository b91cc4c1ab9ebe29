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
  be in one). Recovery reads it to know that a step talked to the site (run/pages.py).

A page that opens a socket as it loads is not ready until the socket is: a click before it
is connected is kept by the page's script and sent later, from the handler of the site's
greeting, where it looks like none of the action's doing. So a page load is settled once its
sockets to the site have opened (`SocketWatch.opened`).

Only sockets to the site's own hosts count (the task's site and its subdomains): a chat widget's
or an analytics socket to another host is not the site under test, so it is neither tallied
nor waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
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
# A new socket is opening until the site has greeted it, the page's messages on it have been
# answered and it has been quiet for QUIET_S; then it is open for good. A socket the site says
# nothing on is given GREETING_S (many greet a new socket at once: Engine.IO, SignalR; one that
# only pushes news says nothing), and none is waited for once it is OPENING_CAP_S old: the
# opening exchange takes a few round trips, while a heartbeat answered (which nothing answers
# back) would keep a chatty socket "opening" for ever.
OPENING_CAP_S = 2.0
GREETING_S = 1.0
# How often the page is asked about a socket it has and Playwright has not reported yet.
POLL_S = 0.05
# The page's sockets not closed yet, [host, readyState] (fingerprint.INIT_SCRIPT keeps them).
_CONNECTIONS_JS = (
    "() => (window.__flightdeck && window.__flightdeck.sockets) ? window.__flightdeck.sockets() : []"
)


@dataclass
class _Socket:
    """What is known of one of the page's sockets to the site (monotonic times)."""

    created: float
    last_in: float | None = None  # when a frame last came from the site
    last_out: float | None = None  # when the page last sent one
    open: bool = False  # it has opened (see above): never waited for again


class SocketWatch:
    """Tallies the frames of a page's sockets to the site into the observer's live window."""

    def __init__(self, page: Page, observer: PageObserver, own: Callable[[str], bool]) -> None:
        self.own = own
        self._page = page
        self._observer = observer
        self._open: dict[WebSocket, _Socket] = {}
        self._changed = asyncio.Event()
        self.closed: list[str] = []  # URLs of the sockets to the site that closed, in order
        page.on("websocket", self._on_socket)

    async def opened(self, deadline: float, seen: Sequence[tuple[str, int]] | None = None) -> bool:
        """Wait until the page's sockets to the site have opened (see OPENING_CAP_S), not past
        `deadline`. True if there was anything to wait for. `seen`: the page's own list of its
        sockets (PageState.connections) read a moment ago; None: it is read here. Playwright
        reports a socket a moment after the page made it: the page's list is what says that a
        socket is there, still connecting."""
        waited = False
        while True:
            if seen is None:
                seen = await self._connections()
            now = time.monotonic()
            wake = self._opening(now)
            if self._unreported(seen) and now < deadline:
                wake = min(wake, now + POLL_S) if wake is not None else now + POLL_S
            if wake is None or now >= deadline:
                return waited
            waited = True
            # No await between the look above and clear(): no frame can slip through.
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wake, deadline) - now):
                    await self._changed.wait()
            seen = None

    def _unreported(self, seen: Sequence[tuple[str, int]]) -> bool:
        """The page has a socket to the site still connecting, or one Playwright has not
        reported yet (its host has none that is known)."""
        known = {urlsplit(ws.url).hostname or "" for ws in self._open}
        return any(self.own(host) and (ready == 0 or host not in known) for host, ready in seen)

    async def _connections(self) -> list[tuple[str, int]]:
        try:
            found = await self._page.evaluate(_CONNECTIONS_JS)
        except PlaywrightError:
            return []  # a page that cannot be read now: what Playwright reported stands
        return [(str(host), int(ready)) for host, ready in found or []]

    def _opening(self, now: float) -> float | None:
        """When to look again at the sockets still opening (inf: at the next frame); None
        when all have opened."""
        wake: float | None = None
        for socket in self._open.values():
            if socket.open:
                continue
            if socket.last_in is None:
                at = socket.created + GREETING_S
            elif socket.last_out is not None and socket.last_out > socket.last_in:
                at = socket.created + OPENING_CAP_S
            else:
                at = socket.last_in + QUIET_S
            if now >= at or now - socket.created >= OPENING_CAP_S:
                socket.open = True
                continue
            wake = at if wake is None else min(wake, at)
        return wake

    def _on_socket(self, ws: WebSocket) -> None:
        if not self.own(urlsplit(ws.url).hostname or ""):
            return
        self._open[ws] = _Socket(time.monotonic())
        ws.on("framesent", lambda payload: self._frame(ws, payload, sent=True))
        ws.on("framereceived", lambda payload: self._frame(ws, payload, sent=False))
        ws.on("close", lambda _: self._closed(ws))
        self._changed.set()

    def _closed(self, ws: WebSocket) -> None:
        self._open.pop(ws, None)
        self.closed.append(ws.url)
        del self.closed[:-20]  # only recent ones are asked about
        self._changed.set()

    def _frame(self, ws: WebSocket, payload: str | bytes, *, sent: bool) -> None:
        socket = self._open.get(ws)
        if socket is not None:
            if sent:
                socket.last_out = time.monotonic()
            else:
                socket.last_in = time.monotonic()
            self._changed.set()
        url = ws.url
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

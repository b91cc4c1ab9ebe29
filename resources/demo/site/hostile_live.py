"""The hostile site's live notes: pages rendered and driven over a WebSocket, the way NiceGUI,
Phoenix LiveView or Blazor Server pages are. After the page load no HTTP request carries
anything: a click is a message on the socket, and the page changes when the answer comes back
(``live_delay_ms`` later). Mixed into ``HostileSite``; the state lives in ``LiveState``, part of
the site's state, and its sessions are the site's (``sid`` cookie, ``logins`` in the truth).

- ``/live/login``: Username, Password, "Log in". Signing in is a message; the site answers
  "signed in" (the page says so and opens ``/live`` 400 ms later, as many apps do) or refuses
  (``role=alert``: "Invalid username or password"). Knob ``live_login_silent``: the sign-in is
  never answered at all.
- ``/live``: the notes as a table; "Add" opens a dialog (Title, Save) once the site answers;
  typing sends the title as it goes (no answer); "Save" stores the note; each row's
  "Delete TITLE" asks for confirmation in a second dialog, whose "Delete" deletes it. Sent to
  ``/live/login`` without a session (knob ``live_sign_in``: false opens it to anyone).
- The socket is chatty, as real ones are: the site pings every ``live_ping_ms`` and the page
  answers from its message handler; the page acknowledges what it received on a timer.
- Knob ``live_connect_ms``: the socket's opening handshake is answered that much later; what
  the page says meanwhile (a click) waits in the page and goes once the socket is open, as
  Socket.IO's messages do.

Truth (``live``): the notes; every message the site received by type (``received``: pings'
answers and acknowledgements apart); how many times each title was saved and deleted.
``drop_live_sockets()`` closes every socket at once, as a lost connection does.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from hostile_http import Request, Response, cookie, redirect
from hostile_socket import WebSocketConnection, accept

# Messages of the socket's own upkeep: not what a person did.
_UPKEEP = frozenset({"pong", "ack", "hello"})


class LiveState:
    def __init__(self) -> None:
        self.connections: set[WebSocketConnection] = set()  # the sockets open now
        self.notes: list[dict[str, Any]] = []  # {"id", "title"}
        self.next_id = 1
        self.received: dict[str, int] = {}  # message type -> count (upkeep apart)
        self.upkeep = 0  # pongs and acknowledgements received
        self.saves: dict[str, int] = {}
        self.deletes: dict[str, int] = {}

    def truth(self) -> dict[str, Any]:
        return {
            "live": {
                "notes": self.notes,
                "received": self.received,
                "upkeep": self.upkeep,
                "saves": self.saves,
                "deletes": self.deletes,
            }
        }


_SOCKET_JS = """
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/live/ws');
// What the page says before the socket is open waits for it, as Socket.IO's emits do.
const early = [];
const say = (message) => {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)); else early.push(message);
};
ws.addEventListener('open', () => { say({type: 'hello'}); early.splice(0).forEach(say); });
let received = 0, acked = 0;
setInterval(() => { if (received > acked) { acked = received; say({type: 'ack', upTo: acked}); } }, 700);
const ENTITIES = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'};
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ENTITIES[c]);
"""

LOGIN_BODY = (
    """<h1>Sign in to live notes</h1>
<div class="card">
<label for="live-user">Username</label><input id="live-user" autocomplete="username">
<label for="live-password">Password</label><input id="live-password" type="password">
<button id="live-login">Log in</button>
<p id="live-answer" data-testid="live-answer"></p>
</div>
<script>"""
    + _SOCKET_JS
    + """
const answer = document.getElementById('live-answer');
ws.addEventListener('message', (e) => {
  received++;
  const m = JSON.parse(e.data);
  if (m.type === 'ping') return say({type: 'pong'});
  if (m.type === 'signed_in') {
    answer.removeAttribute('role');
    answer.textContent = 'Signed in: opening your notes…';
    setTimeout(() => location.assign(m.next), 400);
  } else if (m.type === 'refused') {
    answer.setAttribute('role', 'alert');
    answer.textContent = m.message;
  }
});
document.getElementById('live-login').addEventListener('click', () => say({
  type: 'login',
  username: document.getElementById('live-user').value,
  password: document.getElementById('live-password').value,
}));
</script>"""
)

NOTES_BODY = (
    """<h1>Live notes</h1>
<table data-testid="live-notes"><thead><tr><th>Title</th><th></th></tr></thead>
<tbody id="live-rows"></tbody></table>
<p><button id="live-add">Add</button></p>
<style>
#live-dialog { position: fixed; inset: 0; background: rgba(0, 0, 0, .4); align-items: center;
               justify-content: center; display: flex; }
#live-dialog[hidden] { display: none; }
#live-card { background: #fff; padding: 1em; min-width: 20em; }
</style>
<div id="live-dialog" role="dialog" aria-modal="true" hidden><div class="card" id="live-card"></div></div>
<script>"""
    + _SOCKET_JS
    + """
const rows = document.getElementById('live-rows');
const dialog = document.getElementById('live-dialog');
const card = document.getElementById('live-card');
function showDialog(m) {
  if (!m.name) { dialog.hidden = true; card.innerHTML = ''; return; }
  if (m.name === 'add') {
    card.innerHTML = '<h2>New note</h2><label for="live-title">Title</label><input id="live-title">'
      + '<p><button id="live-save">Save</button> <button id="live-cancel">Cancel</button></p>';
    const title = document.getElementById('live-title');
    title.addEventListener('input', () => say({type: 'input', field: 'title', value: title.value}));
    document.getElementById('live-save').addEventListener('click', () => say({type: 'save'}));
  } else {
    card.innerHTML = '<p>' + esc(m.question) + '</p>'
      + '<p><button id="live-confirm">Delete</button> <button id="live-cancel">Cancel</button></p>';
    document.getElementById('live-confirm').addEventListener('click', () => say({type: 'delete'}));
  }
  document.getElementById('live-cancel').addEventListener('click', () => say({type: 'cancel'}));
  dialog.hidden = false;
}
ws.addEventListener('message', (e) => {
  received++;
  const m = JSON.parse(e.data);
  if (m.type === 'ping') return say({type: 'pong'});
  if (m.type === 'signed_out') return location.assign('/live/login');
  if (m.type === 'dialog') return showDialog(m);
  if (m.type === 'notes') {
    rows.innerHTML = m.notes.map((n) => '<tr data-testid="live-note"><td>' + esc(n.title) + '</td>'
      + '<td><button data-id="' + n.id + '" aria-label="Delete ' + esc(n.title) + '">&#128465;'
      + '</button></td></tr>').join('');
    for (const b of rows.querySelectorAll('button')) {
      b.addEventListener('click', () => say({type: 'ask_delete', id: Number(b.dataset.id)}));
    }
  }
});
document.getElementById('live-add').addEventListener('click', () => say({type: 'open_add'}));
</script>"""
)


class LivePagesMixin:
    """Handlers of the live pages and their socket. ``HostileSite`` provides the attributes
    declared here."""

    _lock: threading.RLock
    _state: Any  # hostile_site._State, with .live: LiveState, .sessions, .logins
    _config: dict[str, Any]
    _users: dict[str, str]
    _page: Callable[..., Response]
    _user: Callable[[Request], str | None]

    def _live_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/live/login"): self._live_login_page,
            ("GET", "/live"): self._live_page,
        }

    def _live_login_page(self, req: Request) -> Response:
        if self._user(req) is not None:
            return redirect("/live")
        # The browser's id, as NiceGUI's storage cookie: signing in over the socket ties the
        # session to it.
        headers = [] if "sid" in req.cookies else [cookie("sid", secrets.token_urlsafe(24))]
        return self._page(req, 200, "Live sign-in", LOGIN_BODY, headers=headers)

    def _live_page(self, req: Request) -> Response:
        with self._lock:
            sign_in = bool(self._config["live_sign_in"])
        if sign_in and self._user(req) is None:
            return redirect("/live/login")
        return self._page(req, 200, "Live notes", NOTES_BODY)

    # ----------------------------------------------------------------- the socket
    def handle_websocket(self, req: Request, handler: BaseHTTPRequestHandler) -> None:
        if req.path != "/live/ws":
            handler.send_error(404, "no socket here")
            return
        with self._lock:
            ping_s = int(self._config["live_ping_ms"]) / 1000
            connect_s = int(self._config["live_connect_ms"]) / 1000
        time.sleep(connect_s)  # a slow handshake: the page's socket stays CONNECTING meanwhile
        conn = accept(handler)
        if conn is None:
            return
        pinging = threading.Event()
        if ping_s > 0:
            threading.Thread(target=self._ping, args=(conn, ping_s, pinging), daemon=True).start()
        client: dict[str, Any] = {"sid": req.cookies.get("sid", ""), "title": "", "doomed": None}
        live: LiveState = self._state.live
        with self._lock:
            live.connections.add(conn)
        try:
            while (text := conn.receive()) is not None:
                try:
                    message = json.loads(text)
                except ValueError:
                    continue
                self._live_message(conn, client, message)
        finally:
            pinging.set()
            with self._lock:
                live.connections.discard(conn)
            conn.close()

    def drop_live_sockets(self) -> int:
        """Cut every live socket now, as a lost network or a server restart does (what the
        page's dialogs were about is then forgotten by the site). Returns how many."""
        with self._lock:
            dropped = list(self._state.live.connections)
        for conn in dropped:
            conn.drop()
        return len(dropped)

    def _ping(self, conn: WebSocketConnection, every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            if not conn.send(json.dumps({"type": "ping"})):
                return

    def _live_message(
        self, conn: WebSocketConnection, client: dict[str, Any], message: dict[str, Any]
    ) -> None:
        kind = str(message.get("type", ""))
        live: LiveState = self._state.live
        with self._lock:
            if kind in _UPKEEP:
                live.upkeep += kind != "hello"
            else:
                live.received[kind] = live.received.get(kind, 0) + 1
            delay = int(self._config["live_delay_ms"]) / 1000
            silent = bool(self._config["live_login_silent"])
            sign_in = bool(self._config["live_sign_in"])
        if kind == "hello":
            if not sign_in or self._live_user(client) is not None:
                self._send_notes(conn)
            return
        if kind == "input":
            client["title"] = str(message.get("value", ""))
            return  # the site only takes the value: no answer, as NiceGUI
        if kind in _UPKEEP:
            return
        time.sleep(delay)  # the site works on it
        if kind == "login":
            if not silent:
                conn.send(json.dumps(self._live_login(client, message)))
            return
        if sign_in and self._live_user(client) is None:
            conn.send(json.dumps({"type": "signed_out"}))
            return
        if kind == "open_add":
            conn.send(json.dumps({"type": "dialog", "name": "add"}))
        elif kind == "save":
            title = client["title"].strip()
            if title:
                with self._lock:
                    live.notes.append({"id": live.next_id, "title": title})
                    live.next_id += 1
                    live.saves[title] = live.saves.get(title, 0) + 1
                client["title"] = ""
            conn.send(json.dumps({"type": "dialog", "name": None}))
            self._send_notes(conn)
        elif kind == "ask_delete":
            with self._lock:
                note = next((n for n in live.notes if n["id"] == message.get("id")), None)
            if note is not None:
                client["doomed"] = dict(note)
                question = f"Delete “{note['title']}”? This cannot be undone."
                conn.send(json.dumps({"type": "dialog", "name": "confirm", "question": question}))
        elif kind == "delete" and client["doomed"] is not None:
            doomed, client["doomed"] = client["doomed"], None
            with self._lock:
                live.notes = [n for n in live.notes if n["id"] != doomed["id"]]
                live.deletes[doomed["title"]] = live.deletes.get(doomed["title"], 0) + 1
            conn.send(json.dumps({"type": "dialog", "name": None}))
            self._send_notes(conn)
        elif kind == "cancel":
            client["doomed"] = None
            conn.send(json.dumps({"type": "dialog", "name": None}))

    def _live_login(self, client: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        user, password = str(message.get("username", "")), str(message.get("password", ""))
        with self._lock:
            known = self._users.get(user)
            if known is None or not hmac.compare_digest(known.encode(), password.encode()):
                self._state.failed_logins += 1
                return {"type": "refused", "message": "Invalid username or password"}
            self._state.logins += 1
            sid = client["sid"] or secrets.token_urlsafe(24)
            client["sid"] = sid
            self._state.sessions[sid] = (user, time.monotonic() + float(self._config["session_ttl"]))
        return {"type": "signed_in", "next": "/live"}

    def _live_user(self, client: dict[str, Any]) -> str | None:
        with self._lock:
            entry = self._state.sessions.get(client["sid"])
            return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def _send_notes(self, conn: WebSocketConnection) -> None:
        with self._lock:
            notes = [dict(n) for n in self._state.live.notes]
        conn.send(json.dumps({"type": "notes", "notes": notes}))

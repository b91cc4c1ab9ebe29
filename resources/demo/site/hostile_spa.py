"""The hostile site's single-page app: ``/app`` renders everything with script from a JSON API,
and a lapsed (or missing) session shows its sign-in form *in place*, at the same URL, with no
redirect. Only the page itself tells it is signed out. Mixed into ``HostileSite``; it shares
the site's sessions, users and notes (so ``notes`` and ``note_submissions`` in the truth count
its writes too).

- ``GET /api/app/notes`` → ``{notes}``; 401 without a session; answered after
  ``spa_api_delay_ms`` (a knob).
- ``POST /api/app/notes`` ``{title}`` → 201; 401 without a session (nothing stored).
- ``POST /api/session`` ``{username, password}`` → 200 and the ``sid`` cookie; 401 otherwise.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from hostile_http import Request, Response, cookie, json_response

APP_BODY = """<div id="app" data-testid="app"><p>Loading…</p></div>
<script>
const app = document.getElementById('app');
const ENTITIES = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'};
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ENTITIES[c]);
async function load() {
  const r = await fetch('/api/app/notes', {cache: 'no-store'});
  if (r.status === 401) return signIn('');
  show(await r.json());
}
function signIn(error) {
  app.innerHTML = '<h1>Sign in</h1>' + (error ? '<p role="alert">' + esc(error) + '</p>' : '')
    + '<form id="signin"><label for="u">Username</label><input id="u" autocomplete="username">'
    + '<label for="p">Password</label><input id="p" type="password" autocomplete="current-password">'
    + '<button type="submit">Sign in</button></form>';
  document.getElementById('signin').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {username: document.getElementById('u').value, password: document.getElementById('p').value};
    const r = await fetch('/api/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                           body: JSON.stringify(body)});
    if (r.ok) load(); else signIn('Invalid username or password');
  });
}
function show(data) {
  const items = data.notes.map((n) => '<li><span data-testid="note">' + esc(n.title) + '</span> '
    + '<button type="button" data-delete="' + esc(n.title) + '" aria-label="Delete ' + esc(n.title)
    + '">Delete</button></li>').join('');
  app.innerHTML = '<h1>Notes</h1><ul>' + items + '</ul>'
    + '<form id="add"><label for="title">Title</label><input id="title">'
    + '<button type="submit">Add note</button></form>';
  app.querySelectorAll('[data-delete]').forEach((b) => b.addEventListener('click', async () => {
    const r = await fetch('/api/app/notes', {method: 'DELETE', headers: {'Content-Type': 'application/json'},
                                             body: JSON.stringify({title: b.dataset.delete})});
    if (r.status === 401) return signIn('');
    load();
  }));
  document.getElementById('add').addEventListener('submit', async (e) => {
    e.preventDefault();
    const title = document.getElementById('title').value;
    const r = await fetch('/api/app/notes', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                             body: JSON.stringify({title})});
    if (r.status === 401) return signIn('');
    load();
  });
}
load();
</script>"""


class SpaPagesMixin:
    """Handlers of the single-page app. ``HostileSite`` provides the attributes declared here."""

    _lock: threading.RLock
    _state: Any  # hostile_site._State: sessions, logins, notes, note_submissions
    _config: dict[str, Any]
    _users: dict[str, str]
    _page: Callable[..., Response]
    _user: Callable[[Request], str | None]

    def _spa_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/app"): lambda r: self._page(r, 200, "App", APP_BODY),
            ("GET", "/api/app/notes"): self._spa_notes,
            ("POST", "/api/app/notes"): self._spa_add,
            ("DELETE", "/api/app/notes"): self._spa_delete,
            ("POST", "/api/session"): self._spa_sign_in,
        }

    def _spa_notes(self, req: Request) -> Response:
        # A slow API: the page shows whether it is signed in only once this answers.
        time.sleep(self._config["spa_api_delay_ms"] / 1000)
        with self._lock:
            entry = self._state.sessions.get(req.cookies.get("sid", ""))
            if entry is None or entry[1] <= time.monotonic():
                return json_response(401, {"error": "signed out"})
            return json_response(200, {"notes": list(self._state.notes)})

    def _spa_add(self, req: Request) -> Response:
        if self._user(req) is None:
            return json_response(401, {"error": "signed out"})
        title = str(req.json().get("title", "")).strip()
        if not title:
            return json_response(422, {"error": "Title is required"})
        with self._lock:
            subs = self._state.note_submissions
            subs[title] = subs.get(title, 0) + 1
            self._state.notes.append({"title": title, "body": ""})
        return json_response(201, {"title": title})

    def _spa_delete(self, req: Request) -> Response:
        if self._user(req) is None:
            return json_response(401, {"error": "signed out"})
        title = str(req.json().get("title", ""))
        with self._lock:
            found = next((n for n in self._state.notes if n["title"] == title), None)
            if found is None:
                return json_response(404, {"error": "no such note"})
            self._state.notes.remove(found)
            gone = self._state.note_deletions
            gone[title] = gone.get(title, 0) + 1
        return json_response(200, {"deleted": title})

    def _spa_sign_in(self, req: Request) -> Response:
        data = req.json()
        user, password = str(data.get("username", "")), str(data.get("password", ""))
        with self._lock:
            known = self._users.get(user)
            if known is None or not hmac.compare_digest(known.encode(), password.encode()):
                self._state.failed_logins += 1
                return json_response(401, {"error": "Invalid username or password"})
            self._state.logins += 1
            sid = secrets.token_urlsafe(24)
            self._state.sessions[sid] = (user, time.monotonic() + float(self._config["session_ttl"]))
        return json_response(200, {"user": user}, [cookie("sid", sid)])

"""The hostile site's traffic that is not a step's doing. Mixed into ``HostileSite``
(``hostile_site.py``); the state lives in ``TrafficState``, part of the site's state.

- knob ``telemetry``: every HTML page sends what real pages send to other sites and what an
  offline user's browser cannot deliver: a telemetry ``fetch`` POST and ``sendBeacon`` at load,
  another beacon on every form submission, and a web font, all to hosts under ``.invalid``
  (never resolvable: RFC 2606). None of it reaches this server, so the truth has nothing of it.
- ``/compose``: an editor page with an "editing session" heartbeat: it POSTs
  ``/compose/ping`` every 300 ms from a ``setInterval`` (like Wagtail's editing sessions) and
  shows "Editing session active" once the first one is answered. "Preview" submits the form
  (a POST), "Check spelling" POSTs from its click handler, "Save draft" stores the draft.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hostile_http import Request, Response, redirect
from hostile_pages import esc

TELEMETRY_HOST = "telemetry.flightdeck-test.invalid"
FONTS_HOST = "fonts.flightdeck-test.invalid"
PING_MS = 300

TELEMETRY = f"""
<style>@font-face{{font-family:"Brand Sans";
src:url("http://{FONTS_HOST}/brand-sans.woff2") format("woff2")}}
h1{{font-family:"Brand Sans",system-ui,sans-serif}}</style>
<script>
(function () {{
  var collect = 'http://{TELEMETRY_HOST}/collect';
  var seen = JSON.stringify({{page: location.pathname}});
  fetch(collect, {{method: 'POST', mode: 'no-cors', keepalive: true, body: seen}})
    .catch(function () {{}});
  if (navigator.sendBeacon) navigator.sendBeacon(collect + '?beacon=1', seen);
  document.addEventListener('submit', function () {{
    if (navigator.sendBeacon) navigator.sendBeacon(collect + '?submit=1', seen);
  }}, true);
}})();
</script>
"""


class TrafficState:
    def __init__(self) -> None:
        self.pings = 0
        self.previews = 0
        self.spellchecks = 0
        self.drafts: list[dict[str, str]] = []

    def truth(self) -> dict[str, Any]:
        return {
            "compose_pings": self.pings,
            "compose_previews": self.previews,
            "compose_spellchecks": self.spellchecks,
            "drafts": self.drafts,
        }


def compose(title: str = "", body: str = "", notice: str = "") -> str:
    return f"""<h1>New draft</h1>
<p role="status" id="session" data-testid="session"></p>
{f'<p class="flash" data-testid="notice">{esc(notice)}</p>' if notice else ""}
<form method="post" action="/compose" data-testid="compose-form">
 <input type="hidden" name="draft" value="1">
 <label for="title">Title</label><input id="title" name="title" value="{esc(title)}">
 <label for="body">Body</label><textarea id="body" name="body">{esc(body)}</textarea>
 <p id="words" data-testid="words">0 words</p>
 <button type="submit" formaction="/compose/preview" data-testid="preview">Preview</button>
 <button type="button" id="spelling" data-testid="spelling">Check spelling</button>
 <button type="submit" data-testid="save">Save draft</button>
</form>
<script>
(function () {{
  var body = document.getElementById('body');
  var words = document.getElementById('words');
  body.addEventListener('input', function () {{
    var n = body.value.trim() ? body.value.trim().split(/\\s+/).length : 0;
    words.textContent = n + (n === 1 ? ' word' : ' words');
  }});
  document.getElementById('spelling').addEventListener('click', function () {{
    fetch('/compose/spellcheck', {{method: 'POST', body: new URLSearchParams({{text: body.value}})}});
  }});
  var session = document.getElementById('session');
  setInterval(function ping() {{
    fetch('/compose/ping', {{method: 'POST', body: new URLSearchParams({{draft: '1'}})}})
      .then(function (r) {{ if (r.ok) session.textContent = 'Editing session active'; }})
      .catch(function () {{}});
  }}, {PING_MS});
}})();
</script>"""


class TrafficPagesMixin:
    """Routes of /compose; expects the host class's ``_lock``, ``_state`` and ``_page``."""

    _lock: threading.RLock
    _state: Any
    _page: Callable[..., Response]

    def _traffic_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/compose"): self._compose_page,
            ("POST", "/compose"): self._compose_save,
            ("POST", "/compose/ping"): self._compose_ping,
            ("POST", "/compose/preview"): self._compose_preview,
            ("POST", "/compose/spellcheck"): self._compose_spellcheck,
        }

    @property
    def _traffic_state(self) -> TrafficState:
        state: TrafficState = self._state.traffic
        return state

    def _compose_page(self, req: Request) -> Response:
        notice = "Draft saved" if req.query.get("saved") == "1" else ""
        return self._page(req, 200, "Compose", compose(notice=notice))

    def _compose_save(self, req: Request) -> Response:
        form = req.form()
        with self._lock:
            self._traffic_state.drafts.append({"title": form.get("title", ""), "body": form.get("body", "")})
        return redirect("/compose?saved=1")

    def _compose_ping(self, req: Request) -> Response:
        with self._lock:
            self._traffic_state.pings += 1
        return Response(204, b"")

    def _compose_preview(self, req: Request) -> Response:
        form = req.form()
        with self._lock:
            self._traffic_state.previews += 1
        page = compose(form.get("title", ""), form.get("body", ""), notice="Preview")
        return self._page(req, 200, "Preview", page)

    def _compose_spellcheck(self, req: Request) -> Response:
        with self._lock:
            self._traffic_state.spellchecks += 1
        return Response(204, b"")

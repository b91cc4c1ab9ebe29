"""A small local app for benchmarks: a form whose button POSTs and appends to a list."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = b"""<!doctype html><html><head><title>Bench</title></head><body>
<h1>Bench list</h1>
<label>Name <input id="name" name="name"></label>
<button id="add" type="button">Add</button>
<ul id="items"></ul>
<p id="wait" hidden>Ready</p>
<script>
document.getElementById('add').addEventListener('click', async () => {
  const name = document.getElementById('name').value;
  const r = await fetch('/api/add', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                     body: JSON.stringify({name})});
  const data = await r.json();
  const li = document.createElement('li'); li.textContent = data.name;
  document.getElementById('items').appendChild(li);
});
const params = new URLSearchParams(location.search);
if (params.get('wait')) setTimeout(() => document.getElementById('wait').hidden = false,
                                   Number(params.get('wait')));
</script></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._send(200, "text/html", PAGE)

    def do_POST(self) -> None:
        arrived = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts += 1  # type: ignore[attr-defined]
        self.server.arrivals.append(arrived)  # type: ignore[attr-defined]
        self._send(201, "application/json", json.dumps(json.loads(body or b"{}")).encode())

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class BenchSite:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.posts = 0  # type: ignore[attr-defined]
        self.server.arrivals = []  # type: ignore[attr-defined]  # perf_counter() of each POST
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BenchSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

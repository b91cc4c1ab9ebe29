"""HTTP plumbing for the hostile demo site: request/response values and the threaded server.

Stdlib only. ``SiteServer`` hands every parsed ``Request`` to ``server.site.handle(req)``, and a
WebSocket opening handshake to ``server.site.handle_websocket(req, handler)``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    cookies: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    @property
    def target(self) -> str:
        qs = "&".join(f"{quote(k)}={quote(v)}" for k, v in self.query.items())
        return self.path + (f"?{qs}" if qs else "")

    def form(self) -> dict[str, str]:
        """Form fields (urlencoded) or a flat JSON object, first value wins."""
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            data = self.json()
            return {str(k): "" if v is None else str(v) for k, v in data.items()}
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data).encode()
    return Response(status, body, "application/json", headers or [])


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        303, f"See {location}\n".encode(), "text/plain", [("Location", location)] + (headers or [])
    )


def cookie(name: str, value: str, *, path: str = "/", max_age: int | None = None) -> tuple[str, str]:
    extra = f"; Max-Age={max_age}" if max_age is not None else ""
    return ("Set-Cookie", f"{name}={value}; Path={path}; HttpOnly; SameSite=Lax{extra}")


def safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/account"


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive browser connections must not block stop()
    site: Any  # HostileSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser killed mid-request (the kill -9 tests do it on purpose) resets its
        # connections; that is not a server error worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SiteHandler(BaseHTTPRequestHandler):
    server: SiteServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections give up after this

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        cookies: dict[str, str] = {}
        try:
            jar = SimpleCookie(self.headers.get("Cookie") or "")
            cookies = {k: m.value for k, m in jar.items()}
        except CookieError:
            pass
        req = Request(
            method=self.command,
            path=unquote(url.path) or "/",
            query={k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()},
            cookies=cookies,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if (self.headers.get("Upgrade") or "").lower() == "websocket":
            # The site takes the connection over for as long as the socket lives.
            self.server.site.handle_websocket(req, self)
            return
        try:
            resp = self.server.site.handle(req)
        except Exception as exc:  # a bug in the site must not kill the connection silently
            self.log_error("site error: %r", exc)
            resp = Response(500, b"internal error\n", "text/plain")
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in resp.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.site.verbose:
            super().log_message(format, *args)

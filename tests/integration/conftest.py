"""Fixtures for integration tests: a real Chromium (through PlaywrightProvider), the hostile demo
site, and a tiny static site for pages a test writes itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import pytest_asyncio

from app.browser import PlaywrightProvider
from app.cli.demo import load_site_module
from app.domain.task import Action, Step
from app.domain.task.spec import ARGS_MODEL, DEFAULT_EFFECT, Effect


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[PlaywrightProvider]:
    """A headless provider; the browser starts with the first session and closes after."""
    browser = PlaywrightProvider(headless=True)
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
def hostile_site() -> Iterator[Any]:
    """The hostile demo site on a free port, fresh state; `.url` is its base URL."""
    site = load_site_module().HostileSite()
    site.url = site.start(host="127.0.0.1", port=0)
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def site() -> Iterator[Any]:
    """The hostile site with short delays (its `/slow` report after 0.4 s), fresh state, for
    engine, command-line and PostgreSQL tests; `.base_url` is its URL."""
    server = load_site_module().HostileSite(delay_ms=400)
    server.start(host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class StaticSite:
    """Pages a test defines: `site.add("/x", "<html>…")`, then browse `site.url + "/x"`."""

    url: str = ""
    pages: dict[str, tuple[int, bytes, list[tuple[str, str]], float]] = field(default_factory=dict)
    hits: list[tuple[str, str]] = field(default_factory=list)  # (method, path)

    def add(
        self,
        path: str,
        html: str,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        delay: float = 0.0,
    ) -> str:
        """Serve `html` at `path` (any method), after `delay` seconds. Returns the full URL."""
        self.pages[path] = (status, html.encode(), headers or [], delay)
        return self.url + path


@pytest.fixture
def static_site() -> Iterator[StaticSite]:
    site = StaticSite()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            site.hits.append((self.command, path))
            status, body, headers, delay = site.pages.get(path, (404, b"not found", [], 0.0))
            if delay:
                time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def build_step(action: str | Action, args: Any, **fields: Any) -> Step:
    """A rendered step as the engine would hand it over: `build_step("click", {"test_id": "x"})`."""
    kind = Action(action)
    fields.setdefault("effect", DEFAULT_EFFECT.get(kind, Effect.READ))
    return Step(
        id=fields.pop("id", f"{kind.value}-step"),
        action=kind,
        args=ARGS_MODEL[kind].model_validate(args),
        **fields,
    )


@pytest.fixture
def make_step() -> Callable[..., Step]:
    return build_step

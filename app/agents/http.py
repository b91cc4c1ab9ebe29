"""Streamable HTTP for the MCP server: loopback only, every request carrying the bearer token."""

from __future__ import annotations

import hmac
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

TOKEN_ENV = "FLIGHTDECK_MCP_TOKEN"
HOST = "127.0.0.1"  # never another interface: the token is the only other lock
PATH = "/mcp"


def server_token() -> tuple[str, bool]:
    """The token clients must send, and whether it was generated here (then it is shown once)."""
    given = os.environ.get(TOKEN_ENV, "").strip()
    return (given, False) if given else (secrets.token_urlsafe(32), True)


class BearerAuth:
    """ASGI wrapper: an HTTP request without `Authorization: Bearer <token>` gets 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "missing or wrong bearer token (Authorization: Bearer <token>)"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="flightdeck"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


async def serve(app: Any, *, port: int, token: str, ready: Callable[[int], None]) -> None:
    """Serve `app` on 127.0.0.1:`port` (0: any free port); `ready(port)` once it is bound."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)  # connections made as soon as `ready` says so wait in the backlog
    config = uvicorn.Config(BearerAuth(app, token), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    ready(sock.getsockname()[1])
    await server.serve(sockets=[sock])

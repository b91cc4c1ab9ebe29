"""WebSocket plumbing for the hostile demo site (RFC 6455, stdlib only): the opening handshake
on a request the ``SiteHandler`` received, then text messages each way. Enough for the live
pages (``hostile_live.py``): no extensions, no fragmented messages from the server, frames from
the browser reassembled.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG, _CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class WebSocketConnection:
    """One accepted socket. `receive` blocks in the connection's thread; `send` may be called
    from any thread."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._rfile = handler.rfile
        self._wfile = handler.wfile
        self._sock: socket.socket = handler.connection
        self._lock = threading.Lock()
        self.closed = False

    def send(self, text: str) -> bool:
        """Send a text message; False once the socket is gone."""
        return self._frame(_TEXT, text.encode())

    def receive(self) -> str | None:
        """The next text message, or None once the browser closed the socket (or it broke)."""
        parts: list[bytes] = []
        while True:
            try:
                head = self._read(2)
                fin, opcode = head[0] & 0x80, head[0] & 0x0F
                length = head[1] & 0x7F
                if length == 126:
                    length = struct.unpack("!H", self._read(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", self._read(8))[0]
                mask = self._read(4) if head[1] & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(length)))
            except (OSError, ConnectionError, EOFError):
                return self._gone()
            if opcode == _CLOSE:
                self._frame(_CLOSE, data[:2])
                return self._gone()
            if opcode == _PING:
                self._frame(_PONG, data)
                continue
            if opcode in (_TEXT, _BINARY, _CONTINUATION):
                parts.append(data)
                if fin:
                    return b"".join(parts).decode("utf-8", "replace")

    def close(self) -> None:
        self._frame(_CLOSE, struct.pack("!H", 1000))
        self._gone()

    def drop(self) -> None:
        """End the connection without a closing handshake, as a lost network does."""
        self._gone()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def _read(self, n: int) -> bytes:
        data = self._rfile.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def _frame(self, opcode: int, payload: bytes) -> bool:
        if self.closed:
            return False
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        try:
            with self._lock:
                self._wfile.write(head + payload)
                self._wfile.flush()
        except (OSError, ConnectionError):
            self._gone()
            return False
        return True

    def _gone(self) -> None:
        self.closed = True
        return None


def accept(handler: BaseHTTPRequestHandler) -> WebSocketConnection | None:
    """Answer the opening handshake of the request `handler` is serving (101 Switching
    Protocols); None, after a 400, when it is not a valid one."""
    key = handler.headers.get("Sec-WebSocket-Key", "")
    if not key or "websocket" not in (handler.headers.get("Upgrade") or "").lower():
        handler.send_error(400, "not a WebSocket handshake")
        return None
    accepted = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accepted)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True  # no HTTP on this connection any more
    return WebSocketConnection(handler)

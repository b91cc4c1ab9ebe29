"""A mitmproxy addon that injects faults in front of a real application (loaded by mitmdump from
the proxy's own virtualenv: standard library and mitmproxy only).

Rules live in a JSON file the test rewrites while the proxy runs (read again when it changes):

    [{"method": "POST", "path": "^/issue", "action": "status", "status": 503, "times": 1},
     {"path": "^/static/", "action": "delay", "delay_ms": 400},
     {"method": "POST", "path": "^/item/new", "action": "drop_redirect", "location": "/items"}]

- `status`: answer with that status (and `retry_after`, `body`) without forwarding: the
  application never sees the request.
- `delay`: wait, then forward.
- `drop_redirect`: swallow the request and answer 302 to `location`, as a server that lost the
  write but said it went through would.
- `times`: how many matching requests the rule applies to (absent: all).

A rule with `"websocket": true` applies to the messages of the websockets whose path matches
(in both directions; `from_client` narrows it to one), not to HTTP requests:

    [{"websocket": true, "path": "^/_nicegui_ws/", "action": "delay", "delay_ms": 200},
     {"websocket": true, "action": "drop"}]

- `delay`: hold each message that long before passing it on (a slow link: later messages of
  the same socket queue behind it).
- `drop`: swallow each message, as a network that went away would: the ends notice only when
  their heartbeats go unanswered, and close the socket themselves.

Every request is appended to the log file as one JSON line: method, path, what the proxy did and
the status the browser got — what reached the application is what was `forwarded`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading

from mitmproxy import ctx, http


class Faults:
    def __init__(self) -> None:
        self.rules: list[dict] = []
        self.used: dict[int, int] = {}
        self.mtime = -1.0
        self.lock = threading.Lock()

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("faults_file", str, "", "JSON file with fault rules")
        loader.add_option("faults_log", str, "", "JSON-lines log of every request")

    def _rules(self) -> list[dict]:
        path = ctx.options.faults_file
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return []
        if mtime != self.mtime:
            with open(path) as f:
                self.rules = json.load(f)
            self.used = {}
            self.mtime = mtime
        return self.rules

    def _match(
        self, flow: http.HTTPFlow, websocket: bool = False, from_client: bool | None = None
    ) -> dict | None:
        with self.lock:
            for i, rule in enumerate(self._rules()):
                if bool(rule.get("websocket")) != websocket:
                    continue
                if websocket and rule.get("from_client") not in (None, from_client):
                    continue
                if rule.get("method") and rule["method"].upper() != flow.request.method.upper():
                    continue
                if rule.get("path") and not re.search(rule["path"], flow.request.path):
                    continue
                times = rule.get("times")
                if times is not None and self.used.get(i, 0) >= times:
                    continue
                self.used[i] = self.used.get(i, 0) + 1
                return rule
        return None

    async def request(self, flow: http.HTTPFlow) -> None:
        rule = self._match(flow)
        flow.metadata["fault"] = rule["action"] if rule else "forwarded"
        if rule is None:
            return
        if rule["action"] == "delay":
            await asyncio.sleep(rule.get("delay_ms", 500) / 1000)
            flow.metadata["fault"] = "delayed"
        elif rule["action"] == "status":
            headers = {"Content-Type": "text/html; charset=utf-8"}
            if rule.get("retry_after") is not None:
                headers["Retry-After"] = str(rule["retry_after"])
            body = rule.get("body") or f"<h1>{rule['status']} injected by the test proxy</h1>"
            flow.response = http.Response.make(rule["status"], body.encode(), headers)
        elif rule["action"] == "drop_redirect":
            flow.response = http.Response.make(302, b"", {"Location": rule.get("location", "/")})

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket is not None
        from_client = flow.websocket.messages[-1].from_client
        rule = self._match(flow, websocket=True, from_client=from_client)
        if rule is None:
            return
        if rule["action"] == "delay":
            await asyncio.sleep(rule.get("delay_ms", 500) / 1000)
        elif rule["action"] == "drop":
            flow.websocket.messages[-1].drop()
        fault = {"delay": "delayed", "drop": "dropped"}[rule["action"]]
        line = {"method": "WS", "path": flow.request.path, "fault": fault, "from_client": from_client}
        self._log({**line, "status": None})

    def response(self, flow: http.HTTPFlow) -> None:
        self._log(
            {
                "method": flow.request.method,
                "path": flow.request.path,
                "fault": flow.metadata.get("fault", "forwarded"),
                "status": flow.response.status_code if flow.response else None,
            }
        )

    def _log(self, line: dict) -> None:
        log = ctx.options.faults_log
        if not log:
            return
        with self.lock, open(log, "a") as f:
            f.write(json.dumps(line) + "\n")


addons = [Faults()]

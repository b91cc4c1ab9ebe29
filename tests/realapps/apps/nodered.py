"""Node-RED (npm): a single-page editor behind its own sign-in dialog (shown at the same URL, no
redirect), a workspace full of icon buttons, trays that slide in, a welcome tour and an "update
notifications" question that pop up some seconds after signing in, a page that fetches the node
catalogue from the internet (unreachable here) and saves the user's settings in the background,
and sessions (bearer tokens) whose lifetime `sessionExpiryTime` sets.

Its store is the flow file: `flows.json` in the user dir, rewritten by every Deploy.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realapps.harness import install, process

PACKAGES = ["node-red@4.1.8"]  # 5.x needs Node.js 22; Debian 12 has 20
USERNAME = "admin"


@dataclass
class NodeRed:
    server: process.Server
    user_dir: Path
    username: str
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    # ------------------------------------------------------------------ its store
    def flows(self) -> list[dict[str, Any]]:
        path = self.user_dir / "flows.json"
        if not path.exists():
            return []
        data: list[dict[str, Any]] = json.loads(path.read_text() or "[]")
        return data

    def last_session_expiry(self) -> float:
        """When the most recent editor session ends (Unix time), from Node-RED's session store."""
        path = self.user_dir / ".sessions.json"
        sessions: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return max((s["expires"] / 1000 for s in sessions.values()), default=0.0)

    def tabs_named(self, label: str) -> int:
        """How many flow tabs with this label the deployed flows hold."""
        return sum(1 for node in self.flows() if node.get("type") == "tab" and node.get("label") == label)


def install_nodered() -> Path:
    return install.npm_env("node-red", PACKAGES)


def _hash(prefix: Path, password: str) -> str:
    """bcrypt, as Node-RED's adminAuth wants it, made with the bcryptjs Node-RED itself ships."""
    script = "process.stdout.write(require('bcryptjs').hashSync(process.argv[1], 8))"
    done = subprocess.run(
        ["node", "-e", script, password],
        cwd=prefix / "node_modules" / "node-red",
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def start(workdir: Path, *, session_seconds: int = 86400, port: int | None = None) -> NodeRed:
    """A fresh Node-RED in `workdir` (empty flows, a new admin password)."""
    prefix = install_nodered()
    user_dir = workdir / "userdir"
    user_dir.mkdir(parents=True, exist_ok=True)
    password = "nr-" + secrets.token_urlsafe(12)
    port = port or process.free_port()
    settings = {
        "uiHost": "127.0.0.1",
        "uiPort": port,
        "userDir": str(user_dir),
        "flowFile": "flows.json",
        "credentialSecret": secrets.token_hex(8),
        "adminAuth": {
            "type": "credentials",
            "sessionExpiryTime": session_seconds,
            "users": [{"username": USERNAME, "password": _hash(prefix, password), "permissions": "*"}],
        },
        "logging": {"console": {"level": "info"}},
    }
    settings_file = workdir / "settings.js"
    settings_file.write_text("module.exports = " + json.dumps(settings, indent=2) + ";\n")
    red = prefix / "node_modules" / "node-red" / "red.js"
    server = process.start(
        "node-red",
        ["node", str(red), "--settings", str(settings_file), "--userDir", str(user_dir)],
        port=port,
        log=workdir / "node-red.log",
        timeout=90,
    )
    return NodeRed(server, user_dir, USERNAME, password)

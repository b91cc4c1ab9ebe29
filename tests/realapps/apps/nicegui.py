"""NiceGUI (PyPI `nicegui`): a websocket-rendered UI framework. The application is ours — a
notes manager in `nicegui_app/main.py`, built as NiceGUI's examples build one (the documented
authentication middleware with `app.storage.user`, a table, an "Add" dialog, a delete button
with a confirmation dialog) — the framework is the real one, pinned.

After the page load everything goes over NiceGUI's Socket.IO websocket: typing, "Save",
"Delete". No HTTP request carries a write, so nothing but the application's own store can say
whether one happened.

A fresh instance per test module, in a temp workdir: a new SQLite file with an `admin` user
whose password is generated, NiceGUI's server-side user storage beside it, served on 127.0.0.1.
NiceGUI checks no Host or Origin against a configured address (Socket.IO only requires the
Origin to match the Host the browser used), so the same server can be reached directly and
through a fault proxy. The truth is the SQLite file, read-only: the notes (`notes_titled`) and
the app's activity table (`times`: how many adds and confirmed deletes reached the server).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.realapps.harness import install, process

VERSION = "3.18.0"
REQUIREMENTS = [f"nicegui=={VERSION}"]
MAIN = Path(__file__).with_name("nicegui_app") / "main.py"
ADMIN = "admin"


@dataclass(frozen=True)
class Note:
    id: int
    title: str
    body: str


@dataclass
class NiceGuiNotes:
    server: process.Server
    db: Path
    password: str
    started_in: float

    username = ADMIN

    @property
    def url(self) -> str:
        return self.server.url

    def notes_titled(self, title: str) -> list[Note]:
        """Every note with this title in the application's database."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)) as db:
            rows = db.execute("SELECT id, title, body FROM notes WHERE title = ? ORDER BY id", (title,))
            return [Note(int(i), t, b) for i, t, b in rows.fetchall()]

    def times(self, action: str, title: str) -> int:
        """How many times the app recorded `add` or (confirmed) `delete` of a note so titled."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM activity WHERE action = ? AND title = ?", (action, title)
            ).fetchone()
        return int(row[0])

    def log(self) -> str:
        """The server's output, with its connection log (`client ID connected|disconnected|deleted`)."""
        return self.server.log.read_text(errors="replace") if self.server.log.exists() else ""

    def newest_client(self) -> str:
        """The id of the client (browser tab) that connected last."""
        connected = [line.split()[1] for line in self.log().splitlines() if line.endswith(" connected")]
        assert connected, f"no client ever connected:\n{self.log()[-3000:]}"
        return connected[-1]

    def wait_for_log(self, words: str, *, after: int, timeout: float = 60) -> str:
        """The first line holding `words` written after offset `after` of the log (e.g. NiceGUI
        deleting a client that stayed away past its reconnect timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log()[after:].splitlines():
                if words in line:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"the app never logged {words!r}:\n{self.log()[after:][-3000:]}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.proc.wait(timeout=0.1)  # only the log tells; wake early if it dies

    def stop(self) -> None:
        self.server.stop()


def install_nicegui() -> Path:
    return install.pip_env("nicegui", REQUIREMENTS)


def start(workdir: Path) -> NiceGuiNotes:
    """A new notes database with an admin (generated password), served on a free port."""
    env = install_nicegui()
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "notes.db"
    python = str(env / "bin" / "python")
    environ = {
        "NOTES_DB": str(db),
        "NOTES_SECRET": secrets.token_urlsafe(24),  # signs the cookie tying a browser to its storage
        "NICEGUI_STORAGE_PATH": str(workdir / "storage"),
    }
    password = secrets.token_urlsafe(12)
    added = subprocess.run(
        [python, str(MAIN), "add-user", ADMIN],
        input=password + "\n",
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if added.returncode != 0:
        raise RuntimeError(f"add-user failed:\n{added.stdout}\n{added.stderr}")
    port = process.free_port()
    started = time.monotonic()
    server = process.start(
        "nicegui",
        [python, str(MAIN), "serve", "--port", str(port)],
        port=port,
        log=workdir / "nicegui.log",
        env=environ,
        cwd=workdir,
    )
    return NiceGuiNotes(server=server, db=db, password=password, started_in=time.monotonic() - started)

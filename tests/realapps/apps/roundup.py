"""Roundup (PyPI `roundup`): an issue tracker with classic server-rendered forms, each carrying a
CSRF token that Roundup checks together with the request's Origin, Referer and Host headers
against the tracker's configured web address.

A fresh tracker per test module: the `classic` template on SQLite, an `admin` user with a
generated password, served on 127.0.0.1 through Roundup's WSGI handler (`roundup_serve.py`:
`roundup-server` refuses to run as root). The tracker's `web` setting is the address the browser
uses, so a fault proxy in front means serving again with the proxy's address (`serve(public)`).

The classic template offers a "retire" button for users (on the user list) and for saved queries,
but none for issues: Roundup never deletes an item, it retires it (the row stays, marked, and
leaves every listing). The tracker here adds the same button to the issue page — the classic user
list's own form (`@action=retire` with its CSRF token), shown only to whoever may retire issues —
as a tracker's administrator customises its templates.

The truth is the tracker's own SQLite file, read-only (`issues_titled`), or `roundup-admin`.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.realapps.harness import install, process

VERSION = "2.6.0"
REQUIREMENTS = [f"roundup=={VERSION}"]
SERVE = Path(__file__).with_name("roundup_serve.py")
ADMIN = "admin"  # the user `roundup-admin initialise` creates

# Added to the classic issue page, before its history: the retire form of the classic user list.
RETIRE_FORM = """
<form method="POST" tal:condition="python:context.id and context.is_retire_ok()"
      tal:attributes="action string:issue${context/id}">
 <input type="hidden" name="@template" value="index">
 <input name="@csrf" type="hidden" tal:attributes="value python:utils.anti_csrf_nonce()">
 <input type="hidden" name="@action" value="retire">
 <input type="submit" value="retire" i18n:attributes="value">
</form>
"""
HISTORY = '<tal:block tal:condition="context/id" tal:replace="structure context/history" />'


@dataclass(frozen=True)
class Issue:
    id: int
    title: str
    retired: bool


@dataclass
class Roundup:
    env: Path  # the virtualenv Roundup is installed in
    home: Path  # the tracker's directory
    password: str  # the admin's, generated
    port: int  # where Roundup itself listens
    server: process.Server | None = None
    public: str = ""  # the address the browser uses (the tracker's `web`)
    started_in: float = 0.0

    username = ADMIN

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.home / "db" / "db"

    # ------------------------------------------------------------------ running it
    def serve(self, public: str | None = None) -> str:
        """Serve the tracker for `public` (default: its own address); returns that URL. The
        server restarts only when the address changes (Roundup reads `web` once)."""
        public = (public or self.upstream).rstrip("/")
        if self.server is not None and self.public == public:
            return public
        self.stop()
        _set_option(self.home / "config.ini", "web", f"{public}/")
        started = time.monotonic()
        self.server = process.start(
            "roundup",
            # -P: the script's folder holds this module, whose name would shadow the package.
            [str(self.env / "bin" / "python"), "-P", str(SERVE), str(self.home), str(self.port)],
            port=self.port,
            log=self.home.parent / "roundup.log",
        )
        self.started_in = time.monotonic() - started
        self.public = public
        return public

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # ------------------------------------------------------------------ the truth
    def issues_titled(self, title: str) -> list[Issue]:
        """Every issue with this title in the tracker's database, retired ones included."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)) as db:
            rows = db.execute(
                "SELECT id, _title, __retired__ FROM _issue WHERE _title = ? ORDER BY id", (title,)
            ).fetchall()
        return [Issue(int(i), t, bool(r)) for i, t, r in rows]

    def times_retired(self, issue_id: int) -> int:
        """How many times the issue was retired, from Roundup's own journal of the issue."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM issue__journal WHERE nodeid = ? AND action = 'retired'", (issue_id,)
            ).fetchone()
        return int(row[0])

    def admin(self, *args: str) -> str:
        """`roundup-admin -i TRACKER ARGS…` (its output)."""
        done = subprocess.run(
            [str(self.env / "bin" / "roundup-admin"), "-i", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"roundup-admin {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout


def install_roundup() -> Path:
    return install.pip_env("roundup", REQUIREMENTS)


def create(workdir: Path) -> Roundup:
    """A new tracker (classic template, SQLite) with an admin whose password is generated; not
    served yet (`serve`)."""
    env = install_roundup()
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "tracker"
    admin = str(env / "bin" / "roundup-admin")
    _check([admin, "-i", str(home), "install", "classic", "sqlite"])
    config = home / "config.ini"
    port = process.free_port()
    _set_option(config, "web", f"http://127.0.0.1:{port}/")
    _set_option(config, "domain", "localhost")  # [mail]: Roundup will not start without one
    page = home / "html" / "issue.item.html"
    text = page.read_text()
    assert HISTORY in text, "the classic issue page changed: place the retire form again"
    page.write_text(text.replace(HISTORY, RETIRE_FORM + HISTORY))
    password = secrets.token_urlsafe(12)
    _check([admin, "-i", str(home), "initialise", password])
    return Roundup(env=env, home=home, password=password, port=port)


def _set_option(config: Path, name: str, value: str) -> None:
    """Set `name = value` in Roundup's config.ini, where the option is written (or commented
    out, `#name = …`) once per section; names used here are unique in the file."""
    lines = config.read_text().splitlines()
    hits = [i for i, line in enumerate(lines) if line.lstrip("#").split("=")[0].strip() == name]
    assert len(hits) == 1, f"{name} is not a unique option of {config}"
    lines[hits[0]] = f"{name} = {value}"
    config.write_text("\n".join(lines) + "\n")


def _check(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}… failed:\n{done.stdout}\n{done.stderr}")

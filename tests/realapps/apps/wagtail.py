"""Wagtail (PyPI, a Django CMS): its admin's page editor is a rich, script-heavy form (the slug is
derived from the title by the page's own Stimulus controllers; autosave posts the form in the
background), its dashboard fetches Wagtail's release feed from the internet (unreachable here),
and deleting a page goes through a confirmation page.

Served by Django's `runserver --noreload --insecure` with DEBUG off: DEBUG off gives the
production behaviour that matters to a browser (real error pages instead of tracebacks, the host
checked against ALLOWED_HOSTS, CSRF failures answered 403 as in production), and `--insecure`
serves the static files from the installed packages without a `collectstatic` copy per instance.
It runs as root here without complaint. The migrated database (11 s of migrations) is built once
per installed version and copied for each instance; each instance gets its own superuser with a
generated password.

Truth is read from the instance's SQLite file, opened read-only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realapps.harness import install, process

VERSION = "8.0.1"
REQUIREMENTS = [f"wagtail=={VERSION}"]
USERNAME = "editor"
HOME_PAGE_ID = 3  # the home page `wagtail start` creates (its id in every fresh database)


def install_wagtail() -> Path:
    return install.pip_env("wagtail", REQUIREMENTS)


def _template(env_dir: Path) -> Path:
    """A project made by `wagtail start` with its database migrated, built once per install."""

    def build(target: Path) -> None:
        log = target / "build.log"
        project = target / "site"
        project.mkdir()
        python = str(env_dir / "bin" / "python")
        with open(log, "ab") as out:
            for argv in (
                [str(env_dir / "bin" / "wagtail"), "start", "mysite", str(project)],
                [python, "manage.py", "migrate", "--noinput", "-v0"],
            ):
                done = subprocess.run(argv, cwd=project, stdout=out, stderr=subprocess.STDOUT, timeout=300)
                if done.returncode != 0:
                    raise install.InstallError(f"{argv[1]} failed:\n{log.read_text()[-3000:]}")

    return install.derived("wagtail-site", [str(env_dir)], build) / "site"


_LOCAL_SETTINGS = """\
# Written by the real-apps suite for this instance.
DEBUG = False
SECRET_KEY = {secret_key!r}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = {origins!r}
WAGTAILADMIN_BASE_URL = {public_url!r}
SESSION_COOKIE_AGE = {session_age}
SESSION_SAVE_EVERY_REQUEST = True  # an idle timeout: a session lapses only when left unused
# Django's advice for test instances: a sign-in costs milliseconds instead of ~1 s of PBKDF2 on
# a busy 2-core machine (the suite signs in some twenty times); nothing here tests hashing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
"""


@dataclass
class Wagtail:
    server: process.Server
    workdir: Path
    password: str
    username: str = USERNAME

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def db(self) -> Path:
        return self.workdir / "db.sqlite3"

    def stop(self) -> None:
        self.server.stop()

    # ------------------------------------------------------------------ the truth
    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        uri = f"file:{self.db}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            return db.execute(sql, args).fetchall()

    def pages_titled(self, title: str) -> list[Page]:
        """Every page with this title (any parent, live or draft), with its revisions."""
        rows = self._read(
            "SELECT p.id, p.title, p.slug, p.live, p.url_path,"
            " (SELECT COUNT(*) FROM wagtailcore_revision r"
            "   WHERE r.object_id = CAST(p.id AS TEXT) AND r.content_type_id = p.content_type_id)"
            " FROM wagtailcore_page p WHERE p.title = ? ORDER BY p.id",
            (title,),
        )
        return [Page(int(i), str(t), str(s), bool(live), str(u), int(n)) for i, t, s, live, u, n in rows]

    def history(self, title: str) -> list[str]:
        """What Wagtail's own audit log says was done to pages with this title, in order
        (`wagtail.create`, `wagtail.publish`, `wagtail.delete`…); it outlives the page."""
        rows = self._read("SELECT action FROM wagtailcore_pagelogentry WHERE label = ? ORDER BY id", (title,))
        return [str(r[0]) for r in rows]

    def children_of_home(self) -> list[str]:
        rows = self._read(
            "SELECT title FROM wagtailcore_page WHERE path LIKE ("
            " SELECT path FROM wagtailcore_page WHERE id = ?) || '____' ORDER BY path",
            (HOME_PAGE_ID,),
        )
        return [str(r[0]) for r in rows]

    def sessions_alive(self) -> int:
        """Sessions the site still accepts (not yet past their expiry date)."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        return int(self._read("SELECT COUNT(*) FROM django_session WHERE expire_date > ?", (now,))[0][0])

    def last_session_expiry(self) -> dt.datetime | None:
        row = self._read("SELECT MAX(expire_date) FROM django_session")[0][0]
        if row is None:
            return None
        return dt.datetime.fromisoformat(str(row)).replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Page:
    id: int
    title: str
    slug: str
    live: bool
    url_path: str
    revisions: int


def start(workdir: Path, *, public_urls: list[str] | None = None, session_age: int = 1209600) -> Wagtail:
    """A fresh Wagtail instance on a free port: a copy of the migrated template, its own secret
    key and superuser. `public_urls`: addresses the browser may use besides the server's own (a
    fault proxy in front), trusted as CSRF origins; `session_age`: seconds a session may stay
    unused (SESSION_COOKIE_AGE, renewed by every request)."""
    env_dir = install_wagtail()
    template = _template(env_dir)
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(template, workdir, ignore=shutil.ignore_patterns("build.log"))
    port = process.free_port()
    own = f"http://127.0.0.1:{port}"
    (workdir / "mysite" / "settings" / "local.py").write_text(
        _LOCAL_SETTINGS.format(
            secret_key=secrets.token_urlsafe(50),
            origins=[own, *(public_urls or [])],
            public_url=(public_urls or [own])[0],
            session_age=int(session_age),
        )
    )
    python = str(env_dir / "bin" / "python")
    password = "wt-" + secrets.token_urlsafe(18)
    env = {
        "DJANGO_SETTINGS_MODULE": "mysite.settings.dev",
        "DJANGO_SUPERUSER_PASSWORD": password,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    created = subprocess.run(
        [
            python,
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            USERNAME,
            "--email",
            "editor@example.com",
        ],
        cwd=workdir,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if created.returncode != 0:
        raise process.StartError(f"wagtail createsuperuser failed:\n{created.stdout}\n{created.stderr}")
    env.pop("DJANGO_SUPERUSER_PASSWORD")
    server = process.start(
        "wagtail",
        [python, "manage.py", "runserver", "--noreload", "--insecure", f"127.0.0.1:{port}"],
        port=port,
        log=workdir / "server.log",
        ready_path="/admin/login/",
        env=env,
        cwd=workdir,
    )
    return Wagtail(server, workdir, password)

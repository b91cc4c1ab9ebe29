"""JupyterLab (PyPI): a large single-page application — a file browser with context menus and
animated modal dialogs ("Rename file" on a file's first save, the "Delete" confirmation), an
editor that is a CodeMirror `contenteditable`, a websocket to the server's event stream, and
background requests of its own (the workspace layout PUT every ~10 s; the news feed, which
jupyterlab_server fetches from jupyter.org and fails here, as it does offline). Its sign-in page
is server-rendered: a password form with an `_xsrf` field, at `/login`.

Started as `jupyter lab --allow-root` (it runs as root when told so) with everything it reads
and writes kept in the instance's workdir: its config (`jupyter_server_config.json`: a hashed
password, no token, no browser), its runtime files and the files it serves (`root_dir`).
Deleting in the file browser is set to delete (`FileContentsManager.delete_to_trash: false`):
as shipped it moves the file to the OS trash and its menu says "Move to Trash"; the tests need
the permanent "Delete" and its confirmation dialog. The announcements extension is kept as
shipped: its "official Jupyter news?" toast shows, its feed request fails offline.

Nothing needs to know the address the browser uses (a fault proxy in front keeps the Host
header): jupyter_server compares a request's Origin with its Host, and accepts any port on
127.0.0.1.

The session is a signed cookie minted at sign-in, never renewed: `session_age` limits it in
the browser (`cookie_options.expires_days`) and on the server (`get_secure_cookie_kwargs
.max_age_days`: an older cookie is refused with 403 on every API call).

Truth is read from the files under `root_dir` and from the server's own log: every delete
the contents API carried out, every sign-in with its time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.realapps.harness import install, process

VERSION = "4.6.6"
REQUIREMENTS = [f"jupyterlab=={VERSION}"]
DAY_S = 86400


def install_jupyterlab() -> Path:
    return install.pip_env("jupyterlab", REQUIREMENTS)


# `[I 2026-12-02 14:28:53.100 ServerApp] 302 POST /login?next=%2Flab (…@127.0.0.1) 213.17ms`
_LOGGED = re.compile(r"^\[\w (\S+ \S+) \w+\] (\d{3}) ([A-Z]+) (\S+) \(")


@dataclass(frozen=True)
class Logged:
    at: dt.datetime
    status: int
    method: str
    path: str


@dataclass
class JupyterLab:
    server: process.Server
    workdir: Path
    password: str
    session_age: float | None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def root(self) -> Path:
        """The directory the file browser shows (`ServerApp.root_dir`)."""
        return self.workdir / "files"

    def stop(self) -> None:
        self.server.stop()

    def forget_layout(self) -> None:
        """Drop the saved workspace (open tabs, the file browser's state), as `/lab?reset`
        would: JupyterLab reopens the last layout on every visit, so one test's editor tabs
        would otherwise greet the next one."""
        for saved in (self.workdir / "home" / "config" / "lab" / "workspaces").glob("*"):
            saved.unlink()

    # ------------------------------------------------------------------ the truth
    def files(self) -> list[str]:
        """The names the file browser lists at its top level (hidden ones excluded, as it does)."""
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith("."))

    def read(self, name: str) -> str | None:
        """The text of the file `name`, or None when there is none."""
        path = self.root / name
        return path.read_text() if path.is_file() else None

    def logged(self) -> list[Logged]:
        """What the server logged of the requests it answered 3xx or worse (it logs 2xx only in
        debug mode): sign-ins, refusals, errors."""
        found = []
        for line in self.server.log.read_text(errors="replace").splitlines():
            m = _LOGGED.match(line)
            if m:
                at = dt.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S.%f")
                found.append(Logged(at, int(m[2]), m[3], m[4]))
        return found

    def signed_in_at(self) -> list[dt.datetime]:
        """When each session was created: a password accepted (`POST /login` → 302)."""
        logged = self.logged()
        return [
            e.at for e in logged if e.method == "POST" and e.path.startswith("/login") and e.status == 302
        ]

    def deletes(self, name: str) -> int:
        """How many times the server deleted `name` (at the top of the root): its contents API
        logs `delete /NAME` for every delete it carries out, a second one for a file already
        gone too (before answering it 404)."""
        line = f"] delete /{name}"
        return sum(
            1 for text in self.server.log.read_text(errors="replace").splitlines() if text.endswith(line)
        )


def _config(password_hash: str, root: Path, port: int, session_age: float | None) -> dict[str, object]:
    provider: dict[str, object] = {"hashed_password": password_hash, "token": ""}
    if session_age is not None:
        days = session_age / DAY_S
        provider["cookie_options"] = {"expires_days": days}
        provider["get_secure_cookie_kwargs"] = {"max_age_days": days}
    return {
        "ServerApp": {
            "ip": "127.0.0.1",
            "port": port,
            "port_retries": 0,
            "open_browser": False,
            "allow_root": True,
            "root_dir": str(root),
        },
        "PasswordIdentityProvider": provider,
        "FileContentsManager": {"delete_to_trash": False},
    }


def start(workdir: Path, *, session_age: float | None = None) -> JupyterLab:
    """A fresh JupyterLab on a free port serving an empty directory, with a generated password
    (stored hashed in its config). `session_age`: seconds a sign-in lasts (default: tornado's
    30 days)."""
    env_dir = install_jupyterlab()
    python = str(env_dir / "bin" / "python")
    password = "jl-" + secrets.token_urlsafe(18)
    hashed = subprocess.run(
        [python, "-c", "import sys; from jupyter_server.auth import passwd; print(passwd(sys.stdin.read()))"],
        input=password,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    home = workdir / "home"
    for sub in ("config", "data", "runtime"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    root = workdir / "files"
    root.mkdir(parents=True, exist_ok=True)
    port = process.free_port()
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps(_config(hashed, root, port, session_age), indent=2)
    )
    env = {
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "PYTHONDONTWRITEBYTECODE": "1",
        # A token from the environment would be accepted besides the password.
        "JUPYTER_TOKEN": "",
        "JUPYTER_TOKEN_FILE": "",
    }
    server = process.start(
        "jupyterlab",
        [str(env_dir / "bin" / "jupyter"), "lab"],
        port=port,
        log=workdir / "server.log",
        ready_path="/login",
        env=env,
        cwd=workdir,
    )
    return JupyterLab(server, workdir, password, session_age)

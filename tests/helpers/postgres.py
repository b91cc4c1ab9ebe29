"""A throw-away PostgreSQL cluster for tests: `with postgres_cluster() as pg: Database(pg.url)`.

The server binaries come from `FLIGHTDECK_PG_BINDIR`, else the highest `/usr/lib/postgresql/*/bin`
(Debian's `postgresql` package), else `initdb` on PATH. `postgres` refuses to run as root, so as
root the cluster runs as an unprivileged user (`nobody`) in a temp dir that user owns. It listens
on 127.0.0.1 only, on a free port, with its unix socket inside the temp dir; it is stopped
(`pg_ctl stop -m immediate`) and its directory removed on exit.

One cluster serves many tests: `create_database()` gives each test a fresh, empty database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import URL

APT_INSTALL = "apt-get update && apt-get install -y postgresql"
UNPRIVILEGED_USER = "nobody"
SUPERUSER = "flightdeck"
DEFAULT_DATABASE = "flightdeck"
START_ATTEMPTS = 5  # a free port can be taken between choosing it and the server binding it


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server to start. `installable`: a set-up step could fix that here."""

    def __init__(self, message: str, *, installable: bool) -> None:
        super().__init__(message)
        self.installable = installable


def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_postgres_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    env = os.environ.get("FLIGHTDECK_PG_BINDIR")
    if env:
        return Path(env)
    found = [str(Path(p).parent) for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if found:
        return Path(max(found, key=_version_key))
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def require_postgres() -> Path:
    """The server's bindir, or PostgresUnavailable saying whether installing could fix it."""
    try:
        import psycopg  # noqa: F401  (the driver the URLs name)
    except ImportError as exc:
        raise PostgresUnavailable(
            "psycopg is not installed: pip install 'psycopg[binary]>=3.2' (in the dev extra)",
            installable=True,
        ) from exc
    bindir = find_postgres_bindir()
    if bindir is None or not (bindir / "initdb").is_file() or not (bindir / "pg_ctl").is_file():
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries (looked in FLIGHTDECK_PG_BINDIR, "
            f"/usr/lib/postgresql/*/bin, PATH); install them with: {APT_INSTALL}",
            installable=_can_install(),
        )
    return bindir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _traversable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether `uid` can reach entries of `path` (x permission on it and every parent)."""
    for part in (path, *path.parents):
        st = part.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


@dataclass(frozen=True)
class PostgresCluster:
    bindir: Path
    base_dir: Path  # owned by the server's user; holds data/, the socket and the log
    port: int
    password: str
    host: str = "127.0.0.1"
    user: str = SUPERUSER

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of `database` on this cluster."""
        url = URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=database,
        )
        return url.render_as_string(hide_password=False)

    @property
    def url(self) -> str:
        """The `flightdeck` database created with the cluster."""
        return self.url_for(DEFAULT_DATABASE)

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """CREATE DATABASE (a unique name unless given), a copy of `template` if given; returns
        its SQLAlchemy URL. A template a client just left (a killed process's backend ends a
        moment after it) is waited for."""
        import psycopg
        from psycopg import sql

        name = name or f"fd_{uuid4().hex[:16]}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with self._admin() as conn:
            for _ in range(100):
                try:
                    conn.execute(query)
                    break
                except psycopg.errors.ObjectInUse:
                    conn.execute("SELECT pg_sleep(0.1)")  # until the old backend has exited
            else:
                raise RuntimeError(f"database {template} stayed in use")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE, closing any connection a test left open (PostgreSQL >= 13)."""
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _runner(base_dir: Path) -> tuple[dict[str, Any], int, int]:
    """subprocess keyword arguments running a command as the server's user, and that uid/gid."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "LANG": "C",
        "HOME": str(base_dir),
        "TZ": "UTC",
    }
    kwargs: dict[str, Any] = {"cwd": base_dir, "env": env, "capture_output": True, "text": True}
    if os.geteuid() != 0:
        return kwargs, os.geteuid(), os.getegid()
    pw = pwd.getpwnam(UNPRIVILEGED_USER)
    # Drop root's supplementary groups too, not only the uid.
    kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    return kwargs, pw.pw_uid, pw.pw_gid


def _make_base_dir() -> Path:
    """A private temp dir; as root, owned by the unprivileged user (who must be able to reach it)."""
    parent = Path(tempfile.gettempdir())
    if os.geteuid() == 0:
        pw = pwd.getpwnam(UNPRIVILEGED_USER)
        if not _traversable_by(parent, pw.pw_uid, pw.pw_gid):
            parent = Path("/tmp")
        base = Path(tempfile.mkdtemp(prefix="flightdeck-pg-", dir=parent))
        os.chown(base, pw.pw_uid, pw.pw_gid)
    else:
        base = Path(tempfile.mkdtemp(prefix="flightdeck-pg-", dir=parent))
    base.chmod(0o700)
    return base


def _check(proc: subprocess.CompletedProcess[str], what: str, log: Path | None = None) -> None:
    if proc.returncode == 0:
        return
    details = proc.stdout + proc.stderr
    if log is not None and log.is_file():
        details += "\n--- server log ---\n" + log.read_text(errors="replace")[-4000:]
    raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{details}")


@contextlib.contextmanager
def postgres_cluster(*, start_timeout_s: int = 60) -> Iterator[PostgresCluster]:
    """Start a fresh cluster with a `flightdeck` database; stop and delete it on exit."""
    bindir = require_postgres()
    base = _make_base_dir()
    run_as, _uid, _gid = _runner(base)
    data = base / "data"
    password = secrets.token_hex(16)
    try:
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        os.chown(pwfile, _uid, _gid)
        pwfile.chmod(0o600)
        initdb = [
            str(bindir / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",  # the socket lives in a 0700 dir: only this user reaches it
            "--auth-host=scram-sha-256",  # TCP needs the password, as a real deployment would
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        _check(subprocess.run(initdb, **run_as), "initdb")
        pwfile.unlink()

        cluster: PostgresCluster | None = None
        for _attempt in range(START_ATTEMPTS):
            port = _free_port()
            options = " ".join(
                shlex.quote(o)
                for o in (
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-p",
                    str(port),
                    "-c",
                    f"unix_socket_directories={base}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                )
            )
            log = base / "server.log"
            start = [
                str(bindir / "pg_ctl"),
                "--pgdata",
                str(data),
                "--log",
                str(log),
                "--wait",  # returns once the server accepts connections (or failed to start)
                f"--timeout={start_timeout_s}",
                "-o",
                options,
                "start",
            ]
            proc = subprocess.run(start, **run_as)
            if proc.returncode == 0:
                cluster = PostgresCluster(bindir=bindir, base_dir=base, port=port, password=password)
                break
            text = log.read_text(errors="replace") if log.is_file() else ""
            if "could not bind" not in text and "already in use" not in text:
                _check(proc, "pg_ctl start", log)
            log.unlink(missing_ok=True)
        if cluster is None:
            raise RuntimeError(f"pg_ctl start: no free port after {START_ATTEMPTS} attempts")
        cluster.create_database(DEFAULT_DATABASE)
        yield cluster
    finally:
        # Also after a failed or timed-out start: a postmaster.pid means a server may be running.
        if (data / "postmaster.pid").exists():
            stop = [str(bindir / "pg_ctl"), "--pgdata", str(data), "--mode=immediate", "--wait", "stop"]
            subprocess.run(stop, **run_as, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def postgres_or_skip() -> None:
    """For pytest: skip when no server can be had here, fail when a set-up step could fix it
    (CI installs the server, so a missing one there is a broken set-up, not a reason to skip)."""
    import pytest

    try:
        require_postgres()
    except PostgresUnavailable as exc:
        if exc.installable or os.environ.get("FLIGHTDECK_TEST_STRICT"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))

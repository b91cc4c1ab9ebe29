"""Opening the database: where it lives, connection settings, migrations, sessions."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from app.store import commits

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Execution option on a session's engine: its transactions only read (see _begin_sqlite).
_READONLY = "flightdeck_readonly"

# PostgreSQL advisory lock key taken while migrating (any constant; b"fdmg" as an integer).
_MIGRATION_LOCK = 0x66646D67


def default_data_dir() -> Path:
    env = os.environ.get("FLIGHTDECK_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("flightdeck"))


def default_database_url() -> str:
    env = os.environ.get("FLIGHTDECK_DATABASE_URL")
    if env:
        return env
    data_dir = default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'flightdeck.db'}"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module (which only begins before DML) so _begin_sqlite
    # decides how each transaction starts; this also makes SAVEPOINT and DDL transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # First, so that even switching a new file to WAL waits for a concurrent opener.
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so a committed transition survives
        # kill -9 and power loss (G1). NORMAL would only survive a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_sqlite(conn: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
    # another process committed in between (busy_timeout cannot help). Taking the write lock
    # at BEGIN makes read-then-write sequences (event seq, handoff answers, leases) serialise
    # across processes instead. Read-only sessions keep a deferred BEGIN and never block writers.
    if conn.get_execution_options().get(_READONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One database: the engine, its migrations, and sessions on it.

    Use a session per unit of work and commit once::

        with db.session() as s, s.begin():
            ...  # commits on success, rolls back on error
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_database_url()
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(self.url)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _begin_sqlite)
        # No autobegin: on SQLite a write transaction holds the database's only write lock,
        # and one opened silently by a read and left open across an `await` would stall every
        # other writer for busy_timeout. Transactions must be visible: `with s.begin():`.
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False, autobegin=False)
        commits.install(self._sessions)  # every write transaction is a crash point
        self._read_sessions = sessionmaker(
            bind=self.engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )
        if migrate and not self._at_head():
            try:
                self.upgrade()
            except BaseException:
                self.engine.dispose()
                raise

    def _at_head(self) -> bool:
        """Whether the schema is already current, without importing Alembic (~0.4 s of the
        console's cold start): one read of alembic_version against the newest migration file."""
        try:
            with self.engine.connect() as conn:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # no table yet (a new database) or unreadable: let Alembic decide
            return False
        return current is not None and current == head_revision()

    def upgrade(self, revision: str = "head") -> None:
        """Run Alembic migrations up to `revision`, in one transaction."""
        from alembic import command

        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Processes opening one shared database at once (workers, consoles) would all run
                # the same migration and all but one fail. Held until commit: the others wait,
                # then find the schema current. (SQLite: BEGIN IMMEDIATE serialises them already.)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            command.upgrade(alembic_config(conn), revision)

    def session(self, *, readonly: bool = False) -> Session:
        """A new Session (expire_on_commit=False, so objects stay usable after commit).

        Every transaction is explicit (`with s.begin():`) and takes the write lock on SQLite.
        `readonly=True` for views and listings: it begins by itself on first use and never
        takes the write lock, so it never makes a writer wait (close it when done).
        """
        return self._read_sessions() if readonly else self._sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"


def head_revision() -> str:
    """The newest migration's revision: files are named `NNNN_what.py` with revision "NNNN"
    (tests/unit/store/test_migrations.py checks this against Alembic's own view)."""
    names = [p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py")]
    return max(names)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config without an ini file, pointing inside the package (works installed)."""
    from alembic.config import Config

    cfg = Config()
    # Config values go through configparser interpolation: a '%' in the path must be doubled.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.store import Database
from app.store.models import Base

TABLES = {
    "runs",
    "steps",
    "attempts",
    "events",
    "handoffs",
    "artifacts",
    "session_profiles",
    "learned_targets",
}


def test_migrations_create_the_schema_and_record_head(db: Database) -> None:
    with db.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= TABLES
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0004"


def test_migrated_schema_matches_the_models(db: Database) -> None:
    # What `alembic check` does: a model change without a migration shows up here as a diff.
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_reopening_an_existing_database_keeps_its_data(db_url: str) -> None:
    first = Database(db_url)
    with first.session() as s, s.begin():
        s.execute(
            text(
                "INSERT INTO artifacts VALUES ('a', 'image/png', 1, 'screenshot', "
                "'2024-01-01 00:00:00.000000')"
            )
        )
    first.dispose()
    second = Database(db_url)
    try:
        with second.session(readonly=True) as s:
            assert s.scalar(text("SELECT count(*) FROM artifacts")) == 1
    finally:
        second.dispose()


def test_connection_settings(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def test_database_creates_missing_parent_directory(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "fd.db"
    db = Database(f"sqlite:///{target}")
    db.dispose()
    assert target.is_file()


def test_a_database_at_the_first_schema_upgrades_to_learned_targets(db_url: str) -> None:
    # A database created by an earlier release (schema 0001) gains the new table on open.
    first = Database(db_url, migrate=False)
    first.upgrade("0001")
    with first.engine.connect() as conn:
        assert "learned_targets" not in inspect(conn).get_table_names()
    first.dispose()
    second = Database(db_url)
    try:
        with second.engine.connect() as conn:
            assert "learned_targets" in inspect(conn).get_table_names()
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
    finally:
        second.dispose()


def test_the_fast_head_check_agrees_with_alembic() -> None:
    # Opening a current database skips Alembic entirely (console cold start); that shortcut is
    # only right while the newest file's revision is what Alembic calls head.
    from alembic.script import ScriptDirectory

    from app.store.db import alembic_config, head_revision

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == head_revision()


def test_an_outdated_database_is_still_migrated_on_open(db_url: str) -> None:
    first = Database(db_url, migrate=False)
    first.upgrade("0002")
    first.dispose()
    again = Database(db_url)
    with again.engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
        assert "ix_runs_updated_at" in {i["name"] for i in inspect(conn).get_indexes("runs")}
    again.dispose()


def test_runs_of_an_older_database_get_their_kind_from_the_snapshot(db_url: str) -> None:
    # 0004: a run's kind is a column; before, an open run was known by `open: true` in its
    # snapshot (written first by an agent's start_run, or in a task file).
    first = Database(db_url, migrate=False)
    first.upgrade("0003")
    snapshots = {
        "agent": "name: agent\nsite: http://x.test\nopen: true\nsteps: []\n",
        "first": "open: true\nname: first\nsteps: []\n",
        "file": "name: plain\nsteps:\n- goto: http://x.test/\n",
        "closed": "name: closed\nopen: false\nsteps:\n- goto: http://x.test/\n",
        "quoted": "name: 'open: true'\nsteps:\n- goto: http://x.test/\n",
        "broken": "name: [unclosed\nopen: true\n",
    }
    with first.engine.begin() as conn:
        for run_id, snapshot in snapshots.items():
            conn.execute(
                text(
                    "INSERT INTO runs (id, task_name, task_text, inputs, status, checkpoint, step_count,"
                    " created_at, updated_at, version) VALUES (:id, :id, :text, '{}', 'queued', '{}', 0,"
                    " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 0)"
                ),
                {"id": run_id, "text": snapshot},
            )
    first.dispose()
    second = Database(db_url)
    try:
        with second.engine.connect() as conn:
            kinds = {run_id: kind for run_id, kind in conn.execute(text("SELECT id, kind FROM runs"))}
            assert "ix_steps_run_id_step_id" in {i["name"] for i in inspect(conn).get_indexes("steps")}
        assert kinds == {
            "agent": "open",
            "first": "open",
            "file": "task",
            "closed": "task",
            "quoted": "task",
            "broken": "task",
        }
    finally:
        second.dispose()

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import InvalidRequestError

from app.store import Database, default_data_dir, default_database_url


def test_default_locations_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLIGHTDECK_DATABASE_URL", raising=False)
    monkeypatch.setenv("FLIGHTDECK_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    assert default_database_url() == f"sqlite:///{tmp_path / 'data' / 'flightdeck.db'}"
    assert (tmp_path / "data").is_dir()
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", "postgresql://u@h/db")
    assert default_database_url() == "postgresql://u@h/db"


def test_database_without_url_uses_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLIGHTDECK_DATABASE_URL", raising=False)
    monkeypatch.setenv("FLIGHTDECK_DATA_DIR", str(tmp_path))
    with Database() as db:
        assert db.url == f"sqlite:///{tmp_path / 'flightdeck.db'}"
    assert (tmp_path / "flightdeck.db").is_file()


def test_write_sessions_need_an_explicit_transaction(db: Database) -> None:
    # A transaction opened implicitly and left open would hold SQLite's write lock.
    with db.session() as s, pytest.raises(InvalidRequestError, match="Autobegin is disabled"):
        s.execute(text("SELECT 1"))

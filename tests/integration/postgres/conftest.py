"""PostgreSQL fixtures: one throw-away cluster per test session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import make_url

from app.store import Database
from tests.helpers.postgres import PostgresCluster, postgres_cluster, postgres_or_skip


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    postgres_or_skip()
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> Iterator[str]:
    """The URL of a new, empty database (not migrated yet)."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(str(make_url(url).database))


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    yield database
    database.dispose()

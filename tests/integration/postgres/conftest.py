"""PostgreSQL fixtures: one throw-away cluster per test session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import make_url

from app.store import Database
from tests.helpers.postgres import PostgresCluster, postgres_cluster, postgres_or_skip
from tests.helpers.site import hostile_site_module


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


@pytest.fixture
def site() -> Iterator[Any]:
    server = hostile_site_module().HostileSite(delay_ms=300)
    server.start(host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        server.stop()

"""The crash matrix on PostgreSQL (G1, G3): the same task, the same points (found by tracing the
commits of a clean run against this server), the same judgement as on SQLite
(tests/integration/cli/test_crash_matrix.py). Each lane has a database of its own; a case
starts from a copy (CREATE DATABASE … TEMPLATE) of the point its lane saved."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from tests.helpers import crashmatrix
from tests.helpers.cli import Cli
from tests.helpers.postgres import PostgresCluster
from tests.integration.cli.test_crash_matrix import MIN_CASES, WORKERS


class PostgresStore:
    def __init__(self, cluster: PostgresCluster, home: Path) -> None:
        self.cluster = cluster
        self.home = home
        self.name = f"fd_{uuid4().hex[:16]}"
        self.url = cluster.create_database(self.name)
        self._saved: list[str] = []
        home.mkdir(parents=True)

    def save(self) -> tuple[str, Path]:
        name = f"{self.name}_s{len(self._saved)}"
        self.cluster.create_database(name, template=self.name)
        self._saved.append(name)
        copy = self.home.with_name(f"{self.home.name}-{name}")
        shutil.copytree(self.home, copy)  # the artifacts the database refers to
        return name, copy

    def load(self, saved: tuple[str, Path]) -> None:
        name, copy = saved
        self.cluster.drop_database(self.name)
        self.cluster.create_database(self.name, template=name)
        shutil.rmtree(self.home)
        shutil.copytree(copy, self.home)

    def close(self) -> None:
        for name in [self.name, *self._saved]:
            self.cluster.drop_database(name)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_commit_is_a_crash_point_that_loses_nothing_on_postgres(
    tmp_path: Path, postgres: PostgresCluster, record_property: Callable[[str, object], None]
) -> None:
    @contextmanager
    def postgres_world(where: Path) -> Iterator[Any]:
        store = PostgresStore(postgres, where / "home")
        cli = Cli(store.home)
        cli.db_url = store.url
        cli.env["FLIGHTDECK_DATABASE_URL"] = store.url
        try:
            with crashmatrix.hostile_site() as site:
                task = where / "task.yaml"
                task.write_text(crashmatrix.TASK.format(site=site.base_url))
                yield crashmatrix.World(cli, site, store, task)
        finally:
            store.close()

    matrix = crashmatrix.Matrix(postgres_world, tmp_path)
    cases = matrix.cases()
    outcomes = matrix.run_all(cases, WORKERS)
    report = crashmatrix.render("PostgreSQL", outcomes)
    record_property("crash_matrix", report)  # printed at the end of the run (tests/conftest.py)
    print(report)
    assert len(cases) >= MIN_CASES, report
    assert all(o.ok for o in outcomes), report

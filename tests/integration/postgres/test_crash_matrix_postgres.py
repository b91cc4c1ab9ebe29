"""The crash matrix on PostgreSQL (G1, G3): the same task, the same points (found by tracing the
commits of a clean run against this server), the same judgement as on SQLite
(tests/integration/cli/test_crash_matrix.py). Each lane has a database of its own; a case
starts from a copy (CREATE DATABASE … TEMPLATE) of the point its lane saved."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from tests.helpers import crashmatrix
from tests.helpers.postgres import PostgresCluster


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_commit_is_a_crash_point_that_loses_nothing_on_postgres(
    tmp_path: Path, postgres: PostgresCluster, record_property: Callable[[str, object], None]
) -> None:
    world = partial(crashmatrix.postgres_world, postgres)
    crashmatrix.check("PostgreSQL", world, tmp_path, record_property)

"""The crash matrix on SQLite (G1, G3): `kill -9` before and after every commit the engine makes,
for a task that signs in, writes (a form whose answer redirects to the new issue's page), reads
and deletes (irreversible, approved), and at every commit of the recovery that settles an
action in doubt. tests/helpers/crashmatrix.py says how the points are found and judged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import crashmatrix

WORKERS = 3  # lanes at once: each is mostly waiting on its browser and its site
# Both processes' commits and recovery's (108 when this was written): never a chosen few.
MIN_CASES = 100


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_commit_is_a_crash_point_that_loses_nothing_on_sqlite(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    matrix = crashmatrix.Matrix(crashmatrix.sqlite_world, tmp_path)
    cases = matrix.cases()
    outcomes = matrix.run_all(cases, WORKERS)
    report = crashmatrix.render("SQLite", outcomes)
    record_property("crash_matrix", report)  # printed at the end of the run (tests/conftest.py)
    print(report)
    assert len(cases) >= MIN_CASES, report
    assert all(o.ok for o in outcomes), report

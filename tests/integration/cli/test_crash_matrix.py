"""The crash matrix on SQLite (G1, G3): `kill -9` before and after every commit the engine makes,
for a task that signs in, writes (a form whose answer redirects to the new issue's page), reads
and deletes (irreversible, approved), and at every commit of the recovery that settles an
action in doubt. tests/helpers/crashmatrix.py says how the points are found and judged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import crashmatrix


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_commit_is_a_crash_point_that_loses_nothing_on_sqlite(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    crashmatrix.check("SQLite", crashmatrix.sqlite_world, tmp_path, record_property)

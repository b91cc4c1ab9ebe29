from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import Cli
from tests.helpers.site import hostile_site_module


@pytest.fixture
def site() -> Iterator[Any]:
    server = hostile_site_module().HostileSite(delay_ms=300)
    server.start(host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)

"""Console tests: real Qt widgets offscreen on a qasync loop (Qt's loop is the asyncio loop, as
in the product), the real engine on a temporary SQLite file, real Chromium, the hostile site.

Async tests here run on qasync (the `pytest_asyncio_loop_factories` hook below). Inside a
coroutine wait with `until(...)` / `next_signal(...)` from tests/ui/helpers.py, never with
`qtbot.waitUntil` (it spins a nested Qt loop under the running one).

The console is opened inside each test (`async with running_console(console_options)`), not
in an async fixture: pytest-qt processes Qt events between fixture set-up and the test, which
would step asyncio tasks while no loop is running."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import shiboken6

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from app.ui.collector import MainThreadCollector
from app.ui.console import ConsoleOptions
from tests.integration.conftest import hostile_site, site, static_site  # noqa: F401


def _qt_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(["flightdeck-tests"])
    assert isinstance(app, QApplication)
    # Closing the last window must not stop the loop mid-await (PLATFORM.md).
    app.setQuitOnLastWindowClosed(False)
    return app


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], Any]]:
    from app.ui.loop import ConsoleLoop

    return {"qasync": lambda: ConsoleLoop(_qt_app())}


@pytest.fixture(scope="session")
def qapp_cls() -> type[QApplication]:
    return QApplication


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread() -> Iterator[None]:
    """As in the console (app/ui/collector.py): the cycle collector runs on the UI thread only,
    so Qt objects left in reference cycles are never destroyed on a worker thread."""
    gc.collect()
    collector = MainThreadCollector()
    yield
    collector.close()
    shiboken6.delete(collector)


@pytest.fixture
def console_options(tmp_path: Path) -> ConsoleOptions:
    return ConsoleOptions(
        database_url=f"sqlite:///{tmp_path / 'console.db'}",
        artifacts_dir=tmp_path / "artifacts",
        concurrency=4,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A hang inside Qt's event loop never returns to Python, so the default (signal) timeout
    cannot fire there; the thread method dumps every stack and ends the run instead of leaving
    CI to its own, much later, limit."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.timeout(method="thread"))  # the configured limit

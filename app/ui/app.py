"""Starting the console: Qt application, qasync loop (Qt's loop is the asyncio loop: engine,
Playwright and widgets share it), theme, error reporting, the main window, then the engine.

The window is shown before the engine starts and before anything is read, so it is interactive
at once; the panels fill in as their first reads arrive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.resources import resources_dir
from app.ui.collector import MainThreadCollector
from app.ui.console import Console, ConsoleOptions
from app.ui.errors import ErrorReporter, install_log_buffer
from app.ui.settings import ConsoleSettings
from app.ui.theme import apply_theme, follow_system

log = logging.getLogger("flightdeck.ui")


@dataclass
class LaunchOptions:
    database_url: str | None = None  # command line / env; overrides the setting
    headed_browser: bool = False
    demo: bool = False
    # Called with the started console and window (the demo queues its tasks here).
    after_start: list[Callable[[Console, object], Awaitable[None]]] = field(default_factory=list)
    quit_after: float | None = None  # seconds; for smoke tests and benchmarks
    screenshot: Path | None = None  # save a grab of the window just before quitting


def console_options(settings: ConsoleSettings, launch: LaunchOptions) -> ConsoleOptions:
    url = launch.database_url or os.environ.get("FLIGHTDECK_DATABASE_URL") or settings.database_url or None
    rate = settings.rate_per_second
    return ConsoleOptions(
        database_url=url,
        artifacts_dir=Path(settings.data_dir) / "artifacts" if settings.data_dir else None,
        browser_path=settings.browser_path or None,
        concurrency=settings.concurrency,
        headless=not launch.headed_browser,
        site_limit=(rate, settings.rate_burst) if rate > 0 else None,
    )


def qt_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv or ["flightdeck"])
    app.setApplicationName("Flightdeck")
    app.setOrganizationName("Flightdeck")
    app.setApplicationDisplayName("Flightdeck")
    app.setDesktopFileName("flightdeck")
    # Closing the last window must not stop the loop mid-await (PLATFORM.md); we quit ourselves.
    app.setQuitOnLastWindowClosed(False)
    icon = resources_dir() / "icons" / "flightdeck.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


async def _report_interactive(window: object, started: float) -> None:
    """Log when the window is interactive: shown, the queue's first page in, the loop idle.
    With FLIGHTDECK_STARTUP_REPORT set it is also printed (tests/bench/bench_console.py)."""
    from app.ui.mainwindow import MainWindow

    assert isinstance(window, MainWindow)
    while not window.queue.model.is_loaded():
        await asyncio.sleep(0.005)
    await asyncio.sleep(0)  # one more turn: painted and ready for input
    elapsed = (time.perf_counter() - started) * 1000
    log.info("console interactive after %.0f ms", elapsed)
    if os.environ.get("FLIGHTDECK_STARTUP_REPORT"):
        print(f"interactive {elapsed:.0f} ms; rows {window.queue.model.rowCount()}", flush=True)


def run_console(launch: LaunchOptions) -> int:
    """Open the console and run until its window closes. Returns the exit code."""
    from app.ui.loop import ConsoleLoop

    started = time.perf_counter()
    app = qt_app(sys.argv[:1])
    settings = ConsoleSettings()
    apply_theme(app, settings.theme)
    follow_system(app, lambda: settings.theme)
    buffer = install_log_buffer()
    loop = ConsoleLoop(app)
    asyncio.set_event_loop(loop)
    collector = MainThreadCollector()
    try:
        with loop:
            return int(loop.run_until_complete(_main(app, settings, launch, buffer, started)))
    finally:
        collector.close()


async def _main(
    app: QApplication, settings: ConsoleSettings, launch: LaunchOptions, buffer: object, started: float
) -> int:
    from app.ui.mainwindow import MainWindow

    window: MainWindow | None = None
    reporter = ErrorReporter(lambda: window, buffer)  # type: ignore[arg-type]
    reporter.install(asyncio.get_running_loop())
    console = Console(console_options(settings, launch))
    window = MainWindow(console, settings, reporter, buffer)  # type: ignore[arg-type]
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    window.show()
    report = asyncio.ensure_future(_report_interactive(window, started))
    recovered = await asyncio.to_thread(console.engine.recover)
    if recovered:
        window.statusBar().showMessage(
            f"{len(recovered)} run(s) left running by a stopped process resume now", 10000
        )
    console.feed.start()
    console.dispatcher.start()
    try:
        for hook in launch.after_start:
            await hook(console, window)
        if launch.quit_after is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(launch.quit_after):
                    await closed.wait()
            if launch.screenshot is not None:
                window.grab().save(str(launch.screenshot))
            window.confirm_close = False
            window.close()
        await closed.wait()
    finally:
        report.cancel()
        await window.live.aclose()
        await console.close()
    return 0

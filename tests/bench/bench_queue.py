"""The task queue with 100 000 runs in history: what each read costs and how soon the panel
shows its first page.

    .venv/bin/python tests/bench/bench_queue.py [runs]

Prints figures; asserts nothing (the tests check behaviour, this measures it). Reads run on a
real SQLite file (WAL), the panel offscreen on the qasync loop, as in the console.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert

from app.domain.states import RunStatus
from app.engine import views
from app.engine.views import RunFilter
from app.store import Database
from app.store.models import Run
from app.store.types import utcnow

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PAGE = 200


def fill(db: Database, n: int) -> float:
    """`n` finished runs one second apart (Core bulk inserts); returns seconds taken."""
    start = time.perf_counter()
    base = utcnow() - timedelta(seconds=n + 60)
    statuses = [RunStatus.SUCCEEDED] * 3 + [RunStatus.FAILED, RunStatus.CANCELLED]
    with db.session() as s, s.begin():
        for first in range(0, n, 5000):
            rows: list[dict[str, Any]] = []
            for i in range(first, min(n, first + 5000)):
                at = base + timedelta(seconds=i)
                rows.append(
                    {
                        "id": f"bench{i:07d}",
                        "task_name": f"task-{i % 97:02d}",
                        "task_text": "",
                        "inputs": {},
                        "site": "http://127.0.0.1:8765" if i % 2 else "http://shop.test",
                        "status": statuses[i % len(statuses)],
                        "checkpoint": {"next_step": 3},
                        "step_count": 3,
                        "created_at": at,
                        "started_at": at,
                        "finished_at": at + timedelta(seconds=3),
                        "updated_at": at + timedelta(seconds=3),
                        "version": 2,
                    }
                )
            s.execute(insert(Run), rows)
    return time.perf_counter() - start


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float]:
    """Median and worst wall time in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def reads(db: Database) -> None:
    mark = views.queue_first_page(db, RunFilter(), 1).mark
    assert mark is not None
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("first page, newest first", lambda: views.queue_first_page(db, RunFilter(), PAGE)),
        ("first page, by task name", lambda: views.queue_first_page(db, RunFilter(sort="task_name"), PAGE)),
        ("first page, by status", lambda: views.queue_first_page(db, RunFilter(sort="status"), PAGE)),
        (
            "first page, failed only",
            lambda: views.queue_first_page(db, RunFilter(statuses=(RunStatus.FAILED,)), PAGE),
        ),
        ("first page, text 'task-4'", lambda: views.queue_first_page(db, RunFilter(text="task-4"), PAGE)),
        ("page at offset 1 000", lambda: views.page_runs(db, RunFilter(), 1_000, PAGE)),
        ("page at offset 50 000", lambda: views.page_runs(db, RunFilter(), 50_000, PAGE)),
        ("page at offset 99 800", lambda: views.page_runs(db, RunFilter(), max(0, RUNS - PAGE), PAGE)),
        (
            "live refresh, nothing new",
            lambda: views.queue_changes(db, RunFilter(), mark - timedelta(seconds=2)),
        ),
        ("live refresh, text filter", lambda: views.queue_changes(db, RunFilter(text="task-4"), mark)),
        ("site list", lambda: views.run_sites(db)),
    ]
    print(f"\nreads on {RUNS:,} runs (ms, median / worst of 5):")
    for name, fn in cases:
        median, worst = timed(fn)
        print(f"  {name:<30} {median:8.1f} / {worst:7.1f}")


def panel(url: str, tmp: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from app.ui.console import Console, ConsoleOptions
    from app.ui.loop import ConsoleLoop
    from app.ui.panels.queue import QueuePanel

    app = QApplication.instance() or QApplication(["bench"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = ConsoleLoop(app)
    asyncio.set_event_loop(loop)

    async def until(predicate: Callable[[], Any]) -> None:
        while not predicate():
            await asyncio.sleep(0.001)

    async def measure() -> None:
        console = Console(ConsoleOptions(database_url=url, artifacts_dir=tmp / "artifacts", concurrency=0))
        console.start()
        try:
            start = time.perf_counter()
            queue = QueuePanel(console.bridge)
            queue.resize(1200, 700)
            queue.show()
            await until(queue.model.is_loaded)
            first = (time.perf_counter() - start) * 1000
            label = queue.count_label.text()
            start = time.perf_counter()
            queue.grab()
            paint = (time.perf_counter() - start) * 1000
            pages = []
            for _ in range(10):
                rows = queue.model.rowCount()
                start = time.perf_counter()
                queue.table.scrollToBottom()
                await until(lambda n=rows: queue.model.rowCount() > n)
                pages.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            queue.table.scrollToBottom()
            queue.grab()
            paint_deep = (time.perf_counter() - start) * 1000
            print(f"\npanel on {RUNS:,} runs (offscreen):")
            print(f"  panel created to first page shown  {first:8.1f} ms  ({label})")
            print(f"  paint of the visible rows          {paint:8.1f} ms")
            print(
                f"  scroll to bottom -> next page in   {statistics.median(pages):8.1f} ms median, "
                f"{max(pages):.1f} worst (10 pages)"
            )
            print(f"  paint at row {queue.model.rowCount():,}               {paint_deep:8.1f} ms")
            queue.close()
            queue.deleteLater()
            await console.bridge.settle()
        finally:
            await console.close()

    with loop:
        loop.run_until_complete(measure())


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        url = f"sqlite:///{tmp / 'bench.db'}"
        db = Database(url)
        print(f"inserting {RUNS:,} runs: {fill(db, RUNS):.1f} s")
        reads(db)
        db.dispose()
        panel(url, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What Playwright tracing costs: the same 21-step task (goto + 10 × fill, click) through
Flightdeck with `trace: off` and `trace: on`, same browser, alternating, several rounds.
Also the size of the stored (redacted) trace.

    .venv/bin/python tests/bench/bench_trace.py [--rounds 3]

Prints per-action times and the on/off ratio (README "Traces").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.browser import PlaywrightProvider
from app.domain.task import load_task
from app.engine.service import Engine
from app.store import ArtifactStore, Database, events
from tests.bench._page import BenchSite

PAIRS = 10
STEPS = 1 + 2 * PAIRS


def task_text(trace: str) -> str:
    lines = [f"name: bench-trace\npolicy: {{trace: {trace}, screenshots: off}}\nsteps:", "  - goto: /"]
    for i in range(1, PAIRS + 1):
        lines.append(f"  - fill: {{target: '#name', value: item-{i}}}")
        lines.append(f"  - click: '#add'\n    expect: {{count: {{target: 'li', equals: {i}}}}}")
    return "\n".join(lines) + "\n"


async def one_run(engine: Engine, site: str, trace: str) -> tuple[float, int]:
    """Seconds for the whole run (session open, steps, trace stop + store) and trace bytes."""
    text = task_text(trace).replace("name: bench-trace", f"name: bench-trace\nsite: {site}")
    task = load_task(text, "bench.yaml")
    run_id = engine.submit(task, text, {})
    started = time.perf_counter()
    result = await engine.run(run_id)
    took = time.perf_counter() - started
    assert result.status.value == "succeeded", result
    with engine.db.session(readonly=True) as s:
        saved = [e.data for e in events.list_events(s, run_id) if e.type == "trace.saved"]
    return took, int(saved[0]["size"]) if saved else 0


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with BenchSite() as site, tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        provider = PlaywrightProvider(headless=True)
        engine = Engine(db, provider, ArtifactStore(Path(tmp) / "artifacts"))
        try:
            await one_run(engine, site.url, "off")  # warm-up: browser launch, caches
            times: dict[str, list[float]] = {"off": [], "on": []}
            sizes: list[int] = []
            for _ in range(args.rounds):
                for mode in ("off", "on"):
                    took, size = await one_run(engine, site.url, mode)
                    times[mode].append(took)
                    if size:
                        sizes.append(size)
        finally:
            await engine.close()
            await provider.close()
            db.dispose()
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"{STEPS} steps, median of {args.rounds} runs each")
    print(f"  trace off: {off:.2f} s  ({off / STEPS * 1000:.0f} ms per step)")
    print(f"  trace on:  {on:.2f} s  ({on / STEPS * 1000:.0f} ms per step)")
    print(f"  ratio on/off: {on / off:.2f}")
    print(f"  trace size: {statistics.median(sizes) / 1024:.0f} KiB (redacted, stored)")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

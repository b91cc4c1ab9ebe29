"""Handoff costs: how fast an approval turns into the action firing, and what waiting runs cost.

    .venv/bin/python tests/bench/bench_handoffs.py [--rounds 20] [--waiting 100]

1. Approval → action: a run waits on an approval (its page kept live); the answer is recorded
   (in this process, as the console does; or through another database connection, as
   `flightdeck approve` in another terminal does) and the clock stops when the POST the action
   sends reaches the server. Target: median ≤ 150 ms.
2. Waiting runs: N runs parked on approvals at once, their pages live. Measured: slots in use,
   CPU used by this process and its browser over 10 s of waiting.
Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.browser import PlaywrightProvider
from app.domain.states import RunStatus
from app.domain.task import load_task
from app.engine.service import Engine
from app.store import ArtifactStore, Database, handoffs
from tests.bench._page import BenchSite
from tests.bench.bench_engine import tree

TASK = """name: approve-bench
site: {site}
steps:
  - goto: /
  - fill: {{target: '#name', value: fired}}
  - id: fire
    click: '#add'
    effect: irreversible
    expect: {{count: {{target: li, equals: 1}}}}
"""


async def approval_to_fire(
    site: BenchSite, workdir: Path, rounds: int, *, other_process: bool
) -> list[float]:
    db = Database(f"sqlite:///{workdir / f'approve-{other_process}.db'}")
    other = Database(db.url) if other_process else None  # a second connection pool: "another terminal"
    provider = PlaywrightProvider(headless=True)
    engine = Engine(db, provider, ArtifactStore(workdir / "artifacts"))
    text = TASK.format(site=site.url)
    task = load_task(text, "bench.yaml")
    times: list[float] = []
    try:
        for _ in range(rounds):
            run_id = engine.submit(task, text, {})
            drive = asyncio.create_task(engine.drive(run_id, wait=True))
            while not engine.open_handoffs(run_id):
                await asyncio.sleep(0.01)
            (h,) = engine.open_handoffs(run_id)
            await asyncio.sleep(0.3)  # let the waiting settle (the watcher is idle)
            before = len(site.server.arrivals)  # type: ignore[attr-defined]
            answered = time.perf_counter()
            if other is not None:
                with other.session() as s, s.begin():
                    handoffs.answer_handoff(s, h.id, answer={"decision": "approve"}, by="bench")
            else:
                engine.answer(h.id, {"decision": "approve"}, by="bench")
            result = await drive
            if result.status is not RunStatus.SUCCEEDED:
                raise SystemExit(f"bench run failed: {result.failure_class}: {result.error}")
            fired = site.server.arrivals[before]  # type: ignore[attr-defined]
            times.append((fired - answered) * 1000)
    finally:
        await engine.close()
        await provider.close()
        db.dispose()
        if other is not None:
            other.dispose()
    return times


def cpu_times(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    times: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            times[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return times


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between the two readings by processes alive at both (an exiting renderer would
    otherwise take its whole life's CPU out of the sum)."""
    return sum(max(0.0, after[pid] - before[pid]) for pid in before.keys() & after.keys())


async def waiting_runs(
    site: BenchSite, workdir: Path, count: int, live: int
) -> tuple[int, int, float, float, float]:
    db = Database(f"sqlite:///{workdir / f'waiting-{live}.db'}")
    provider = PlaywrightProvider(headless=True)
    engine = Engine(db, provider, ArtifactStore(workdir / "artifacts"), concurrency=4, max_live_waiting=live)
    text = TASK.format(site=site.url)
    task = load_task(text, "bench.yaml")
    ids = [engine.submit(task, text, {}) for _ in range(count)]
    drives = [asyncio.create_task(engine.drive(r, wait=True)) for r in ids]
    while len(engine.open_handoffs()) < count:
        await asyncio.sleep(0.2)
    await asyncio.sleep(3.0)  # closed pages' renderers have exited
    busy = engine.busy_slots
    before, wall_before = cpu_times(tree(os.getpid())), time.perf_counter()
    await asyncio.sleep(10.0)
    after = cpu_times(tree(os.getpid()))
    cpu = cpu_used(before, after)
    own = cpu_used({os.getpid(): before[os.getpid()]}, after)
    wall = time.perf_counter() - wall_before
    for d in drives:
        d.cancel()
    await asyncio.gather(*drives, return_exceptions=True)
    await engine.close()
    await provider.close()
    db.dispose()
    return count, busy, own, cpu, wall


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--waiting", type=int, default=100)
    args = parser.parse_args()
    ok = True
    with BenchSite() as site, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"approval answered → action reaches the server ({args.rounds} approvals each)")
        for other, label in (
            (False, "answered in this process (console)"),
            (True, "answered elsewhere (CLI)"),
        ):
            times = await approval_to_fire(site, workdir, args.rounds, other_process=other)
            median = statistics.median(times)
            ok &= median <= 150
            print(
                f"  {label:<38} median {median:6.1f} ms   p90 {sorted(times)[int(len(times) * 0.9)]:6.1f} ms"
            )
        print(f"{args.waiting} runs waiting on approvals, 10 s of waiting measured (4 slots)")
        for live in (0, 4):
            _, busy, own, cpu, wall = await waiting_runs(site, workdir, args.waiting, live)
            print(
                f"  {live:>3} pages kept live: {busy} slots in use; CPU: engine {own / wall * 100:4.1f} %, "
                f"engine + browser {cpu / wall * 100:4.1f} % of one core"
            )
            ok &= busy == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

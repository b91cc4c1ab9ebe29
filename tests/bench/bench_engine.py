"""Engine overhead: a 50-step task through Flightdeck vs raw Playwright doing the same actions
and waits, in the same run, same browser binary. Also memory per concurrent run.

    .venv/bin/python tests/bench/bench_engine.py [--rounds 3]

Prints wall times and ratios (the median of each round's ratio against raw Playwright run just
before and after it); exits 1 if the default-evidence ratio exceeds 1.3.
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

from playwright.async_api import async_playwright, expect

from app.browser import PlaywrightProvider, find_browser, launch_args
from app.domain.task import load_task
from app.engine.service import Engine
from app.store import ArtifactStore, Database
from tests.bench._page import BenchSite

PAIRS = 24  # goto + 24 × (fill, click) + 1 fill = 50 steps


def task_text(site: str, screenshots: str) -> str:
    lines = [f"name: bench\nsite: {site}\npolicy: {{screenshots: {screenshots}}}\nsteps:", "  - goto: /"]
    for i in range(1, PAIRS + 1):
        lines.append(f"  - fill: {{target: '#name', value: item-{i}}}")
        lines.append(f"  - click: '#add'\n    expect: {{count: {{target: 'li', equals: {i}}}}}")
    lines.append("  - fill: {target: '#name', value: done}")
    return "\n".join(lines) + "\n"


async def raw_playwright(site: str) -> float:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=find_browser().path, args=launch_args())
        started = time.perf_counter()
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.goto(site + "/")
        items = page.locator("li")
        for i in range(1, PAIRS + 1):
            await page.fill("#name", f"item-{i}")
            await page.click("#add")
            await expect(items).to_have_count(i)
        await page.fill("#name", "done")
        elapsed = time.perf_counter() - started
        await context.close()
        await browser.close()
    return elapsed


async def flightdeck(site: str, screenshots: str, workdir: Path) -> float:
    db = Database(f"sqlite:///{workdir / f'bench-{time.monotonic_ns()}.db'}")
    provider = PlaywrightProvider(headless=True)
    engine = Engine(db, provider, ArtifactStore(workdir / "artifacts"))
    text = task_text(site, screenshots)
    task = load_task(text, "bench.yaml")
    await provider.open_session(base_url=site, timeout=10)  # launch outside the timing, as raw
    started = time.perf_counter()
    run_id = engine.submit(task, text, {})
    result = await engine.run(run_id)
    elapsed = time.perf_counter() - started
    await provider.close()
    db.dispose()
    if result.status != "succeeded":
        raise SystemExit(f"bench run failed: {result.failure_class}: {result.error}")
    return elapsed


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


async def memory_per_run(site: str, workdir: Path, runs: int = 4) -> tuple[float, float]:
    """PSS of this process and its browser tree with 0 and with `runs` runs in flight."""
    db = Database(f"sqlite:///{workdir / 'mem.db'}")
    provider = PlaywrightProvider(headless=True)
    engine = Engine(db, provider, ArtifactStore(workdir / "artifacts"), concurrency=runs)
    warm = await provider.open_session(base_url=site, timeout=10)
    await warm.close()
    base = pss_kib(tree(os.getpid()))
    text = (
        f"name: mem\nsite: {site}\nsteps:\n  - goto: /?wait=4000\n"
        "  - wait_for: {target: '#wait', state: visible}\n    timeout: 10\n"
    )
    task = load_task(text, "mem.yaml")
    ids = [engine.submit(task, text, {}) for _ in range(runs)]
    pending = asyncio.gather(*(engine.run(r) for r in ids))
    await asyncio.sleep(2.5)  # sample while every run sits in its wait_for
    loaded = pss_kib(tree(os.getpid()))
    await pending
    await provider.close()
    db.dispose()
    return base / 1024, (loaded - base) / 1024 / runs


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with BenchSite() as site, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        await raw_playwright(site.url)  # warm-up: disk cache, JIT
        raw: list[float] = []
        modes = {"auto": [], "all": [], "off": []}  # type: dict[str, list[float]]
        ratios = {mode: [] for mode in modes}  # type: dict[str, list[float]]
        order = list(modes)
        for _ in range(args.rounds):
            # This VM's speed drifts by ±15 % within minutes: each round's Flightdeck runs are
            # compared with raw Playwright just before and just after them, and the modes take
            # turns going first.
            before = await raw_playwright(site.url)
            took = {mode: await flightdeck(site.url, mode, workdir) for mode in order}
            after = await raw_playwright(site.url)
            raw += [before, after]
            for mode, t in took.items():
                modes[mode].append(t)
                ratios[mode].append(t / ((before + after) / 2))
            order = order[1:] + order[:1]
        base_mb, per_run_mb = await memory_per_run(site.url, workdir)
    r, r_best = statistics.median(raw), min(raw)
    label = {
        "auto": "Flightdeck, default evidence",
        "all": "Flightdeck, + per-step screenshots",
        "off": "Flightdeck, no screenshots at all",
    }
    # The ratio is the median of the rounds' own ratios (each against its round's raw runs);
    # the best of the rounds is the steadier estimate of what each costs when nothing else
    # competes for the 2 cores, so both are printed.
    print(f"50-step task, {args.rounds} rounds interleaved (same run, same Chromium)")
    print(f"  {'':<36} {'median':>8} {'ratio':>6}   {'best':>7} {'ratio':>6}")
    print(f"  {'raw Playwright':<36} {r:7.2f}s  1.00×   {r_best:6.2f}s  1.00×")
    for mode, times in modes.items():
        t, t_best = statistics.median(times), min(times)
        print(
            f"  {label[mode]:<36} {t:7.2f}s {statistics.median(ratios[mode]):5.2f}×"
            f"   {t_best:6.2f}s {t_best / r_best:5.2f}×   (screenshots: {mode})"
        )
    print(f"memory: engine + idle browser {base_mb:.0f} MiB PSS; +{per_run_mb:.0f} MiB per concurrent run")
    return 0 if statistics.median(ratios["auto"]) <= 1.3 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

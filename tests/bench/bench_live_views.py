"""Live views under load: 8 runs executing on animated pages, the live-views panel showing them
(offscreen Qt on a qasync loop, the real engine and Chromium, as in the console).

    .venv/bin/python tests/bench/bench_live_views.py [--seconds 10] [--inline-decode]

Phases, each measured over --seconds:
  baseline  raw CDP screencast of one page, no UI (what Chromium delivers here, while the other
            pages animate too), at tile size and at full size
  grid      the panel with all 8 tiles streaming
  focused   one run focused (full size), the other 7 in the strip below

For each: frames shown per second per view, and the UI event loop's lag (a 10 ms QTimer
measuring its own lateness), p50/p99. Targets (issue 4): 8 views on 2 cores ≥ 5 fps each, the
focused one ≥ 15 fps, lag p99 ≤ 50 ms. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app.engine.ports import ScreenFrame
from app.ui.console import Console, ConsoleOptions
from app.ui.panels import live
from app.ui.panels.live import LiveViewsPanel
from app.ui.widgets.livefeed import FrameDecoder

RUNS = 8
# A page like the ones runs work on (text, a table, a form) with things that move all the time:
# a sliding banner, a spinner and a ticking clock. Chromium repaints it at 60 Hz.
PAGE = (
    b"""<!doctype html><html><head><title>Busy page</title><style>
body { margin: 0; font: 15px sans-serif; background: #fafaf7; color: #222 }
header { background: #234; color: white; padding: 14px 24px; font-size: 22px }
#slide { position: absolute; top: 70px; left: 0; width: 260px; height: 60px; background: #e67e22;
  color: white; font-size: 20px; line-height: 60px; text-align: center;
  animation: slide 3s linear infinite alternate }
@keyframes slide { to { left: 1000px } }
.spin { position: absolute; right: 60px; top: 180px; width: 80px; height: 80px; border: 10px solid #ccd;
  border-top-color: #2f80ed; border-radius: 50%; animation: spin 0.8s linear infinite }
@keyframes spin { to { transform: rotate(360deg) } }
table { margin: 160px 24px 0; border-collapse: collapse; width: 900px }
td, th { border: 1px solid #ccd; padding: 6px 10px; text-align: left }
#clock { position: absolute; right: 40px; top: 300px; font: bold 40px monospace }
</style></head><body><header>Orders &middot; <span id=t></span></header>
<div id=slide>Working&hellip;</div><div class=spin></div><div id=clock></div>
<table><tr><th>Order</th><th>Customer</th><th>Status</th><th>Total</th></tr>
"""
    + b"".join(
        f"<tr><td>#{1000 + i}</td><td>Customer {i}</td><td>open</td><td>{i * 17 % 500}.00</td></tr>".encode()
        for i in range(14)
    )
    + b"""</table><script>
function tick() { const now = performance.now();
  document.getElementById('clock').textContent = (now / 1000).toFixed(2);
  document.getElementById('t').textContent = new Date().toISOString();
  requestAnimationFrame(tick); }
tick();
</script></body></html>"""
)

TASK = """name: busy-{i}
site: {site}
steps:
  - goto: /busy
  - id: watch
    wait_for: {{css: "#never"}}
    timeout: 600
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LagProbe:
    """A 10 ms timer that records how late each of its ticks is."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        self.late.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.late.append(max(0.0, (now - self._last) * 1000 - 10))
        self._last = now

    def p(self, q: float) -> float:
        data = sorted(self.late)
        return data[min(len(data) - 1, int(len(data) * q))] if data else float("nan")


async def baseline(console: Console, run_id: str, seconds: float, size: tuple[int, int]) -> float:
    """Frames/s of a bare screencast of one run's page, no decoding, no painting."""
    session = console.engine.page(run_id)
    assert session is not None
    frames: list[ScreenFrame] = []
    cast = await session.screencast(frames.append, max_width=size[0], max_height=size[1], quality=60)
    await asyncio.sleep(1.0)
    start = len(frames)
    await asyncio.sleep(seconds)
    rate = (len(frames) - start) / seconds
    await cast.stop()
    return rate


async def measure(panel: LiveViewsPanel, probe: LagProbe, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(2.0)  # streams settle at their new sizes
    feeds = {r: panel.feed(r) for r in panel.live_run_ids}
    before = {r: f.shown for r, f in feeds.items() if f is not None}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    probe.start()
    await asyncio.sleep(seconds)
    probe.stop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    fps = {r: (f.shown - before[r]) / wall for r, f in feeds.items() if f is not None}
    sizes = {r: (f.spec, f.every_nth_frame) for r, f in feeds.items() if f is not None}
    dropped = sum(f.dropped for f in feeds.values() if f is not None)
    return {
        "fps": fps,
        "sizes": sizes,
        "p50": probe.p(0.5),
        "p99": probe.p(0.99),
        "max": max(probe.late, default=float("nan")),
        "cpu": cpu / wall * 100,
        "dropped": dropped,
    }


def _descendants(pid: int) -> list[int]:
    """Processes started (directly or not) by `pid`: the Playwright driver and the browser."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return found


def renice_browser(by: int) -> int:
    """Lower the priority of this process's browser (and driver) by `by` nice levels: what a
    console that keeps its UI ahead of the pages it shows would do. Returns how many."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    count = 0
    for pid in _descendants(os.getpid()):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, min(19, base + by))
            count += 1
        except OSError:
            continue
    return count


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


async def main(args: argparse.Namespace) -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    console = Console(
        ConsoleOptions(
            database_url=f"sqlite:///{tmp / 'bench.db'}", artifacts_dir=tmp / "artifacts", concurrency=RUNS
        )
    )
    console.start()
    panel = LiveViewsPanel(console.bridge, decoder=FrameDecoder(0 if args.inline_decode else 2))
    panel.resize(1600, 1000)
    panel.show()
    probe = LagProbe()
    failed = False
    try:
        for i in range(RUNS):
            path = tmp / f"busy-{i}.yaml"
            path.write_text(TASK.format(i=i, site=site))
            console.bridge.submit(str(path), {})
        deadline = time.monotonic() + 60
        while len(panel.live_run_ids) < RUNS or not all(
            (t := panel.tile(r)) is not None and t.has_frame for r in panel.live_run_ids
        ):
            if time.monotonic() > deadline:
                framed = sum(1 for r in panel.live_run_ids if (t := panel.tile(r)) and t.has_frame)
                raise SystemExit(f"{len(panel.live_run_ids)} live views, {framed} with a frame, after 60 s")
            await asyncio.sleep(0.1)
        runs = panel.live_run_ids
        if args.renice_browser:
            print(
                f"browser processes reniced by +{args.renice_browser}: {renice_browser(args.renice_browser)}"
            )
        print(f"{RUNS} runs live on animated pages; {os.cpu_count()} cores; load {_load()}")
        print(f"decoding: {'inline on the UI thread' if args.inline_decode else 'on 2 threads'}; ", end="")
        print(f"focused JPEG quality {live.FOCUS_QUALITY}, strip tiles aim at {live.STRIP_FPS:g} fps\n")

        # Baseline: the same page, no UI (the panel hidden: its streams stop).
        panel.hide()
        await asyncio.sleep(1.0)
        raw_small = await baseline(console, runs[0], args.seconds, (480, 300))
        raw_full = await baseline(console, runs[0], args.seconds, (1280, 800))
        panel.show()

        grid = await measure(panel, probe, args.seconds)
        panel.focus_run(runs[0])
        focused = await measure(panel, probe, args.seconds)

        def row(name: str, result: dict[str, Any], runs_: list[str]) -> str:
            rates = [result["fps"][r] for r in runs_]
            spec, nth = result["sizes"][runs_[0]]
            size = f"{spec.max_width}×{spec.max_height} 1/{nth}" if spec else "stopped"
            return (
                f"{name:<22}{len(rates):>3}  {min(rates):6.1f} {statistics.mean(rates):6.1f} "
                f"{max(rates):6.1f}  {size:<14}"
            )

        print(f"{'baseline (no UI)':<22} raw CDP screencast of one page, frames/s delivered")
        print(f"{'':<22}  480×300: {raw_small:5.1f}    1280×800: {raw_full:5.1f}\n")
        print(f"{'views':<22}{'n':>3}  {'min':>6} {'mean':>6} {'max':>6}  {'frame/nth':<14}")
        print(row("grid: tiles", grid, runs))
        print(row("focused: strip tiles", focused, runs[1:]))
        print(row("focused: focused view", focused, runs[:1]))
        print()
        print(f"{'UI loop lag (ms)':<22}{'p50':>7} {'p99':>7} {'max':>7}   python CPU   frames dropped")
        for name, result in (("grid", grid), ("focused", focused)):
            print(
                f"{name:<22}{result['p50']:7.1f} {result['p99']:7.1f} {result['max']:7.1f}   "
                f"{result['cpu']:6.0f} %    {result['dropped']}"
            )
        print(f"\nload after: {_load()}")
        every = [grid["fps"][r] for r in runs] + [focused["fps"][r] for r in runs]
        checks = {
            "each view ≥ 5 fps": min(every) >= 5,
            "focused view ≥ 15 fps": focused["fps"][runs[0]] >= 15,
            "lag p99 ≤ 50 ms": max(grid["p99"], focused["p99"]) <= 50,
        }
        print("\n" + "   ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in checks.items()))
        failed = not all(checks.values())
    finally:
        await panel.aclose()
        await console.close()
        server.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--inline-decode", action="store_true", help="decode JPEGs on the UI thread")
    parser.add_argument(
        "--renice-browser",
        type=int,
        default=0,
        metavar="N",
        help="run the browser N nice levels below the UI",
    )
    parser.add_argument("--focus-quality", type=int, help="JPEG quality of the focused view (tuning)")
    parser.add_argument("--strip-fps", type=float, help="target rate of strip tiles (tuning)")
    options = parser.parse_args()
    if options.focus_quality:
        live.FOCUS_QUALITY = options.focus_quality
    if options.strip_fps:
        live.STRIP_FPS = options.strip_fps
    app = QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    code = qasync.run(main(options))
    sys.exit(code)

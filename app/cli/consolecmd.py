"""`flightdeck` / `flightdeck console` opens the desktop console; `flightdeck demo` opens it with
the bundled demo site running and the demo tasks queued."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from app.cli import exitcodes


def has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM") in ("offscreen", "vnc", "minimal")
    )


NO_DISPLAY = (
    "no display to open the console on (DISPLAY / WAYLAND_DISPLAY unset). Run it in a desktop "
    "session, or under Xvfb: `xvfb-run flightdeck`; the command line works everywhere "
    "(`flightdeck --help`, `flightdeck demo --headless`)."
)


def _launch(args: argparse.Namespace, **extra: Any) -> Any:
    from app.ui.app import LaunchOptions

    quit_after = getattr(args, "quit_after", None)
    shot = getattr(args, "screenshot", None)
    return LaunchOptions(
        database_url=getattr(args, "db", None),
        headed_browser=getattr(args, "headed", False),
        quit_after=quit_after,
        screenshot=Path(shot) if shot else None,
        **extra,
    )


def cmd_console(args: argparse.Namespace) -> int:
    if not has_display():
        print(f"error: {NO_DISPLAY}", file=sys.stderr)
        return exitcodes.FAILED
    from app.ui.app import run_console

    return run_console(_launch(args))


def cmd_demo_console(args: argparse.Namespace) -> int:
    """The demo in the console: the hostile site on 127.0.0.1 and every demo task queued."""
    if not has_display():
        print(f"note: {NO_DISPLAY}\nRunning the demo headless instead.\n", file=sys.stderr)
        from app.cli.demo import cmd_demo

        return cmd_demo(args)
    from app.cli.demo import load_site_module
    from app.ui.app import run_console
    from app.ui.demo import queue_demo

    site = load_site_module().HostileSite(delay_ms=600)
    base = site.start(host="127.0.0.1", port=args.port)
    site.configure(order_503=1)
    try:
        return run_console(_launch(args, demo=True, after_start=[queue_demo(base)]))
    finally:
        site.stop()

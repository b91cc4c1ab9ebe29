"""`flightdeck demo` as a user starts it: a real process on a real X server (Xvfb), the xcb
window-system plugin, the demo site and the demo tasks; the window's own grab is saved."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from app.engine import views
from app.resources import demo_tasks_dir
from app.store import Database


def test_the_demo_console_opens_on_a_real_display_with_the_demo_queued(tmp_path: Path) -> None:
    xvfb = shutil.which("xvfb-run")
    assert xvfb, "Xvfb is part of the test set-up (packaging/dev test installs it)"
    shot = tmp_path / "console.png"
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # the user's own settings stay untouched
        "FLIGHTDECK_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    env.pop("QT_QPA_PLATFORM", None)  # the real xcb plugin, not offscreen
    env.pop("DISPLAY", None)
    done = subprocess.run(
        [
            xvfb,
            "-a",
            "-s",
            "-screen 0 1600x1000x24",
            sys.executable,
            "-m",
            "app",
            "demo",
            "--db",
            db_url,
            "--quit-after",
            "4",
            "--screenshot",
            str(shot),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    image = QImage(str(shot))
    assert not image.isNull(), "the window grab was saved"
    assert image.width() >= 1200 and image.height() >= 700
    # Not a blank window: the panels drew something (many distinct colours across the grab).
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 23)}
    assert len(colours) > 20

    db = Database(db_url)
    try:
        queued = views.page_runs(db, views.RunFilter(), 0, 100)
    finally:
        db.dispose()
    assert sorted(r.task_name for r in queued) == sorted(f.stem for f in demo_tasks_dir().glob("*.yaml"))

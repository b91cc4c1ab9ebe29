"""G1: `kill -9` of a real `flightdeck run` at any point, then `resume`: every write once."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import Cli

TITLES = ["alpha", "bravo", "charlie"]


def notes_task(site: str) -> str:
    steps = []
    for title in TITLES:
        steps.append(
            f"""  - goto: /notes
  - fill: {{target: {{label: Title}}, value: {title}}}
  - id: add-{title}
    click: {{role: button, name: Add note}}
    effect: write
    expect:
      after_reload:
        text: {{target: {{test_id: note, nth: -1}}, equals: {title}}}
"""
        )
    return f"name: three-notes\nsite: {site}\npolicy: {{screenshots: false}}\nsteps:\n" + "".join(steps)


def run_and_kill(cli: Cli, task: Path, after_lines: int, extra_delay: float) -> str | None:
    """Start a run, SIGKILL it `extra_delay` s after its `after_lines`-th progress line."""
    proc = cli.popen("run", str(task))
    assert proc.stdout is not None
    run_id: str | None = None
    seen = 0
    killed = threading.Event()
    for line in proc.stdout:
        if line.startswith("▶ run "):
            run_id = line.split()[2]
        elif line.strip():
            seen += 1
        if seen >= after_lines and not killed.is_set():
            killed.set()
            timer = threading.Timer(extra_delay, lambda: _kill(proc))
            timer.start()
            break
    proc.wait(timeout=60)
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    return run_id


def _kill(proc: Any) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)


# (progress lines seen before the kill, extra delay): spread the kill over the run, including
# the window between a click's dispatch and its recorded outcome.
KILL_POINTS = [(1, 0.0), (2, 0.05), (2, 0.25), (3, 0.0), (4, 0.1), (5, 0.15), (6, 0.3)]


@pytest.mark.slow
@pytest.mark.parametrize(("after_lines", "delay"), KILL_POINTS)
def test_kill_9_then_resume_stores_every_write_exactly_once(
    cli: Cli, site: Any, tmp_path: Path, after_lines: int, delay: float
) -> None:
    task = tmp_path / "three-notes.yaml"
    task.write_text(notes_task(site.base_url))
    run_id = run_and_kill(cli, task, after_lines, delay)
    assert run_id is not None

    deadline = time.monotonic() + 120
    status = ""
    while time.monotonic() < deadline:
        result = cli("resume", run_id, "--json")
        status = result.json()["status"] if result.out.strip().startswith("{") else ""
        if result.code in (0, 1, 4) or status in ("succeeded", "failed", "cancelled"):
            break
        # a run the kill left `succeeded` needs no resume: resume then says so and exits 0
    assert status in ("succeeded", ""), result.out + result.err
    shown = cli("show", run_id, "--verify", "--json").json()
    assert shown["status"] == "succeeded", shown
    assert shown["verified"] is True

    stored = [n["title"] for n in site.truth()["notes"]]
    for title in TITLES:
        assert stored.count(title) == 1, f"{title} stored {stored.count(title)} times: {stored}"

    with sqlite3.connect(cli.home / "flightdeck.db") as conn:
        seqs = [
            row[0] for row in conn.execute("SELECT seq FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        ]
    conn.close()
    assert seqs == list(range(1, len(seqs) + 1)), "no committed event was lost"

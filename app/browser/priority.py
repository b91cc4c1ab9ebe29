"""Lowering the browser's CPU priority below the console's.

In the console, one process paints live views and answers the operator while Chromium renders
every run's page; on two cores, eight busy pages leave the UI thread waiting for a core and the
console stutters (measured: UI-loop lag p99 60–100 ms in some runs of
tests/bench/bench_live_views.py, 5–35 ms with Chromium at nice 8). Runs hardly notice: a lower
priority only matters while something else wants the CPU, which is then the operator's window.

Linux only (it reads /proc); elsewhere it does nothing. Renderers started later come from
Chromium's zygote, which is lowered with the rest, so they start lowered too; each new session
lowers whatever appeared since."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _descendants(root: int) -> list[int]:
    out: list[int] = []
    todo = _children(root)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += _children(pid)
    return out


def lower_browser_priority(executable: str, niceness: int) -> int:
    """Give every process of `executable` below this one at least `niceness`; how many changed.
    Never raises: priority is a courtesy, not something a run may fail over."""
    if not hasattr(os, "setpriority") or not Path("/proc/self/task").exists():
        return 0
    target = os.path.realpath(executable)
    changed = 0
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError):
            if os.path.realpath(f"/proc/{pid}/exe") != target:
                continue
            if os.getpriority(os.PRIO_PROCESS, pid) < niceness:
                os.setpriority(os.PRIO_PROCESS, pid, niceness)
                changed += 1
    return changed

"""The asyncio loop the console runs on: qasync's Qt loop with its own callback scheduler.

qasync schedules every `call_soon` / `call_later` as its own Qt timer (`startTimer` then
`killTimer` once it fires): thousands of short-lived timer ids a second while Playwright talks.
Two things go wrong with that under load:

- a closed loop's timer object lingers in reference cycles; when the cycle collector happens to
  run on a worker thread it is destroyed there, Qt unregisters its timers from the wrong thread
  and releases their ids while the UI thread's dispatcher still holds them;
- Qt reuses timer ids at once, so a live callback's id can then be killed by the stale
  bookkeeping: the callback never runs, the awaiting coroutine never wakes, and the whole
  process hangs inside Qt's loop where no Python signal handler (and so no timeout) runs.

Here one long-lived single-shot `QTimer` drives a ready queue and a heap of timed callbacks, as
asyncio's own loop does. It is armed for the earliest deadline only, and it is deleted on the
UI thread when the loop closes."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from typing import Any

import qasync
import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication


class _Scheduler(QObject):
    """Ready callbacks first-in first-out, then timed ones when due; one timer for all.

    The interface (`add_callback`, `stop`, `set_debug`) is the one qasync's loop calls."""

    def __init__(self) -> None:
        super().__init__()
        self._ready: deque[asyncio.Handle] = deque()
        self._timed: list[tuple[float, int, asyncio.Handle]] = []
        self._order = itertools.count()  # equal deadlines keep their order
        self._armed_for: float | None = None  # the deadline the timer is set for
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        # Coarse timers may fire up to 5 % late, which would make short sleeps drift.
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._run)

    def add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        if self._stopped:
            return handle
        if delay <= 0:
            self._ready.append(handle)
            self._arm(time.monotonic())
        else:
            when = time.monotonic() + delay
            heapq.heappush(self._timed, (when, next(self._order), handle))
            self._arm(when)
        return handle

    def _arm(self, when: float) -> None:
        if self._armed_for is not None and self._armed_for <= when:
            return  # already set to fire no later than needed
        self._armed_for = when
        wait_ms = max(0, math.ceil((when - time.monotonic()) * 1000))
        self._timer.start(wait_ms)

    def _run(self) -> None:
        self._armed_for = None
        # Qt counts whole milliseconds; a deadline within one is due now.
        now = time.monotonic() + 0.001
        while self._timed and self._timed[0][0] <= now:
            self._ready.append(heapq.heappop(self._timed)[2])
        # Only what is ready now: callbacks added while these run wait for the next turn, so
        # Qt gets to paint and read sockets between turns.
        budget = len(self._ready)
        try:
            # `and self._ready`: a callback that spins a nested Qt loop runs this re-entrantly.
            while budget > 0 and self._ready and not self._stopped:
                budget -= 1
                handle = self._ready.popleft()
                if not handle.cancelled():
                    handle._run()  # reports its own exceptions to the loop's handler
        finally:
            # Re-armed even if a callback raised through (SystemExit, KeyboardInterrupt):
            # a loop left unarmed would never run another callback.
            if self._stopped:
                pass
            elif self._ready:
                self._arm(time.monotonic())
            elif self._timed:
                self._arm(self._timed[0][0])

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()
        self._ready.clear()
        self._timed.clear()

    def set_debug(self, enabled: bool) -> None:  # qasync's interface; nothing extra to log
        pass


class ConsoleLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's loop (Qt's event loop is the asyncio loop) with `_Scheduler` for callbacks."""

    def __init__(self, app: QApplication | None = None) -> None:
        super().__init__(app)
        unused: QObject = self._timer  # type: ignore[has-type]  # qasync's per-callback timer object; nothing is scheduled yet
        self._timer = _Scheduler()
        shiboken6.delete(unused)

    def close(self) -> None:
        scheduler = self._timer
        super().close()  # stops the scheduler
        # Delete the Qt objects now, on this (the UI) thread, not whenever the cycle collector
        # gets to them on whatever thread it runs.
        if shiboken6.isValid(scheduler):
            shiboken6.delete(scheduler)
        signaller: Any = getattr(self, "_QEventLoop__call_soon_signaller", None)
        if signaller is not None and shiboken6.isValid(signaller):
            shiboken6.delete(signaller)

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> None:
        # As asyncio's loops do; the signal object it would go through is gone once closed.
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        super().call_soon_threadsafe(callback, *args, context=context)

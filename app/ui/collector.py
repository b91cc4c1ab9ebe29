"""Python's cycle collector, run on the UI thread only.

Left automatic, a collection runs on whichever thread happens to allocate past the threshold:
often a worker (a database read, a decode). Qt objects caught in reference cycles (widgets
with connected lambdas, timers) are then destroyed on that thread; Qt stops their timers
from the wrong thread, which corrupts the UI thread's timer bookkeeping and can crash or
hang the process later. So automatic collection is off while the console runs and a timer on
the UI thread collects whenever the allocation counts say the collector would have."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadCollector(QObject):
    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the generations the automatic collector would have collected by now."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                gc.collect(generation)
                return

    def close(self) -> None:
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()

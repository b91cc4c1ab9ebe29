"""Operator input on its way to a taken-over page, in order, one event at a time.

A press must reach the page before its release, so events are sent one after the other by a
single task rather than each on its own. While one is in flight, a newer mouse move replaces a
waiting one (the pointer's latest position is all that matters), so a fast mouse cannot build a
backlog: every event is also written to the run's record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from app.engine.ports import InputEvent
from app.ui.bridge import Bridge


class InputPump:
    def __init__(self, bridge: Bridge, on_failure: Callable[[str, BaseException], None]) -> None:
        self._bridge = bridge
        self._on_failure = on_failure
        self._queue: deque[tuple[str, InputEvent]] = deque()
        self._running = False
        self._current = ""  # the run of the event in flight
        self.sent = 0

    def send(self, run_id: str, event: InputEvent) -> None:
        if (
            event.kind == "move"
            and self._queue
            and self._queue[-1][0] == run_id
            and self._queue[-1][1].kind == "move"
        ):
            self._queue[-1] = (run_id, event)
        else:
            self._queue.append((run_id, event))
        if not self._running:
            self._running = True
            self._bridge.spawn("sending input to the page", self._pump(), failed=self._failed)

    def clear(self) -> None:
        self._queue.clear()

    @property
    def idle(self) -> bool:
        return not self._running and not self._queue

    async def _pump(self) -> None:
        try:
            while self._queue:
                run_id, event = self._queue.popleft()
                self._current = run_id
                await self._bridge.engine.send_input(run_id, event)
                self.sent += 1
        finally:
            self._running = False

    def _failed(self, exc: BaseException) -> None:
        self._queue.clear()
        self._on_failure(self._current, exc)

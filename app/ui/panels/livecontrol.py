"""Who drives a run's page: the take-over and hand-back commands, what state each run is in
between them, and the operator's input on its way to the page.

A take-over asks the run to stop at its next safe point (between steps); the operator is in
control once the run waits on its takeover handoff with its page parked in this process (only
then can input reach the page). Hand back answers the takeover; the run checks whether the
current step was done and goes on.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from app.engine.ports import InputEvent
from app.engine.service import Engine
from app.engine.views import LiveRunView
from app.ui.bridge import Bridge
from app.ui.widgets.focuspane import FocusState
from app.ui.widgets.inputpump import InputPump

log = logging.getLogger("flightdeck.ui")


def _hand_back_all(engine: Engine, run_id: str) -> bool:
    """End every takeover of the run. Taking over a run mid-step opens two takeover handoffs
    (the command's, then the run's own at the step it stopped before) and `Engine.hand_back`
    answers one of them; the run would stop again on the other."""
    handed = False
    while engine.hand_back(run_id):
        handed = True
    return handed


class OperatorControl(QObject):
    changed = Signal()  # a command finished or failed: look at the run's state again
    control_changed = Signal(str, bool)  # the operator is (True) or no longer is driving this run

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._taking: set[str] = set()  # take-over asked; the run has not stopped yet
        self._handing_back: set[str] = set()
        self._in_control: str | None = None
        self._pump = InputPump(bridge, self._input_failed)

    def in_control(self, run_id: str) -> bool:
        return self._in_control == run_id

    def state(self, run_id: str, info: LiveRunView | None) -> FocusState:
        """Where the run is between take-over and hand-back, from the last read of the run
        (`info`) and the engine's parked runs (in memory)."""
        if info is not None and not info.taken_over:
            self._handing_back.discard(run_id)  # the hand-back is through
        if run_id in self._handing_back:
            state: FocusState = "handing_back"
        elif info is not None and info.taken_over and run_id in self.bridge.engine.parked:
            self._taking.discard(run_id)
            state = "control"
        elif run_id in self._taking or (info is not None and info.taken_over):
            state = "taking"
        else:
            state = "watch"
        if state == "control":
            self._set_control(run_id)
        elif self._in_control == run_id:
            self._set_control(None)
        return state

    def take_over(self, run_id: str) -> None:
        self._taking.add(run_id)
        # What bridge.take_over does, plus a failure callback: the state must not stay stuck
        # on "taking over" when the run could not be taken over.
        self.bridge.do(
            f"taking over run {run_id}",
            Engine.take_over,
            run_id,
            done=lambda _handoff: self.changed.emit(),
            failed=lambda exc: self._failed(run_id, "taking over", exc),
        )

    def hand_back(self, run_id: str) -> None:
        self._taking.discard(run_id)
        self._handing_back.add(run_id)
        self._pump.clear()
        if self._in_control == run_id:
            self._set_control(None)
        self.bridge.do(
            f"handing back run {run_id}",
            _hand_back_all,
            run_id,
            done=lambda _ok: self.changed.emit(),
            failed=lambda exc: self._failed(run_id, "handing back", exc),
        )

    def send(self, run_id: str, event: InputEvent) -> None:
        """Operator input for the page of the run in control (anything else is dropped)."""
        if self._in_control == run_id:
            self._pump.send(run_id, event)

    def forget(self, run_id: str) -> None:
        """The run's page is gone (it finished, or it moved to another process)."""
        self._taking.discard(run_id)
        self._handing_back.discard(run_id)
        if self._in_control == run_id:
            self._pump.clear()
            self._set_control(None)

    def release(self) -> None:
        """Nobody is shown in control (the focused view closed); the takeover stays open."""
        self._set_control(None)

    def _set_control(self, run_id: str | None) -> None:
        previous = self._in_control
        if previous == run_id:
            return
        self._in_control = run_id
        if previous is not None:
            self.control_changed.emit(previous, False)
        if run_id is not None:
            # A parked page is frozen (no script, no repaint): thaw it now, so the operator
            # sees it live before their first click.
            self.bridge.spawn(f"waking the page of run {run_id}", self.bridge.engine.live_session(run_id))
            self.control_changed.emit(run_id, True)

    def _failed(self, run_id: str, what: str, exc: BaseException) -> None:
        self._taking.discard(run_id)
        self._handing_back.discard(run_id)
        self.bridge.failed.emit(f"{what} run {run_id}", str(exc))
        self.changed.emit()

    def _input_failed(self, run_id: str, exc: BaseException) -> None:
        log.warning("input to %s failed: %s", run_id, exc)
        self.bridge.notice.emit(f"Input did not reach the page: {exc}")
        self.changed.emit()

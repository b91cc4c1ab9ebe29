"""Documented exit codes (README "Exit codes")."""

from __future__ import annotations

from app.domain.errors import FailureClass
from app.domain.states import RunStatus

OK = 0  # succeeded
FAILED = 1  # the run failed
INVALID = 2  # invalid input: task file, inputs, arguments, unknown run
WAITING = 3  # waiting for a person (an approval or an answer)
CANCELLED = 4  # cancelled, or stopped as stuck
INTERRUPTED = 130  # Ctrl-C: the run stays resumable


def for_run(status: str, failure_class: str | None) -> int:
    if status == RunStatus.SUCCEEDED:
        return OK
    if status == RunStatus.WAITING:
        return WAITING
    if status == RunStatus.CANCELLED or failure_class == FailureClass.STUCK:
        return CANCELLED
    if status in (RunStatus.PAUSED, RunStatus.INTERRUPTED, RunStatus.QUEUED):
        return WAITING
    return FAILED

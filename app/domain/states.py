"""Run and step states, and the one table every run transition goes through."""

from __future__ import annotations

from enum import StrEnum

from app.domain.errors import IllegalTransition


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # a handoff is open
    PAUSED = "paused"  # by the operator
    INTERRUPTED = "interrupted"  # found running at start-up with no live owner
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL: frozenset[RunStatus] = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})

# from-state -> allowed to-states. Anything else raises IllegalTransition.
_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.PAUSED}),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.WAITING,
            RunStatus.PAUSED,
            RunStatus.INTERRUPTED,
        }
    ),
    RunStatus.WAITING: frozenset(
        {
            RunStatus.RUNNING,
            RunStatus.CANCELLED,
            RunStatus.PAUSED,
            RunStatus.INTERRUPTED,
            RunStatus.FAILED,
        }
    ),
    RunStatus.PAUSED: frozenset({RunStatus.QUEUED, RunStatus.CANCELLED}),
    RunStatus.INTERRUPTED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


def can_transition(src: RunStatus, dst: RunStatus) -> bool:
    return dst in _TRANSITIONS[src]


def check_transition(src: RunStatus, dst: RunStatus) -> None:
    if not can_transition(src, dst):
        allowed = ", ".join(sorted(_TRANSITIONS[src])) or "nothing (terminal)"
        raise IllegalTransition(f"run cannot go from {src} to {dst}; from {src} it can go to {allowed}")


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # approval or answer pending
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # The action was dispatched but no outcome was recorded (crash, kill -9).
    UNKNOWN = "unknown"

"""One error hierarchy. Whether a failure is retried is a property of its class (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FailureClass(StrEnum):
    TRANSIENT = "transient"  # timeout, 5xx, 429, connection reset
    OBSTRUCTION = "obstruction"  # overlay intercepting the action
    SESSION_EXPIRED = "session_expired"  # redirected to login
    AMBIGUOUS_TARGET = "ambiguous_target"  # locator matches several elements
    MISSING_TARGET = "missing_target"  # nothing matches
    PERMANENT = "permanent"  # 4xx, validation message, permission denied
    AMBIGUOUS_OUTCOME = "ambiguous_outcome"  # irreversible action dispatched, outcome unknown
    STUCK = "stuck"  # same action repeated / no state change K times
    NO_EFFECT = "no_effect"  # nothing happened at all: no mutating request, page unchanged
    UNEXPECTED = "unexpected"  # the action did something, but not what was expected
    DENIED = "denied"  # the operator denied an approval
    BUDGET = "budget"  # max_steps or the run deadline exceeded


# What DESIGN.md's Diagnose table says happens next, as data the engine and the docs share.
NEXT_ACTION: dict[FailureClass, str] = {
    FailureClass.TRANSIENT: "retry with backoff",
    FailureClass.OBSTRUCTION: "dismiss known obstructions, retry",
    FailureClass.SESSION_EXPIRED: "re-authenticate, retry",
    FailureClass.AMBIGUOUS_TARGET: "ask the operator to pick (clarification)",
    FailureClass.MISSING_TARGET: "retry, then ask the operator to point at it",
    FailureClass.PERMANENT: "stop the step; never retry the same thing",
    FailureClass.AMBIGUOUS_OUTCOME: "verification handoff; never re-fired automatically",
    FailureClass.STUCK: "stop with a summary",
    FailureClass.NO_EFFECT: "retry (nothing was sent, so it is safe)",
    FailureClass.UNEXPECTED: "stop the step; the page is not in the expected state",
    FailureClass.DENIED: "stop the run",
    FailureClass.BUDGET: "stop the run",
}


class FlightdeckError(Exception):
    """Base of every error Flightdeck raises on purpose."""


class IllegalTransition(FlightdeckError):
    """A run was asked to move between states the transition table does not allow."""


@dataclass
class StepFailure(FlightdeckError):
    """Why one attempt of a step failed, classified."""

    failure_class: FailureClass
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.failure_class}: {self.message}")

    def __str__(self) -> str:
        return f"{self.failure_class}: {self.message}"


@dataclass(frozen=True)
class ValidationIssue:
    """One problem in a task file, pointing at where it is and how to fix it."""

    file: str
    line: int | None
    field: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class TaskValidationError(FlightdeckError):
    """A task file (or task inputs) cannot run. Nothing has been written anywhere."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))

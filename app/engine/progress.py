"""Budgets and no-progress detection: loops burn afternoons, so runs are bounded."""

from __future__ import annotations

import hashlib
import time

from app.domain.checkpoint import Checkpoint
from app.domain.errors import FailureClass, StepFailure
from app.domain.events import canonical
from app.domain.task import Action, Policy, Step

# Actions that are supposed to change the page; hover/wait/extract/assert/ask are not.
CHANGING_ACTIONS = frozenset(
    {
        Action.CLICK,
        Action.PRESS,
        Action.FILL,
        Action.SELECT,
        Action.CHECK,
        Action.UNCHECK,
        Action.UPLOAD,
        Action.GOTO,
    }
)


def action_signature(step: Step) -> str:
    """Same action, same target, same values → same signature."""
    body = canonical({"a": step.action, "args": step.args.model_dump(mode="json")})
    return hashlib.sha256(body.encode()).hexdigest()[:16]


class Budget:
    def __init__(self, policy: Policy, checkpoint: Checkpoint) -> None:
        self.policy = policy
        self.checkpoint = checkpoint
        self._started = time.monotonic() - checkpoint.elapsed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def remaining(self) -> float | None:
        if self.policy.deadline is None:
            return None
        return self.policy.deadline - self.elapsed

    def check(self) -> None:
        if self.checkpoint.attempts_used >= self.policy.max_steps:
            raise StepFailure(
                FailureClass.BUDGET,
                f"max_steps budget of {self.policy.max_steps} attempts used up",
                {"budget": "max_steps"},
            )
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise StepFailure(
                FailureClass.BUDGET,
                f"run deadline of {self.policy.deadline:g} s passed",
                {"budget": "deadline"},
            )

    def timeout_for(self, step: Step) -> float:
        timeout = step.timeout or self.policy.step_timeout
        remaining = self.remaining()
        return max(0.5, min(timeout, remaining)) if remaining is not None else timeout


class NoProgressDetector:
    """Stops a run that repeats itself or keeps acting without changing anything."""

    def __init__(self, policy: Policy, checkpoint: Checkpoint) -> None:
        self.limits = policy.no_progress
        self.checkpoint = checkpoint

    def record(self, step: Step, changed: bool) -> None:
        if step.action not in CHANGING_ACTIONS:
            return
        cp = self.checkpoint
        cp.recent_actions = [*cp.recent_actions, action_signature(step)][-self.limits.max_repeats :]
        cp.unchanged_streak = 0 if changed else cp.unchanged_streak + 1

    def reset_repeats(self) -> None:
        self.checkpoint.recent_actions = []

    def reset(self) -> None:
        """A person looked at the run and chose to go on: start counting again."""
        self.checkpoint.recent_actions = []
        self.checkpoint.unchanged_streak = 0

    def check(self) -> None:
        cp = self.checkpoint
        recent = cp.recent_actions
        if len(recent) >= self.limits.max_repeats and len(set(recent)) == 1 and cp.unchanged_streak:
            raise StepFailure(
                FailureClass.STUCK,
                f"the same action was repeated {len(recent)} times without changing the page",
                {"repeats": len(recent)},
            )
        if cp.unchanged_streak >= self.limits.max_unchanged:
            raise StepFailure(
                FailureClass.STUCK,
                f"{cp.unchanged_streak} actions in a row left the page unchanged",
                {"unchanged": cp.unchanged_streak},
            )

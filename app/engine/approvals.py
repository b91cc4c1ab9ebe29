"""The approval gate: nothing irreversible fires without a person's yes, bound to the action."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from app.domain.events import canonical
from app.domain.task import Effect, Policy, Step


def needs_approval(step: Step, policy: Policy) -> bool:
    if policy.approval == "none":
        return False
    if step.effect is Effect.IRREVERSIBLE:
        return True
    return policy.approval == "all-writes" and step.effect is Effect.WRITE


def action_hash(step: Step) -> str:
    """What exactly will fire: the step and its rendered arguments. An approval is bound to it
    (G4), so an approval given for other values cannot be used for these."""
    body = canonical({"step": step.id, "action": step.action, "args": step.args.model_dump(mode="json")})
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class ApprovalDecision:
    status: str  # "approved" | "denied" | "pending" | "none"
    handoff_id: str | None = None
    by: str | None = None
    comment: str | None = None


def approval_preview(step: Step, url: str) -> dict[str, Any]:
    """What the operator sees before saying yes: where, what, with which values."""
    return {
        "step": step.id,
        "action": step.action.value,
        "summary": step.summary(),
        "description": step.description,
        "url": url,
        "target": step.target.describe() if step.target else None,
        "args": step.args.model_dump(mode="json", exclude_defaults=True),
        "expect": step.expect.model_dump(mode="json", exclude_defaults=True) if step.expect else None,
    }

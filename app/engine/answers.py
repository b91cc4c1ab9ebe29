"""Turning what a person said into a handoff answer, checked against the question: the command
line and the console both go through here, so an answer means the same from either."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.errors import TaskValidationError, ValidationIssue
from app.domain.task.spec import InputType, coerce_input


def invalid(handoff_id: str, field: str, problem: str, fix: str) -> TaskValidationError:
    return TaskValidationError([ValidationIssue(f"handoff {handoff_id}", None, field, problem, fix)])


def point_answer(payload: Mapping[str, Any], handoff_id: str, x: float, y: float) -> dict[str, Any]:
    """The person pointed at the element a missing-target question is about (viewport CSS px)."""
    if "point" not in (payload.get("accepts") or []):
        raise invalid(handoff_id, "point", "this question is not about a missing target", "answer VALUE")
    return {"point": [float(x), float(y)]}


def target_answer(payload: Mapping[str, Any], handoff_id: str, selector: str) -> dict[str, Any]:
    if "target" not in (payload.get("accepts") or []):
        raise invalid(handoff_id, "target", "this question is not about a missing target", "answer VALUE")
    return {"target": selector}


def value_answer(payload: Mapping[str, Any], handoff_id: str, value: str) -> dict[str, Any]:
    """A typed answer: one of the question's choices, of its declared type; for a target question
    a text that is not a choice is a new selector."""
    choices = payload.get("choices")
    if "target" in (payload.get("accepts") or []) and choices and value not in choices:
        return {"target": value}
    return {"value": checked_value(value, payload, handoff_id)}


def checked_value(value: str, payload: Mapping[str, Any], handoff_id: str) -> Any:
    choices = payload.get("choices")
    if choices and value not in choices:
        raise invalid(
            handoff_id,
            "answer",
            f"'{value}' is not one of the choices",
            "answer with one of: " + ", ".join(map(str, choices)),
        )
    kinds: dict[str, InputType] = {"integer": "integer", "number": "number", "boolean": "boolean"}
    kind = kinds.get(str(payload.get("type")), "string")
    try:
        return coerce_input(kind, value)
    except ValueError as exc:
        raise invalid(handoff_id, "answer", str(exc), f"answer with a {kind}") from None


def editable_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    """Values an approver may change before approving: name → current value. Secret (masked)
    fields are never among them."""
    out: dict[str, str] = {}
    for f in payload.get("fields") or []:
        if not f.get("masked"):
            out[str(f["name"])] = str(f.get("value") or "")
    for name, value in (payload.get("values") or {}).items():
        if value != "••••••":
            out.setdefault(str(name), "" if value is None else str(value))
    return out


def checked_edits(edits: Mapping[str, str], payload: Mapping[str, Any], handoff_id: str) -> dict[str, str]:
    """Edited values of an approval: only values the preview showed, never a masked one."""
    fields = {f["name"]: f for f in payload.get("fields") or []}
    editable = set(fields) | set(payload.get("values") or {})
    for name in edits:
        if name not in editable:
            raise invalid(
                handoff_id,
                "--set",
                f"'{name}' is not a value of this action",
                "edit one of: " + (", ".join(sorted(editable)) or "(nothing to edit)"),
            )
        if fields.get(name, {}).get("masked"):
            raise invalid(handoff_id, "--set", f"'{name}' is a secret field", "secrets are not edited here")
    return dict(edits)


def decision_answer(
    payload: Mapping[str, Any], handoff_id: str, decision: str, edits: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """approve / deny (approvals, verifications), with edited values for an approval."""
    answer: dict[str, Any] = {"decision": decision}
    if edits:
        answer["values"] = checked_edits(edits, payload, handoff_id)
    return answer

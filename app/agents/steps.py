"""An agent's `act` arguments → one step in task-file syntax, so that what the agent does is
validated, run and saved exactly like a step someone wrote in a task file."""

from __future__ import annotations

from typing import Any

from app.domain.errors import TaskValidationError, ValidationIssue
from app.domain.task import Action

# Actions an agent sends through `act` (`ask` goes through `ask_human`).
ACT_ACTIONS = tuple(a.value for a in Action if a is not Action.ASK)
_TARGETED = {"click", "check", "uncheck", "hover"}


def _bad(field: str, problem: str, fix: str) -> TaskValidationError:
    return TaskValidationError([ValidationIssue("act", None, field, problem, fix)])


def act_step(
    action: str,
    *,
    target: dict[str, Any] | str | None = None,
    value: str | None = None,
    secret: str | None = None,
    effect: str | None = None,
    expect: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    timeout: float | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """`options`: the action's other arguments as a task file names them (`wait_until`,
    `into`, `get`, `label`, `files`…)."""
    if action not in ACT_ACTIONS:
        raise _bad("action", f"unknown action '{action}'", "use one of: " + ", ".join(ACT_ACTIONS))
    if secret is not None and action != "fill":
        raise _bad("secret", "only a fill types a credential", "use action: fill with secret: NAME.FIELD")
    args: dict[str, Any] = dict(options or {})
    if target is not None:
        args["target"] = target
    if action == "goto":
        args.setdefault("url", value)
    elif action == "fill":
        if secret is not None:
            args["secret"] = secret
        else:
            args["value"] = value
    elif action == "select":
        if value is not None:
            args.setdefault("value", value)
    elif action == "press":
        args.setdefault("key", value)
    elif action == "assert":
        args = dict(expect or options or {})
        expect = None
    elif action in _TARGETED and value is not None:
        raise _bad("value", f"{action} takes no value", "leave value out")
    step: dict[str, Any] = {action: args}
    if effect is not None:
        step["effect"] = effect
    if expect:
        step["expect"] = expect
    if timeout is not None:
        step["timeout"] = timeout
    if description:
        step["description"] = description
    return step

"""Small helpers for the browser tests (imported by the test modules next to it)."""

from __future__ import annotations

from typing import Any

from app.browser import PlaywrightSession
from app.domain.task import Action, Expectation, Step
from app.domain.task.spec import ARGS_MODEL, DEFAULT_EFFECT
from app.engine.ports import ActionOutcome, CheckResult


def build_step(action: str, args: Any) -> Step:
    kind = Action(action)
    return Step(
        id=f"{kind.value}-step",
        action=kind,
        args=ARGS_MODEL[kind].model_validate(args),
        effect=DEFAULT_EFFECT[kind],
    )


async def act(session: PlaywrightSession, action: str, args: Any, *, timeout: float = 5.0) -> ActionOutcome:
    return await session.act(build_step(action, args), timeout=timeout)


async def check(
    session: PlaywrightSession,
    expect: dict[str, Any],
    outcome: ActionOutcome | None = None,
    *,
    timeout: float = 2.0,
) -> list[CheckResult]:
    return await session.check(Expectation.model_validate(expect), outcome, timeout=timeout)


async def expect_ok(
    session: PlaywrightSession,
    expect: dict[str, Any],
    outcome: ActionOutcome | None = None,
    *,
    timeout: float = 2.0,
) -> list[CheckResult]:
    results = await check(session, expect, outcome, timeout=timeout)
    assert results and all(r.ok for r in results), results
    return results

"""The run's progress as one serialisable object, committed with every step outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from app.domain.sealing import new_tag


@dataclass
class Checkpoint:
    next_step: int = 0  # index of the first step not yet completed
    outputs: dict[str, Any] = field(default_factory=dict)  # values extracted so far
    attempts_used: int = 0  # against policy.max_steps
    recent_actions: list[str] = field(default_factory=list)  # signatures, newest last
    unchanged_streak: int = 0  # consecutive actions that left the page fingerprint unchanged
    last_url: str | None = None  # where the page was at the last completed step
    # step index → where that step left the page, since the last goto: where a rebuild of the
    # page (after a crash, a re-login, before a retry) starts when a write led elsewhere
    pages: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0  # seconds spent running before the current process took over
    # step id → target (JSON) a person chose for it: used instead of the task file's target
    learned: dict[str, Any] = field(default_factory=dict)
    logins: int = 0  # times the login block ran in this run (numbers each login)
    # Times it ran in the current browser session: the bound of policy.max_relogins applies to
    # these. A process that continues the run (resume, approve) opens a new browser, which
    # must sign in again although no session expired: that login starts a new count.
    browser_logins: int = 0
    # The run's tag in the placeholders that stand for secret values here (sealing.py): the
    # checkpoint and the inputs hold those, never the values.
    seal_tag: str = field(default_factory=new_tag)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Checkpoint:
        if not data:
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

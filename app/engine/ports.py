"""What the engine needs from a browser, as a small protocol (DESIGN.md: "the browser is reached
through a small protocol so the engine is testable"). `app.browser` implements it with Playwright.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from app.domain.task import Expectation, Step, Target

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Fingerprint:
    url: str
    content_hash: str  # sha256 of the page's visible state (DOM text + form values)

    def short(self) -> str:
        return f"{self.url}#{self.content_hash[:8]}"


@dataclass
class RequestRecord:
    method: str
    url: str
    status: int | None  # None: no response (failed / aborted / still pending)
    resource_type: str = ""
    duration_ms: float | None = None
    failure: str | None = None  # network error text when it failed
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header

    @property
    def mutating(self) -> bool:
        return self.method.upper() in MUTATING_METHODS

    @property
    def failed(self) -> bool:
        return self.failure is not None or (self.status is not None and self.status >= 400)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ActionOutcome:
    """Everything observed while one action ran."""

    before: Fingerprint
    after: Fingerprint
    requests: list[RequestRecord] = field(default_factory=list)
    main_status: int | None = None  # status of the main-frame navigation, when there was one
    dialogs: list[str] = field(default_factory=list)  # alert/confirm texts (auto-accepted)
    console_errors: list[str] = field(default_factory=list)
    value: Any = None  # what `extract` read
    duration_ms: float = 0.0

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def mutating_requests(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.mutating]


@dataclass
class CheckResult:
    """One expectation condition and whether it held."""

    name: str  # e.g. 'visible role=button name="Save"'
    ok: bool
    detail: str = ""  # what was actually found

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class BrowserSession(Protocol):
    """One run's isolated browser context and page."""

    async def act(self, step: Step, *, timeout: float) -> ActionOutcome:
        """Perform a rendered step (templates already filled in).

        Raises StepFailure classified as MISSING_TARGET, AMBIGUOUS_TARGET, OBSTRUCTION
        (something intercepts the pointer), TRANSIENT (timeout, network error) or PERMANENT.
        Requests triggered by the action are recorded until the page settles.
        """
        ...

    async def check(
        self, expect: Expectation, outcome: ActionOutcome | None, *, timeout: float
    ) -> list[CheckResult]:
        """Evaluate every condition, waiting up to `timeout` for them to hold.

        `request` conditions are matched against `outcome.requests`. `after_reload` reloads
        (or navigates to its `goto`) and then evaluates its nested conditions.
        """
        ...

    async def fingerprint(self) -> Fingerprint: ...

    async def screenshot(self) -> bytes:
        """A small JPEG of the viewport, with password fields masked."""
        ...

    async def dismiss_obstructions(self, extra: list[Target]) -> list[str]:
        """Close known overlays (cookie banners, modals with a close button, `extra`).

        Returns a description of each overlay dismissed; empty when none was found.
        """
        ...

    async def goto(self, url: str, *, timeout: float) -> None:
        """Navigate without recording (re-establishing state on resume)."""
        ...

    @property
    def url(self) -> str: ...

    async def close(self) -> None: ...


class BrowserProvider(Protocol):
    async def open_session(self, *, base_url: str | None, timeout: float) -> BrowserSession: ...

    async def close(self) -> None: ...

"""The task spec: what a task file says, as typed, validated, immutable objects."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.errors import FailureClass
from app.domain.retry import RetryPolicy
from app.domain.task.domains import SiteScope, site_hosts
from app.domain.task.durations import Seconds
from app.domain.task.expectations import Expectation
from app.domain.task.targets import Target


class Effect(StrEnum):
    READ = "read"  # changes nothing on the server
    WRITE = "write"  # changes server state; safe to check and redo if it did not happen
    IRREVERSIBLE = "irreversible"  # cannot be undone: needs an approval, fired at most once


class Action(StrEnum):
    GOTO = "goto"
    CLICK = "click"
    FILL = "fill"
    SELECT = "select"
    CHECK = "check"
    UNCHECK = "uncheck"
    PRESS = "press"
    HOVER = "hover"
    UPLOAD = "upload"
    WAIT_FOR = "wait_for"
    EXTRACT = "extract"
    ASSERT = "assert"
    ASK = "ask"


# A click or key press may submit something; everything else only reads or edits the page.
DEFAULT_EFFECT: dict[Action, Effect] = {a: Effect.READ for a in Action} | {
    Action.CLICK: Effect.WRITE,
    Action.PRESS: Effect.WRITE,
}


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TargetShorthand(_Args):
    """Args whose value may be just a target: `click: {role: button, name: Save}`."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str) or (isinstance(data, dict) and "target" not in data):
            return {"target": data}
        return data


class GotoArgs(_Args):
    url: str
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = "load"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data


class ClickArgs(_TargetShorthand):
    target: Target
    button: Literal["left", "right", "middle"] = "left"
    click_count: int = 1


class TargetArgs(_TargetShorthand):
    """hover, check, uncheck."""

    target: Target


# A credential field by reference: NAME.FIELD (`shop.password`, `shop.totp`). Literal only (no
# templates): every reference is checked against the credential store before a run starts.
SECRET_REF = r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z][A-Za-z0-9_-]*$"


class FillArgs(_Args):
    target: Target
    value: str | None = None
    # The value comes from the credential store at the moment of the fill, never from here.
    secret: str | None = Field(default=None, pattern=SECRET_REF)

    @model_validator(mode="before")
    @classmethod
    def _stringify(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value"), (int, float)):
            data = {**data, "value": str(data["value"])}
        return data

    @model_validator(mode="after")
    def _one(self) -> FillArgs:
        if (self.value is None) == (self.secret is None):
            raise ValueError("give either value or secret (a credential as NAME.FIELD, e.g. shop.password)")
        return self

    @property
    def credential(self) -> str | None:
        """The credential's name (`shop` of `shop.password`), for messages."""
        return self.secret.partition(".")[0] if self.secret else None


class SelectArgs(_Args):
    target: Target
    value: str | list[str] | None = None  # option value(s)
    label: str | None = None  # or the visible option label

    @model_validator(mode="after")
    def _one(self) -> SelectArgs:
        if (self.value is None) == (self.label is None):
            raise ValueError("give either value or label")
        return self


class PressArgs(_Args):
    key: str  # Playwright key name: Enter, Tab, Control+A
    target: Target | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"key": data} if isinstance(data, str) else data


class UploadArgs(_Args):
    target: Target
    files: list[str]

    @model_validator(mode="before")
    @classmethod
    def _one_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("files"), str):
            data = {**data, "files": [data["files"]]}
        return data


class WaitForArgs(_Args):
    target: Target | None = None
    state: Literal["visible", "hidden", "attached", "detached"] = "visible"
    url: str | None = None  # wait until the page URL matches

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str) or (isinstance(data, dict) and not ({"target", "url", "state"} & set(data))):
            return {"target": data}
        return data

    @model_validator(mode="after")
    def _some(self) -> WaitForArgs:
        if self.target is None and self.url is None:
            raise ValueError("wait_for needs a target or a url")
        return self


class ExtractArgs(_Args):
    target: Target
    into: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    get: Literal["text", "value", "html", "count", "attribute"] = "text"
    attribute: str | None = None
    all: bool = False  # a list of every match instead of exactly one

    @model_validator(mode="after")
    def _attr(self) -> ExtractArgs:
        if (self.get == "attribute") != (self.attribute is not None):
            raise ValueError("use get: attribute together with attribute: NAME")
        return self


class AskArgs(_Args):
    question: str
    choices: list[str] | None = None
    into: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["string", "integer", "number", "boolean"] = "string"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"question": data} if isinstance(data, str) else data


ActionArgs = (
    GotoArgs
    | ClickArgs
    | TargetArgs
    | FillArgs
    | SelectArgs
    | PressArgs
    | UploadArgs
    | WaitForArgs
    | ExtractArgs
    | AskArgs
    | Expectation
)

ARGS_MODEL: dict[Action, type[BaseModel]] = {
    Action.GOTO: GotoArgs,
    Action.CLICK: ClickArgs,
    Action.FILL: FillArgs,
    Action.SELECT: SelectArgs,
    Action.CHECK: TargetArgs,
    Action.UNCHECK: TargetArgs,
    Action.PRESS: PressArgs,
    Action.HOVER: TargetArgs,
    Action.UPLOAD: UploadArgs,
    Action.WAIT_FOR: WaitForArgs,
    Action.EXTRACT: ExtractArgs,
    Action.ASSERT: Expectation,
    Action.ASK: AskArgs,
}


class RetrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    initial_interval: Seconds = 0.5
    backoff_coefficient: float = 2.0
    maximum_interval: Seconds = 10.0
    maximum_attempts: int = 3
    non_retryable: list[FailureClass] = []

    @model_validator(mode="after")
    def _valid(self) -> RetrySpec:
        self.to_policy()  # raises ValueError with the reason
        return self

    def to_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=self.initial_interval,
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval=self.maximum_interval,
            maximum_attempts=self.maximum_attempts,
            non_retryable=frozenset(self.non_retryable),
        )


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    action: Action
    args: ActionArgs
    effect: Effect
    # Written in the task file (not the action's default): the approval policy's rules then
    # leave it alone; the author said what this step does.
    effect_declared: bool = False
    expect: Expectation | None = None
    timeout: Seconds | None = Field(default=None, gt=0)
    retry: RetrySpec | None = None
    description: str | None = None
    line: int | None = None  # where it is in the task file

    @property
    def target(self) -> Target | None:
        return getattr(self.args, "target", None)

    def summary(self) -> str:
        args = self.args
        target = self.target
        if isinstance(args, GotoArgs):
            return f"goto {args.url}"
        if isinstance(args, FillArgs) and target is not None:
            return f"fill {target.describe()}" + (f" with ••• ({args.secret})" if args.secret else "")
        if isinstance(args, PressArgs):
            return f"press {args.key}" + (f" in {target.describe()}" if target else "")
        if isinstance(args, AskArgs):
            return f"ask {args.question!r}"
        if target is not None:
            return f"{self.action} {target.describe()}"
        return str(self.action)


InputType = Literal["string", "integer", "number", "boolean"]


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: InputType = "string"
    required: bool = True
    default: Any = None
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _default(self) -> InputSpec:
        if self.default is not None:
            object.__setattr__(self, "required", False)
            coerce_input(self.type, self.default)
        return self


def coerce_input(kind: InputType, raw: Any) -> Any:
    """Turn a raw input (often a command-line string) into its declared type."""
    if kind == "string":
        return str(raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "yes", "1", "on"}:
            return True
        if text in {"false", "no", "0", "off"}:
            return False
        raise ValueError(f"{raw!r} is not a boolean (use true or false)")
    try:
        return int(raw) if kind == "integer" else float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{raw!r} is not {'an integer' if kind == 'integer' else 'a number'}") from None


class RateLimit(BaseModel):
    """Token bucket per site: `per_second` actions on average, bursts up to `burst`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Well above a person's pace, far below a runaway loop's.
    per_second: float = Field(default=20.0, gt=0)
    burst: int = Field(default=20, ge=1)


class NoProgress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_repeats: int = Field(default=3, ge=2)  # same action+target+values in a row
    max_unchanged: int = Field(default=8, ge=2)  # consecutive actions leaving the page unchanged


class ApprovalRules(BaseModel):
    """What else counts as irreversible, besides `effect: irreversible` (README: approvals)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    words: list[str] = []  # button/link words, added to the built-in list
    form_methods: list[str] = []  # form methods (incl. a hidden `_method`), added to DELETE
    urls: list[str] = []  # url patterns of the link, form action or expected request
    defaults: bool = True  # false: only this task's own rules apply


# The questions the engine asks on its own instead of ending the run (policy.ask_on): four
# kinds of failed step, an input the run was started without, a login that failed (a rejected
# credential, a broken sign-in form), a page that cannot be rebuilt after an interruption. An
# `ask` step is the task's own question: it always asks.
AskableFailure = Literal[
    "ambiguous_target", "missing_target", "stuck", "unexpected", "missing_input", "login", "recovery"
]
ASKABLE: tuple[AskableFailure, ...] = (
    "ambiguous_target",
    "missing_target",
    "stuck",
    "unexpected",
    "missing_input",
    "login",
    "recovery",
)

# How long each kind of handoff waits for a person by default (README "Handoffs: deadlines").
# An hour for what a person at their desk answers in minutes; a day for a verification, whose
# answer may need a look at the world outside (a bank statement, a mailbox) and whose default
# (the outcome stays unknown) ends the run without the step.
HOUR = 3600.0
DAY = 86400.0


_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|\[[0-9a-f:.]+\]")


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    retry: RetrySpec = RetrySpec()
    step_timeout: Seconds = Field(default=10.0, gt=0)
    deadline: Seconds | None = Field(default=600.0, gt=0)  # seconds for the whole run
    max_steps: int = Field(default=200, ge=1)  # attempts of all steps together
    rate_limit: RateLimit = RateLimit()
    approval: Literal["irreversible", "all-writes", "none"] = "irreversible"
    approval_rules: ApprovalRules = ApprovalRules()
    # How long an approval waits for a person (seconds; null: forever), and what then applies.
    approval_timeout: Seconds | None = Field(default=HOUR, gt=0)
    approval_default: Literal["deny", "approve"] = "deny"
    # Network guard (G6): mutating requests during `read` steps are held for approval unless
    # they are the page's own background traffic (guard.py): these URL patterns, or a timer
    # of the page that repeats. `allow_requests` is the older name of `background_requests`.
    network_guard: bool = True
    background_requests: list[str] = []
    allow_requests: list[str] = []
    # Which questions the engine asks on its own (the rest stop the run), and how long a
    # question waits (null: forever); at the deadline its step fails.
    ask_on: list[AskableFailure] = list(ASKABLE)
    question_timeout: Seconds | None = Field(default=HOUR, gt=0)
    # A verification ("did it happen?") at its deadline: the outcome stays unknown, the step
    # fails as ambiguous_outcome and is never sent again.
    verification_timeout: Seconds | None = Field(default=DAY, gt=0)
    # A takeover not handed back by its deadline fails the run (README says why).
    takeover_timeout: Seconds | None = Field(default=HOUR, gt=0)
    no_progress: NoProgress = NoProgress()
    obstructions: list[Target] = []  # extra overlays to dismiss, besides the built-in ones
    # Hosts that are the site under test besides the site's own host and its subdomains (an
    # API host, a CDN that answers writes): requests there are judged; requests anywhere else
    # are third-party, recorded but never judged. Same syntax as allow_domains.
    own_domains: list[str] = []
    # Hosts the browser may talk to (navigations and every request): `example.com` (that host,
    # any port) or `*.example.com` (its subdomains and itself). Unset: the own domains (the
    # site's host, its subdomains and own_domains), or anywhere without either. A credential
    # is then never typed into a page of another site.
    allow_domains: list[str] | None = None
    # Logins after the first one in a run (the session expired again): bounded, so a site that
    # keeps dropping the session cannot keep the run logging in.
    max_relogins: int = Field(default=2, ge=0)
    # all: before/after JPEG of every attempt; auto: of irreversible actions, plus the page
    # after every failed attempt; off: none. Per-step shots cost ~40 ms each (README table).
    screenshots: Literal["auto", "all", "off"] = "auto"
    # Playwright trace of the run (DOM snapshots, screenshots, network): on, kept only when the
    # run fails, or off. It costs several times the time of each action (README "Traces").
    trace: Literal["on", "retain-on-failure", "off"] = "off"

    @field_validator("allow_domains", "own_domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for raw in value:
            domain = str(raw).strip().lower()
            host = domain.removeprefix("*.")
            if not _HOST.fullmatch(host):
                raise ValueError(
                    f"'{raw}' is not a host name: use example.com or *.example.com (no scheme, path or port)"
                )
            out.append(domain)
        return out

    @field_validator("screenshots", mode="before")
    @classmethod
    def _screenshots_bool(cls, value: Any) -> Any:
        return {True: "all", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("trace", mode="before")
    @classmethod
    def _trace_bool(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `on`/`off` as a boolean.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


# Statuses of the site's own pages and requests that mean "not signed in (any more)".
SIGNED_OUT_STATUSES = (401, 419, 440)


def _listify_some(value: Any) -> Any:
    return [value] if isinstance(value, (str, int, dict)) else value


class SignedOut(BaseModel):
    """How a signed-out page is recognised; any one sign is enough (README: signing in).
    `url`: patterns of where a site sends someone signed out (None: the login page);
    `visible`: elements only a signed-out page shows (a sign-in form rendered in place);
    `status`: statuses of the site's own documents and requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: list[str] | None = None
    visible: list[Target] = []
    status: list[int] = list(SIGNED_OUT_STATUSES)

    _lists = field_validator("url", "visible", "status", mode="before")(_listify_some)

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if not 300 <= s <= 599]
        if bad:
            raise ValueError(f"{bad[0]} is not an HTTP error status (use e.g. 401 or 403)")
        return value


class Login(BaseModel):
    """How to sign in: steps run whenever the session turns out to be expired (a page shows a
    `signed_out` sign), then the step that found out is tried again; with `at_start`, also
    before the first step. `page`: the login page (URL pattern); by default the url of the
    block's first goto; None when the sign-in form shows in place (the block runs where it is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    page: str | None = None
    steps: list[Step]
    signed_out: SignedOut = SignedOut()
    at_start: bool = False

    def credentials(self) -> list[str]:
        """Names of the credentials the block types in (for "the credential … was rejected")."""
        names = [s.args.credential for s in self.steps if isinstance(s.args, FillArgs)]
        return sorted({n for n in names if n})

    def signed_out_urls(self) -> list[str]:
        """URL patterns of a signed-out page: as given; else none when a visible sign is given
        (an SPA's sign-in form shows at the app's own URL, often the block's first goto, which
        would make every page of the app look signed out); else the login page."""
        if self.signed_out.url is not None:
            return list(self.signed_out.url)
        if self.signed_out.visible:
            return []
        return [self.page] if self.page else []


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str | None = None
    site: str | None = None
    inputs: dict[str, InputSpec] = {}
    session: str | None = None
    login: Login | None = None
    policy: Policy = Policy()
    steps: list[Step]
    # Steps arrive one at a time from an agent (MCP / SDK) instead of all being written here:
    # the run waits for the next one after each, and ends when the agent finishes it.
    open: bool = False
    source: str | None = None  # file it came from

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def secret_refs(self) -> list[tuple[Step, str]]:
        """Every credential reference (step, NAME.FIELD), login block included."""
        every = [*self.steps, *(self.login.steps if self.login else [])]
        return [(s, s.args.secret) for s in every if isinstance(s.args, FillArgs) and s.args.secret]

    def own_domains(self) -> list[str] | None:
        """The hosts of the site under test (its host and subdomains, and policy.own_domains),
        or None when there is nothing to tell them by (no site, no own_domains)."""
        own = [*site_hosts(self.site), *self.policy.own_domains]
        return own or None

    def allowed_domains(self) -> list[str] | None:
        """The hosts the browser may reach (policy.allow_domains, by default the own domains),
        or None for anywhere."""
        if self.policy.allow_domains is not None:
            return list(self.policy.allow_domains)
        return self.own_domains()

    def scope(self) -> SiteScope:
        """What the run's requests are judged by (DESIGN.md "Judging on the real web")."""
        own, allowed = self.own_domains(), self.allowed_domains()
        return SiteScope(
            base_url=self.site,
            own=tuple(own) if own is not None else None,
            allowed=tuple(allowed) if allowed is not None else None,
            background=(*self.policy.background_requests, *self.policy.allow_requests),
        )

    def resolve_inputs(self, given: dict[str, Any], *, allow_missing: bool = False) -> dict[str, Any]:
        """Declared inputs with defaults applied and types coerced. Raises ValueError.
        `allow_missing`: a required input may be absent (the run asks for it when needed)."""
        unknown = sorted(set(given) - set(self.inputs))
        if unknown:
            raise ValueError(f"unknown input(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            if name in given:
                values[name] = coerce_input(spec.type, given[name])
            elif spec.default is not None:
                values[name] = coerce_input(spec.type, spec.default)
            elif spec.required and not allow_missing:
                raise ValueError(f"missing required input '{name}'")
        return values

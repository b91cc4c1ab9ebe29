"""What the engine needs from a browser, as a small protocol (DESIGN.md: "the browser is reached
through a small protocol so the engine is testable"). `app.browser` implements it with Playwright.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

from app.domain.task import Expectation, Step, Target
from app.domain.task.domains import SiteScope

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
    # Evidence that decides nothing (DESIGN.md "Judging on the real web"): a request to a host
    # that is not the site under test, one the page sends on its own (a heartbeat), or one the
    # domain allowlist kept from leaving the browser (why: the host is not allowed).
    third_party: bool = False
    background: bool = False
    refused: str | None = None
    # A WebSocket's traffic during the action (method "WS", status 101): frames and bytes
    # each way, counted from the first frame the page sent on it. Never the payloads.
    frames_sent: int | None = None
    bytes_sent: int | None = None
    frames_received: int | None = None
    bytes_received: int | None = None

    @property
    def mutating(self) -> bool:
        return self.method.upper() in MUTATING_METHODS

    @property
    def judged(self) -> bool:
        """A request to the site under test that the step caused: what a step is judged by."""
        return not (self.third_party or self.background or self.refused)

    @property
    def changes_the_site(self) -> bool:
        """A judged write: it may have changed the site under test."""
        return self.judged and self.mutating

    @property
    def websocket(self) -> bool:
        """A tally of WebSocket frames, not an HTTP request."""
        return self.frames_sent is not None

    @property
    def failed(self) -> bool:
        return self.failure is not None or (self.status is not None and self.status >= 400)

    @property
    def note(self) -> str:
        """Why the record decides nothing, for people; empty for a judged request."""
        notes = [
            name for name, on in (("third-party", self.third_party), ("background", self.background)) if on
        ]
        if self.refused:
            notes.append(f"refused: {self.refused}")
        return "; ".join(notes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        """A record as stored (older records lack the later keys)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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
    # WebSocket messages the action itself sent to the site (the page's own count: a heartbeat
    # or a scheduled acknowledgement is not the action's); its frames are in `requests`.
    messages: int = 0

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def judged_requests(self) -> list[RequestRecord]:
        """The requests the step is judged by; third-party, background and refused ones are
        evidence only."""
        return [r for r in self.requests if r.judged]

    @property
    def sent_anything(self) -> bool:
        """It made a request to the site under test (not a tracker's, not the page's own
        background traffic), or sent the site a WebSocket message: it did something."""
        return bool(self.messages) or any(not r.websocket for r in self.judged_requests)

    @property
    def frames_sent(self) -> int:
        """WebSocket frames the page sent to the site while the action's window was open
        (a heartbeat's answer included: the safe count for "did it send anything?")."""
        return max(self.messages, sum(r.frames_sent or 0 for r in self.requests))

    @property
    def mutating_requests(self) -> list[RequestRecord]:
        """Judged requests that can change the site under test (POST/PUT/PATCH/DELETE)."""
        return [r for r in self.requests if r.changes_the_site]


@dataclass
class CheckResult:
    """One expectation condition and whether it held."""

    name: str  # e.g. 'visible role=button name="Save"'
    ok: bool
    detail: str = ""  # what was actually found

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FormError:
    """An error message a page shows about its form (after a write that did not go through)."""

    message: str
    field: str = ""  # the label (or name) of the field it is about; "" when about the whole form

    def quote(self) -> str:
        return f'{self.field}: "{self.message}"' if self.field else f'"{self.message}"'

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# x, y, width, height in CSS pixels of the viewport (what screenshots show).
Box = tuple[float, float, float, float]


@dataclass
class FieldValue:
    """One form field as an operator sees it before approving; secrets are masked."""

    name: str  # name attribute, else id
    label: str  # visible label text, if any
    kind: str  # input type ("text", "password"…), "select" or "textarea"
    value: str  # "••••••" when masked
    masked: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TargetInfo:
    """What an action's target is, read before the action fires (approval previews and the
    approval policy's rules). Reading it changes nothing on the page."""

    description: str  # e.g. 'button "Delete invoice"'
    tag: str  # lower-case tag name
    role: str  # explicit or implicit ARIA role ("button", "link"…), "" when none
    text: str  # accessible name or visible text, whitespace-collapsed, at most 200 chars
    box: Box | None  # None when not rendered
    href: str | None = None  # absolute, for links
    form_method: str | None = None  # upper-case method of the form this element submits, if any
    form_action: str | None = None  # absolute URL that form posts to
    fields: list[FieldValue] = field(default_factory=list)  # that form's fields, secrets masked
    identity: str = ""  # stable hash of tag, role, text and identifying attributes (not box)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["box"] = list(self.box) if self.box else None
        return data


@dataclass
class Candidate:
    """One of several elements a target matched, or the element under a pointed-at spot."""

    index: int
    info: TargetInfo
    target: Target  # a locator that matches exactly this element


@dataclass
class HeldRequest:
    """A mutating request held by the network guard while a person decides (G6)."""

    method: str
    url: str
    resource_type: str
    fields: list[FieldValue] = field(default_factory=list)  # form/JSON body fields, secrets masked

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# Decides a held request: True lets it go, False aborts it. Awaited inside the route handler.
RequestDecider = Callable[[HeldRequest], Awaitable[bool]]


@dataclass
class InputEvent:
    """Operator input during a takeover, in viewport CSS pixels (sent over CDP)."""

    kind: Literal["click", "move", "down", "up", "wheel", "type", "key"]
    x: float | None = None
    y: float | None = None
    button: Literal["left", "right", "middle"] = "left"
    text: str | None = None  # for "type"
    key: str | None = None  # for "key": a Playwright key name ("Enter", "Control+a")
    delta_x: float = 0.0  # for "wheel"
    delta_y: float = 0.0


# A person's own input on a taken-over page (`BrowserSession.observe_input`), as it may be
# recorded: {"source": "page", "kind": "click" | "change" | "key" | "submit" | "navigated",
# "url", "element": {tag, role, name, field, type}, "value" and "masked" for a change…}.
# Called on the event loop; must return quickly.
InputReport = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ScreenFrame:
    """One live frame of a page (CDP screencast): a JPEG of the viewport and what it shows.

    The image covers the whole viewport, `width`×`height` CSS pixels, scaled to fit the size
    the screencast was started with; a point at fraction (u, v) of the image is viewport point
    (u·width, v·height), the coordinates `InputEvent` and `target_at` take.
    """

    jpeg: bytes
    width: float  # viewport width in CSS pixels (CDP deviceWidth)
    height: float  # viewport height in CSS pixels (CDP deviceHeight)
    offset_top: float = 0.0  # top controls height (mobile emulation), CSS px
    page_scale: float = 1.0  # pinch-zoom factor
    scroll_x: float = 0.0  # scroll offset of the page, CSS px
    scroll_y: float = 0.0
    timestamp: float = 0.0  # when Chromium painted it, seconds (epoch); 0 for a stand-in shot


# Called on the event loop for each frame; must return quickly (decode elsewhere).
FrameCallback = Callable[[ScreenFrame], None]


class ScreencastHandle(Protocol):
    """A running screencast of a session's page (`BrowserSession.screencast`)."""

    @property
    def active(self) -> bool:
        """Frames are being delivered (False once stopped, or once the session closed)."""
        ...

    async def resize(
        self,
        max_width: int,
        max_height: int,
        *,
        quality: int | None = None,
        every_nth_frame: int | None = None,
    ) -> None:
        """Restart with frames fitted into max_width×max_height (and optionally a new JPEG
        quality and rate). A no-op once stopped."""
        ...

    async def stop(self) -> None:
        """Stop the frames and let go of the page. Safe to call twice and after the page closed."""
        ...


@dataclass
class ProbeResult:
    """A page's URL loaded again beside it (`BrowserSession.probe`): where the GET ended up
    after redirects, its status, and which of the asked-for elements that page shows."""

    url: str
    status: int | None
    shown: list[str] = field(default_factory=list)  # descriptions of the visible ones


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

    async def form_errors(self) -> list[FormError]:
        """The error messages the page shows about its forms (invalid fields' messages, error
        lists, alerts), each with the field it is about. Reading changes nothing."""
        ...

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

    async def probe(self, url: str, *, visible: list[Target], timeout: float) -> ProbeResult:
        """GET `url` again without touching the page or what was typed into it, with the
        session's cookies: a fetch from the page when no `visible` elements are asked about,
        else a second tab of the same context (rendered, so an SPA shows what it shows to this
        session), closed after. Nothing the probe's page sends that could change the server
        leaves the browser."""
        ...

    async def inspect(self, target: Target, *, timeout: float) -> TargetInfo:
        """Describe the one element `target` means, without acting on it.

        Raises StepFailure MISSING_TARGET / AMBIGUOUS_TARGET like `act` would.
        """
        ...

    async def candidates(self, target: Target, *, limit: int = 10) -> list[Candidate]:
        """Every element `target` matches (visible ones first), each with a unique locator."""
        ...

    async def target_at(self, x: float, y: float) -> Candidate | None:
        """The element at viewport point (x, y) with a robust locator derived for it
        (test id, role+name, label, placeholder, text, then a css path), or None."""
        ...

    async def highlight(self, boxes: list[Box], labels: list[str] | None = None) -> bytes:
        """A JPEG of the viewport with each box outlined (and labelled); password fields
        masked. The page is left as it was."""
        ...

    async def fill_fields(self, target: Target, values: dict[str, str], *, timeout: float) -> None:
        """Set fields (by name) of the form `target` belongs to: an operator's edited values."""
        ...

    async def guard(self, decide: RequestDecider | None) -> None:
        """From now on, hold each mutating request to the site under test that is not the
        page's own background traffic (see `set_scope`) and let `decide` say whether it goes
        (True) or is aborted (False). `None` turns the guard off: everything goes."""
        ...

    async def send_input(self, event: InputEvent) -> dict[str, Any]:
        """Dispatch operator input to the page over CDP. Returns the event as it may be
        recorded: text typed into a password or secret field is replaced by "••••"."""
        ...

    async def observe_input(self, report: InputReport | None) -> None:
        """From now on, report each trusted input the page gets from a person (a click, a
        field's committed value, Enter/Escape, a form submission, each main-frame navigation)
        to `report`, in every frame and every document the page loads; a secret field's value
        is masked in the page. Input `send_input` dispatches is not reported (it records
        itself); the engine must not act on the page while it is observed (its actions are
        trusted input too). `None` stops, after reporting values typed and not yet committed."""
        ...

    async def set_frozen(self, frozen: bool) -> None:
        """Freeze (True) or thaw the page: a parked run's page runs no script while it waits."""
        ...

    async def connection_lost(self) -> str | None:
        """Why the page is no longer connected to the site (a WebSocket to it closed while the
        page was frozen, or is not open now), or None: a page driven over a socket that dropped
        shows what the site has forgotten, and what is clicked there goes nowhere."""
        ...

    async def screencast(
        self,
        on_frame: FrameCallback,
        *,
        max_width: int = 1280,
        max_height: int = 800,
        quality: int = 60,
        every_nth_frame: int = 1,
    ) -> ScreencastHandle:
        """Start live frames of the page (live views). The first frame comes at once, also for
        a page that does not change. Closing the session stops every screencast of it first."""
        ...

    async def set_scope(self, scope: SiteScope) -> None:
        """From now on, requests are recorded as third-party or background by `scope`, and
        those to hosts outside `scope.allowed` are refused before they leave the browser
        (recorded, deciding nothing); an action whose page itself navigates to such a host
        fails as PERMANENT naming it."""
        ...

    async def storage_state(self) -> dict[str, Any]:
        """Cookies and local storage of the session (Playwright's storage-state format)."""
        ...

    async def load_state(self, state: dict[str, Any]) -> None:
        """Put a saved storage state into this fresh session, before its first navigation."""
        ...

    @property
    def url(self) -> str: ...

    async def close(self) -> None: ...


class BrowserProvider(Protocol):
    async def open_session(self, *, base_url: str | None, timeout: float) -> BrowserSession: ...

    async def close(self) -> None: ...


# ----------------------------------------------------------------- credentials and sessions


class SecretUnavailable(Exception):
    """A credential cannot be read: unknown name or field, or no usable keyring. The message
    names what is missing and the fix (for example `flightdeck credentials add shop`)."""


class SecretSource(Protocol):
    """Credentials by reference (`NAME.FIELD`, e.g. `shop.password`); `app.secrets` implements
    it over the OS keyring. Fields: `username`, `password`, `totp` (the current one-time code,
    generated now from the stored seed) and any extra field the credential has."""

    def check(self, ref: str) -> None:
        """Raise SecretUnavailable unless `ref` would resolve (used before a run starts)."""
        ...

    def resolve(self, ref: str) -> str:
        """The value, read at the moment of the action and nowhere else."""
        ...

    def secret_value(self, ref: str) -> str | None:
        """The stored value behind `ref` that nothing written may hold, or None when the field
        is not secret (a username, unless its credential says it is). For `totp`: the seed
        (each code is masked as it is generated). Raises SecretUnavailable as `check` does."""
        ...


class ProfileBusy(Exception):
    """Another run holds the session profile."""


class SessionProfiles(Protocol):
    """Named browser storage states (cookies, local storage), encrypted at rest;
    `app.secrets` / `app.browser.profiles` implement it."""

    def load(self, name: str) -> dict[str, Any] | None:
        """The saved storage state, or None for a new profile."""
        ...

    def save(self, name: str, state: dict[str, Any]) -> None:
        """Replace the saved state atomically."""
        ...

    def acquire(self, name: str, owner: str) -> None:
        """Take the profile's lock for `owner` (a run id); raise ProfileBusy if another holds it.
        Re-acquiring by the same owner succeeds (a resumed run)."""
        ...

    def release(self, name: str, owner: str) -> None: ...

"""Recognising a signed-out page (DESIGN.md Diagnose: "session expired"): the one place that
decides it, for a step's attempt, a page rebuilt after a crash or a login, the login block's
own result, and the session check before an approved action fires.

The signs are the task's `login.signed_out` (README "Signing in"): where the site sends someone
signed out (by default the login page), an element only a signed-out page shows (a sign-in
form an SPA renders at the page's own URL), and statuses of the site's own documents and
requests (by default 401, 419, 440). Any one of them is enough. A step that went to the login
page on purpose is not signed out. Requests to other hosts (telemetry, fonts) are no sign.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Expectation, GotoArgs, Step, Task, match_pattern
from app.domain.task.spec import SIGNED_OUT_STATUSES
from app.engine.ports import ActionOutcome, BrowserSession, RequestRecord

# Requests whose status speaks for the page: its documents, its own API calls, its writes.
_TELLING_TYPES = frozenset({"document", "fetch", "xhr"})
# A visible sign is read as the page is now: the action before it has settled already.
_LOOK_S = 0.0


class SignedOutSigns:
    def __init__(self, task: Task) -> None:
        self.login = task.login
        self.site = task.site
        self.urls = task.login.signed_out_urls() if task.login else []
        self.statuses = frozenset(task.login.signed_out.status if task.login else SIGNED_OUT_STATUSES)
        self.visible = list(task.login.signed_out.visible) if task.login else []
        self._scope = task.scope()

    # ----------------------------------------------------------------- single signs
    def at_url(self, url: str) -> bool:
        """`url` is where a signed-out visitor is sent (its query, like ?next=/notes, aside)."""
        if not url.startswith(("http:", "https:")):
            return False
        parts = urlsplit(url)
        bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return any(
            match_pattern(pattern, bare, self.site) or match_pattern(pattern, url, self.site)
            for pattern in self.urls
        )

    def own(self, url: str) -> bool:
        """A request to the site under test (its host, its subdomains, policy.own_domains);
        any, without a site."""
        return not self._scope.third_party(url)

    def telling_status(self, requests: list[RequestRecord]) -> RequestRecord | None:
        """The first of the site's own documents, API calls or writes answered with a
        signed-out status."""
        for r in requests:
            if (
                r.status in self.statuses
                and (r.resource_type in _TELLING_TYPES or r.mutating)
                and self.own(r.url)
            ):
                return r
        return None

    def refused(self, outcome: ActionOutcome | None) -> bool:
        """Every write the action sent to the site was turned away as signed out: answered with
        a signed-out status, or redirected to where signed-out visitors go. Evidence that it did
        NOT happen (DESIGN.md "Judging on the real web"), so doing it again is no second time."""
        if outcome is None:
            return False
        requests = outcome.requests
        writes = [(i, r) for i, r in enumerate(requests) if r.mutating and self.own(r.url)]
        if not writes:
            return False
        for i, write in writes:
            if write.status in self.statuses:
                continue
            if write.status is not None and 300 <= write.status < 400:
                followed = next((r for r in requests[i + 1 :] if r.method.upper() == "GET"), None)
                if followed is not None and self.at_url(followed.url):
                    continue
            return False
        return True

    async def shown(self, session: BrowserSession) -> str | None:
        """The visible sign the page shows now, described; None when it shows none."""
        if not self.visible:
            return None
        try:
            found = await session.check(Expectation(visible=self.visible), None, timeout=_LOOK_S)
        except StepFailure:
            return None  # a page that cannot be read now shows no sign; the step's own failure stands
        hit = next((c for c in found if c.ok), None)
        return hit.name.removeprefix("visible ") if hit else None

    async def now(self, session: BrowserSession) -> str | None:
        """What says the page is signed out now (its URL, or a visible sign); None if nothing
        does, or the task has no login to tell by."""
        if self.login is None:
            return None
        if self.at_url(session.url):
            return f"the sign-in page ({session.url})"
        return await self.shown(session)

    def on_purpose(self, step: Step | None) -> bool:
        """The step goes to a signed-out URL itself (a task that visits its login page)."""
        if step is None or not isinstance(step.args, GotoArgs):
            return False
        return self.at_url(urljoin((self.site or "").rstrip("/") + "/", step.args.url))

    # ----------------------------------------------------------------- verdicts
    def sent_away(self, step: Step, url: str) -> StepFailure | None:
        """SESSION_EXPIRED when the browser is where signed-out visitors go, and the step did
        not ask to go there. Costs nothing: the URL is known."""
        if self.login is None or not self.at_url(url) or self.on_purpose(step):
            return None
        return _expired(step, f"sent to the login page ({url})", url=url, login_page=True)

    async def judge(
        self,
        step: Step,
        session: BrowserSession,
        outcome: ActionOutcome | None,
        failure: StepFailure | None,
    ) -> StepFailure | None:
        """An attempt's verdict, with signed-out signs taken into account: SESSION_EXPIRED when
        the page or the requests show one, else `failure` as it was."""
        if self.login is None:
            return failure
        if failure is not None and failure.failure_class is FailureClass.SESSION_EXPIRED:
            status = failure.details.get("status")
            if not (isinstance(status, int) and status not in self.statuses):
                return failure
            # The browser calls this status signed out by default; the task says otherwise.
            failure = StepFailure(FailureClass.PERMANENT, failure.message, failure.details)
        if self.on_purpose(step):
            return failure
        url = session.url
        away = self.sent_away(step, url)
        if away is not None:
            return away
        details = failure.details if failure is not None else {}
        status = details.get("status")
        if isinstance(status, int) and status in self.statuses:
            return _expired(step, f"{details.get('url') or url} answered {status}", url=url)
        hit = self.telling_status(outcome.requests) if outcome is not None else None
        if hit is not None:
            return _expired(step, f"{hit.method} {hit.url} answered {hit.status}", url=url)
        shown = await self.shown(session)
        if shown is not None:
            return _expired(step, f"the page shows {shown}", url=url, shown=shown)
        return failure

    async def visit(self, session: BrowserSession, url: str, *, timeout: float) -> str | None:
        """Go to `url` (a page rebuilt, a saved session tried) and say why it is a signed-out
        page, or None when it is not."""
        try:
            await session.goto(url, timeout=timeout)
        except StepFailure as failure:
            status = failure.details.get("status")
            if self.login is None or not (isinstance(status, int) and status in self.statuses):
                raise
            return f"{failure.details.get('url') or url} answered {status}"
        if self.login is None:
            return None
        if self.at_url(session.url) and not self.at_url(_absolute(url, self.site)):
            return f"sent to the login page ({session.url})"
        shown = await self.shown(session)
        return f"the page shows {shown}" if shown is not None else None

    async def probe(self, session: BrowserSession, *, timeout: float) -> str | None:
        """Is the session of a page that has waited still signed in? Loads the page's URL again
        beside it (a GET; the page itself and what was typed into it stay as they are) and
        says why it is signed out, or None."""
        url = session.url
        if self.login is None or not url.startswith(("http:", "https:")) or not self.own(url):
            return None
        seen = await session.probe(url, visible=self.visible, timeout=timeout)
        if seen.status in self.statuses:
            return f"{url} answered {seen.status}"
        if self.at_url(seen.url) and not self.at_url(url):
            return f"{url} sent to the login page ({seen.url})"
        if seen.shown:
            return f"{url} shows {seen.shown[0]}"
        return None


def _absolute(url: str, site: str | None) -> str:
    return urljoin((site or "").rstrip("/") + "/", url)


def _expired(step: Step, why: str, **details: object) -> StepFailure:
    return StepFailure(
        FailureClass.SESSION_EXPIRED,
        f"{step.summary()}: {why}; the session has expired",
        {"signed_out": why, **details},
    )

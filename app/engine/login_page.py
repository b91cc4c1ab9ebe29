"""Recognising the login page: a step that ends up there without asking for it met an expired
session (DESIGN.md Diagnose: "redirected to login")."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from app.domain.errors import FailureClass, StepFailure
from app.domain.task import GotoArgs, Login, Step, match_pattern


def on_login_page(login: Login, url: str, base_url: str | None) -> bool:
    """`url` is the login page (its query, like ?next=/notes, does not matter)."""
    if not url.startswith(("http:", "https:")):
        return False
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return match_pattern(login.page, bare, base_url) or match_pattern(login.page, url, base_url)


def sent_to_login(step: Step, url: str, login: Login, base_url: str | None) -> StepFailure | None:
    """SESSION_EXPIRED when a step ended up on the login page without asking for it."""
    if not on_login_page(login, url, base_url):
        return None
    if isinstance(step.args, GotoArgs):
        wanted = urljoin((base_url or "").rstrip("/") + "/", step.args.url)
        if on_login_page(login, wanted, base_url):
            return None  # the task went there on purpose
    return StepFailure(
        FailureClass.SESSION_EXPIRED,
        f"{step.summary()}: sent to the login page ({url}); the session has expired",
        {"url": url, "login_page": True},
    )

"""The hostile site's issue tracker: writes that lead to another page, the way issue trackers
and admin panels do. Mixed into ``HostileSite`` (``hostile_site.py``); the state lives in
``IssueState``, part of the site's state, so ``reset()`` restores it with everything else.

- ``/issues/new``: a form that POSTs ``/issues``; the new issue is answered with a redirect
  to its own page, ``/issues/<id>`` — an address known only once the write happened.
- ``/issues/<id>``: the issue with its comments; the comment form POSTs to the page's own
  address and is answered with a redirect back to it.
- Knobs ``issue_503`` / ``comment_503``: the next N of those POSTs answer 503 with an HTML
  error page (Retry-After: 1) and store nothing, as a proxy in front of the site would.
- Knob ``comment_500``: the next N comments are stored, then answered 500 (an application
  that fails after saving): only re-reading the issue tells that the comment is there.
- The other ways a comment can fail, one budget knob each (the write-retry table in the
  README is tested with them): ``comment_429`` (too many requests, Retry-After: 1, nothing
  stored); ``comment_500_unsaved`` (500, nothing stored); ``comment_signed_out`` (the
  session ended just before the comment arrived: sent to the sign-in page, nothing stored);
  ``comment_hang`` (stored, answered only ``comment_hang_ms`` later: the browser gives up
  first); ``comment_refused`` (the comment form of the next N issue pages shown posts to
  the tracker's write address, which is down: nothing listens there, the browser's
  connection is refused and nothing reaches the site).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hostile_http import Request, Response, redirect
from hostile_pages import alert, esc

ISSUE_PAGE = re.compile(r"^/issues/(\d+)$")


class IssueState:
    def __init__(self) -> None:
        self.issues: list[dict[str, Any]] = []  # {"id", "title", "comments": [str]}
        self.issue_posts = 0  # POST /issues received, stored or not
        self.comment_posts = 0  # POST /issues/<id> received, stored or not

    def truth(self) -> dict[str, Any]:
        return {
            "issues": self.issues,
            "issue_posts": self.issue_posts,
            "comment_posts": self.comment_posts,
        }


def new_issue_page(title: str = "", error: str | None = None) -> str:
    return (
        f"<h1>New issue</h1>{alert(error)}"
        '<form method="post" action="/issues" data-testid="issue-form">'
        '<label for="title">Title</label>'
        f'<input id="title" name="title" data-testid="title" value="{esc(title)}">'
        '<button type="submit" data-testid="create">Create issue</button></form>'
    )


def issue_page(issue: dict[str, Any], error: str | None = None, action: str | None = None) -> str:
    comments = issue["comments"]
    items = "".join(f'<li data-testid="comment">{esc(c)}</li>' for c in comments)
    count = f"{len(comments)} comment" + ("" if len(comments) == 1 else "s")
    action = action or f"/issues/{issue['id']}"
    return (
        f'<h1 data-testid="issue-title">{esc(issue["title"])}</h1>'
        f'<p data-testid="comment-count">{count}</p><ul data-testid="comments">{items}</ul>'
        f"{alert(error)}"
        f'<form method="post" action="{esc(action)}" data-testid="comment-form">'
        '<label for="comment">Comment</label>'
        '<textarea id="comment" name="comment" data-testid="comment-text"></textarea>'
        '<button type="submit" data-testid="add-comment">Add comment</button></form>'
        '<p><a href="/issues/new">New issue</a></p>'
    )


class IssuePagesMixin:
    """Handlers for the issue pages. ``HostileSite`` provides the attributes declared here."""

    _lock: threading.RLock
    _state: Any  # hostile_site._State, with .issues: IssueState and .budget
    _page: Callable[..., Response]
    _error: Callable[..., Response]
    _config: dict[str, Any]
    nowhere: str  # an address on the site's host where nothing listens

    def _issue_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/issues/new"): lambda r: self._page(r, 200, "New issue", new_issue_page()),
            ("POST", "/issues"): self._issue_post,
        }

    def _issue_route(self, req: Request, method: str) -> Response | None:
        """`/issues/<id>`, which a fixed route table cannot name; None: not a issue page."""
        found = ISSUE_PAGE.match(req.path)
        if found is None or method not in ("GET", "POST"):
            return None
        issue_id = int(found.group(1))
        if method == "POST":
            return self._comment_post(req, issue_id)
        issue = self._issue(issue_id)
        if issue is None:
            return self._error(req, 404, "Not found", f"Issue {issue_id} does not exist.")
        action = f"{self.nowhere}{req.path}" if self._take("comment_refused") else None
        return self._page(req, 200, issue["title"], issue_page(issue, action=action))

    @property
    def _issue_state(self) -> IssueState:
        return self._state.issues

    def _issue(self, issue_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = next((t for t in self._issue_state.issues if t["id"] == issue_id), None)
            return {**found, "comments": list(found["comments"])} if found else None

    def _take(self, knob: str) -> bool:
        """Spend one of a budget knob's failures; False once it is spent."""
        with self._lock:
            if self._state.budget[knob] <= 0:
                return False
            self._state.budget[knob] -= 1
            return True

    def _unavailable(self, req: Request, knob: str) -> Response | None:
        """The site's proxy answering 503 instead of the site: nothing reaches the tracker."""
        if not self._take(knob):
            return None
        resp = self._error(
            req, 503, "Service unavailable", "The tracker is temporarily unavailable. Try again."
        )
        resp.headers.append(("Retry-After", "1"))
        return resp

    def _too_many(self, req: Request, knob: str) -> Response | None:
        """The site's rate limit turning the request away: nothing reaches the tracker."""
        if not self._take(knob):
            return None
        resp = self._error(req, 429, "Too many requests", "Slow down, then try again.")
        resp.headers.append(("Retry-After", "1"))
        return resp

    def _issue_post(self, req: Request) -> Response:
        title = req.form().get("title", "").strip()
        with self._lock:
            self._issue_state.issue_posts += 1
        refused = self._unavailable(req, "issue_503")
        if refused is not None:
            return refused
        if not title:
            return self._page(req, 422, "New issue", new_issue_page(error="Title is required"))
        with self._lock:
            issue_id = max((t["id"] for t in self._issue_state.issues), default=0) + 1
            self._issue_state.issues.append({"id": issue_id, "title": title, "comments": []})
        return redirect(f"/issues/{issue_id}")

    def _comment_post(self, req: Request, issue_id: int) -> Response:
        if self._take("comment_signed_out"):
            with self._lock:
                self._state.sessions.clear()  # it lapsed just before this write arrived
            return redirect("/login?next=" + quote(req.target, safe="/"))
        text = req.form().get("comment", "").strip()
        with self._lock:
            self._issue_state.comment_posts += 1
        refused = self._unavailable(req, "comment_503") or self._too_many(req, "comment_429")
        if refused is not None:
            return refused
        issue = self._issue(issue_id)
        if issue is None:
            return self._error(req, 404, "Not found", f"Issue {issue_id} does not exist.")
        if not text:
            return self._page(req, 422, issue["title"], issue_page(issue, "Comment is required"))
        if self._take("comment_500_unsaved"):
            return self._error(req, 500, "Internal server error", "Something went wrong.")
        with self._lock:
            stored = next(t for t in self._issue_state.issues if t["id"] == issue_id)
            stored["comments"].append(text)
            hang = self._config["comment_hang_ms"] / 1000
        # Failures after saving: only re-reading the issue tells that the comment is there.
        if self._take("comment_500"):
            return self._error(req, 500, "Internal server error", "Something went wrong.")
        if self._take("comment_hang"):
            time.sleep(hang)
        return redirect(f"/issues/{issue_id}")

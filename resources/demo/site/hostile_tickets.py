"""The hostile site's ticket tracker: writes that lead to another page, the way issue trackers
and admin panels do. Mixed into ``HostileSite`` (``hostile_site.py``); the state lives in
``TicketState``, part of the site's state, so ``reset()`` restores it with everything else.

- ``/tickets/new``: a form that POSTs ``/tickets``; the new ticket is answered with a redirect
  to its own page, ``/tickets/<id>`` — an address known only once the write happened.
- ``/tickets/<id>``: the ticket with its comments; the comment form POSTs to the page's own
  address and is answered with a redirect back to it.
- Knobs ``ticket_503`` / ``comment_503``: the next N of those POSTs answer 503 with an HTML
  error page (Retry-After: 1) and store nothing, as a proxy in front of the site would.
- Knob ``comment_500``: the next N comments are stored, then answered 500 (an application
  that fails after saving): only re-reading the ticket tells that the comment is there.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from hostile_http import Request, Response, redirect
from hostile_pages import alert, esc

TICKET_PAGE = re.compile(r"^/tickets/(\d+)$")


class TicketState:
    def __init__(self) -> None:
        self.tickets: list[dict[str, Any]] = []  # {"id", "title", "comments": [str]}
        self.ticket_posts = 0  # POST /tickets received, stored or not
        self.comment_posts = 0  # POST /tickets/<id> received, stored or not

    def truth(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "ticket_posts": self.ticket_posts,
            "comment_posts": self.comment_posts,
        }


def new_ticket_page(title: str = "", error: str | None = None) -> str:
    return (
        f"<h1>New ticket</h1>{alert(error)}"
        '<form method="post" action="/tickets" data-testid="ticket-form">'
        '<label for="title">Title</label>'
        f'<input id="title" name="title" data-testid="title" value="{esc(title)}">'
        '<button type="submit" data-testid="create">Create ticket</button></form>'
    )


def ticket_page(ticket: dict[str, Any], error: str | None = None) -> str:
    comments = ticket["comments"]
    items = "".join(f'<li data-testid="comment">{esc(c)}</li>' for c in comments)
    count = f"{len(comments)} comment" + ("" if len(comments) == 1 else "s")
    return (
        f'<h1 data-testid="ticket-title">{esc(ticket["title"])}</h1>'
        f'<p data-testid="comment-count">{count}</p><ul data-testid="comments">{items}</ul>'
        f"{alert(error)}"
        f'<form method="post" action="/tickets/{ticket["id"]}" data-testid="comment-form">'
        '<label for="comment">Comment</label>'
        '<textarea id="comment" name="comment" data-testid="comment-text"></textarea>'
        '<button type="submit" data-testid="add-comment">Add comment</button></form>'
        '<p><a href="/tickets/new">New ticket</a></p>'
    )


class TicketPagesMixin:
    """Handlers for the ticket pages. ``HostileSite`` provides the attributes declared here."""

    _lock: threading.RLock
    _state: Any  # hostile_site._State, with .tickets: TicketState and .budget
    _page: Callable[..., Response]
    _error: Callable[..., Response]

    def _ticket_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/tickets/new"): lambda r: self._page(r, 200, "New ticket", new_ticket_page()),
            ("POST", "/tickets"): self._ticket_post,
        }

    def _ticket_route(self, req: Request, method: str) -> Response | None:
        """`/tickets/<id>`, which a fixed route table cannot name; None: not a ticket page."""
        found = TICKET_PAGE.match(req.path)
        if found is None or method not in ("GET", "POST"):
            return None
        ticket_id = int(found.group(1))
        if method == "POST":
            return self._comment_post(req, ticket_id)
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return self._error(req, 404, "Not found", f"Ticket {ticket_id} does not exist.")
        return self._page(req, 200, ticket["title"], ticket_page(ticket))

    @property
    def _ts(self) -> TicketState:
        return self._state.tickets

    def _ticket(self, ticket_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = next((t for t in self._ts.tickets if t["id"] == ticket_id), None)
            return {**found, "comments": list(found["comments"])} if found else None

    def _unavailable(self, req: Request, knob: str) -> Response | None:
        """The site's proxy answering 503 instead of the site: nothing reaches the tracker."""
        with self._lock:
            if self._state.budget[knob] <= 0:
                return None
            self._state.budget[knob] -= 1
        resp = self._error(
            req, 503, "Service unavailable", "The tracker is temporarily unavailable. Try again."
        )
        resp.headers.append(("Retry-After", "1"))
        return resp

    def _ticket_post(self, req: Request) -> Response:
        title = req.form().get("title", "").strip()
        with self._lock:
            self._ts.ticket_posts += 1
        refused = self._unavailable(req, "ticket_503")
        if refused is not None:
            return refused
        if not title:
            return self._page(req, 422, "New ticket", new_ticket_page(error="Title is required"))
        with self._lock:
            ticket_id = max((t["id"] for t in self._ts.tickets), default=0) + 1
            self._ts.tickets.append({"id": ticket_id, "title": title, "comments": []})
        return redirect(f"/tickets/{ticket_id}")

    def _comment_post(self, req: Request, ticket_id: int) -> Response:
        text = req.form().get("comment", "").strip()
        with self._lock:
            self._ts.comment_posts += 1
        refused = self._unavailable(req, "comment_503")
        if refused is not None:
            return refused
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return self._error(req, 404, "Not found", f"Ticket {ticket_id} does not exist.")
        if not text:
            return self._page(req, 422, ticket["title"], ticket_page(ticket, "Comment is required"))
        with self._lock:
            stored = next(t for t in self._ts.tickets if t["id"] == ticket_id)
            stored["comments"].append(text)
            failed = self._state.budget["comment_500"] > 0
            if failed:
                self._state.budget["comment_500"] -= 1
        if failed:
            return self._error(req, 500, "Internal server error", "Something went wrong.")
        return redirect(f"/tickets/{ticket_id}")

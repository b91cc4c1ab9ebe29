"""The hostile site's ticket desk: what evidence of a refused write and of a near-miss target is
tested against. Mixed into ``HostileSite`` (``hostile_site.py``); its state lives in
``TicketState``, part of the site's state, so ``reset()`` restores it with everything else.

- ``/tickets``: under a header with a skip link and a search box (what a page's first lines
  usually are), the open tickets, each with a button that says "– Delete" (not "Delete"),
  and a form for a new one.
- ``POST /tickets``: a title and an email with an "@" are required. A mistake is answered the
  way many frameworks answer it: 200, the form again with its values and, next to each field,
  its error (``ul.errorlist``, ``aria-invalid``, ``aria-describedby``), and nothing stored.
- ``POST /tickets/delete`` (``id``): deletes that ticket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hostile_http import Request, Response, redirect
from hostile_pages import esc

SEED_TICKETS = [
    {"id": 1, "title": "Printer on fire", "email": "ada@example.com"},
    {"id": 2, "title": "Coffee machine empty", "email": "alan@example.com"},
]


class TicketState:
    def __init__(self) -> None:
        self.tickets = [dict(t) for t in SEED_TICKETS]
        self.next_id = len(SEED_TICKETS) + 1
        self.ticket_posts = 0
        self.ticket_deletions: dict[str, int] = {}

    def truth(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "ticket_posts": self.ticket_posts,
            "ticket_deletions": self.ticket_deletions,
        }


def _errors(title: str, email: str) -> dict[str, str]:
    found = {}
    if not title:
        found["title"] = "This field is required."
    if "@" not in email:
        found["email"] = "Enter a valid email address."
    return found


def _field(name: str, label: str, value: str, error: str | None) -> str:
    attrs = f'id="id_{name}" name="{name}" value="{esc(value)}" data-testid="new-ticket-{name}"'
    errors = ""
    if error:
        attrs += f' aria-invalid="true" aria-describedby="id_{name}_error"'
        errors = f'<ul class="errorlist" id="id_{name}_error"><li>{esc(error)}</li></ul>'
    return f'<div class="field"><label for="id_{name}">{label}</label>{errors}<input {attrs}></div>'


def tickets_page(tickets: list[dict[str, Any]], form: dict[str, str], errors: dict[str, str]) -> str:
    rows = "".join(
        f'<li data-testid="ticket-{t["id"]}"><span data-testid="ticket-title">{esc(t["title"])}</span>'
        '<form method="post" action="/tickets/delete">'
        f'<input type="hidden" name="id" value="{t["id"]}">'
        '<button type="submit" class="danger">– Delete</button></form></li>'
        for t in tickets
    )
    note = '<p class="errornote" role="alert">Please correct the errors below.</p>' if errors else ""
    return (
        '<nav aria-label="Skip"><a href="#tickets">Skip to main content</a>'
        '<form role="search" action="/tickets"><input type="search" name="q" '
        'aria-label="Search Pages" placeholder="Search Pages"></form></nav>'
        f'<h1 id="tickets">Tickets</h1><ul class="items" data-testid="tickets">{rows}</ul>'
        '<h2>New ticket</h2><form method="post" action="/tickets" novalidate data-testid="ticket-form">'
        f"{note}{_field('title', 'Title', form.get('title', ''), errors.get('title'))}"
        f"{_field('email', 'Email', form.get('email', ''), errors.get('email'))}"
        '<button type="submit">Create ticket</button></form>'
    )


class TicketPagesMixin:
    """Handlers for the ticket desk. ``HostileSite`` provides the attributes declared here."""

    _lock: threading.RLock
    _state: Any  # hostile_site._State, with .tickets: TicketState
    _page: Callable[..., Response]

    def _ticket_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/tickets"): self._tickets_page,
            ("POST", "/tickets"): self._tickets_post,
            ("POST", "/tickets/delete"): self._ticket_delete,
        }

    def _tickets_page(
        self, req: Request, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
    ) -> Response:
        with self._lock:
            tickets = [dict(t) for t in self._state.tickets.tickets]
        return self._page(req, 200, "Tickets", tickets_page(tickets, form or {}, errors or {}))

    def _tickets_post(self, req: Request) -> Response:
        form = req.form()
        title, email = form.get("title", "").strip(), form.get("email", "").strip()
        errors = _errors(title, email)
        with self._lock:
            state = self._state.tickets
            state.ticket_posts += 1
            if not errors:
                state.tickets.append({"id": state.next_id, "title": title, "email": email})
                state.next_id += 1
        if errors:
            return self._tickets_page(req, {"title": title, "email": email}, errors)
        return redirect("/tickets")

    def _ticket_delete(self, req: Request) -> Response:
        ticket_id = req.form().get("id", "")
        with self._lock:
            state = self._state.tickets
            state.ticket_deletions[ticket_id] = state.ticket_deletions.get(ticket_id, 0) + 1
            state.tickets = [t for t in state.tickets if str(t["id"]) != ticket_id]
        return redirect("/tickets")

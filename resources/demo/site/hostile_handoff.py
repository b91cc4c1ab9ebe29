"""The hostile site's handoff pages: what approvals, the network guard and clarifications are
tested against. Mixed into ``HostileSite`` (``hostile_site.py``); their state lives in
``HandoffState``, part of the site's state, so ``reset()`` restores it with everything else.

- ``/checkout``: a payment form (CSRF, like sign-in). Stores ``{name, last4, amount}`` only;
  the full card number and the CVV are never stored or echoed.
- ``/report``: "Show report" reads ``/api/report`` and, unannounced, POSTs ``/api/track``;
  "Refresh stats" is a form POST; "Ping metrics" POSTs ``/api/metrics`` (an allowlistable one).
- ``/team``: every row's button is just "Remove"; rows carry ``data-testid="member-<slug>"``.
- ``/messages``: sending is irreversible, and only its button text ("Send") says so.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, unquote

import hostile_handoff_pages as hpages
from hostile_http import Request, Response, cookie, json_response, redirect

SEED_TEAM = ["Ada Lovelace", "Grace Hopper", "Alan Turing"]
CHECKOUT_AMOUNT = "89.00"
REPORT_ROWS = [
    {"region": "North", "orders": 120, "revenue": "$10,680.00"},
    {"region": "South", "orders": 87, "revenue": "$7,743.00"},
    {"region": "West", "orders": 45, "revenue": "$4,005.00"},
]


class HandoffState:
    def __init__(self) -> None:
        self.payments: list[dict[str, str]] = []  # {"name", "last4", "amount"}
        self.checkout_posts = 0
        self.tracked: list[str] = []
        self.refreshes = 0
        self.metrics = 0
        self.team = list(SEED_TEAM)
        self.removed: list[str] = []
        self.messages: list[dict[str, str]] = []  # {"to", "body"}

    def truth(self) -> dict[str, Any]:
        return {
            "payments": self.payments,
            "checkout_posts": self.checkout_posts,
            "tracked": self.tracked,
            "refreshes": self.refreshes,
            "metrics": self.metrics,
            "team": self.team,
            "removed": self.removed,
            "messages": self.messages,
        }


def _checkout_error(name: str, card: str, cvv: str, amount: str) -> str | None:
    if not name:
        return "Name on card is required"
    if not (card.isdigit() and card.isascii() and 12 <= len(card) <= 19):
        return "Card number must be 12 to 19 digits"
    if not (cvv.isdigit() and cvv.isascii() and 3 <= len(cvv) <= 4):
        return "CVV must be 3 or 4 digits"
    if _money(amount) is None:
        return "Amount must be a positive number"
    return None


def _money(raw: str) -> str | None:
    """A positive amount with at most two decimals, as "89.00"; anything else is None."""
    try:
        value = Decimal(raw)
        if value.is_finite() and value > 0 and value == value.quantize(Decimal("0.01")):
            return f"{value:.2f}"
    except InvalidOperation:
        pass
    return None


class HandoffPagesMixin:
    """Handlers for the handoff pages. ``HostileSite`` provides the attributes declared here."""

    _lock: threading.RLock
    _state: Any  # hostile_site._State, with .handoff: HandoffState and .csrf_rejections
    _page: Callable[..., Response]
    _error: Callable[..., Response]
    _csrf_for: Callable[[str], str]
    _csrf_ok: Callable[[Request, dict[str, str]], bool]

    def _handoff_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/checkout"): self._checkout_page,
            ("POST", "/checkout"): self._checkout_post,
            ("GET", "/checkout/done"): self._checkout_done,
            ("GET", "/report"): self._report_page,
            ("POST", "/report/refresh"): self._report_refresh,
            ("GET", "/api/report"): lambda r: json_response(200, {"rows": REPORT_ROWS}),
            ("POST", "/api/track"): self._track,
            ("POST", "/api/metrics"): self._metrics,
            ("GET", "/team"): self._team_page,
            ("POST", "/team/remove"): self._team_remove,
            ("GET", "/messages"): self._messages_page,
            ("POST", "/messages"): self._messages_post,
        }

    @property
    def _hs(self) -> HandoffState:
        return self._state.handoff

    # ----------------------------------------------------------------- checkout
    def _checkout_page(
        self,
        req: Request,
        *,
        status: int = 200,
        error: str | None = None,
        name: str = "",
        amount: str = CHECKOUT_AMOUNT,
    ) -> Response:
        pre = req.cookies.get("presid") or secrets.token_urlsafe(16)
        headers = [] if "presid" in req.cookies else [cookie("presid", pre)]
        body = hpages.checkout(self._csrf_for(pre), name=name, amount=amount, error=error)
        return self._page(req, status, "Checkout", body, headers=headers)

    def _checkout_post(self, req: Request) -> Response:
        form = req.form()
        with self._lock:
            self._hs.checkout_posts += 1
        if not self._csrf_ok(req, form):
            return self._error(
                req,
                403,
                "Forbidden",
                "Invalid or missing CSRF token. Reload the checkout page and try again.",
                ("/checkout", "Back to checkout"),
            )
        name = form.get("name", "").strip()
        card = "".join(form.get("card_number", "").split()).replace("-", "")
        cvv = form.get("cvv", "").strip()
        amount = form.get("amount", "").strip() or CHECKOUT_AMOUNT
        error = _checkout_error(name, card, cvv, amount)
        if error:
            return self._checkout_page(req, status=422, error=error, name=name, amount=amount)
        payment = {"name": name, "last4": card[-4:], "amount": _money(amount) or CHECKOUT_AMOUNT}
        with self._lock:
            self._hs.payments.append(payment)
            number = len(self._hs.payments)
        return redirect("/checkout/done", [cookie("payment", str(number))])

    def _checkout_done(self, req: Request) -> Response:
        raw = req.cookies.get("payment", "")
        with self._lock:
            payments = self._hs.payments
            found = dict(payments[int(raw) - 1]) if raw.isdigit() and 0 < int(raw) <= len(payments) else None
        if found is None:
            return self._error(
                req,
                404,
                "No payment",
                "There is no payment to show in this browser.",
                ("/checkout", "Go to checkout"),
            )
        return self._page(req, 200, "Payment received", hpages.checkout_done(found["last4"], found["amount"]))

    # ----------------------------------------------------------------- report
    def _report_page(self, req: Request) -> Response:
        with self._lock:
            refreshes = self._hs.refreshes
        return self._page(req, 200, "Report", hpages.report(refreshes))

    def _report_refresh(self, req: Request) -> Response:
        with self._lock:
            self._hs.refreshes += 1
        return redirect("/report")

    def _track(self, req: Request) -> Response:
        # The page sends JSON as text/plain (a beacon); read the body as JSON whatever its type.
        event = req.json().get("event") or req.form().get("event")
        if not isinstance(event, str) or not event.strip():
            return json_response(422, {"error": "event is required"})
        with self._lock:
            self._hs.tracked.append(event.strip())
        return json_response(200, {"ok": True})

    def _metrics(self, req: Request) -> Response:
        with self._lock:
            self._hs.metrics += 1
            return json_response(200, {"metrics": self._hs.metrics})

    # ----------------------------------------------------------------- team
    def _team_page(self, req: Request) -> Response:
        flash = unquote(req.cookies.get("flash", "")) or None
        headers = [cookie("flash", "", path="/team", max_age=0)] if flash else []
        with self._lock:
            members = list(self._hs.team)
        return self._page(req, 200, "Team", hpages.team(members, flash), headers=headers)

    def _team_remove(self, req: Request) -> Response:
        member = req.form().get("member", "").strip()
        with self._lock:
            found = member in self._hs.team
            if found:
                self._hs.team.remove(member)
                self._hs.removed.append(member)
        if not found:
            return self._error(
                req, 404, "Not found", f"There is no team member {member!r}.", ("/team", "Back to the team")
            )
        return redirect("/team", [cookie("flash", quote(f"Removed {member}"), path="/team")])

    # ----------------------------------------------------------------- messages
    def _messages_page(self, req: Request) -> Response:
        with self._lock:
            sent = [dict(m) for m in self._hs.messages]
        return self._page(req, 200, "Messages", hpages.messages(sent))

    def _messages_post(self, req: Request) -> Response:
        form = req.form()
        to, body = form.get("to", "").strip(), form.get("body", "")
        error = "Recipient is required" if not to else "Message is required" if not body.strip() else None
        with self._lock:
            if error is None:
                self._hs.messages.append({"to": to, "body": body})
            sent = [dict(m) for m in self._hs.messages]
        if error:
            return self._page(req, 422, "Messages", hpages.messages(sent, to=to, body=body, error=error))
        return redirect("/messages")

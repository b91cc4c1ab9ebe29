"""Hostile test site: a local web app (stdlib only) that reproduces the web's friction.

Each page has a server-side truth that tests read directly (``HostileSite.truth()`` or
``GET /__truth__``), so a test can tell what really happened, whatever the page claims.

Run standalone::

    python resources/demo/site/hostile_site.py --port 8765 [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import json
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import hostile_pages as pages  # noqa: E402
from hostile_editor import EditorPagesMixin, EditorState  # noqa: E402
from hostile_handoff import HandoffPagesMixin, HandoffState  # noqa: E402
from hostile_http import (  # noqa: E402
    Request,
    Response,
    SiteHandler,
    SiteServer,
    cookie,
    json_response,
    redirect,
    safe_next,
)
from hostile_issues import IssuePagesMixin, IssueState  # noqa: E402
from hostile_live import LivePagesMixin, LiveState  # noqa: E402
from hostile_spa import SpaPagesMixin  # noqa: E402
from hostile_tickets import TicketPagesMixin, TicketState  # noqa: E402
from hostile_traffic import TELEMETRY, TrafficPagesMixin, TrafficState  # noqa: E402

__all__ = ["DEFAULT_CONFIG", "HostileSite", "Request", "Response"]

DEFAULT_CONFIG: dict[str, Any] = {
    "session_ttl": 300.0,  # seconds a session lives after login
    "delay_ms": 1500,  # /slow: how long until the report appears
    "require_login": False,  # /account, /notes*, /items* need a session
    "cookie_banner": True,  # consent overlay on every HTML page until the consent cookie is set
    "newsletter_modal": False,  # /notes: newsletter dialog 300 ms after load
    "profile_fails": True,  # POST /api/profile answers 500 and stores nothing
    "drop_notes": False,  # POST /notes silently stores nothing
    "flaky_failures": 2,  # /flaky: number of 503s before it works
    "order_503": 0,  # POST /api/order: number of 503s first
    "order_429": 0,  # POST /api/order: then this many 429s (Retry-After: 1)
    # POST /login: number of 503s first, as an overloaded server or a proxy answers them: the
    # sign-in is not judged (neither a login nor a failed login is counted)
    "login_503": 0,
    "drift": False,  # /notes: the "Add note" button becomes "Save note" (new id and test id)
    "signed_out_403": False,  # a page behind the sign-in answers 403 instead of redirecting to it
    "expire_at_post": 0,  # the next N POSTs to pages behind the sign-in find their session ended
    "issue_503": 0,  # POST /issues: number of 503 error pages first (nothing stored)
    "comment_503": 0,  # POST /issues/<id>: number of 503 error pages first (nothing stored)
    "comment_500": 0,  # POST /issues/<id>: number of comments stored, then answered 500
    "comment_429": 0,  # POST /issues/<id>: number of 429s first (nothing stored)
    "comment_500_unsaved": 0,  # POST /issues/<id>: number answered 500 storing nothing
    "comment_signed_out": 0,  # POST /issues/<id>: number sent to the sign-in (session ended)
    "comment_hang": 0,  # POST /issues/<id>: number stored, then answered comment_hang_ms late
    "comment_hang_ms": 3000,
    "comment_refused": 0,  # /issues/<id>: number of pages whose comment form posts where nothing listens
    "telemetry": False,  # every page sends telemetry and loads a font from unreachable hosts
    "spa_api_delay_ms": 0,  # /api/app/notes answers this late (the SPA shows its sign-in form then)
    "live_delay_ms": 300,  # /live*: how long the site takes to answer a message on the socket
    "live_ping_ms": 500,  # /live*: how often the site pings the socket (0: never)
    "live_connect_ms": 0,  # /live*: how long the socket's opening handshake takes
    "live_login_silent": False,  # /live/login: the sign-in message is never answered
    "live_sign_in": True,  # /live needs a session (signing in at /live/login)
}
_BOOL_KNOBS = {
    "require_login",
    "cookie_banner",
    "newsletter_modal",
    "profile_fails",
    "drop_notes",
    "drift",
    "signed_out_403",
    "telemetry",
    "live_login_silent",
    "live_sign_in",
}
_BUDGET_KNOBS = {
    "flaky_failures",
    "order_503",
    "order_429",
    "login_503",
    "expire_at_post",
    "issue_503",
    "comment_503",
    "comment_500",
    "comment_429",
    "comment_500_unsaved",
    "comment_signed_out",
    "comment_hang",
    "comment_refused",
}
_INT_KNOBS = {
    "delay_ms",
    "comment_hang_ms",
    "spa_api_delay_ms",
    "live_delay_ms",
    "live_ping_ms",
    "live_connect_ms",
} | _BUDGET_KNOBS

SEED_NOTES = [{"title": "Welcome", "body": "This is your first note."}]
SEED_PROFILE = {"display_name": "Demo User", "email": "demo@example.com"}
SEED_ITEMS = [{"id": i, "name": f"Invoice {1000 + i}"} for i in range(1, 6)]
PRODUCTS = [
    {"name": "Trail Backpack", "slug": "backpack", "price": "$89.00"},
    {"name": "Water Bottle", "slug": "bottle", "price": "$19.00"},
    {"name": "Headlamp", "slug": "headlamp", "price": "$35.00"},
]
_PROTECTED = re.compile(r"^/(account|notes|items|issues)(/|$)")
# Always behind the sign-in, whatever require_login says: the credentials demo task's page,
# and a user's own page (/me sends the browser to /users/NAME).
_MEMBERS_ONLY = re.compile(r"^/(members|me|users)(/|$)")
_ITEM_DELETE = re.compile(r"^/items/(\d+)/delete$")
_USER_PAGE = re.compile(r"^/users/([^/]+)$")


class _State:
    def __init__(self, config: dict[str, Any]) -> None:
        self.logins = 0
        self.failed_logins = 0
        self.csrf_rejections = 0
        self.sessions: dict[str, tuple[str, float]] = {}  # sid -> (user, expires_at monotonic)
        self.cart: list[str] = []
        self.profile = dict(SEED_PROFILE)
        self.profile_posts = 0
        self.notes = [dict(n) for n in SEED_NOTES]
        self.note_submissions: dict[str, int] = {}
        self.note_deletions: dict[str, int] = {}  # /app's Delete: title -> DELETEs that found it
        self.flaky_gets = 0
        self.orders: list[int] = []
        self.order_posts = 0
        self.wizards: dict[str, dict[str, Any]] = {}  # wiz cookie -> {"name", "done"}
        self.signups: list[dict[str, str]] = []
        self.items = [dict(i) for i in SEED_ITEMS]
        self.deletions: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.budget = {k: int(config[k]) for k in _BUDGET_KNOBS}
        self.handoff = HandoffState()  # /checkout, /report, /team, /messages
        self.tickets = TicketState()  # /tickets
        self.issues = IssueState()  # /issues
        self.editor = EditorState()  # /editor
        self.traffic = TrafficState()  # /compose
        self.live = LiveState()  # /live


class HostileSite(
    HandoffPagesMixin,
    SpaPagesMixin,
    TicketPagesMixin,
    IssuePagesMixin,
    EditorPagesMixin,
    TrafficPagesMixin,
    LivePagesMixin,
):
    """The site plus its server-side truth. All state sits behind one lock.

    The handoff pages (checkout, report, team, messages) come from ``HandoffPagesMixin``, the
    single-page app (``/app``) from ``SpaPagesMixin``, the ticket desk (/tickets) from
    ``TicketPagesMixin``, the issue tracker (/issues) from ``IssuePagesMixin``, the page editor
    (``/editor``) from ``EditorPagesMixin``, the compose page (an editing-session heartbeat)
    and the telemetry knob from ``TrafficPagesMixin``, the live notes driven over a WebSocket
    (/live) from ``LivePagesMixin``."""

    def __init__(
        self,
        *,
        session_ttl: float = 300.0,
        delay_ms: int = 1500,
        users: dict[str, str] | None = None,
        verbose: bool = False,
        **knobs: Any,
    ) -> None:
        self._lock = threading.RLock()
        self._config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self._users: dict[str, str] = {"demo": "demo-password"}
        self._secret = secrets.token_bytes(32)
        self.verbose = verbose
        self.configure(session_ttl=session_ttl, delay_ms=delay_ms, **knobs)
        if users is not None:
            self.configure(users=users)
        self._state = _State(self._config)
        self._server: SiteServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        # A port on the site's host bound but never listening: connecting is refused (knob
        # comment_refused sends a form there), and no other server can take it meanwhile.
        self._closed_port: socket.socket | None = None
        self.nowhere = ""
        self._routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/"): lambda r: self._page(r, 200, "Hostile Demo", pages.index()),
            ("GET", "/login"): self._login_form,
            ("POST", "/login"): self._login,
            ("GET", "/logout"): self._logout,
            ("POST", "/logout"): self._logout,
            ("GET", "/account"): self._account,
            ("GET", "/members"): lambda r: self._page(
                r, 200, "Members", pages.message_page("Members", f"Signed in as {self._user(r)}")
            ),
            ("GET", "/me"): lambda r: redirect(f"/users/{quote(self._user(r) or '', safe='')}"),
            ("GET", "/slow"): self._slow,
            ("GET", "/shop"): lambda r: self._page(r, 200, "Shop", pages.shop(PRODUCTS)),
            ("GET", "/api/cart"): lambda r: json_response(200, {"cart": self.truth()["cart"]}),
            ("POST", "/api/cart"): self._cart_add,
            ("GET", "/profile"): self._profile_page,
            ("GET", "/api/profile"): lambda r: json_response(200, self.truth()["profile"]),
            ("POST", "/api/profile"): self._profile_post,
            ("GET", "/notes"): self._notes_page,
            ("GET", "/notes/drop"): self._notes_page,
            ("POST", "/notes"): self._notes_post,
            ("GET", "/flaky"): self._flaky,
            ("GET", "/order"): lambda r: self._page(r, 200, "Order", pages.order()),
            ("POST", "/api/order"): self._order_post,
            ("GET", "/wizard"): self._wizard1_page,
            ("GET", "/wizard/1"): self._wizard1_page,
            ("POST", "/wizard/1"): self._wizard1_post,
            ("GET", "/wizard/2"): self._wizard2_page,
            ("POST", "/wizard/2"): self._wizard2_post,
            ("GET", "/wizard/done"): self._wizard_done,
            ("GET", "/items"): self._items_page,
            ("GET", "/forbidden"): lambda r: self._error(
                r, 403, "Permission denied", "You do not have access to this page."
            ),
            ("GET", "/api/echo"): lambda r: json_response(200, r.query),
            ("POST", "/api/echo"): self._echo,
            **self._handoff_routes(),
            **self._spa_routes(),
            **self._issue_routes(),
            **self._ticket_routes(),
            **self._editor_routes(),
            **self._traffic_routes(),
            **self._live_routes(),
            ("GET", "/__truth__"): lambda r: json_response(200, self.truth()),
            ("POST", "/__reset__"): self._http_reset,
            ("GET", "/__config__"): lambda r: json_response(200, self.config()),
            ("POST", "/__config__"): self._http_configure,
        }

    # ----------------------------------------------------------------- public API
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("site already started")
        server = SiteServer((host, port), SiteHandler)
        server.site = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="hostile-site",
            daemon=True,
        )
        self._thread.start()
        bound_host, bound_port = server.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        self._closed_port = socket.socket(server.address_family, socket.SOCK_STREAM)
        self._closed_port.bind((bound_host, 0))
        self.nowhere = f"http://{bound_host}:{self._closed_port.getsockname()[1]}"
        return self.base_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if self._closed_port is not None:
            self._closed_port.close()
            self._closed_port = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> HostileSite:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def truth(self) -> dict[str, Any]:
        with self._lock:
            s = self._state
            now = time.monotonic()
            return copy.deepcopy(
                {
                    "logins": s.logins,
                    "failed_logins": s.failed_logins,
                    "csrf_rejections": s.csrf_rejections,
                    "active_sessions": sum(1 for _, exp in s.sessions.values() if exp > now),
                    "cart": s.cart,
                    "profile": s.profile,
                    "profile_posts": s.profile_posts,
                    "notes": s.notes,
                    "note_submissions": s.note_submissions,
                    "note_deletions": s.note_deletions,
                    "flaky_gets": s.flaky_gets,
                    "orders": s.orders,
                    "order_posts": s.order_posts,
                    "signups": s.signups,
                    "items": s.items,
                    "deletions": s.deletions,
                    "requests": s.requests,
                    **s.handoff.truth(),
                    **s.tickets.truth(),
                    **s.issues.truth(),
                    **s.editor.truth(),
                    **s.traffic.truth(),
                    **s.live.truth(),
                    "config": self.config(),
                }
            )

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {**self._config, "users": sorted(self._users)}

    def reset(self) -> None:
        with self._lock:
            self._state = _State(self._config)

    def snapshot(self) -> Any:
        """Everything the site holds now (for tests that start many cases from one point)."""
        with self._lock:
            return copy.deepcopy(self._state)

    def restore(self, snapshot: Any) -> None:
        with self._lock:
            self._state = copy.deepcopy(snapshot)

    def expire_sessions(self) -> int:
        """End every session now, as if each had outlived session_ttl. Returns how many."""
        with self._lock:
            ended = len(self._state.sessions)
            self._state.sessions.clear()
            return ended

    def rename_item(self, item_id: int, name: str) -> None:
        """Someone else edits an item (its delete form then carries the new name)."""
        with self._lock:
            item = next(i for i in self._state.items if i["id"] == item_id)
            item["name"] = name

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs at runtime. Setting a budget knob (flaky_failures, order_503, order_429,
        login_503, issue_503, comment_503, comment_500 and the other comment_* failures) also
        re-arms that budget: the *next* N requests fail. Unknown knob -> ValueError."""
        clean: dict[str, Any] = {}
        for key, value in knobs.items():
            if key in _BOOL_KNOBS:
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be a bool")
            elif key in _INT_KNOBS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be an int >= 0")
            elif key == "session_ttl":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError("session_ttl must be a number >= 0")
                value = float(value)
            elif key == "users":
                if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()
                ):
                    raise ValueError("users must be a {name: password} dict")
            else:
                raise ValueError(f"unknown knob {key!r}")
            clean[key] = value
        with self._lock:
            for key, value in clean.items():
                if key == "users":
                    self._users = dict(value)
                    continue
                self._config[key] = value
                if key in _BUDGET_KNOBS and hasattr(self, "_state"):
                    self._state.budget[key] = value
            return self.config()

    # ----------------------------------------------------------------- dispatch
    def handle(self, req: Request) -> Response:
        if not req.path.startswith("/__"):
            key = f"{req.method} {req.path}"
            with self._lock:
                self._state.requests[key] = self._state.requests.get(key, 0) + 1
        with self._lock:
            need_login = self._config["require_login"]
            forbid = self._config["signed_out_403"]
        protected = (need_login and _PROTECTED.match(req.path)) or _MEMBERS_ONLY.match(req.path)
        if protected and req.method == "POST":
            with self._lock:
                if self._state.budget["expire_at_post"] > 0:
                    self._state.budget["expire_at_post"] -= 1
                    self._state.sessions.clear()  # it lapsed just before this write arrived
        if protected and self._user(req) is None:
            if forbid:
                return self._error(
                    req, 403, "Forbidden", "Sign in to see this page.", ("/login", "Go to sign-in")
                )
            return redirect("/login?next=" + quote(req.target, safe="/"))
        method = "GET" if req.method == "HEAD" else req.method
        route = self._routes.get((method, req.path))
        if route is not None:
            return route(req)
        m = _ITEM_DELETE.match(req.path)
        if m and method in ("GET", "POST"):
            return self._item_delete(req, int(m.group(1)))
        user_page = _USER_PAGE.match(req.path)
        if user_page and method == "GET":
            return self._user_page(req, unquote(user_page.group(1)))
        issue = self._issue_route(req, method)
        if issue is not None:
            return issue
        if any(p == req.path for _, p in self._routes) or m:
            return self._error(req, 405, "Method not allowed", f"{req.method} is not allowed here.")
        return self._error(req, 404, "Not found", f"There is no page at {req.path}.")

    def _user(self, req: Request) -> str | None:
        sid = req.cookies.get("sid")
        with self._lock:
            entry = self._state.sessions.get(sid or "")
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._state.sessions[sid or ""]
                return None
            return entry[0]

    def _page(
        self,
        req: Request,
        status: int,
        title: str,
        body: str,
        *,
        extra: str = "",
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        with self._lock:
            banner = self._config["cookie_banner"] and "consent" not in req.cookies
            if self._config["telemetry"]:
                extra += TELEMETRY
        doc = pages.layout(title, body, user=self._user(req), cookie_banner=banner, extra=extra)
        return Response(status, doc.encode(), headers=headers or [])

    def _error(
        self,
        req: Request,
        status: int,
        heading: str,
        message: str,
        link: tuple[str, str] | None = None,
    ) -> Response:
        return self._page(req, status, heading, pages.message_page(heading, message, link))

    # ----------------------------------------------------------------- login
    def _csrf_for(self, pre: str) -> str:
        return hmac.new(self._secret, pre.encode(), hashlib.sha256).hexdigest()

    def _csrf_ok(self, req: Request, form: dict[str, str]) -> bool:
        """The form's CSRF token matches its pre-session cookie; a mismatch is counted."""
        pre = req.cookies.get("presid", "")
        if pre and hmac.compare_digest(form.get("csrf", ""), self._csrf_for(pre)):
            return True
        with self._lock:
            self._state.csrf_rejections += 1
        return False

    def _login_form(
        self,
        req: Request,
        *,
        status: int = 200,
        error: str | None = None,
        username: str = "",
        next_path: str | None = None,
    ) -> Response:
        pre = req.cookies.get("presid") or secrets.token_urlsafe(16)
        headers = [] if "presid" in req.cookies else [cookie("presid", pre)]
        nxt = next_path if next_path is not None else safe_next(req.query.get("next"))
        body = pages.login(self._csrf_for(pre), nxt, username, error)
        return self._page(req, status, "Sign in", body, headers=headers)

    def _login(self, req: Request) -> Response:
        with self._lock:
            unavailable = self._state.budget["login_503"] > 0
            if unavailable:
                self._state.budget["login_503"] -= 1
        if unavailable:
            resp = self._error(
                req, 503, "Service unavailable", "Sign-in is temporarily unavailable. Try again."
            )
            resp.headers.append(("Retry-After", "1"))
            return resp
        form = req.form()
        if not self._csrf_ok(req, form):
            return self._error(
                req,
                403,
                "Forbidden",
                "Invalid or missing CSRF token. Reload the sign-in page and try again.",
                ("/login", "Back to sign-in"),
            )
        user, password = form.get("username", ""), form.get("password", "")
        nxt = safe_next(form.get("next") or req.query.get("next"))
        with self._lock:
            known = self._users.get(user)
            # Bytes: compare_digest refuses str with non-ASCII characters (a password may have them).
            ok = known is not None and hmac.compare_digest(known.encode(), password.encode())
            if not ok:
                self._state.failed_logins += 1
            else:
                self._state.logins += 1
                sid = secrets.token_urlsafe(24)
                expires = time.monotonic() + float(self._config["session_ttl"])
                self._state.sessions[sid] = (user, expires)
        if not ok:
            return self._login_form(
                req, status=401, error="Invalid username or password", username=user, next_path=nxt
            )
        return redirect(nxt, [cookie("sid", sid)])

    def _logout(self, req: Request) -> Response:
        with self._lock:
            self._state.sessions.pop(req.cookies.get("sid", ""), None)
        return redirect("/login", [cookie("sid", "", max_age=0)])

    def _account(self, req: Request) -> Response:
        user = self._user(req)
        left = None
        if user:
            with self._lock:
                entry = self._state.sessions.get(req.cookies.get("sid", ""))
                left = entry[1] - time.monotonic() if entry else None
        return self._page(req, 200, "Account", pages.account(user, left))

    # ----------------------------------------------------------------- simple pages
    def _slow(self, req: Request) -> Response:
        with self._lock:
            delay = int(self._config["delay_ms"])
        if req.query.get("delay", "").isdigit():
            delay = int(req.query["delay"])
        return self._page(req, 200, "Reports", pages.slow(delay))

    def _cart_add(self, req: Request) -> Response:
        product = req.form().get("product", "").strip()
        if product not in {p["name"] for p in PRODUCTS}:
            return json_response(422, {"error": f"unknown product {product!r}"})
        with self._lock:
            self._state.cart.append(product)
            return json_response(200, {"cart": list(self._state.cart)})

    def _profile_page(self, req: Request) -> Response:
        return self._page(req, 200, "Profile", pages.profile(self.truth()["profile"]))

    def _profile_post(self, req: Request) -> Response:
        form = req.form()
        with self._lock:
            self._state.profile_posts += 1
            if self._config["profile_fails"]:
                return json_response(500, {"error": "internal server error"})
            for key in ("display_name", "email"):
                if key in form:
                    self._state.profile[key] = form[key]
            return json_response(200, dict(self._state.profile))

    def _echo(self, req: Request) -> Response:
        try:
            data = json.loads(req.body.decode("utf-8")) if req.body else None
        except (ValueError, UnicodeDecodeError):
            data = {"raw": req.body.decode("utf-8", "replace")}
        return json_response(200, data)

    # ----------------------------------------------------------------- notes
    def _notes_page(self, req: Request) -> Response:
        action = "/notes?drop=1" if req.path == "/notes/drop" else "/notes"
        extra = ""
        with self._lock:
            if req.path == "/notes" and self._config["newsletter_modal"]:
                extra = pages.NEWSLETTER_MODAL
            drift = bool(self._config["drift"])
        body = pages.notes(self.truth()["notes"], action=action, drift=drift)
        return self._page(req, 200, "Notes", body, extra=extra)

    def _notes_post(self, req: Request) -> Response:
        form = req.form()
        title, body = form.get("title", "").strip(), form.get("body", "")
        drop = req.query.get("drop") == "1"
        with self._lock:
            subs = self._state.note_submissions
            subs[title] = subs.get(title, 0) + 1
            drop = drop or self._config["drop_notes"]
            drift = bool(self._config["drift"])
            if title and not drop:
                self._state.notes.append({"title": title, "body": body})
            notes = [dict(n) for n in self._state.notes]
        if not title:
            action = "/notes?drop=1" if req.query.get("drop") == "1" else "/notes"
            page = pages.notes(notes, action=action, error="Title is required", body=body, drift=drift)
            return self._page(req, 422, "Notes", page)
        return redirect("/notes")

    # ----------------------------------------------------------------- flaky / orders
    def _flaky(self, req: Request) -> Response:
        with self._lock:
            self._state.flaky_gets += 1
            fail = self._state.budget["flaky_failures"] > 0
            if fail:
                self._state.budget["flaky_failures"] -= 1
        if fail:
            resp = self._error(
                req,
                503,
                "Service unavailable",
                "The inventory service is temporarily unavailable. Try again.",
            )
            resp.headers.append(("Retry-After", "1"))
            return resp
        return self._page(req, 200, "Inventory", pages.flaky())

    def _order_post(self, req: Request) -> Response:
        raw = req.form().get("quantity", "")
        with self._lock:
            s = self._state
            s.order_posts += 1
            if s.budget["order_503"] > 0:
                s.budget["order_503"] -= 1
                return json_response(503, {"error": "service unavailable"}, [("Retry-After", "1")])
            if s.budget["order_429"] > 0:
                s.budget["order_429"] -= 1
                return json_response(429, {"error": "too many requests"}, [("Retry-After", "1")])
            try:
                qty = int(float(raw))
            except ValueError:
                qty = 0
            if qty < 1:
                return json_response(422, {"error": "quantity must be a whole number >= 1"})
            s.orders.append(qty)
            return json_response(201, {"order": len(s.orders), "quantity": qty})

    # ----------------------------------------------------------------- wizard
    def _wizard(self, req: Request) -> dict[str, Any] | None:
        with self._lock:
            entry = self._state.wizards.get(req.cookies.get("wiz", ""))
            return dict(entry) if entry else None

    def _start_again(self, req: Request) -> Response:
        return self._error(
            req,
            409,
            "Start again",
            "This step needs step 1 to be completed first in this browser.",
            ("/wizard", "Back to step 1"),
        )

    def _wizard1_page(self, req: Request) -> Response:
        return self._page(req, 200, "Sign up", pages.wizard_step1())

    def _wizard1_post(self, req: Request) -> Response:
        name = req.form().get("name", "").strip()
        if not name:
            return self._page(req, 422, "Sign up", pages.wizard_step1(error="Full name is required"))
        wid = req.cookies.get("wiz") or secrets.token_urlsafe(16)
        with self._lock:
            self._state.wizards[wid] = {"name": name, "done": False}
        return redirect("/wizard/2", [cookie("wiz", wid)])

    def _wizard2_page(self, req: Request) -> Response:
        entry = self._wizard(req)
        if entry is None:
            return self._start_again(req)
        return self._page(req, 200, "Sign up", pages.wizard_step2(entry["name"]))

    def _wizard2_post(self, req: Request) -> Response:
        entry = self._wizard(req)
        if entry is None:
            return self._start_again(req)
        form = req.form()
        city, plan = form.get("city", "").strip(), form.get("plan", "Basic")
        error = None
        if not city:
            error = "City is required"
        elif plan not in ("Basic", "Pro"):
            error = "Choose a plan"
        elif not form.get("terms"):
            error = "You must accept the terms"
        if error:
            page = pages.wizard_step2(entry["name"], city, plan, error)
            return self._page(req, 422, "Sign up", page)
        with self._lock:
            self._state.signups.append({"name": entry["name"], "city": city, "plan": plan})
            self._state.wizards[req.cookies["wiz"]]["done"] = True
        return redirect("/wizard/done")

    def _wizard_done(self, req: Request) -> Response:
        entry = self._wizard(req)
        if entry is None or not entry["done"]:
            return self._start_again(req)
        return self._page(req, 200, "Welcome", pages.wizard_done(entry["name"]))

    # ----------------------------------------------------------------- items
    def _items_page(self, req: Request) -> Response:
        flash = unquote(req.cookies.get("flash", "")) or None
        headers = [cookie("flash", "", path="/items", max_age=0)] if flash else []
        return self._page(req, 200, "Items", pages.items(self.truth()["items"], flash), headers=headers)

    def _item_delete(self, req: Request, item_id: int) -> Response:
        with self._lock:
            s = self._state
            if req.method == "POST":
                s.deletions[str(item_id)] = s.deletions.get(str(item_id), 0) + 1
            item = next((i for i in s.items if i["id"] == item_id), None)
            if item is not None and req.method == "POST":
                s.items.remove(item)
        if item is None:
            return self._error(
                req,
                404,
                "Not found",
                f"Item {item_id} does not exist.",
                ("/items", "Back to items"),
            )
        if req.method == "POST":
            back = req.form().get("next")
            if back:  # posted from a user's page: back there
                return redirect(safe_next(back))
            flash = quote(f"Deleted {item['name']}")
            return redirect("/items", [cookie("flash", flash, path="/items")])
        return self._page(req, 200, "Delete item", pages.confirm_delete(item_id, item["name"]))

    def _user_page(self, req: Request, name: str) -> Response:
        with self._lock:
            known = name in self._users
        if not known:
            return self._error(req, 404, "Not found", f"There is no user {name}.")
        return self._page(req, 200, f"User {name}", pages.user_page(name, self.truth()["items"]))

    # ----------------------------------------------------------------- control endpoints
    def _http_reset(self, req: Request) -> Response:
        self.reset()
        return json_response(200, {"ok": True})

    def _http_configure(self, req: Request) -> Response:
        try:
            data = json.loads(req.body.decode("utf-8") or "{}")
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            return json_response(200, self.configure(**data))
        except (ValueError, UnicodeDecodeError) as exc:
            return json_response(400, {"error": str(exc)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Serve the Flightdeck hostile demo site.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--session-ttl", type=float, default=DEFAULT_CONFIG["session_ttl"])
    ap.add_argument("--delay-ms", type=int, default=DEFAULT_CONFIG["delay_ms"])
    ap.add_argument("--require-login", action="store_true")
    ap.add_argument("--newsletter-modal", action="store_true")
    ap.add_argument("--no-cookie-banner", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not log requests")
    args = ap.parse_args(argv)
    site = HostileSite(
        session_ttl=args.session_ttl,
        delay_ms=args.delay_ms,
        require_login=args.require_login,
        newsletter_modal=args.newsletter_modal,
        cookie_banner=not args.no_cookie_banner,
        verbose=not args.quiet,
    )
    url = site.start(host=args.host, port=args.port)
    print(f"Hostile demo site: {url}  (truth at {url}/__truth__; Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

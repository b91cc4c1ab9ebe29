"""Server-truth behaviours of the hostile demo site (no browser: plain HTTP)."""

from __future__ import annotations

import http.client
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

SITE_DIR = Path(__file__).resolve().parents[2] / "resources" / "demo" / "site"
if str(SITE_DIR) not in sys.path:
    sys.path.insert(0, str(SITE_DIR))

import hostile_site  # noqa: E402

from tests.helpers.secrets_shown import without_random_ids  # noqa: E402


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    set_cookies: list[str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Client:
    """Tiny HTTP client with a cookie jar; never follows redirects; closes every connection."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Resp:
        url = urlsplit(self.base)
        headers = {}
        body: bytes | None = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            text = r.read().decode("utf-8")
            set_cookies = r.headers.get_all("Set-Cookie") or []
            resp = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, set_cookies, text)
        finally:
            conn.close()
        for raw in set_cookies:
            jar = SimpleCookie(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return resp

    def get(self, path: str) -> Resp:
        return self.request("GET", path)

    def post(self, path: str, **kw: Any) -> Resp:
        return self.request("POST", path, **kw)


@pytest.fixture
def site() -> Iterator[hostile_site.HostileSite]:
    s = hostile_site.HostileSite()
    s.start(port=0)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(site: hostile_site.HostileSite) -> Client:
    return Client(site.base_url)


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no csrf field on the login page"
    return m.group(1)


def test_start_returns_local_url_and_every_page_is_html(site, client):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", site.base_url)
    for path in ["/", "/login", "/account", "/slow", "/shop", "/profile", "/notes", "/order"]:
        r = client.get(path)
        assert r.status == 200, path
        assert r.text.startswith("<!doctype html>") and "<title>" in r.text
        assert 'id="cookie-banner"' in r.text and 'aria-label="Cookie consent"' in r.text


def test_cookie_banner_gone_with_consent_cookie_or_knob(site, client):
    client.cookies["consent"] = "all"
    assert 'id="cookie-banner"' not in client.get("/").text
    site.configure(cookie_banner=False)
    assert 'id="cookie-banner"' not in Client(site.base_url).get("/").text


def test_newsletter_modal_only_when_enabled(site, client):
    assert 'aria-label="Newsletter"' not in client.get("/notes").text
    site.configure(newsletter_modal=True)
    page = client.get("/notes").text
    assert 'aria-label="Newsletter"' in page and 'aria-label="Close"' in page
    assert 'aria-label="Newsletter"' not in client.get("/shop").text


def test_notes_post_is_stored_and_counted(site, client):
    r = client.post("/notes", form={"title": "Buy milk", "body": "2 litres"})
    assert r.status == 303 and r.headers["location"] == "/notes"
    truth = site.truth()
    assert {"title": "Buy milk", "body": "2 litres"} in truth["notes"]
    assert truth["note_submissions"] == {"Buy milk": 1}
    assert '<li data-testid="note">Buy milk</li>' in client.get("/notes").text


def test_drop_mode_counts_but_does_not_store(site, client):
    before = site.truth()["notes"]
    site.configure(drop_notes=True)
    r = client.post("/notes", form={"title": "Lost", "body": ""})
    assert r.status == 303 and r.headers["location"] == "/notes"
    site.configure(drop_notes=False)
    assert 'action="/notes?drop=1"' in client.get("/notes/drop").text
    r = client.post("/notes?drop=1", form={"title": "Lost", "body": ""})
    assert r.status == 303
    truth = site.truth()
    assert truth["notes"] == before
    assert truth["note_submissions"] == {"Lost": 2}


def test_empty_title_is_422_with_alert_and_stores_nothing(site, client):
    before = site.truth()["notes"]
    r = client.post("/notes", form={"title": "  ", "body": "text"})
    assert r.status == 422
    assert 'role="alert"' in r.text and "Title is required" in r.text
    assert site.truth()["notes"] == before


def test_profile_post_returns_500_and_stores_nothing(site, client):
    before = site.truth()["profile"]
    new = {"display_name": "Ada", "email": "ada@example.com"}
    assert client.post("/api/profile", json_body=new).status == 500
    truth = site.truth()
    assert truth["profile"] == before and truth["profile_posts"] == 1
    assert client.get("/api/profile").json() == before
    assert "Saved!" in client.get("/profile").text  # the page's JS claims success regardless

    site.configure(profile_fails=False)
    assert client.post("/api/profile", json_body=new).status == 200
    assert site.truth()["profile"] == new and site.truth()["profile_posts"] == 2
    assert client.get("/api/profile").json() == new
    assert 'value="ada@example.com"' in client.get("/profile").text


def test_flaky_503_then_200_and_again_after_reset(site, client):
    assert [client.get("/flaky").status for _ in range(3)] == [503, 503, 200]
    assert "Inventory" in client.get("/flaky").text
    assert site.truth()["flaky_gets"] == 4
    site.reset()
    first = client.get("/flaky")
    assert first.status == 503 and first.headers["retry-after"] == "1"
    site.configure(flaky_failures=0)
    assert client.get("/flaky").status == 200


def test_order_503_then_429_then_201(site, client):
    site.configure(order_503=1, order_429=1)
    r1 = client.post("/api/order", json_body={"quantity": 3})
    r2 = client.post("/api/order", json_body={"quantity": 3})
    r3 = client.post("/api/order", json_body={"quantity": 3})
    assert (r1.status, r2.status, r3.status) == (503, 429, 201)
    assert r2.headers["retry-after"] == "1"
    assert r3.json() == {"order": 1, "quantity": 3}
    assert client.post("/api/order", json_body={"quantity": 0}).status == 422
    truth = site.truth()
    assert truth["orders"] == [3] and truth["order_posts"] == 4
    assert "Place order" in client.get("/order").text


def test_csrf_rejected_bad_credentials_401_then_login(site, client):
    form = client.get("/login?next=/notes")
    token = csrf_of(form.text)
    assert "presid" in client.cookies
    creds = {"username": "demo", "password": "demo-password", "next": "/notes"}
    assert client.post("/login", form=creds).status == 403
    assert client.post("/login", form={**creds, "csrf": "forged"}).status == 403
    assert Client(site.base_url).post("/login", form={**creds, "csrf": token}).status == 403
    bad = client.post("/login", form={**creds, "password": "nope", "csrf": token})
    assert bad.status == 401 and "Invalid username or password" in bad.text
    assert 'name="csrf"' in bad.text  # the form is shown again
    ok = client.post("/login", form={**creds, "csrf": token})
    assert ok.status == 303 and ok.headers["location"] == "/notes"
    assert "sid" in client.cookies
    truth = site.truth()
    assert (truth["logins"], truth["failed_logins"], truth["csrf_rejections"]) == (1, 1, 3)


def test_login_503_answers_the_sign_in_unavailable_without_judging_it(site, client):
    site.configure(login_503=2)
    token = csrf_of(client.get("/login").text)
    creds = {"username": "demo", "password": "demo-password", "csrf": token}
    first, second = client.post("/login", form=creds), client.post("/login", form=creds)
    assert (first.status, second.status) == (503, 503)
    assert first.headers["retry-after"] == "1" and "temporarily unavailable" in first.text
    assert "sid" not in client.cookies
    assert client.post("/login", form=creds).status == 303
    truth = site.truth()
    assert (truth["logins"], truth["failed_logins"]) == (1, 0)  # the 503s judged nothing
    assert truth["requests"]["POST /login"] == 3


def test_open_redirect_in_next_is_ignored(client):
    token = csrf_of(client.get("/login").text)
    creds = {"username": "demo", "password": "demo-password", "csrf": token}
    r = client.post("/login", form={**creds, "next": "//evil.example/"})
    assert r.headers["location"] == "/account"


def test_session_expiry_redirects_to_login_with_require_login():
    site = hostile_site.HostileSite(session_ttl=0.2, require_login=True)
    site.start()
    try:
        c = Client(site.base_url)
        r = c.get("/notes")
        assert r.status == 303 and r.headers["location"] == "/login?next=/notes"
        token = csrf_of(c.get("/login?next=/notes").text)
        login = c.post(
            "/login",
            form={"username": "demo", "password": "demo-password", "csrf": token, "next": "/notes"},
        )
        assert login.status == 303 and login.headers["location"] == "/notes"
        assert c.get("/notes").status == 200
        deadline = time.monotonic() + 5
        while True:
            r = c.get("/items")
            if r.status == 303:
                break
            assert r.status == 200
            assert time.monotonic() < deadline, "session never expired"
            time.sleep(0.05)
        assert r.headers["location"] == "/login?next=/items"
        post = c.post("/notes", form={"title": "late", "body": ""})
        assert post.status == 303 and post.headers["location"].startswith("/login?next=")
        assert site.truth()["note_submissions"] == {}
    finally:
        site.stop()


def test_protected_pages_open_without_require_login(client):
    assert client.get("/notes").status == 200
    assert client.get("/items").status == 200
    assert "not signed in" in client.get("/account").text


def test_logout_ends_session(site, client):
    site.configure(require_login=True)
    token = csrf_of(client.get("/login").text)
    client.post("/login", form={"username": "demo", "password": "demo-password", "csrf": token})
    assert client.get("/account").status == 200
    assert client.get("/logout").status == 303
    assert client.get("/account").status == 303


def test_item_delete_then_404_on_repeat(site, client):
    confirm = client.get("/items/1/delete")
    assert confirm.status == 200
    assert "Delete Invoice 1001? This cannot be undone." in confirm.text
    r = client.post("/items/1/delete")
    assert r.status == 303 and r.headers["location"] == "/items"
    page = client.get("/items").text
    assert "Deleted Invoice 1001" in page and "/items/1/delete" not in page
    assert "Deleted Invoice 1001" not in client.get("/items").text  # flash shown once
    assert client.post("/items/1/delete").status == 404
    assert client.get("/items/1/delete").status == 404
    truth = site.truth()
    assert [i["id"] for i in truth["items"]] == [2, 3, 4, 5]
    assert truth["deletions"] == {"1": 2}


def test_a_users_own_page_has_their_name_in_its_url_and_deletes_from_there(site, client):
    assert client.get("/me").headers["location"] == "/login?next=/me"  # always behind the sign-in
    token = csrf_of(client.get("/login").text)
    client.post("/login", form={"username": "demo", "password": "demo-password", "csrf": token})
    me = client.get("/me")
    assert me.status == 303 and me.headers["location"] == "/users/demo"
    page = client.get("/users/demo")
    assert page.status == 200 and "Account administration for demo" in page.text
    assert client.get("/users/nobody").status == 404
    r = client.post("/items/1/delete", form={"next": "/users/demo"})
    assert r.status == 303 and r.headers["location"] == "/users/demo"
    assert "Invoice 1001" not in client.get("/users/demo").text
    assert [i["id"] for i in site.truth()["items"]] == [2, 3, 4, 5]


def test_wizard_flow_and_errors(site, client):
    assert client.get("/wizard/2").status == 409
    assert client.post("/wizard/2", form={"city": "Oslo", "plan": "Pro", "terms": "yes"}).status == 409
    r = client.post("/wizard/1", form={"name": "Ada Lovelace"})
    assert r.status == 303 and r.headers["location"] == "/wizard/2"
    assert client.get("/wizard/2").status == 200
    r = client.post("/wizard/2", form={"city": "Oslo", "plan": "Pro"})
    assert r.status == 422 and "You must accept the terms" in r.text
    assert site.truth()["signups"] == []
    r = client.post("/wizard/2", form={"city": "Oslo", "plan": "Pro", "terms": "yes"})
    assert r.status == 303 and r.headers["location"] == "/wizard/done"
    assert "Welcome, Ada Lovelace" in client.get("/wizard/done").text
    assert site.truth()["signups"] == [{"name": "Ada Lovelace", "city": "Oslo", "plan": "Pro"}]


def test_issues_lead_to_their_own_page_and_503_stores_nothing(site, client):
    site.configure(issue_503=1, comment_503=1)
    r = client.post("/issues", form={"title": "Printer jam"})
    assert r.status == 503 and "temporarily unavailable" in r.text and r.headers["retry-after"] == "1"
    r = client.post("/issues", form={"title": "Printer jam"})
    assert r.status == 303 and r.headers["location"] == "/issues/1"
    page = client.get("/issues/1").text
    assert 'data-testid="issue-title">Printer jam<' in page and "0 comments" in page
    assert client.post("/issues/1", form={"comment": "Toner replaced"}).status == 503
    r = client.post("/issues/1", form={"comment": "Toner replaced"})
    assert r.status == 303 and r.headers["location"] == "/issues/1"
    assert "1 comment<" in client.get("/issues/1").text
    site.configure(comment_500=1)
    assert client.post("/issues/1", form={"comment": "Fuser too"}).status == 500  # stored anyway
    assert client.get("/issues/9").status == 404
    assert client.post("/issues", form={"title": ""}).status == 422
    truth = site.truth()
    comments = ["Toner replaced", "Fuser too"]
    assert truth["issues"] == [{"id": 1, "title": "Printer jam", "comments": comments}]
    assert truth["issue_posts"] == 3 and truth["comment_posts"] == 3


def test_each_way_a_comment_can_fail_and_what_it_stores(site, client):
    """The knobs of the write-retry table (tests/integration/engine/test_write_retry_table.py):
    what the tracker received and stored for each, as only the server knows it."""
    assert client.post("/issues", form={"title": "Printer jam"}).status == 303
    site.configure(comment_429=1, comment_500_unsaved=1)
    r = client.post("/issues/1", form={"comment": "turned away"})
    assert r.status == 429 and r.headers["retry-after"] == "1"
    assert client.post("/issues/1", form={"comment": "lost"}).status == 500
    site.configure(comment_signed_out=1)
    r = client.post("/issues/1", form={"comment": "signed out"})
    assert r.status == 303 and r.headers["location"] == "/login?next=/issues/1"
    site.configure(comment_hang=1, comment_hang_ms=300)
    started = time.monotonic()
    assert client.post("/issues/1", form={"comment": "saved, answered late"}).status == 303
    assert time.monotonic() - started >= 0.3
    site.configure(comment_refused=1)
    form = re.search(r'<form method="post" action="([^"]+)"', client.get("/issues/1").text)
    assert form is not None and form.group(1) == f"{site.nowhere}/issues/1"
    down = urlsplit(form.group(1))
    with pytest.raises(ConnectionRefusedError):  # the write address is down: nothing listens
        http.client.HTTPConnection(down.hostname, down.port, timeout=5).connect()
    assert 'action="/issues/1"' in client.get("/issues/1").text  # the next page's form works
    truth = site.truth()
    stored = ["saved, answered late"]
    assert truth["issues"] == [{"id": 1, "title": "Printer jam", "comments": stored}]
    assert truth["comment_posts"] == 3  # every POST that reached the tracker, stored or not


def test_cart_forbidden_echo_and_request_counters(site, client):
    assert client.post("/api/cart", json_body={"product": "Headlamp"}).status == 200
    assert client.post("/api/cart", json_body={"product": "Nope"}).status == 422
    assert client.get("/forbidden").status == 403
    assert "Permission denied" in client.get("/forbidden").text
    echo = client.post("/api/echo", json_body={"a": [1, 2]})
    assert echo.status == 200 and echo.json() == {"a": [1, 2]}
    client.get("/__truth__")
    truth = site.truth()
    assert truth["cart"] == ["Headlamp"]
    assert truth["requests"]["POST /api/cart"] == 2
    assert truth["requests"]["GET /forbidden"] == 2
    assert not any(k.split(" ", 1)[1].startswith("/__") for k in truth["requests"])


def test_reset_restores_data_and_keeps_config(site, client):
    initial = site.truth()
    site.configure(drop_notes=True, profile_fails=False, order_429=1)
    client.post("/notes", form={"title": "x", "body": ""})
    client.post("/items/2/delete")
    client.post("/api/profile", json_body={"display_name": "Z"})
    client.post("/api/order", json_body={"quantity": 1})
    site.reset()
    truth = site.truth()
    assert truth["requests"] == {} and truth["note_submissions"] == {}
    for key in ("notes", "items", "profile", "orders", "deletions", "cart", "signups"):
        assert truth[key] == initial[key], key
    assert truth["config"]["drop_notes"] is True and truth["config"]["order_429"] == 1
    assert client.post("/api/order", json_body={"quantity": 1}).status == 429  # budget re-armed


def test_http_control_endpoints(site, client):
    cfg = client.post("/__config__", json_body={"flaky_failures": 0, "require_login": True})
    assert cfg.status == 200 and cfg.json()["flaky_failures"] == 0
    assert client.post("/__config__", json_body={"bogus": 1}).status == 400
    assert client.post("/__config__", json_body={"require_login": "yes"}).status == 400
    assert client.get("/flaky").status == 200
    truth = client.get("/__truth__").json()
    assert truth["flaky_gets"] == 1 and truth["config"]["require_login"] is True
    assert client.post("/__reset__").status == 200
    assert site.truth()["flaky_gets"] == 0
    with pytest.raises(ValueError):
        site.configure(nonsense=True)


def test_truth_is_a_deep_copy(site):
    truth = site.truth()
    truth["notes"].append({"title": "mutated", "body": ""})
    truth["items"][0]["name"] = "mutated"
    assert site.truth()["notes"] != truth["notes"]
    assert site.truth()["items"][0]["name"] == "Invoice 1001"


# ----------------------------------------------------------------- handoff pages
CARD = "4242 4242 4242 4242"


def checkout_form(client: Client, **fields: str) -> dict[str, str]:
    token = csrf_of(client.get("/checkout").text)
    base = {"name": "Ada Lovelace", "card_number": CARD, "cvv": "7391", "amount": "89.00"}
    return {**base, "csrf": token, **fields}


def test_handoff_pages_are_html_with_the_banner_and_linked_from_the_index(client):
    index = client.get("/").text
    for path in ["/checkout", "/report", "/team", "/messages"]:
        assert f'href="{path}"' in index, path
        r = client.get(path)
        assert r.status == 200, path
        assert r.text.startswith("<!doctype html>") and 'id="cookie-banner"' in r.text
    client.cookies["consent"] = "all"
    assert 'id="cookie-banner"' not in client.get("/checkout").text
    assert client.get("/team/remove").status == 405


def test_checkout_form_fields_and_labels(client):
    page = client.get("/checkout").text
    assert '<form method="post" action="/checkout"' in page
    assert '<label for="card-name">Name on card</label><input id="card-name" name="name"' in page
    assert '<label for="card-number">Card number</label>' in page
    assert 'name="card_number" autocomplete="cc-number"' in page
    assert '<label for="cvv">CVV</label><input id="cvv" name="cvv" type="password"' in page
    assert re.search(r'<label for="amount">Amount</label><input [^>]*value="89\.00" readonly', page)
    assert '<button type="submit" data-testid="pay-now">Pay now</button>' in page
    assert 'name="csrf"' in page and "presid" in client.cookies


def test_checkout_stores_only_last4_and_shows_payment_received(site, client):
    r = client.post("/checkout", form=checkout_form(client))
    assert r.status == 303 and r.headers["location"] == "/checkout/done"
    truth = site.truth()
    assert truth["payments"] == [{"name": "Ada Lovelace", "last4": "4242", "amount": "89.00"}]
    assert truth["checkout_posts"] == 1
    done = client.get("/checkout/done")
    assert done.status == 200
    assert done.text.count("Payment received") == 2  # <title> and <h1>
    assert '<span data-testid="last4">4242</span>' in done.text
    for secret in ("4242424242424242", CARD, "7391"):
        assert secret not in json.dumps(truth)
    assert "4242424242424242" not in done.text and CARD not in done.text
    assert Client(site.base_url).get("/checkout/done").status == 404  # another browser: nothing


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "Name on card is required"),
        ({"card_number": "4242 4242 424"}, "Card number must be 12 to 19 digits"),
        ({"card_number": "4" * 20}, "Card number must be 12 to 19 digits"),
        ({"card_number": "4242x4242x4242"}, "Card number must be 12 to 19 digits"),
        ({"cvv": "12"}, "CVV must be 3 or 4 digits"),
        ({"cvv": "12345"}, "CVV must be 3 or 4 digits"),
        ({"amount": "-1"}, "Amount must be a positive number"),
    ],
)
def test_checkout_invalid_is_422_stores_nothing_and_never_echoes_the_card(site, client, fields, message):
    form = checkout_form(client, **{"card_number": "5555 6666 7777 8888", "cvv": "9876", **fields})
    r = client.post("/checkout", form=form)
    assert r.status == 422
    assert 'role="alert"' in r.text and message in r.text
    assert re.search(r'name="csrf" value="[0-9a-f]+"', r.text)  # the form is shown again
    page = without_random_ids(r.text)  # the fresh CSRF token may hold any digit run
    assert "5555" not in page and "9876" not in page  # neither the card nor the CVV comes back
    truth = site.truth()
    assert truth["payments"] == [] and truth["checkout_posts"] == 1


def test_checkout_without_csrf_is_403(site, client):
    form = checkout_form(client)
    assert client.post("/checkout", form={**form, "csrf": "forged"}).status == 403
    assert Client(site.base_url).post("/checkout", form=form).status == 403  # no presid cookie
    truth = site.truth()
    assert truth["payments"] == [] and truth["csrf_rejections"] == 2


def test_report_show_reads_and_quietly_tracks(site, client):
    page = client.get("/report").text
    assert '<button type="button" id="show-report" data-testid="show-report">Show report</button>' in page
    assert "fetch('/api/track', {method: 'POST', body: JSON.stringify({event: 'report_viewed'})})" in page
    assert "fetch('/api/report')" in page and "fetch('/api/metrics'" in page
    assert "Stats refreshed 0 times" in page
    rows = client.get("/api/report").json()["rows"]
    assert [r["region"] for r in rows] == ["North", "South", "West"]
    # The page's beacon sends JSON without a JSON content type; it still counts.
    url = urlsplit(site.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        body = json.dumps({"event": "report_viewed"})
        conn.request("POST", "/api/track", body=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert client.post("/api/track", form={"event": "other"}).status == 200
    assert client.post("/api/track", json_body={}).status == 422
    assert site.truth()["tracked"] == ["report_viewed", "other"]


def test_report_refresh_is_a_form_post_and_metrics_count(site, client):
    page = client.get("/report").text
    assert '<form method="post" action="/report/refresh"' in page
    assert ">Refresh stats</button>" in page and ">Ping metrics</button>" in page
    r = client.post("/report/refresh", form={})
    assert r.status == 303 and r.headers["location"] == "/report"
    assert "Stats refreshed 1 time<" in client.get("/report").text
    assert client.post("/api/metrics", json_body={"metric": "ping"}).json() == {"metrics": 1}
    assert client.post("/api/metrics", json_body={"metric": "ping"}).status == 200
    truth = site.truth()
    assert (truth["refreshes"], truth["metrics"], truth["tracked"]) == (1, 2, [])


def test_team_buttons_are_all_remove_and_rows_tell_them_apart(site, client):
    page = client.get("/team").text
    assert page.count(">Remove</button>") == 3
    assert "data-testid" not in "".join(re.findall(r"<button[^>]*>Remove</button>", page))
    for name, testid in [
        ("Ada Lovelace", "member-ada-lovelace"),
        ("Grace Hopper", "member-grace-hopper"),
        ("Alan Turing", "member-alan-turing"),
    ]:
        row = re.search(rf'<li data-testid="{testid}">(.*?)</li>', page)
        assert row, testid
        assert f'name="member" value="{name}"' in row.group(1) and 'action="/team/remove"' in row.group(1)
    assert site.truth()["team"] == ["Ada Lovelace", "Grace Hopper", "Alan Turing"]


def test_team_remove_redirects_back_and_records_the_order(site, client):
    r = client.post("/team/remove", form={"member": "Grace Hopper"})
    assert r.status == 303 and r.headers["location"] == "/team"
    page = client.get("/team").text
    assert "Removed Grace Hopper" in page and "member-grace-hopper" not in page
    assert "Removed Grace Hopper" not in client.get("/team").text  # flash shown once
    client.post("/team/remove", form={"member": "Ada Lovelace"})
    assert client.post("/team/remove", form={"member": "Ada Lovelace"}).status == 404
    assert client.post("/team/remove", form={"member": "Nobody"}).status == 404
    truth = site.truth()
    assert truth["team"] == ["Alan Turing"]
    assert truth["removed"] == ["Grace Hopper", "Ada Lovelace"]


def test_drift_knob_renames_the_add_note_button(site, client):
    default = client.get("/notes").text
    assert '<button type="submit" data-testid="add-note">Add note</button></form>' in default
    assert "Save note" not in default
    site.configure(drift=True)
    assert site.config()["drift"] is True
    drifted = client.get("/notes").text
    assert '<button type="submit" id="save-note" data-testid="save-note">Save note</button>' in drifted
    assert "Add note<" not in drifted and 'data-testid="add-note"' not in drifted
    assert "Save note</button>" in client.post("/notes", form={"title": "", "body": ""}).text
    assert client.post("/notes", form={"title": "Drifted", "body": ""}).status == 303  # still works
    assert site.truth()["notes"][-1]["title"] == "Drifted"
    site.configure(drift=False)
    assert client.get("/notes").text == default.replace("</ul>", '<li data-testid="note">Drifted</li></ul>')
    with pytest.raises(ValueError):
        site.configure(drift="yes")


def test_messages_send_stores_and_lists(site, client):
    page = client.get("/messages").text
    assert '<form method="post" action="/messages"' in page
    assert '<label for="to">To</label><input id="to" name="to"' in page
    assert '<label for="message-body">Message</label><textarea id="message-body" name="body"' in page
    assert '<button type="submit">Send</button>' in page and "No messages sent yet." in page
    r = client.post("/messages", form={"to": "grace@example.com", "body": "See you at 5"})
    assert r.status == 303 and r.headers["location"] == "/messages"
    assert '<span data-testid="sent-to">Sent to grace@example.com</span>' in client.get("/messages").text
    assert site.truth()["messages"] == [{"to": "grace@example.com", "body": "See you at 5"}]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"to": " ", "body": "hi"}, "Recipient is required"),
        ({"to": "a@b.c", "body": " "}, "Message is required"),
    ],
)
def test_messages_invalid_is_422_and_sends_nothing(site, client, form, message):
    r = client.post("/messages", form=form)
    assert r.status == 422 and 'role="alert"' in r.text and message in r.text
    assert site.truth()["messages"] == []


def test_reset_restores_the_handoff_pages(site, client):
    initial = site.truth()
    client.post("/checkout", form=checkout_form(client))
    client.post("/api/track", json_body={"event": "report_viewed"})
    client.post("/report/refresh", form={})
    client.post("/api/metrics", json_body={})
    client.post("/team/remove", form={"member": "Alan Turing"})
    client.post("/messages", form={"to": "x@example.com", "body": "hi"})
    site.configure(drift=True)
    changed = site.truth()
    keys = ("payments", "checkout_posts", "tracked", "refreshes", "metrics", "team", "removed", "messages")
    assert all(changed[k] != initial[k] for k in keys)
    site.reset()
    truth = site.truth()
    for key in keys:
        assert truth[key] == initial[key], key
    assert truth["config"]["drift"] is True  # knobs survive a reset
    assert client.get("/checkout/done").status == 404  # the payment it pointed at is gone


def signed_in(client: Client) -> None:
    page = client.get("/login?next=/items").text
    form = {"csrf": csrf_of(page), "username": "demo", "password": "demo-password", "next": "/items"}
    assert client.post("/login", form=form).status in (302, 303)


def test_signed_out_403_answers_a_lapsed_session_with_403_and_stores_nothing(site, client):
    site.configure(require_login=True, signed_out_403=True)
    forbidden = client.get("/notes")
    assert forbidden.status == 403 and "Sign in to see this page." in forbidden.text
    signed_in(client)
    assert client.get("/notes").status == 200
    assert site.expire_sessions() == 1
    assert client.post("/notes", form={"title": "Late", "body": ""}).status == 403
    assert site.truth()["note_submissions"] == {}


def test_expire_at_post_ends_the_session_just_before_the_next_write(site, client):
    site.configure(require_login=True)
    signed_in(client)
    site.configure(expire_at_post=1)
    assert client.get("/items/3/delete").status == 200  # reads still see the session
    refused = client.post("/items/3/delete")
    assert refused.status in (302, 303) and refused.headers["location"].startswith("/login?next=")
    assert site.truth()["deletions"] == {} and site.truth()["active_sessions"] == 0
    signed_in(client)
    assert client.post("/items/3/delete").status in (302, 303)  # the budget was one write
    assert site.truth()["deletions"] == {"3": 1}


def test_renamed_item_shows_its_new_name_in_the_delete_form(site, client):
    site.rename_item(2, "Invoice 1002 (paid)")
    assert (
        '<input type="hidden" name="item" value="Invoice 1002 (paid)">' in client.get("/items/2/delete").text
    )


def test_spa_api_answers_401_signed_out_and_stores_notes_signed_in(site, client):
    assert "fetch('/api/app/notes'" in client.get("/app").text  # the page itself is public
    assert client.get("/api/app/notes").status == 401
    assert client.post("/api/app/notes", json_body={"title": "Nope"}).status == 401
    assert client.post("/api/session", json_body={"username": "demo", "password": "wrong"}).status == 401
    assert (
        client.post("/api/session", json_body={"username": "demo", "password": "demo-password"}).status == 200
    )
    assert client.post("/api/app/notes", json_body={"title": "From the app"}).status == 201
    assert client.get("/api/app/notes").json()["notes"][-1]["title"] == "From the app"
    truth = site.truth()
    assert truth["note_submissions"] == {"From the app": 1}
    assert (truth["logins"], truth["failed_logins"]) == (1, 1)
    site.expire_sessions()
    assert client.get("/api/app/notes").status == 401


def test_editor_without_a_slug_is_shown_again_with_its_errors_and_autosaves(site, client):
    late = client.get("/editor/new?script_ms=3000&debounce_ms=100").text
    assert (
        "/editor/editor.js?delay_ms=3000&debounce_ms=100" in late
        and 'action="/editor/new?script_ms=3000' in late
    )
    inline = client.get("/editor/new").text
    assert "var wait = 0," in inline and "/editor/editor.js" not in inline
    r = client.post("/editor/new", form={"title": "Spring news", "slug": "", "action": "publish"})
    # As Wagtail does: 200 with the form again, the error on the slug, then a background autosave.
    assert r.status == 200 and "The page could not be created due to validation errors." in r.text
    assert 'id="slug-errors"><p class="error-message">This field is required.</p>' in r.text
    assert "fetch('/editor/autosave'" in r.text
    assert client.post("/editor/autosave", form={"title": "Spring news"}).status == 400
    truth = site.truth()
    assert truth["editor_pages"] == [] and truth["editor_autosaves"] == 1
    assert truth["editor_posts"] == [{"title": "Spring news", "slug": ""}]


def test_editor_publishes_a_page_with_its_slug_once(site, client):
    r = client.post("/editor/new", form={"title": "Spring news", "slug": "spring-news"})
    assert r.status == 303 and r.headers["location"] == "/editor"
    assert "Page &#x27;Spring news&#x27; created and published." in client.get("/editor").text
    again = client.post("/editor/new", form={"title": "Spring news", "slug": "spring-news"})
    assert again.status == 200 and "The slug &#x27;spring-news&#x27; is already in use." in again.text
    assert site.truth()["editor_pages"] == [{"title": "Spring news", "slug": "spring-news"}]
    assert client.get("/editor/editor.js?delay_ms=0&debounce_ms=100").text.startswith("(function () {")


def test_no_two_page_mixins_define_the_same_member() -> None:
    """The site is assembled from one mixin per set of pages; a helper two of them name alike
    is silently taken from whichever comes first (the tracker's `_ts` once shadowed the editor
    traffic pages' own, and every /compose/ping answered 500)."""
    owners: dict[str, str] = {}
    clashes = []
    for mixin in hostile_site.HostileSite.__bases__:
        for name in vars(mixin):
            if name.startswith("__"):
                continue
            if name in owners:
                clashes.append(f"{name}: {owners[name]} and {mixin.__name__}")
            owners[name] = mixin.__name__
    assert not clashes


def test_the_editors_heartbeat_is_counted(site: hostile_site.HostileSite, client: Client) -> None:
    resp = client.post("/compose/ping", form={"draft": "1"})
    assert resp.status == 204
    assert site.truth()["compose_pings"] == 1

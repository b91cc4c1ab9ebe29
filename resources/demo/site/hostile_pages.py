"""HTML for the hostile demo site: inline CSS and JS only, no external assets.

Every function returns a fragment or a whole HTML5 document as ``str``; user-supplied values are
escaped here. The server (``hostile_site.py``) decides status codes and state.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from urllib.parse import quote

SITE_NAME = "Hostile Demo"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;
background:#eef2f7}
header.top{background:#243b53;color:#d9e2ec;padding:.7rem 1.5rem;display:flex;
justify-content:space-between;align-items:center}
header.top a{color:#fff;text-decoration:none}
.brand{font-weight:700;letter-spacing:.02em}
.who a{margin-left:.6rem;text-decoration:underline!important}
main{max-width:780px;margin:1.5rem auto;background:#fff;padding:1.5rem 2rem;border-radius:10px;
box-shadow:0 1px 4px rgba(15,23,42,.12)}
footer{text-align:center;color:#829ab1;font-size:12px;margin-bottom:2rem}
h1{margin-top:0;font-size:1.6rem}
a{color:#2680c2}
label{display:block;margin:.7rem 0 .2rem;font-weight:600}
label.inline{display:inline;font-weight:400;margin-left:.3rem}
input,select,textarea{width:100%;padding:.45rem .6rem;border:1px solid #bcccdc;border-radius:5px;
font:inherit}
input[type=checkbox]{width:auto;margin-top:1rem}
button{background:#2680c2;color:#fff;border:0;border-radius:5px;padding:.5rem 1.1rem;font:inherit;
cursor:pointer;margin-top:.9rem}
button:hover{background:#186faf}
button.secondary{background:#829ab1}
button.danger{background:#d64545}
[role=alert]{color:#8a1c1c;background:#ffe3e3;border-left:4px solid #d64545;padding:.5rem .8rem;
border-radius:4px}
p[role=status]:not(:empty),.flash{color:#0e5e3a;background:#e3f9e5;border-left:4px solid #3ebd93;
padding:.5rem .8rem;border-radius:4px}
ul.index li{margin:.35rem 0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #d9e2ec}
.products{display:grid;grid-template-columns:repeat(3,1fr);gap:1rem}
.products article{border:1px solid #d9e2ec;border-radius:8px;padding:1rem}
.products h2{font-size:1.1rem;margin:0 0 .3rem}
.price{color:#486581}
.promo{background:linear-gradient(90deg,#f7c948,#f0b429);color:#513c06;padding:2.2rem 1rem;
border-radius:8px;margin-bottom:1rem;font-size:1.25rem;font-weight:700;text-align:center}
ul.items{list-style:none;padding:0}
ul.items li{display:flex;justify-content:space-between;padding:.6rem 0;
border-bottom:1px solid #e4e7eb}
.overlay{position:fixed;inset:0;background:rgba(15,23,42,.55);display:flex;
align-items:center;justify-content:center;z-index:1000;pointer-events:auto}
#cookie-banner{z-index:2000;align-items:flex-end}
.overlay .panel{background:#fff;border-radius:10px;padding:1.4rem 1.8rem;max-width:560px;
width:92%;margin:2rem;box-shadow:0 10px 30px rgba(0,0,0,.3);position:relative}
.overlay .panel h2{margin-top:0}
.close{position:absolute;top:.4rem;right:.6rem;background:none;color:#52606d;font-size:1.4rem;
margin:0;padding:.1rem .5rem}
.close:hover{background:#e4e7eb}
code{background:#f0f4f8;padding:.05rem .3rem;border-radius:3px}
"""

COOKIE_BANNER = """
<div id="cookie-banner" class="overlay" role="dialog" aria-label="Cookie consent"
 data-testid="cookie-banner">
 <div class="panel">
  <h2>We value your privacy</h2>
  <p>We and our 847 partners use cookies to personalise content and measure everything you do.</p>
  <button type="button" data-consent="all" data-testid="cookie-accept">Accept all</button>
  <button type="button" class="secondary" data-consent="none"
   data-testid="cookie-reject">Reject</button>
 </div>
</div>
<script>
document.querySelectorAll('#cookie-banner [data-consent]').forEach(function (b) {
  b.addEventListener('click', function () {
    document.cookie = 'consent=' + b.dataset.consent + '; path=/; max-age=31536000; SameSite=Lax';
    document.getElementById('cookie-banner').remove();
  });
});
</script>
"""

NEWSLETTER_MODAL = """
<template id="newsletter-template">
 <div id="newsletter" class="overlay" role="dialog" aria-label="Newsletter"
  data-testid="newsletter-modal">
  <div class="panel">
   <button type="button" class="close" aria-label="Close"
    data-testid="newsletter-close">&times;</button>
   <h2>Don't miss a thing!</h2>
   <p>Join 20,000 readers and get our weekly newsletter about productivity.</p>
   <button type="button" data-testid="newsletter-subscribe">Subscribe</button>
  </div>
 </div>
</template>
<script>
setTimeout(function () {
  var tpl = document.getElementById('newsletter-template');
  var node = tpl.content.firstElementChild.cloneNode(true);
  node.querySelector('.close').addEventListener('click', function () { node.remove(); });
  document.body.appendChild(node);
}, 300);
</script>
"""


def layout(
    title: str,
    body: str,
    *,
    user: str | None = None,
    cookie_banner: bool = False,
    extra: str = "",
) -> str:
    who = (
        f'<span class="who" data-testid="who">Signed in as {esc(user)}<a href="/logout">Sign out</a></span>'
        if user
        else '<span class="who" data-testid="who">Not signed in</span>'
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="icon" href="data:,"><style>{CSS}</style></head>\n'
        f'<body><header class="top"><a class="brand" href="/">{SITE_NAME}</a>{who}</header>\n'
        f'<main id="main">\n{body}\n</main>\n'
        f"<footer>{SITE_NAME} &middot; a local site that misbehaves on purpose</footer>\n"
        f"{extra}{COOKIE_BANNER if cookie_banner else ''}</body></html>\n"
    )


def alert(message: str | None) -> str:
    return f'<p role="alert" data-testid="error">{esc(message)}</p>' if message else ""


INDEX_LINKS = [
    ("/login", "Login", "CSRF token, sessions that expire quickly"),
    ("/account", "Account", "who you are signed in as"),
    ("/slow", "Slow report", "content rendered seconds after load"),
    ("/shop", "Shop", "layout shift and a list that keeps re-rendering"),
    ("/profile", "Profile", "says Saved! while the server answers 500"),
    ("/notes", "Notes", "a classic form that works (and a newsletter pop-up)"),
    ("/notes/drop", "Silent drop form", "same form; the server silently drops it"),
    ("/flaky", "Flaky inventory", "503 a few times before it works"),
    ("/order", "Order form", "503 and 429 with Retry-After"),
    ("/wizard", "Signup wizard", "two steps, state kept in a cookie"),
    ("/items", "Items", "destructive delete behind a confirmation page"),
    ("/me", "Your page", "the signed-in user's own page: their name is in its URL"),
    ("/issues/new", "Issues", "a new issue leads to its own page, where comments are added"),
    ("/checkout", "Checkout", "a card payment form: Pay now cannot be taken back"),
    ("/report", "Sales report", "looks read-only, but showing it quietly POSTs a tracking event"),
    ("/team", "Team", "every member's button just says Remove"),
    ("/messages", "Messages", "a message form whose Send cannot be undone"),
    ("/tickets", "Tickets", 'a form that comes back with its errors (200); buttons say "– Delete"'),
    ("/editor", "Page editor", "its own script derives the slug from the title, late and debounced"),
    ("/compose", "Compose", "an editor whose page pings its editing session every 300 ms"),
    ("/live", "Live notes", "rendered over a WebSocket: a click is a message, its effect comes late"),
    ("/forbidden", "Forbidden", "always 403"),
]


def index() -> str:
    rows = "\n".join(
        f'<li><a href="{href}">{esc(name)}</a> &mdash; {esc(desc)}</li>' for href, name, desc in INDEX_LINKS
    )
    return (
        f"<h1>{SITE_NAME}</h1><p>Every page here reproduces a piece of the web's friction. "
        "The server keeps the truth at <code>/__truth__</code>.</p>"
        f'<nav aria-label="Pages"><ul class="index" data-testid="index">{rows}</ul></nav>'
    )


def message_page(heading: str, message: str, link: tuple[str, str] | None = None) -> str:
    more = f'<p><a href="{esc(link[0])}">{esc(link[1])}</a></p>' if link else ""
    return f"<h1>{esc(heading)}</h1><p data-testid='message'>{esc(message)}</p>{more}"


def login(csrf: str, next_path: str, username: str = "", error: str | None = None) -> str:
    return (
        f"<h1>Sign in</h1>{alert(error)}"
        '<form method="post" action="/login" data-testid="login-form">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label for="username">Username</label><input id="username" name="username" '
        f'autocomplete="username" data-testid="username" value="{esc(username)}">'
        '<label for="password">Password</label><input id="password" name="password" '
        'type="password" autocomplete="current-password" data-testid="password">'
        '<button type="submit" data-testid="sign-in">Sign in</button></form>'
    )


def account(user: str | None, expires_in: float | None) -> str:
    if not user:
        return (
            '<h1>Account</h1><p data-testid="account-status">You are not signed in.</p>'
            '<p><a href="/login?next=/account">Go to sign-in</a></p>'
        )
    left = max(expires_in or 0.0, 0.0)
    # The page says when the server drops the session (to the millisecond), so a task can wait
    # for the expiry instead of guessing: `wait_for: {text: "Your session has expired"}`.
    return (
        f'<h1>Account</h1><p data-testid="account-status">Username: {esc(user)}</p>'
        f'<p data-testid="session-left" data-ms="{int(left * 1000)}">'
        f"Your session expires in {left:.0f} s.</p>"
        "<script>\n"
        "(function () {\n"
        "  var p = document.querySelector('[data-testid=session-left]');\n"
        "  setTimeout(function () { p.textContent = 'Your session has expired.'; },\n"
        "             Number(p.dataset.ms) + 50);\n"
        "})();\n"
        "</script>"
    )


def slow(delay_ms: int) -> str:
    return (
        '<h1>Reports</h1><p id="loading" data-testid="loading">Loading…</p>'
        f'<div id="slot" data-delay="{int(delay_ms)}"></div>'
        "<script>\n"
        "(function () {\n"
        "  var slot = document.getElementById('slot');\n"
        "  setTimeout(function () {\n"
        "    document.getElementById('loading').remove();\n"
        "    slot.innerHTML = '<section data-testid=\"report\"><h2>Quarterly report</h2> '\n"
        "      + '<p>Total: 42</p></section>'\n"
        '      + \'<button type="button" id="download" data-testid="download">\'\n'
        '      + \'Download report</button><p role="status" id="download-status" \'\n'
        "      + 'data-testid=\"status\"></p>';\n"
        "    document.getElementById('download').addEventListener('click', function () {\n"
        "      document.getElementById('download-status').textContent = 'Download started';\n"
        "    });\n"
        "  }, Number(slot.dataset.delay));\n"
        "})();\n"
        "</script>"
    )


SHOP_JS = """
<script>
(function () {
  var products = JSON.parse(document.getElementById('products-data').textContent);
  var list = document.getElementById('products');
  var status = document.getElementById('status');
  function add(name) {
    fetch('/api/cart', {method: 'POST', headers: {'Content-Type': 'application/json'},
                        body: JSON.stringify({product: name})})
      .then(function (r) {
        status.textContent = r.ok ? 'Added ' + name
                                  : 'Could not add ' + name + ' (' + r.status + ')';
      })
      .catch(function () { status.textContent = 'Could not add ' + name; });
  }
  function render() {
    list.replaceChildren.apply(list, products.map(function (p) {
      var a = document.createElement('article');
      a.setAttribute('data-testid', 'product');
      a.innerHTML = '<h2></h2><p class="price"></p><button type="button">Add to cart</button>';
      a.querySelector('h2').textContent = p.name;
      a.querySelector('.price').textContent = p.price;
      var b = a.querySelector('button');
      b.setAttribute('data-testid', 'add-' + p.slug);
      b.addEventListener('click', function () { add(p.name); });
      return a;
    }));
  }
  render();
  setInterval(render, 500);
  setTimeout(function () {
    var promo = document.createElement('div');
    promo.className = 'promo';
    promo.setAttribute('data-testid', 'promo');
    promo.textContent = 'Summer sale: 20% off everything today only!';
    document.getElementById('main').prepend(promo);
  }, 400);
})();
</script>
"""


def shop(products: Iterable[Mapping[str, str]]) -> str:
    data = json.dumps(list(products)).replace("</", "<\\/")
    return (
        "<h1>Shop</h1><p>Outdoor gear, shipped tomorrow.</p>"
        '<section class="products" id="products" aria-label="Products" data-testid="products">'
        "</section>"
        '<p role="status" id="status" data-testid="status"></p>'
        f'<script type="application/json" id="products-data">{data}</script>{SHOP_JS}'
    )


PROFILE_JS = """
<script>
document.getElementById('profile-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var data = {display_name: document.getElementById('display_name').value,
              email: document.getElementById('email').value};
  var done = function () { document.getElementById('status').textContent = 'Saved!'; };
  fetch('/api/profile', {method: 'POST', headers: {'Content-Type': 'application/json'},
                         body: JSON.stringify(data)}).then(done, done);
});
</script>
"""


def profile(values: Mapping[str, str]) -> str:
    return (
        '<h1>Profile</h1><form id="profile-form" method="post" action="/api/profile" '
        'data-testid="profile-form">'
        '<label for="display_name">Display name</label><input id="display_name" '
        'name="display_name" data-testid="display-name" '
        f'value="{esc(values.get("display_name", ""))}">'
        '<label for="email">Email</label><input id="email" name="email" inputmode="email" '
        f'data-testid="email" value="{esc(values.get("email", ""))}">'
        '<button type="submit" data-testid="save-profile">Save profile</button></form>'
        f'<p role="status" id="status" data-testid="status"></p>{PROFILE_JS}'
    )


def notes(
    items: Iterable[Mapping[str, str]],
    *,
    action: str = "/notes",
    error: str | None = None,
    title: str = "",
    body: str = "",
    drift: bool = False,
) -> str:
    lis = "".join(f'<li data-testid="note">{esc(n["title"])}</li>' for n in items)
    button = (  # drift: the same button after a redesign, so yesterday's locator finds nothing
        '<button type="submit" id="save-note" data-testid="save-note">Save note</button>'
        if drift
        else '<button type="submit" data-testid="add-note">Add note</button>'
    )
    listing = (
        f'<ul data-testid="notes" aria-label="Notes">{lis}</ul>'
        if lis
        else '<p data-testid="no-notes">No notes yet.</p>'
    )
    return (
        f"<h1>Notes</h1>{listing}<h2>Add a note</h2>{alert(error)}"
        f'<form method="post" action="{esc(action)}" data-testid="note-form">'
        '<label for="title">Title</label>'
        f'<input id="title" name="title" data-testid="note-title" value="{esc(title)}">'
        '<label for="body">Body</label>'
        f'<textarea id="body" name="body" rows="3" data-testid="note-body">{esc(body)}</textarea>'
        f"{button}</form>"
    )


INVENTORY = [
    ("SKU-1001", "Trail Backpack", 12),
    ("SKU-1002", "Water Bottle", 0),
    ("SKU-1003", "Headlamp", 7),
]


def flaky() -> str:
    rows = "".join(
        f"<tr><td>{sku}</td><td>{esc(name)}</td><td>{stock}</td></tr>" for sku, name, stock in INVENTORY
    )
    return (
        '<h1>Inventory</h1><table data-testid="inventory"><caption>Stock levels</caption>'
        '<thead><tr><th scope="col">SKU</th><th scope="col">Item</th><th scope="col">In stock</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


ORDER_JS = """
<script>
document.getElementById('order-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var status = document.getElementById('status');
  var qty = Number(document.getElementById('quantity').value);
  fetch('/api/order', {method: 'POST', headers: {'Content-Type': 'application/json'},
                       body: JSON.stringify({quantity: qty})})
    .then(function (r) {
      if (!r.ok) { status.textContent = 'Order failed (' + r.status + ')'; return; }
      return r.json().then(function (d) { status.textContent = 'Order placed #' + d.order; });
    })
    .catch(function () { status.textContent = 'Order failed (network)'; });
});
</script>
"""


def order() -> str:
    return (
        '<h1>Place an order</h1><form id="order-form" method="post" action="/api/order" '
        'data-testid="order-form"><label for="quantity">Quantity</label>'
        '<input id="quantity" name="quantity" type="number" min="1" value="1" '
        'data-testid="quantity">'
        '<button type="submit" data-testid="place-order">Place order</button></form>'
        f'<p role="status" id="status" data-testid="status"></p>{ORDER_JS}'
    )


def wizard_step1(name: str = "", error: str | None = None) -> str:
    return (
        f"<h1>Sign up</h1><p>Step 1 of 2</p>{alert(error)}"
        '<form method="post" action="/wizard/1" data-testid="wizard-step1">'
        '<label for="name">Full name</label>'
        '<input id="name" name="name" autocomplete="name" data-testid="full-name" '
        f'value="{esc(name)}">'
        '<button type="submit" data-testid="next">Next</button></form>'
    )


def wizard_step2(name: str, city: str = "", plan: str = "Basic", error: str | None = None) -> str:
    opts = "".join(
        f'<option value="{p}"{" selected" if p == plan else ""}>{p}</option>' for p in ("Basic", "Pro")
    )
    return (
        f"<h1>Sign up</h1><p>Step 2 of 2 &mdash; hello {esc(name)}</p>{alert(error)}"
        '<form method="post" action="/wizard/2" data-testid="wizard-step2">'
        '<label for="city">City</label>'
        f'<input id="city" name="city" data-testid="city" value="{esc(city)}">'
        '<label for="plan">Plan</label>'
        f'<select id="plan" name="plan" data-testid="plan">{opts}</select>'
        '<div><input type="checkbox" id="terms" name="terms" value="yes" data-testid="terms">'
        '<label class="inline" for="terms">I accept the terms</label></div>'
        '<button type="submit" data-testid="finish">Finish</button></form>'
    )


def wizard_done(name: str) -> str:
    return f'<h1>All set</h1><p data-testid="welcome">Welcome, {esc(name)}</p>'


def items(rows: Iterable[Mapping[str, object]], flash: str | None = None) -> str:
    flash_html = f'<p role="status" class="flash" data-testid="flash">{esc(flash)}</p>' if flash else ""
    lis = "".join(
        f'<li data-testid="item" data-id="{esc(r["id"])}"><span>{esc(r["name"])}</span>'
        f'<a href="/items/{esc(r["id"])}/delete" data-testid="delete-{esc(r["id"])}">'
        "Delete</a></li>"
        for r in rows
    )
    listing = (
        f'<ul class="items" data-testid="items" aria-label="Items">{lis}</ul>'
        if lis
        else "<p>No items left.</p>"
    )
    return f"<h1>Items</h1>{flash_html}{listing}"


def user_page(user: str, rows: Iterable[Mapping[str, object]]) -> str:
    """A signed-in user's own page at /users/NAME: the name is in the URL and the text, as on
    sites whose admin area lives under /admin/. Each item's Delete posts at once (no
    confirmation page) and comes back here."""
    back = f"/users/{quote(user)}"
    lis = "".join(
        f'<li data-testid="item" data-id="{esc(r["id"])}"><span>{esc(r["name"])}</span>'
        f'<form method="post" action="/items/{esc(r["id"])}/delete">'
        f'<input type="hidden" name="next" value="{esc(back)}">'
        f'<button type="submit" class="danger" data-testid="delete-{esc(r["id"])}" '
        f'aria-label="Delete {esc(r["name"])}">Delete</button></form></li>'
        for r in rows
    )
    listing = f'<ul class="items" data-testid="items" aria-label="Items">{lis}</ul>' if lis else ""
    return (
        f'<h1 data-testid="user-heading">{esc(user)}</h1>'
        f'<p data-testid="user-note">Account administration for {esc(user)}</p>'
        f"{listing or '<p>No items left.</p>'}"
    )


def confirm_delete(item_id: int, name: str) -> str:
    return (
        "<h1>Delete item</h1>"
        f'<p data-testid="confirm-text">Delete {esc(name)}? This cannot be undone.</p>'
        f'<form method="post" action="/items/{item_id}/delete" data-testid="confirm-form">'
        f'<input type="hidden" name="item" value="{esc(name)}">'
        '<button type="submit" class="danger" data-testid="confirm-delete">Yes, delete</button>'
        '</form><p><a href="/items" data-testid="cancel">Cancel</a></p>'
    )

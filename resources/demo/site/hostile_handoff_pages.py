"""HTML for the hostile site's handoff pages: a checkout, a report whose "read" also writes, a team
list whose buttons all say "Remove", and a message form.

Same rules as ``hostile_pages``: inline JS only, user-supplied values escaped here, the server
(``hostile_handoff.py``) decides status codes and state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from hostile_pages import alert, esc


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def flash_note(flash: str | None) -> str:
    return f'<p role="status" class="flash" data-testid="flash">{esc(flash)}</p>' if flash else ""


# ----------------------------------------------------------------- checkout
def checkout(csrf: str, *, name: str = "", amount: str = "89.00", error: str | None = None) -> str:
    # The card number and CVV are never written back into the page, even after a failed POST.
    return (
        f"<h1>Checkout</h1><p>Trail Backpack, shipped tomorrow.</p>{alert(error)}"
        '<form method="post" action="/checkout" data-testid="checkout-form">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        '<label for="card-name">Name on card</label>'
        '<input id="card-name" name="name" autocomplete="cc-name" data-testid="card-name" '
        f'value="{esc(name)}">'
        '<label for="card-number">Card number</label>'
        '<input id="card-number" name="card_number" autocomplete="cc-number" inputmode="numeric" '
        'data-testid="card-number">'
        '<label for="cvv">CVV</label>'
        '<input id="cvv" name="cvv" type="password" autocomplete="cc-csc" inputmode="numeric" '
        'data-testid="cvv">'
        '<label for="amount">Amount</label>'
        f'<input id="amount" name="amount" value="{esc(amount)}" readonly data-testid="amount">'
        '<button type="submit" data-testid="pay-now">Pay now</button></form>'
    )


def checkout_done(last4: str, amount: str) -> str:
    return (
        "<h1>Payment received</h1>"
        f'<p data-testid="payment-detail">Charged {esc(amount)} to the card ending in '
        f'<span data-testid="last4">{esc(last4)}</span>.</p>'
        '<p><a href="/">Back to the start page</a></p>'
    )


# ----------------------------------------------------------------- report with a hidden write
REPORT_JS = """
<script>
(function () {
  var status = document.getElementById('status');
  document.getElementById('show-report').addEventListener('click', function () {
    // The "read" also records that it happened: an analytics write the page never mentions.
    fetch('/api/track', {method: 'POST', body: JSON.stringify({event: 'report_viewed'})})
      .catch(function () {});
    fetch('/api/report')
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (d) {
        var body = document.getElementById('report-rows');
        body.replaceChildren.apply(body, d.rows.map(function (row) {
          var tr = document.createElement('tr');
          tr.setAttribute('data-testid', 'report-row');
          [row.region, String(row.orders), row.revenue].forEach(function (v) {
            var td = document.createElement('td');
            td.textContent = v;
            tr.appendChild(td);
          });
          return tr;
        }));
        document.getElementById('report').hidden = false;
        status.textContent = 'Report loaded';
      })
      .catch(function (e) { status.textContent = 'Could not load the report (' + e.message + ')'; });
  });
  document.getElementById('ping-metrics').addEventListener('click', function () {
    fetch('/api/metrics', {method: 'POST', headers: {'Content-Type': 'application/json'},
                           body: JSON.stringify({metric: 'ping'})})
      .then(function (r) {
        status.textContent = r.ok ? 'Metrics sent' : 'Metrics failed (' + r.status + ')';
      })
      .catch(function () { status.textContent = 'Metrics failed'; });
  });
})();
</script>
"""


def report(refreshes: int) -> str:
    times = "1 time" if refreshes == 1 else f"{refreshes} times"
    return (
        "<h1>Sales report</h1><p>A read-only view of this month's figures.</p>"
        f'<p data-testid="refreshes">Stats refreshed {times}</p>'
        '<button type="button" id="show-report" data-testid="show-report">Show report</button> '
        '<button type="button" class="secondary" id="ping-metrics" data-testid="ping-metrics">'
        "Ping metrics</button>"
        '<form method="post" action="/report/refresh" data-testid="refresh-form">'
        '<button type="submit" class="secondary" data-testid="refresh-stats">Refresh stats</button>'
        "</form>"
        '<p role="status" id="status" data-testid="status"></p>'
        '<table id="report" data-testid="report" hidden><caption>Orders by region</caption>'
        '<thead><tr><th scope="col">Region</th><th scope="col">Orders</th>'
        '<th scope="col">Revenue</th></tr></thead><tbody id="report-rows"></tbody></table>'
        f"{REPORT_JS}"
    )


# ----------------------------------------------------------------- team with ambiguous buttons
def team(members: Iterable[str], flash: str | None = None) -> str:
    # Every button is just "Remove"; only the row (data-testid="member-<slug>") tells them apart.
    lis = "".join(
        f'<li data-testid="member-{esc(slug(m))}"><span>{esc(m)}</span>'
        '<form method="post" action="/team/remove" style="margin:0">'
        f'<input type="hidden" name="member" value="{esc(m)}">'
        '<button type="submit" class="danger" style="margin:0">Remove</button></form></li>'
        for m in members
    )
    listing = (
        f'<ul class="items" data-testid="team" aria-label="Team members">{lis}</ul>'
        if lis
        else '<p data-testid="no-members">No members left.</p>'
    )
    return f"<h1>Team</h1>{flash_note(flash)}{listing}"


# ----------------------------------------------------------------- messages
def messages(
    sent: Iterable[Mapping[str, str]], *, to: str = "", body: str = "", error: str | None = None
) -> str:
    lis = "".join(
        f'<li data-testid="sent-message"><span data-testid="sent-to">Sent to {esc(m["to"])}</span>'
        f"<p>{esc(m['body'])}</p></li>"
        for m in sent
    )
    listing = (
        f'<ul data-testid="sent-messages" aria-label="Sent messages">{lis}</ul>'
        if lis
        else '<p data-testid="no-messages">No messages sent yet.</p>'
    )
    return (
        f"<h1>Messages</h1>{alert(error)}"
        '<form method="post" action="/messages" data-testid="message-form">'
        '<label for="to">To</label>'
        f'<input id="to" name="to" autocomplete="email" data-testid="message-to" value="{esc(to)}">'
        '<label for="message-body">Message</label>'
        '<textarea id="message-body" name="body" rows="4" data-testid="message-body">'
        f"{esc(body)}</textarea>"
        '<button type="submit">Send</button></form>'
        f"<h2>Sent</h2>{listing}"
    )

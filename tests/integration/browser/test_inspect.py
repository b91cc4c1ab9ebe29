"""Reading targets for handoffs: inspect, candidates, point-at, outlined screenshots, operator-edited
form values. Real Chromium, pages served on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from browser_support import act, pixels

from app.browser import PlaywrightProvider, PlaywrightSession
from app.browser import highlight as overlay
from app.browser.locators import build_locator
from app.browser.masking import MASK
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Target

SECRETS = ("hunter2-secret", "4111111111111111", "tok-abc-123", "987654", "cvv-333")

FORM_PAGE = """<!doctype html><title>Pay</title>
<h1>Invoice 42</h1>
<form id=pay method=post action="/pay">
  <label for=holder>Cardholder</label><input id=holder name=holder value="Ada Lovelace">
  <label>Password <input type=password name=pw value="hunter2-secret"></label>
  <input name=card_number aria-label="Card" value="4111111111111111">
  <input name=code autocomplete="cc-csc" aria-label="Security code" value="cvv-333">
  <input type=hidden name=csrf_token value="tok-abc-123">
  <input type=hidden name=plan value="gold">
  <input name=shipping placeholder="Shipping address" value="1 Main Street">
  <input name=userPin aria-label="PIN" value="987654">
  <label><input type=checkbox name=terms checked> I agree</label>
  <label><input type=checkbox name=news> Newsletter</label>
  <label>Country <select name=country><option value=de>Germany</option>
    <option value=fr selected>France</option></select></label>
  <label><input type=radio name=speed value=slow checked> Slow</label>
  <label><input type=radio name=speed value=fast> Fast</label>
  <textarea name=note aria-label="Note">Leave at the door</textarea>
  <input name=gone disabled value="not sent">
  <button type=submit data-testid=pay-button>Pay <b>now</b></button>
  <button type=submit name=action value=delete formaction="/delete" formmethod=post>Delete invoice</button>
</form>
<a id=help href="/help?topic=pay">Help</a>
<p id=shift></p>"""


@pytest.fixture
def pay_url(static_site: Any) -> str:
    return static_site.add("/pay-form", FORM_PAGE)


def no_secrets(data: Any) -> None:
    text = json.dumps(data)
    for secret in SECRETS:
        assert secret not in text, secret


async def test_inspect_a_submit_button_shows_its_form_with_secrets_masked(
    static_session: PlaywrightSession, pay_url: str, static_site: Any
) -> None:
    await act(static_session, "goto", pay_url)
    info = await static_session.inspect(Target(test_id="pay-button"), timeout=2)
    assert (info.tag, info.role, info.text) == ("button", "button", "Pay now")
    assert info.description == 'button "Pay now"'
    assert (info.form_method, info.form_action) == ("POST", static_site.url + "/pay")
    assert info.box is not None and info.box[2] > 0 and info.box[3] > 0
    fields = {f.name: f for f in info.fields}
    # Disabled fields are not sent, buttons are not fields.
    assert list(fields) == [
        "holder", "pw", "card_number", "code", "csrf_token", "plan", "shipping", "userPin",
        "terms", "news", "country", "speed", "note",
    ]  # fmt: skip
    for name in ("pw", "card_number", "code", "csrf_token", "userPin"):
        assert (fields[name].value, fields[name].masked) == (MASK, True), name
    assert (fields["holder"].label, fields["holder"].value) == ("Cardholder", "Ada Lovelace")
    assert (fields["pw"].label, fields["pw"].kind) == ("Password", "password")
    assert (fields["shipping"].value, fields["shipping"].masked) == ("1 Main Street", False)
    assert fields["shipping"].label == "Shipping address"  # from the placeholder
    assert (fields["plan"].kind, fields["plan"].value) == ("hidden", "gold")
    assert (fields["terms"].value, fields["news"].value) == ("on", "off")
    assert (fields["country"].kind, fields["country"].value, fields["country"].label) == (
        "select",
        "France",
        "Country",
    )
    assert fields["note"].value == "Leave at the door"
    no_secrets(info.to_json())


async def test_inspect_honours_the_submitters_formaction_and_a_clobbering_field_name(
    static_session: PlaywrightSession, pay_url: str, static_site: Any
) -> None:
    # The button is named "action": `form.action` in the page is that button, not the URL.
    await act(static_session, "goto", pay_url)
    info = await static_session.inspect(Target(role="button", name="Delete invoice"), timeout=2)
    assert (info.form_method, info.form_action) == ("POST", static_site.url + "/delete")
    pay = await static_session.inspect(Target(test_id="pay-button"), timeout=2)
    assert pay.form_action == static_site.url + "/pay"
    assert info.identity != pay.identity


async def test_inspect_a_link_and_a_field(
    static_session: PlaywrightSession, pay_url: str, static_site: Any
) -> None:
    await act(static_session, "goto", pay_url)
    link = await static_session.inspect(Target(css="#help"), timeout=2)
    assert (link.role, link.text, link.description) == ("link", "Help", 'link "Help"')
    assert link.href == static_site.url + "/help?topic=pay"
    assert link.form_method is None and link.fields == []
    password = await static_session.inspect(Target(label="Password"), timeout=2)
    # A field belongs to its form too; its own text is its label, never its value.
    assert (password.tag, password.text, password.form_method) == ("input", "Password", "POST")
    no_secrets(password.to_json())


async def test_identity_survives_a_layout_shift_and_nothing_changes(
    static_session: PlaywrightSession, pay_url: str
) -> None:
    await act(static_session, "goto", pay_url)
    before = await static_session.fingerprint()
    first = await static_session.inspect(Target(test_id="pay-button"), timeout=2)
    assert await static_session.fingerprint() == before  # reading changed nothing
    await static_session.page.evaluate(
        "document.body.style.paddingTop = '150px'"  # the form moves down
    )
    moved = await static_session.inspect(Target(test_id="pay-button"), timeout=2)
    assert first.box is not None and moved.box is not None
    assert moved.box[1] > first.box[1] + 100
    assert moved.identity == first.identity


async def test_inspect_waits_for_the_target_and_fails_like_act(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    url = static_site.add(
        "/late",
        """<button>Copy</button><button>Copy</button>
        <script>setTimeout(() => document.body.insertAdjacentHTML('beforeend',
          '<button id=late>Archive</button>'), 300)</script>""",
    )
    await act(static_session, "goto", url)
    info = await static_session.inspect(Target(role="button", name="Archive"), timeout=5)
    assert info.text == "Archive"
    with pytest.raises(StepFailure) as missing:
        await static_session.inspect(Target(role="button", name="Publish"), timeout=0.5)
    assert missing.value.failure_class is FailureClass.MISSING_TARGET
    with pytest.raises(StepFailure) as ambiguous:
        await static_session.inspect(Target(role="button", name="Copy"), timeout=2)
    assert ambiguous.value.failure_class is FailureClass.AMBIGUOUS_TARGET


ROWS_PAGE = """<!doctype html><title>Invoices</title>
<ul>
  <li data-row=a data-testid=row-a>Invoice A <span><button>Delete</button></span></li>
  <li data-row=hidden style="display: none">Invoice H <button>Delete</button></li>
  <li data-row=b>Invoice B <button data-testid=delete-b>Delete</button></li>
  <li data-row=c>Invoice C <button aria-label="Delete invoice C">Delete</button></li>
</ul>
<div class=actions><button data-row=save>Save</button><button data-row=cancel>Cancel</button></div>"""


async def row_of(session: PlaywrightSession, target: Target) -> str:
    locator = build_locator(session.page, target)
    assert await locator.count() == 1, target
    return str(await locator.evaluate("(el) => el.closest('[data-row]').dataset.row"))


async def test_candidates_visible_first_each_with_a_locator_for_exactly_it(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/rows", ROWS_PAGE))
    found = await static_session.candidates(Target(css="li button"))
    assert [c.index for c in found] == [0, 1, 2, 3]
    assert [await row_of(static_session, c.target) for c in found] == ["a", "b", "c", "hidden"]
    assert [c.info.box is not None for c in found] == [True, True, True, False]
    # Robust locators where one is unique; the original narrowed with nth otherwise.
    assert found[1].target == Target(test_id="delete-b")
    assert found[2].target == Target(role="button", name="Delete invoice C", exact=True)
    # No feature of its own: narrowed to the row (which, unlike nth, cannot drift to another row).
    assert found[0].target == Target(role="button", name="Delete", exact=True, within=Target(test_id="row-a"))
    assert found[3].target == Target(css="li button", nth=1)
    assert found[2].info.description == 'button "Delete invoice C"'

    two = await static_session.candidates(Target(css=".actions button"))
    assert [c.target for c in two] == [
        Target(role="button", name="Save", exact=True),
        Target(role="button", name="Cancel", exact=True),
    ]
    assert await static_session.candidates(Target(css="li button"), limit=2) == found[:2]
    assert await static_session.candidates(Target(css="table")) == []

    # Row A goes away: its locator now finds nothing rather than another row's button.
    await static_session.page.evaluate("document.querySelector('[data-row=a]').remove()")
    assert await build_locator(static_session.page, found[0].target).count() == 0


POINT_PAGE = """<!doctype html><title>Point</title>
<style>body { margin: 20px; font: 16px sans-serif } .tile { width: 60px; height: 40px; background: #ccd }
</style>
<button data-k=save><span data-k=inner>Save <b>draft</b></span></button>
<button data-k=tid data-testid=publish>Publish</button>
<p><label for=email>Email</label> <input id=email data-k=email></p>
<p><label data-k=label-wrap><input type=checkbox data-k=check> Remember me</label></p>
<p><input data-k=search placeholder="Search invoices"></p>
<a href="/x" data-k=link>Read more</a>
<div class=row><div class=tile data-k=tile1></div><div class=tile data-k=tile2></div></div>
<p data-k=para>Some plain words</p>"""


async def test_point_at_resolves_back_to_the_same_element(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/point", POINT_PAGE))
    page = static_session.page

    async def pointed(selector: str, dx: float = 0.5) -> tuple[Target, str]:
        box = await page.locator(selector).bounding_box()
        assert box is not None
        found = await static_session.target_at(box["x"] + box["width"] * dx, box["y"] + box["height"] / 2)
        assert found is not None, selector
        locator = build_locator(page, found.target)
        assert await locator.count() == 1, found.target
        return found.target, str(await locator.evaluate("(el) => el.dataset.k"))

    # Text inside a button: the button is what is meant.
    assert await pointed("[data-k=inner] b") == (Target(role="button", name="Save draft", exact=True), "save")
    assert await pointed("[data-k=tid]") == (Target(test_id="publish"), "tid")
    assert await pointed("[data-k=email]") == (Target(role="textbox", name="Email", exact=True), "email")
    # The words of a checkbox's label mean the checkbox.
    target, k = await pointed("[data-k=label-wrap]", dx=0.8)
    assert k == "check" and target.kind != "css"
    assert (await pointed("[data-k=search]"))[1] == "search"
    assert await pointed("[data-k=link]") == (Target(role="link", name="Read more", exact=True), "link")
    assert await pointed("[data-k=para]") == (Target(text="Some plain words", exact=True), "para")
    # Nothing to name it by: a css path, still exactly that one of two identical tiles.
    target, k = await pointed("[data-k=tile2]")
    assert (target.kind, k) == ("css", "tile2")

    assert await static_session.target_at(1000, 700) is None  # empty page background
    assert await static_session.target_at(-5, -5) is None  # outside the viewport


async def test_highlight_outlines_the_box_and_leaves_the_page_as_it_was(
    shared_provider: PlaywrightProvider, static_session: PlaywrightSession, pay_url: str
) -> None:
    await act(static_session, "goto", pay_url)
    page = static_session.page
    info = await static_session.inspect(Target(test_id="pay-button"), timeout=2)
    assert info.box is not None
    x, y, _, h = info.box
    password_box = await page.get_by_label("Password").bounding_box()
    assert password_box is not None
    plain = await static_session.screenshot()  # (Playwright's mask leaves style="" behind)

    before = await static_session.fingerprint()
    html = await page.evaluate("document.documentElement.outerHTML")
    shot = await static_session.highlight([info.box], ["1"])
    assert shot[:3] == b"\xff\xd8\xff"
    points = [(x + 1, y + h / 2), (password_box["x"] + 8, password_box["y"] + password_box["height"] / 2)]
    (edge, password), (plain_edge, _) = (
        await pixels(shared_provider, shot, points),
        await pixels(shared_provider, plain, points),
    )
    red, green, blue = edge
    assert red > 200 and green < 110 and blue < 110, edge  # the outline, inside the box
    assert plain_edge != edge
    assert password[0] > 200 and password[1] < 60 and password[2] > 200, password  # masked

    assert await static_session.fingerprint() == before
    assert await page.evaluate("document.documentElement.outerHTML") == html


async def test_highlight_masks_a_password_in_a_modal_dialog(
    shared_provider: PlaywrightProvider, static_session: PlaywrightSession, static_site: Any
) -> None:
    # A modal dialog is in the top layer, above any z-index: the mask must be above it too.
    url = static_site.add(
        "/modal",
        """<button>Behind</button>
        <dialog><label>Password <input type=password value="hunter2-secret"></label></dialog>
        <script>document.querySelector('dialog').showModal()</script>""",
    )
    await act(static_session, "goto", url)
    box = await static_session.page.get_by_label("Password").bounding_box()
    assert box is not None
    shot = await static_session.highlight([])
    [colour] = await pixels(shared_provider, shot, [(box["x"] + 8, box["y"] + box["height"] / 2)])
    assert colour[0] > 200 and colour[1] < 60 and colour[2] > 200, colour
    assert await static_session.page.evaluate("document.querySelector('dialog').open")


async def test_the_overlay_itself_is_invisible_to_the_fingerprint(
    static_session: PlaywrightSession, pay_url: str
) -> None:
    await act(static_session, "goto", pay_url)
    page = static_session.page
    before = await static_session.fingerprint()
    await overlay.show(page, [(10, 10, 100, 40), (10, 80, 100, 40)], ["1", "2"])
    try:
        assert await page.locator(overlay.OVERLAY_TAG).count() == 1
        assert await static_session.fingerprint() == before
    finally:
        await overlay.remove(page)
    assert await page.locator(overlay.OVERLAY_TAG).count() == 0


async def test_fill_fields_sets_the_operators_values(static_session: PlaywrightSession, pay_url: str) -> None:
    await act(static_session, "goto", pay_url)
    # The preview's values come back as they were shown: a masked one means "leave it".
    shown = {
        f.name: f.value
        for f in (await static_session.inspect(Target(test_id="pay-button"), timeout=2)).fields
    }
    edited = {"holder": "Grace Hopper", "country": "Germany", "terms": "off", "news": "on", "speed": "fast"}
    await static_session.fill_fields(
        Target(test_id="pay-button"), {k: v for k, v in shown.items() if k != "speed"} | edited, timeout=3
    )
    assert await static_session.page.input_value("input[name=pw]") == "hunter2-secret"
    info = await static_session.inspect(Target(test_id="pay-button"), timeout=2)
    values = {f.name: f.value for f in info.fields if f.name != "speed"}
    assert values["holder"] == "Grace Hopper"
    assert values["country"] == "Germany"
    assert (values["terms"], values["news"]) == ("off", "on")
    assert [f.value for f in info.fields if f.name == "speed"] == ["off", "on"]
    # By option value, on a field target (its form), and a form target itself.
    await static_session.fill_fields(Target(label="Cardholder"), {"country": "fr"}, timeout=3)
    await static_session.fill_fields(Target(css="form#pay"), {"note": "Ring twice"}, timeout=3)
    assert await static_session.page.input_value("select[name=country]") == "fr"
    assert await static_session.page.input_value("textarea") == "Ring twice"


async def test_fill_fields_refuses_an_unknown_name_and_changes_nothing(
    static_session: PlaywrightSession, pay_url: str
) -> None:
    await act(static_session, "goto", pay_url)
    before = await static_session.fingerprint()
    with pytest.raises(StepFailure) as raised:
        await static_session.fill_fields(
            Target(test_id="pay-button"), {"holder": "Mallory", "adress": "x"}, timeout=2
        )
    failure = raised.value
    assert failure.failure_class is FailureClass.PERMANENT
    assert "'adress'" in failure.message and "shipping" in failure.message
    assert "holder" in failure.details["fields"]
    assert await static_session.fingerprint() == before  # "holder" was not filled either
    with pytest.raises(StepFailure) as hidden:
        await static_session.fill_fields(Target(test_id="pay-button"), {"plan": "platinum"}, timeout=2)
    assert hidden.value.failure_class is FailureClass.PERMANENT and "hidden" in hidden.value.message
    with pytest.raises(StepFailure) as outside:
        await static_session.fill_fields(Target(css="#help"), {"holder": "x"}, timeout=2)
    assert outside.value.failure_class is FailureClass.PERMANENT

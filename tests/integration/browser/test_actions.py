"""Every action kind does what a user would see it do, in real Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_support import act, expect_ok

from app.browser import PlaywrightSession
from app.domain.task import Expectation

FORM_PAGE = """<!doctype html><title>Form</title>
<label for=size>Size</label>
<select id=size><option value=s>Small</option><option value=m>Medium</option>
<option value=l>Large</option></select>
<label><input type=checkbox id=news> Newsletter</label>
<label for=doc>Document</label><input type=file id=doc>
<p id=file></p>
<button id=tip onmouseover="document.getElementById('tooltip').hidden = false">Help</button>
<p id=tooltip hidden>Helpful tooltip</p>
<input id=keys aria-label=Keys onkeydown="document.getElementById('last').textContent = event.key">
<p id=last></p>
<a id=docs href="/docs" data-kind="reference">Docs</a>
<ul><li class=row>One</li><li class=row>Two</li><li class=row>Three</li></ul>
<script>
document.getElementById('doc').addEventListener('change', (e) => {
  document.getElementById('file').textContent = e.target.files[0].name;
});
</script>"""


@pytest.fixture
def form_url(static_site: Any) -> str:
    static_site.add("/docs", "<title>Docs</title><h1>Reference</h1>")
    return static_site.add("/form", FORM_PAGE)


async def test_goto_relative_url_records_status(session: PlaywrightSession, site: Any) -> None:
    outcome = await act(session, "goto", "/notes")
    assert session.url == site.url + "/notes"
    assert outcome.main_status == 200
    assert outcome.changed
    assert [(r.method, r.status) for r in outcome.requests] == [("GET", 200)]


async def test_click_link_waits_for_the_navigation(
    static_session: PlaywrightSession, form_url: str, static_site: Any
) -> None:
    await act(static_session, "goto", form_url)
    outcome = await act(static_session, "click", {"role": "link", "name": "Docs"})
    assert outcome.after.url == static_site.url + "/docs"
    assert outcome.main_status == 200
    await expect_ok(static_session, {"title": "Docs"}, outcome)


async def test_form_submission_is_settled_before_act_returns(session: PlaywrightSession, site: Any) -> None:
    await act(session, "goto", "/notes")
    await act(session, "fill", {"target": {"label": "Title"}, "value": "Groceries"})
    outcome = await act(session, "click", {"role": "button", "name": "Add note"})
    assert [(r.method, r.url.removeprefix(site.url), r.status) for r in outcome.requests] == [
        ("POST", "/notes", 303),
        ("GET", "/notes", 200),
    ]
    assert outcome.main_status == 200
    assert [n["title"] for n in site.truth()["notes"]] == ["Welcome", "Groceries"]


async def test_fill_and_press_enter_submits(session: PlaywrightSession, site: Any) -> None:
    await act(session, "goto", "/notes")
    await act(session, "fill", {"target": {"test_id": "note-title"}, "value": "Via Enter"})
    outcome = await act(session, "press", {"key": "Enter", "target": {"test_id": "note-title"}})
    assert any(r.method == "POST" and r.status == 303 for r in outcome.requests)
    assert "Via Enter" in [n["title"] for n in site.truth()["notes"]]


async def test_press_without_target_uses_the_keyboard(
    static_session: PlaywrightSession, form_url: str
) -> None:
    await act(static_session, "goto", form_url)
    await act(static_session, "click", {"label": "Keys"})
    await act(static_session, "press", "ArrowDown")
    await expect_ok(static_session, {"text": {"target": {"css": "#last"}, "equals": "ArrowDown"}})


async def test_select_by_value_and_by_label(static_session: PlaywrightSession, form_url: str) -> None:
    await act(static_session, "goto", form_url)
    await act(static_session, "select", {"target": {"label": "Size"}, "value": "l"})
    await expect_ok(static_session, {"value": {"target": {"label": "Size"}, "equals": "l"}})
    outcome = await act(static_session, "select", {"target": {"label": "Size"}, "label": "Medium"})
    assert outcome.changed
    await expect_ok(static_session, {"value": {"target": {"label": "Size"}, "equals": "m"}})


async def test_check_and_uncheck(static_session: PlaywrightSession, form_url: str) -> None:
    await act(static_session, "goto", form_url)
    outcome = await act(static_session, "check", {"role": "checkbox", "name": "Newsletter"})
    assert outcome.changed
    await expect_ok(static_session, {"checked": {"role": "checkbox", "name": "Newsletter"}})
    await act(static_session, "uncheck", {"role": "checkbox", "name": "Newsletter"})
    await expect_ok(static_session, {"unchecked": {"role": "checkbox", "name": "Newsletter"}})


async def test_hover_reveals_a_tooltip(static_session: PlaywrightSession, form_url: str) -> None:
    await act(static_session, "goto", form_url)
    outcome = await act(static_session, "hover", {"role": "button", "name": "Help"})
    assert outcome.changed
    await expect_ok(static_session, {"visible": {"text": "Helpful tooltip"}})


async def test_upload_sets_the_file(static_session: PlaywrightSession, form_url: str, tmp_path: Path) -> None:
    upload = tmp_path / "report.pdf"
    upload.write_bytes(b"%PDF-1.4 fake")
    await act(static_session, "goto", form_url)
    await act(static_session, "upload", {"target": {"label": "Document"}, "files": str(upload)})
    await expect_ok(static_session, {"text": {"target": {"css": "#file"}, "equals": "report.pdf"}})


async def test_delayed_content_is_found_within_the_timeout(session: PlaywrightSession) -> None:
    await act(session, "goto", "/slow?delay=1200")
    # The button appears 1.2 s after load: the click waits for it within its 5 s timeout.
    await act(session, "click", {"role": "button", "name": "Download report"}, timeout=5)
    await expect_ok(session, {"text": {"target": {"test_id": "status"}, "equals": "Download started"}})


async def test_wait_for_target_and_url(session: PlaywrightSession, site: Any) -> None:
    await act(session, "goto", "/slow?delay=600")
    await act(session, "wait_for", {"test_id": "report"})
    await act(session, "wait_for", {"target": {"test_id": "loading"}, "state": "detached"})
    await act(session, "wait_for", {"url": "/slow*"})
    await act(session, "wait_for", {"url": "re:/slow\\?delay=600$"})


async def test_extract_kinds(static_session: PlaywrightSession, form_url: str) -> None:
    await act(static_session, "goto", form_url)

    async def extract(**args: Any) -> Any:
        return (await act(static_session, "extract", {"into": "x", **args})).value

    assert await extract(target={"role": "link", "name": "Docs"}) == "Docs"
    assert await extract(target={"label": "Size"}, get="value") == "s"
    assert await extract(target={"css": "#docs"}, get="attribute", attribute="data-kind") == ("reference")
    assert await extract(target={"css": "#docs"}, get="html") == "Docs"
    assert await extract(target={"css": ".row"}, get="count") == 3
    assert await extract(target={"css": ".missing"}, get="count") == 0
    assert await extract(target={"css": ".row"}, all=True) == ["One", "Two", "Three"]


async def test_extract_refuses_password_values(session: PlaywrightSession) -> None:
    from app.domain.errors import FailureClass, StepFailure

    await act(session, "goto", "/login")
    await act(session, "fill", {"target": {"label": "Password"}, "value": "hunter2"})
    with pytest.raises(StepFailure) as failed:
        await act(session, "extract", {"target": {"label": "Password"}, "into": "p", "get": "value"})
    assert failed.value.failure_class is FailureClass.PERMANENT
    assert "hunter2" not in str(failed.value)


async def test_assert_does_nothing_to_the_page(session: PlaywrightSession) -> None:
    await act(session, "goto", "/notes")
    outcome = await act(session, "assert", {"text": "Welcome"})
    assert outcome.before == outcome.after
    assert outcome.requests == []


async def test_ask_is_not_for_the_browser(session: PlaywrightSession) -> None:
    with pytest.raises(ValueError, match="engine"):
        await act(session, "ask", "Which one?")


async def test_plain_goto_is_not_recorded(session: PlaywrightSession, site: Any) -> None:
    outcome = await act(session, "goto", "/notes")
    await session.goto("/shop", timeout=5)
    assert session.url == site.url + "/shop"
    assert len(outcome.requests) == 1  # the earlier action's evidence is not polluted


async def test_dialogs_are_accepted_and_recorded(static_session: PlaywrightSession, static_site: Any) -> None:
    url = static_site.add(
        "/dialogs",
        """<button onclick="
        document.getElementById('r').textContent = confirm('Delete it?') ? 'yes' : 'no'">
        Delete</button><p id=r></p>
        <button onclick="console.error('boom'); null.x">Break</button>""",
    )
    await act(static_session, "goto", url)
    outcome = await act(static_session, "click", {"role": "button", "name": "Delete"})
    assert outcome.dialogs == ["confirm: Delete it?"]
    await expect_ok(static_session, {"text": {"target": {"css": "#r"}, "equals": "yes"}})
    outcome = await act(static_session, "click", {"role": "button", "name": "Break"})
    assert outcome.console_errors[0] == "boom"
    assert outcome.console_errors[1].startswith("uncaught:")


async def test_default_expectation_shapes_work_with_check(session: PlaywrightSession) -> None:
    outcome = await act(session, "goto", "/notes")
    results = await session.check(Expectation(), outcome, timeout=1)
    assert results == []

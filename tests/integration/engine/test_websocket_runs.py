"""Runs on pages driven over a WebSocket (the hostile site's /live, built as NiceGUI pages are):
no HTTP request carries a sign-in, a click or a write; the page changes when the site's answer
comes back over the socket. Judged by the site's truth: sign-ins and refusals counted, every
message received by type, every save and delete per title. Real Chromium, a real SQLite file."""

from __future__ import annotations

import pytest

from app.domain.events import EventType
from app.domain.states import RunStatus
from tests.integration.engine.conftest import PASSWORD, USER, Harness, MemorySecrets

LOGIN = """
login:
  steps:
    - goto: /live/login
    - fill: {target: {label: Username}, secret: shop.username}
    - fill: {target: {label: Password}, secret: shop.password}
    - click: {role: button, name: Log in}
"""

OPEN = """
steps:
  - goto: /live
  - assert: {visible: {role: heading, name: Live notes}}
"""

NOTE = """
steps:
  - goto: /live
  - click: {role: button, name: Add}
    effect: read  # only opens the dialog
  - fill: {target: {label: Title}, value: "{{ title }}"}
  - id: save
    click: {role: button, name: Save}
    effect: write
    expect:
      after_reload:
        visible: {role: cell, name: "{{ title }}", exact: true}
  - click: {role: button, name: "Delete {{ title }}"}
    effect: read  # only asks for confirmation
  - id: delete
    click: {role: button, name: Delete, exact: true}
    effect: irreversible
    expect:
      after_reload:
        hidden: {role: cell, name: "{{ title }}", exact: true}
"""


@pytest.fixture
def live(secure: Harness) -> Harness:
    secure.site.configure(cookie_banner=False)
    return secure


def task(name: str, body: str, *, policy: str = "", login: bool = True) -> str:
    return (
        f"name: {name}\nsite: SITE\ninputs: {{title: {{type: string, default: Milk}}}}\n{policy}"
        + (LOGIN if login else "")
        + body
    )


async def test_a_sign_in_answered_over_the_socket_is_judged_once_the_site_answers(live: Harness) -> None:
    # The site answers "signed in" over the socket after 300 ms; the page opens the notes 400 ms
    # after that. Right after the click the browser is still on the login page.
    result = await live.run(task("live-sign-in", OPEN))
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = live.site.truth()
    assert truth["logins"] == 1 and truth["failed_logins"] == 0
    (finished,) = live.events_of(result.run_id, EventType.LOGIN_FINISHED)
    assert finished.data["ok"] is True and not finished.data["rejected"]
    assert not live.engine.open_handoffs(result.run_id)  # nobody was asked about the credential


async def test_the_sites_refusal_over_the_socket_is_a_rejected_credential(
    live: Harness, secrets: MemorySecrets
) -> None:
    secrets.values["shop.password"] = "not-the-password"
    result = await live.run(task("live-refused", OPEN, policy="policy: {ask_on: []}\n"))
    assert result.status is RunStatus.FAILED
    assert "The credential shop was rejected" in (result.error or "")
    assert "Invalid username or password" in (result.error or "")  # the site's own words
    truth = live.site.truth()
    assert truth["failed_logins"] == 1 and truth["logins"] == 0  # tried once, not again


async def test_a_sign_in_the_site_never_answers_is_no_rejected_credential(live: Harness) -> None:
    live.site.configure(live_login_silent=True)
    result = await live.run(task("live-silent", OPEN, policy="policy: {ask_on: [], step_timeout: 2}\n"))
    assert result.status is RunStatus.FAILED
    error = result.error or ""
    assert "rejected" not in error and "showed no refusal" in error, error
    truth = live.site.truth()
    assert truth["live"]["received"] == {"login": 1}  # it went out once; nobody judged it
    assert truth["failed_logins"] == 0 and truth["logins"] == 0


async def test_a_write_click_whose_answer_comes_late_is_sent_once(live: Harness) -> None:
    # The site answers each click 1.5 s later: past the 1 s in which a click's effect on the
    # page used to be looked for. "Save" has no expectation of its own.
    live.site.configure(live_sign_in=False, live_delay_ms=1500)
    body = """
steps:
  - goto: /live
  - click: {role: button, name: Add}
    effect: read
  - fill: {target: {label: Title}, value: Late milk}
  - click: {role: button, name: Save}
  - assert: {visible: {role: cell, name: Late milk, exact: true}}
"""
    result = await live.run(task("live-late", body, login=False))
    assert result.status is RunStatus.SUCCEEDED, result.error
    live_truth = live.site.truth()["live"]
    assert live_truth["saves"] == {"Late milk": 1}
    assert live_truth["received"] == {"open_add": 1, "input": 1, "save": 1}
    assert not live.events_of(result.run_id, EventType.RETRY_SCHEDULED)


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "open"])
async def test_an_approval_continued_in_a_new_browser_sends_no_write_again(
    live: Harness, signed_in: bool
) -> None:
    """The run waits for the delete's approval and lets its browser go; approved, it goes on
    in a new one, rebuilding the page (signing in again first, when the notes need it): the
    saved note's "Save" is a WebSocket message, so it is a write, and it is not done again.
    Every step that is done again is in the record."""
    # Signed out, the site answers at once: nothing but the rebuild is under test.
    live.site.configure(live_sign_in=signed_in, live_delay_ms=300 if signed_in else 0)
    run_id = live.submit(task("live-approval", NOTE, login=signed_in), {"title": "Approved milk"})
    waiting = await live.engine.run(run_id)  # the browser is let go while it waits
    assert waiting.status is RunStatus.WAITING, waiting.error
    (approval,) = live.engine.open_handoffs(run_id)
    assert approval.kind == "approval"
    assert live.site.truth()["live"]["saves"] == {"Approved milk": 1}
    live.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    result = await live.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = live.site.truth()["live"]
    assert truth["saves"] == {"Approved milk": 1}, "the note was saved again while rebuilding"
    assert truth["deletes"] == {"Approved milk": 1} and truth["notes"] == []
    redone = [e.data["step"] for e in live.events_of(run_id, EventType.STEP_REPLAYED)]
    assert redone == ["5-click"]  # on /live, where "Save" left it: the row's delete button
    for event in live.events:
        assert PASSWORD not in str(event.data) and USER not in str(event.data)


async def test_an_approval_on_a_page_whose_socket_dropped_fires_on_a_rebuilt_page(live: Harness) -> None:
    """The run waits for the delete's approval with its page kept; meanwhile the page's socket
    is cut (the site forgets the open confirmation). Clicking "Delete" there would send nothing
    anywhere: the page is rebuilt first, and the approved delete fires once, on it."""
    live.site.configure(live_sign_in=False, live_delay_ms=0)
    run_id = live.submit(task("live-dropped", NOTE, login=False), {"title": "Dropped milk"})
    waiting = await live.engine.run(run_id, keep=True)  # the page is kept while it waits
    assert waiting.status is RunStatus.WAITING, waiting.error
    (approval,) = live.engine.open_handoffs(run_id)
    assert live.site.drop_live_sockets() == 1
    live.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    result = await live.engine.run(run_id, keep=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = live.site.truth()["live"]
    assert truth["deletes"] == {"Dropped milk": 1} and truth["notes"] == []
    assert truth["saves"] == {"Dropped milk": 1}
    (rebuilt,) = live.events_of(run_id, EventType.PAGE_REBUILT)
    assert "WebSocket" in rebuilt.data["why"]

"""Recognising a signed-out page (issue 12, defect 6), judged by the hostile site's own truth:
a site that answers 403 to a lapsed session, an SPA that shows its sign-in form at the page's
own URL, and a task that signs in before its first step. Real Chromium, a real SQLite file."""

from __future__ import annotations

from typing import Any

from app.domain.events import EventType
from app.domain.states import RunStatus
from tests.integration.engine.conftest import PASSWORD, Harness

# The login block's steps, as they sit under `login: {steps: …}`.
SIGN_IN = """
    - fill: {target: {label: Username}, secret: shop.username}
    - fill: {target: {label: Password}, secret: shop.password}
    - click: {role: button, name: Sign in}"""


async def answer_and_continue(h: Harness, run_id: str, value: str, *, expire: bool) -> Any:
    """The run waits on its question with its page kept; the session lapses meanwhile (the
    site ends it), then the person answers and the run goes on in this process."""
    (question,) = h.engine.open_handoffs(run_id)
    if expire:
        assert h.site.expire_sessions() == 1
    h.engine.answer(question.id, {"value": value}, by="tester")
    return await h.engine.run(run_id, keep=True)


BEHIND_403 = (
    """
name: note-behind-403
site: SITE
login:
  page: /login
  signed_out: {status: [401, 403]}
  steps:
    - goto: /login"""
    + SIGN_IN
    + """
steps:
  - goto: /notes
  - ask: {question: "Title of the note?", into: title}
  - fill: {target: {label: Title}, value: "{{ outputs.title }}"}
  - id: add
    click: {role: button, name: Add note}
    expect:
      after_reload:
        text: {target: {test_id: note, nth: -1}, equals: "{{ outputs.title }}"}
"""
)


async def test_a_site_answering_403_to_a_lapsed_session_is_signed_into_again(secure: Harness) -> None:
    secure.site.configure(signed_out_403=True)
    run_id = secure.submit(BEHIND_403)
    waiting = await secure.engine.run(run_id, keep=True)
    assert waiting.status is RunStatus.WAITING, waiting.error  # /notes answered 403: signed in first
    result = await answer_and_continue(secure, run_id, "Behind a 403", expire=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    # The POST that met the lapsed session was refused with 403 (nothing stored), then sent
    # again once signed in: stored exactly once.
    assert truth["requests"]["POST /notes"] == 2
    assert truth["note_submissions"] == {"Behind a 403": 1}
    assert [n["title"] for n in truth["notes"]].count("Behind a 403") == 1
    assert truth["logins"] == 2 and truth["failed_logins"] == 0
    expired = secure.events_of(run_id, EventType.SESSION_EXPIRED)
    assert [e.data["step"] for e in expired] == ["1-goto", "add"]


SPA = (
    """
name: spa-note
site: SITE
login:
  signed_out: {visible: {label: Password}}
  steps:"""
    + SIGN_IN
    + """
steps:
  - goto: /app
  - ask: {question: "Title of the note?", into: title}
  - fill: {target: {label: Title}, value: "{{ outputs.title }}"}
  - id: add
    click: {role: button, name: Add note}
    expect: {text: {target: {test_id: note, nth: -1}, equals: "{{ outputs.title }}"}}
"""
)


async def test_an_spa_showing_its_sign_in_form_in_place_is_signed_into_again(secure: Harness) -> None:
    run_id = secure.submit(SPA)
    waiting = await secure.engine.run(run_id, keep=True)
    assert waiting.status is RunStatus.WAITING, waiting.error
    # /app answered 200 and only its page showed the sign-in form: recognised by the password
    # field, signed in where the form was, no login page anywhere.
    (first,) = secure.events_of(run_id, EventType.SESSION_EXPIRED)
    assert first.data["step"] == "1-goto"
    assert secure.site.truth()["logins"] == 1
    result = await answer_and_continue(secure, run_id, "From the app", expire=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    assert truth["requests"]["POST /api/app/notes"] == 2  # the first met the lapsed session: 401
    assert truth["note_submissions"] == {"From the app": 1}
    assert truth["logins"] == 2 and truth["failed_logins"] == 0
    for event in secure.events:
        assert PASSWORD not in str(event.data)


ACCOUNT = (
    """
name: account-first
site: SITE
session: shop
login:
  at_start: true
  signed_out: {visible: {text: "You are not signed in."}}
  steps:
    - goto: /login"""
    + SIGN_IN
    + """
steps:
  - goto: /account
  - assert: {text: {target: {test_id: account-status}, equals: "Username: ada.lovelace"}}
"""
)


async def test_at_start_signs_in_before_step_one_unless_the_profile_is_signed_in(secure: Harness) -> None:
    # /account is public here: signed out, it just says so. Nothing would send the run to
    # the login page; only signing in first makes the page the task wants.
    secure.site.configure(require_login=False)
    first = await secure.run(ACCOUNT)
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert secure.site.truth()["logins"] == 1
    (started,) = secure.events_of(first.run_id, EventType.LOGIN_STARTED)
    assert started.data["at_start"] is True and started.data["step"] == "1-goto"
    assert not secure.events_of(first.run_id, EventType.SESSION_EXPIRED)  # nothing had expired

    # The profile saved that session: the first page shows no signed-out sign, no login.
    second = await secure.run(ACCOUNT)
    assert second.status is RunStatus.SUCCEEDED, second.error
    assert secure.site.truth()["logins"] == 1
    (checked,) = secure.events_of(second.run_id, EventType.SESSION_CHECKED)
    assert checked.data["signed_out"] is None
    assert not secure.events_of(second.run_id, EventType.LOGIN_STARTED)

    # The saved session has lapsed since: the page says so, and the run signs in first.
    secure.site.expire_sessions()
    third = await secure.run(ACCOUNT)
    assert third.status is RunStatus.SUCCEEDED, third.error
    assert secure.site.truth()["logins"] == 2
    (checked,) = secure.events_of(third.run_id, EventType.SESSION_CHECKED)
    assert "You are not signed in." in checked.data["signed_out"]


SPA_DELETE = (
    """
name: spa-irreversible-note
site: SITE
login:
  signed_out: {visible: {label: Password}}
  steps:"""
    + SIGN_IN
    + """
steps:
  - goto: /app
  - fill: {target: {label: Title}, value: Approved late}
  - id: add
    click: {role: button, name: Add note}
    effect: irreversible
    expect: {text: {target: {test_id: note, nth: -1}, equals: Approved late}}
"""
)


async def test_a_page_rebuilt_in_a_new_browser_that_asks_for_the_password_late_is_signed_into(
    secure: Harness,
) -> None:
    """The approval is given after the run let its page go (as `flightdeck approve` in another
    process does): a new browser, without the session, rebuilds the page. The SPA asks for the
    password only once its slow API answers 401, after the page looked ready: the rebuild meets
    the sign-in form instead of the Title field, signs in, and starts the rebuild over."""
    secure.site.configure(spa_api_delay_ms=800)
    run_id = secure.submit(SPA_DELETE)
    waiting = await secure.engine.run(run_id)  # the page is not kept while the run waits
    assert waiting.status is RunStatus.WAITING, waiting.error
    (approval,) = secure.engine.open_handoffs(run_id)
    assert secure.site.truth()["note_submissions"] == {}
    secure.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    result = await secure.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    assert truth["note_submissions"] == {"Approved late": 1}
    assert truth["logins"] == 2 and truth["failed_logins"] == 0  # once per browser

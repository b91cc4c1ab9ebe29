"""Credentials, logins and session profiles, judged against the hostile site's own truth: real
Chromium, a real SQLite file, the site on 127.0.0.1. The credential store is an in-memory
SecretSource (the OS keyring is exercised by the credential store's own tests); session
profiles are the real encrypted ProfileStore in a temp dir."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.browser import PlaywrightProvider
from app.browser.profiles import ProfileStore
from app.domain.errors import TaskValidationError
from app.domain.events import EventType
from app.domain.states import RunStatus
from app.engine.service import Engine
from app.secrets import encodings
from app.store import ArtifactStore, Database, handoffs, runs
from tests.helpers.cli import Cli
from tests.integration.engine.conftest import PASSWORD, USER, Harness, MemorySecrets

LOGIN = """
login:
  - goto: /login
  - fill: {target: {label: Username}, secret: shop.username}
  - fill: {target: {label: Password}, secret: shop.password}
  - click: {role: button, name: Sign in}
"""


def add_note(title: str) -> str:
    return f"""
  - goto: /notes
  - fill: {{target: {{label: Title}}, value: "{title}"}}
  - id: add-{title.lower()}
    click: {{role: button, name: Add note}}
    expect:
      after_reload:
        text: {{target: {{test_id: note, nth: -1}}, equals: "{title}"}}"""


def leaked(secret: str, data: bytes) -> list[str]:
    return [form for form in encodings(secret) if form.encode() in data]


def assert_nowhere(secret: str, tmp_path: Path) -> None:
    """G7: not in the database file (WAL included), nor any artifact, in any encoding."""
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "profiles" not in p.parts]
    assert any(p.name.startswith("flightdeck.db") for p in files)
    for path in files:
        assert not leaked(secret, path.read_bytes()), f"{secret!r} found in {path}"


async def test_session_expires_mid_run_relogin_and_every_write_happens_once(
    secure: Harness, tmp_path: Path
) -> None:
    secure.site.configure(session_ttl=2.5)
    result = await secure.run(
        "name: two-notes\nsite: SITE\n"
        + LOGIN
        + "steps:"
        + add_note("First")
        + """
  - goto: /account
  - wait_for: {text: "Your session has expired"}
    timeout: 8"""
        + add_note("Second")
    )
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    assert truth["note_submissions"] == {"First": 1, "Second": 1}
    assert [n["title"] for n in truth["notes"]].count("Second") == 1
    assert truth["failed_logins"] == 0
    logins = [e for e in secure.events_of(result.run_id, EventType.LOGIN_FINISHED) if e.data["ok"]]
    assert len(logins) == truth["logins"] >= 2  # the first sign-in and at least one after expiry
    expired = secure.events_of(result.run_id, EventType.SESSION_EXPIRED)
    assert any(e.data["step"] == "6-goto" for e in expired), "the second /notes met the expiry"
    # The login block's steps are in the record, naming the credential, never its value.
    steps = secure.events_of(result.run_id, EventType.LOGIN_STEP)
    assert 'fill label="Password" with ••• (shop.password)' in [e.data["summary"] for e in steps]
    for event in secure.events:
        assert PASSWORD not in str(event.data) and USER not in str(event.data)
    assert secure.engine.verify(result.run_id) is None  # the chain still verifies (G8)
    assert_nowhere(PASSWORD, tmp_path)
    assert_nowhere(USER, tmp_path)


async def test_a_rejected_credential_is_asked_about_once_then_retried_on_the_answer(
    secure: Harness, secrets: MemorySecrets
) -> None:
    secrets.values["shop.password"] = "not-the-password"
    run_id = secure.submit("name: one-note\nsite: SITE\n" + LOGIN + "steps:" + add_note("Milk"))
    result = await secure.engine.run(run_id)
    assert result.status is RunStatus.WAITING
    truth = secure.site.truth()
    assert truth["failed_logins"] == 1 and truth["logins"] == 0  # tried once, not in a loop
    assert truth["note_submissions"] == {}
    (handoff,) = secure.engine.open_handoffs(run_id)
    assert handoff.kind == "clarification"
    assert handoff.question.startswith("The credential shop was rejected: update it")
    assert handoff.payload["choices"] == ["retry", "fail"]
    assert "not-the-password" not in str(handoff.payload)

    secrets.values["shop.password"] = PASSWORD  # the person fixed the credential
    secure.engine.answer(handoff.id, {"decision": "retry"}, by="tester")
    result = await secure.engine.run(run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    assert truth["failed_logins"] == 1 and truth["logins"] == 1
    assert truth["note_submissions"] == {"Milk": 1}


async def test_relogins_are_bounded(secure: Harness) -> None:
    # Every session dies at once: each login is accepted, and the next page sends it back.
    secure.site.configure(session_ttl=0)
    result = await secure.run(
        "name: never-in\nsite: SITE\npolicy: {max_relogins: 1}\n" + LOGIN + "steps:\n  - goto: /notes\n"
    )
    assert result.status is RunStatus.FAILED
    assert result.failure_class == "session_expired"
    assert "policy.max_relogins: 1" in (result.error or "")
    truth = secure.site.truth()
    assert truth["logins"] == 2 and truth["failed_logins"] == 0  # the first login + one more


def handoffs_of(harness: Harness, run_id: str) -> list[Any]:
    """Every handoff the run ever opened, whatever became of it."""
    with harness.db.session(readonly=True) as s:
        return list(handoffs.list_handoffs(s, run_id=run_id, status=None))


async def test_with_ask_on_empty_a_rejected_credential_fails_the_run_and_asks_nobody(
    secure: Harness, secrets: MemorySecrets
) -> None:
    secrets.values["shop.password"] = "not-the-password"
    result = await secure.run(
        "name: unattended\nsite: SITE\npolicy: {ask_on: []}\n" + LOGIN + "steps:" + add_note("Milk")
    )
    assert result.status is RunStatus.FAILED, result
    assert result.failure_class == "permanent"
    assert "The credential shop was rejected" in (result.error or "")
    assert handoffs_of(secure, result.run_id) == []  # nobody was asked anything
    truth = secure.site.truth()
    assert truth["failed_logins"] == 1 and truth["logins"] == 0  # tried once: accounts lock
    assert truth["note_submissions"] == {}


async def test_a_sign_in_answered_503_once_is_tried_again_and_every_attempt_is_recorded(
    secure: Harness, tmp_path: Path
) -> None:
    secure.site.configure(login_503=1)  # the sign-in POST never reaches the application once
    result = await secure.run("name: one-note\nsite: SITE\n" + LOGIN + "steps:" + add_note("Milk"))
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert handoffs_of(secure, result.run_id) == []  # a 503 is nobody's question
    truth = secure.site.truth()
    assert truth["logins"] == 1 and truth["failed_logins"] == 0
    assert truth["requests"]["POST /login"] == 2
    assert truth["note_submissions"] == {"Milk": 1}

    # Both attempts of the sign-in click are in the record, the first with its 503 and the
    # retry it scheduled; nothing calls it an expired session or a rejected credential.
    clicks = [
        e.data
        for e in secure.events_of(result.run_id, EventType.LOGIN_STEP)
        if e.data["action"] == "click" and e.data["failure_class"] != "obstruction"  # the cookie banner
    ]
    assert [(c["attempt"], c["ok"]) for c in clicks] == [(1, False), (2, True)]
    assert clicks[0]["failure_class"] == "transient" and "returned 503" in clicks[0]["error"]
    assert [(r["method"], r["status"]) for r in clicks[0]["requests"] if r["method"] == "POST"] == [
        ("POST", 503)
    ]
    (retry,) = secure.events_of(result.run_id, EventType.RETRY_SCHEDULED)
    assert retry.data["login"] is True and retry.data["attempt"] == 2 and "503" in retry.data["error"]
    (finished,) = secure.events_of(result.run_id, EventType.LOGIN_FINISHED)
    assert finished.data["ok"] is True and finished.data["attempts"] == 2

    # `flightdeck show` (the real command) lists both attempts and the 503.
    shown = Cli(tmp_path)("show", result.run_id)
    assert shown.code == 0, shown.err
    sign_in = shown.out[shown.out.index("sign-in") :]
    assert re.search(r"1 ✗ login-4-click .*transient: POST \S+/login returned 503", sign_in), sign_in
    assert re.search(r"⇄ POST \S+/login → 503", sign_in), sign_in
    assert re.search(r"↻ retry #2 in \d", sign_in), sign_in
    assert re.search(r"2 ✓ login-4-click", sign_in), sign_in
    detail = Cli(tmp_path)("show", result.run_id, "--json").json()
    (login,) = detail["sign_in"]
    assert login["ok"] is True and login["for_step"] == "1-goto" and login["attempts"] == 2
    tries = [
        t for t in login["tries"] if t["step"] == "login-4-click" and t.get("failure_class") != "obstruction"
    ]
    assert [(t.get("attempt"), t.get("ok"), t.get("retry")) for t in tries] == [
        (1, False, None),
        (None, None, 2),
        (2, True, None),
    ]
    assert any("POST" in r and "→ 503" in r for r in tries[0]["requests"])


async def test_a_sign_in_answered_503_every_time_fails_as_transient_never_as_rejected(
    secure: Harness,
) -> None:
    secure.site.configure(login_503=100)
    result = await secure.run(
        "name: one-note\nsite: SITE\npolicy: {retry: {initial_interval: 0.1, maximum_interval: 0.2}}\n"
        + LOGIN
        + "steps:"
        + add_note("Milk")
    )
    assert result.status is RunStatus.FAILED, result
    assert result.failure_class == "transient"
    assert "returned 503" in (result.error or "") and "rejected" not in (result.error or "")
    assert handoffs_of(secure, result.run_id) == []  # nothing for a person to fix
    truth = secure.site.truth()
    assert truth["requests"]["POST /login"] == 3  # policy.retry.maximum_attempts
    assert truth["failed_logins"] == 0 and truth["logins"] == 0
    assert truth["note_submissions"] == {}


async def test_an_unanswered_login_question_fails_the_run_at_its_deadline(
    secure: Harness, secrets: MemorySecrets
) -> None:
    secrets.values["shop.password"] = "not-the-password"
    run_id = secure.submit("name: one-note\nsite: SITE\n" + LOGIN + "steps:" + add_note("Milk"))
    assert (await secure.engine.run(run_id)).status is RunStatus.WAITING
    (question,) = secure.engine.open_handoffs(run_id)
    # By default a question waits an hour, then its safe answer applies: the step fails.
    assert question.deadline is not None and question.default_answer == {"decision": "fail"}
    left = (question.deadline - question.created_at).total_seconds()
    assert left == pytest.approx(3600, abs=5)

    short = secure.submit(
        "name: one-note\nsite: SITE\npolicy: {question_timeout: 0.5}\n" + LOGIN + "steps:" + add_note("Milk")
    )
    result = await asyncio.wait_for(secure.engine.drive(short, wait=True), 60)
    assert result.status is RunStatus.FAILED
    assert "nobody answered before the deadline" in (result.error or "")
    (expired,) = handoffs_of(secure, short)
    assert expired.status == "expired" and expired.answered_by == "deadline"
    assert secure.site.truth()["failed_logins"] == 2  # one per run: never tried again on its own


async def test_a_session_profile_keeps_the_next_run_signed_in(
    secure: Harness, profiles: ProfileStore
) -> None:
    task = (
        "name: members\nsite: SITE\nsession: shop\n"
        + LOGIN
        + """steps:
  - goto: /members
  - assert: {text: {target: {test_id: message}, equals: "Signed in as ada.lovelace"}}
"""
    )
    first = await secure.run(task)
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert secure.site.truth()["logins"] == 1
    second = await secure.run(task)
    assert second.status is RunStatus.SUCCEEDED, second.error
    assert secure.site.truth()["logins"] == 1  # signed in from the profile
    assert secure.events_of(second.run_id, EventType.PROFILE_LOADED)
    assert not secure.events_of(second.run_id, EventType.LOGIN_STARTED)

    # While another run holds the profile, a run stays queued: nothing runs, nothing fails.
    profiles.acquire("shop", "another-run")
    held = secure.submit(task)
    waiting = await secure.engine.run(held)
    assert waiting.status is RunStatus.QUEUED
    assert "session profile 'shop'" in (waiting.error or "")
    with secure.db.session(readonly=True) as s:
        run = runs.get_run(s, held)
        assert run is not None and run.owner is None and run.started_at is None
    profiles.release("shop", "another-run")
    done = await secure.engine.run(held)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert secure.site.truth()["logins"] == 1


def test_a_task_whose_credential_is_missing_is_refused_before_anything_runs(
    secure: Harness, tmp_path: Path, db: Database, provider: PlaywrightProvider
) -> None:
    task = "name: t\nsite: SITE\nsteps:\n  - fill: {target: {label: Code}, secret: bank.pin}\n"
    with pytest.raises(TaskValidationError) as missing:
        secure.submit(task)
    assert "credential bank.pin is not available" in str(missing.value)
    assert "fix: flightdeck credentials add bank" in str(missing.value)
    bare = Engine(db, provider, ArtifactStore(tmp_path / "bare"))
    with pytest.raises(TaskValidationError) as no_store:
        bare.submit(*_task(task, secure.site.base_url))
    assert "credentials are not available here" in str(no_store.value)
    with db.session(readonly=True) as s:
        assert runs.list_runs(s) == []


def _task(text: str, site: str) -> tuple[Any, str, dict[str, Any]]:
    from tests.helpers.tasks import task_from

    task, snapshot = task_from(text, site)
    return task, snapshot, {}


async def test_a_plain_text_field_typed_from_a_credential_is_masked_in_screenshots(
    secure: Harness, static_site: Any, tmp_path: Path, provider: PlaywrightProvider
) -> None:
    static_site.add(
        "/token",
        '<label for="nick">Nickname</label>'
        '<input id="nick" name="nick" style="position:absolute;left:100px;top:100px;'
        'width:400px;height:60px;font-size:30px">',
    )
    result = await secure.run(
        f"""
        name: token
        site: {static_site.url}
        policy: {{screenshots: all}}
        steps:
          - goto: /token
          - fill: {{target: {{label: Nickname}}, secret: shop.password}}
        """
    )
    assert result.status is RunStatus.SUCCEEDED, result.error
    (fill,) = [
        e for e in secure.events_of(result.run_id, EventType.ATTEMPT_FINISHED) if e.data["step"] == "2-fill"
    ]
    # The value check passed without writing the value down, and the picture is painted over.
    assert fill.data["checks"][0]["name"] == 'value of label="Nickname" = "••••••"'
    shot = (tmp_path / "artifacts").rglob(fill.data["screenshot_after"])
    jpeg = next(p for p in shot if p.is_file()).read_bytes()
    viewer = await provider.open_session(base_url=None, timeout=5)
    try:
        rgb = await viewer.page.evaluate(
            """async (b64) => {
                const img = new Image();
                img.src = 'data:image/jpeg;base64,' + b64;
                await img.decode();
                const canvas = document.createElement('canvas');
                canvas.width = img.width; canvas.height = img.height;
                const ctx = canvas.getContext('2d');
                ctx.drawImage(img, 0, 0);
                return Array.from(ctx.getImageData(300, 130, 1, 1).data.slice(0, 3));
            }""",
            __import__("base64").b64encode(jpeg).decode(),
        )
    finally:
        await viewer.close()
    red, green, blue = rgb
    assert red > 200 and green < 60 and blue > 200, f"the field is not masked: {rgb}"
    assert_nowhere(PASSWORD, tmp_path)


# The username is secret here (MemorySecrets' default): the page the run is on (/users/NAME)
# and what it extracts hold it, and another process continues the run from them.
MY_PAGE = (
    "name: my-page\nsite: SITE\n"
    + LOGIN
    + """steps:
  - goto: /me
  - extract: {target: {test_id: user-heading}, into: who}
  - goto: /items
  - click: {test_id: delete-1}
    effect: write
  - id: confirm
    click: {role: button, name: "Yes, delete"}
    effect: irreversible
    description: "Delete Invoice 1001 for {{ who }}"
    expect: {after_reload: {goto: /items, hidden: {text: Invoice 1001, exact: true}}}
  - goto: /notes
  - fill: {target: {label: Title}, value: "{{ who }}"}
  - id: note
    click: {role: button, name: Add note}
    expect: {after_reload: {text: {target: {test_id: note, nth: -1}, equals: "{{ who }}"}}}
"""
)


def _stored(db: Database, run_id: str) -> Any:
    with db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        assert run is not None
        return run.task_text, dict(run.inputs), dict(run.checkpoint)


async def test_secrets_in_what_a_run_continues_from_are_kept_as_references_and_resolved_by_another_process(
    secure: Harness, secrets: MemorySecrets, db: Database, provider: PlaywrightProvider, tmp_path: Path
) -> None:
    run_id = secure.submit(MY_PAGE)
    waiting = await secure.engine.run(run_id)
    assert waiting.status is RunStatus.WAITING, waiting.error
    task_text, inputs, checkpoint = _stored(db, run_id)
    # Neither masked nor the value: a reference to the credential field, with the run's tag.
    assert task_text == MY_PAGE.replace("SITE", secure.site.base_url) and inputs == {}
    tag = checkpoint["seal_tag"]
    assert checkpoint["outputs"] == {"who": f"⟦secret:shop.username:raw@{tag}⟧"}
    assert not leaked(USER, json.dumps([task_text, inputs, checkpoint]).encode())
    assert "[secret]" not in json.dumps(checkpoint)
    (approval,) = secure.engine.open_handoffs(run_id)
    assert approval.question == "Approve: Delete Invoice 1001 for [secret]?"

    # Another engine (a process that typed nothing yet) approves and continues: the output
    # resolves to the value again, typed into the note (the site's truth shows it).
    other = Engine(db, provider, ArtifactStore(tmp_path / "artifacts"), secrets=MemorySecrets(secrets.values))
    try:
        assert other.answer(approval.id, {"decision": "approve"}, by="tester")
        result = await other.run(run_id)
    finally:
        await other.close()
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    assert truth["deletions"] == {"1": 1}
    assert truth["note_submissions"] == {USER: 1}
    assert not leaked(USER, json.dumps(_stored(db, run_id)).encode())
    assert_nowhere(USER, tmp_path)
    assert_nowhere(PASSWORD, tmp_path)


async def test_a_run_continued_where_its_credential_cannot_be_read_fails_before_typing_anything(
    secure: Harness, db: Database, provider: PlaywrightProvider, tmp_path: Path
) -> None:
    run_id = secure.submit(MY_PAGE)
    assert (await secure.engine.run(run_id)).status is RunStatus.WAITING
    (approval,) = secure.engine.open_handoffs(run_id)
    gone = MemorySecrets({"shop.username": USER})  # the password was removed meanwhile
    other = Engine(db, provider, ArtifactStore(tmp_path / "artifacts"), secrets=gone)
    try:
        other.answer(approval.id, {"decision": "approve"}, by="tester")
        result = await other.run(run_id)
    finally:
        await other.close()
    assert result.status is RunStatus.FAILED
    assert result.error == "credential shop.password is not available: no credential field shop.password"
    assert gone.reads == [] and secure.site.truth()["deletions"] == {}


async def test_a_username_that_is_not_secret_stays_readable_in_the_task_its_inputs_and_the_record(
    site: Any, db: Database, provider: PlaywrightProvider, tmp_path: Path
) -> None:
    site.configure(require_login=True, users={USER: PASSWORD})
    secrets = MemorySecrets({"shop.username": USER, "shop.password": PASSWORD}, public=("shop.username",))
    seen: list[Any] = []
    engine = Engine(db, provider, ArtifactStore(tmp_path / "artifacts"), sinks=[seen.append], secrets=secrets)
    harness = Harness(engine, site, db)
    text = (
        "name: admin-page\nsite: SITE\ninputs: {owner: string}\n"
        + LOGIN
        + """steps:
  - goto: /users/{{ owner }}
  - assert: {text: {target: {test_id: user-note}, equals: "Account administration for ada.lovelace"}}
"""
    )
    try:
        result = await harness.run(text, {"owner": USER})
    finally:
        await engine.close()
    assert result.status is RunStatus.SUCCEEDED, result.error
    task_text, inputs, checkpoint = _stored(db, result.run_id)
    assert task_text == text.replace("SITE", site.base_url) and inputs == {"owner": USER}
    assert checkpoint["last_url"] == f"{site.base_url}/users/{USER}"
    record = json.dumps([e.data for e in seen])
    assert f"/users/{USER}" in record and "[secret]" not in record
    assert_nowhere(PASSWORD, tmp_path)


def test_a_retry_keeps_the_tag_its_copied_inputs_were_sealed_with(secure: Harness, db: Database) -> None:
    run_id = secure.submit(MY_PAGE)
    with db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        assert run is not None
        run.checkpoint = {"next_step": 2, "seal_tag": "00c0ffee00c0ffee"}
    again = secure.engine.retry(run_id)
    assert _stored(db, again)[2] == {"seal_tag": "00c0ffee00c0ffee"}  # and nothing else: a new run

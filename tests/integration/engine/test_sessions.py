"""Credentials, logins and session profiles, judged against the hostile site's own truth: real
Chromium, a real SQLite file, the site on 127.0.0.1. The credential store is an in-memory
SecretSource (the OS keyring is exercised by the credential store's own tests); session
profiles are the real encrypted ProfileStore in a temp dir."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.browser import PlaywrightProvider
from app.browser.profiles import ProfileStore
from app.domain.errors import TaskValidationError
from app.domain.events import EventType
from app.domain.states import RunStatus
from app.engine.ports import SecretUnavailable
from app.engine.service import Engine
from app.secrets import encodings
from app.store import ArtifactStore, Database, runs
from tests.integration.engine.conftest import Harness

USER = "ada.lovelace"
PASSWORD = "Anal7tical-Engine!"


class MemorySecrets:
    """A SecretSource over a dict of NAME.FIELD → value (the issue allows an in-memory backend
    for the engine's tests). Counts reads: a value is read at the moment of the action only.
    Every field is secret, the username too (`--secret-username`), unless named in `public`."""

    def __init__(self, values: dict[str, str], public: tuple[str, ...] = ()) -> None:
        self.values = dict(values)
        self.public = public
        self.reads: list[str] = []

    def check(self, ref: str) -> None:
        if ref not in self.values:
            raise SecretUnavailable(f"no credential field {ref}")

    def resolve(self, ref: str) -> str:
        self.check(ref)
        self.reads.append(ref)
        return self.values[ref]

    def secret_value(self, ref: str) -> str | None:
        self.check(ref)
        return None if ref in self.public else self.values[ref]


@pytest.fixture
def secrets() -> MemorySecrets:
    return MemorySecrets({"shop.username": USER, "shop.password": PASSWORD})


@pytest.fixture
def profiles(tmp_path: Path) -> ProfileStore:
    key = os.urandom(32)
    return ProfileStore(tmp_path / "profiles", key=lambda: key)


@pytest.fixture
async def secure(
    site: Any,
    db: Database,
    tmp_path: Path,
    provider: PlaywrightProvider,
    secrets: MemorySecrets,
    profiles: ProfileStore,
) -> AsyncIterator[Harness]:
    """The harness with a credential store and session profiles; the site wants a login."""
    site.configure(require_login=True, users={USER: PASSWORD})
    h: Harness
    engine = Engine(
        db,
        provider,
        ArtifactStore(tmp_path / "artifacts"),
        sinks=[lambda e: h.record(e)],
        secrets=secrets,
        profiles=profiles,
    )
    h = Harness(engine, site, db)
    try:
        yield h
    finally:
        await engine.close()


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

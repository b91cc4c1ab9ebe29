"""Judging on the real web (DESIGN.md): a step is judged by the requests to the site under test.
A page's telemetry to a host that cannot be reached, its web fonts from another one, and its
own heartbeat decide nothing; they are recorded, marked. Judged by the hostile site's truth.

The telemetry hosts are under `.invalid` (never resolvable), as an offline user's browser sees
a real page's analytics; the heartbeat is the /compose editor's "editing session" ping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.browser import PlaywrightProvider
from app.cli.output import run_summary
from app.domain.events import EventType
from app.domain.states import RunStatus
from app.engine.service import Engine
from app.secrets import Credential, KeyringSecrets
from app.store import ArtifactStore, Database, runs
from tests.helpers.memkeyring import MemoryKeyring, using_keyring
from tests.integration.engine.conftest import Harness

TELEMETRY = "telemetry.flightdeck-test.invalid"
FONTS = "fonts.flightdeck-test.invalid"
USER, PASSWORD = "grace.hopper", "C0bol-Compiler!"


@pytest.fixture
def keyring_of_tests() -> Iterator[None]:
    with using_keyring(MemoryKeyring()):
        KeyringSecrets().add("shop", Credential(USER, PASSWORD))
        yield


@pytest.fixture
async def signed(
    site: Any, db: Database, tmp_path: Path, provider: PlaywrightProvider, keyring_of_tests: None
) -> AsyncIterator[Harness]:
    """The harness with the OS keyring's credential; the site wants a login, and its pages send
    telemetry and load a font from hosts that cannot be reached."""
    site.configure(require_login=True, telemetry=True, users={USER: PASSWORD})
    h: Harness
    engine = Engine(
        db,
        provider,
        ArtifactStore(tmp_path / "artifacts"),
        sinks=[lambda e: h.record(e)],
        secrets=KeyringSecrets(),
    )
    h = Harness(engine, site, db)
    try:
        yield h
    finally:
        await engine.close()


def sign_in_and_add(title: str, policy: str = "") -> str:
    return f"""
    name: notes-with-telemetry
    site: SITE
    {policy}
    login:
      - goto: /login
      - fill: {{target: {{label: Username}}, secret: shop.username}}
      - fill: {{target: {{label: Password}}, secret: shop.password}}
      - click: {{role: button, name: Sign in}}
    steps:
      - goto: /notes
      - fill: {{target: {{label: Title}}, value: "{title}"}}
      - id: add
        click: {{role: button, name: Add note}}
        expect:
          after_reload:
            text: {{target: {{test_id: note, nth: -1}}, equals: "{title}"}}
    """


def recorded_requests(harness: Harness, run_id: str) -> list[dict[str, Any]]:
    """Every request in the run's record: its attempts and its login steps."""
    found: list[dict[str, Any]] = []
    for event in harness.events_of(run_id, EventType.ATTEMPT_FINISHED) + harness.events_of(
        run_id, EventType.LOGIN_STEP
    ):
        found.extend(event.data.get("requests") or [])
    return found


def to(host: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if f"//{host}/" in r["url"]]


async def test_telemetry_refused_by_the_allowlist_is_recorded_and_decides_nothing(signed: Harness) -> None:
    """Unset allow_domains: the telemetry and font hosts are refused before anything leaves
    the browser, recorded with why, and the sign-in and the write succeed, each once."""
    result = await signed.run(sign_in_and_add("Offline"))

    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = signed.site.truth()
    assert truth["logins"] == 1 and truth["failed_logins"] == 0
    assert truth["note_submissions"] == {"Offline": 1}
    assert [n["title"] for n in truth["notes"]].count("Offline") == 1
    requests = recorded_requests(signed, result.run_id)
    telemetry = to(TELEMETRY, requests)
    assert {r["method"] for r in telemetry} == {"POST"}
    assert {r["resource_type"] for r in telemetry} >= {"fetch", "ping"}  # fetch and sendBeacon
    for r in telemetry + to(FONTS, requests):
        assert (
            r["third_party"]
            and r["refused"] == f"{r['url'].split('/')[2]} is not an allowed domain of this task"
        )
    assert to(FONTS, requests), "the web font request is in the record"
    # The sign-in's own POST is judged as ever: the site answered it with a redirect.
    [login_post] = [r for r in requests if r["method"] == "POST" and r["url"].endswith("/login")]
    assert login_post["status"] == 303 and not login_post["third_party"] and not login_post["refused"]
    with signed.db.session(readonly=True) as s:
        run = runs.get_run(s, result.run_id)
        assert run is not None
        shown = run_summary(s, run)
    [add] = [st for st in shown["steps"] if st["id"] == "add"]
    assert any(TELEMETRY in line and "third-party" in line for line in add["evidence"]["requests"]), add


async def test_unreachable_telemetry_that_is_allowed_fails_nothing(signed: Harness) -> None:
    """Allowed to go, the telemetry really fails (the host does not resolve): recorded, marked
    third-party, and still nothing is retried or written twice."""
    policy = f"policy: {{allow_domains: [127.0.0.1, {TELEMETRY}, {FONTS}]}}"
    result = await signed.run(sign_in_and_add("Unreachable", policy))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert signed.site.truth()["note_submissions"] == {"Unreachable": 1}
    assert not signed.events_of(result.run_id, EventType.RETRY_SCHEDULED)
    telemetry = to(TELEMETRY, recorded_requests(signed, result.run_id))
    assert telemetry and all(r["third_party"] and not r["refused"] for r in telemetry)
    assert any("ERR_NAME_NOT_RESOLVED" in (r["failure"] or "") for r in telemetry)


async def test_a_host_declared_as_the_sites_own_is_judged(harness: Harness) -> None:
    """own_domains: the host is the site under test (and so allowed): its failure counts. (The
    guard is off: a read step's page POSTing to the site's own host would wait for a person.)"""
    harness.site.configure(telemetry=True)
    result = await harness.run(
        f"""
        name: own-telemetry
        site: SITE
        policy:
          own_domains: [{TELEMETRY}]
          network_guard: false
          retry: {{maximum_attempts: 2, initial_interval: 0.1}}
        steps:
          - goto: /notes
        """
    )
    assert result.status is RunStatus.FAILED and result.failure_class == "transient"
    error = result.error or ""
    assert f"http://{TELEMETRY}/collect" in error and "ERR_NAME_NOT_RESOLVED" in error


async def test_leaving_the_site_for_a_refused_host_still_fails_naming_it(
    harness: Harness, static_site: Any
) -> None:
    """The credential-protection case: the page itself goes to another host."""
    other = "http://localhost:" + static_site.url.rsplit(":", 1)[1]
    static_site.add("/elsewhere", "<p>another site</p>")
    static_site.add(
        "/start",
        f"""<form method=post action="{other}/elsewhere"><input name=q value=x>
        <button>Continue</button></form>""",
    )
    result = await harness.run(
        f"""
        name: leave
        site: {static_site.url}
        steps:
          - goto: /start
          - click: {{role: button, name: Continue}}
        """
    )
    assert result.status is RunStatus.FAILED and result.failure_class == "permanent"
    assert f"blocked POST {other}/elsewhere: localhost is not an allowed domain" in (result.error or "")
    assert ("POST", "/elsewhere") not in static_site.hits


# ----------------------------------------------------------------- the page's own heartbeat
EDITOR = """
name: read-the-editor
site: SITE
steps:
  - goto: /compose
  - fill: {target: {label: Title}, value: Quarterly notes}
  - fill: {target: {label: Body}, value: three short words}
  - wait_for: {text: Editing session active}
  - wait_for: {text: 3 words}
  - extract: {target: {test_id: words}, into: words}
  - assert: {text: {target: {test_id: session}, equals: Editing session active}}
"""


async def test_the_pages_heartbeat_is_not_held_during_read_steps(harness: Harness) -> None:
    result = await harness.run(EDITOR)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert not harness.events_of(result.run_id, EventType.REQUEST_HELD)
    assert not harness.events_of(result.run_id, EventType.HANDOFF_OPENED)
    truth = harness.site.truth()
    assert truth["compose_pings"] >= 1  # it reached the server
    assert truth["compose_previews"] == 0 and truth["drafts"] == []
    pings = [r for r in recorded_requests(harness, result.run_id) if r["url"].endswith("/compose/ping")]
    assert pings and all(r["background"] and not r["third_party"] for r in pings)


async def test_a_read_steps_own_post_is_still_held_beside_the_heartbeat(harness: Harness) -> None:
    """The step's click submits the form: held, denied, never reaches the server. Only it is
    asked about, not the heartbeat that ran before and after it."""
    run_id = harness.submit(
        """
        name: preview-as-read
        site: SITE
        steps:
          - goto: /compose
          - fill: {target: {label: Title}, value: Not yet}
          - wait_for: {text: Editing session active}
          - click: {role: button, name: Preview}
            effect: read
        """
    )
    running = asyncio.create_task(harness.engine.run(run_id))
    held = await harness.open_handoff(run_id)
    assert held.kind == "approval"
    assert held.payload["request"]["method"] == "POST"
    assert held.payload["request"]["url"].endswith("/compose/preview")
    assert harness.site.truth()["compose_pings"] >= 1  # the page showed its session: one answered
    harness.engine.answer(held.id, {"decision": "deny"}, by="tester")
    result = await asyncio.wait_for(running, 30)
    assert result.status is RunStatus.FAILED and result.failure_class == "denied"
    assert harness.site.truth()["compose_previews"] == 0
    assert [e.data["url"] for e in harness.events_of(run_id, EventType.REQUEST_HELD)] == [
        held.payload["request"]["url"]
    ]

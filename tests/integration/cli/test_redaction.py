"""G7 end to end: tasks that sign in with a credential from the real OS keyring (gnome-keyring
in a private D-Bus session), run from the command line with verbose logging and every
screenshot taken. Then every byte Flightdeck printed or wrote — the runs' output, `show` /
`show --events` / `runs` / `inbox` in text and JSON, the database and its WAL, the artifacts,
the profile — is searched for the secrets in each of their common encodings (as typed,
URL-encoded, base64, JSON- and HTML-escaped).

Also when the run is continued by another process (`flightdeck approve RUN`): that process
masks the same values before it writes anything, and continues from what the first one stored
(the task, its inputs, its checkpoint), which redaction never touches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.secrets import encodings
from tests.helpers.secrets_shown import without_random_ids
from tests.integration.cli.test_credentials import in_secret_service, needs_secret_service

USER = "grace.h@example.com"
PASSWORD = 'Pa55/w0rd+&"quoted" <é>'  # characters every encoding changes

TASK = """
name: signed-in-note
site: {site}
session: shop
policy: {{screenshots: all}}
login:
  - goto: /login
  - fill: {{target: {{label: Username}}, secret: shop.username}}
  - fill: {{target: {{label: Password}}, secret: shop.password}}
  - click: {{role: button, name: Sign in}}
steps:
  - goto: /notes
  - fill: {{target: {{label: Title}}, value: "Quarterly report"}}
  - id: add-note
    click: {{role: button, name: Add note}}
    expect:
      after_reload:
        text: {{target: {{test_id: note, nth: -1}}, equals: "Quarterly report"}}
"""


def _leaks(data: bytes, secrets: list[str]) -> list[str]:
    return [form for secret in secrets for form in encodings(secret) if form.encode() in data]


@needs_secret_service
def test_a_signed_in_run_leaves_its_credential_in_no_byte_written_or_printed(
    tmp_path: Path, hostile_site: Any
) -> None:
    hostile_site.configure(require_login=True, cookie_banner=False, users={USER: PASSWORD})
    task = tmp_path / "signed-in-note.yaml"
    task.write_text(TASK.format(site=hostile_site.url))
    added, ran = in_secret_service(
        tmp_path,
        [
            # Its username is secret too: masked like the password (it is in the page's header).
            {
                "cli": ["credentials", "add", "shop", "--no-totp", "--secret-username"],
                "stdin": f"{USER}\n{PASSWORD}\n",
            },
            {"cli": ["--verbose", "run", str(task), "--json"], "stdin": ""},
        ],
    )
    assert added["code"] == 0, added["err"]
    assert ran["code"] == 0, ran["out"] + ran["err"]
    run_id = json.loads(ran["out"])["run_id"]
    # The server saw one sign-in with these values, and the note once: the run really used them.
    assert hostile_site.truth()["logins"] == 1 and hostile_site.truth()["failed_logins"] == 0

    looks = in_secret_service(
        tmp_path,
        [
            {"cli": ["show", run_id], "stdin": ""},
            {"cli": ["show", run_id, "--json", "--events"], "stdin": ""},
            {"cli": ["show", run_id, "--verify"], "stdin": ""},
            {"cli": ["runs", "--json"], "stdin": ""},
            {"cli": ["inbox", "--json"], "stdin": ""},
            {"cli": ["profiles", "list", "--json"], "stdin": ""},
        ],
    )
    assert all(look["code"] == 0 for look in looks), looks
    shown = json.loads(looks[1]["out"])
    named = [e for e in shown["events"] if "••• (shop.password)" in json.dumps(e, ensure_ascii=False)]
    assert named, "the fill names its credential instead of a value"
    assert [p["name"] for p in json.loads(looks[5]["out"])] == ["shop"]

    secrets = [USER, PASSWORD]
    printed = "".join(r["out"] + r["err"] for r in [added, ran, *looks]).encode()
    assert _leaks(printed, secrets) == []
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "plan.json"]
    assert any(p.suffix == ".db" for p in files) and any(p.suffix == ".profile" for p in files)
    shots = [e["data"]["screenshot_after"] for e in shown["events"] if e["data"].get("screenshot_after")]
    assert len(shots) >= 3 and all(any(p.name == h for p in files) for h in shots), shots
    for path in files:
        if "keyrings" in path.parts:  # the OS keyring's own (encrypted) file holds them, by design
            continue
        assert _leaks(path.read_bytes(), secrets) == [], path


def _files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file() and p.name != "plan.json" and "keyrings" not in p.parts]


ADMIN_PASSWORD = 'Adm1n/s3cret+&"q" <é>'

# The username `admin` is in the URL of every page the task works on, and in the page's text
# ("Account administration for admin"): an identifier, not a secret, so it is never masked.
ADMIN_TASK = """
name: delete-as-admin
site: {site}
policy: {{screenshots: all}}
login:
  - goto: /login
  - fill: {{target: {{label: Username}}, secret: shop.username}}
  - fill: {{target: {{label: Password}}, secret: shop.password}}
  - click: {{role: button, name: Sign in}}
steps:
  - goto: /users/admin
  - extract: {{target: {{test_id: user-note}}, into: note}}
  - id: delete
    click: {{role: button, name: Delete Invoice 1001}}
    effect: irreversible
    description: Permanently delete Invoice 1001
    expect:
      after_reload:
        goto: /users/admin
        hidden: {{text: Invoice 1001, exact: true}}
"""


@needs_secret_service
def test_a_run_approved_from_another_process_continues_from_an_undamaged_copy_and_masks_its_password(
    tmp_path: Path, hostile_site: Any
) -> None:
    hostile_site.configure(cookie_banner=False, users={"admin": ADMIN_PASSWORD})
    task = tmp_path / "delete-as-admin.yaml"
    task.write_text(ADMIN_TASK.format(site=hostile_site.url))
    added, ran = in_secret_service(
        tmp_path,
        [
            {"cli": ["credentials", "add", "shop", "--no-totp"], "stdin": f"admin\n{ADMIN_PASSWORD}\n"},
            {"cli": ["--verbose", "run", str(task), "--json"], "stdin": ""},
        ],
    )
    assert added["code"] == 0, added["err"]
    assert ran["code"] == 3, ran["out"] + ran["err"]  # waiting for the approval; this process ends
    run_id = json.loads(ran["out"])["run_id"]
    assert hostile_site.truth()["deletions"] == {}

    # Another process approves and carries the run on (a fresh browser: it signs in again).
    approved, *looks = in_secret_service(
        tmp_path,
        [
            {"cli": ["--verbose", "approve", run_id], "stdin": ""},
            {"cli": ["show", run_id], "stdin": ""},
            {"cli": ["show", run_id, "--json", "--events"], "stdin": ""},
            {"cli": ["runs", "--json"], "stdin": ""},
            {"cli": ["inbox", "--json"], "stdin": ""},
        ],
    )
    assert approved["code"] == 0, approved["out"] + approved["err"]
    truth = hostile_site.truth()
    assert truth["deletions"] == {"1": 1} and 1 not in [i["id"] for i in truth["items"]]
    assert all(look["code"] == 0 for look in looks), looks
    shown = json.loads(looks[1]["out"])
    assert shown["status"] == "succeeded", shown.get("error")
    events = shown["events"]
    answered = next(i for i, e in enumerate(events) if e["type"] == "handoff.answered")
    after = json.dumps(events[answered:], ensure_ascii=False)
    # What the second process wrote: its own sign-in (named, never typed out), the approved
    # click and the check that reloaded the real URL.
    assert "••• (shop.password)" in after and "approval.used" in after and "/users/admin" in after

    # Readable: the username-bearing words are intact in what `show` prints and in the events.
    assert "/users/admin" in looks[0]["out"]
    assert "Account administration for admin" in json.dumps(events)
    assert "[secret]" not in looks[0]["out"] + json.dumps(events)

    printed = "".join(r["out"] + r["err"] for r in [added, ran, approved, *looks])
    assert _leaks(without_random_ids(printed).encode(), [ADMIN_PASSWORD]) == []
    for path in _files(tmp_path):
        assert _leaks(path.read_bytes(), [ADMIN_PASSWORD]) == [], path


SECRET_USER = "grace.h@example.com"

# The task never names the user: /me sends the browser to /users/<name>. The run's checkpoint
# (the page it was on) then holds the name, which this credential declares secret.
MY_PAGE_TASK = """
name: tidy-my-page
site: {site}
session: shop
policy: {{screenshots: all}}
login:
  - goto: /login
  - fill: {{target: {{label: Username}}, secret: shop.username}}
  - fill: {{target: {{label: Password}}, secret: shop.password}}
  - click: {{role: button, name: Sign in}}
steps:
  - goto: /me
  - id: tidy
    click: {{role: button, name: Delete Invoice 1002}}
    effect: write
    expect: {{after_reload: {{hidden: {{text: Invoice 1002, exact: true}}}}}}
  - id: delete
    click: {{role: button, name: Delete Invoice 1001}}
    effect: irreversible
    expect: {{after_reload: {{hidden: {{text: Invoice 1001, exact: true}}}}}}
"""


@needs_secret_service
def test_a_secret_username_is_masked_everywhere_and_the_run_resumes_from_where_it_was(
    tmp_path: Path, hostile_site: Any
) -> None:
    hostile_site.configure(cookie_banner=False, users={SECRET_USER: PASSWORD})
    task = tmp_path / "tidy-my-page.yaml"
    task.write_text(MY_PAGE_TASK.format(site=hostile_site.url))
    added, ran = in_secret_service(
        tmp_path,
        [
            {
                "cli": ["credentials", "add", "shop", "--no-totp", "--secret-username"],
                "stdin": f"{SECRET_USER}\n{PASSWORD}\n",
            },
            {"cli": ["--verbose", "run", str(task), "--json"], "stdin": ""},
        ],
    )
    assert added["code"] == 0, added["err"]
    assert ran["code"] == 3, ran["out"] + ran["err"]
    run_id = json.loads(ran["out"])["run_id"]
    assert hostile_site.truth()["deletions"] == {"2": 1}

    # The second process starts signed in (the session profile) and types nothing: what it
    # writes is masked only because it knew the values before writing anything.
    approved, *looks = in_secret_service(
        tmp_path,
        [
            {"cli": ["--verbose", "approve", run_id], "stdin": ""},
            {"cli": ["show", run_id], "stdin": ""},
            {"cli": ["show", run_id, "--json", "--events"], "stdin": ""},
            {"cli": ["runs", "--json"], "stdin": ""},
        ],
    )
    assert approved["code"] == 0, approved["out"] + approved["err"]
    # Each delete happened once: the write before the interruption was not redone.
    assert hostile_site.truth()["deletions"] == {"2": 1, "1": 1}
    assert hostile_site.truth()["logins"] == 1
    shown = json.loads(looks[1]["out"])
    assert shown["status"] == "succeeded", shown.get("error")
    events = shown["events"]
    answered = next(i for i, e in enumerate(events) if e["type"] == "handoff.answered")
    assert "/users/[secret]" in json.dumps(events[answered:])  # written by the second process

    secrets = [SECRET_USER, PASSWORD]
    printed = "".join(r["out"] + r["err"] for r in [added, ran, approved, *looks])
    assert _leaks(without_random_ids(printed).encode(), secrets) == []
    for path in _files(tmp_path):
        assert _leaks(path.read_bytes(), secrets) == [], path

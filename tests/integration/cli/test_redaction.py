"""G7 end to end: a task that signs in with a credential from the real OS keyring (gnome-keyring
in a private D-Bus session), run from the command line with verbose logging and every
screenshot taken, its session kept in a profile. Then every byte Flightdeck printed or wrote —
the run's output, `show` / `show --events` / `runs` / `inbox` in text and JSON, the database and
its WAL, the artifacts, the profile — is searched for the secrets in each of their common
encodings (as typed, URL-encoded, base64, JSON- and HTML-escaped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.secrets import encodings
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
            {"cli": ["credentials", "add", "shop", "--no-totp"], "stdin": f"{USER}\n{PASSWORD}\n"},
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

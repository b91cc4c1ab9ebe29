"""`flightdeck credentials` and `flightdeck profiles` as a user runs them: against a real Secret
Service (gnome-keyring in a private D-Bus session), values typed at hidden prompts or piped in,
never printed back; without a usable keyring, an error with the fix and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.browser.profiles import ProfileStore
from app.secrets import Totp, encodings
from tests.helpers import secret_service
from tests.helpers.cli import ROOT, Cli

SEED = "JBSWY3DPEHPK3PXP"
SHOP = {"username": "alice@example.com", "password": "correct horse battery", "api_key": "k-live-51Hxyz"}
MAIL = {"username": "bob.builder", "password": "tty-typed-s3cret"}

# Skipped only outside the test command: `packaging/dev test` installs gnome-keyring and sets
# FLIGHTDECK_TEST_STRICT, so there a missing Secret Service fails the test instead of hiding it.
needs_secret_service = pytest.mark.skipif(
    not secret_service.available() and not os.environ.get("FLIGHTDECK_TEST_STRICT"),
    reason="needs dbus-run-session and gnome-keyring (packaging/dev setup)",
)


def in_secret_service(
    home: Path, plan: list[dict[str, Any]], extra_env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run the plan's steps in one Secret Service session; their results, in order."""
    plan_file = home / "plan.json"
    plan_file.write_text(json.dumps(plan))
    proc = subprocess.run(
        secret_service.argv(sys.executable, "-m", "tests.helpers.session_driver", str(plan_file)),
        env=secret_service.env(home) | (extra_env or {}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


def leaks(text: str, values: list[str]) -> list[str]:
    return [form for value in values for form in encodings(value) if form in text]


@needs_secret_service
def test_credentials_in_the_real_secret_service_are_resolved_and_never_printed(tmp_path: Path) -> None:
    piped = "\n".join([SHOP["username"], SHOP["password"], SEED, SHOP["api_key"]]) + "\n"
    add, short, listed, listed_json, resolved, again, typed, after_tty, removed, gone, unresolved = (
        in_secret_service(
            tmp_path,
            [
                {"cli": ["credentials", "add", "shop", "--field", "api_key"], "stdin": piped},
                {"cli": ["credentials", "add", "pin"], "stdin": "alice@example.com\n123\n\n"},
                {"cli": ["credentials", "list"]},
                {"cli": ["credentials", "list", "--json"]},
                {"resolve": ["shop.username", "shop.password", "shop.totp", "shop.api_key"], "clock": 59},
                {"cli": ["credentials", "add", "shop"], "stdin": piped},
                # On a terminal: hidden prompts, the password asked twice, no TOTP seed.
                {"cli": ["credentials", "add", "mail"], "tty": [*MAIL.values(), MAIL["password"], ""]},
                {"cli": ["credentials", "list", "--json"]},
                {"cli": ["credentials", "remove", "shop"]},
                {"cli": ["credentials", "list", "--json"]},
                {"resolve": ["shop.password", "mail.password"]},
            ],
        )
    )
    assert add["code"] == 0, add["err"]
    assert "stored in the OS keyring (keyring.backends.SecretService.Keyring)" in add["out"]
    assert "shop.username, shop.password, shop.totp, shop.api_key" in add["out"]
    assert (
        "masked in everything Flightdeck writes: password, totp, api_key; not masked: username" in add["out"]
    )
    assert short["code"] == 2 and "password is shorter than 4 characters" in short["err"]
    assert listed["out"].split() == ["shop", "username,", "password,", "totp,", "api_key"]
    assert json.loads(listed_json["out"]) == [
        {"name": "shop", "fields": ["username", "password", "totp", "api_key"]}
    ]

    # What a run gets in the same session: the values, and the TOTP code of that moment.
    assert resolved == {
        "shop.username": SHOP["username"],
        "shop.password": SHOP["password"],
        "shop.totp": Totp(SEED).code(59),
        "shop.api_key": SHOP["api_key"],
    }
    assert again["code"] == 2 and "exists" in again["err"] and "--replace" in again["err"]

    assert typed["code"] == 0 and typed["unanswered"] == [], typed["out"]
    assert "password again: " in typed["out"]  # asked twice on a terminal
    assert [c["name"] for c in json.loads(after_tty["out"])] == ["mail", "shop"]

    assert removed["code"] == 0 and json.loads(gone["out"]) == [
        {"name": "mail", "fields": ["username", "password"]}
    ]
    assert "no credential named 'shop'" in unresolved["shop.password"]["unavailable"]
    assert unresolved["mail.password"] == MAIL["password"]

    # Nothing the commands printed holds a value, in any encoding (the TTY transcript included:
    # typed values are not echoed) …
    printed = "".join(r.get("out", "") + r.get("err", "") for r in (add, short, listed, listed_json, again))
    printed += typed["out"] + after_tty["out"] + removed["out"] + gone["out"]
    assert leaks(printed, [*SHOP.values(), *MAIL.values(), SEED]) == []
    # … and no file holds one in plaintext: the keyring file is encrypted, nothing else was written.
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "plan.json":
            data = path.read_bytes()
            assert not [v for v in (*SHOP.values(), *MAIL.values()) if v.encode() in data], path


def test_only_an_extra_field_can_be_declared_public(cli: Cli) -> None:
    refused = cli("credentials", "add", "bank", "--field", "pin", "--public", "account_id")
    assert refused.code == 2
    assert "--public account_id: only an extra field can be public; give it with --field too" in refused.err


def test_without_a_usable_keyring_commands_say_how_to_get_one(cli: Cli) -> None:
    cli.env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # a headless Linux default
    proc = subprocess.run(
        cli.argv("credentials", "add", "shop"),
        env=cli.env,
        cwd=ROOT,
        input="alice@example.com\ncorrect horse\n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no usable OS keyring (keyring.backends.fail.Keyring)" in proc.stderr
    assert "apt-get install gnome-keyring dbus-x11" in proc.stderr
    assert "username:" not in proc.stderr  # refused before asking for anything
    listed = cli("credentials", "list", "--json")
    assert listed.code == 2 and "fix:" in listed.err and listed.out == ""
    checks = {c["check"]: c for c in cli("doctor", "--json").json()}
    assert not checks["credentials"]["ok"] and "gnome-keyring" in checks["credentials"]["fix"]


def test_profiles_list_shows_who_uses_one_and_clear_waits_for_it(cli: Cli) -> None:
    store = ProfileStore(cli.home / "profiles", key=lambda: os.urandom(32))
    store.save("shop", {"cookies": [{"name": "sid", "value": "cookie-value-123"}], "origins": []})
    store.acquire("shop", "run-1")  # this test's process plays a run in progress

    listed = cli("profiles", "list", "--json")
    assert listed.code == 0
    (shop,) = listed.json()
    assert shop["name"] == "shop" and shop["size"] > 0 and shop["locked_by"] == "run-1"
    assert "run run-1" in cli("profiles", "list").out

    busy = cli("profiles", "clear", "shop")
    assert busy.code == 1 and "in use by run run-1" in busy.err
    store.release("shop", "run-1")
    cleared = cli("profiles", "clear", "shop")
    assert cleared.code == 0 and "the next run starts logged out" in cleared.out
    assert store.load("shop") is None
    gone = cli("profiles", "clear", "shop")
    assert gone.code == 2 and "no session profile named 'shop'" in gone.err


@needs_secret_service
def test_check_with_credentials_names_a_missing_one_and_passes_once_added(tmp_path: Path) -> None:
    task = str(ROOT / "resources" / "demo" / "tasks" / "credentials" / "members-login.yaml")
    missing, added, found = in_secret_service(
        tmp_path,
        [
            {"cli": ["check", "--credentials", task]},
            {"cli": ["credentials", "add", "demo", "--no-totp"], "stdin": "demo\ndemo-password\n"},
            {"cli": ["check", "--credentials", task]},
        ],
    )
    assert missing["code"] == 2, missing
    assert "credential demo.password is not available" in missing["out"]
    assert "fix: flightdeck credentials add demo" in missing["out"]
    assert added["code"] == 0, added["err"]
    assert found["code"] == 0 and "1 task file: 1 valid, 0 with errors" in found["out"], found
    assert leaks(missing["out"] + found["out"], ["demo-password"]) == []

"""A `kill -9` in the middle of a login (G1): the site has just accepted the credential and set its
session cookie, but neither the run's record nor its session profile has it. `resume` signs in
again (the login count survived the crash, so the re-login bound still holds) and finishes, every
write stored once, the record intact."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests.integration.cli.test_credentials import in_secret_service, needs_secret_service

USER = "ada@example.com"
PASSWORD = "engine-analytical-1843"

TASK = """
name: note-after-login
site: {site}
session: shop
login:
  - goto: /login
  - fill: {{target: {{label: Username}}, secret: shop.username}}
  - fill: {{target: {{label: Password}}, secret: shop.password}}
  - click: {{role: button, name: Sign in}}
steps:
  - goto: /notes
  - fill: {{target: {{label: Title}}, value: "After the crash"}}
  - id: add-note
    click: {{role: button, name: Add note}}
    expect:
      after_reload:
        text: {{target: {{test_id: note, nth: -1}}, equals: "After the crash"}}
"""


@needs_secret_service
def test_a_run_killed_while_logging_in_resumes_signed_in_and_writes_once(
    tmp_path: Path, hostile_site: Any
) -> None:
    hostile_site.configure(require_login=True, cookie_banner=False, users={USER: PASSWORD})
    task = tmp_path / "note-after-login.yaml"
    task.write_text(TASK.format(site=hostile_site.url))
    added, killed, listed = in_secret_service(
        tmp_path,
        [
            {"cli": ["credentials", "add", "shop", "--no-totp"], "stdin": f"{USER}\n{PASSWORD}\n"},
            {"cli": ["run", str(task)], "stdin": ""},  # dies after the "Sign in" click
            {"cli": ["runs", "--json"], "stdin": ""},
        ],
        extra_env={"FLIGHTDECK_CRASH_AT": "login_step:4"},
    )
    assert added["code"] == 0, added["err"]
    assert killed["code"] == -signal.SIGKILL, killed["out"] + killed["err"]
    assert hostile_site.truth()["logins"] == 1  # the site did sign it in
    (run,) = json.loads(listed["out"])
    assert run["status"] == "running"  # as the dead process left it

    resumed, shown, verified = in_secret_service(
        tmp_path,
        [
            {"cli": ["resume", run["run_id"]], "stdin": ""},
            {"cli": ["show", run["run_id"], "--json", "--events"], "stdin": ""},
            {"cli": ["show", run["run_id"], "--verify"], "stdin": ""},
        ],
    )
    assert resumed["code"] == 0, resumed["out"] + resumed["err"]
    detail = json.loads(shown["out"])
    assert detail["status"] == "succeeded"
    truth = hostile_site.truth()
    assert truth["failed_logins"] == 0 and truth["logins"] == 2  # once more, after the restart
    notes = [n for n in hostile_site.truth()["notes"] if n["title"] == "After the crash"]
    assert len(notes) == 1
    # The login count was committed before the crash: the resumed run counts on from it.
    started = [e["data"]["login"] for e in detail["events"] if e["type"] == "login.started"]
    assert started == [1, 2]
    assert verified["code"] == 0, verified["out"]

"""Whether an interrupted action happened is re-read on a signed-in page (issue 12, found on
Node-RED): the process that resumes opens a new browser, and a single-page app shows its sign-in
form where its content was. A `hidden` check holds of that page whatever happened on the
server — the deletion was "verified after recovery" though nothing was deleted. Recovery signs in
before it believes a re-read, and a re-read that shows the item still there asks a person."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests.integration.cli.test_credentials import in_secret_service, needs_secret_service

USER = "ada@example.com"
PASSWORD = "engine-analytical-1843"

TASK = """
name: spa-delete-welcome
site: {site}
login:
  signed_out: {{visible: {{label: Password}}}}   # the app shows its sign-in form in place
  steps:
    - fill: {{target: {{label: Username}}, secret: shop.username}}
    - fill: {{target: {{label: Password}}, secret: shop.password}}
    - click: {{role: button, name: Sign in}}
steps:
  - goto: /app
  - id: delete
    click: {{role: button, name: Delete Welcome}}
    effect: irreversible
    expect:
      after_reload: {{hidden: {{role: button, name: Delete Welcome}}}}
"""


@needs_secret_service
def test_a_deletion_cut_short_is_not_verified_by_a_signed_out_page(tmp_path: Path, hostile_site: Any) -> None:
    hostile_site.configure(cookie_banner=False, users={USER: PASSWORD})
    task = tmp_path / "spa-delete.yaml"
    task.write_text(TASK.format(site=hostile_site.url))
    added, waiting = in_secret_service(
        tmp_path,
        [
            {"cli": ["credentials", "add", "shop", "--no-totp"], "stdin": f"{USER}\n{PASSWORD}\n"},
            {"cli": ["run", str(task), "--json"], "stdin": ""},  # parks on the approval
        ],
    )
    assert added["code"] == 0, added["err"]
    run_id = json.loads(waiting["out"])["run_id"]
    assert json.loads(waiting["out"])["status"] == "waiting", waiting["out"]
    (killed,) = in_secret_service(
        tmp_path,
        [{"cli": ["approve", run_id], "stdin": ""}],  # dies as the approved click is about to go
        extra_env={"FLIGHTDECK_CRASH_AT": "after_intent"},
    )
    assert killed["code"] == -signal.SIGKILL, killed["out"] + killed["err"]
    assert hostile_site.truth()["note_deletions"] == {}

    resumed, shown = in_secret_service(
        tmp_path,
        [
            {"cli": ["resume", run_id], "stdin": ""},
            {"cli": ["show", run_id, "--json", "--events"], "stdin": ""},
        ],
    )
    detail = json.loads(shown["out"])
    truth = hostile_site.truth()
    assert truth["note_deletions"] == {} and [n["title"] for n in truth["notes"]] == ["Welcome"]
    # Not "verified after recovery": the note is there, on the page once signed in. Whether
    # the click went is unknown: a person is asked, the delete is not sent again on a guess.
    assert detail["status"] == "waiting", resumed["out"] + resumed["err"]
    (asked,) = [e for e in detail["events"] if e["type"] == "handoff.opened"][-1:]
    assert asked["data"]["kind"] == "verification", asked
    assert truth["logins"] == 3  # the run's, the approval's and the resumed browser's

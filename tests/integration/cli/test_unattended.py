"""Nobody is watching, through the real `flightdeck` command: `run --wait` ends when a question's
deadline passes, a deadline that passed while no process ran the run is applied by the next
command that continues it, and a verification nobody answers leaves the outcome unknown — the
run fails as `ambiguous_outcome` and the action is never sent again (the site's truth)."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from app.store import Database
from app.store.models import Handoff, HandoffStatus
from app.store.types import utcnow
from tests.helpers.cli import Cli
from tests.integration.cli.test_crash_points import crashing


def drifted_task(tmp_path: Path, site: str, policy: str = "") -> Path:
    """A note whose "Add note" button the site calls "Save note": a missing-target question."""
    task = tmp_path / "drifted.yaml"
    task.write_text(
        f"""
name: drifted-note
site: {site}
policy: {{step_timeout: 1, retry: {{maximum_attempts: 1}}{policy}}}
steps:
  - goto: /notes
  - fill: {{target: {{label: Title}}, value: Unseen}}
  - id: add
    click: {{role: button, name: Add note}}
"""
    )
    return task


def test_run_wait_with_nobody_answering_ends_at_the_question_deadline(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    site.configure(drift=True)
    task = drifted_task(tmp_path, site.base_url, ", question_timeout: 1s")
    done = cli("run", str(task), "--wait", timeout=90)
    assert done.code == 1, done.out + done.err
    assert "? clarification" in done.out  # it asked, and nobody answered
    assert "✗ run" in done.out and "failed" in done.out
    assert 'missing_target: role=button name="Add note"' in done.out
    assert "(nobody answered before the deadline)" in done.out
    assert site.truth()["note_submissions"] == {}


def past_deadlines(cli: Cli, run_id: str) -> None:
    """As if the deadlines had passed while no process was running: an hour went by."""
    db = Database(cli.db_url)
    try:
        with db.session() as s, s.begin():
            s.execute(
                update(Handoff)
                .where(Handoff.run_id == run_id, Handoff.status == HandoffStatus.OPEN)
                .values(deadline=utcnow() - timedelta(seconds=1))
            )
    finally:
        db.dispose()


def test_resume_applies_a_deadline_that_passed_while_no_process_ran(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    site.configure(drift=True)
    first = cli("run", str(drifted_task(tmp_path, site.base_url)), "--json")
    assert first.code == 3, first.err  # waiting for an answer; the process ends
    run_id = first.json()["run_id"]
    past_deadlines(cli, run_id)
    resumed = cli("resume", run_id, "--json")
    assert resumed.code == 1, resumed.out + resumed.err
    final = resumed.json()
    assert final["status"] == "failed" and final["failure_class"] == "missing_target"
    assert "(nobody answered before the deadline)" in final["error"]
    assert final["open_handoffs"] == []
    assert site.truth()["note_submissions"] == {}


def test_an_unanswered_verification_fails_as_ambiguous_outcome_and_never_sends_again(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    site.configure(cookie_banner=False)
    task = tmp_path / "task.yaml"
    # No expectation: after a crash, nothing on the page can prove whether the delete happened.
    task.write_text(
        f"""
name: delete-invoice
site: {site.base_url}
policy: {{verification_timeout: 1s, step_timeout: 2}}
steps:
  - goto: /items
  - click: {{test_id: delete-1}}
    effect: read
  - id: delete
    click: {{role: button, name: "Yes, delete"}}
    effect: irreversible
"""
    )
    first = cli("run", str(task), "--json")
    assert first.code == 3, first.err  # the delete waits for its approval
    run_id = first.json()["run_id"]
    crashed = crashing(cli, "after_dispatch", "approve", run_id)  # the delete went out; then kill -9
    assert crashed.code == -signal.SIGKILL, crashed.out + crashed.err
    assert site.truth()["deletions"] == {"1": 1}

    resumed = cli("resume", run_id, "--wait", timeout=90)  # asks "did it happen?"; nobody says
    assert resumed.code == 1, resumed.out + resumed.err
    assert "? verification" in resumed.out
    shown = cli("show", run_id, "--json").json()
    assert shown["status"] == "failed" and shown["failure_class"] == "ambiguous_outcome"
    assert "nobody said whether it did before the deadline" in shown["error"]
    assert "it was not sent again" in shown["error"]
    assert site.truth()["deletions"] == {"1": 1}  # at most once (G3), whatever the deadline

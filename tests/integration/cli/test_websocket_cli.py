"""`kill -9` and `flightdeck resume` on a page driven over a WebSocket (the hostile site's /live,
built as NiceGUI pages are; issue 12, real apps): "Save" sends no HTTP request, only a message,
so nothing but the site can say it happened. Recovery must never send it again, and the record
(`show`) must hold what each step said over the socket and every step done again. Judged by
the site's truth: every message received, every save and delete per title."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import Cli
from tests.integration.cli.test_crash_points import crashing


def note_task(site: str) -> str:
    return f"""
name: live-note
site: {site}
policy: {{screenshots: false}}
steps:
  - goto: /live
  - click: {{role: button, name: Add}}
    effect: read  # only opens the dialog
  - fill: {{target: {{label: Title}}, value: Kept once}}
  - id: save
    click: {{role: button, name: Save}}
    expect:
      after_reload: {{visible: {{role: cell, name: Kept once, exact: true}}}}
  - click: {{role: button, name: Delete Kept once}}
    effect: read  # only asks for confirmation
  - assert: {{visible: {{text: This cannot be undone}}}}
"""


# As "Save" is about to be sent (its form filled), right after it was sent (its outcome not
# recorded), and once its outcome was committed.
POINTS = ["before_intent:1", "after_dispatch:1", "after_outcome:1"]


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_resume_never_sends_a_websocket_write_again(cli: Cli, site: Any, tmp_path: Path, point: str) -> None:
    # The site answers at once: nothing but recovery is under test.
    site.configure(cookie_banner=False, live_sign_in=False, live_delay_ms=0)
    task = tmp_path / "live.yaml"
    task.write_text(note_task(site.base_url))
    first = crashing(cli, point, "run", str(task))
    assert first.code == -signal.SIGKILL, first.out + first.err
    run_id = first.out.split()[2]

    resumed = cli("resume", run_id)
    assert resumed.code == 0, resumed.out + resumed.err
    truth = site.truth()["live"]
    assert truth["saves"] == {"Kept once": 1}, f"saved {truth['saves']} times:\n{resumed.out}"
    assert truth["received"]["save"] == 1
    assert [n["title"] for n in truth["notes"]] == ["Kept once"]

    shown = cli("show", run_id, "--verify", "--json").json()
    assert shown["status"] == "succeeded" and shown["verified"] is True
    steps = {st["id"]: st for st in shown["steps"]}
    assert not steps["save"]["replays"], "Save was done again"
    socket = site.base_url.replace("http", "ws") + "/live/ws"
    if point != "after_dispatch:1":  # cut short there: its requests died with the process
        said = [r for a in steps["save"]["attempt_list"] for r in a["requests"]]
        assert any(r.startswith(f"WS {socket}: ") and " sent (" in r for r in said), said
    if point == "before_intent:1":
        # The dialog was lost with the browser: opened again, and recorded so. A read step's
        # completion is committed within 0.5 s (recorder.commit_soon): the kill may have taken
        # the last ones, which are then simply done, as the next steps, not redone.
        redone = [st["id"] for st in shown["steps"] if st["replays"]]
        assert redone in (["1-goto"], ["1-goto", "2-click"], ["1-goto", "2-click", "3-fill"]), redone
        text = cli("show", run_id).out
        assert "↺ done again after the interruption" in text


@pytest.mark.slow
def test_an_approved_delete_cut_short_is_settled_by_what_the_approval_showed(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    """`flightdeck approve` fires the delete in the confirmation dialog and dies before its
    outcome is recorded. On resume the dialog is gone (and the row it was opened from: the note
    was deleted), so the target cannot be read from the page; the approval showed it — a
    button of no form — so reloading the notes says whether it happened. It did: done, nothing
    asked, nothing sent again."""
    site.configure(cookie_banner=False, live_sign_in=False, live_delay_ms=0)
    task = tmp_path / "live.yaml"
    task.write_text(
        note_task(site.base_url).replace(
            "  - assert: {visible: {text: This cannot be undone}}\n",
            """  - id: delete
    click: {role: button, name: Delete, exact: true}
    effect: irreversible
    expect:
      after_reload: {hidden: {role: cell, name: Kept once, exact: true}}
""",
        )
    )
    first = cli("run", str(task), "--json")
    assert first.code == 3, first.out + first.err  # waiting for the approval
    run_id = first.json()["run_id"]
    crashed = crashing(cli, "after_dispatch:1", "approve", run_id)
    assert crashed.code == -signal.SIGKILL, crashed.out + crashed.err
    assert site.truth()["live"]["deletes"] == {"Kept once": 1}

    resumed = cli("resume", run_id, "--json")
    assert resumed.code == 0, resumed.out + resumed.err  # nobody had to be asked
    shown = cli("show", run_id, "--json").json()
    (delete,) = [st for st in shown["steps"] if st["id"] == "delete"]
    assert delete["status"] == "succeeded" and delete["verified_after_recovery"]
    truth = site.truth()["live"]
    assert truth["deletes"] == {"Kept once": 1} and truth["notes"] == []
    assert truth["saves"] == {"Kept once": 1}

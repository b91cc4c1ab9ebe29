"""Fault injection (G1, G3) around handoffs: a real `flightdeck` process killed while it waits for
an approval, approved from another terminal, and killed right after an approved delete with
nothing to re-read it by. A kill before and after every commit of a write and an irreversible
action is the crash matrix's (test_crash_matrix.py); `crashing` and `operate` serve both."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import Cli, Result


def task_text(site: str) -> str:
    return f"""
name: note-then-delete
site: {site}
steps:
  - goto: /notes
  - fill: {{target: {{label: Title}}, value: Ledger}}
  - id: add-note
    click: {{role: button, name: Add note}}
    effect: write
    expect:
      after_reload: {{text: {{target: {{test_id: note, nth: -1}}, equals: Ledger}}}}
  - goto: /items
  - click: {{test_id: delete-1}}
    effect: read
  - id: delete
    click: {{role: button, name: "Yes, delete"}}
    effect: irreversible
    expect:
      after_reload: {{goto: /items, hidden: {{text: Invoice 1001, exact: true}}}}
"""


def wait_for_approval(cli: Cli, task: Path) -> tuple[subprocess.Popen[str], str]:
    """`flightdeck run TASK --wait` in the background, read until it waits for an approval."""
    waiter = cli.popen("run", str(task), "--wait")
    assert waiter.stdout is not None
    run_id = ""
    for line in waiter.stdout:
        if line.startswith("▶ run "):
            run_id = line.split()[2]
        if line.strip().startswith("? approval"):
            break
    return waiter, run_id


def crashing(cli: Cli, point: str, *args: str) -> Result:
    """`flightdeck ARGS…` killed at crash point `point` (`NAME`, or `NAME:N` for the N-th time)."""
    env = {**cli.env, "FLIGHTDECK_CRASH_AT": point if ":" in point else f"{point}:1"}
    saved, cli.env = cli.env, env
    try:
        return cli(*args)
    finally:
        cli.env = saved


def operate(cli: Cli, site: Any, run_id: str) -> dict[str, Any]:
    """What a person does after a crash: resume, approve, and answer 'did it happen?' by
    looking at the site."""
    for _ in range(8):
        shown = cli("show", run_id, "--json").json()
        if shown["status"] in ("succeeded", "failed", "cancelled"):
            return dict(shown)
        if shown["open_handoffs"]:
            handoff = shown["open_handoffs"][0]
            if handoff["kind"] == "verification":
                happened = "1" in site.truth()["deletions"]
                cli("approve" if happened else "deny", handoff["id"])
            else:
                cli("approve", handoff["id"])
        else:
            cli("resume", run_id)
    raise AssertionError(f"run {run_id} did not finish: {shown}")


@pytest.mark.slow
def test_killed_while_waiting_then_approved_from_another_terminal(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    site.configure(cookie_banner=False)
    task = tmp_path / "task.yaml"
    task.write_text(task_text(site.base_url))
    waiter, run_id = wait_for_approval(cli, task)
    waiter.kill()
    waiter.wait(timeout=30)
    waiter.stdout.close()
    assert waiter.stderr is not None
    waiter.stderr.close()
    approved = cli("approve", run_id)
    assert approved.code == 0, approved.out + approved.err
    assert site.truth()["deletions"] == {"1": 1}


def test_a_waiting_run_continues_in_its_own_process_when_approved_elsewhere(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    site.configure(cookie_banner=False)
    task = tmp_path / "task.yaml"
    task.write_text(task_text(site.base_url))
    waiter, run_id = wait_for_approval(cli, task)
    assert waiter.stderr is not None
    inbox = cli("inbox").out
    assert "approval" in inbox and 'target: button "Yes, delete"' in inbox
    approved = cli("approve", run_id, "--comment", "checked")
    assert approved.code == 0, approved.out + approved.err
    assert "continues in the process waiting for it" in approved.out
    rest, _ = waiter.communicate(timeout=60)
    waiter.stderr.close()
    assert waiter.returncode == 0, rest
    assert "✓ delete" in rest and "recovering" not in rest  # the live page, not a replay
    assert site.truth()["deletions"] == {"1": 1}


@pytest.mark.slow
def test_a_delete_a_person_says_happened_needs_no_page_that_is_gone(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    """Killed right after the approved delete went out, with no expectation to re-read: a person
    says it happened. The step is done as it is — the run does not try to rebuild the deleted
    item's page first (it failed: 'could not re-establish the page … delete-1: no element
    matches', found on Wagtail)."""
    site.configure(cookie_banner=False)
    task = tmp_path / "task.yaml"
    task.write_text(task_text(site.base_url).rsplit("    expect:", 1)[0])  # the delete's expectation
    first = cli("run", str(task), "--json")
    assert first.code == 3, first.err
    run_id = first.json()["run_id"]
    crashed = crashing(cli, "after_dispatch", "approve", run_id)
    assert crashed.code == -signal.SIGKILL, crashed.out + crashed.err
    asked = cli("resume", run_id, "--json")
    assert asked.code == 3 and asked.json()["open_handoffs"][0]["kind"] == "verification", asked.out
    final = operate(cli, site, run_id)
    assert final["status"] == "succeeded", final
    assert site.truth()["deletions"] == {"1": 1}

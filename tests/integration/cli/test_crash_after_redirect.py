"""Resume after `kill -9` in a task whose writes lead to other pages (issue 12, defect 5).

A new issue is answered with a redirect to its own page, where the next steps comment on it;
the task has no `goto` after its writes, as a user writes it. Recovery must rebuild the page
where the last completed write left it (its URL is in the record), not the page before it.
Judged by the site's truth: every write sent once, stored once; the record verifies."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import Cli
from tests.integration.cli.test_crash_points import crashing


def issue_task(site: str) -> str:
    return f"""
name: issue-with-comment
site: {site}
policy: {{screenshots: false}}
steps:
  - goto: /issues/new
  - fill: {{target: {{label: Title}}, value: Printer jam}}
  - id: create
    click: {{role: button, name: Create issue}}
    expect:
      url: "re:/issues/\\\\d+$"
      after_reload: {{text: {{target: {{test_id: issue-title}}, equals: Printer jam}}}}
  - fill: {{target: {{label: Comment}}, value: Toner replaced}}
  - id: comment
    click: {{role: button, name: Add comment}}
    expect:
      after_reload: {{text: {{target: {{test_id: comment, nth: -1}}, equals: Toner replaced}}}}
  - assert: {{text: {{target: {{test_id: comment-count}}, equals: 1 comment}}}}
"""


# The crash points of the second write (its 2nd time through each point), and right after the
# first write's outcome was committed.
POINTS = ["after_outcome:1", "before_intent:2", "after_intent:2", "after_dispatch:2", "after_outcome:2"]


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_resume_rebuilds_the_page_a_write_led_to(cli: Cli, site: Any, tmp_path: Path, point: str) -> None:
    site.configure(cookie_banner=False)  # every attempt is a real dispatch: the counts are exact
    task = tmp_path / "issue.yaml"
    task.write_text(issue_task(site.base_url))
    first = crashing(cli, point, "run", str(task))
    assert first.code == -signal.SIGKILL, first.out + first.err
    run_id = first.out.split()[2]

    resumed = cli("resume", run_id)
    assert resumed.code == 0, resumed.out + resumed.err
    assert f"recovering: from {site.base_url}/issues/1 (where" in resumed.out  # not /issues/new
    shown = cli("show", run_id, "--verify", "--json").json()
    assert shown["status"] == "succeeded", shown
    assert shown["verified"] is True
    truth = site.truth()
    assert truth["issues"] == [{"id": 1, "title": "Printer jam", "comments": ["Toner replaced"]}]
    assert truth["issue_posts"] == 1 and truth["comment_posts"] == 1, "a write was sent twice"


@pytest.mark.slow
def test_a_write_cut_short_whose_page_is_unknown_is_asked_not_sent_again(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    """Killed right after the new issue was sent: the page it led to died with the browser,
    and reloading the form's page cannot show the issue (it posts elsewhere). Sending it again
    would create a second issue: a person verifies instead."""
    site.configure(cookie_banner=False)
    task = tmp_path / "issue.yaml"
    task.write_text(issue_task(site.base_url))
    first = crashing(cli, "after_dispatch:1", "run", str(task))
    assert first.code == -signal.SIGKILL, first.out + first.err
    run_id = first.out.split()[2]

    resumed = cli("resume", run_id, "--json")
    assert resumed.code == 3, resumed.out + resumed.err  # waiting for a person
    shown = cli("show", run_id, "--json").json()
    (asked,) = shown["open_handoffs"]
    assert asked["kind"] == "verification" and "Create issue" in asked["question"]
    truth = site.truth()
    assert [t["title"] for t in truth["issues"]] == ["Printer jam"] and truth["issue_posts"] == 1


@pytest.mark.slow
def test_a_page_that_does_not_open_again_is_named_in_the_failure(cli: Cli, site: Any, tmp_path: Path) -> None:
    """The signup wizard keeps its progress in a cookie, which died with the browser: its second
    page answers 409 to the new one. The run says which page, and which step led there."""
    site.configure(cookie_banner=False)
    task = tmp_path / "wizard.yaml"
    task.write_text(
        f"""
name: wizard
site: {site.base_url}
policy: {{ask_on: []}}
steps:
  - goto: /wizard
  - fill: {{target: {{label: Full name}}, value: Grace Hopper}}
  - id: next
    click: {{role: button, name: Next}}
  - fill: {{target: {{label: City}}, value: Arlington}}
  - check: {{label: I accept the terms}}
  - click: {{role: button, name: Finish}}
"""
    )
    first = crashing(cli, "after_outcome:1", "run", str(task))
    assert first.code == -signal.SIGKILL, first.out + first.err
    run_id = first.out.split()[2]

    resumed = cli("resume", run_id)
    assert resumed.code == 1, resumed.out + resumed.err
    error = cli("show", run_id, "--json").json()["error"]
    assert f"{site.base_url}/wizard/2, where step next left it, did not open again" in error
    assert "409" in error and "one-time page" in error
    assert site.truth()["signups"] == []

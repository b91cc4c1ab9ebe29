"""`flightdeck show` lists every attempt of every step with the requests it made: failed and
retried attempts, a request whose answer came after the step was judged, an attempt cut short
by a crash. Each case is checked against what the server really received."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.helpers.cli import Cli
from tests.helpers.tasks import write_task


def step_of(shown: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(st for st in shown["steps"] if st["id"] == step_id)


def block_of(text: str, step_id: str) -> str:
    """The lines `show` prints for one step (its line and the indented ones under it)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if f" {step_id} " in line)
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        block.append(line)
    return "\n".join(block)


def test_a_post_answered_503_stays_in_show_when_the_retry_fails_without_sending(
    cli: Cli, static_site: Any, tmp_path: Path
) -> None:
    # The form posts to a server that is down: the browser shows the 503 page, and the retry
    # finds no Save button there. The step's only request is the POST of its first attempt.
    static_site.add("/save", "<h1>Service unavailable</h1>", status=503)
    static_site.add(
        "/form",
        '<form method="post" action="/save"><label>Title <input name="title"></label>'
        "<button>Save</button></form>",
    )
    task = write_task(
        tmp_path,
        "down",
        f"""
        name: save-while-down
        site: {static_site.url}
        policy: {{ask_on: [], step_timeout: 1, retry: {{maximum_attempts: 2, initial_interval: 0.1}}}}
        steps:
          - goto: /form
          - fill: {{target: {{label: Title}}, value: Draft}}
          - id: save
            click: {{role: button, name: Save}}
            effect: write
        """,
    )
    run = cli("run", str(task), "--json")
    assert run.code == 1, run.out + run.err
    assert ("POST", "/save") in static_site.hits  # the server did receive it
    run_id = run.json()["run_id"]
    post = f"POST {static_site.url}/save → 503"

    shown = cli("show", run_id, "--json").json()
    save = step_of(shown, "save")
    assert post in save["evidence"]["requests"]
    first = save["attempt_list"][0]
    assert first["number"] == 1 and first["outcome"] == "failed"
    assert first["failure_class"] == "transient" and post in first["requests"]
    assert [a["number"] for a in save["attempt_list"]] == list(range(1, save["attempts"] + 1))

    block = block_of(cli("show", run_id).out, "save")
    assert "attempt 1 ✗ transient" in block
    assert f"⇄ {post}" in block


def test_show_lists_the_post_of_each_attempt_of_a_retried_write(cli: Cli, site: Any, tmp_path: Path) -> None:
    site.configure(cookie_banner=False, order_503=1)  # the first POST answers 503, stores nothing
    task = write_task(
        tmp_path,
        "order",
        f"""
        name: order-once
        site: {site.base_url}
        policy: {{retry: {{initial_interval: 0.1}}}}
        steps:
          - goto: /order
          - id: place
            click: {{role: button, name: Place order}}
            effect: write
            expect: {{text: {{target: {{test_id: status}}, contains: Order placed}}}}
        """,
    )
    run = cli("run", str(task), "--json")
    assert run.code == 0, run.out + run.err
    assert site.truth()["orders"] == [1] and site.truth()["order_posts"] == 2

    place = step_of(cli("show", run.json()["run_id"], "--json").json(), "place")
    api = f"POST {site.base_url}/api/order"
    assert [(a["number"], a["outcome"], a["requests"]) for a in place["attempt_list"]] == [
        (1, "failed", [f"{api} → 503"]),
        (2, "succeeded", [f"{api} → 201"]),
    ]
    assert place["evidence"]["requests"] == [f"{api} → 503", f"{api} → 201"]
    block = block_of(cli("show", run.json()["run_id"]).out, "place")
    assert f"attempt 1 ✗ transient: {api} returned 503" in block
    assert block.index(f"⇄ {api} → 503") < block.index("attempt 2 ✓") < block.index(f"⇄ {api} → 201")


def test_an_answer_that_comes_after_the_step_was_judged_is_recorded(
    cli: Cli, static_site: Any, tmp_path: Path
) -> None:
    # The page says "Saved" at once and syncs in the background; the server answers after 3 s,
    # long after the step (1 s timeout) was judged on the "Saved" it expected.
    static_site.add("/api/draft", '{"ok": true}', delay=3.0)
    static_site.add(
        "/draft",
        """<button onclick="
          document.getElementById('state').textContent = 'Saved';
          fetch('/api/draft', {method: 'POST', body: 'x'}).then((r) => {
            document.getElementById('sync').textContent = 'Synced ' + r.status;
          });">Save draft</button><p id=state></p><p id=sync></p>""",
    )
    task = write_task(
        tmp_path,
        "draft",
        f"""
        name: save-draft
        site: {static_site.url}
        steps:
          - goto: /draft
          - id: save
            click: {{role: button, name: Save draft}}
            effect: write
            timeout: 1
            expect: {{text: Saved}}
          - wait_for: {{text: Synced 200}}
            timeout: 10
        """,
    )
    run = cli("run", str(task), "--json")
    assert run.code == 0, run.out + run.err
    assert static_site.hits.count(("POST", "/api/draft")) == 1
    run_id = run.json()["run_id"]
    post = f"POST {static_site.url}/api/draft → 200"

    save = step_of(cli("show", run_id, "--json").json(), "save")
    assert save["attempt_list"][0]["requests"] == [post]
    assert save["evidence"]["requests"] == [post]
    assert f"⇄ {post}" in block_of(cli("show", run_id).out, "save")
    report = tmp_path / "report.html"
    assert cli("report", run_id, "--output", str(report)).code == 0
    assert f"{static_site.url}/api/draft</td><td><span class=''>200</span>" in report.read_text()
    events = cli("show", run_id, "--events", "--json").json()["events"]
    (late,) = [e for e in events if e["type"] == "attempt.requests"]
    assert late["data"]["step"] == "save" and late["data"]["attempt"] == 1
    assert [(r["method"], r["status"]) for r in late["data"]["requests"]] == [("POST", 200)]


def test_an_attempt_cut_short_by_a_crash_is_listed_with_how_it_was_settled(
    cli: Cli, site: Any, tmp_path: Path
) -> None:
    site.configure(cookie_banner=False)
    task = write_task(
        tmp_path,
        "note",
        f"""
        name: note
        site: {site.base_url}
        steps:
          - goto: /notes
          - fill: {{target: {{label: Title}}, value: Ledger}}
          - id: add-note
            click: {{role: button, name: Add note}}
            effect: write
            expect:
              after_reload: {{text: {{target: {{test_id: note, nth: -1}}, equals: Ledger}}}}
        """,
    )
    saved, cli.env = cli.env, {**cli.env, "FLIGHTDECK_CRASH_AT": "after_dispatch"}
    try:
        first = cli("run", str(task))
    finally:
        cli.env = saved
    assert first.code == -signal.SIGKILL, first.out + first.err
    run_id = first.out.split()[2]
    resumed = cli("resume", run_id)
    assert resumed.code == 0, resumed.out + resumed.err
    assert [n["title"] for n in site.truth()["notes"]].count("Ledger") == 1

    note = step_of(cli("show", run_id, "--json").json(), "add-note")
    (attempt,) = note["attempt_list"]
    assert attempt["outcome"] == "unknown" and attempt["requests"] == []
    assert attempt["checks"] == ['ok after_reload: text equals "Ledger" in test_id="note" nth=-1']
    block = block_of(cli("show", run_id).out, "add-note")
    assert "verified after recovery" in block
    assert "attempt 1 ? ambiguous_outcome: interrupted after dispatch" in block
    assert "its requests were not recorded: the process ended before writing them" in block
    # The report says the same of that attempt.
    report = tmp_path / "report.html"
    assert cli("report", run_id, "--output", str(report)).code == 0
    html = report.read_text()
    assert "Requests not recorded: the run was interrupted after the action was sent" in html

"""The command line as a user scripts it: exit codes, JSON, progress lines, approvals."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from app.resources import demo_tasks_dir
from tests.helpers.cli import Cli
from tests.helpers.tasks import write_task


def test_invalid_task_names_file_line_field_and_fix_and_runs_nothing(cli: Cli, tmp_path: Path) -> None:
    bad = write_task(
        tmp_path,
        "bad",
        """
        name: bad
        site: http://127.0.0.1:9
        steps:
          - goto: /notes
          - clik: {role: button, name: Save}
        """,
    )
    result = cli("run", str(bad))
    assert result.code == 2
    assert f"{bad}:5: steps[1].clik: unknown action or key 'clik'" in result.err
    assert "did you mean 'click'" in result.err
    listed = cli("runs", "--json")
    assert listed.code == 0 and listed.json() == []


def test_check_validates_a_folder_of_task_files_without_running_anything(cli: Cli, tmp_path: Path) -> None:
    library = tmp_path / "tasks"
    (library / "nested").mkdir(parents=True)
    (library / "add-note.yaml").write_text((demo_tasks_dir() / "add-note.yaml").read_text())
    write_task(
        library / "nested",
        "slow",
        "name: slow\nsite: http://127.0.0.1:9\nsteps:\n  - goto: /\n    timeout: 2m\n",
    )
    (library / "notes.txt").write_text("not a task file")
    broken = write_task(library, "broken", "name: broken\nsite: http://127.0.0.1:9\nsteps:\n  - clik: Save\n")

    result = cli("check", str(library))
    assert result.code == 2, result.out + result.err
    assert f"✓ {library / 'add-note.yaml'}: add-note, 4 steps, inputs: title, body" in result.out
    assert f"✓ {library / 'nested' / 'slow.yaml'}: slow, 1 step" in result.out
    assert f"✗ {broken}\n  {broken}:4: steps[0].clik: unknown action or key 'clik'" in result.out
    assert "did you mean 'click'?" in result.out
    assert result.out.rstrip().endswith("3 task files: 2 valid, 1 with errors")

    shown = cli("check", str(library / "add-note.yaml"), str(broken), "--json").json()
    assert [f["valid"] for f in shown["files"]] == [True, False]
    assert shown["files"][1]["issues"] == [
        {
            "line": 4,
            "field": "steps[0].clik",
            "message": "unknown action or key 'clik'",
            "fix": "did you mean 'click'?",
        }
    ]
    assert cli("check", str(library / "add-note.yaml")).code == 0
    assert cli("check", str(tmp_path / "empty-dir-that-is-not-there.yaml")).code == 2
    assert cli("runs", "--json").json() == []  # nothing ran, nothing was stored


def test_missing_input_is_invalid(cli: Cli, site: Any) -> None:
    task = demo_tasks_dir() / "add-note.yaml"
    result = cli("run", str(task), "--site", site.base_url, "--input", "colour=red")
    assert result.code == 2 and "unknown input(s): colour" in result.err


def test_run_prints_a_line_per_step_and_a_summary(cli: Cli, site: Any) -> None:
    task = demo_tasks_dir() / "add-note.yaml"
    result = cli("run", str(task), "--site", site.base_url, "--input", "title=From the CLI")
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert any(line.strip().startswith("✓ 1-goto") for line in lines)
    assert any("dismissed cookie banner" in line for line in lines)
    assert "succeeded · add-note · 4/4 steps" in result.out
    assert [n["title"] for n in site.truth()["notes"]].count("From the CLI") == 1


def test_json_output_and_failure_exit_code(cli: Cli, site: Any) -> None:
    task = demo_tasks_dir() / "save-profile.yaml"
    result = cli("run", str(task), "--site", site.base_url, "--json")
    assert result.code == 1
    data = result.json()
    assert data["status"] == "failed" and data["failure_class"] == "transient"
    save = data["steps"][-1]
    assert save["id"] == "save" and save["status"] == "failed" and save["attempts"] >= 2
    assert any("/api/profile → 500" in r for r in save["evidence"]["requests"])
    assert data["open_handoffs"] == []


def test_approval_flow_exit_3_then_approve_then_verify(cli: Cli, site: Any) -> None:
    task = demo_tasks_dir() / "delete-invoice.yaml"
    first = cli("run", str(task), "--site", site.base_url, "--json")
    assert first.code == 3, first.err
    data = first.json()
    run_id = data["run_id"]
    (handoff,) = data["open_handoffs"]
    assert handoff["kind"] == "approval"
    assert site.truth()["deletions"] == {}
    inbox = cli("inbox", "--json").json()
    assert [h["id"] for h in inbox] == [handoff["id"]]

    approved = cli("approve", run_id, "--comment", "checked with finance")
    assert approved.code == 0, approved.out + approved.err
    assert "continuing run" in approved.out
    assert site.truth()["deletions"] == {"1": 1}
    again = cli("approve", handoff["id"])
    assert "already answered" in again.err
    assert site.truth()["deletions"] == {"1": 1}

    shown = cli("show", run_id, "--verify", "--json")
    assert shown.code == 0 and shown.json()["verified"] is True
    assert shown.json()["status"] == "succeeded"


def test_tampering_with_an_event_breaks_verification(cli: Cli, site: Any) -> None:
    task = demo_tasks_dir() / "add-note.yaml"
    run_id = cli("run", str(task), "--site", site.base_url, "--json").json()["run_id"]
    with sqlite3.connect(cli.home / "flightdeck.db") as conn:
        (seq,) = conn.execute(
            "SELECT min(seq) FROM events WHERE run_id = ? AND data LIKE '%Buy milk%'", (run_id,)
        ).fetchone()
        conn.execute(
            "UPDATE events SET data = replace(data, 'Buy milk', 'Buy beer') WHERE run_id = ? AND seq = ?",
            (run_id, seq),
        )
    conn.close()
    shown = cli("show", run_id, "--verify")
    assert shown.code == 1
    assert f"event chain broken at event #{seq}: its content does not match its hash" in shown.out


def test_stuck_run_exits_4(cli: Cli, site: Any, tmp_path: Path) -> None:
    steps = "\n".join("  - fill: {target: {label: Title}, value: same}" for _ in range(5))
    task = tmp_path / "loop.yaml"
    task.write_text(
        f"name: loop\nsite: {site.base_url}\npolicy: {{ask_on: []}}\nsteps:\n  - goto: /notes\n{steps}\n"
    )
    result = cli("run", str(task))
    assert result.code == 4, result.out + result.err
    assert "stuck" in result.out


def test_cancel_a_waiting_run(cli: Cli, site: Any) -> None:
    task = demo_tasks_dir() / "delete-invoice.yaml"
    run_id = cli("run", str(task), "--site", site.base_url, "--json").json()["run_id"]
    assert cli("cancel", run_id).code == 0
    shown = cli("show", run_id, "--json").json()
    assert shown["status"] == "cancelled" and shown["open_handoffs"] == []
    assert cli("resume", run_id).code == 4
    assert site.truth()["deletions"] == {}


def test_doctor_reports_each_part_with_fixes(cli: Cli) -> None:
    result = cli("doctor", "--json")
    checks = {c["check"]: c for c in result.json()}
    assert set(checks) == {"python", "browser", "database", "keyring", "credentials", "display"}
    assert checks["browser"]["ok"] and checks["database"]["ok"]
    for c in checks.values():
        assert c["ok"] or c["fix"], f"{c['check']} failed without saying how to fix it"
    assert result.code == 0


def test_ask_waits_for_an_answer_that_feeds_later_steps(cli: Cli, site: Any, tmp_path: Path) -> None:
    task = write_task(
        tmp_path,
        "ask",
        f"""
        name: ask-title
        site: {site.base_url}
        steps:
          - ask: {{question: "Which title should the note get?", choices: [Alpha, Beta], into: title}}
          - goto: /notes
          - fill: {{target: {{label: Title}}, value: "{{{{ title }}}}"}}
          - click: {{role: button, name: Add note}}
            expect:
              after_reload: {{text: {{target: {{test_id: note, nth: -1}}, equals: "{{{{ title }}}}"}}}}
        """,
    )
    first = cli("run", str(task), "--json")
    assert first.code == 3
    (handoff,) = first.json()["open_handoffs"]
    assert handoff["kind"] == "clarification" and handoff["payload"]["choices"] == ["Alpha", "Beta"]
    wrong = cli("answer", first.json()["run_id"], "Gamma")
    assert wrong.code == 2 and "answer with one of: Alpha, Beta" in wrong.err
    answered = cli("answer", first.json()["run_id"], "Beta")
    assert answered.code == 0, answered.out + answered.err
    assert [n["title"] for n in site.truth()["notes"]][-1] == "Beta"

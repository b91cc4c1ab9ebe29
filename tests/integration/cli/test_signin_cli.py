"""Signing in through the real `flightdeck` command (issue 12, defects 6 and 4): a site and login
page made from an input, and an approval given from a second process after the site's session
has lapsed. Credentials live in a real Secret Service; the verdict is the hostile site's truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import secret_service
from tests.helpers.cli import ROOT, Cli
from tests.integration.cli.test_credentials import in_secret_service, needs_secret_service

USER = "ada@example.com"
PASSWORD = "engine-analytical-1843"
ADD_CREDENTIAL = {"cli": ["credentials", "add", "shop", "--no-totp"], "stdin": f"{USER}\n{PASSWORD}\n"}

LOGIN = """login:
  page: "{{ base }}/login"
  steps:
    - goto: /login
    - fill: {target: {label: Username}, secret: shop.username}
    - fill: {target: {label: Password}, secret: shop.password}
    - click: {role: button, name: Sign in}
"""

TEMPLATED = (
    """name: templated-site
inputs:
  base: {type: string, description: "the site's address, e.g. https://notes.example"}
site: "{{ base }}"
"""
    + LOGIN
    + """steps:
  - goto: /notes
  - fill: {target: {label: Title}, value: From an input}
  - id: add
    click: {role: button, name: Add note}
    expect:
      after_reload:
        text: {target: {test_id: note, nth: -1}, equals: From an input}
"""
)


@needs_secret_service
def test_a_site_made_from_an_input_runs_end_to_end(tmp_path: Path, hostile_site: Any) -> None:
    hostile_site.configure(require_login=True, cookie_banner=False, users={USER: PASSWORD})
    task = tmp_path / "templated.yaml"
    task.write_text(TEMPLATED)
    added, ran, listed = in_secret_service(
        tmp_path,
        [
            ADD_CREDENTIAL,
            {"cli": ["run", str(task), "--input", f"base={hostile_site.url}"], "stdin": ""},
            {"cli": ["runs", "--json"], "stdin": ""},
        ],
    )
    assert added["code"] == 0, added["err"]
    assert ran["code"] == 0, ran["out"] + ran["err"]
    assert f"templated-site · {hostile_site.url}" in ran["out"]
    truth = hostile_site.truth()
    assert truth["note_submissions"] == {"From an input": 1}
    assert truth["logins"] == 1 and truth["failed_logins"] == 0
    (run,) = json.loads(listed["out"])
    assert run["status"] == "succeeded" and run["site"] == hostile_site.url


def test_the_allowlist_follows_a_site_made_from_an_input(cli: Cli, tmp_path: Path, hostile_site: Any) -> None:
    hostile_site.configure(cookie_banner=False)
    other = hostile_site.url.replace("127.0.0.1", "localhost")  # the same server, another host
    task = tmp_path / "elsewhere.yaml"
    task.write_text(
        'name: elsewhere\ninputs: {base: string}\nsite: "{{ base }}"\nsteps:\n'
        f"  - goto: /notes\n  - goto: {other}/notes\n"
    )
    ran = cli("run", str(task), "--input", f"base={hostile_site.url}", "--json")
    assert ran.code != 0
    summary = ran.json()
    assert summary["status"] == "failed" and summary["failure_class"] == "permanent"
    assert "localhost is not an allowed domain" in summary["error"]
    assert hostile_site.truth()["requests"] == {"GET /notes": 1}  # the first goto, on the site


def test_an_undefined_or_unusable_site_input_is_refused_with_the_fix(
    cli: Cli, tmp_path: Path, hostile_site: Any
) -> None:
    task = tmp_path / "typo.yaml"
    task.write_text(TEMPLATED.replace('site: "{{ base }}"', 'site: "{{ bsae }}"'))
    typo = cli("run", str(task), "--input", f"base={hostile_site.url}")
    assert typo.code == 2
    assert f"{task}:4: site: '{{{{ bsae }}}}' is not defined here" in typo.err
    assert "did you mean 'base'?" in typo.err

    task.write_text(TEMPLATED)
    not_a_url = cli("run", str(task), "--input", "base=notes.example")
    assert not_a_url.code == 2
    assert "site: '{{ base }}' became 'notes.example', which is not an http(s) URL" in not_a_url.err
    assert "--input base=https://" in not_a_url.err
    missing = cli("run", str(task))
    assert missing.code == 2 and "missing required input 'base'" in missing.err
    assert hostile_site.truth()["requests"] == {}  # nothing ran
    with_cli_runs = cli("runs", "--json")
    assert json.loads(with_cli_runs.out) == []


DELETE = (
    """name: delete-invoice
inputs: {base: string}
site: "{{ base }}"
"""
    + LOGIN
    + """steps:
  - goto: /items
  - click: {test_id: delete-3}
    effect: read
  - id: confirm
    click: {role: button, name: "Yes, delete"}
    effect: irreversible
    expect:
      after_reload: {goto: /items, hidden: {text: Invoice 1003, exact: true}}
"""
)


@needs_secret_service
def test_approved_from_another_process_after_the_session_lapsed_deletes_once(
    tmp_path: Path, hostile_site: Any
) -> None:
    hostile_site.configure(require_login=True, cookie_banner=False, users={USER: PASSWORD})
    task = tmp_path / "delete.yaml"
    task.write_text(DELETE)
    (added,) = in_secret_service(tmp_path, [ADD_CREDENTIAL])
    assert added["code"] == 0, added["err"]
    env = secret_service.env(tmp_path)
    waiting = subprocess.Popen(
        secret_service.argv(
            sys.executable, "-m", "app", "run", str(task), "--input", f"base={hostile_site.url}", "--wait"
        ),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stdout is not None and waiting.stderr is not None
    run_id = None
    for line in waiting.stdout:  # until the run asks for the approval, page kept, process waiting
        if line.startswith("▶ run "):
            run_id = line.split()[2]
        if line.startswith("  ? approval "):
            break
    assert run_id is not None and hostile_site.truth()["deletions"] == {}
    assert hostile_site.expire_sessions() == 1  # the person answers after the session has lapsed

    approve = subprocess.run(
        [sys.executable, "-m", "app", "approve", run_id, "--by", "ops-lead"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert approve.returncode == 0, approve.stdout + approve.stderr
    assert "continues in the process waiting for it" in approve.stdout
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, out + err
    truth = hostile_site.truth()
    assert truth["deletions"] == {"3": 1}
    assert truth["requests"]["POST /items/3/delete"] == 1  # never sent to the lapsed session
    assert truth["logins"] == 2 and truth["failed_logins"] == 0
    shown = subprocess.run(
        [sys.executable, "-m", "app", "show", run_id, "--json", "--events"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    detail = json.loads(shown.stdout)
    assert detail["status"] == "succeeded"
    checked = [e["data"] for e in detail["events"] if e["type"] == "session.checked"]
    assert len(checked) == 1 and "sent to the login page" in checked[0]["signed_out"]


@needs_secret_service
def test_a_process_that_continues_the_run_signs_in_without_using_up_the_relogin_bound(
    tmp_path: Path, hostile_site: Any
) -> None:
    """`max_relogins` bounds a session that keeps expiring, not a run continued by another
    process: `flightdeck approve` opens a new browser, which must sign in although nothing
    expired. With no re-login allowed at all, the approved delete still happens, once."""
    hostile_site.configure(require_login=True, cookie_banner=False, users={USER: PASSWORD})
    task = tmp_path / "delete.yaml"
    task.write_text(DELETE.replace("site:", "policy: {max_relogins: 0}\nsite:", 1))
    added, ran = in_secret_service(
        tmp_path,
        [
            ADD_CREDENTIAL,
            {"cli": ["run", str(task), "--input", f"base={hostile_site.url}", "--json"], "stdin": ""},
        ],
    )
    assert added["code"] == 0, added["err"]
    assert ran["code"] == 3, ran["out"] + ran["err"]  # waiting for the approval, nobody waiting here
    run_id = json.loads(ran["out"])["run_id"]
    (approved,) = in_secret_service(tmp_path, [{"cli": ["approve", run_id], "stdin": ""}])
    assert approved["code"] == 0, approved["out"] + approved["err"]
    truth = hostile_site.truth()
    assert truth["deletions"] == {"3": 1}
    assert truth["logins"] == 2 and truth["failed_logins"] == 0  # once per browser

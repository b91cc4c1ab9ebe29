"""The documented SDK example runs as written against the hostile site."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers.cli import ROOT, Cli

EXAMPLE = ROOT / "resources" / "examples" / "agent_example.py"


def test_the_sdk_example_adds_a_note_the_site_really_stored(tmp_path: Path, site: Any) -> None:
    site.configure(cookie_banner=False)
    cli = Cli(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), site.base_url],
        env=cli.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "add note: succeeded" in proc.stdout
    assert site.truth()["note_submissions"] == {"Written by an agent": 1}
    run_id = proc.stdout.split("run ")[-1].strip()
    shown = cli("show", run_id, "--json", "--events").json()
    # An ordinary run in the record: its steps, each sent by the example agent, then finished.
    assert shown["status"] == "succeeded"
    assert [st["action"] for st in shown["steps"]] == ["goto", "fill", "click"]
    sent = [e["data"]["agent"]["name"] for e in shown["events"] if e["type"] == "agent.step"]
    assert sent == ["example-agent"] * 3
    finished = [e["data"] for e in shown["events"] if e["type"] == "agent.finished"]
    assert finished == [{"outcome": "succeeded", "summary": "added a note", "agent": finished[0]["agent"]}]

"""An agent drives a supervised run over MCP stdio with the official client: it observes the
hostile site, acts step by step, waits on an approval a person gives from the command line, hears
of a silent failure as a failed outcome, finishes; its verified steps replay without it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.cli import Cli
from tests.integration.agents.mcp_client import cli_run, stdio_agent


async def test_an_agent_acts_waits_for_approval_and_hears_of_silent_failure(
    tmp_path: Path, site: Any
) -> None:
    site.configure(cookie_banner=False)
    cli = Cli(tmp_path)
    async with stdio_agent(cli.env) as agent:
        started = await agent.call("start_run", goal="Delete invoice 1001", site=site.base_url)
        run_id = started["run_id"]
        assert started["agents_turn"] and started["run_status"] == "waiting"

        went = await agent.call("act", run_id=run_id, action="goto", value="/items")
        assert went["outcome"] == "succeeded"
        assert any(r["status"] == 200 for r in went["evidence"]["requests"])
        seen = await agent.call("observe", run_id=run_id)
        page = seen["page"]
        assert page["untrusted"] is True and page["url"].endswith("/items")
        assert 'link "Delete"' in page["aria_snapshot"] or "Invoice 1001" in page["aria_snapshot"]

        opened = await agent.call(
            "act",
            run_id=run_id,
            action="click",
            target={"test_id": "delete-1"},
            effect="write",  # declared: the link only opens the confirmation (it says "Delete")
            expect={"url": "/items/1/delete"},
        )
        assert opened["outcome"] == "succeeded", opened

        # The irreversible click waits for a person; the client hears progress meanwhile.
        confirm = asyncio.create_task(
            agent.call(
                "act",
                run_id=run_id,
                action="click",
                target={"role": "button", "name": "Yes, delete"},
                effect="irreversible",
                expect={
                    "after_reload": {"goto": "/items", "hidden": {"text": "Invoice 1001", "exact": True}}
                },
            )
        )
        await asyncio.wait_for(agent.progressed.wait(), 60)
        assert "waiting for a person" in (agent.progress[-1][1] or "")
        assert site.truth()["deletions"] == {}, "nothing fires before the approval"
        code, out, err = await cli_run(cli, "approve", run_id, "--by", "ops-lead")
        assert code == 0, out + err
        deleted = await asyncio.wait_for(confirm, 60)
        assert deleted["outcome"] == "succeeded" and deleted["agents_turn"], deleted
        assert site.truth()["deletions"] == {"1": 1}, "fired exactly once"

        # Silent failure: the page says all went well, the server dropped the note.
        await agent.call("act", run_id=run_id, action="goto", value="/notes/drop")
        await agent.call("act", run_id=run_id, action="fill", target={"label": "Title"}, value="Lost note")
        dropped = await agent.call(
            "act",
            run_id=run_id,
            action="click",
            target={"role": "button", "name": "Add note"},
            effect="write",
            timeout=3,
            expect={
                "after_reload": {
                    "goto": "/notes",
                    "text": {"target": {"test_id": "note", "nth": -1}, "equals": "Lost note"},
                }
            },
        )
        assert dropped["outcome"] == "failed" and dropped["failure_class"], dropped
        assert dropped["agents_turn"], "the run stays open: the agent decides what next"
        assert any(not c["ok"] for c in dropped["evidence"]["checks"])

        done = await agent.call("finish", run_id=run_id, outcome="succeeded", summary="deleted invoice 1001")
        assert done["status"] == "succeeded"

    code, out, _ = await cli_run(cli, "show", run_id, "--json", "--events")
    shown = json.loads(out)
    agents = {e["data"]["agent"]["name"] for e in shown["events"] if e["type"] == "agent.step"}
    assert agents == {"test-agent"}
    assert (await cli_run(cli, "show", run_id, "--verify"))[0] == 0


async def test_an_agents_verified_steps_replay_without_it(tmp_path: Path, site: Any) -> None:
    site.configure(cookie_banner=False)
    cli = Cli(tmp_path)
    async with stdio_agent(cli.env) as agent:
        run_id = (await agent.call("start_run", goal="Add a note", site=site.base_url))["run_id"]
        await agent.call("act", run_id=run_id, action="goto", value="/notes")
        await agent.call("act", run_id=run_id, action="fill", target={"label": "Title"}, value="Agent note")
        missed = await agent.call(
            "act", run_id=run_id, action="click", target={"test_id": "no-such"}, timeout=1
        )
        assert missed["outcome"] == "failed" and missed["failure_class"] == "missing_target"
        added = await agent.call(
            "act",
            run_id=run_id,
            action="click",
            target={"role": "button", "name": "Add note"},
            expect={
                "after_reload": {"text": {"target": {"test_id": "note", "nth": -1}, "equals": "Agent note"}}
            },
        )
        assert added["outcome"] == "succeeded", added
        await agent.call("finish", run_id=run_id, outcome="succeeded", summary="added a note")
    assert site.truth()["note_submissions"] == {"Agent note": 1}

    # The run's kind is what the CLI reads: the agent's steps are its rows, and they verify.
    code, out, err = await cli_run(cli, "show", run_id, "--json", "--verify")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["kind"] == "open" and shown["verified"] and len(shown["steps"]) == 4, shown
    task_file = tmp_path / "saved.yaml"
    code, out, err = await cli_run(cli, "save-task", run_id, "-o", str(task_file))
    assert code == 0, err
    saved = yaml.safe_load(task_file.read_text())
    assert "open" not in saved and len(saved["steps"]) == 3, "the failed click is not saved"
    code, out, err = await cli_run(cli, "run", str(task_file), "--json")
    assert code == 0, out + err
    assert site.truth()["note_submissions"] == {"Agent note": 2}


async def test_wait_false_returns_the_approval_at_once_and_wait_handoff_sees_it_through(
    tmp_path: Path, site: Any
) -> None:
    site.configure(cookie_banner=False)
    cli = Cli(tmp_path)
    async with stdio_agent(cli.env) as agent:
        run_id = (await agent.call("start_run", goal="Delete invoice 1002", site=site.base_url))["run_id"]
        await agent.call("act", run_id=run_id, action="goto", value="/items/2/delete")
        pending = await agent.call(
            "act",
            run_id=run_id,
            action="click",
            target={"role": "button", "name": "Yes, delete"},
            effect="irreversible",
            wait=False,
        )
        assert pending["outcome"] == "waiting" and not pending["agents_turn"], pending
        [approval] = pending["open_handoffs"]
        assert approval["kind"] == "approval"
        refused = await agent.raw("act", run_id=run_id, action="goto", value="/items")
        assert refused.is_error and approval["handoff_id"] in str(refused.content[0])
        assert site.truth()["deletions"] == {}

        code, out, err = await cli_run(cli, "approve", approval["handoff_id"])
        assert code == 0, out + err
        done = await agent.call("wait_handoff", handoff_id=approval["handoff_id"], timeout=60)
        assert done["outcome"] == "succeeded" and done["agents_turn"], done
        assert site.truth()["deletions"] == {"2": 1}

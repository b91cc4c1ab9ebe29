"""G1 and G3 on an agent's run: the MCP server is SIGKILLed right after it dispatched an approved
irreversible click, before it recorded the outcome. A new server finds the run interrupted and
the agent resumes it. The click is never sent again: with an expectation, resuming re-reads the
site and finds it holds (verified after recovery); without one, a person is asked whether it
happened and answers after looking at the site. The agent, back through the Python SDK, then
carries on and finishes; the record verifies."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from app.agents.sdk import Flightdeck
from app.agents.sdk import FlightdeckError as SdkError
from tests.helpers.cli import Cli
from tests.integration.agents.mcp_client import Agent, cli_run, stdio_agent

GONE = {"after_reload": {"goto": "/items", "hidden": {"text": "Invoice 1001", "exact": True}}}


async def crash_after_confirming(agent: Agent, cli: Cli, site: Any, expect: dict[str, Any] | None) -> str:
    """An agent's run up to the approved irreversible click, which kills the server."""
    run_id: str = (await agent.call("start_run", goal="Delete invoice 1001", site=site.base_url))["run_id"]
    await agent.call("act", run_id=run_id, action="goto", value="/items")
    opened = await agent.call(
        "act", run_id=run_id, action="click", target={"test_id": "delete-1"}, effect="write"
    )
    assert opened["outcome"] == "succeeded", opened
    confirm = {"target": {"role": "button", "name": "Yes, delete"}, "effect": "irreversible"}
    waiting = await agent.call(
        "act", run_id=run_id, action="click", wait=False, **confirm, **({"expect": expect} if expect else {})
    )
    (approval,) = waiting["open_handoffs"]
    assert waiting["outcome"] == "waiting" and approval["kind"] == "approval"
    code, out, err = await cli_run(cli, "approve", run_id, "--by", "ops-lead")
    assert code == 0, out + err
    # The server continues the run, fires the click, and dies before recording its outcome.
    with pytest.raises(MCPError, match="Connection closed"):
        await agent.raw("wait_handoff", handoff_id=approval["handoff_id"])
    return run_id


@pytest.mark.parametrize("expect", [GONE, None], ids=["with-expectation", "without-expectation"])
async def test_a_crash_after_an_agents_irreversible_click_never_fires_it_twice(
    tmp_path: Path, site: Any, expect: dict[str, Any] | None
) -> None:
    site.configure(cookie_banner=False)
    cli = Cli(tmp_path)
    # The 2nd mutating dispatch: the 1st is the write click that opens the confirmation.
    async with stdio_agent({**cli.env, "FLIGHTDECK_CRASH_AT": "after_dispatch:2"}) as agent:
        run_id = await crash_after_confirming(agent, cli, site, expect)
    assert site.truth()["deletions"] == {"1": 1}, "the click reached the server once"

    # The agent comes back through the Python SDK (the same MCP tools, over a new server).
    async with Flightdeck.connect(name="test-agent", env=cli.env) as fd:
        run = await fd.run(run_id)
        # The new server's start-up recovery: its owner died, so it is not running any more.
        assert run.started["status"] == "interrupted"
        with pytest.raises(SdkError, match="resume_run first"):
            await run.act("goto", value="/items")

        resumed = await run.resume(wait=False)
        assert resumed["step"]["effect"] == "irreversible"
        assert site.truth()["deletions"] == {"1": 1}, "not fired again on resume"
        if expect is not None:
            # Resuming re-read the site: the invoice is gone, so the click happened.
            assert resumed["outcome"] == "succeeded" and resumed["verified_after_recovery"], resumed
            assert resumed["evidence"]["checks"] and all(c["ok"] for c in resumed["evidence"]["checks"])
            assert resumed["agents_turn"]
        else:
            # Nothing to re-read: a person is asked, looks at the site and says it happened.
            (verification,) = resumed["open_handoffs"]
            assert verification["kind"] == "verification" and resumed["outcome"] == "waiting", resumed
            assert not resumed["agents_turn"]
            answer = asyncio.create_task(fd.wait_handoff(verification["handoff_id"]))
            happened = "1" in site.truth()["deletions"]
            code, out, err = await cli_run(cli, "approve" if happened else "deny", verification["handoff_id"])
            assert code == 0, out + err
            verified = await asyncio.wait_for(answer, 60)
            assert verified["outcome"] == "succeeded" and verified["agents_turn"], verified

        went = await run.act("goto", value="/items")
        assert went["outcome"] == "succeeded"
        assert (await run.finish("succeeded", "deleted invoice 1001"))["status"] == "succeeded"

    assert site.truth()["deletions"] == {"1": 1}
    code, out, _ = await cli_run(cli, "show", run_id, "--json", "--events")
    statuses = [e["data"].get("to") for e in json.loads(out)["events"] if e["type"] == "run.status"]
    assert "interrupted" in statuses, statuses
    assert (await cli_run(cli, "show", run_id, "--verify"))[0] == 0

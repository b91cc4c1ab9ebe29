"""An agent asks the operator a question over MCP; a person answers from the command line (as
they would from the console's inbox); the agent gets the answer, and the record has both."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.helpers.cli import Cli
from tests.integration.agents.mcp_client import cli_run, stdio_agent


async def test_an_agents_question_is_answered_by_a_person_and_the_answer_comes_back(
    tmp_path: Path, site: Any
) -> None:
    site.configure(cookie_banner=False)
    cli = Cli(tmp_path)
    async with stdio_agent(cli.env, name="asking-agent") as agent:
        started = await agent.call("start_run", goal="Pick a colour", site=site.base_url)
        run_id = started["run_id"]
        asked = asyncio.create_task(
            agent.call("ask_human", run_id=run_id, question="Which colour?", choices=["red", "blue"])
        )
        # The question is in the inbox like any other.
        async with asyncio.timeout(60):
            while True:
                code, out, _ = await cli_run(cli, "inbox", "--json")
                waiting = [h for h in json.loads(out) if h["run_id"] == run_id] if code == 0 else []
                if waiting:
                    break
                await asyncio.sleep(0.2)
        assert waiting[0]["question"] == "Which colour?"
        code, out, err = await cli_run(cli, "answer", run_id, "blue", "--no-resume")
        assert code == 0, out + err
        result = await asyncio.wait_for(asked, 60)
        assert result["outcome"] == "succeeded", result
        assert result["answer"] == "blue" and result["answered_by"]

        code, out, _ = await cli_run(cli, "show", run_id, "--json", "--events")
        events = json.loads(out)["events"]
        answered = [e for e in events if e["type"] == "handoff.answered"]
        assert answered and "blue" in json.dumps(answered[0]["data"])
        assert any(e["type"] == "agent.step" and "asking-agent" in json.dumps(e["data"]) for e in events)

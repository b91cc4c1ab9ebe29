"""An agent hears what a failure found on the page, in the step's evidence over MCP: the
elements a missing target may have meant, and the errors of a form that came back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.cli import Cli
from tests.integration.agents.mcp_client import stdio_agent


async def test_an_agent_hears_near_misses_and_form_errors(tmp_path: Path, site: Any) -> None:
    site.configure(cookie_banner=False)
    async with stdio_agent(Cli(tmp_path).env) as agent:
        started = await agent.call(
            "start_run", goal="File a ticket", site=site.base_url, policy={"ask_on": []}
        )
        run_id = started["run_id"]
        await agent.call("act", run_id=run_id, action="goto", value="/tickets")

        missed = await agent.call(
            "act",
            run_id=run_id,
            action="click",
            target={"role": "button", "name": "Delete", "exact": True},
            timeout=1,
        )
        assert missed["outcome"] == "failed" and missed["failure_class"] == "missing_target"
        evidence = missed["evidence"]
        assert evidence["untrusted"] is True
        assert evidence["near_misses"][0]["description"] == 'button "– Delete"'
        assert evidence["near_misses"][0]["target"]["name"] == "– Delete"

        await agent.call("act", run_id=run_id, action="fill", target={"label": "Title"}, value="Jam")
        await agent.call("act", run_id=run_id, action="fill", target={"label": "Email"}, value="nobody")
        refused = await agent.call(
            "act",
            run_id=run_id,
            action="click",
            target={"role": "button", "name": "Create ticket"},
            effect="write",
        )
        assert refused["outcome"] == "failed" and refused["failure_class"] == "permanent"
        assert {"message": "Enter a valid email address.", "field": "Email"} in refused["evidence"][
            "form_errors"
        ]
        assert 'Email: "Enter a valid email address."' in refused["error"]
        await agent.call("finish", run_id=run_id, outcome="failed", summary="the form refused the email")
    truth = site.truth()
    assert truth["ticket_deletions"] == {} and len(truth["tickets"]) == 2

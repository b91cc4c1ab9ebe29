"""G7 for agents: an agent signs in with credential references; the values come from the real
OS keyring (gnome-keyring in a private D-Bus session, as a desktop user's), and no response it
gets contains them in any encoding, even when the page shows one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from app.secrets import MASK, encodings
from tests.helpers import secret_service
from tests.integration.agents.mcp_client import stdio_agent
from tests.integration.cli.test_credentials import needs_secret_service

USER = "grace.h@example.com"
PASSWORD = 'Pa55/w0rd+&"quoted" <é>'


@needs_secret_service
async def test_an_agent_signs_in_by_reference_and_never_receives_the_values(
    tmp_path: Path, site: Any
) -> None:
    site.configure(require_login=True, cookie_banner=False, users={USER: PASSWORD})
    typed = tmp_path / "typed.txt"
    typed.write_text(f"{USER}\n{PASSWORD}\n")
    py = sys.executable
    # The username is declared secret (the page greets the user by it): masked like the password.
    add = f"{py} -m app credentials add shop --no-totp --secret-username < {typed} >&2"
    script = f"{add} && exec {py} -m app mcp"
    argv = secret_service.argv("sh", "-c", script)
    async with stdio_agent(secret_service.env(tmp_path), argv) as agent:
        run_id = (await agent.call("start_run", goal="Open the members page", site=site.base_url))["run_id"]
        await agent.call("act", run_id=run_id, action="goto", value="/login?next=/members")
        for label, ref in (("Username", "shop.username"), ("Password", "shop.password")):
            filled = await agent.call(
                "act", run_id=run_id, action="fill", target={"label": label}, secret=ref
            )
            assert filled["outcome"] == "succeeded", filled
        signed_in = await agent.call(
            "act",
            run_id=run_id,
            action="click",
            target={"role": "button", "name": "Sign in"},
            expect={"url": "/members"},
        )
        assert signed_in["outcome"] == "succeeded", signed_in
        seen = await agent.call("observe", run_id=run_id)
        # The page greets the user by name: the agent sees that it is signed in, not as whom.
        assert f"Signed in as {MASK}" in seen["page"]["aria_snapshot"], seen
        await agent.call("get_run", run_id=run_id)
        await agent.call("finish", run_id=run_id, outcome="succeeded", summary="signed in")
        received = agent.received()
    assert site.truth()["logins"] == 1 and site.truth()["failed_logins"] == 0
    leaks = [form for value in (USER, PASSWORD) for form in encodings(value) if form in received]
    assert leaks == []

"""`flightdeck mcp --http`: streamable HTTP on 127.0.0.1, usable only with the bearer token."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.helpers.cli import ROOT, Cli
from tests.integration.agents.mcp_client import Agent

TOKEN = "test-token-0123456789abcdef"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}


async def test_http_answers_only_with_the_token_and_serves_a_run(tmp_path: Path, site: Any) -> None:
    site.configure(cookie_banner=False)
    cli = Cli(tmp_path)
    server = await asyncio.create_subprocess_exec(
        *cli.argv("mcp", "--http", "--port", "0"),
        env={**cli.env, "FLIGHTDECK_MCP_TOKEN": TOKEN},
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        first = (await asyncio.wait_for(server.stdout.readline(), 60)).decode()  # type: ignore[union-attr]
        second = (await asyncio.wait_for(server.stdout.readline(), 10)).decode()  # type: ignore[union-attr]
        url = first.split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), first
        assert TOKEN not in second, "a token given in the environment is not printed"
        headers = {"Accept": "application/json, text/event-stream"}
        async with httpx2.AsyncClient() as raw:
            bare = await raw.post(url, json=INITIALIZE, headers=headers)
            wrong = await raw.post(url, json=INITIALIZE, headers={**headers, "Authorization": "Bearer nope"})
        assert bare.status_code == 401 and wrong.status_code == 401

        client = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        async with (
            client,
            streamable_http_client(url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            agent = Agent(session)
            run_id = (await agent.call("start_run", goal="Look at the shop", site=site.base_url))["run_id"]
            went = await agent.call(
                "act", run_id=run_id, action="goto", value="/shop", expect={"visible": {"text": "Headlamp"}}
            )
            assert went["outcome"] == "succeeded", went
            seen = await agent.raw("observe", run_id=run_id, screenshot=True)
            assert not seen.is_error
            image = agent.images()[-1]
            assert base64.b64decode(image.data)[:2] == b"\xff\xd8" and image.mime_type == "image/jpeg"
            finished = await agent.call("finish", run_id=run_id, outcome="succeeded", summary="looked")
            assert finished["status"] == "succeeded"
    finally:
        server.terminate()
        await server.wait()

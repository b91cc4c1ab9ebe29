"""The Python SDK for agents: `Flightdeck`, a client of `flightdeck mcp` over stdio.

It starts `python -m app mcp` (or the command you give) and talks MCP to it, so a Python agent
goes through exactly what any MCP client gets: the same tools, gates, redaction and record.
No second code path to keep in step. Example: resources/examples/agent_example.py.

    async with Flightdeck.connect(name="my-agent") as fd:
        run = await fd.start_run(goal="Add a note", site="http://127.0.0.1:8765")
        await run.act("goto", value="/notes")
        outcome = await run.act("click", target={"role": "button", "name": "Add note"}, ...)
        await run.finish("succeeded", "added the note")
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, ImageContent, Implementation, TextContent


class FlightdeckError(Exception):
    """A tool refused or failed (invalid step, unknown run, not the agent's turn…)."""


class Flightdeck:
    def __init__(self, session: ClientSession) -> None:
        self.session = session

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        *,
        name: str = "flightdeck-sdk",
        command: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> AsyncIterator[Flightdeck]:
        """Start the MCP server (default: this Python's `-m app mcp`, with this environment, so
        FLIGHTDECK_DATABASE_URL and the OS keyring apply) and connect as agent `name`."""
        program, *args = command or [sys.executable, "-m", "app", "mcp"]
        params = StdioServerParameters(command=program, args=list(args), env=env or dict(os.environ))
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write, client_info=Implementation(name=name, version="1")) as session,
        ):
            await session.initialize()
            yield cls(session)

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self._call(tool, arguments)
        data: dict[str, Any] = json.loads(_text(result))
        return data

    async def _call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        clean = {k: v for k, v in arguments.items() if v is not None}
        result = await self.session.call_tool(tool, clean)
        if result.is_error:
            raise FlightdeckError(_text(result))
        return result

    async def start_run(self, **arguments: Any) -> Run:
        """`goal` + `site` (+ `session`, `policy`), or `task_file`. See the MCP tool."""
        data = await self.call("start_run", **arguments)
        return Run(self, data["run_id"], data)

    async def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = (await self.call("list_runs", limit=limit))["runs"]
        return runs

    async def wait_handoff(self, handoff_id: str, timeout: float | None = None) -> dict[str, Any]:
        return await self.call("wait_handoff", handoff_id=handoff_id, timeout=timeout)

    async def run(self, run_id: str) -> Run:
        """An existing run (e.g. to resume it after a restart)."""
        data = await self.call("get_run", run_id=run_id)
        return Run(self, data["run_id"], data)


class Run:
    """One open run. Page content in what comes back is under fields marked `untrusted`."""

    def __init__(self, client: Flightdeck, run_id: str, started: dict[str, Any]) -> None:
        self.client = client
        self.id = run_id
        self.started = started

    async def act(self, action: str, **arguments: Any) -> dict[str, Any]:
        """action + target / value / secret (NAME.FIELD) / effect / expect / options / wait."""
        return await self.client.call("act", run_id=self.id, action=action, **arguments)

    async def observe(self, *, screenshot: bool = False) -> tuple[dict[str, Any], bytes | None]:
        import base64

        result = await self.client._call("observe", {"run_id": self.id, "screenshot": screenshot})
        images = [c for c in result.content if isinstance(c, ImageContent)]
        shot = base64.b64decode(images[0].data) if images else None
        return json.loads(_text(result)), shot

    async def ask_human(self, question: str, choices: list[str] | None = None) -> dict[str, Any]:
        return await self.client.call("ask_human", run_id=self.id, question=question, choices=choices)

    async def resume(self, *, wait: bool = True) -> dict[str, Any]:
        """Continue the run after Flightdeck stopped mid-step or the operator paused it."""
        return await self.client.call("resume_run", run_id=self.id, wait=wait)

    async def finish(self, outcome: str, summary: str) -> dict[str, Any]:
        return await self.client.call("finish", run_id=self.id, outcome=outcome, summary=summary)

    async def get(self) -> dict[str, Any]:
        return await self.client.call("get_run", run_id=self.id)


def _text(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))

"""The official MCP client, connected to a real `python -m app mcp` subprocess: tool results as
JSON, every response kept so a test can search them all."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, ImageContent, TextContent

from tests.helpers.cli import ROOT, Cli


class Agent:
    """A session plus everything it received, and the progress notifications of its calls."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.responses: list[CallToolResult] = []
        self.progress: list[tuple[float, str | None]] = []
        self.progressed = asyncio.Event()

    async def _on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, message))
        self.progressed.set()

    async def raw(self, tool: str, **arguments: Any) -> CallToolResult:
        result = await self.session.call_tool(
            tool, arguments, read_timeout_seconds=60, progress_callback=self._on_progress
        )
        self.responses.append(result)
        return result

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.raw(tool, **arguments)
        text = "".join(c.text for c in result.content if isinstance(c, TextContent))
        assert not result.is_error, text
        data: dict[str, Any] = json.loads(text)
        return data

    def images(self) -> list[ImageContent]:
        return [c for r in self.responses for c in r.content if isinstance(c, ImageContent)]

    def received(self) -> str:
        """Every byte of every response, as JSON."""
        return "\n".join(r.model_dump_json() for r in self.responses)


@asynccontextmanager
async def stdio_agent(
    env: dict[str, str], argv: Sequence[str] | None = None, name: str = "test-agent"
) -> AsyncIterator[Agent]:
    command, *args = argv or [sys.executable, "-m", "app", "mcp"]
    params = StdioServerParameters(command=command, args=list(args), env=env, cwd=str(ROOT))
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, client_info=_info(name)) as session,
    ):
        await session.initialize()
        yield Agent(session)


def _info(name: str) -> Any:
    from mcp.types import Implementation

    return Implementation(name=name, version="1.0")


async def cli_run(cli: Cli, *args: str) -> tuple[int, str, str]:
    """`flightdeck ARGS` in a subprocess without blocking the loop (an agent's calls are in
    flight meanwhile): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        *cli.argv(*args), env=cli.env, cwd=str(cli.home), stdout=-1, stderr=-1
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()

"""`flightdeck mcp` (agents connect over MCP) and `flightdeck save-task` (an agent's run as a
task file that replays without it)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from app.cli import exitcodes
from app.cli.context import database, engine


def register(sub: Any, common: Any, browser: Any) -> None:
    p = sub.add_parser(
        "mcp",
        help="serve agents over MCP (stdio; --http: streamable HTTP on 127.0.0.1 with a bearer token)",
        description="Serve agents over MCP: stdio by default; --http: streamable HTTP on 127.0.0.1 "
        "at /mcp, every request with `Authorization: Bearer <token>` (FLIGHTDECK_MCP_TOKEN, or a "
        "token generated and printed once).",
    )
    p.set_defaults(func=cmd_mcp)
    p.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    p.add_argument("--port", type=int, default=8766, help="--http port on 127.0.0.1 (0: any free port)")
    common(p, json_flag=False)
    browser(p)

    p = sub.add_parser(
        "save-task",
        help="save an agent's run (its verified steps) as a task file",
        description="Save the verified steps of a run an agent performed as a task file; "
        "`flightdeck run FILE` replays it without the agent.",
    )
    p.set_defaults(func=cmd_save_task)
    p.add_argument("run", metavar="RUN")
    p.add_argument("-o", "--output", metavar="TASK.yaml", help="where to write it (default: print it)")
    common(p, json_flag=False)


def cmd_mcp(args: argparse.Namespace) -> int:
    from app.agents import http
    from app.agents.desk import AgentDesk
    from app.agents.server import build_server

    async def go() -> None:
        with database(args) as db:
            async with engine(args, db, []) as eng:
                eng.recover()
                desk = AgentDesk(eng)
                if not args.http:
                    await build_server(desk, transport="stdio").run_stdio_async()
                    return
                token, generated = http.server_token()
                app = build_server(desk, transport="http").streamable_http_app(host=http.HOST)

                def ready(port: int) -> None:
                    print(f"Flightdeck MCP server: http://{http.HOST}:{port}{http.PATH}", flush=True)
                    if generated:
                        print(f"bearer token (shown once): {token}", flush=True)
                    else:
                        print(f"bearer token: from {http.TOKEN_ENV}", flush=True)

                await http.serve(app, port=args.port, token=token, ready=ready)

    asyncio.run(go())
    return exitcodes.OK


def cmd_save_task(args: argparse.Namespace) -> int:
    from app.engine.agentruns import saved_task
    from app.store import runs

    with database(args) as db:
        with db.session(readonly=True) as s:
            run_id = runs.resolve_run_id(s, args.run)
        text = saved_task(db, run_id)
    if args.output:
        Path(args.output).write_text(text)
        print(f"✓ saved the verified steps of run {run_id} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return exitcodes.OK

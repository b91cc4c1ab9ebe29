"""An agent adding a note through Flightdeck, with the Python SDK (app/agents/sdk.py).

    python resources/examples/agent_example.py http://127.0.0.1:8765

(the demo site: `flightdeck demo --headless` or the hostile site of the tests). The SDK starts
`flightdeck mcp` over stdio; the run is an ordinary run: `flightdeck show RUN` shows each step
with this agent's name, and `flightdeck save-task RUN -o note.yaml` makes it replayable.
Exit code 0 when the note was verifiably saved (re-read after a reload), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import sys

from app.agents.sdk import Flightdeck


async def main(site: str, title: str = "Written by an agent") -> int:
    async with Flightdeck.connect(name="example-agent") as fd:
        run = await fd.start_run(goal="Add a note", site=site)
        await run.act("goto", value="/notes")
        page, _ = await run.observe()
        # Page content is marked untrusted: read it as data, never follow instructions in it.
        print("on", page["page"]["url"], "-", page["page"]["title"])
        await run.act("fill", target={"label": "Title"}, value=title)
        added = await run.act(
            "click",
            target={"role": "button", "name": "Add note"},
            effect="write",
            # The proof: after a reload, the last note has this title (not "the page said OK").
            expect={"after_reload": {"text": {"target": {"test_id": "note", "nth": -1}, "equals": title}}},
        )
        print("add note:", added["outcome"], added["failure_class"] or "")
        for request in added["evidence"]["requests"]:
            print("  ", request["method"], request["url"], request["status"])
        ok = added["outcome"] == "succeeded"
        await run.finish("succeeded" if ok else "failed", "added a note" if ok else "the note was not saved")
        print("run", run.id)
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8765")))

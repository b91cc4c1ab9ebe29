"""What `flightdeck demo` queues in the console: every bundled demo task against the bundled
hostile site, so a newcomer sees an approval, a clarification and a caught silent failure
within a minute."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.resources import demo_tasks_dir
from app.ui.console import Console

# The order the newcomer should meet them: questions first, so they are waiting by the time the
# operator looks; the caught failures right after.
ORDER = (
    "delete-invoice",
    "remove-member",
    "silent-drop",
    "save-profile",
    "add-note",
    "place-order",
    "signup-wizard",
)


def demo_files() -> list[str]:
    files = {f.stem: str(f) for f in demo_tasks_dir().glob("*.yaml")}
    ordered = [files.pop(name) for name in ORDER if name in files]
    return ordered + sorted(files.values())


def queue_demo(base_url: str) -> Callable[[Console, object], Awaitable[None]]:
    async def queue(console: Console, window: object) -> None:
        from app.engine.taskfiles import load_task_file

        def submit_all() -> list[str]:
            ids = []
            for path in demo_files():
                task, text = load_task_file(path, base_url)
                ids.append(console.engine.submit(task, text, task.resolve_inputs({})))
            return ids

        ids = await asyncio.to_thread(submit_all)
        console.dispatcher.wake()
        console.bridge.notice.emit(f"Demo: {len(ids)} tasks queued against the demo site at {base_url}")

    return queue

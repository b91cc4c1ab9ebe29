"""The bridge and the scheduler: what the console does without any widget."""

from __future__ import annotations

from typing import Any

from app.domain.states import RunStatus
from app.engine import views
from app.resources import demo_tasks_dir
from app.ui.console import Console, ConsoleOptions
from tests.ui.helpers import running_console, until


def _status(console: Console, run_id: str) -> RunStatus:
    rows = views.runs_by_id(console.db, [run_id])
    return rows[0].status


async def test_a_submitted_task_is_started_by_the_scheduler_and_views_hear_of_it(
    console_options: ConsoleOptions, hostile_site: Any
) -> None:
    async with running_console(console_options) as console:
        await _submitted_run_succeeds(console, hostile_site)


async def _submitted_run_succeeds(console: Console, hostile_site: Any) -> None:
    heard: list[int] = []
    console.bridge.changed.connect(lambda: heard.append(1))
    started: list[str] = []
    console.bridge.submit(
        str(demo_tasks_dir() / "signup-wizard.yaml"), {}, site=hostile_site.url, done=started.append
    )
    run_id = await until(lambda: started and started[0], what="the run to be queued")
    await until(
        lambda: _status(console, run_id) is RunStatus.SUCCEEDED, timeout=60, what="the run to succeed"
    )
    assert heard, "the change feed told the views about the commits"


async def test_a_command_that_fails_becomes_the_failed_signal_not_a_crash(
    console_options: ConsoleOptions,
) -> None:
    async with running_console(console_options) as console:
        await _failure_is_reported(console)


async def _failure_is_reported(console: Console) -> None:
    errors: list[tuple[str, str]] = []
    console.bridge.failed.connect(lambda what, details: errors.append((what, details)))
    console.bridge.pause("nosuchrun")
    await until(lambda: errors, what="the failure to be reported")
    assert errors[0][0] == "pausing run nosuchrun"
    assert "no run nosuchrun" in errors[0][1]

"""The task queue's table model against a real database: paging through 100 000 runs, live
changes without resets, filtering and sorting in the database.

Most tests open the console with concurrency 0: its scheduler then starts nothing, so a run
stays in the status the test put it in. Runs are created with the store directly (set-up, not
the code under test); changes go through the bridge's commands, as the panel sends them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QTableView
from sqlalchemy import insert

from app.domain.states import RunStatus
from app.domain.task import load_task
from app.engine import views
from app.engine.taskfiles import with_site
from app.engine.views import RunFilter
from app.resources import demo_tasks_dir
from app.store import Database, handoffs, runs
from app.store.models import Run, RunKind
from app.store.types import utcnow
from app.ui.console import Console, ConsoleOptions
from app.ui.models.runs import DURATION, NEEDS_YOU, PROGRESS, STATUS, TASK, RunTableModel
from tests.ui.helpers import running_console, until

S = RunStatus


SITE_A = "http://127.0.0.1:8765"
SITE_B = "http://shop.test"

# How each status is reached from `queued`, through the real transition table.
_PATHS: dict[RunStatus, list[RunStatus]] = {
    S.QUEUED: [],
    S.PAUSED: [S.PAUSED],
    S.RUNNING: [S.RUNNING],
    S.WAITING: [S.RUNNING, S.WAITING],
    S.INTERRUPTED: [S.RUNNING, S.INTERRUPTED],
    S.SUCCEEDED: [S.RUNNING, S.SUCCEEDED],
    S.FAILED: [S.RUNNING, S.FAILED],
    S.CANCELLED: [S.CANCELLED],
}


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    status: RunStatus
    site: str = SITE_A
    done: int = 0  # steps completed
    asks: int = 0  # open handoffs (the "needs you" count)


def add_runs(db: Database, specs: list[Spec]) -> list[str]:
    """Runs of the signup demo task (a real snapshot on the run's site, so retry and resume
    work), created in one transaction."""
    path = demo_tasks_dir() / "signup-wizard.yaml"
    text = path.read_text()
    task = load_task(text, str(path))
    steps = [(st.id, st.action.value, st.effect.value, st.summary()) for st in task.steps]
    ids: list[str] = []
    with db.session() as s, s.begin():
        for spec in specs:
            run = runs.create_run(
                s,
                task_name=spec.name,
                task_source=str(path),
                task_text=with_site(text, spec.site),
                inputs=task.resolve_inputs({}),
                site=spec.site,
                steps=steps,
            )
            for to in _PATHS[spec.status]:
                runs.transition(s, run, to, error="the page said no" if to is S.FAILED else None)
            run.checkpoint = {"next_step": spec.done}
            for _ in range(spec.asks):
                handoffs.open_handoff(
                    s,
                    run_id=run.id,
                    step_index=spec.done,
                    kind="clarification",
                    question="Which?",
                    payload={},
                )
            ids.append(run.id)
    return ids


def bulk_runs(db: Database, n: int) -> None:
    """`n` finished runs, one a second apart, with Core bulk inserts (the fast way to a big
    history; no events, which nothing here reads)."""
    base = utcnow() - timedelta(seconds=n + 60)
    statuses = [S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED, S.FAILED, S.CANCELLED]
    with db.session() as s, s.begin():
        for start in range(0, n, 5000):
            rows: list[dict[str, Any]] = []
            for i in range(start, min(n, start + 5000)):
                at = base + timedelta(seconds=i)
                rows.append(
                    {
                        "id": f"bulk{i:08d}",
                        "task_name": f"task-{i % 97:02d}",
                        "task_text": "",
                        "inputs": {},
                        "site": SITE_A if i % 2 else SITE_B,
                        "status": statuses[i % len(statuses)],
                        "checkpoint": {"next_step": 3},
                        "step_count": 3,
                        "created_at": at,
                        "started_at": at,
                        "finished_at": at + timedelta(seconds=3),
                        "updated_at": at + timedelta(seconds=3),
                        "version": 2,
                    }
                )
            s.execute(insert(Run), rows)


def held(options: ConsoleOptions) -> ConsoleOptions:
    """A console whose scheduler starts nothing: statuses stay where the test puts them."""
    return dataclasses.replace(options, concurrency=0)


def column(model: RunTableModel, col: int) -> list[str]:
    return [model.index(r, col).data() for r in range(model.rowCount())]


def shown_ids(model: RunTableModel) -> list[str]:
    return [model.index(r, 0).data(RunTableModel.RunIdRole) for r in range(model.rowCount())]


async def loaded_model(console: Console, **kwargs: Any) -> RunTableModel:
    model = RunTableModel(console.bridge, **kwargs)
    await until(model.is_loaded, what="the first page")
    return model


def status_of(model: RunTableModel, run_id: str) -> RunStatus | None:
    row = model.run_at(model.row_for(run_id))
    return None if row is None else row.status


VARIED = [
    Spec("add-note", S.SUCCEEDED, done=7),
    Spec("place-order", S.WAITING, done=3, asks=2),
    Spec("delete-invoice", S.FAILED, SITE_B, done=2),
    Spec("save-profile", S.PAUSED, done=1),
    Spec("signup-wizard", S.QUEUED),
    Spec("silent-drop", S.CANCELLED, SITE_B),
    Spec("place-order", S.INTERRUPTED, done=4),
    Spec("add-note", S.RUNNING, done=2),
]


# ----------------------------------------------------------------------------- the model contract
async def test_the_model_passes_the_model_tester_while_paging_and_changing(
    console_options: ConsoleOptions, qtmodeltester: Any
) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED * 4)
        model = await loaded_model(console, page_size=10)
        qtmodeltester.check(model, force_py=True)
        model.fetchMore(QModelIndex())
        await until(lambda: model.rowCount() == 20, what="the second page")
        console.bridge.cancel(ids[-5])  # a paused run among the loaded ones (newest first)
        await until(lambda: status_of(model, ids[-5]) is S.CANCELLED, what="the cancel to show")
        while model.canFetchMore(QModelIndex()):
            model.fetchMore(QModelIndex())
            await console.bridge.settle()
        assert model.rowCount() == len(ids) == model.total()


async def test_rows_show_status_progress_site_time_and_who_needs_a_person(
    console_options: ConsoleOptions,
) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        model = await loaded_model(console)
        waiting = model.row_for(ids[1])
        assert model.index(waiting, STATUS).data() == "Waiting"
        assert model.index(waiting, NEEDS_YOU).data() == "2"
        assert model.index(waiting, NEEDS_YOU).data(RunTableModel.NeedsYouRole) == 2
        assert model.index(waiting, PROGRESS).data() == "step 4 of 7"
        assert model.index(waiting, TASK).data(Qt.ItemDataRole.FontRole).bold()
        done = model.row_for(ids[0])
        assert model.index(done, PROGRESS).data() == "step 7 of 7"
        assert model.index(done, NEEDS_YOU).data() == ""
        assert model.index(model.row_for(ids[4]), PROGRESS).data() == "7 steps, not started"
        failed = model.row_for(ids[2])
        assert model.index(failed, 4).data() == "shop.test"
        assert "the page said no" in model.index(failed, STATUS).data(Qt.ItemDataRole.ToolTipRole)
        assert model.index(failed, STATUS).data(Qt.ItemDataRole.DecorationRole) is not None
        assert model.data(model.index(done, 0), RunTableModel.RunIdRole) == ids[0]
        # Newest first by default.
        assert shown_ids(model) == list(reversed(ids))


# ----------------------------------------------------------------------------- 100 000 runs
async def test_a_hundred_thousand_runs_load_one_page_at_a_time(
    console_options: ConsoleOptions, qtbot: Any
) -> None:
    db = Database(console_options.database_url)
    bulk_runs(db, 100_000)
    db.dispose()
    async with running_console(held(console_options)) as console:
        model = await loaded_model(console)
        assert model.total() == 100_000
        assert model.rowCount() == 200, "only the first page is loaded"
        assert model.canFetchMore(QModelIndex())

        model.fetchMore(QModelIndex())
        model.fetchMore(QModelIndex())  # while the page is on its way: not loaded twice
        await until(lambda: model.rowCount() >= 400, what="the second page")
        await console.bridge.settle()
        assert model.rowCount() == 400
        expected = await asyncio.to_thread(views.page_runs, console.db, RunFilter(), 0, 400)
        assert shown_ids(model) == [r.id for r in expected]

        # A view scrolled to the bottom of what is loaded asks for the next page.
        view = QTableView()
        qtbot.addWidget(view)
        view.setModel(model)
        view.resize(800, 400)
        view.show()
        for pages in (3, 4, 5):
            view.scrollToBottom()
            await until(lambda n=pages: model.rowCount() >= n * 200, what=f"page {pages}")
        assert model.rowCount() == 1000
        last = await asyncio.to_thread(views.page_runs, console.db, RunFilter(), 999, 1)
        assert shown_ids(model)[-1] == last[0].id
        assert model.total() == 100_000


# ----------------------------------------------------------------------------- live changes
async def test_a_run_cancelled_elsewhere_changes_its_row_in_place(console_options: ConsoleOptions) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        model = await loaded_model(console)
        resets: list[int] = []
        model.modelAboutToBeReset.connect(lambda: resets.append(1))
        changed_rows: list[int] = []
        model.dataChanged.connect(lambda tl, br, roles=(): changed_rows.extend(range(tl.row(), br.row() + 1)))
        paused = ids[3]
        row = model.row_for(paused)

        console.bridge.cancel(paused)
        await until(lambda: status_of(model, paused) is S.CANCELLED, what="the row to say cancelled")
        assert model.index(row, STATUS).data() == "Cancelled"
        assert model.row_for(paused) == row, "the row stayed where it was"
        assert row in changed_rows
        assert not resets, "a live change must not reset the table (selection, scroll)"


async def test_a_submitted_run_appears_at_the_top(console_options: ConsoleOptions) -> None:
    async with running_console(held(console_options)) as console:
        await asyncio.to_thread(add_runs, console.db, VARIED)
        model = await loaded_model(console)
        resets: list[int] = []
        model.modelAboutToBeReset.connect(lambda: resets.append(1))
        totals: list[int] = []
        model.total_changed.connect(totals.append)
        started: list[str] = []
        console.bridge.submit(str(demo_tasks_dir() / "add-note.yaml"), {}, done=started.append)
        await until(lambda: started and model.row_for(started[0]) == 0, what="the new run at the top")
        assert model.index(0, STATUS).data() == "Queued"
        assert model.index(0, TASK).data() == "add-note"
        assert model.rowCount() == len(VARIED) + 1
        assert totals[-1] == len(VARIED) + 1
        assert not resets


async def test_a_run_that_no_longer_matches_the_filter_leaves(console_options: ConsoleOptions) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        model = await loaded_model(console, flt=RunFilter(statuses=(S.PAUSED, S.QUEUED)))
        assert sorted(shown_ids(model)) == sorted([ids[3], ids[4]])
        console.bridge.cancel(ids[3])
        await until(lambda: model.row_for(ids[3]) < 0, what="the cancelled run to leave")
        assert shown_ids(model) == [ids[4]]
        assert model.total() == 1


async def test_a_burst_of_commits_costs_at_most_two_refreshes(console_options: ConsoleOptions) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        model = await loaded_model(console)
        refreshes: list[int] = []
        model.refreshed.connect(lambda: refreshes.append(1))
        heard: list[int] = []  # ours and any the change feed adds meanwhile
        console.bridge.changed.connect(lambda: heard.append(1))
        for _ in range(50):
            console.bridge.changed.emit()
        await until(lambda: refreshes, what="a refresh")
        await console.bridge.settle()
        assert len(refreshes) <= 2 + (len(heard) - 50), "one read in flight, one more after it"
        # ... and a commit that lands while a refresh is reading is not lost.
        console.bridge.changed.emit()
        console.bridge.pause(ids[4])
        await until(lambda: status_of(model, ids[4]) is S.PAUSED, what="the pause to show")


async def test_the_duration_of_a_running_run_ticks(console_options: ConsoleOptions) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED)
        model = await loaded_model(console)
        running = model.row_for(ids[7])
        finished = model.row_for(ids[0])
        columns: set[int] = set()
        model.dataChanged.connect(
            lambda tl, br, roles=(): columns.update(range(tl.column(), br.column() + 1))
        )
        before = model.index(running, DURATION).data()
        done_before = model.index(finished, DURATION).data()
        await until(lambda: columns, timeout=5, what="a tick")
        assert columns == {DURATION}, "the tick repaints the duration column only"
        await until(lambda: model.index(running, DURATION).data() != before, timeout=5, what="a new time")
        assert model.index(finished, DURATION).data() == done_before, "a finished run's duration is fixed"


# ----------------------------------------------------------------------------- filter and sort
async def test_filters_by_status_text_run_id_and_site(console_options: ConsoleOptions) -> None:
    async with running_console(held(console_options)) as console:
        ids = await asyncio.to_thread(add_runs, console.db, VARIED * 2)
        model = await loaded_model(console)

        async def apply(**kw: Any) -> list[str]:
            model.set_filter(RunFilter(**kw))
            await until(model.is_loaded, what="the filtered page")
            return shown_ids(model)

        failed = await apply(statuses=(S.FAILED, S.WAITING))
        assert set(column(model, STATUS)) == {"Failed", "Waiting"}
        assert len(failed) == 4 == model.total()
        await apply(text="order")
        assert set(column(model, TASK)) == {"place-order"} and model.rowCount() == 4
        assert await apply(text=ids[5][:6]) == [ids[5]]
        await apply(site=SITE_B)
        assert set(column(model, 4)) == {"shop.test"} and model.rowCount() == 4
        await apply(site=SITE_B, statuses=(S.CANCELLED,), text="silent")
        assert sorted(shown_ids(model)) == sorted([ids[5], ids[5 + len(VARIED)]])


async def test_sorting_by_task_name_reads_in_that_order(console_options: ConsoleOptions) -> None:
    async with running_console(held(console_options)) as console:
        await asyncio.to_thread(add_runs, console.db, VARIED)
        model = await loaded_model(console)
        model.sort(TASK, Qt.SortOrder.AscendingOrder)
        await until(lambda: model.is_loaded() and model.sort_column() == TASK, what="sorted")
        names = column(model, TASK)
        assert names == sorted(names) and names[0] == "add-note"
        model.sort(TASK, Qt.SortOrder.DescendingOrder)
        await until(lambda: model.is_loaded() and column(model, TASK)[0] == "silent-drop", what="reversed")
        assert column(model, TASK) == sorted(names, reverse=True)
        # A new run lands where the order puts it, not at the top.
        started: list[str] = []
        console.bridge.submit(str(demo_tasks_dir() / "place-order.yaml"), {}, done=started.append)
        await until(lambda: started and model.row_for(started[0]) >= 0, what="the new run")
        names = column(model, TASK)
        assert names == sorted(names, reverse=True)
        model.sort(-1)  # back to newest first
        await until(lambda: model.is_loaded() and model.row_for(started[0]) == 0, what="newest first")


async def test_an_agents_run_waiting_for_its_next_step_says_so(console_options: ConsoleOptions) -> None:
    from app.engine.agentruns import open_task_text

    async with running_console(held(console_options)) as console:

        def add() -> tuple[str, str]:
            text = open_task_text(name="agent-goal", goal="Add a note", site=SITE_A)
            made = []
            with console.db.session() as s, s.begin():
                for asks in (0, 1):
                    run = runs.create_run(
                        s,
                        task_name="agent-goal",
                        task_source=None,
                        task_text=text,
                        inputs={},
                        site=SITE_A,
                        steps=[],
                        kind=RunKind.OPEN,
                    )
                    for to in _PATHS[S.WAITING]:
                        runs.transition(s, run, to)
                    if asks:
                        handoffs.open_handoff(
                            s,
                            run_id=run.id,
                            step_index=0,
                            kind="clarification",
                            question="Which?",
                            payload={},
                        )
                    made.append(run.id)
            return made[0], made[1]

        turn, asking = await asyncio.to_thread(add)
        model = await loaded_model(console)
        status = model.index(model.row_for(turn), STATUS)
        assert status.data() == "Agent's turn"
        assert "agent's next step" in status.data(Qt.ItemDataRole.ToolTipRole)
        # Asking a person, it is the person's turn: waiting, in the inbox.
        assert model.index(model.row_for(asking), STATUS).data() == "Waiting"
        assert model.index(model.row_for(asking), NEEDS_YOU).data() == "1"

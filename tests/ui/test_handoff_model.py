"""The inbox's model of open handoffs, on a real database through the real bridge and change
feed. Handoffs are opened and closed in the store, as a run in another process would."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QModelIndex, QObject
from PySide6.QtWidgets import QWidget

from app.store import handoffs, runs
from app.store.types import utcnow
from app.ui.console import Console, ConsoleOptions
from app.ui.models.handoffs import HandoffListModel
from tests.ui.helpers import until


@contextlib.asynccontextmanager
async def watched_database(options: ConsoleOptions) -> AsyncIterator[Console]:
    """The console's back end with only the change feed running: runs created here stay put."""
    console = Console(options)
    console.feed.start()
    try:
        yield console
    finally:
        await console.close()


def new_run(console: Console, task: str) -> str:
    with console.db.session() as s, s.begin():
        run = runs.create_run(
            s,
            task_name=task,
            task_source=None,
            task_text=f"name: {task}\nsteps: []\n",
            inputs={},
            site=None,
            steps=[("only", "click", "write", "click the button")],
        )
        return run.id


def open_handoff(
    console: Console, run_id: str, kind: str, question: str, deadline_s: float | None = None
) -> str:
    with console.db.session() as s, s.begin():
        h = handoffs.open_handoff(
            s,
            run_id=run_id,
            step_index=0,
            kind=kind,
            question=question,
            payload={"reason": "a test"},
            deadline=utcnow() + timedelta(seconds=deadline_s) if deadline_s else None,
            default_answer={"decision": "deny"} if deadline_s else None,
        )
        return h.id


def close_handoff(console: Console, handoff_id: str) -> None:
    with console.db.session() as s, s.begin():
        handoffs.cancel_handoff(s, handoff_id, reason="the test closed it")


@pytest.fixture(autouse=True)
def collected_on_main_thread() -> Iterator[None]:
    """Collect garbage here, on the main thread, before and after each test. A closed qasync
    loop of an earlier test still has Qt timers registered; left to the garbage collector, it
    may be freed on a worker thread (a read's), where Qt cannot stop them ("Timers cannot be
    stopped from another thread"), and the main loop then crashes delivering one."""
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def kept() -> Iterator[list[QObject]]:
    """Qt objects a test makes, deleted here on the main thread when it ends. Left to Python's
    garbage collector they could be deleted on a worker thread (a read's), which leaves their
    timers behind in the main thread's loop."""
    objects: list[QObject] = []
    yield objects
    for obj in reversed(objects):
        if shiboken6.isValid(obj):
            if isinstance(obj, QWidget):
                obj.close()
            shiboken6.delete(obj)


class Recorder:
    """What the model told its views."""

    def __init__(self, model: HandoffListModel) -> None:
        self.counts: list[int] = []
        self.arrived: list[list[str]] = []
        self.inserted = self.removed = self.resets = self.refreshes = 0
        model.count_changed.connect(self.counts.append)
        model.arrived.connect(lambda hs: self.arrived.append([h.id for h in hs]))
        model.rowsInserted.connect(lambda *a: self._bump("inserted"))
        model.rowsRemoved.connect(lambda *a: self._bump("removed"))
        model.modelReset.connect(lambda: self._bump("resets"))
        model.refreshed.connect(lambda: self._bump("refreshes"))

    def _bump(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + 1)


def ids(model: HandoffListModel) -> list[str]:
    return [model.data(model.index(r, 0), HandoffListModel.IdRole) for r in range(model.rowCount())]


async def test_open_handoffs_arrive_urgent_first_and_leave_row_by_row(
    console_options: ConsoleOptions, qtmodeltester: Any, kept: list[QObject]
) -> None:
    async with watched_database(console_options) as console:
        first_run = new_run(console, "ask-later")
        question = open_handoff(console, first_run, "clarification", "Which invoice?")
        model = HandoffListModel(console.bridge)
        kept.append(model)
        seen = Recorder(model)
        qtmodeltester.check(model)  # stays attached: every later change is checked too
        await until(lambda: model.loaded, what="the first read")
        assert ids(model) == [question]
        assert seen.counts == [1] and seen.arrived == []  # the first load is not "new"

        urgent_run = new_run(console, "delete-invoice")
        approval = open_handoff(console, urgent_run, "approval", "Delete invoice 1001?", deadline_s=600)
        await until(lambda: model.rowCount() == 2, what="the approval to arrive")
        # An action waiting to fire, with a deadline, goes above a question with none.
        assert ids(model) == [approval, question]
        top = model.index(0, 0)
        assert model.data(top, HandoffListModel.RunRole) == urgent_run
        assert model.data(top, HandoffListModel.KindRole) == "approval"
        assert model.data(top, HandoffListModel.DeadlineRole) is not None
        assert "delete-invoice" in model.data(top)
        assert seen.arrived == [[approval]] and seen.counts == [1, 2]

        close_handoff(console, question)
        await until(lambda: model.rowCount() == 1, what="the answered question to leave")
        assert ids(model) == [approval] and seen.counts == [1, 2, 1]
        # Row by row, never a reset: a card being edited elsewhere in the list survives.
        assert (seen.inserted, seen.removed, seen.resets) == (2, 1, 0)
        assert model.rowCount(model.index(0, 0)) == 0 and model.rowCount(QModelIndex()) == 1


async def test_a_burst_of_changes_makes_one_read_at_a_time(
    console_options: ConsoleOptions, kept: list[QObject]
) -> None:
    async with watched_database(console_options) as console:
        model = HandoffListModel(console.bridge)
        kept.append(model)
        seen = Recorder(model)
        await until(lambda: model.loaded, what="the first read")
        before = seen.refreshes
        for _ in range(50):
            console.bridge.changed.emit()
        await console.bridge.settle()
        # One read was in flight for the whole burst; one more catches what came meanwhile.
        assert seen.refreshes - before == 2

"""The console's one door to the engine (DESIGN.md, "Layers": ui talks to the engine only through
the bridge and commands).

Widgets and models never touch the database or the browser themselves. They ask the bridge:

- `read(fn, *args, done=cb)`: `fn(db, *args)` runs on a worker thread (the read models of
  `app.engine.views`), `cb(result)` runs on the UI thread. A slot never waits on I/O.
- `do(what, fn, *args, done=cb)`: a command that writes (`fn(engine, *args)` on a worker
  thread); afterwards the run scheduler and the answer watcher are woken so the effect shows at
  once, and a failure becomes the `failed` signal (the main window shows it) instead of a crash.
- `spawn(what, coro, done=cb)`: async engine work (operator input, live pages).
- `call(what, fn, *args, done=cb)`: other blocking work, `fn(*args)` on a worker thread: the OS
  keyring (over D-Bus it can block for as long as an unlock prompt stays open), profile files.

`changed` fires (at most ten times a second) whenever anything was committed, by this process
or any other; each view decides what to refresh, like Anki's operation notifications.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.engine.changes import ChangeFeed
from app.engine.dispatch import Dispatcher
from app.engine.service import Engine
from app.store import Database

log = logging.getLogger("flightdeck.ui")

T = TypeVar("T")


class Bridge(QObject):
    changed = Signal()  # something was committed somewhere: views refresh what they show
    failed = Signal(str, str)  # (what was being done, details) for the error dialog
    notice = Signal(str)  # a short message for the status bar

    def __init__(
        self, engine: Engine, dispatcher: Dispatcher, feed: ChangeFeed, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.dispatcher = dispatcher
        self.feed = feed
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: set[Any] = set()  # coroutines whose task has not started yet
        self._closed = False
        feed.subscribe(self._on_commit)

    @property
    def db(self) -> Database:
        return self.engine.db

    def _on_commit(self) -> None:
        if not self._closed:
            self.dispatcher.wake()
            self.changed.emit()

    # ----------------------------------------------------------------- plumbing
    def read(
        self,
        fn: Callable[..., T],
        *args: Any,
        done: Callable[[T], None],
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """`fn(db, *args)` on a worker thread, then `done(result)` here."""
        self._start(
            f"reading {getattr(fn, '__name__', 'data')}", asyncio.to_thread(fn, self.db, *args), done, failed
        )

    def do(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        done: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """A command: `fn(engine, *args)` on a worker thread; `what` names it in errors."""

        async def command() -> T:
            result = await asyncio.to_thread(fn, self.engine, *args)
            self.engine.watcher.wake()
            self.dispatcher.wake()
            self.feed.nudge()
            return result

        self._start(what, command(), done, failed)

    def call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        done: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """`fn(*args)` on a worker thread, then `done(result)` here; neither the database nor the
        engine is involved, so nothing is woken afterwards."""
        self._start(what, asyncio.to_thread(fn, *args), done, failed)

    def spawn(
        self,
        what: str,
        coro: Awaitable[T],
        done: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._start(what, coro, done, failed)

    def _start(
        self,
        what: str,
        coro: Awaitable[T],
        done: Callable[[T], None] | None,
        failed: Callable[[BaseException], None] | None,
    ) -> None:
        if self._closed:
            if asyncio.iscoroutine(coro):
                coro.close()
            return

        if asyncio.iscoroutine(coro):
            self._pending.add(coro)

        async def run() -> None:
            if asyncio.iscoroutine(coro):
                self._pending.discard(coro)
            try:
                result = await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if failed is not None:
                    failed(exc)
                else:
                    log.warning("%s failed: %s", what, exc)
                    self.failed.emit(what, _details(exc))
                return
            if done is not None and not self._closed:
                try:
                    done(result)
                except Exception as exc:  # a view's bug: show it, keep the console alive
                    log.exception("%s: handling the result failed", what)
                    self.failed.emit(what, _details(exc))

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for every read and command in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        self.feed.unsubscribe(self._on_commit)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for coro in self._pending:
            coro.close()  # cancelled before it ever started: never awaited, and that is fine
        self._pending.clear()

    def artifact(self, sha: str, done: Callable[[bytes], None]) -> None:
        """The bytes of a stored artifact (a screenshot), read on a worker thread."""
        self._start(
            f"reading artifact {sha[:12]}", asyncio.to_thread(self.engine.artifacts.read, sha), done, None
        )

    # ----------------------------------------------------------------- commands
    def pause(self, run_id: str) -> None:
        self.do(f"pausing run {run_id}", Engine.pause, run_id)

    def resume(self, run_id: str) -> None:
        self.do(f"resuming run {run_id}", Engine.requeue, run_id)

    def cancel(self, run_id: str) -> None:
        self.do(f"cancelling run {run_id}", Engine.cancel, run_id)

    def retry(self, run_id: str, done: Callable[[str], None] | None = None) -> None:
        self.do(f"retrying run {run_id}", Engine.retry, run_id, done=done)

    def answer(
        self,
        handoff_id: str,
        answer: dict[str, Any],
        *,
        comment: str | None = None,
        done: Callable[[bool], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        def record(engine: Engine) -> bool:
            return engine.answer(handoff_id, answer, comment=comment or None)

        self.do(f"answering {handoff_id}", record, done=done, failed=failed)

    def take_over(self, run_id: str, done: Callable[[str], None] | None = None) -> None:
        self.do(f"taking over run {run_id}", Engine.take_over, run_id, done=done)

    def hand_back(
        self,
        run_id: str,
        done: Callable[[bool], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.do(f"handing back run {run_id}", Engine.hand_back, run_id, done=done, failed=failed)

    def submit(
        self,
        path: str,
        inputs: dict[str, Any],
        site: str | None = None,
        done: Callable[[str], None] | None = None,
    ) -> None:
        """Queue a run of the task file at `path`; the dispatcher starts it when a slot is free."""

        def queue(engine: Engine) -> str:
            from app.engine.taskfiles import load_task_file

            task, text = load_task_file(path, site)
            return engine.submit(task, text, task.resolve_inputs(inputs))

        self.do(f"starting {path}", queue, done=done)


def _details(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

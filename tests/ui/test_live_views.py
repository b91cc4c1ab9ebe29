"""Live views with the real engine and Chromium: a running task gets a tile that shows its page,
a click focuses it, hidden views stop streaming, the operator takes over and clicks through the
view (the site receives the click), hands back and the run finishes; pointing at an element
gives page coordinates that hit it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QPushButton, QScrollArea
from pytestqt.qtbot import QtBot

from app.domain.states import RunStatus
from app.engine import views
from app.engine.answers import point_answer
from app.ui.console import Console, ConsoleOptions
from app.ui.panels.live import LiveViewsPanel
from app.ui.widgets.frameview import FrameView
from app.ui.widgets.operatorkeys import key_input
from tests.helpers.tasks import write_task
from tests.ui.helpers import running_console, until

VIEWPORT = (1280, 800)  # the provider's viewport: what the frames show

DESK = """<!doctype html><title>Desk</title>
<style>body { margin: 0; font: 18px sans-serif; background: #f4f4ef }
#save { position: absolute; left: 820px; top: 560px; width: 240px; height: 90px; font-size: 22px }
#note { position: absolute; left: 100px; top: 300px; width: 400px; height: 40px }</style>
<h1 style="margin: 40px">Drafts desk</h1>
<form method=post action=/done><button id=save>Save the draft</button></form>
<input id=note aria-label=Note>"""
DONE = "<!doctype html><title>Done</title><p data-testid=out>Draft saved</p>"


def _status(console: Console, run_id: str) -> RunStatus:
    return views.runs_by_id(console.db, [run_id])[0].status


def _open_handoff(console: Console, run_id: str, kind: str) -> views.HandoffView | None:
    found = [h for h in views.open_handoffs(console.db) if h.run_id == run_id and h.kind == kind]
    return found[0] if found else None


def _panel(qtbot: QtBot, console: Console) -> LiveViewsPanel:
    panel = LiveViewsPanel(console.bridge)
    qtbot.addWidget(panel)
    panel.resize(1100, 760)
    panel.show()
    return panel


def _task(tmp_path: Path, site: Any, body: str) -> Path:
    return write_task(tmp_path, "save-draft", body.replace("SITE", site.url))


def _submit(console: Console, path: Path, site: str) -> list[str]:
    started: list[str] = []
    console.bridge.submit(str(path), {}, site=site, done=started.append)
    return started


async def _eventually(read: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 10) -> bool:
    """Whether what `read()` gives becomes `expected` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (found := await read()) != expected:
        assert time.monotonic() < deadline, f"still {found!r}, not {expected!r}"
        await asyncio.sleep(0.02)
    return True


def _empty_state_shown(panel: LiveViewsPanel) -> bool:
    return any(w.isVisible() and "No live sessions" in w.text() for w in panel.findChildren(QLabel))


async def _laid_out(panel: LiveViewsPanel) -> None:
    """Wait until the focused view has its place under the banner (the operator cannot click
    on it before it is drawn there)."""
    banner = next(w for w in panel.findChildren(QLabel) if w.accessibleName() == "Live view state")
    await until(
        lambda: banner.isVisible() and panel.focus_view.y() >= banner.geometry().bottom(),
        what="the focused view to be laid out",
    )


def _widget_point(view: FrameView, x: float, y: float) -> QPoint:
    """Where page point (x, y) is drawn, worked out here from the widget's size and the letterbox
    (not with the view's own mapping, which is what is under test)."""
    w, h = view.width(), view.height()
    scale = min(w / VIEWPORT[0], h / VIEWPORT[1])
    left, top = (w - VIEWPORT[0] * scale) / 2, (h - VIEWPORT[1] * scale) / 2
    return QPointF(left + x * scale, top + y * scale).toPoint()


async def test_a_running_task_gets_a_tile_that_streams_while_seen_and_goes_when_it_ends(
    console_options: ConsoleOptions, static_site: Any, tmp_path: Path, qtbot: QtBot
) -> None:
    static_site.add("/desk", DESK)
    task = _task(
        tmp_path,
        static_site,
        """
        name: save-draft
        site: SITE
        steps:
          - goto: /desk
          - id: save
            click: {role: button, name: Save the draft}
            effect: irreversible
            expect: {url: /done}
        """,
    )
    async with running_console(console_options) as console:
        panel = _panel(qtbot, console)
        assert _empty_state_shown(panel)
        started = _submit(console, task, static_site.url)
        run_id = await until(lambda: started and started[0], what="the run to be queued")
        second = _submit(console, task, static_site.url)

        # The run waits for approval with its page kept (frozen): its tile still shows the page.
        tile = await until(lambda: panel.tile(run_id), what="a tile for the run")
        await until(lambda: tile.has_frame, what="the tile's first frame")
        await until(lambda: _status(console, run_id) is RunStatus.WAITING, timeout=30, what="approval")
        await until(lambda: "save-draft" in tile.accessibleName(), what="the overlay to name the task")
        feed = panel.feed(run_id)
        assert feed is not None and feed.spec is not None and feed.spec.max_width <= 640

        # A click focuses it: the focused view asks for large frames and gets them.
        selected: list[str] = []
        panel.run_selected.connect(selected.append)
        qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
        assert selected == [run_id]
        assert panel.focused_run == run_id
        await until(lambda: feed.spec is not None and feed.spec.max_width > 640, what="a larger stream")
        await until(lambda: panel.focus_view.image is not None and panel.focus_view.image.width() > 640)

        # Esc goes back to the grid; hiding the panel stops the stream, showing it starts it again.
        qtbot.keyClick(panel.focus_view, Qt.Key.Key_Escape)
        assert panel.focused_run is None and tile.isVisible()
        panel.hide()
        await until(lambda: feed.spec is None, what="the hidden panel's stream to stop")
        panel.show()
        await until(lambda: feed.spec is not None, what="the stream to start again")

        # A tile scrolled out of sight stops streaming; scrolled back into sight it starts again.
        other_id = await until(lambda: second and second[0], what="the second run")
        other = await until(lambda: panel.feed(other_id), what="the second run's live view")
        panel.resize(330, 180)  # room for one tile at a time
        feeds = (feed, other)
        streaming = await until(
            lambda: [f for f in feeds if f.spec is not None] if None in (f.spec for f in feeds) else [],
            what="only the tile in sight to stream",
        )
        scroll = panel.findChild(QScrollArea)
        bar = scroll.verticalScrollBar()
        bar.setValue(bar.maximum() if bar.value() == 0 else 0)
        await until(
            lambda: streaming[0].spec is None and any(f.spec is not None for f in feeds),
            what="the other tile to stream",
        )
        panel.resize(1100, 760)

        # Denied: the run fails, its page closes and its tile goes (the screencast first).
        approval = _open_handoff(console, run_id, "approval")
        assert approval is not None
        console.bridge.answer(approval.id, {"decision": "deny"})
        await until(lambda: _status(console, run_id) is RunStatus.FAILED, timeout=30, what="the run to end")
        await until(lambda: panel.tile(run_id) is None, what="the tile to go")
        assert panel.live_run_ids == [other_id]
        console.bridge.cancel(other_id)
        await until(lambda: not panel.live_run_ids, timeout=30, what="the cancelled run's tile to go")
        assert _empty_state_shown(panel)
        await panel.aclose()
        assert static_site.hits.count(("POST", "/done")) == 0


async def test_takeover_clicks_through_the_view_and_the_run_goes_on_after_hand_back(
    console_options: ConsoleOptions, static_site: Any, tmp_path: Path, qtbot: QtBot
) -> None:
    # The first page takes a while: the takeover is asked while the run is on its first step.
    static_site.add("/desk", DESK, delay=2.0)
    static_site.add("/done", DONE)
    task = _task(
        tmp_path,
        static_site,
        """
        name: save-draft
        site: SITE
        steps:
          - goto: /desk
          - id: save
            click: {role: button, name: Save the draft}
            expect: {text: {target: {test_id: out}, equals: Draft saved}}
        """,
    )
    async with running_console(console_options) as console:
        panel = _panel(qtbot, console)
        started = _submit(console, task, static_site.url)
        run_id = await until(lambda: started and started[0], what="the run to be queued")
        await until(lambda: panel.tile(run_id), what="a tile for the run")
        assert panel.take_over(run_id)
        take = next(b for b in panel.findChildren(QPushButton) if b.text() == "Take over")
        hand_back = next(b for b in panel.findChildren(QPushButton) if b.text() == "Hand back")
        await until(lambda: panel.in_control(run_id), timeout=30, what="the operator to be in control")
        assert hand_back.isVisible() and hand_back.isEnabled() and not take.isVisible()
        banner = next(w for w in panel.findChildren(QLabel) if w.accessibleName() == "Live view state")
        assert banner.isVisible() and "You are in control" in banner.text()
        assert _status(console, run_id) is RunStatus.WAITING
        view = panel.focus_view
        await until(lambda: view.frame is not None and view.frame.width == VIEWPORT[0], what="a frame")
        await _laid_out(panel)
        assert static_site.hits.count(("POST", "/done")) == 0  # the run stopped before its click

        # The operator clicks into a field and types: the page gets the text.
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=_widget_point(view, 300, 320))
        qtbot.keyClicks(view, "hi there")
        page = console.engine.page(run_id).page  # type: ignore[union-attr]
        assert await _eventually(lambda: page.input_value("#note"), "hi there")

        # The operator clicks the button in the picture: the page posts its form.
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=_widget_point(view, 940, 605))
        await until(lambda: ("POST", "/done") in static_site.hits, what="the click to reach the page")

        qtbot.mouseClick(hand_back, Qt.MouseButton.LeftButton)
        assert not panel.in_control(run_id) and not hand_back.isEnabled()
        await until(
            lambda: _status(console, run_id) is RunStatus.SUCCEEDED, timeout=30, what="the run to finish"
        )
        assert static_site.hits.count(("POST", "/done")) == 1  # the run saw it done, did not redo it
        await until(lambda: panel.tile(run_id) is None, what="the finished run's tile to go")
        await panel.aclose()


async def test_pointing_gives_page_coordinates_that_hit_the_element(
    console_options: ConsoleOptions, static_site: Any, tmp_path: Path, qtbot: QtBot
) -> None:
    static_site.add("/desk", DESK)
    static_site.add("/done", DONE)
    task = _task(
        tmp_path,
        static_site,
        """
        name: save-draft
        site: SITE
        policy: {step_timeout: 1, retry: {maximum_attempts: 1}}
        steps:
          - goto: /desk
          - id: save
            click: {role: button, name: Complete}
            expect: {url: /done}
        """,
    )
    async with running_console(console_options) as console:
        panel = _panel(qtbot, console)
        started = _submit(console, task, static_site.url)
        run_id = await until(lambda: started and started[0], what="the run to be queued")
        question = await until(
            lambda: _open_handoff(console, run_id, "clarification"), timeout=30, what="the question"
        )
        assert "point" in question.payload["accepts"]
        await until(lambda: panel.tile(run_id), what="a tile for the run")

        assert panel.start_pointing(run_id)
        view = panel.focus_view
        await _laid_out(panel)
        assert view.mode == "point" and view.cursor().shape() == Qt.CursorShape.CrossCursor
        await until(lambda: view.frame is not None, what="a frame to point at")
        pointed: list[tuple[str, float, float]] = []
        panel.pointed.connect(lambda *args: pointed.append(args))
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=_widget_point(view, 900, 600))
        ((got_run, x, y),) = pointed
        assert got_run == run_id and abs(x - 900) < 3 and abs(y - 600) < 3
        assert view.mode == "watch"  # one click, then the mode ends

        await until(lambda: run_id in console.engine.parked, what="the run to park with its page")
        session = await console.engine.live_session(run_id)
        hit = await session.target_at(x, y)
        assert hit is not None and "Save the draft" in hit.info.text

        # The inbox answers with it: the run clicks that element and finishes.
        console.bridge.answer(question.id, point_answer(question.payload, question.id, x, y))
        await until(
            lambda: _status(console, run_id) is RunStatus.SUCCEEDED, timeout=30, what="the run to finish"
        )
        assert static_site.hits.count(("POST", "/done")) == 1
        await panel.aclose()


def test_keys_become_text_or_named_keys_for_the_page() -> None:
    def press(key: Qt.Key, text: str = "", mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> Any:
        found = key_input(QKeyEvent(QEvent.Type.KeyPress, key, mods, text))
        return None if found is None else (found.kind, found.text or found.key)

    control, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    assert press(Qt.Key.Key_A, "a") == ("type", "a")
    assert press(Qt.Key.Key_A, "A", shift) == ("type", "A")
    assert press(Qt.Key.Key_E, "é") == ("type", "é")  # whatever the layout typed
    assert press(Qt.Key.Key_A, "\x01", control) == ("key", "Control+a")  # select all, not a character
    assert press(Qt.Key.Key_Return, "\r") == ("key", "Enter")
    assert press(Qt.Key.Key_Backtab, "", shift) == ("key", "Shift+Tab")
    assert press(Qt.Key.Key_Left, "", control | shift) == ("key", "Control+Shift+ArrowLeft")
    assert press(Qt.Key.Key_Shift, "", shift) is None

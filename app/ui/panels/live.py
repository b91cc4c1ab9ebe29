"""Live views: a tile per run with a live page in this process, streaming while it can be seen.

Click a tile to focus it: a large view at full resolution, the other runs in a strip below (small
frames, a low rate). In the focused view the operator can take the run over (mouse and keyboard
go to the page, the run waits; hand back when done) or, asked by a clarification, point at the
element the run could not find.

Streaming (DESIGN.md "Live views"): each run has one screencast, sized for where it is shown;
tiles scrolled out of sight, and every stream while the panel is hidden, stop. Which runs are
live is asked of the engine (in memory, no I/O) on every change and once a second; what the
overlays say comes from `views.live_run_views` through the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QImage, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.engine import views
from app.engine.ports import BrowserSession, InputEvent, ScreenFrame
from app.ui.bridge import Bridge
from app.ui.panels.livecontrol import OperatorControl
from app.ui.style import HANDOFF_LABELS
from app.ui.widgets.focuspane import FocusPane, named
from app.ui.widgets.frameview import FrameView
from app.ui.widgets.livefeed import FrameDecoder, LiveFeed, StreamSpec
from app.ui.widgets.tilegrid import TileGrid

log = logging.getLogger("flightdeck.ui")

# Frame sizes and rates, tuned with tests/bench/bench_live_views.py (8 animated pages, 2 cores).
# Each view asks for frames of its own size (capped) and a rate; LiveFeed adapts Chromium's
# everyNthFrame to that rate. Under load the focused view is limited by how often Chromium
# repaints the page (measured: n = 1 and nothing dropped), not by decoding or painting.
FOCUS_MAX = QSize(1280, 800)
GRID_MAX = QSize(640, 400)
STRIP_MAX = QSize(320, 200)
FOCUS_QUALITY, TILE_QUALITY = 70, 55
FOCUS_FPS = 30.0
STRIP_FPS = 6.0  # tiles under a focused view: a low rate, kept above 5 (the target) under load
REFRESH_MS = 1000  # safety net for live runs appearing and going (changes usually tell sooner)
INFO_THROTTLE_MS = 250


def grid_fps(streams: int) -> float:
    """Frames a second a grid tile aims at: fewer tiles, more each."""
    return 20.0 if streams <= 2 else 12.0 if streams <= 4 else 8.0


def _fit(size: QSize, cap: QSize) -> tuple[int, int]:
    """A frame size for a view of `size` device px: rounded up to 32 px steps (a small resize
    does not restart the screencast), at most `cap`."""
    w = min(cap.width(), -(-size.width() // 32) * 32)
    h = min(cap.height(), -(-size.height() // 32) * 32)
    return max(64, w), max(40, h)


def _timer(parent: QWidget, ms: int, slot: Callable[[], None], *, single: bool) -> QTimer:
    timer = QTimer(parent)
    timer.setInterval(ms)
    timer.setSingleShot(single)
    timer.timeout.connect(slot)
    return timer


class _Scroll(QScrollArea):
    resized = Signal()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()


class LiveViewsPanel(QWidget):
    run_selected = Signal(str)  # a tile was clicked
    pointed = Signal(str, float, float)  # (run id, x, y) in the page viewport's CSS px
    pointing_cancelled = Signal(str)  # Esc (or leaving the view) while pointing
    control_changed = Signal(str, bool)  # the operator is (True) or no longer is driving this run

    def __init__(
        self, bridge: Bridge, parent: QWidget | None = None, *, decoder: FrameDecoder | None = None
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._decoder = decoder or FrameDecoder()
        self._feeds: dict[str, LiveFeed] = {}
        self._tiles: dict[str, FrameView] = {}
        self._order: list[str] = []  # tiles in the order their runs appeared
        self._info: dict[str, views.LiveRunView] = {}
        self._focused: str | None = None
        self._pointing: str | None = None
        self._closing: set[asyncio.Future[Any]] = set()
        self._reading = False
        self._reread = False
        self._closed = False
        self._control = OperatorControl(bridge, self)
        self._control.changed.connect(self._changed_soon)
        self._control.control_changed.connect(self.control_changed)
        self._build()
        self._streams_timer = _timer(self, 100, self._apply_streams, single=True)
        self._info_timer = _timer(self, INFO_THROTTLE_MS, self._read_info, single=True)
        self._tick = _timer(self, REFRESH_MS, self._on_tick, single=False)
        self._tick.start()
        bridge.changed.connect(self._on_changed)
        self._refresh()

    # ----------------------------------------------------------------- layout
    def _build(self) -> None:
        self._pane = FocusPane()
        self._pane.hide()
        self._focus_view = self._pane.view
        self._grid = TileGrid()
        self._scroll = _Scroll()
        self._scroll.setWidget(self._grid)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setAccessibleName("Live sessions")
        self._empty = named(
            QLabel("No live sessions — runs appear here while they execute"), "No live sessions"
        )
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setEnabled(False)  # drawn in the palette's disabled (muted) text colour

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._pane, 1)
        layout.addWidget(self._scroll, 1)
        layout.addWidget(self._empty, 1)

        self._pane.back_requested.connect(self.show_grid)
        self._pane.take_over_requested.connect(self._take_clicked)
        self._pane.hand_back_requested.connect(self._hand_back_clicked)
        self._focus_view.input_event.connect(self._on_input)
        self._focus_view.pointed.connect(self._on_pointed)
        self._focus_view.escape_pressed.connect(self._on_escape)
        self._scroll.resized.connect(self._on_scroll_resized)
        self._scroll.horizontalScrollBar().valueChanged.connect(self._schedule_streams)
        self._scroll.verticalScrollBar().valueChanged.connect(self._schedule_streams)

    def _on_scroll_resized(self) -> None:
        self._grid.set_available(self._scroll.viewport().size())
        self._schedule_streams()

    # ----------------------------------------------------------------- public
    @property
    def focused_run(self) -> str | None:
        return self._focused

    @property
    def live_run_ids(self) -> list[str]:
        return list(self._order)

    def tile(self, run_id: str) -> FrameView | None:
        return self._tiles.get(run_id)

    @property
    def focus_view(self) -> FrameView:
        return self._focus_view

    def in_control(self, run_id: str) -> bool:
        return self._control.in_control(run_id)

    def feed(self, run_id: str) -> LiveFeed | None:
        return self._feeds.get(run_id)

    def focus_run(self, run_id: str) -> bool:
        """Show this run's page large (False when it has no live page here)."""
        if run_id not in self._tiles:
            self._refresh()
            if run_id not in self._tiles:
                return False
        if self._focused == run_id:
            return True
        if self._focused is not None:
            self.show_grid()
        self._focused = run_id
        tile = self._tiles[run_id]
        tile.hide()
        image, frame = tile.image, tile.frame
        if image is not None and frame is not None:
            self._focus_view.show_frame(image, frame)  # at once, sharp frames follow
        else:
            self._focus_view.clear_frame()
        self._grid.set_strip(True)
        self._scroll.setFixedHeight(
            self._grid.strip_height() + self._scroll.horizontalScrollBar().sizeHint().height()
        )
        self._pane.show()
        self._update_visibility()
        self._update_focus()
        self._focus_view.setFocus(Qt.FocusReason.OtherFocusReason)
        self._schedule_streams()
        return True

    def show_grid(self) -> None:
        """Back from the focused view to all tiles."""
        run_id = self._focused
        if run_id is None:
            return
        if self._pointing == run_id:
            self._pointing = None
            self.pointing_cancelled.emit(run_id)
        self._control.release()
        self._focused = None
        tile = self._tiles.get(run_id)
        if tile is not None:
            image, frame = self._focus_view.image, self._focus_view.frame
            if image is not None and frame is not None:
                tile.show_frame(image, frame)
            tile.show()
        self._focus_view.set_mode("watch")
        self._focus_view.clear_frame()
        self._pane.hide()
        self._scroll.setMinimumHeight(0)
        self._scroll.setMaximumHeight(16777215)
        self._grid.set_strip(False)
        self._update_visibility()
        self._schedule_streams()

    def start_pointing(self, run_id: str) -> bool:
        """Focus the run's view and let one click say where an element is (`pointed`)."""
        if not self.focus_run(run_id):
            return False
        self._pointing = run_id
        self._update_focus()
        return True

    def take_over(self, run_id: str) -> bool:
        """Focus the run and ask it to stop at its next safe point; the operator is in control
        once it has (its page stays live meanwhile). False when it has no live page here."""
        if not self.focus_run(run_id):
            return False
        info = self._info.get(run_id)
        if info is None or not info.taken_over:
            self._control.take_over(run_id)
        self._update_focus()
        return True

    def hand_back(self, run_id: str) -> None:
        """Give the page back: the run checks the current step and goes on."""
        self._control.hand_back(run_id)
        self._update_focus()

    def stop(self) -> None:
        """Stop every stream now (they finish stopping in the background); `aclose` waits."""
        self._closed = True
        self._tick.stop()
        self._streams_timer.stop()
        self._info_timer.stop()
        for feed in self._feeds.values():
            feed.want(None)

    async def aclose(self) -> None:
        """Stop and detach every screencast; the panel shows nothing live afterwards."""
        self.stop()
        with contextlib.suppress(RuntimeError, TypeError):  # already disconnected
            self.bridge.changed.disconnect(self._on_changed)
        feeds, self._feeds = list(self._feeds.values()), {}
        await asyncio.gather(*(f.aclose() for f in feeds), *self._closing, return_exceptions=True)
        self._decoder.close()

    # ----------------------------------------------------------------- live runs
    def _on_changed(self) -> None:
        self._refresh()
        self._changed_soon()

    def _changed_soon(self) -> None:
        if not self._info_timer.isActive() and not self._closed:
            self._info_timer.start()

    def _on_tick(self) -> None:
        self._refresh()
        for view in self._visible_views():
            view.update()  # the fps readout
        self._apply_streams()

    def _refresh(self) -> None:
        """Tiles for exactly the runs with a live page here now."""
        if self._closed:
            return
        engine = self.bridge.engine
        live: dict[str, BrowserSession] = {}
        for run_id in engine.live_runs():
            session = engine.page(run_id)
            if session is not None:
                live[run_id] = session
        added = False
        for run_id in [r for r in self._order if r not in live]:
            self._remove(run_id)
        for run_id, session in sorted(live.items()):
            feed = self._feeds.get(run_id)
            if feed is not None and (feed.session is not session or feed.failed):
                self._drop_feed(run_id)  # it reopened its page (resumed without a live one)
                feed = None
            if feed is None:
                self._feeds[run_id] = LiveFeed(run_id, session, self._decoder, self._router(run_id))
            if run_id not in self._tiles:
                self._add_tile(run_id)
                added = True
        if added:
            self._changed_soon()
        self._update_visibility()
        self._schedule_streams()

    def _add_tile(self, run_id: str) -> None:
        tile = FrameView(compact=True, parent=self._grid)
        info = self._info.get(run_id)
        tile.set_info(*self._describe(run_id, info))
        tile.activated.connect(partial(self._tile_clicked, run_id))
        self._tiles[run_id] = tile
        self._order.append(run_id)
        tile.show()  # a child added to a shown widget stays hidden until told
        self._grid.set_tiles([self._tiles[r] for r in self._order])

    def _remove(self, run_id: str) -> None:
        if self._focused == run_id:
            self.show_grid()
        self._control.forget(run_id)
        self._drop_feed(run_id)
        tile = self._tiles.pop(run_id, None)
        self._order.remove(run_id)
        self._info.pop(run_id, None)
        if tile is not None:
            tile.hide()
            tile.deleteLater()
        self._grid.set_tiles([self._tiles[r] for r in self._order])

    def _drop_feed(self, run_id: str) -> None:
        feed = self._feeds.pop(run_id, None)
        if feed is not None:
            closing = asyncio.ensure_future(feed.aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def _update_visibility(self) -> None:
        has = bool(self._order)
        self._empty.setVisible(not has)
        self._scroll.setVisible(has and (self._focused is None or len(self._order) > 1))

    def _tile_clicked(self, run_id: str) -> None:
        self.focus_run(run_id)
        self.run_selected.emit(run_id)

    # ----------------------------------------------------------------- streams
    def _schedule_streams(self) -> None:
        if not self._streams_timer.isActive() and not self._closed:
            self._streams_timer.start()

    def _visible_views(self) -> list[FrameView]:
        if not self.isVisible():
            return []
        found = [t for t in self._tiles.values() if t.isVisible() and not t.visibleRegion().isEmpty()]
        if self._focused is not None:
            found.append(self._focus_view)
        return found

    def _apply_streams(self) -> None:
        if self._closed:
            return
        showing = self.isVisible() and not self.window().isMinimized()
        seen = {id(v) for v in self._visible_views()} if showing else set()
        fps = grid_fps(len(seen))
        for run_id, feed in self._feeds.items():
            spec: StreamSpec | None = None
            if run_id == self._focused:
                if showing:
                    feed.box = self._focus_view.stream_size()
                    spec = StreamSpec(*_fit(feed.box, FOCUS_MAX), FOCUS_QUALITY, FOCUS_FPS)
            else:
                tile = self._tiles.get(run_id)
                if tile is not None and id(tile) in seen:
                    strip = self._grid.strip
                    cap = STRIP_MAX if strip else GRID_MAX
                    feed.box = tile.stream_size()
                    spec = StreamSpec(*_fit(feed.box, cap), TILE_QUALITY, STRIP_FPS if strip else fps)
            feed.want(spec)

    def _router(self, run_id: str) -> Callable[[QImage, ScreenFrame], None]:
        return lambda image, frame: self._route(run_id, image, frame)

    def _route(self, run_id: str, image: QImage, frame: ScreenFrame) -> None:
        if run_id == self._focused:
            self._focus_view.show_frame(image, frame)
        else:
            tile = self._tiles.get(run_id)
            if tile is not None:
                tile.show_frame(image, frame)

    # ----------------------------------------------------------------- overlays
    def _read_info(self) -> None:
        if self._closed:
            return
        if self._reading:
            self._reread = True
            return
        self._reading = True
        self.bridge.read(
            views.live_run_views, list(self._order), done=self._got_info, failed=self._info_failed
        )

    def _info_failed(self, exc: BaseException) -> None:
        self._reading = False
        log.warning("live views could not read run state: %s", exc)

    def _got_info(self, info: dict[str, views.LiveRunView]) -> None:
        self._reading = False
        if self._closed:
            return
        self._info = info
        for run_id, tile in self._tiles.items():
            tile.set_info(*self._describe(run_id, info.get(run_id)))
        self._update_focus()
        if self._reread:
            self._reread = False
            self._read_info()

    def _describe(self, run_id: str, info: views.LiveRunView | None) -> tuple[str, str, str]:
        if info is None:
            return run_id, "", "running"
        run = info.run
        parts = []
        if info.waiting_for:
            parts.append(" · ".join(HANDOFF_LABELS.get(k, k) for k in info.waiting_for))
        if info.step_index is not None:
            parts.append(f"Step {info.step_index + 1}/{run.step_count}: {info.step_summary}")
        return run.task_name, " · ".join(parts) or str(run.status), str(run.status)

    # ----------------------------------------------------------------- focus, control, pointing
    def _update_focus(self) -> None:
        run_id = self._focused
        if run_id is None:
            return
        info = self._info.get(run_id)
        title, detail, status = self._describe(run_id, info)
        state = self._control.state(run_id, info)
        if self._pointing == run_id and state == "watch":
            state = "point"
        active = info is None or not info.run.terminal
        self._pane.present(title=title, detail=detail, status=status, state=state, can_take=active)

    def _take_clicked(self) -> None:
        if self._focused is not None:
            self.take_over(self._focused)

    def _hand_back_clicked(self) -> None:
        if self._focused is not None:
            self.hand_back(self._focused)

    def _on_input(self, event: InputEvent) -> None:
        if self._focused is not None:
            self._control.send(self._focused, event)

    def _on_pointed(self, x: float, y: float) -> None:
        run_id = self._pointing
        if run_id is None:
            return
        self._pointing = None
        self._update_focus()
        self.pointed.emit(run_id, x, y)

    def _on_escape(self) -> None:
        if self._pointing is not None:
            run_id, self._pointing = self._pointing, None
            self._update_focus()
            self.pointing_cancelled.emit(run_id)
        else:
            self.show_grid()

    # ----------------------------------------------------------------- Qt
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._grid.set_available(self._scroll.viewport().size())
        self._schedule_streams()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._apply_streams()  # at once: hidden means stopped

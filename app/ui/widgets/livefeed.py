"""One run's live frames for a view: the screencast kept at the size the view wants (or stopped
when nobody sees it), and its JPEGs decoded off the UI thread, newest first.

Decoding: `QImageReader.read()` releases the GIL while libjpeg works, `QImage.fromData` does not
(measured here: a thread decoding with fromData halves the UI thread's progress; with
QImageReader the UI thread runs at full speed). So every frame is decoded on a small thread
pool of its own (not the default executor the bridge's database reads use). A frame that arrives
while the previous one of the same feed is still decoding waits; a newer one replaces it: a
view always paints the newest frame and never falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt
from PySide6.QtGui import QImage, QImageReader

from app.engine.ports import BrowserSession, ScreencastHandle, ScreenFrame

log = logging.getLogger("flightdeck.ui")


@dataclass(frozen=True)
class StreamSpec:
    """What a view asks of a screencast: frames fitted into max_width×max_height device
    pixels, JPEG `quality`, about `fps` frames a second (when the page changes that often)."""

    max_width: int
    max_height: int
    quality: int = 60
    fps: float = 10.0


# Within this much of the view's size a frame is painted as it is: no resampling at all.
EXACT = 0.02


def decode_jpeg(data: bytes, box: QSize | None = None) -> QImage:
    """A JPEG as a QImage (null when it is not one), fitted into `box` (device px, aspect kept)
    when given. Thread-safe, and lets go of the GIL.

    Fitting here, on a decoding thread, is what lets the view paint the frame pixel for pixel:
    a frame even a few pixels off the view's size would otherwise be resampled smoothly on the
    UI thread at every paint (milliseconds per frame at 1280 px, on the thread whose lateness
    is the console's responsiveness). libjpeg scales while decoding, which is also cheaper."""
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, b"jpeg")
    if box is not None and box.width() > 0 and box.height() > 0:
        size = reader.size()
        if size.width() > 0 and size.height() > 0:
            fitted = size.scaled(box, Qt.AspectRatioMode.KeepAspectRatio)
            if abs(fitted.width() - size.width()) > size.width() * EXACT:
                reader.setScaledSize(fitted)
    image = reader.read()
    buffer.close()
    return image


class FrameDecoder:
    """The decoding threads every feed of a panel shares (`threads=0`: decode on the UI
    thread, for comparison in the benchmark)."""

    def __init__(self, threads: int = 2) -> None:
        self._pool = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="frame-decode") if threads else None
        )

    async def decode(self, data: bytes, box: QSize | None = None) -> QImage:
        if self._pool is None:
            return decode_jpeg(data, box)
        return await asyncio.get_running_loop().run_in_executor(self._pool, decode_jpeg, data, box)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


ShowFrame = Callable[[QImage, ScreenFrame], None]

GUESS_PAINT_FPS = 30.0  # repaints a second assumed before any were counted
ADAPT_S = 2.0  # how long a rate is measured before n changes
MAX_NTH = 12


class LiveFeed:
    """One run's screencast and its decoding. `want(spec)` says what the view needs now
    (None: nobody sees it, stop); changes are applied one at a time, the latest wins.

    Rate: Chromium sends a frame for every repaint (up to 60/s) and takes one of every
    `everyNthFrame`. How often a page repaints depends on the page and on how busy the machine
    is (an animated page on a loaded 2-core machine repaints ~12 times a second, an idle one
    60), so n is adapted to what arrives: every few seconds, if the rate is far from the
    view's `fps`, the screencast restarts with the n that would hit it.
    """

    def __init__(self, run_id: str, session: BrowserSession, decoder: FrameDecoder, show: ShowFrame) -> None:
        self.run_id = run_id
        self.session = session
        self._decoder = decoder
        self._show = show
        self._want: StreamSpec | None = None
        self._have: tuple[StreamSpec, int] | None = None  # what streams now, with its n
        self._nth = 0  # 0: not estimated yet (the first start guesses from the target)
        self._handle: ScreencastHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: ScreenFrame | None = None
        self._decoding: asyncio.Task[None] | None = None
        self._arrivals: deque[float] = deque(maxlen=256)
        self._since = 0.0  # when the current rate started (no adapting before ADAPT_S of it)
        self._closed = False
        self.failed = False  # the page would not stream (closed meanwhile): the panel drops it
        self.received = 0  # frames from Chromium
        self.shown = 0  # frames handed to the view
        self.dropped = 0  # frames replaced by a newer one before they were decoded
        self.box: QSize | None = None  # the view's size in device px: frames are fitted to it

    @property
    def spec(self) -> StreamSpec | None:
        """What is streaming now (None: stopped)."""
        if self._have is None or self._handle is None or not self._handle.active:
            return None
        return self._have[0]

    @property
    def every_nth_frame(self) -> int:
        return self._have[1] if self._have is not None else 0

    def want(self, spec: StreamSpec | None) -> None:
        if self._closed and spec is not None:
            return
        old = self._want or (self._have[0] if self._have is not None else None)
        if spec is not None and old is not None and self._nth and spec.fps != old.fps:
            # The page repaints as often as before: scale n to the new target at once.
            self._nth = max(1, min(MAX_NTH, round(self._nth * old.fps / spec.fps)))
        self._want = spec
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._apply())

    def _target(self) -> tuple[StreamSpec, int] | None:
        want = self._want
        if want is None:
            return None
        if not self._nth:
            self._nth = max(1, round(GUESS_PAINT_FPS / want.fps))
        return want, self._nth

    async def _apply(self) -> None:
        while not self.failed:
            target = self._target()
            handle = self._handle
            if handle is not None and not handle.active:  # its session closed the screencast
                self._handle = handle = None
                self._have = None
            if target == self._have:
                return
            try:
                if target is None:
                    self._handle = None
                    if handle is not None:
                        await handle.stop()
                else:
                    spec, nth = target
                    if handle is None:
                        self._handle = await self.session.screencast(
                            self._frame,
                            max_width=spec.max_width,
                            max_height=spec.max_height,
                            quality=spec.quality,
                            every_nth_frame=nth,
                        )
                    else:
                        await handle.resize(
                            spec.max_width, spec.max_height, quality=spec.quality, every_nth_frame=nth
                        )
            except Exception as exc:  # the page closed under us: the run finished or moved
                log.debug("live view of %s: %s", self.run_id, exc)
                self.failed = True
                self._handle = None
                self._have = None
                return
            self._have = target
            self._arrivals.clear()
            self._since = time.monotonic()

    def _adapt(self, now: float) -> None:
        """Pick the n that brings the rate near the view's target (see the class docstring)."""
        if self._have is None or now - self._since < ADAPT_S or self._want != self._have[0]:
            return
        spec, nth = self._have
        window = [t for t in self._arrivals if now - t <= ADAPT_S]
        rate = len(window) / ADAPT_S
        if spec.fps * 0.8 <= rate <= spec.fps * 1.5:
            return
        better = max(1, min(MAX_NTH, round(rate * nth / spec.fps)))
        self._since = now  # look again after another full window, whatever happens
        if better != nth:
            self._nth = better
            self._kick()

    def _frame(self, frame: ScreenFrame) -> None:
        if self._closed:
            return
        self.received += 1
        now = time.monotonic()
        self._arrivals.append(now)
        self._adapt(now)
        if self._decoding is not None and not self._decoding.done():
            if self._pending is not None:
                self.dropped += 1
            self._pending = frame
            return
        self._decoding = asyncio.ensure_future(self._decode(frame))

    async def _decode(self, frame: ScreenFrame | None) -> None:
        while frame is not None and not self._closed:
            try:
                image = await self._decoder.decode(frame.jpeg, self.box)
            except RuntimeError:  # the pool shut down: the panel is closing
                return
            if not self._closed and not image.isNull():
                self.shown += 1
                try:
                    self._show(image, frame)
                except Exception:  # a view's bug: keep the stream going
                    log.exception("live view of %s could not show a frame", self.run_id)
            frame, self._pending = self._pending, None

    async def aclose(self) -> None:
        """Stop the screencast and wait until it is detached."""
        self.want(None)
        self._closed = True
        self._pending = None
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._decoding is not None:
            await asyncio.wait({self._decoding})

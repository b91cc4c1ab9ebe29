"""Live frames of a page: the CDP screencast (DESIGN.md "Live views").

Chromium pushes a JPEG whenever the page repaints (`Page.screencastFrame`) and sends no more than
a couple ahead of our acknowledgements, so every frame is acked at once, whoever is slow to
paint it. A page that does not change sends one frame when the screencast starts and then
nothing; if even that first frame does not come (it always did here, but a backgrounded page
may skip it) one screenshot stands in for it, so a static page never shows as blank.

Acks still in flight when the context closes raise TargetClosedError (PLATFORM.md): `stop`
stops the screencast, waits for the acks and detaches before the session closes the context.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from app.engine.ports import FrameCallback, ScreenFrame

log = logging.getLogger("flightdeck.browser")

# How long to wait for Chromium's own first frame before taking a screenshot instead.
FIRST_FRAME_S = 0.5


class Screencast:
    """One screencast of one page on a CDP session of its own (so that detaching it leaves the
    session's input channel alone). Start, resize and stop may be called in any order: they
    run one at a time."""

    def __init__(
        self,
        context: BrowserContext,
        page: Page,
        on_frame: FrameCallback,
        *,
        on_stop: Callable[[Screencast], None] | None = None,
    ) -> None:
        self._context = context
        self._page = page
        self._on_frame = on_frame
        self._on_stop = on_stop
        self._cdp: CDPSession | None = None
        self._lock = asyncio.Lock()
        self._acks: set[asyncio.Future[Any]] = set()
        self._params: dict[str, Any] = {}
        self._active = False
        self._stopped = False
        self._generation = 0  # bumped on every (re)start: a late fallback shot of an older one is dropped
        self._got_frame = False
        self._fallback: asyncio.Task[None] | None = None
        self.frames = 0  # frames delivered (Chromium's and stand-ins)

    @property
    def active(self) -> bool:
        return self._active

    @property
    def size(self) -> tuple[int, int]:
        """The (max_width, max_height) frames are fitted into now."""
        return int(self._params.get("maxWidth", 0)), int(self._params.get("maxHeight", 0))

    async def start(
        self, max_width: int = 1280, max_height: int = 800, quality: int = 60, every_nth_frame: int = 1
    ) -> None:
        """Start sending frames no larger than max_width×max_height (device pixels), JPEG of
        `quality`, one of every `every_nth_frame` that Chromium paints."""
        async with self._lock:
            if self._stopped:
                raise RuntimeError("this screencast was stopped")
            if self._cdp is None:
                self._cdp = await self._context.new_cdp_session(self._page)
                self._cdp.on("Page.screencastFrame", self._frame)
            await self._start(
                {
                    "format": "jpeg",
                    "quality": int(quality),
                    "maxWidth": int(max_width),
                    "maxHeight": int(max_height),
                    "everyNthFrame": max(1, int(every_nth_frame)),
                }
            )

    async def resize(
        self,
        max_width: int,
        max_height: int,
        *,
        quality: int | None = None,
        every_nth_frame: int | None = None,
    ) -> None:
        """Restart with a new frame size (and optionally quality and rate): Chromium reads the
        parameters only when a screencast starts."""
        async with self._lock:
            if self._stopped or self._cdp is None:
                return
            params = dict(self._params, maxWidth=int(max_width), maxHeight=int(max_height))
            if quality is not None:
                params["quality"] = int(quality)
            if every_nth_frame is not None:
                params["everyNthFrame"] = max(1, int(every_nth_frame))
            if params == self._params and self._active:
                return
            if self._active:
                self._active = False
                await self._cdp.send("Page.stopScreencast")
            await self._start(params)

    async def _start(self, params: dict[str, Any]) -> None:
        assert self._cdp is not None
        self._params = params
        self._generation += 1
        self._got_frame = False
        self._active = True
        await self._cdp.send("Page.startScreencast", params)
        if self._fallback is not None:
            self._fallback.cancel()
        self._fallback = asyncio.create_task(self._first_frame(self._generation))

    async def stop(self) -> None:
        """Stop and detach. Safe to call twice, and on a page or browser that is already gone."""
        async with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._active = False
            if self._fallback is not None:
                self._fallback.cancel()
                await asyncio.wait({self._fallback})  # (never raises: this stop stays cancellable)
            cdp, self._cdp = self._cdp, None
            if cdp is not None:
                with contextlib.suppress(PlaywrightError):
                    await cdp.send("Page.stopScreencast")
                if self._acks:
                    await asyncio.gather(*self._acks, return_exceptions=True)
                with contextlib.suppress(PlaywrightError):
                    await cdp.detach()
        if self._on_stop is not None:
            self._on_stop(self)

    # ------------------------------------------------------------------ frames
    def _frame(self, params: dict[str, Any]) -> None:
        cdp = self._cdp
        if cdp is None:
            return
        # Ack first, whatever happens next: an unacked frame stalls the stream.
        ack = asyncio.ensure_future(cdp.send("Page.screencastFrameAck", {"sessionId": params["sessionId"]}))
        self._acks.add(ack)
        ack.add_done_callback(self._acked)
        if not self._active:
            return
        self._got_frame = True
        meta = params.get("metadata") or {}
        width, height = self._viewport(meta.get("deviceWidth", 0.0), meta.get("deviceHeight", 0.0))
        self._deliver(
            ScreenFrame(
                jpeg=base64.b64decode(params["data"]),
                width=width,
                height=height,
                offset_top=float(meta.get("offsetTop", 0.0)),
                page_scale=float(meta.get("pageScaleFactor", 1.0)),
                scroll_x=float(meta.get("scrollOffsetX", 0.0)),
                scroll_y=float(meta.get("scrollOffsetY", 0.0)),
                timestamp=float(meta.get("timestamp", 0.0)),
            )
        )

    def _viewport(self, width: float, height: float) -> tuple[float, float]:
        """The viewport's size in CSS px. Chromium's frame metadata usually says it, but now
        and then (seen here, a frame or two around a change) it gives the frame's own scaled
        size instead (640×400 for a 1280×800 page), which would put a click in the wrong
        place. The page's emulated viewport, when it has one, is what input coordinates mean."""
        known = self._page.viewport_size
        if known:
            return float(known["width"]), float(known["height"])
        return float(width), float(height)

    def _acked(self, ack: asyncio.Future[Any]) -> None:
        self._acks.discard(ack)
        if not ack.cancelled() and ack.exception() is not None:
            # The page went away between the frame and its ack: nothing left to acknowledge.
            log.debug("screencast ack failed: %s", ack.exception())

    def _deliver(self, frame: ScreenFrame) -> None:
        self.frames += 1
        try:
            self._on_frame(frame)
        except Exception:  # a viewer's bug must not stop the acks (and so the stream)
            log.exception("screencast frame handler failed")

    async def _first_frame(self, generation: int) -> None:
        """Stand in for a first frame Chromium did not send."""
        await asyncio.sleep(FIRST_FRAME_S)
        if self._got_frame or not self._active or generation != self._generation or self._cdp is None:
            return
        cdp = self._cdp
        try:
            metrics = await cdp.send("Page.getLayoutMetrics")
            viewport = metrics.get("cssLayoutViewport") or {}
            width, height = self._viewport(viewport.get("clientWidth", 0), viewport.get("clientHeight", 0))
            max_w, max_h = self.size
            scale = min(1.0, max_w / width, max_h / height) if width and height else 1.0
            shot = await cdp.send(
                "Page.captureScreenshot",
                {
                    "format": "jpeg",
                    "quality": int(self._params.get("quality", 60)),
                    "optimizeForSpeed": True,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": scale},
                },
            )
        except PlaywrightError as exc:
            log.debug("no stand-in first frame: %s", exc)
            return
        if self._got_frame or not self._active or generation != self._generation:
            return
        self._deliver(ScreenFrame(jpeg=base64.b64decode(shot["data"]), width=width, height=height))

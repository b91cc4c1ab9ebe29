"""Live frames of a page (CDP screencast): a static page shows up, an animated one keeps
streaming because every frame is acked, and stopping or closing never leaves an ack to fail."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import act

from app.browser import PlaywrightProvider, PlaywrightSession
from app.engine.ports import ScreenFrame

STATIC = """<!doctype html><title>Static</title>
<style>body { margin: 0; height: 3000px; background: #dde }</style><h1>Nothing moves here</h1>"""

ANIMATED = """<!doctype html><title>Animated</title>
<style>body { margin: 0 } #box { position: absolute; top: 50px; width: 80px; height: 80px;
background: #c33 }</style><div id=box></div>
<script>
let t = 0;
(function step() { t++; document.getElementById('box').style.left = (t % 600) + 'px';
  requestAnimationFrame(step); })();
</script>"""


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no start-of-frame marker")


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Whatever the running event loop reports as an unhandled error (a failed ack, say)."""
    loop = asyncio.get_running_loop()
    found: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: found.append(context))
    try:
        yield found
    finally:
        loop.set_exception_handler(previous)


async def test_a_static_page_sends_one_frame_with_its_viewport(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/static", STATIC))
    frames: list[ScreenFrame] = []
    started = time.monotonic()
    cast = await static_session.screencast(frames.append, max_width=480, max_height=300, quality=50)
    try:
        await wait_for(lambda: frames)
        assert time.monotonic() - started < 1.0  # the first frame comes at once, not after a change
        first = frames[0]
        assert (first.width, first.height) == (1280, 800)  # the viewport in CSS px
        width, height = jpeg_size(first.jpeg)
        assert width <= 480 and height <= 300 and abs(width / height - 1.6) < 0.02

        # Scrolling repaints: the frame says where the page is scrolled to.
        await static_session.page.evaluate("window.scrollTo(0, 500)")
        await wait_for(lambda: frames[-1].scroll_y == 500)

        # A larger size restarts the screencast; its first frame comes although nothing changed.
        count = len(frames)
        await cast.resize(1280, 800)
        await wait_for(lambda: len(frames) > count)
        assert jpeg_size(frames[-1].jpeg) == (1280, 800)
    finally:
        await cast.stop()
    assert not cast.active


async def test_an_animated_page_keeps_streaming_because_each_frame_is_acked(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/animated", ANIMATED))
    frames: list[ScreenFrame] = []
    with loop_errors() as errors:
        cast = await static_session.screencast(
            frames.append, max_width=320, max_height=200, every_nth_frame=2
        )
        # Chromium sends at most a few frames ahead of the acks: many more means acks flow.
        await wait_for(lambda: len(frames) >= 20)
        stamps = [f.timestamp for f in frames]
        assert stamps == sorted(stamps) and stamps[-1] > stamps[0]
        # Every frame says the viewport's size (the CSS px clicks are mapped to), including
        # the ones Chromium labels with their own scaled size now and then.
        assert {(f.width, f.height) for f in frames} == {(1280, 800)}
        await cast.stop()
        after_stop = len(frames)
        await asyncio.sleep(0.3)
        assert len(frames) == after_stop  # stopped means stopped
        await static_session.close()  # the context goes right after: no ack may still be in flight
        await asyncio.sleep(0.1)
    assert errors == []


async def test_closing_the_session_stops_its_screencasts_first(
    shared_provider: PlaywrightProvider, static_site: Any
) -> None:
    session = await shared_provider.open_session(base_url=static_site.url, timeout=10)
    await act(session, "goto", static_site.add("/animated", ANIMATED))
    frames: list[ScreenFrame] = []
    with loop_errors() as errors:
        cast = await session.screencast(frames.append, max_width=640, max_height=400)
        await wait_for(lambda: len(frames) >= 5)
        await session.close()  # mid-stream, without stopping the screencast first
        assert not cast.active
        await cast.stop()  # a viewer stopping it afterwards is fine too
        await asyncio.sleep(0.2)
    assert errors == []
    with pytest.raises(Exception, match="closed"):
        await session.screencast(frames.append)

"""Reusable console widgets (live frames, tiles) and the pieces behind them."""

from __future__ import annotations

from app.ui.widgets.frameview import FrameView
from app.ui.widgets.livefeed import FrameDecoder, LiveFeed, StreamSpec
from app.ui.widgets.tilegrid import TileGrid

__all__ = ["FrameDecoder", "FrameView", "LiveFeed", "StreamSpec", "TileGrid"]

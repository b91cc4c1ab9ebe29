"""TileGrid: lays live-view tiles out inside a scroll area, either as a grid that fills the
space (as large as the tiles can be while all fit, scrolling only past a minimum size) or as one
row of small tiles (the strip under a focused view)."""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QWidget

GAP = 8
MIN_TILE_WIDTH = 280
STRIP_TILE = QSize(208, 130)  # 16:10 like a desktop viewport
ASPECT = 16 / 10


class TileGrid(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tiles: list[QWidget] = []
        self._strip = False
        self._available = QSize(0, 0)  # the scroll area's viewport: what the grid may fill

    @property
    def strip(self) -> bool:
        return self._strip

    def set_strip(self, strip: bool) -> None:
        if strip != self._strip:
            self._strip = strip
            self.relayout()

    def set_tiles(self, tiles: list[QWidget]) -> None:
        """The tiles to show, in order (hidden ones take no place)."""
        for tile in tiles:
            if tile.parent() is not self:
                tile.setParent(self)
        self._tiles = list(tiles)
        self.relayout()

    def set_available(self, size: QSize) -> None:
        if size != self._available:
            self._available = size
            self.relayout()

    def strip_height(self) -> int:
        return STRIP_TILE.height() + 2 * GAP

    def relayout(self) -> None:
        shown = [t for t in self._tiles if not t.isHidden()]
        rects = self._strip_rects(len(shown)) if self._strip else self._grid_rects(len(shown))
        for tile, rect in zip(shown, rects, strict=True):
            tile.setGeometry(rect)
        if self._strip:
            width = GAP + len(shown) * (STRIP_TILE.width() + GAP)
            self.setMinimumSize(width, self.strip_height())
        else:
            bottom = max((r.bottom() for r in rects), default=0) + GAP + 1
            self.setMinimumSize(0, bottom if bottom > self._available.height() else 0)

    def _strip_rects(self, n: int) -> list[QRect]:
        return [
            QRect(GAP + i * (STRIP_TILE.width() + GAP), GAP, STRIP_TILE.width(), STRIP_TILE.height())
            for i in range(n)
        ]

    def _grid_rects(self, n: int) -> list[QRect]:
        if n == 0:
            return []
        width = max(self._available.width(), self.width()) - 2 * GAP
        height = max(self._available.height(), 1) - 2 * GAP
        best_cols, best_w = 1, 0.0
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            w = min((width - (cols - 1) * GAP) / cols, (height - (rows - 1) * GAP) / rows * ASPECT)
            if w > best_w:
                best_cols, best_w = cols, w
        if best_w < MIN_TILE_WIDTH:  # they do not all fit: a scrolling grid of readable tiles
            best_cols = max(1, min(n, (width + GAP) // (MIN_TILE_WIDTH + GAP)))
            best_w = (width - (best_cols - 1) * GAP) / best_cols
        tile_w = int(best_w)
        tile_h = int(best_w / ASPECT)
        rows = math.ceil(n / best_cols)
        # Centre the block horizontally: a lone tile does not hug the left edge.
        left = GAP + max(0, (width - (best_cols * tile_w + (best_cols - 1) * GAP)) // 2)
        top = GAP + max(0, (height - (rows * tile_h + (rows - 1) * GAP)) // 2)
        return [
            QRect(
                left + (i % best_cols) * (tile_w + GAP),
                top + (i // best_cols) * (tile_h + GAP),
                tile_w,
                tile_h,
            )
            for i in range(n)
        ]

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.relayout()

"""FrameView: paints a page's live frames, scaled to fit (aspect kept, letterboxed), with an
overlay strip saying which run it is, the step it is on and how many frames a second arrive.

It is also where the operator's mouse and keyboard enter a page: in "control" mode (takeover)
every press, move, wheel turn and key becomes an `InputEvent` in the page's CSS pixels; in
"point" mode one click says where an element is. Mapping goes through the letterbox and the
frame's metadata (the image shows the whole viewport, `frame.width`×`frame.height` CSS px).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Literal

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QEnterEvent,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.engine.ports import InputEvent, ScreenFrame
from app.ui.style import status_color
from app.ui.widgets.operatorkeys import key_input

Mode = Literal["watch", "control", "point"]

# The operator drives the page: a colour no run status uses, so it cannot be mistaken for one.
CONTROL_COLOR = QColor("#e8590c")
_BUTTONS = {
    Qt.MouseButton.LeftButton: "left",
    Qt.MouseButton.RightButton: "right",
    Qt.MouseButton.MiddleButton: "middle",
}
# Qt reports wheel turns in eighths of a degree (120 per notch); a browser scrolls ~100 px per notch.
_WHEEL_PX_PER_UNIT = 100 / 120
SMALL_PX = 160  # views shorter than this get a one-line overlay
IDLE_S = 1.5  # no frame for this long: the readout says "still" (a page that does not change)


class FrameView(QWidget):
    activated = Signal()  # clicked while watching (a tile: focus it)
    input_event = Signal(object)  # InputEvent, in control mode
    pointed = Signal(float, float)  # viewport CSS px, in point mode
    escape_pressed = Signal()  # Esc while watching or pointing (control mode sends it to the page)

    def __init__(self, *, compact: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.compact = compact
        self._image: QImage | None = None
        self._frame: ScreenFrame | None = None
        self._shown: deque[float] = deque(maxlen=120)  # when frames were shown (fps readout)
        self._title = ""
        self._detail = ""
        self._status = "running"
        self._placeholder = "Connecting…"
        self._mode: Mode = "watch"
        self._hover = False
        self._last_move: tuple[float, float] | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is painted
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Live view")
        self._apply_cursor()

    # ----------------------------------------------------------------- state
    def show_frame(self, image: QImage, frame: ScreenFrame) -> None:
        """Paint this frame (the newest) at the next paint."""
        resized = self._frame is None or (frame.width, frame.height) != (
            self._frame.width,
            self._frame.height,
        )
        self._image, self._frame = image, frame
        self._shown.append(time.monotonic())
        if resized:
            self.update()
        else:
            self.update(self.image_rect().toAlignedRect())

    def clear_frame(self, placeholder: str = "Connecting…") -> None:
        self._image = self._frame = None
        self._placeholder = placeholder
        self._shown.clear()
        self.update()

    @property
    def frame(self) -> ScreenFrame | None:
        return self._frame

    @property
    def image(self) -> QImage | None:
        return self._image

    @property
    def has_frame(self) -> bool:
        return self._image is not None

    def set_info(self, title: str, detail: str, status: str) -> None:
        if (title, detail, status) == (self._title, self._detail, self._status):
            return
        self._title, self._detail, self._status = title, detail, status
        self.setAccessibleName(f"Live view of {title}" if title else "Live view")
        self.setToolTip(f"{title}\n{detail}\nClick to focus" if self.compact else "")
        self.update()

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        if mode == self._mode:
            return
        self._mode = mode
        self._last_move = None
        self.setMouseTracking(mode == "control")  # hover menus need moves without a button
        self._apply_cursor()
        if mode != "watch":
            self.setFocus(Qt.FocusReason.OtherFocusReason)
        self.update()

    def fps(self, window: float = 1.0) -> float:
        """Frames shown per second over the last `window` seconds."""
        now = time.monotonic()
        return sum(1 for t in self._shown if now - t <= window) / window

    def idle(self) -> bool:
        return not self._shown or time.monotonic() - self._shown[-1] > IDLE_S

    def stream_size(self) -> QSize:
        """The frame size worth asking for: the whole view in device pixels (Chromium fits the
        page's aspect into it, as the view letterboxes it)."""
        ratio = self.devicePixelRatioF()
        return QSize(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))

    # ----------------------------------------------------------------- geometry
    def image_rect(self, aspect: float | None = None) -> QRectF:
        """Where the frame is drawn: the largest rect of its aspect centred in the widget."""
        if aspect is None:
            if self._frame is not None and self._frame.width and self._frame.height:
                aspect = self._frame.width / self._frame.height
            elif self._image is not None and self._image.height():
                aspect = self._image.width() / self._image.height()
            else:
                aspect = 16 / 10
        w, h = float(self.width()), float(self.height())
        if w <= 0 or h <= 0:
            return QRectF()
        if w / h > aspect:
            dw, dh = h * aspect, h
        else:
            dw, dh = w, w / aspect
        return QRectF((w - dw) / 2, (h - dh) / 2, dw, dh)

    def to_page(self, pos: QPointF) -> tuple[float, float] | None:
        """The viewport point (CSS px) under widget point `pos`; None on the letterbox or
        before the first frame."""
        frame = self._frame
        rect = self.image_rect()
        if frame is None or rect.isEmpty() or not rect.contains(pos):
            return None
        u = (pos.x() - rect.x()) / rect.width()
        v = (pos.y() - rect.y()) / rect.height()
        # The image is the viewport at its scroll position: no scroll offset to add.
        x = min(max(u * frame.width, 0.0), frame.width - 1)
        y = min(max(v * frame.height, 0.0), frame.height - 1)
        return round(x, 1), round(y, 1)

    def from_page(self, x: float, y: float) -> QPointF | None:
        """The widget point showing viewport point (x, y) (overlays, tests)."""
        frame = self._frame
        rect = self.image_rect()
        if frame is None or rect.isEmpty() or not frame.width or not frame.height:
            return None
        return QPointF(rect.x() + x / frame.width * rect.width(), rect.y() + y / frame.height * rect.height())

    # ----------------------------------------------------------------- painting
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        rect = self.image_rect()
        letterbox = palette.color(QPalette.ColorRole.Window).darker(115)
        outside = QRect(self.rect())
        if self._image is None:
            painter.fillRect(outside, letterbox)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._placeholder)
        else:
            if rect.toAlignedRect() != outside:
                painter.fillRect(outside, letterbox)  # the bars; the image covers the rest
            scale = rect.width() * self.devicePixelRatioF() / max(1, self._image.width())
            if abs(scale - 1.0) > 0.02:  # drawn at its own size it needs no filtering
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(rect, self._image)
        self._paint_overlay(painter, rect)
        self._paint_border(painter)
        painter.end()

    def _paint_overlay(self, painter: QPainter, rect: QRectF) -> None:
        # Driving or pointing, the operator needs the whole page: the panel's bar says the rest.
        if rect.isEmpty() or not self._title or self._mode != "watch":
            return
        palette = self.palette()
        font = QFont(self.font())
        if self.compact:
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        metrics = QFontMetrics(font)
        pad = 6
        line = metrics.height()
        lines = 1 if rect.height() < SMALL_PX else 2  # a strip tile: the name (details: tooltip)
        height = lines * line + 2 * pad
        band = QRectF(rect.left(), rect.bottom() - height, rect.width(), height)
        background = QColor(palette.color(QPalette.ColorRole.Window))
        background.setAlpha(215)  # the page shows through a little: it is an overlay, not a bar
        painter.fillRect(band, background)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        dot = line * 0.6
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(status_color(self._status))
        painter.drawEllipse(QRectF(band.left() + pad, band.top() + pad + (line - dot) / 2, dot, dot))
        painter.setFont(font)
        text_color = palette.color(QPalette.ColorRole.WindowText)
        rate = "still" if self.idle() else f"{self.fps():.0f} fps"
        rate_w = metrics.horizontalAdvance(rate) + pad
        left = band.left() + pad + dot + pad
        first = QRectF(left, band.top() + pad, band.right() - left - rate_w - pad, line)
        bold = QFont(font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(text_color)
        painter.drawText(
            first,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetrics(bold).elidedText(self._title, Qt.TextElideMode.ElideRight, int(first.width())),
        )
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(
            QRectF(band.right() - rate_w - pad, band.top() + pad, rate_w, line),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            rate,
        )
        if lines == 1:
            return
        painter.setPen(text_color)
        second = QRectF(band.left() + pad, band.top() + pad + line, band.width() - 2 * pad, line)
        painter.drawText(
            second,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(self._detail, Qt.TextElideMode.ElideRight, int(second.width())),
        )

    def _paint_border(self, painter: QPainter) -> None:
        if self._mode == "control":
            color, width = CONTROL_COLOR, 4
        elif self._mode == "point":
            color, width = self.palette().color(QPalette.ColorRole.Highlight), 3
        elif self._hover and self.compact:
            color, width = self.palette().color(QPalette.ColorRole.Highlight), 2
        else:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(color, width))
        half = width / 2
        painter.drawRect(QRectF(self.rect()).adjusted(half, half, -half, -half))

    def _apply_cursor(self) -> None:
        if self._mode == "point":
            self.setCursor(Qt.CursorShape.CrossCursor)
        elif self._mode == "control":
            self.setCursor(Qt.CursorShape.ArrowCursor)
        elif self.compact:
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.unsetCursor()

    # ----------------------------------------------------------------- input
    def enterEvent(self, event: QEnterEvent) -> None:
        self._hover = True
        if self.compact:
            self.update()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._hover = False
        if self.compact:
            self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        at = self.to_page(event.position())
        if self._mode == "control":
            button = _BUTTONS.get(event.button())
            if at is not None and button is not None:
                self.input_event.emit(InputEvent(kind="down", x=at[0], y=at[1], button=button))  # type: ignore[arg-type]
            return
        if self._mode == "point":
            if at is not None and event.button() == Qt.MouseButton.LeftButton:
                self.pointed.emit(at[0], at[1])
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # Qt turns the second press of a double click into this event: the page needs it as a press.
        self.mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._mode != "control":
            return
        at = self.to_page(event.position())
        button = _BUTTONS.get(event.button())
        if button is None:
            return
        if at is None:  # released over the letterbox: release at the nearest edge of the page
            at = self._clamped(event.position())
        if at is not None:
            self.input_event.emit(InputEvent(kind="up", x=at[0], y=at[1], button=button))  # type: ignore[arg-type]

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._mode != "control":
            return
        at = self.to_page(event.position())
        if at is not None and at != self._last_move:
            self._last_move = at
            self.input_event.emit(InputEvent(kind="move", x=at[0], y=at[1]))

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._mode != "control":
            event.ignore()  # let a scroll area around the tiles scroll
            return
        at = self.to_page(event.position())
        if at is None:
            return
        delta = event.angleDelta()
        self.input_event.emit(
            InputEvent(
                kind="wheel",
                x=at[0],
                y=at[1],
                delta_x=-delta.x() * _WHEEL_PX_PER_UNIT,
                delta_y=-delta.y() * _WHEEL_PX_PER_UNIT,
            )
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._mode == "control":
            found = key_input(event)
            if found is not None:
                self.input_event.emit(found)
            return
        if event.key() == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            return
        super().keyPressEvent(event)

    def event(self, event: QEvent) -> bool:
        # In control Tab belongs to the page, not to Qt's focus chain.
        if (
            self._mode == "control"
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
        ):
            self.keyPressEvent(event)
            return True
        return super().event(event)

    def _clamped(self, pos: QPointF) -> tuple[float, float] | None:
        rect = self.image_rect()
        if rect.isEmpty():
            return None
        inside = QPointF(
            min(max(pos.x(), rect.left()), rect.right() - 0.5),
            min(max(pos.y(), rect.top()), rect.bottom() - 0.5),
        )
        return self.to_page(inside)

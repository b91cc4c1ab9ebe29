"""The evidence of one step or attempt: what the page looked like before and after, the
requests it made (with their status), which expectations held, and the error.

Screenshots come from the artifact store through the bridge; decoding happens on a worker
thread so that clicking through steps never stalls the window."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from functools import partial

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeyEvent, QMouseEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.engine.views import AttemptView, HandoffView, StepView
from app.ui.bridge import Bridge
from app.ui.models.runlog import ChecksModel, RequestsModel
from app.ui.models.timeline import format_ms
from app.ui.style import HANDOFF_LABELS, STATUS_COLORS

THUMB = QSize(280, 175)  # a 16:10 page fits; two side by side in a narrow dock
_CACHE = 24  # decoded screenshots kept (an operator clicks back and forth between steps)


class Thumbnail(QLabel):
    """A screenshot thumbnail: click (or Enter) to see it full size."""

    clicked = Signal()

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.sha: str | None = None
        self.setFixedSize(THUMB)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setWordWrap(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(f"Screenshot {caption.lower()}")
        self.set_placeholder("not captured")

    def set_placeholder(self, text: str) -> None:
        self.clear()
        self.setText(text)
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.setCursor(Qt.CursorShape.ArrowCursor)
        self.setToolTip("")

    def set_image(self, image: QImage) -> None:
        thumb = image.scaled(
            THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.setPixmap(QPixmap.fromImage(thumb))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{self.caption}: click to enlarge")

    def has_image(self) -> bool:
        return not self.pixmap().isNull()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.has_image():
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self.has_image():
            self.clicked.emit()
            return
        super().keyPressEvent(event)


class ScreenshotDialog(QDialog):
    """One screenshot, as large as the screen allows."""

    def __init__(self, image: QImage, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        label = QLabel()
        label.setAccessibleName(title)
        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        room = screen.availableGeometry().size() * 0.9 if screen is not None else QSize(1600, 1000)
        shown = image
        if image.width() > room.width() or image.height() > room.height():
            shown = image.scaled(
                room, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        label.setPixmap(QPixmap.fromImage(shown))
        scroll = QScrollArea()
        scroll.setWidget(label)
        scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self.resize(shown.width() + 24, shown.height() + 24)


def _decode(data: bytes) -> QImage:
    image = QImage()
    image.loadFromData(data)
    return image


def compact(view: QTableView) -> None:
    """Rows as tall as a line of text, without the row-number header."""
    rows = view.verticalHeader()
    rows.hide()
    rows.setMinimumSectionSize(view.fontMetrics().height() + 4)
    rows.setDefaultSectionSize(view.fontMetrics().height() + 8)


def _table(model: RequestsModel | ChecksModel, name: str) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setAccessibleName(name)
    compact(view)
    view.setShowGrid(False)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # URLs: keep host and the last part
    return view


def _fit(view: QTableView) -> None:
    """The pane scrolls as a whole: each table is exactly as tall as its rows."""
    rows = view.model().rowCount()
    height = view.horizontalHeader().sizeHint().height() + 2 * view.frameWidth()
    height += sum(view.rowHeight(r) for r in range(rows)) if rows else 0
    view.setFixedHeight(height)
    view.setVisible(rows > 0)


class EvidencePane(QScrollArea):
    """Shows the evidence of the selected step (its deciding attempt) or attempt."""

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._loading: set[str] = set()
        self._shown: tuple[StepView, AttemptView | None, HandoffView | None] | None = None
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAccessibleName("Evidence")

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)

        self.title = QLabel()
        self.title.setAccessibleName("Evidence of")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title.setFont(font)
        layout.addWidget(self.title)

        self.facts = QLabel()  # url after, whether the page changed, duration
        self.facts.setAccessibleName("Facts")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.facts)

        self.note = QLabel()  # a person is needed on this step
        self.note.setAccessibleName("Waiting for you")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.setStyleSheet(f"QLabel {{ color: {STATUS_COLORS['waiting']}; }}")
        layout.addWidget(self.note)

        self.error = QLabel()
        self.error.setAccessibleName("Error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        failed = STATUS_COLORS["failed"]
        self.error.setStyleSheet(
            f"QLabel {{ color: {failed}; border: 1px solid {failed}; border-radius: 4px; padding: 6px; }}"
        )
        layout.addWidget(self.error)

        self.shots_heading = self._heading("Screenshots", layout)
        shots = QHBoxLayout()
        shots.setSpacing(12)
        self.before = Thumbnail("Before")
        self.after = Thumbnail("After")
        self._shot_widgets: list[QWidget] = [self.shots_heading]
        self._shot_columns: list[tuple[QLabel, Thumbnail]] = []
        for thumb in (self.before, self.after):
            column = QVBoxLayout()
            column.setSpacing(2)
            caption = QLabel(thumb.caption)
            caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            column.addWidget(caption)
            column.addWidget(thumb)
            shots.addLayout(column)
            self._shot_widgets += [caption, thumb]
            self._shot_columns.append((caption, thumb))
            thumb.clicked.connect(lambda t=thumb: self._enlarge(t))
        shots.addStretch(1)
        layout.addLayout(shots)

        self.requests_heading = self._heading("Requests", layout)
        self.requests_model = RequestsModel(self)
        self.requests = _table(self.requests_model, "Requests")
        header = self.requests.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.requests)
        self.requests_note = QLabel()
        self.requests_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.requests_note)

        self.checks_heading = self._heading("Expectations", layout)
        self.checks_model = ChecksModel(self)
        self.checks = _table(self.checks_model, "Expectation results")
        header = self.checks.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.checks.setTextElideMode(Qt.TextElideMode.ElideRight)
        layout.addWidget(self.checks)
        layout.addStretch(1)
        self.setWidget(body)
        bridge.failed.connect(self._read_failed)
        self.clear()

    @staticmethod
    def _heading(text: str, layout: QVBoxLayout) -> QLabel:
        label = QLabel(text)
        font = label.font()
        font.setBold(True)
        label.setFont(font)
        label.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(label)
        return label

    # ------------------------------------------------------------- what is shown
    def clear(self, text: str = "Select a step to see its evidence") -> None:
        self._shown = None
        self.title.setText(text)
        for widget in (
            self.facts,
            self.note,
            self.error,
            *self._shot_widgets,
            self.requests_heading,
            self.requests,
            self.requests_note,
            self.checks_heading,
            self.checks,
        ):
            widget.hide()

    def show_evidence(
        self, step: StepView, attempt: AttemptView | None = None, waiting: HandoffView | None = None
    ) -> None:
        """The evidence of `attempt`, or of the step's deciding (latest) attempt. `waiting`:
        the handoff open on the step, if any."""
        if self._shown == (step, attempt, waiting):
            return  # the same evidence: keep scroll position and images as they are
        self._shown = (step, attempt, waiting)
        chosen = attempt or (step.attempt_list[-1] if step.attempt_list else None)
        self._show_waiting(waiting)
        if chosen is None and not step.evidence.get("requests") and not step.evidence.get("checks"):
            self._show_untried(step, waiting)
            return
        total = len(step.attempt_list)
        title = f"Step {step.index + 1} · {step.step_id}"
        if chosen is not None:
            title += f" — attempt {chosen.number}" + (f" of {total}" if total > 1 else "")
            title += f" · {chosen.outcome or 'in progress'}"
        else:
            title += f" · {step.status}"
        self.title.setText(title)

        facts = [step.summary]
        evidence = step.evidence
        if attempt is None and evidence.get("url"):
            facts.append(f"page after: {evidence['url']}")
        if attempt is None and evidence.get("changed") is False:
            facts.append("the page did not change")
        if attempt is None and step.duration_ms is not None:
            facts.append(f"took {format_ms(step.duration_ms)}")
        self.facts.setText(" · ".join(f for f in facts if f))
        self.facts.setVisible(True)

        error = chosen.error if chosen is not None else step.error
        failure = chosen.failure_class if chosen is not None else step.failure_class
        if attempt is None and step.error:  # the step's verdict speaks for the step
            error, failure = step.error, step.failure_class
        self.error.setText(f"{failure}: {error}" if failure else (error or ""))
        self.error.setVisible(bool(error))

        requests = chosen.requests if chosen is not None else list(evidence.get("requests") or [])
        checks = chosen.checks if chosen is not None else list(evidence.get("checks") or [])
        self.requests_model.set_requests(requests)
        self.checks_model.set_checks(checks)
        _fit(self.requests)
        _fit(self.checks)
        notes = [] if self.requests_model.rowCount() else ["No requests."]
        if not requests and chosen is not None and chosen.outcome == "unknown":
            notes = ["Requests not recorded: the run was interrupted after the action was sent."]
        hidden = self.requests_model.hidden
        if hidden:
            notes.append(f"{hidden} image, style or script request{'s' if hidden > 1 else ''} not listed.")
        self.requests_note.setText(" ".join(notes))
        self.requests_note.setVisible(bool(notes))
        if not checks:
            failed_first = chosen is not None and chosen.outcome == "failed"
            self.checks_heading.setText(
                "Expectations: not checked, the attempt had already failed"
                if failed_first
                else "Expectations: none"
            )
        else:
            held = sum(1 for c in checks if c.get("ok"))
            self.checks_heading.setText(f"Expectations: {held} of {len(checks)} held")
        for widget in (self.requests_heading, self.checks_heading):
            widget.show()
        before = chosen.screenshot_before if chosen else None
        after = chosen.screenshot_after if chosen else None
        # Only what was taken: a missing "before" (the usual case for a failure) takes no room.
        for caption, thumb, sha in ((*self._shot_columns[0], before), (*self._shot_columns[1], after)):
            caption.setText(thumb.caption)
            caption.setVisible(sha is not None)
            thumb.setVisible(sha is not None)
            self._set_shot(thumb, sha)
        self.shots_heading.show()
        self.shots_heading.setText(
            "Screenshots" if before or after else "Screenshots: none taken for this attempt"
        )

    def _show_waiting(self, waiting: HandoffView | None) -> None:
        if waiting is None:
            self.note.hide()
            return
        label = HANDOFF_LABELS.get(waiting.kind, waiting.kind)
        self.note.setText(f"Waiting for you — {label}: {waiting.question}")
        self.note.show()

    def _show_untried(self, step: StepView, waiting: HandoffView | None) -> None:
        """A step not tried yet: say so instead of showing empty sections. An approval's
        preview screenshot shows the page the action would act on."""
        self.title.setText(f"Step {step.index + 1} · {step.step_id} · {step.status}")
        self.facts.setText(step.summary + (" · not attempted yet" if step.status != "skipped" else ""))
        self.facts.show()
        self.error.setVisible(bool(step.error))
        self.error.setText(
            f"{step.failure_class}: {step.error}" if step.failure_class else (step.error or "")
        )
        for widget in (
            self.requests_heading,
            self.requests,
            self.requests_note,
            self.checks_heading,
            self.checks,
        ):
            widget.hide()
        preview = (waiting.payload or {}).get("screenshot") if waiting is not None else None
        self.shots_heading.setVisible(bool(preview))
        self.shots_heading.setText("Screenshot")
        (caption, thumb), (after_caption, after) = self._shot_columns
        after_caption.hide()
        after.hide()
        self._set_shot(after, None)
        caption.setText("The page now (the preview you are asked about)")
        caption.setVisible(bool(preview))
        thumb.setVisible(bool(preview))
        self._set_shot(thumb, str(preview) if preview else None)

    # ------------------------------------------------------------- screenshots
    def _set_shot(self, thumb: Thumbnail, sha: str | None) -> None:
        thumb.sha = sha
        if sha is None:
            thumb.set_placeholder("not captured")
            return
        image = self._images.get(sha)
        if image is not None:
            self._images.move_to_end(sha)
            thumb.set_image(image)
            return
        thumb.set_placeholder("loading…")
        if sha in self._loading:
            return
        self._loading.add(sha)
        self._bridge.artifact(sha, partial(self._got_bytes, sha))

    def _got_bytes(self, sha: str, data: bytes) -> None:
        self._bridge.spawn(
            f"decoding screenshot {sha[:12]}",
            asyncio.to_thread(_decode, data),
            done=lambda image: self._got_image(sha, image),
            failed=lambda exc: self._lost(sha, str(exc)),
        )

    def _got_image(self, sha: str, image: QImage) -> None:
        self._loading.discard(sha)
        if image.isNull():
            self._lost(sha, "unreadable image")
            return
        self._images[sha] = image
        while len(self._images) > _CACHE:
            self._images.popitem(last=False)
        for thumb in (self.before, self.after):
            if thumb.sha == sha:
                thumb.set_image(image)

    def _lost(self, sha: str, why: str) -> None:
        self._loading.discard(sha)
        for thumb in (self.before, self.after):
            if thumb.sha == sha:
                thumb.set_placeholder(f"could not load: {why}")

    def _read_failed(self, what: str, details: str) -> None:
        # bridge.artifact reports a failed read only through `failed`, named after the sha.
        for sha in list(self._loading):
            if what == f"reading artifact {sha[:12]}":
                self._lost(sha, "the file is missing or unreadable")

    def _enlarge(self, thumb: Thumbnail) -> None:
        image = self._images.get(thumb.sha or "")
        if image is None or self._shown is None:
            return
        dialog = ScreenshotDialog(image, f"{self.title.text()} — {thumb.caption.lower()}", self)
        dialog.setAccessibleName("Screenshot")
        dialog.show()

"""The task queue as a table: every run in history, newest first, smooth with 100 000 of them.

Rows are cached `views.RunRow`s; `data()` never reads the database. Only what the operator has
scrolled to is loaded: `fetchMore` reads the next page on a worker thread (through the bridge)
and appends it when it arrives. Filtering and sorting happen in the database (a proxy model
would need every row in memory), so changing either re-reads the first page.

Live refresh: when anything was committed (`bridge.changed`), the model reads the runs updated
since the newest change it saw and patches its rows in place; a run the filter no longer shows
leaves, a new run that sorts within the loaded rows (a fresh run at the top, newest first)
comes in. No reset: the operator's selection and scroll position stay where they were.

One read at a time: a change that arrives during a read asks for one more refresh afterwards,
so a burst of commits costs two reads, not one per commit.
"""

from __future__ import annotations

import bisect
import logging
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont

from app.domain.states import TERMINAL
from app.engine import views
from app.engine.views import QueueChanges, QueuePage, RunFilter, RunRow
from app.store.types import utcnow
from app.ui.bridge import Bridge
from app.ui.style import status_icon

log = logging.getLogger("flightdeck.ui")

AnyIndex = QModelIndex | QPersistentModelIndex

# A writer stamps updated_at before it commits, so a commit can land after a newer stamp was
# already read. Looking back this far (and ignoring rows that did not change) catches it.
_SETTLE = timedelta(seconds=2)

STATUS, NEEDS_YOU, TASK, PROGRESS, SITE, STARTED, DURATION = range(7)

_HEADERS = {
    STATUS: ("Status", "What the run is doing"),
    NEEDS_YOU: ("Needs you", "Open questions waiting for a person"),
    TASK: ("Task", "The task the run executes"),
    PROGRESS: ("Progress", "The step the run is on"),
    SITE: ("Site", "The site the run works on"),
    STARTED: ("Started", "When the run started (local time)"),
    DURATION: ("Duration", "How long the run has been going"),
}

# Header column -> RunFilter.sort. Progress, duration and the badge are computed, not stored.
_SORT_KEYS = {STATUS: "status", TASK: "task_name", SITE: "site", STARTED: "started_at"}


def site_label(site: str) -> str:
    """A site as the queue shows it: the address without the scheme."""
    for scheme in ("https://", "http://"):
        if site.startswith(scheme):
            site = site[len(scheme) :]
    return site.rstrip("/")


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def time_text(at: datetime | None, now: datetime | None = None) -> str:
    """Local time; the date only when it is not today."""
    if at is None:
        return ""
    local = at.astimezone()
    today = (now or utcnow()).astimezone().date()
    return local.strftime("%H:%M:%S" if local.date() == today else "%Y-%m-%d %H:%M")


def progress_text(row: RunRow) -> str:
    if row.step_count == 0:
        return "no steps"
    if row.started_at is None and row.steps_done == 0:
        return f"{row.step_count} steps, not started"
    if row.steps_done >= row.step_count:
        return f"step {row.step_count} of {row.step_count}"
    # The step being worked on (or the one the run stopped at).
    return f"step {row.steps_done + 1} of {row.step_count}"


def _ticks(row: RunRow) -> bool:
    """Whether the run's duration grows by itself (started, not finished)."""
    return row.started_at is not None and row.finished_at is None and row.status not in TERMINAL


class RunTableModel(QAbstractTableModel):
    RunIdRole = Qt.ItemDataRole.UserRole + 1  # str
    RunRole = Qt.ItemDataRole.UserRole + 2  # the RunRow
    NeedsYouRole = Qt.ItemDataRole.UserRole + 3  # int: open handoffs
    StatusRole = Qt.ItemDataRole.UserRole + 4  # str: RunStatus value

    total_changed = Signal(int)  # runs the filter shows in the database (not only loaded ones)
    loaded = Signal()  # the first page under a (new) filter or sort is in
    refreshed = Signal()  # a live refresh was applied

    def __init__(
        self,
        bridge: Bridge,
        flt: RunFilter | None = None,
        *,
        page_size: int = 200,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._filter = flt or RunFilter()
        self._page_size = page_size
        self._rows: list[RunRow] = []
        self._pos: dict[str, int] = {}
        self._total = 0
        self._started = False  # the first page arrived
        self._exhausted = False  # every row the filter shows is loaded
        self._generation = 0  # bumped by a reload: reads of an older one are dropped
        self._reading: str | None = None  # "first" | "page" | "changes"
        self._want_page = False
        self._want_changes = False
        self._mark: datetime | None = None  # the newest updated_at seen
        self._exact = False  # the last refresh was cut short: go on from `_mark` exactly
        self._live: set[str] = set()  # runs whose duration ticks
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        bridge.changed.connect(self.refresh)
        self.reload()

    # ----------------------------------------------------------------- Qt model API
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_HEADERS)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or section not in _HEADERS:
            return None
        title, tip = _HEADERS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip + ("" if section in _SORT_KEYS else " (not sortable)")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            # Headers line up with their cells.
            horizontal = {NEEDS_YOU: Qt.AlignmentFlag.AlignHCenter, DURATION: Qt.AlignmentFlag.AlignRight}
            return int(horizontal.get(section, Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == STATUS:
            return status_icon(row.status.value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.AccessibleTextRole and column == NEEDS_YOU:
            return f"{row.needs_you} open questions" if row.needs_you else "nothing open"
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (NEEDS_YOU, DURATION):
            align = Qt.AlignmentFlag.AlignCenter if column == NEEDS_YOU else Qt.AlignmentFlag.AlignRight
            return int(align | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and column == TASK and row.needs_you:
            font = QFont()
            font.setBold(True)  # the runs a person must look at catch the eye first
            return font
        if role == self.RunIdRole:
            return row.id
        if role == self.RunRole:
            return row
        if role == self.NeedsYouRole:
            return row.needs_you
        if role == self.StatusRole:
            return row.status.value
        return None

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and self._started and not self._exhausted

    def fetchMore(self, parent: AnyIndex) -> None:
        """Load the next page; it arrives asynchronously. A call while a page is on its way is
        ignored (views call this on every scroll to the bottom)."""
        if parent.isValid() or not self.canFetchMore(parent) or self._reading in ("page", "first"):
            return  # after a reload the view asks again if it still needs rows
        if self._reading is not None:
            self._want_page = True
            return
        self._read_page()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Re-read in the database's order; column -1 (or one that cannot sort) is newest first."""
        key = _SORT_KEYS.get(column)
        descending = order == Qt.SortOrder.DescendingOrder
        if key is None:
            key, descending = "created_at", True
        self.set_filter(replace(self._filter, sort=key, descending=descending))

    # ----------------------------------------------------------------- our API
    @staticmethod
    def sortable(column: int) -> bool:
        return column in _SORT_KEYS

    def sort_column(self) -> int:
        """The header column of the current sort; -1 for the default (newest first)."""
        for column, key in _SORT_KEYS.items():
            if key == self._filter.sort:
                return column
        return -1

    def filter(self) -> RunFilter:
        return self._filter

    def set_filter(self, flt: RunFilter) -> None:
        if flt != self._filter:
            self._filter = flt
            self.reload()

    def total(self) -> int:
        return self._total

    def is_loaded(self) -> bool:
        """The first page under the current filter and sort is in."""
        return self._started and self._reading != "first"

    def all_loaded(self) -> bool:
        return self._started and self._exhausted

    def row_for(self, run_id: str) -> int:
        """The row of a run, -1 when it is not loaded (or not shown)."""
        return self._pos.get(run_id, -1)

    def run_at(self, row: int) -> RunRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    # ----------------------------------------------------------------- reading
    def reload(self) -> None:
        """Start over from the first page (filter or sort changed). The rows on screen stay
        until the new ones arrive, so the table does not flash empty."""
        self._generation += 1
        self._want_page = self._want_changes = False
        self._read("first", views.queue_first_page, self._filter, self._page_size, done=self._first_done)

    def refresh(self) -> None:
        """Read what changed since the last refresh (connected to `bridge.changed`)."""
        if not self._started and self._reading is None:
            self.reload()  # the first read failed: try again now that something happened
            return
        if not self._started or self._reading is not None:
            self._want_changes = True
            return
        since = self._mark
        if since is not None and not self._exact:
            since -= _SETTLE
        self._read("changes", views.queue_changes, self._filter, since, done=self._changes_done)

    def _read_page(self) -> None:
        self._read(
            "page", views.page_runs, self._filter, len(self._rows), self._page_size, done=self._page_done
        )

    def _read(self, kind: str, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None]) -> None:
        generation = self._generation
        self._reading = kind

        def arrived(result: Any) -> None:
            if not shiboken6.isValid(self) or generation != self._generation:
                return  # the model is gone, or a reload superseded this read
            self._reading = None
            done(result)
            self._next()

        def failed(exc: BaseException) -> None:
            if not shiboken6.isValid(self) or generation != self._generation:
                return
            self._reading = None
            if kind == "first":
                self._started = False  # the rows shown belong to the old filter: reload on the next change
            details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            if kind == "changes":
                # The next commit asks again; a dialog ten times a second would help nobody.
                log.warning("refreshing the queue failed: %s", exc)
            else:
                self._bridge.failed.emit("reading the task queue", details)

        self._bridge.read(fn, *args, done=arrived, failed=failed)

    def _next(self) -> None:
        # A page first (the operator is scrolling), then the changes that came in meanwhile:
        # the refresh then sees everything committed since the page was read.
        if self._want_page:
            self._want_page = False
            if self.canFetchMore(QModelIndex()):
                self._read_page()
                return
        if self._want_changes:
            self._want_changes = False
            self.refresh()

    def _first_done(self, page: QueuePage) -> None:
        self.beginResetModel()
        self._rows = list(page.rows)
        self._reindex()
        self._started = True
        self._exhausted = len(page.rows) < self._page_size
        self._mark = page.mark
        self._exact = False
        self._live = {r.id for r in self._rows if _ticks(r)}
        self.endResetModel()
        self._set_total(page.total, force=True)
        self._update_tick()
        self.loaded.emit()

    def _page_done(self, rows: list[RunRow]) -> None:
        self._exhausted = len(rows) < self._page_size
        # A run that a refresh already inserted (it sorted into the loaded rows) must not
        # come twice when a page read later includes it too.
        fresh = [r for r in rows if r.id not in self._pos]
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self._rows.extend(fresh)
            for i, r in enumerate(fresh, start=first):
                self._pos[r.id] = i
            self.endInsertRows()
            self._live.update(r.id for r in fresh if _ticks(r))
            self._update_tick()

    def _changes_done(self, changes: QueueChanges) -> None:
        if changes.newest is not None and (self._mark is None or changes.newest > self._mark):
            self._mark = changes.newest
        self._exact = not changes.complete
        if not changes.complete:
            self._want_changes = True  # more than one batch changed: read on from the mark

        removed: list[int] = []
        patched: list[tuple[int, RunRow]] = []
        added: list[RunRow] = []
        for row in changes.rows:
            at = self._pos.get(row.id)
            shown = row.id in changes.matching
            if at is None:
                if shown:
                    added.append(row)
            elif not shown:
                removed.append(at)
            elif row != self._rows[at]:  # the look-back returns unchanged rows too
                patched.append((at, row))

        for at, row in patched:
            self._rows[at] = row
            self._live.discard(row.id)
            if _ticks(row):
                self._live.add(row.id)
            self.dataChanged.emit(self.index(at, 0), self.index(at, len(_HEADERS) - 1))

        # Bottom first, so the positions still to remove stay valid.
        for at in sorted(set(removed), reverse=True):
            self.beginRemoveRows(QModelIndex(), at, at)
            gone = self._rows.pop(at)
            self._live.discard(gone.id)
            self.endRemoveRows()
        if removed:
            self._reindex()

        for row in added:
            self._insert_sorted(row)

        self._set_total(changes.total)
        self._update_tick()
        self.refreshed.emit()

    def _insert_sorted(self, row: RunRow) -> None:
        at = self._position(row)
        if at == len(self._rows) and not self._exhausted:
            return  # it sorts past the loaded rows: a later page brings it
        self.beginInsertRows(QModelIndex(), at, at)
        self._rows.insert(at, row)
        self._reindex()
        self.endInsertRows()
        if _ticks(row):
            self._live.add(row.id)

    # ----------------------------------------------------------------- helpers
    def _key(self, row: RunRow) -> tuple[tuple[int, Any], str]:
        """The database's order as a Python key: NULL (and an empty site) sorts first, as in
        SQLite; the run id breaks ties, as RunFilter.order does."""
        value = getattr(row, self._filter.sort, row.created_at)
        if isinstance(value, str):
            value = str(value)  # a RunStatus sorts by its stored text
        return ((0, "") if value is None or value == "" else (1, value)), row.id

    def _position(self, row: RunRow) -> int:
        """Where `row` goes among the loaded rows in the current order."""
        key = self._key(row)
        rows = self._rows
        # The first loaded row that sorts after `row` (the rows are in order, so this is a
        # binary search over "sorts after": False for a prefix, True from there on).
        if self._filter.descending:
            return bisect.bisect_left(range(len(rows)), True, key=lambda i: self._key(rows[i]) < key)
        return bisect.bisect_left(range(len(rows)), True, key=lambda i: self._key(rows[i]) > key)

    def _reindex(self) -> None:
        self._pos = {r.id: i for i, r in enumerate(self._rows)}

    def _set_total(self, total: int, *, force: bool = False) -> None:
        if force or total != self._total:
            self._total = total
            self.total_changed.emit(total)

    def _update_tick(self) -> None:
        if self._live and not self._tick.isActive():
            self._tick.start()
        elif not self._live and self._tick.isActive():
            self._tick.stop()

    def _on_tick(self) -> None:
        rows = [self._pos[r] for r in self._live if r in self._pos]
        if rows:
            self.dataChanged.emit(
                self.index(min(rows), DURATION),
                self.index(max(rows), DURATION),
                [Qt.ItemDataRole.DisplayRole],
            )

    def _display(self, row: RunRow, column: int) -> str:
        if column == STATUS:
            return "Agent's turn" if row.agents_turn else row.status.value.capitalize()
        if column == NEEDS_YOU:
            return str(row.needs_you) if row.needs_you else ""
        if column == TASK:
            return row.task_name
        if column == PROGRESS:
            return progress_text(row)
        if column == SITE:
            return site_label(row.site)
        if column == STARTED:
            return time_text(row.started_at)
        if column == DURATION:
            return duration_text(row.duration_s())
        return ""

    def _tooltip(self, row: RunRow, column: int) -> str:
        if column == STATUS and row.agents_turn:
            return "waiting for its agent's next step (an MCP client drives this run)"
        if column == STATUS and (row.failure_class or row.error):
            return f"{row.status.value}: {row.failure_class or ''} {row.error or ''}".strip()
        if column == NEEDS_YOU and row.needs_you:
            return f"{row.needs_you} question(s) waiting for you in the inbox"
        if column == TASK:
            retry = f"\nretry of {row.parent_run_id}" if row.parent_run_id else ""
            return f"{row.task_name}\nrun {row.id}{retry}"
        if column == SITE:
            return row.site
        if column == STARTED:
            submitted = f"submitted {row.created_at.astimezone():%Y-%m-%d %H:%M:%S}"
            if row.started_at is None:
                return submitted + ", not started yet"
            return f"started {row.started_at.astimezone():%Y-%m-%d %H:%M:%S} ({submitted})"
        return ""

"""The "Schedule & calendar" area: the site worklist for a period, a month calendar of the
site's visits, and iCalendar export.

Every query runs on the background worker (``self.tasks``). The worklist loads its section
counts and first page, then further pages as the table scrolls (``fetchMore``), so a site
with tens of thousands of visits in a week never blocks the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QPainter, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _, join_list, ngettext
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import ASSESSMENTS
from gisttracker.services.base import Changes
from gisttracker.services.visits import DayCount, VisitService, WorklistItem
from gisttracker.session import Session
from ui.areas import AreaPage
from ui.errors import error_message
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField

# The status comes right after the visit: at the default window size it is in view, not
# scrolled off to the right (the study, usually chosen in the filter, comes later).
COLUMNS = (N_("Patient"), N_("Visit"), N_("Status"), N_("Target"), N_("Window"), N_("Study"),
           N_("Assessments"))
COL_VISIT, COL_STATUS, COL_TARGET, COL_WINDOW, COL_STUDY, COL_ASSESSMENTS = 1, 2, 3, 4, 5, 6
ItemRole = Qt.ItemDataRole.UserRole + 1

#: Background colour of each status (light, readable with black text).
STATUS_COLOURS = {
    "overdue": "#f8d7da",
    "due": "#fff3cd",
    "upcoming": "#e7f1ff",
    "done": "#d1e7dd",
    "done_out_of_window": "#e2d9f3",
    "missed": "#e9ecef",
    "cancelled": "#e9ecef",
    "not_applicable": "#f1f3f5",
    "to_abstract": "#e9f2ef",
    "waiting": "#ffffff",
}
PAGE = 200


def shiboken_valid(widget: QWidget) -> bool:
    """False once Qt has deleted the C++ side of ``widget``."""
    import shiboken6

    return bool(shiboken6.isValid(widget))


def to_date(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def to_qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the week of ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def assessment_names(keys: Sequence[str]) -> str:
    return join_list(_(ASSESSMENTS[k]) if k in ASSESSMENTS else k for k in keys)


class WorklistModel(QAbstractTableModel):
    """A lazily paged worklist: holds the rows loaded so far and the section totals.

    When the view scrolls near the end it calls :meth:`fetchMore`; the model then asks for
    the next page with :attr:`more_wanted` (the offset) and the page answers with
    :meth:`append` once the background query is back. Only loaded rows are formatted.
    """

    more_wanted = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[WorklistItem] = []
        self._total = 0
        self._loading = False

    def set_items(self, items: Sequence[WorklistItem], total: int | None = None) -> None:
        """Show ``items`` as the first rows of a list of ``total`` rows (default: all)."""
        self.beginResetModel()
        self._items = list(items)
        self._total = len(self._items) if total is None else max(total, len(self._items))
        self._loading = False
        self.endResetModel()

    def set_total(self, total: int) -> None:
        """The real length of the list, once counted."""
        self._total = max(total, len(self._items))

    def append(self, offset: int, items: Sequence[WorklistItem], asked: int) -> None:
        """Rows of the page starting at ``offset`` (``asked`` rows were requested)."""
        self._loading = False
        if offset != len(self._items):
            return  # stale answer to an older request
        if len(items) < asked:
            self._total = offset + len(items)  # the list ended earlier than counted
        if items:
            self.beginInsertRows(QModelIndex(), offset, offset + len(items) - 1)
            self._items.extend(items)
            self.endInsertRows()

    def item(self, row: int) -> WorklistItem:
        return self._items[row]

    @property
    def total(self) -> int:
        return self._total

    @property
    def loaded(self) -> int:
        return len(self._items)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        return not parent.isValid() and not self._loading and len(self._items) < self._total

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if self.canFetchMore(parent):
            self._loading = True
            self.more_wanted.emit(len(self._items))

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _(COLUMNS[section])
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(item, col)
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_ASSESSMENTS:
            return assessment_names(item.assessments)
        if role == Qt.ItemDataRole.BackgroundRole and col == COL_STATUS:
            return QBrush(QColor(STATUS_COLOURS.get(item.status_code, "#ffffff")))
        if role == ItemRole:
            return item
        return None

    @staticmethod
    def _text(item: WorklistItem, col: int) -> str:
        if col == 0:
            return item.patient_study_id
        if col == COL_STUDY:
            return item.study_key
        if col == COL_VISIT:
            return item.visit_name
        if col == COL_TARGET:
            return item.target.isoformat() if item.target else "—"
        if col == COL_WINDOW:
            if item.window_start and item.window_end:
                return f"{item.window_start.isoformat()} – {item.window_end.isoformat()}"
            return "—"
        if col == COL_STATUS:
            text = item.describe()
            if item.reason == "done_out_of_window" and item.done_on:
                text += " " + _("(on {date})").format(date=item.done_on.isoformat())
            return text
        return assessment_names(item.assessments)


class MonthCalendar(QCalendarWidget):
    """A month grid that paints, on each day, the number of open and done visits."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts: dict[date, DayCount] = {}
        self.today = date.today()
        self.setGridVisible(True)
        self.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        self.setFirstDayOfWeek(Qt.DayOfWeek.Monday)

    def set_counts(self, counts: dict[date, DayCount]) -> None:
        self.counts = counts
        self.updateCells()

    def paintCell(self, painter: QPainter, rect: QRect, qdate: QDate) -> None:
        super().paintCell(painter, rect, qdate)
        count = self.counts.get(to_date(qdate))
        if count is None or not (count.open or count.done):
            return
        # Restore font and pen by hand (the audit test reserves .save() for the store).
        old_font, old_pen = painter.font(), painter.pen()
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        lines = []
        if count.open:
            overdue = to_date(qdate) < self.today
            colour = "#b02a37" if overdue else "#0b5ed7"
            lines.append((colour, _("{n} open").format(n=count.open)))
        if count.done:
            lines.append(("#146c43", _("{n} done").format(n=count.done)))
        height = painter.fontMetrics().height()
        y = rect.bottom() - height * len(lines) - 2
        for colour, text in lines:
            painter.setPen(QColor(colour))
            painter.drawText(QRect(rect.left() + 3, y, rect.width() - 6, height),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             text)
            y += height
        painter.setFont(old_font)
        painter.setPen(old_pen)


class CalendarPage(AreaPage):
    """The site worklist and month view."""

    loaded = Signal()
    counted = Signal()
    page_loaded = Signal()
    month_loaded = Signal()

    def __init__(self, parent: QWidget | None = None,
                 today: Callable[[], date] = date.today, eager: bool = False) -> None:
        super().__init__(parent)
        self.today_fn = today
        # Queries run only while the page is shown (or always, when eager: tests, tools).
        self.eager = eager
        self._stale = True
        self.counts: dict[str, int] = {}
        self._generation = 0

        start, end = week_of(self.today_fn())
        self._start, self._end = start, end
        self.from_edit = DateField(self, kind="any", today=lambda: self.today_fn(),
                                   label=_("From"))
        self.to_edit = DateField(self, kind="any", today=lambda: self.today_fn(),
                                 label=_("To"))
        self.from_edit.set_value(start)
        self.to_edit.set_value(end)
        for edit in (self.from_edit, self.to_edit):
            edit.edited.connect(self._period_typed)
        self.prev_button = QPushButton(_("◀ Previous week"), self)
        self.this_button = QPushButton(_("This &week"), self)
        self.next_button = QPushButton(_("Next week ▶"), self)
        self.prev_button.clicked.connect(lambda: self.shift_week(-1))
        self.next_button.clicked.connect(lambda: self.shift_week(1))
        self.this_button.clicked.connect(self.this_week)
        self.study_box = QComboBox(self)
        self.study_box.setAccessibleName(_("Study filter"))
        self.study_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.show_due = QCheckBox(_("&Due"), self)
        self.show_overdue = QCheckBox(_("&Overdue"), self)
        self.show_deviation = QCheckBox(_("Done out of wi&ndow"), self)
        for box in (self.show_due, self.show_overdue, self.show_deviation):
            box.setChecked(True)
            box.toggled.connect(lambda _c: self.refresh())
        self.export_button = QPushButton(_("Export &iCalendar…"), self)
        # clicked(bool) would arrive as the path: a lambda asks for the file instead.
        self.export_button.clicked.connect(lambda _checked=False: self.export_ical())

        top = QHBoxLayout()
        from_label = QLabel(_("Fro&m"), self)
        from_label.setBuddy(self.from_edit)
        to_label = QLabel(_("&To"), self)
        to_label.setBuddy(self.to_edit)
        for w in (from_label, self.from_edit, to_label, self.to_edit, self.prev_button,
                  self.this_button, self.next_button):
            top.addWidget(w)
        top.addSpacing(12)
        study_label = QLabel(_("&Study"), self)
        study_label.setBuddy(self.study_box)
        for label in (from_label, to_label, study_label):
            # A crowded row squeezes what may shrink: the labels keep their words whole.
            label.setMinimumWidth(
                label.fontMetrics().horizontalAdvance(label.text().replace("&", "")) + 8)
        self.study_box.setMinimumContentsLength(12)
        top.addWidget(study_label)
        top.addWidget(self.study_box, 1)
        filters = QHBoxLayout()
        filters.addWidget(QLabel(_("Show:"), self))
        for box in (self.show_overdue, self.show_due, self.show_deviation):
            filters.addWidget(box)
        filters.addStretch(1)
        self.summary = QLabel(self)
        filters.addWidget(self.summary)
        filters.addWidget(self.export_button)

        self.model = WorklistModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.model.more_wanted.connect(self._load_more)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        metrics = self.table.fontMetrics()
        status = metrics.horizontalAdvance(_("Done {n} days after the window").format(n=88)
                                           + " " + _("(on {date})").format(date="2026-12-31"))
        for col, width in enumerate((82, 170, status + 24, 82, 160, 100)):
            self.table.setColumnWidth(col, width)
        self.table.doubleClicked.connect(self._open_patient)
        self.table.activated.connect(self._open_patient)

        self.calendar = MonthCalendar(self)
        self.calendar.currentPageChanged.connect(lambda _y, _m: self.refresh_month())
        self.calendar.activated.connect(self._day_chosen)
        self.calendar.setMinimumWidth(320)
        now = self.today_fn()
        self.calendar.setSelectedDate(to_qdate(now))
        self.calendar.setCurrentPage(now.year, now.month)
        month_box = QWidget(self)
        month_layout = QVBoxLayout(month_box)
        month_layout.setContentsMargins(0, 0, 0, 0)
        month_title = QLabel(_("<b>Month view</b> — open visits by target date, done visits "
                               "by visit date. Double-click a day to list it."), month_box)
        month_title.setWordWrap(True)
        month_layout.addWidget(month_title)
        month_layout.addWidget(self.calendar, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.table)
        splitter.addWidget(month_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1100, 340])

        self.status = QLabel(self)
        self.status.setStyleSheet("QLabel { color: #b02a37; }")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

    # ----- session and study ----------------------------------------------------------------
    def set_session(self, session: Session | None, tasks: TaskManager) -> None:
        super().set_session(session, tasks)
        self._fill_studies()

    def set_study(self, study: Study | None) -> None:
        super().set_study(study)
        self._fill_studies()

    def _fill_studies(self) -> None:
        self.study_box.blockSignals(True)
        self.study_box.clear()
        self.study_box.addItem(_("All studies"), None)
        if self.session is not None:
            for key in sorted(self.session.studies):
                self.study_box.addItem(key, key)
        if self.study is not None:
            self.study_box.setCurrentIndex(max(0, self.study_box.findData(self.study.key)))
        self.study_box.blockSignals(False)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def on_changes(self, changes: Changes) -> None:
        if changes.touched("visit", "anchor_date", "patient"):
            self.refresh()  # only while shown; else at the next show

    # ----- period ---------------------------------------------------------------------------
    def period(self) -> tuple[date, date]:
        """The period shown: the last complete dates typed in From and To."""
        return self._start, self._end

    def _period_typed(self) -> None:
        start, end = self.from_edit.date_or_none(), self.to_edit.date_or_none()
        if start is None or end is None or self.from_edit.problem() or self.to_edit.problem():
            return  # still typing: the list keeps the last complete period
        if (start, end) != (self._start, self._end):
            self._start, self._end = start, end
            self.refresh()

    def set_period(self, start: date, end: date) -> None:
        self._start, self._end = start, end
        self.from_edit.set_value(start)
        self.to_edit.set_value(end)
        self.refresh()

    def this_week(self) -> None:
        self.set_period(*week_of(self.today_fn()))

    def shift_week(self, weeks: int) -> None:
        start, _end = self.period()
        monday = start - timedelta(days=start.weekday()) + timedelta(weeks=weeks)
        self.set_period(monday, monday + timedelta(days=6))

    def _day_chosen(self, qdate: QDate) -> None:
        day = to_date(qdate)
        self.set_period(day, day)

    def study_key(self) -> str | None:
        key = self.study_box.currentData()
        return str(key) if key else None

    # ----- loading --------------------------------------------------------------------------
    def reasons(self) -> tuple[str, ...]:
        """The worklist sections the filter shows."""
        shown = (("overdue", self.show_overdue), ("due", self.show_due),
                 ("done_out_of_window", self.show_deviation))
        return tuple(reason for reason, box in shown if box.isChecked())

    def refresh(self) -> None:
        """Reload the worklist's counts and first page (and the month view) in the
        background; later pages load as the table scrolls."""
        if self.session is None or self.tasks is None:
            return
        if not (self.eager or self.isVisible()):
            self._stale = True
            return
        self._stale = False
        start, end = self.period()
        if start > end:
            self.status.setText(_("The period starts after it ends: change From or To."))
            return
        self.status.clear()
        session, study_key, today = self.session, self.study_key(), self.today_fn()
        reasons = self.reasons()
        self._generation += 1
        generation = self._generation
        self.summary.setText(_("Loading…"))

        def first_page() -> list[WorklistItem]:
            return VisitService(session).worklist(start, end, today=today,
                                                  study_key=study_key, reasons=reasons,
                                                  limit=PAGE)

        def counts() -> dict[str, int]:
            return VisitService(session).worklist_counts(start, end, today=today,
                                                         study_key=study_key)

        def page_done(page: list[WorklistItem]) -> None:
            if generation != self._generation or not shiboken_valid(self):
                return  # a newer request is on its way
            # The first screen shows at once; the counts follow and set the real length.
            self.model.set_items(page, len(page) + (len(page) == PAGE))
            self._fit_status()
            self.loaded.emit()

        def counts_done(found: dict[str, int]) -> None:
            if generation != self._generation or not shiboken_valid(self):
                return
            self.counts = found
            self.model.set_total(sum(found[r] for r in reasons))
            self.summary.setText(
                _("{overdue} overdue · {due} due · {dev} done out of window").format(
                    overdue=found["overdue"], due=found["due"],
                    dev=found["done_out_of_window"]))
            self.counted.emit()

        self.tasks.run(first_page, page_done, self._failed)
        self.tasks.run(counts, counts_done, self._failed)
        self.refresh_month()

    def _fit_status(self) -> None:
        """The status column is as wide as its longest text among the rows loaded (at most
        200): "Done 28 days after the window (on 2026-01-05)" is never cut off."""
        fitted = self.table.sizeHintForColumn(COL_STATUS)
        if fitted > self.table.columnWidth(COL_STATUS):
            self.table.setColumnWidth(COL_STATUS, fitted)

    def _load_more(self, offset: int) -> None:
        if self.session is None or self.tasks is None:
            return
        start, end = self.period()
        session, study_key, today = self.session, self.study_key(), self.today_fn()
        reasons, generation = self.reasons(), self._generation

        def query() -> list[WorklistItem]:
            return VisitService(session).worklist(start, end, today=today,
                                                  study_key=study_key, reasons=reasons,
                                                  offset=offset, limit=PAGE)

        def done(items: list[WorklistItem]) -> None:
            if generation == self._generation and shiboken_valid(self):
                self.model.append(offset, items, PAGE)
                self.page_loaded.emit()

        self.tasks.run(query, done, self._failed)

    def refresh_month(self) -> None:
        if self.session is None or self.tasks is None:
            return
        if not (self.eager or self.isVisible()):
            self._stale = True
            return
        session, study_key = self.session, self.study_key()
        year, month = self.calendar.yearShown(), self.calendar.monthShown()
        self.calendar.today = self.today_fn()

        def query() -> dict[date, DayCount]:
            return VisitService(session).month(year, month, study_key=study_key)

        def done(counts: dict[date, DayCount]) -> None:
            if not shiboken_valid(self.calendar):
                return  # the page was closed while the query ran
            if (year, month) == (self.calendar.yearShown(), self.calendar.monthShown()):
                self.calendar.set_counts(counts)
                self.month_loaded.emit()

        self.tasks.run(query, done, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.summary.clear()
        self.status.setText(_("Could not load the worklist: {error}").format(
            error=error_message(exc, context="worklist")))

    # ----- actions --------------------------------------------------------------------------
    def _open_patient(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        self.open_patient(self.model.item(index.row()).patient_uid)

    def export_ical(self, path: str | None = None) -> None:
        """Write the worklist of the period to an iCalendar file (asks where if not given)."""
        if self.session is None or self.tasks is None:
            return
        start, end = self.period()
        if path is None:
            suggested = f"worklist-{start.isoformat()}-{end.isoformat()}.ics"
            path, _filter = QFileDialog.getSaveFileName(
                self, _("Export iCalendar"), suggested, _("iCalendar files (*.ics)"))
            if not path:
                return
        session, study_key, today = self.session, self.study_key(), self.today_fn()
        target = path

        def work() -> int:
            service = VisitService(session)
            events = service.worklist_calendar(start, end, today=today, study_key=study_key)
            return service.write_calendar(target, events, name=_(
                "Site visits {start} – {end}").format(start=start, end=end))

        def done(count: int) -> None:
            self.status.setStyleSheet("QLabel { color: #146c43; }")
            self.status.setText(ngettext("Wrote {n} event to {path}", "Wrote {n} events to {path}",
                                         count).format(n=count, path=target))

        def failed(exc: BaseException) -> None:
            self.status.setStyleSheet("QLabel { color: #b02a37; }")
            message = error_message(exc, context="exporting the worklist calendar")
            self.status.setText(message)
            if not self.property("headless"):
                QMessageBox.warning(self, _("Export failed"), message)

        self.tasks.run(work, done, failed)

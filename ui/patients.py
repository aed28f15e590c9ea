"""The Patients area: a lazy list of every patient, search, filters, and "New patient".

The table never holds all rows: :class:`PatientListModel` knows the row count and keeps
windows of :data:`WINDOW` rows, fetched on the background thread through
:meth:`PatientService.page` (sorting and filtering happen in SQL). Typing in the search box
starts a query 200 ms after the last key stroke; results that arrive for an older query
are dropped, so the window never waits for the database.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _, local, ngettext

# The list's own light module: the patient service behind it (screening, enrollment) is
# imported when a patient is registered or opened, not before the first screen.
from gisttracker.services.patient_list import STATUS_LABELS, PatientFilter, PatientList, PatientRow
from ui.areas import AreaPage
from ui.errors import error_message
from ui.tasks import TaskManager

if TYPE_CHECKING:
    from gisttracker.protocols import Study
    from gisttracker.services.base import Changes
    from gisttracker.session import Session

WINDOW = 200
MAX_WINDOWS = 40
COLUMNS: list[tuple[str, str]] = [
    ("patient", N_("Patient")), ("study", N_("Study")), ("arm", N_("Arm")),
    ("status", N_("Status")), ("enrolled_on", N_("Enrolled on")),
    ("randomization_number", N_("Randomization")),
]
UID_ROLE = Qt.ItemDataRole.UserRole + 1
ModelIndex = QModelIndex | QPersistentModelIndex


def _cell(row: PatientRow, key: str) -> str:
    if key == "patient":
        return row.patient
    if key == "study":
        return row.study_key
    if key == "arm":
        return row.arm_code or "—"
    if key == "status":
        return _(STATUS_LABELS.get(row.status, row.status))
    if key == "enrolled_on":
        return row.enrolled_on.isoformat() if row.enrolled_on else "—"
    return row.randomization_number or "—"


class PatientListModel(QAbstractTableModel):
    """Rows of the patient list, fetched lazily in windows on the background thread."""

    loaded = Signal(int)  # the row count of a finished (re)load
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service: PatientList | None = None
        self.tasks: TaskManager | None = None
        self.filter = PatientFilter()
        self.sort_key = "patient"
        self.descending = False
        self._count = 0
        self._windows: OrderedDict[int, list[PatientRow]] = OrderedDict()
        self._pending: set[int] = set()
        self._generation = 0
        self.reloading = False  # a count + first window is on its way
        self._reload_queued = False  # a reload waits for the event loop (see reload)

    # ----- querying ------------------------------------------------------------------------
    def set_source(self, service: PatientList | None, tasks: TaskManager) -> None:
        self.service = service
        self.tasks = tasks
        self.reload()

    def set_filter(self, flt: PatientFilter) -> None:
        if flt != self.filter:
            self.filter = flt
            self.reload()

    def reload(self) -> None:
        """Count and first window for the current filter and sort, in the background.

        Reloads asked for in one pass of the event loop make one query, for the filter and
        sort in force when it starts: opening a site sets the list's source, then its study,
        and the list of every study asked for first would be read only to be dropped (the
        worker reads one query at a time, so the first screen would wait for both).
        """
        self._generation += 1
        if self.service is None or self.tasks is None:
            self._reset(0, None)
            return
        self.reloading = True
        if not self._reload_queued:
            self._reload_queued = True
            QTimer.singleShot(0, self, self._start_reload)

    def _start_reload(self) -> None:
        self._reload_queued = False
        generation = self._generation
        service, tasks = self.service, self.tasks
        if service is None or tasks is None or not self.reloading:
            return  # the source went away meanwhile (reset already done)
        flt, key, desc = self.filter, self.sort_key, self.descending

        def query() -> tuple[int, list[PatientRow]]:
            return (service.count(flt),
                    service.page(flt, key, descending=desc, offset=0, limit=WINDOW))

        def done(result: tuple[int, list[PatientRow]]) -> None:
            if generation == self._generation:  # a newer query supersedes this one
                self._reset(*result)

        tasks.run(query, done, self._error)

    def _error(self, exc: BaseException) -> None:
        self.reloading = False
        self.failed.emit(error_message(exc, context="listing patients"))

    def _reset(self, count: int, first: list[PatientRow] | None) -> None:
        self.reloading = False
        self.beginResetModel()
        self._count = count
        self._windows.clear()
        self._pending.clear()
        if first is not None:
            self._windows[0] = first
        self.endResetModel()
        self.loaded.emit(count)

    def _fetch(self, window: int) -> None:
        if window in self._pending or self.service is None or self.tasks is None:
            return
        self._pending.add(window)
        generation = self._generation
        service, flt, key, desc = self.service, self.filter, self.sort_key, self.descending

        def done(rows: list[PatientRow]) -> None:
            if generation != self._generation:
                return
            self._pending.discard(window)
            self._windows[window] = rows
            while len(self._windows) > MAX_WINDOWS:
                self._windows.popitem(last=False)
            first = window * WINDOW
            last = min(self._count, first + len(rows)) - 1
            if last >= first:
                self.dataChanged.emit(self.index(first, 0),
                                      self.index(last, len(COLUMNS) - 1))

        self.tasks.run(lambda: service.page(flt, key, descending=desc, offset=window * WINDOW,
                                            limit=WINDOW), done, self._error)

    def row_at(self, row: int) -> PatientRow | None:
        """The row if its window is loaded (else None, and the window is requested)."""
        window = row // WINDOW
        rows = self._windows.get(window)
        if rows is None:
            self._fetch(window)
            return None
        self._windows.move_to_end(window)
        offset = row - window * WINDOW
        return rows[offset] if offset < len(rows) else None

    # ----- Qt model interface ----------------------------------------------------------------
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, UID_ROLE):
            return None
        row = self.row_at(index.row())
        if row is None:
            return "…" if role == Qt.ItemDataRole.DisplayRole else None
        if role == UID_ROLE:
            return row.uid
        return _cell(row, COLUMNS[index.column()][0])

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(COLUMNS)):
            return _(COLUMNS[section][1])
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        key = COLUMNS[column][0]
        desc = order == Qt.SortOrder.DescendingOrder
        if (key, desc) != (self.sort_key, self.descending):
            self.sort_key, self.descending = key, desc
            self.reload()


class PatientsPage(AreaPage):
    """Every patient of the site: search, filter by study, arm and status, open one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service: PatientList | None = None
        self.model = PatientListModel(self)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText(_("Search study id, record number, name or initials…"))
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(_("Search patients"))
        self.study_filter = QComboBox(self)
        self.arm_filter = QComboBox(self)
        self.status_filter = QComboBox(self)
        self.status_filter.addItem(_("Any status"), None)
        for key, label in STATUS_LABELS.items():
            self.status_filter.addItem(_(label), key)
        self.count_label = QLabel(self)
        self.new_button = QPushButton(_("&New patient…"), self)
        self.new_button.clicked.connect(self.new_patient)
        QShortcut(QKeySequence("Ctrl+Shift+N"), self, self.new_patient)
        QShortcut(QKeySequence("Ctrl+F"), self, self.search.setFocus)

        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # Fixed row heights and column widths: the view never measures 100,000 rows.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((110, 140, 80, 130, 100)):
            self.table.setColumnWidth(column, width)
        self.table.doubleClicked.connect(self._open_index)
        self.table.activated.connect(self._open_index)

        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(200)
        self.debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self.debounce.start())
        self.search.returnPressed.connect(self.apply_filter)
        self.study_filter.currentIndexChanged.connect(self._study_changed)
        self.arm_filter.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.status_filter.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.model.loaded.connect(self._loaded)
        self.model.failed.connect(self._failed)

        bar = QHBoxLayout()
        bar.addWidget(self.search, 3)
        bar.addWidget(self.study_filter, 2)
        bar.addWidget(self.arm_filter, 1)
        bar.addWidget(self.status_filter, 1)
        bar.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

    # ----- session and study ---------------------------------------------------------------
    def set_session(self, session: Session | None, tasks: TaskManager) -> None:
        super().set_session(session, tasks)
        self.service = PatientList(session) if session is not None else None
        self.study_filter.blockSignals(True)
        self.study_filter.clear()
        self.study_filter.addItem(_("All studies"), None)
        if session is not None:
            for s in sorted(session.studies.values(), key=lambda s: s.key):
                self.study_filter.addItem(s.key, s.key)
        self.study_filter.blockSignals(False)
        self._fill_arms()
        self.model.filter = self.current_filter()
        self.model.set_source(self.service, tasks)

    def on_changes(self, changes: Changes) -> None:
        # A write anywhere (this window, a patient window, another program) refreshes once.
        if changes.touched("patient", "patient_identity"):
            self.model.reload()

    def set_study(self, study: Study | None) -> None:
        super().set_study(study)
        if study is not None:
            index = self.study_filter.findData(study.key)
            if index >= 0:
                self.study_filter.setCurrentIndex(index)

    def _study_changed(self, _index: int) -> None:
        self._fill_arms()
        self.apply_filter()

    def _fill_arms(self) -> None:
        self.arm_filter.blockSignals(True)
        self.arm_filter.clear()
        self.arm_filter.addItem(_("Any arm"), None)
        key = self.study_filter.currentData()
        if self.session is not None:
            studies = [self.session.studies[key]] if key else list(self.session.studies.values())
            codes: dict[str, str] = {}
            for s in studies:
                for arm in s.arms:
                    codes.setdefault(arm.code, local(arm.name))
            for code, name in codes.items():
                self.arm_filter.addItem(f"{code} — {name}", code)
        self.arm_filter.blockSignals(False)

    # ----- filtering and opening -----------------------------------------------------------
    def current_filter(self) -> PatientFilter:
        return PatientFilter(text=self.search.text().strip(),
                             study_key=self.study_filter.currentData(),
                             arm_code=self.arm_filter.currentData(),
                             status=self.status_filter.currentData())

    def apply_filter(self) -> None:
        self.debounce.stop()
        flt = self.current_filter()
        if flt == self.model.filter:
            return
        self.count_label.setText(_("Searching…"))
        self.model.set_filter(replace(flt))

    def _loaded(self, count: int) -> None:
        self.count_label.setText(ngettext("{n} patient", "{n} patients", count).format(
            n=f"{count:,}"))
        self.data_shown.emit()

    def _failed(self, message: str) -> None:
        self.count_label.setText(_("The list could not be read: {error}").format(error=message))
        self.data_shown.emit()  # what there is to show (the reason) is shown

    def loading(self) -> bool:
        return self.model.reloading

    def _open_index(self, index: QModelIndex) -> None:
        uid = self.model.data(index, UID_ROLE)
        if uid:
            self.open_patient(uid)

    def new_patient(self) -> None:
        if self.session is None or self.tasks is None:
            return
        from ui.new_patient import NewPatientDialog

        dialog = NewPatientDialog(self.session, self.study, self.today_fn(), self, self.tasks)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.patient_uid:
            self.open_patient(dialog.patient_uid)


def __getattr__(name: str) -> Any:
    # The registration dialog lives in ui/new_patient.py, imported when "New patient" is
    # first used (its date field and checks are not part of the first screen); the old
    # import path still works.
    if name == "NewPatientDialog":
        from ui.new_patient import NewPatientDialog

        return NewPatientDialog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

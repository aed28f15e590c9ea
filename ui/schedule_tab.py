"""The patient window's "Schedule" tab: every visit with target, window, status and the day
it was done; anchor dates entered and corrected; visits marked done, missed or not
applicable; unscheduled visits; export of the patient's schedule to iCalendar.

All reads and writes go through :class:`VisitService` on the background worker. A refused
change (a date after today, a missing reason) is shown in the tab, and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _, local, ngettext
from gisttracker.protocols import Study
from gisttracker.services.base import Changes
from gisttracker.services.visits import AnchorChange, ScheduleRow, VisitService
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from ui.calendar import STATUS_COLOURS, assessment_names
from ui.errors import error_message
from ui.patient_view import PatientTabPage
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField, DateInputError, DateKind

COLUMNS = (N_("Visit"), N_("Anchor"), N_("Target"), N_("Window"), N_("Status"),
           N_("Done on"), N_("Note"), N_("Assessments"))


class DateReasonDialog(QDialog):
    """Asks for a date (optional), a name (optional) and a reason (optional or required)."""

    def __init__(self, title: str, parent: QWidget | None = None, *, day: date | None = None,
                 with_date: bool = True, with_name: bool = False, reason: str = "none",
                 prompt: str = "", kind: DateKind = "past",
                 today: Callable[[], date] = date.today,
                 bounds: dict[str, Any] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout(self)
        if prompt:
            label = QLabel(prompt, self)
            label.setWordWrap(True)
            form.addRow(label)
        self.name = QLineEdit(self)
        self.date = DateField(self, kind=kind, today=today, reference=lambda: day)
        self.date.set_bounds(**(bounds or {}))
        self.date.set_value(day)
        self.reason = QLineEdit(self)
        self.reason_required = reason == "required"
        self.with_date = with_date
        self.setMinimumWidth(420)
        # A field the dialog does not ask for is hidden: left unplaced it would sit over
        # the others (the blank box that hid the date being confirmed).
        if with_name:
            form.addRow(_("&Name"), self.name)
        else:
            self.name.hide()
        if with_date:
            form.addRow(_("&Date"), self.date)
        else:
            self.date.hide()
        if reason != "none":
            self.reason.setPlaceholderText(_("required") if self.reason_required
                                           else _("optional"))
            form.addRow(_("&Reason"), self.reason)
        else:
            self.reason.hide()
        self.error = QLabel(self)
        self.error.setStyleSheet("QLabel { color: #b02a37; }")
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _check(self) -> None:
        if self.with_date:
            try:
                self.date.value()
            except DateInputError as exc:
                self.error.setText(str(exc))
                self.date.setFocus()
                return
        if self.reason_required and not self.reason.text().strip():
            self.error.setText(_("Please give a reason."))
            self.reason.setFocus()
            return
        self.accept()

    def values(self) -> tuple[date, str, str]:
        day = self.date.date_or_none() if self.with_date else None
        return day or date.min, self.name.text().strip(), self.reason.text().strip()


class ScheduleTab(PatientTabPage):
    """One patient's schedule."""

    loaded = Signal()
    saved = Signal(object)

    def __init__(self, parent: QWidget | None = None,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__(parent)
        self.today_fn = today
        self.rows: list[ScheduleRow] = []
        self.study: Study | None = None
        self.anchor_dates: dict[str, date] = {}

        self.timing = QLabel(self)
        self.timing.setWordWrap(True)
        self.anchor_box = QGroupBox(_("Anchor dates"), self)
        self.anchor_grid = QGridLayout(self.anchor_box)
        self.anchor_labels: dict[str, QLabel] = {}

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([_(c) for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((220, 170, 90, 170, 180, 90, 220)):
            self.table.setColumnWidth(col, width)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.ask_done())

        self.done_button = QPushButton(_("Mark &done…"), self)
        self.missed_button = QPushButton(_("&Missed…"), self)
        self.na_button = QPushButton(_("&Not applicable…"), self)
        self.reopen_button = QPushButton(_("&Reopen…"), self)
        self.add_button = QPushButton(_("Add &unscheduled visit…"), self)
        self.remove_button = QPushButton(_("R&emove visit…"), self)
        self.remove_button.setToolTip(_("Remove an unscheduled visit added by mistake"))
        self.remove_button.clicked.connect(self.ask_remove_visit)
        self.export_button = QPushButton(_("Export &iCalendar…"), self)
        self.done_button.clicked.connect(self.ask_done)
        self.missed_button.clicked.connect(self.ask_missed)
        self.na_button.clicked.connect(self.ask_not_applicable)
        self.reopen_button.clicked.connect(self.ask_reopen)
        self.add_button.clicked.connect(self.ask_unscheduled)
        self.export_button.clicked.connect(lambda: self.export_ical())
        buttons = QHBoxLayout()
        for b in (self.done_button, self.missed_button, self.na_button, self.reopen_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.export_button)

        self.message = QLabel(self)
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.anchor_box)
        layout.addWidget(self.timing)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self._selection_changed()

    # ----- loading --------------------------------------------------------------------------
    def set_patient(self, session: Session, tasks: TaskManager, patient_uid: str) -> None:
        super().set_patient(session, tasks, patient_uid)
        self.refresh()

    def _service(self) -> VisitService:
        assert self.session is not None
        return VisitService(self.session)

    def on_changes(self, changes: Changes) -> None:
        if changes.touched("visit", "anchor_date", "patient"):
            self.request_reload()

    def reload(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        if self.session is None or self.tasks is None or self.patient_uid is None:
            return
        session, uid, today = self.session, self.patient_uid, self.today_fn()

        def query() -> tuple[Patient, list[ScheduleRow], dict[str, date], Any]:
            service = VisitService(session)
            patient = service.patient(uid)
            return (patient, service.schedule(uid, today=today), service.anchors(uid),
                    service.timing(uid))

        self.tasks.run(query, self._show, self._error)

    def _show(self, result: tuple[Patient, list[ScheduleRow], dict[str, date], Any]) -> None:
        if not self.alive():
            return
        patient, rows, anchors, timing = result
        assert self.session is not None
        self.study = self.session.studies.get(patient.study_key)
        self.rows = rows
        self.anchor_dates = anchors
        self._fill_anchors()
        problems = [t for t in timing if t.problem]
        if problems:
            self.timing.setStyleSheet("QLabel { color: #b02a37; font-weight: 600; }")
            self.timing.setText("\n".join(
                _("⚠ {rule}: {problem}").format(rule=local(t.rule.description), problem=t.message)
                for t in problems))
            self.timing.show()
        else:
            self.timing.hide()
        selected = self.selected_uid()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            window = (f"{row.window_start.isoformat()} – {row.window_end.isoformat()}"
                      if row.window_start and row.window_end else "—")
            # A reason from the catalogue (the demo's missed-visit reasons) in the language
            # shown; a reason someone typed stays as typed.
            note = _(row.reason) if row.reason else ""
            if row.status_code in ("done_out_of_window", "overdue"):
                note = row.describe() + (f" · {note}" if note else "")
            elif row.status_code == "waiting":
                note = row.describe()
            cells = (row.name + (" " + _("(unscheduled)") if row.unscheduled else ""),
                     row.anchor_label or "—",
                     row.target.isoformat() if row.target else _("waiting"), window,
                     row.status.label,
                     row.done_on.isoformat() if row.done_on else "",
                     note, assessment_names(row.assessments))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.uid)
                if c == 4:
                    item.setBackground(QBrush(QColor(STATUS_COLOURS.get(row.status_code,
                                                                        "#ffffff"))))
                if c == 7:
                    item.setToolTip(text)
                self.table.setItem(r, c, item)
            if row.uid == selected:
                self.table.selectRow(r)
        self._selection_changed()
        self.loaded.emit()

    def _fill_anchors(self) -> None:
        while self.anchor_grid.count():
            widget = self.anchor_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.anchor_labels = {}
        if self.study is None:
            return
        for r, anchor in enumerate(self.study.anchors):
            known = self.anchor_dates.get(anchor.key)
            name = QLabel(local(anchor.label), self.anchor_box)
            value = QLabel(known.isoformat() if known else _("not entered yet"),
                           self.anchor_box)
            if known is None:
                value.setStyleSheet("QLabel { color: #6c757d; font-style: italic; }")
            self.anchor_labels[anchor.key] = value
            self.anchor_grid.addWidget(name, r, 0)
            self.anchor_grid.addWidget(value, r, 1)
            if anchor.source == "entered" or known is not None:
                button = QPushButton(_("Correct…") if known else _("Enter…"), self.anchor_box)
                button.setToolTip(local(anchor.description))
                button.clicked.connect(lambda _c=False, k=anchor.key: self.ask_anchor(k))
                self.anchor_grid.addWidget(button, r, 2)
            if anchor.source == "entered" and known is not None:
                remove = QPushButton(_("Remove…"), self.anchor_box)
                remove.setToolTip(_("Remove a date entered by mistake: the visits counted "
                                    "from it wait for it again"))
                remove.clicked.connect(lambda _c=False, k=anchor.key: self.ask_clear_anchor(k))
                self.anchor_grid.addWidget(remove, r, 3)
        self.anchor_grid.setColumnStretch(1, 1)

    def _error(self, exc: BaseException) -> None:
        if not self.alive():
            return
        self.message.setStyleSheet("QLabel { color: #b02a37; }")
        self.message.setText(error_message(exc, context="changing the schedule"))

    def _ok(self, text: str) -> None:
        self.message.setStyleSheet("QLabel { color: #146c43; }")
        self.message.setText(text)

    # ----- selection ------------------------------------------------------------------------
    def selected_uid(self) -> str | None:
        items = self.table.selectedItems()
        return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def selected_row(self) -> ScheduleRow | None:
        uid = self.selected_uid()
        return next((r for r in self.rows if r.uid == uid), None)

    def select_visit(self, name: str) -> ScheduleRow:
        """Select the visit called ``name`` (tests, keyboard helpers)."""
        for r, row in enumerate(self.rows):
            if row.name == name:
                self.table.selectRow(r)
                return row
        raise KeyError(name)

    def _selection_changed(self) -> None:
        row = self.selected_row()
        for button in (self.done_button, self.missed_button, self.na_button):
            button.setEnabled(row is not None)
        self.reopen_button.setEnabled(row is not None and row.state != "planned")
        self.remove_button.setEnabled(row is not None and row.unscheduled)

    # ----- writes ---------------------------------------------------------------------------
    def _write(self, fn: Callable[[VisitService], Any], success: str) -> None:
        if self.session is None or self.tasks is None:
            return
        session = self.session

        def done(result: Any) -> None:
            text = success
            if isinstance(result, AnchorChange):
                n = len(result.moved)
                text += " " + ngettext("{n} planned visit moved.", "{n} planned visits moved.",
                                       n).format(n=n)
            if not self.alive():
                return
            self._ok(text)
            self.saved.emit(result)
            self.request_reload()

        self.tasks.run(lambda: fn(VisitService(session)), done, self._error)

    def set_anchor(self, key: str, day: date, reason: str | None = None) -> None:
        uid = self.patient_uid or ""
        today = self.today_fn()
        self._write(lambda s: s.set_anchor(uid, key, day, reason=reason or None, today=today),
                    _("Anchor date saved."))

    def mark_done(self, visit_uid: str, day: date, reason: str | None = None) -> None:
        today = self.today_fn()
        self._write(lambda s: s.mark_done(visit_uid, day, today=today, reason=reason or None),
                    _("Visit marked done."))

    def mark_missed(self, visit_uid: str, reason: str) -> None:
        today = self.today_fn()
        self._write(lambda s: s.mark_missed(visit_uid, reason, today=today),
                    _("Visit marked missed."))

    def mark_not_applicable(self, visit_uid: str, reason: str | None = None) -> None:
        today = self.today_fn()
        self._write(lambda s: s.mark_not_applicable(visit_uid, reason, today=today),
                    _("Visit marked not applicable."))

    def reopen(self, visit_uid: str, reason: str) -> None:
        today = self.today_fn()
        self._write(lambda s: s.reopen(visit_uid, reason, today=today), _("Visit reopened."))

    def add_unscheduled(self, name: str, day: date, reason: str | None = None) -> None:
        uid, today = self.patient_uid or "", self.today_fn()
        self._write(lambda s: s.add_unscheduled(uid, name, day, today=today,
                                                reason=reason or None),
                    _("Unscheduled visit added."))

    # ----- dialogs --------------------------------------------------------------------------
    def ask_anchor(self, key: str) -> None:
        if self.study is None:
            return
        anchor = self.study.anchor(key)
        known = self.anchor_dates.get(key)
        dialog = DateReasonDialog(
            _("Correct {anchor}").format(anchor=local(anchor.label)) if known
            else _("Enter {anchor}").format(anchor=local(anchor.label)),
            self, day=known or self.today_fn(), reason="required" if known else "none",
            kind="planned", today=self.today_fn,
            prompt=_("Planned visits counted from this date will move; visits already done "
                     "keep their dates.") if known else local(anchor.description))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            day, _name, reason = dialog.values()
            self.set_anchor(key, day, reason)

    def ask_clear_anchor(self, key: str) -> None:
        if self.study is None:
            return
        anchor = self.study.anchor(key)
        dialog = DateReasonDialog(_("Remove {anchor}").format(anchor=anchor.label), self,
                                  with_date=False, reason="required", prompt=_(
            "The visits counted from this date will wait for it again; visits already done "
            "keep their dates."))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            reason = dialog.values()[2]
            uid = self.patient_uid or ""
            self._write(lambda s: s.clear_anchor(uid, key, reason=reason),
                        _("Anchor date removed."))

    def ask_remove_visit(self) -> None:
        row = self.selected_row()
        if row is None or not row.unscheduled:
            return
        dialog = DateReasonDialog(_("{visit}: remove").format(visit=row.name), self,
                                  with_date=False, reason="required")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            reason, uid = dialog.values()[2], row.uid
            self._write(lambda s: s.delete_unscheduled(uid, reason=reason),
                        _("Visit removed."))

    def ask_done(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        settled = row.state != "planned"
        today = self.today_fn()
        default = row.done_on or (row.target if row.target and row.target <= today else today)
        # The day the patient was seen, checked against the visit's window before saving: an
        # offered date outside it is a deviation the nurse should see, not discover later.
        prompts = [_("This visit is already recorded; changing it needs a reason.")] \
            if settled else []
        if row.window_start is not None and row.window_end is not None:
            prompts.append(_("Its window: {start} to {end} (target {target}).").format(
                start=row.window_start.isoformat(), end=row.window_end.isoformat(),
                target=row.target.isoformat() if row.target else "—"))
        dialog = DateReasonDialog(_("{visit}: done on").format(visit=row.name), self,
                                  day=default, reason="required" if settled else "none",
                                  today=self.today_fn, prompt=" ".join(prompts))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            day, _name, reason = dialog.values()
            self.mark_done(row.uid, day, reason)

    def ask_missed(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        dialog = DateReasonDialog(_("{visit}: missed").format(visit=row.name), self,
                                  with_date=False, reason="required")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.mark_missed(row.uid, dialog.values()[2])

    def ask_not_applicable(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        dialog = DateReasonDialog(_("{visit}: not applicable").format(visit=row.name), self,
                                  with_date=False,
                                  reason="required" if row.state != "planned" else "optional")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.mark_not_applicable(row.uid, dialog.values()[2])

    def ask_reopen(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        dialog = DateReasonDialog(_("{visit}: reopen").format(visit=row.name), self,
                                  with_date=False, reason="required")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.reopen(row.uid, dialog.values()[2])

    def ask_unscheduled(self) -> None:
        dialog = DateReasonDialog(_("Add an unscheduled visit"), self, day=self.today_fn(),
                                  with_name=True, reason="optional", kind="planned",
                                  today=self.today_fn)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            day, name, reason = dialog.values()
            self.add_unscheduled(name, day, reason)

    def export_ical(self, path: str | None = None) -> None:
        """Write this patient's schedule to an iCalendar file (asks where if not given)."""
        if self.session is None or self.tasks is None or self.patient_uid is None:
            return
        if path is None:
            path, _filter = QFileDialog.getSaveFileName(
                self, _("Export iCalendar"), "schedule.ics", _("iCalendar files (*.ics)"))
            if not path:
                return
        session, uid, today, target = self.session, self.patient_uid, self.today_fn(), path

        def work() -> int:
            service = VisitService(session)
            patient = service.patient(uid)
            return service.write_calendar(target, service.patient_calendar(uid, today=today),
                                          name=_("{patient} visits").format(
                                              patient=patient.study_id))

        self.tasks.run(work, lambda n: self._ok(ngettext(
            "Wrote {n} event to {path}", "Wrote {n} events to {path}", n).format(
            n=n, path=target)), self._error)

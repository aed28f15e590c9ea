"""The "Visits and forms" tab: each visit with its planned forms and their states.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.forms import spec_for
from gisttracker.i18n import _
from gisttracker.services.base import Changes
from gisttracker.services.forms import (
    NOT_DONE_REASONS,
    FormData,
    FormService,
    VisitForms,
    state_label,
)
from gisttracker.session import Session
from ui.errors import error_message
from ui.patient_view import PatientTabPage
from ui.tasks import TaskManager
from ui.visit_forms.adverse_events import AdverseEventsDialog
from ui.visit_forms.common import (
    ERROR_STYLE,
    STATE_COLOURS,
    VISIT_STATES,
    FormDialogBase,
    form_versions,
)
from ui.visit_forms.item_form import FormEditorDialog
from ui.visit_forms.labs import LabsDialog
from ui.visit_forms.visit_date import settle_with_visit_date


class VisitFormsTab(PatientTabPage):
    """Visits of the patient (left) and the forms of the chosen visit (right)."""

    def __init__(self, parent: QWidget | None = None,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__(parent)
        self.today_fn = today
        self.visit_rows: list[VisitForms] = []
        self.dialog: FormDialogBase | None = None
        self.visits = QTableWidget(0, 4, self)
        self.visits.setHorizontalHeaderLabels([_("Visit"), _("Planned"), _("State"),
                                               _("Forms")])
        self.forms = QTableWidget(0, 3, self)
        self.forms.setHorizontalHeaderLabels([_("Form"), _("State"), _("Note")])
        self.forms.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch)
        for table in (self.visits, self.forms):
            table.verticalHeader().setDefaultSectionSize(26)
            table.verticalHeader().hide()
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.visits.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.visits.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.forms.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents)
        self.visits.currentCellChanged.connect(lambda r, *_a: self.show_visit(r))
        self.forms.doubleClicked.connect(lambda _i: self.open_form())
        QShortcut(QKeySequence(Qt.Key.Key_Return), self.forms, activated=self.open_form,
                  context=Qt.ShortcutContext.WidgetShortcut)
        self.visit_title = QLabel(self)
        self.open_button = QPushButton(_("&Open form"), self)
        self.open_button.clicked.connect(lambda: self.open_form())
        self.not_done_button = QPushButton(_("Not done…"), self)
        self.not_done_button.clicked.connect(lambda: self.form_not_done())
        self.message = QLabel(self)
        self.message.setWordWrap(True)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.visit_title)
        # The visit's signature and source verification (issue 13).
        from ui.signing import ReviewPanel

        self.review = ReviewPanel(right)
        self.review.changed.connect(self.reload)
        right_layout.addWidget(self.review)
        right_layout.addWidget(self.forms, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.not_done_button)
        buttons.addWidget(self.open_button)
        right_layout.addLayout(buttons)
        splitter = QSplitter(self)
        splitter.addWidget(self.visits)
        splitter.addWidget(right)
        splitter.setSizes([420, 560])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def set_patient(self, session: Session, tasks: TaskManager, patient_uid: str) -> None:
        super().set_patient(session, tasks, patient_uid)
        self.reload()

    def service(self) -> FormService:
        assert self.session is not None
        return FormService(self.session)

    def on_changes(self, changes: Changes) -> None:
        if changes.touched("visit", "form", "form_value", "lab_result", "adverse_event",
                           "anchor_date"):
            self.request_reload()

    def reload(self) -> None:
        if self.tasks is None or self.patient_uid is None:
            return
        patient = self.patient_uid

        def done(rows: list[VisitForms]) -> None:
            if shiboken6.isValid(self):  # the patient window may have closed meanwhile
                self.show_visits(rows)

        self.tasks.run(lambda: self.service().visits(patient), done, self.failed)

    def failed(self, error: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(error_message(error, context="visits and forms tab"))

    def show_visits(self, rows: list[VisitForms]) -> None:
        current = self.current_visit()
        keep = current.visit_uid if current else None
        self.visit_rows = rows
        self.visits.setRowCount(len(rows))
        select = 0
        for r, v in enumerate(rows):
            settled = sum(1 for f in v.forms if f.planned and f.settled)
            planned = sum(1 for f in v.forms if f.planned)
            name = QTableWidgetItem(v.name)
            if v.state == "done":
                name.setForeground(QColor(STATE_COLOURS["complete"]))
            self.visits.setItem(r, 0, name)
            self.visits.setItem(r, 1, QTableWidgetItem(
                v.planned_on.isoformat() if v.planned_on else "—"))
            self.visits.setItem(r, 2, QTableWidgetItem(_(VISIT_STATES.get(v.state, v.state))))
            self.visits.setItem(r, 3, QTableWidgetItem(f"{settled}/{planned}"))
            if v.visit_uid == keep:
                select = r
        if rows:
            self.visits.selectRow(select)
            self.show_visit(select)

    def current_visit(self) -> VisitForms | None:
        r = self.visits.currentRow()
        return self.visit_rows[r] if 0 <= r < len(self.visit_rows) else None

    def show_visit(self, r: int) -> None:
        if not 0 <= r < len(self.visit_rows):
            return
        visit = self.visit_rows[r]
        state = _("done on {date}").format(date=visit.done_on.isoformat()) if visit.done_on \
            else _(VISIT_STATES.get(visit.state, visit.state))
        self.visit_title.setText(f"<b>{visit.name}</b> — {state}")
        if self.session is not None and self.tasks is not None:
            self.review.show_target(self.session, self.tasks, "visit", visit.visit_uid,
                                    _("the visit {name}").format(name=visit.name))
        keep = self.forms.currentRow()
        self.forms.setRowCount(len(visit.forms))
        for i, form in enumerate(visit.forms):
            self.forms.setItem(i, 0, QTableWidgetItem(_(form.title)))
            state_item = QTableWidgetItem(state_label(form.state))
            state_item.setForeground(QColor(STATE_COLOURS.get(form.state, "#000")))
            self.forms.setItem(i, 1, state_item)
            note = form.not_done_reason or (
                _("by {who}").format(who=form.completed_by) if form.state == "complete"
                and form.completed_by else "")
            if not form.planned:
                note = (note + " " + _("(not planned at this visit)")).strip()
            self.forms.setItem(i, 2, QTableWidgetItem(note))
        self.forms.selectRow(max(0, min(keep, len(visit.forms) - 1)))

    def current_kind(self) -> str | None:
        visit = self.current_visit()
        r = self.forms.currentRow()
        if visit is None or not 0 <= r < len(visit.forms):
            return None
        return visit.forms[r].kind

    def open_form(self, kind: str | None = None) -> None:
        """Load the chosen form and open its editor."""
        visit = self.current_visit()
        kind = kind or self.current_kind()
        if visit is None or kind is None or self.tasks is None:
            return
        visit_uid, patient = visit.visit_uid, self.patient_uid or ""
        spec = spec_for(kind)

        session = self.session
        assert session is not None

        def load() -> tuple[dict[str, int], FormData, Any]:
            service = self.service()
            # The versions first (issue 13; see form_versions): the dialog sends them.
            versions = form_versions(session, visit_uid, kind)
            data = service.load(visit_uid, kind)
            if spec.editor == "labs":
                analytes = service.analytes(visit_uid)
                return versions, data, (service.labs(visit_uid), {
                    a.key: service.baseline(visit_uid, a.key) for a in analytes}, analytes)
            if spec.editor == "adverse_events":
                return versions, data, service.adverse_events(patient)
            return versions, data, None

        self.tasks.run(load, self._open_loaded, self.failed)

    def _open_loaded(self, result: tuple[dict[str, int], FormData, Any]) -> None:
        versions, data, extra = result
        assert self.session is not None and self.tasks is not None
        spec = spec_for(data.kind)
        dialog: FormDialogBase
        if spec.editor == "labs":
            labs, baselines, analytes = extra
            dialog = LabsDialog(self.session, self.tasks, data, self.today_fn(), labs, baselines,
                                analytes=analytes,
                                parent=self)
        elif spec.editor == "adverse_events":
            dialog = AdverseEventsDialog(self.session, self.tasks, data, self.today_fn(), extra,
                                         parent=self)
        else:
            dialog = FormEditorDialog(self.session, self.tasks, data, self.today_fn(), parent=self)
        dialog.hold_versions(versions)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.changed.connect(self.request_reload)
        self.dialog = dialog
        dialog.show()

    def ask_not_done_reason(self) -> str | None:
        reasons = [_(r) for r in NOT_DONE_REASONS]
        text, ok = QInputDialog.getItem(self, _("Form not done"),
                                        _("Why was this form not done?"), reasons, 0, True)
        return text.strip() if ok and text.strip() else None

    def form_not_done(self) -> None:
        visit = self.current_visit()
        kind = self.current_kind()
        if visit is None or kind is None or self.tasks is None:
            return
        reason = self.ask_not_done_reason()
        if reason is None:
            return
        visit_uid, today = visit.visit_uid, self.today_fn()
        tasks, service = self.tasks, self.service()

        def go(visit_date: date | None) -> None:
            tasks.run(lambda: service.mark_not_done(visit_uid, kind, reason, today=today,
                                                    visit_date=visit_date),
                      lambda _d: self.reload(), self.failed)

        assert self.session is not None
        settle_with_visit_date(self, self.session, tasks, visit_uid, kind, today, go,
                               lambda: None, self.failed)

    def maybe_close(self) -> bool:
        if self.dialog is not None and self.dialog.isVisible():
            return self.dialog.may_close()
        return True

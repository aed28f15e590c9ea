"""Adverse events of a visit: the list and the editor of one event.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.grading import ctcae
from gisttracker.i18n import _
from gisttracker.services.forms import (
    AE_ACTIONS,
    AE_DRUGS,
    AE_OUTCOMES,
    AE_RELATIONS,
    AdverseEventInput,
    AdverseEventRow,
    FormData,
    FormInputError,
    FormService,
)
from gisttracker.session import Session
from ui.errors import error_message
from ui.tasks import TaskManager
from ui.visit_forms.common import ERROR_STYLE
from ui.visit_forms.item_form import FormEditorDialog
from ui.widgets.date_field import DateField, DateInputError
from ui.widgets.wheel import guard_wheel


class AdverseEventDialog(QDialog):
    """Enter or correct one adverse event; messages appear beside the fields."""

    saved = Signal(object)

    def __init__(self, session: Session, tasks: TaskManager, patient_uid: str,
                 data: AdverseEventInput, today: date, uid: str | None = None,
                 needs_reason: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.tasks, self.patient_uid = session, tasks, patient_uid
        self.data, self.today, self.uid = data, today, uid
        self.needs_reason = needs_reason
        self.setWindowTitle(_("Adverse event"))
        self.term = QComboBox(self)
        self.term.setEditable(True)
        for key, label in ctcae.TERMS.items():
            self.term.addItem(_(label), key)
        if data.term in ctcae.TERMS:
            self.term.setCurrentIndex(list(ctcae.TERMS).index(data.term))
        else:
            self.term.setEditText(data.term)
        self.grade = guard_wheel(QSpinBox(self))
        self.grade.setRange(1, 5)
        self.grade.setValue(data.grade if 1 <= data.grade <= 5 else 1)
        self.onset = DateField(self, today=lambda: self.today, inline_message=False)
        self.onset.set_value(data.onset if data.onset != date.min else None)
        self.resolved = DateField(self, optional=True, today=lambda: self.today,
                                  inline_message=False)
        self.resolved.set_value(data.resolved_on)
        self.serious = QCheckBox(_("Serious adverse event"), self)
        self.serious.setChecked(data.serious)
        self.drug = self._combo(AE_DRUGS, data.drug)
        self.relation = self._combo(AE_RELATIONS, data.relation)
        self.action = self._combo(AE_ACTIONS, data.action)
        self.outcome = self._combo(AE_OUTCOMES, data.outcome)
        self.notes = QLineEdit(data.notes or "", self)
        self.messages: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label, widget in (
                ("term", _("CTCAE term"), self.term), ("grade", _("Grade"), self.grade),
                ("onset", _("Onset"), self.onset), ("resolved_on", _("Resolved on"),
                                                     self.resolved),
                ("serious", "", self.serious), ("drug", _("Drug"), self.drug),
                ("relation", _("Relation to the drug"), self.relation),
                ("action", _("Action taken with the drug"), self.action),
                ("outcome", _("Outcome"), self.outcome), ("notes", _("Notes"), self.notes)):
            message = QLabel(self)
            message.setStyleSheet(ERROR_STYLE)
            self.messages[key] = message
            if isinstance(widget, DateField):
                widget.problem_changed.connect(message.setText)
            row = QHBoxLayout()
            row.addWidget(widget, 1)
            row.addWidget(message)
            form.addRow(label, row)
        self.status = QLabel(self)
        self.status.setStyleSheet(ERROR_STYLE)
        ok = QPushButton(_("Save"), self)
        ok.setDefault(True)
        ok.clicked.connect(self.accept_input)
        cancel = QPushButton(_("Cancel"), self)
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(ok)
        buttons.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    def _combo(self, options: tuple[tuple[str, str], ...], current: str | None) -> QComboBox:
        combo = QComboBox(self)
        combo.addItem("", None)
        for key, label in options:
            combo.addItem(_(label), key)
        index = combo.findData(current) if current else 0
        combo.setCurrentIndex(max(index, 0))
        return combo

    def collect(self) -> AdverseEventInput | None:
        for message in self.messages.values():
            message.setText("")
        text = self.term.currentText().strip()
        index = self.term.findText(text)
        term = self.term.itemData(index) if index >= 0 else text
        dates: dict[str, date | None] = {}
        for key, field in (("onset", self.onset), ("resolved_on", self.resolved)):
            try:
                dates[key] = field.value()
            except DateInputError:
                self.messages[key].setText(field.problem() or "")
                return None
        if dates["onset"] is None:
            self.messages["onset"].setText(_("enter the onset date"))
            return None
        return AdverseEventInput(
            term=term, grade=self.grade.value(), onset=dates["onset"],
            resolved_on=dates["resolved_on"], serious=self.serious.isChecked(),
            drug=self.drug.currentData(), relation=self.relation.currentData(),
            action=self.action.currentData(), outcome=self.outcome.currentData(),
            notes=self.notes.text(), visit_uid=self.data.visit_uid,
            lab_result_uid=self.data.lab_result_uid)

    def accept_input(self) -> None:
        data = self.collect()
        if data is None:
            return
        reason = None
        if self.needs_reason:
            text, ok = QInputDialog.getText(self, _("Reason for change"),
                                            _("Why is this adverse event changed?"))
            if not (ok and text.strip()):
                return
            reason = text.strip()
        patient, uid, today = self.patient_uid, self.uid, self.today
        self.tasks.run(lambda: FormService(self.session).save_adverse_event(
            patient, data, today=today, uid=uid, reason=reason), self._saved, self._failed)

    def _saved(self, row: AdverseEventRow) -> None:
        self.saved.emit(row)
        self.accept()

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, FormInputError):
            for key, message in error.errors.items():
                if key in self.messages:
                    self.messages[key].setText(message)
        self.status.setText(error_message(error, context="saving an adverse event"))


class AdverseEventsDialog(FormEditorDialog):
    """The adverse-event form: its question, and the patient's adverse events."""

    def __init__(self, session: Session, tasks: TaskManager, data: FormData, today: date,
                 events: list[AdverseEventRow], parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, data, today, parent)
        self.events = events
        self.table = QTableWidget(0, 6, self)
        self.table.setHorizontalHeaderLabels([_("Term"), _("Grade"), _("Onset"),
                                              _("Resolved"), _("Serious"), _("Outcome")])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _i: self.edit_event())
        add = QPushButton(_("&Add adverse event…"), self)
        add.clicked.connect(lambda: self.edit_event(new=True))
        edit = QPushButton(_("&Edit…"), self)
        edit.clicked.connect(lambda: self.edit_event())
        delete = self.delete_button = QPushButton(_("De&lete…"), self)
        delete.clicked.connect(lambda: self.delete_event())
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>" + _("Adverse events of this patient") + "</b>", self), 1)
        row.addWidget(add)
        row.addWidget(edit)
        row.addWidget(delete)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertLayout(1, row)
        layout.insertWidget(2, self.table, 2)
        self.scroll.setMaximumHeight(70)
        self.fill()
        self.resize(860, 560)

    def fill(self) -> None:
        self.table.setRowCount(len(self.events))
        for r, ev in enumerate(self.events):
            outcome = dict(AE_OUTCOMES).get(ev.outcome or "", "")
            for c, text in enumerate((ev.term_label, str(ev.grade), ev.onset.isoformat(),
                                      ev.resolved_on.isoformat() if ev.resolved_on else "",
                                      _("yes") if ev.serious else "", _(outcome) if outcome
                                      else "")):
                self.table.setItem(r, c, QTableWidgetItem(text))

    def edit_event(self, new: bool = False) -> None:
        row = self.table.currentRow()
        if new or row < 0:
            data = AdverseEventInput(term="", grade=1, onset=self.today,
                                     visit_uid=self.data.visit_uid)
            uid = None
            locked = False
        else:
            ev = self.events[row]
            data = AdverseEventInput(
                term=ev.term, grade=ev.grade, onset=ev.onset, resolved_on=ev.resolved_on,
                serious=ev.serious, drug=ev.drug, relation=ev.relation, action=ev.action,
                outcome=ev.outcome, notes=ev.notes, visit_uid=ev.visit_uid,
                lab_result_uid=ev.lab_result_uid)
            uid = ev.uid
            locked = ev.visit_uid == self.data.visit_uid and self.data.state == "complete"
        dialog = AdverseEventDialog(self.session, self.tasks, self.data.patient_uid, data,
                                    self.today, uid=uid, needs_reason=locked, parent=self)
        dialog.saved.connect(lambda _r: self.reload_events())
        dialog.open()

    def ask_delete_reason(self) -> str | None:
        """Why the adverse event is deleted; None when the user cancels."""
        text, ok = QInputDialog.getText(self, _("Delete adverse event"),
                                        _("Why is this adverse event deleted?"))
        return text.strip() if ok and text.strip() else None

    def delete_event(self) -> None:
        """Delete the selected adverse event (recorded by mistake), with a reason."""
        row = self.table.currentRow()
        if not 0 <= row < len(self.events):
            self.set_status(_("Select an adverse event first."), error=True)
            return
        reason = self.ask_delete_reason()
        if reason is None:
            return
        uid = self.events[row].uid
        self.run(lambda: self.service().delete_adverse_event(uid, reason),
                 lambda _r: self.reload_events())

    def reload_events(self) -> None:
        patient = self.data.patient_uid

        def done(events: list[AdverseEventRow]) -> None:
            self.events = events
            self.fill()
            self.changed.emit()

        self.tasks.run(lambda: self.service().adverse_events(patient), done, self.failed)


# --------------------------------------------------------------------------------------
# The tab



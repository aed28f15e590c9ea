"""The laboratory-values editor of a visit: unit, reference range, protocol unit, CTCAE
grade, and the offer to record an adverse event for a grade of 3 or more.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gisttracker.errors import InputError
from gisttracker.forms import labs as lab_rules
from gisttracker.forms import spec_for
from gisttracker.i18n import N_, _
from gisttracker.services.forms import (
    FormData,
    LabRow,
)
from gisttracker.session import Session
from ui.tasks import TaskManager
from ui.visit_forms.adverse_events import AdverseEventDialog
from ui.visit_forms.common import GRADE_COLOURS, MUTED_STYLE, FormDialogBase, _number
from ui.widgets.date_field import DateField, DateInputError
from ui.widgets.wheel import guard_wheels


class LabRowWidgets:
    """The widgets of one analyte's row: value, unit, range, and what is computed from them."""

    def __init__(self, name: QLabel, value: QLineEdit, unit: QComboBox, lln: QLineEdit,
                 uln: QLineEdit, converted: QLabel, grade: QLabel, ae: QLabel) -> None:
        self.name, self.value, self.unit, self.lln, self.uln = name, value, unit, lln, uln
        self.converted, self.grade, self.ae = converted, grade, ae


class LabsDialog(FormDialogBase):
    """The visit's laboratory values: one row per analyte, graded as they are typed.

    Tab moves along a row in column order — value, unit, LLN, ULN — then to the next row's
    value, so a lab report is typed line by line without the mouse.
    """

    COLUMNS = (N_("Analyte"), N_("Value"), N_("Unit"), N_("LLN"), N_("ULN"),
               N_("Protocol unit"), N_("CTCAE grade"), N_("Adverse event"))

    def __init__(self, session: Session, tasks: TaskManager, data: FormData, today: date,
                 labs: list[LabRow], baselines: dict[str, float | None],
                 parent: QWidget | None = None,
                 analytes: list[lab_rules.Analyte] | None = None) -> None:
        super().__init__(session, tasks, data, spec_for("labs"), today, parent)
        self.labs = {row.analyte: row for row in labs}
        self.baselines = baselines
        self.analytes = analytes or list(lab_rules.ANALYTES.values())
        self.sample_date = DateField(self, today=lambda: self.today, label=_("Sample date"))
        first = next((r.sampled_on for r in labs if r.sampled_on), None)
        self.sample_date.set_value(first or today)
        self.sample_date.edited.connect(self.mark_dirty)
        host = QWidget(self)
        grid = QGridLayout(host)
        grid.setHorizontalSpacing(8)
        for c, title in enumerate(self.COLUMNS):
            grid.addWidget(QLabel(f"<b>{_(title)}</b>", host), 0, c)
        self.rows: list[LabRowWidgets] = []
        self.units: list[QComboBox] = []
        self.ae_buttons: dict[int, QPushButton] = {}
        self.messages: dict[str, str] = {}
        self._loading = True
        order: list[QWidget] = [self.sample_date.edit]
        for r, an in enumerate(self.analytes):
            stored = self.labs.get(an.key)
            edits = []
            for value in ((stored.value if stored else None), (stored.lln if stored else None),
                          (stored.uln if stored else None)):
                edit = QLineEdit("" if value is None else f"{value:g}", host)
                edit.setMaximumWidth(90)
                edit.textEdited.connect(lambda _t, row=r: self.row_changed(row))
                edits.append(edit)
            combo = QComboBox(host)
            combo.addItems(list(an.units))
            if stored:
                combo.setCurrentText(stored.unit)
            combo.currentIndexChanged.connect(lambda _i, row=r: self.row_changed(row))
            widgets = LabRowWidgets(QLabel(_(an.label), host), edits[0], combo, edits[1],
                                    edits[2], QLabel(host), QLabel(host), QLabel(host))
            widgets.value.setAccessibleName(_(an.label))
            for c, widget in enumerate((widgets.name, widgets.value, widgets.unit, widgets.lln,
                                        widgets.uln, widgets.converted, widgets.grade,
                                        widgets.ae), start=0):
                grid.addWidget(widget, r + 1, c)
            self.rows.append(widgets)
            self.units.append(combo)
            order += [widgets.value, widgets.unit, widgets.lln, widgets.uln]
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(7, 1)
        grid.setRowStretch(len(self.analytes) + 1, 1)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(host)
        self._loading = False
        for r in range(len(self.analytes)):
            self.row_changed(r, initial=True)

        top = QFormLayout()
        top.addRow(_("Sample date"), self.sample_date)
        layout = QVBoxLayout(self)
        if self.spec.note:
            note = QLabel(_(self.spec.note), self)
            note.setStyleSheet(MUTED_STYLE)
            layout.addWidget(note)
        layout.addLayout(top)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.status)
        layout.addLayout(self.button_row())
        order += [self.save_button, self.complete_button]
        for before, after in itertools.pairwise(order):
            QWidget.setTabOrder(before, after)
        self.show_state()
        self.resize(1040, 520)
        guard_wheels(self)  # the wheel scrolls the form, never a field under the pointer

    def mark_dirty(self) -> None:
        self.dirty = True
        self.show_state()

    def _entry(self, r: int) -> tuple[float | None, str, float | None, float | None]:
        row = self.rows[r]
        return (_number(row.value.text()), row.unit.currentText(), _number(row.lln.text()),
                _number(row.uln.text()))

    def row_changed(self, r: int, initial: bool = False) -> None:
        """Recompute the converted value, the grade and the AE suggestion of row ``r``."""
        if self._loading:
            return
        an = self.analytes[r]
        row = self.rows[r]
        self.show_ae_button(r, None)
        row.grade.setStyleSheet("")
        try:
            try:
                value, unit, lln, uln = self._entry(r)
            except ValueError:
                self._row_message(r, _("enter numbers"))
                return
            if value is None:
                row.converted.setText("")
                row.grade.setText("")
                self.messages.pop(an.key, None)
                return
            try:
                graded = lab_rules.grade_lab(an, value, unit, lln=lln, uln=uln,
                                             baseline=self.baselines.get(an.key))
            except InputError as exc:
                self._row_message(r, str(exc))
                return
            self.messages.pop(an.key, None)
            row.converted.setText(f"{graded.value:.4g} {graded.unit}")
            row.grade.setToolTip("")
            if an.term is None:
                row.grade.setText(_("no CTCAE grade"))
                row.grade.setToolTip(_("an analyte this protocol adds; CTCAE does not grade it"))
            elif graded.grade is None:
                row.grade.setText(_("undecided"))
                row.grade.setToolTip(_("give the reference range to grade this value"))
            else:
                row.grade.setText(_("Grade {n}").format(n=graded.grade))
                row.grade.setStyleSheet(
                    f"QLabel {{ color: {GRADE_COLOURS.get(graded.grade, '#000')}; }}")
            stored = self.labs.get(an.key)
            if graded.suggests_adverse_event:
                recorded = stored is not None and stored.adverse_event_uid is not None
                self.show_ae_button(r, recorded)
        finally:
            if not initial:
                self.mark_dirty()
            self.set_status("\n".join(self.messages.values()), error=bool(self.messages))

    def show_ae_button(self, r: int, recorded: bool | None) -> None:
        """The suggestion in the AE column: None (no suggestion), a button to record the
        adverse event, or a note that one is recorded."""
        row = self.rows[r]
        if r in self.ae_buttons:
            self.ae_buttons.pop(r).deleteLater()
        row.ae.setText(_("adverse event recorded") if recorded else "")
        row.ae.setVisible(True)
        if recorded is False:
            button = QPushButton(_("Record adverse event…"), row.ae.parentWidget())
            button.setToolTip(_("Grade 3 or higher: an adverse event is suggested"))
            button.setAutoDefault(False)
            button.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # not in the typing path
            button.clicked.connect(lambda _c=False, row=r: self.record_ae(row))
            layout = row.ae.parentWidget().layout()
            assert isinstance(layout, QGridLayout)
            layout.addWidget(button, r + 1, 7)
            row.ae.setVisible(False)
            self.ae_buttons[r] = button

    def _row_message(self, r: int, message: str) -> None:
        an = self.analytes[r]
        row = self.rows[r]
        self.messages[an.key] = f"{_(an.label)}: {message}"
        row.grade.setText(_("check"))
        row.grade.setToolTip(message)
        row.converted.setText("")

    def grade_text(self, analyte: str) -> str:
        r = [a.key for a in self.analytes].index(analyte)
        return self.rows[r].grade.text()

    def ae_text(self, analyte: str) -> str:
        r = [a.key for a in self.analytes].index(analyte)
        return self.rows[r].ae.text()

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, message in errors.items():
            keys = [a.key for a in self.analytes]
            if key in keys:
                self._row_message(keys.index(key), message)

    def save_changes(self, then: Callable[[], object] | None = None) -> None:
        try:
            sampled = self.sample_date.value()
        except DateInputError as exc:
            self.set_status(str(exc), error=True)
            return
        if self.messages:
            self.set_status("\n".join(self.messages.values()), error=True)
            return
        entries = []
        removed: list[str] = []
        for r, an in enumerate(self.analytes):
            value, unit, lln, uln = self._entry(r)
            stored = self.labs.get(an.key)
            if value is None:
                if stored is not None:
                    removed.append(stored.uid)  # the value was cleared: it goes
                continue
            if stored and (stored.value, stored.unit, stored.lln, stored.uln,
                           stored.sampled_on) == (value, unit, lln, uln, sampled):
                continue
            entries.append((an.key, value, unit, lln, uln))
        if not entries and not removed:
            self.nothing_to_save(then)
            return
        proceed, reason = self.reason_for_change()
        if not proceed:
            return
        visit = self.data.visit_uid
        today = self.today

        def work() -> tuple[FormData, list[LabRow]]:
            service = self.service()
            with service.tracker.transaction(reason):
                for key, value, unit, lln, uln in entries:
                    service.save_lab(visit, key, value, unit, lln=lln, uln=uln,
                                     sampled_on=sampled, today=today, reason=reason)
                for uid in removed:
                    service.delete_lab(uid, reason=reason)
            return service.load(visit, "labs"), service.labs(visit)

        def saved(result: tuple[FormData, list[LabRow]]) -> None:
            data, labs = result
            self.labs = {row.analyte: row for row in labs}
            self.loaded(data)
            for r in range(len(self.analytes)):
                self.row_changed(r, initial=True)
            self.set_status(_("Saved."))
            if then is not None:
                then()

        self.run(work, saved)

    def record_ae(self, r: int) -> None:
        """Open the adverse-event editor filled from the graded value (the user decides)."""
        an = self.analytes[r]
        stored = self.labs.get(an.key)
        if stored is None or self.dirty:
            self.set_status(_("Save the values first, then record the adverse event."),
                            error=True)
            return
        suggestion = stored.suggestion()
        if suggestion is None:
            return
        suggestion.visit_uid = self.data.visit_uid
        dialog = AdverseEventDialog(self.session, self.tasks, self.data.patient_uid,
                                    suggestion, self.today, parent=self)
        dialog.saved.connect(lambda _row: self._reload_labs())
        dialog.open()

    def _reload_labs(self) -> None:
        visit = self.data.visit_uid

        def done(labs: list[LabRow]) -> None:
            self.labs = {row.analyte: row for row in labs}
            for r in range(len(self.analytes)):
                self.row_changed(r, initial=True)
            self.changed.emit()

        self.tasks.run(lambda: self.service().labs(visit), done, self.failed)


# --------------------------------------------------------------------------------------
# Adverse events



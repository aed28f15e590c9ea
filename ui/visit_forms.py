"""The "Visits & forms" tab of a patient: each visit with its forms, and the form editors.

- :class:`VisitFormsTab` lists the patient's visits; choosing one lists the forms its
  protocol plans, each with its state. Enter (or a double click) opens the form.
- :class:`FormEditorDialog` edits an item form built from its :class:`FormSpec`.
  Questionnaires are typed as digits: one key per item, focus moves on by itself, ``-``
  marks an item left blank, so a 30-item QLQ-C30 is entered without the mouse. Scores
  update as the answers are typed.
- :class:`LabsDialog` enters the visit's laboratory values with unit, reference range,
  the value in the protocol's unit and the CTCAE grade; a grade ≥ 3 offers to record an
  adverse event (never records one by itself).
- :class:`AdverseEventsDialog` and :class:`AdverseEventDialog` list and edit adverse events.

Every database call runs on the task thread (``self.tasks``). Closing an editor with unsaved
changes asks first (:meth:`FormDialogBase.ask_unsaved`); changing a form already complete asks
for a reason (:meth:`FormDialogBase.ask_reason`). Both are methods so tests can answer them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.forms import FormContext, FormSpec, Item, Missing, check_value, spec_for
from gisttracker.forms import labs as lab_rules
from gisttracker.grading import ctcae
from gisttracker.i18n import N_, _
from gisttracker.services.base import ServiceError
from gisttracker.services.forms import (
    AE_ACTIONS,
    AE_DRUGS,
    AE_OUTCOMES,
    AE_RELATIONS,
    NOT_DONE_REASONS,
    AdverseEventInput,
    AdverseEventRow,
    FormData,
    FormInputError,
    FormService,
    LabRow,
    VisitForms,
    state_label,
)
from gisttracker.session import Session
from ui.patient_view import PatientTabPage
from ui.tasks import TaskManager

ERROR_STYLE = "QLabel { color: #b00020; }"
MUTED_STYLE = "QLabel { color: #666; }"
STATE_COLOURS = {"not_started": "#666666", "in_progress": "#8a5a00", "complete": "#1b7f3b",
                 "not_done": "#6b3fa0"}
VISIT_STATES = {"planned": N_("planned"), "done": N_("done"), "missed": N_("missed"),
                "cancelled": N_("cancelled"), "not_applicable": N_("not applicable")}
GRADE_COLOURS = {0: "#1b7f3b", 1: "#5b7f1b", 2: "#8a5a00", 3: "#b00020", 4: "#7a0015"}


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return _(value) if isinstance(value, str) else str(value)


def _number(text: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    return float(text)


def _date_or_none(text: str) -> date | None:
    text = text.strip()
    return date.fromisoformat(text) if text else None


# --------------------------------------------------------------------------------------
# Shared dialog behaviour


class FormDialogBase(QDialog):
    """State buttons, unsaved-change guard and reason prompts shared by the editors."""

    changed = Signal()  # something was written: the visit list refreshes

    def __init__(self, session: Session, tasks: TaskManager, data: FormData, spec: FormSpec,
                 today: date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tasks = tasks
        self.data = data
        self.spec = spec
        self.today = today
        self.dirty = False
        self.busy = False
        self.setWindowTitle(_(spec.title))
        self.state_label = QLabel(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.save_button = QPushButton(_("&Save"), self)
        self.complete_button = QPushButton(_("Mark &complete"), self)
        self.not_done_button = QPushButton(_("&Not done…"), self)
        self.close_button = QPushButton(_("Close"), self)
        self.save_button.clicked.connect(lambda: self.save_changes())
        self.complete_button.clicked.connect(lambda: self.mark_complete())
        self.not_done_button.clicked.connect(lambda: self.mark_not_done())
        self.close_button.clicked.connect(self.close)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=lambda: self.save_changes())
        for button in (self.save_button, self.complete_button, self.not_done_button,
                       self.close_button):
            button.setAutoDefault(False)

    def service(self) -> FormService:
        return FormService(self.session)

    def button_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.state_label, 1)
        for button in (self.save_button, self.complete_button, self.not_done_button,
                       self.close_button):
            row.addWidget(button)
        return row

    def show_state(self) -> None:
        text = state_label(self.data.state)
        if self.data.state == "not_done" and self.data.not_done_reason:
            text += f" — {self.data.not_done_reason}"
        elif self.data.state == "complete" and self.data.completed_by:
            text += " — " + _("{who}, {when}").format(
                who=self.data.completed_by,
                when=(self.data.completed_at or "")[:16].replace("T", " "))
        if self.dirty:
            text += "  " + _("(unsaved changes)")
        self.complete_button.setEnabled(self.data.state != "complete")
        colour = STATE_COLOURS.get(self.data.state, "#333")
        self.state_label.setText(f"<b style='color:{colour}'>{text}</b>")

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(ERROR_STYLE if error else MUTED_STYLE)
        self.status.setText(text)

    # ----- prompts (methods so tests can answer them) -------------------------------------
    def ask_reason(self) -> str | None:
        """The reason for changing a completed form, or None when the user cancels."""
        text, ok = QInputDialog.getText(
            self, _("Reason for change"),
            _("This form is already {state}. Why is it changed?").format(
                state=state_label(self.data.state).lower()))
        return text.strip() if ok and text.strip() else None

    def ask_not_done_reason(self) -> str | None:
        """Why the form was not done, or None when the user cancels."""
        reasons = [_(r) for r in NOT_DONE_REASONS]
        text, ok = QInputDialog.getItem(self, _("Form not done"),
                                        _("Why was this form not done?"), reasons, 0, True)
        return text.strip() if ok and text.strip() else None

    def ask_unsaved(self) -> QMessageBox.StandardButton:
        """Save, Discard or Cancel for a close with unsaved changes."""
        return QMessageBox.question(
            self, _("Unsaved changes"),
            _("{form} has changes that are not saved. Save them?").format(
                form=_(self.spec.title)),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)

    # ----- closing ------------------------------------------------------------------------
    def may_close(self) -> bool:
        """Whether the dialog may close now; asks first when there are unsaved changes."""
        if not self.dirty:
            return True
        answer = self.ask_unsaved()
        if answer == QMessageBox.StandardButton.Discard:
            self.dirty = False
            return True
        if answer == QMessageBox.StandardButton.Save:
            self.save_changes(then=self.close)
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.busy or not self.may_close():
            event.ignore()
            return
        event.accept()

    def reject(self) -> None:  # Escape goes through the same guard as the close button
        self.close()

    # ----- running service calls ----------------------------------------------------------
    def run(self, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        self.busy = True
        self.set_status(_("Saving…"))

        def done(result: Any) -> None:
            self.busy = False
            self.set_status("")
            on_done(result)

        self.tasks.run(fn, done, self.failed)

    def failed(self, error: BaseException) -> None:
        self.busy = False
        if isinstance(error, FormInputError):
            self.show_errors(error.errors)
            self.set_status(str(error), error=True)
        elif isinstance(error, ServiceError | ValueError):
            self.set_status(str(error), error=True)
        else:
            self.set_status(_("Unexpected error: {error}").format(error=error), error=True)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Show messages beside the fields (the subclasses know their fields)."""

    def loaded(self, data: FormData) -> None:
        self.data = data
        self.dirty = False
        self.show_state()
        self.changed.emit()

    # ----- actions ------------------------------------------------------------------------
    def save_changes(self, then: Callable[[], object] | None = None) -> None:
        raise NotImplementedError

    def nothing_to_save(self, then: Callable[[], object] | None) -> None:
        """Saving found no change: the form is clean; carry on with ``then``."""
        self.dirty = False
        self.show_state()
        if then is not None:
            then()

    def reason_for_change(self) -> tuple[bool, str | None]:
        """(go on?, reason): a completed or not-done form changes only with a reason."""
        if not self.data.locked:
            return True, None
        reason = self.ask_reason()
        if reason is None:
            self.set_status(_("Not saved: a reason is needed to change a completed form."),
                            error=True)
            return False, None
        return True, reason

    def mark_complete(self) -> None:
        def complete() -> None:
            reason = None
            if self.data.state == "not_done":
                reason = self.ask_reason()
                if reason is None:
                    return
            visit, kind = self.data.visit_uid, self.data.kind
            self.run(lambda: self.service().complete(visit, kind, today=self.today,
                                                     reason=reason), self._completed)
        if self.dirty:
            self.save_changes(then=complete)
        else:
            complete()

    def _completed(self, data: FormData) -> None:
        self.loaded(data)
        self.set_status(_("Form complete."))

    def mark_not_done(self) -> None:
        reason = self.ask_not_done_reason()
        if reason is None:
            return
        visit, kind = self.data.visit_uid, self.data.kind
        self.dirty = False
        self.run(lambda: self.service().mark_not_done(visit, kind, reason, today=self.today),
                 self.loaded)


# --------------------------------------------------------------------------------------
# Item forms


class DigitEdit(QLineEdit):
    """One questionnaire answer typed as a single digit (1 = first printed option).

    ``-`` marks the item as not answered; Backspace/Delete clears it. A valid key moves
    the focus on to the next item (``advance``).
    """

    answered = Signal(object)  # the choice value, a Missing, or None (cleared)
    refused = Signal(str)
    advance = Signal()

    def __init__(self, item: Item, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setMaxLength(1)
        self.setFixedWidth(34)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAccessibleName(_(item.label))
        self.setToolTip(_("Type 1–{n}; '-' if not answered").format(n=len(item.choices)))

    def show_value(self, value: object) -> None:
        if isinstance(value, Missing):
            self.setText("–")
            return
        for index, choice in enumerate(self.item.choices, start=1):
            if value is not None and choice.value == value and type(choice.value) is type(
                    value):
                self.setText(str(index))
                return
        self.setText("")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        text = event.text()
        key = event.key()
        if text.isdigit() and len(text) == 1:
            n = int(text)
            if 1 <= n <= len(self.item.choices):
                self.setText(text)
                self.answered.emit(self.item.choices[n - 1].value)
                self.advance.emit()
            else:
                self.refused.emit(_("type 1 to {n}").format(n=len(self.item.choices)))
            return
        if text in ("-", "."):
            self.setText("–")
            self.answered.emit(Missing.NOT_ANSWERED)
            self.advance.emit()
            return
        if key in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete):
            self.setText("")
            self.answered.emit(None)
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Down):
            self.advance.emit()
            return
        if text and text.isprintable():
            self.refused.emit(_("type 1 to {n}").format(n=len(self.item.choices)))
            return
        super().keyPressEvent(event)


class _Row:
    """The widgets of one item in the editor."""

    def __init__(self, item: Item, editor: QWidget, label: QLabel, answer: QLabel,
                 message: QLabel) -> None:
        self.item = item
        self.editor = editor
        self.label = label
        self.answer = answer
        self.message = message


class FormEditorDialog(FormDialogBase):
    """Edits a form built from its spec's items; questionnaires are typed as digits."""

    def __init__(self, session: Session, tasks: TaskManager, data: FormData, today: date,
                 parent: QWidget | None = None) -> None:
        spec = spec_for(data.kind)
        super().__init__(session, tasks, data, spec, today, parent)
        self.values: dict[str, object] = {**data.values,
                                          **{k: Missing(v) for k, v in data.missing.items()}}
        self.rows: dict[str, _Row] = {}
        self.order: list[QWidget] = []

        grid_host = QWidget(self)
        grid = QGridLayout(grid_host)
        grid.setColumnStretch(1, 1)
        grid.setHorizontalSpacing(10)
        line = 0
        if spec.note:
            note = QLabel(_(spec.note), grid_host)
            note.setWordWrap(True)
            note.setStyleSheet(MUTED_STYLE)
            grid.addWidget(note, line, 0, 1, 5)
            line += 1
        for item in spec.items:
            if item.section:
                head = QLabel(f"<b>{_(item.section)}</b>", grid_host)
                head.setContentsMargins(0, 8, 0, 2)
                grid.addWidget(head, line, 0, 1, 5)
                line += 1
            row = self._build_row(item, grid_host)
            grid.addWidget(QLabel(item.number or "", grid_host), line, 0,
                           Qt.AlignmentFlag.AlignRight)
            grid.addWidget(row.label, line, 1)
            grid.addWidget(row.editor, line, 2)
            grid.addWidget(row.answer, line, 3)
            grid.addWidget(row.message, line, 4)
            self.rows[item.key] = row
            line += 1
        grid.setRowStretch(line, 1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_host)
        self.scroll = scroll

        self.scores_table = QTableWidget(0, 2, self)
        self.scores_table.setHorizontalHeaderLabels([_("Scale"), _("Score")])
        self.scores_table.verticalHeader().hide()
        self.scores_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.scores_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scores_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        self.scores_table.setMinimumWidth(320)
        self.scores_table.verticalHeader().setDefaultSectionSize(22)
        self.scores_table.setWordWrap(False)

        layout = QVBoxLayout(self)
        if spec.questionnaire:
            body = QHBoxLayout()
            body.addWidget(scroll, 3)
            body.addWidget(self.scores_table, 1)
            layout.addLayout(body, 1)
        else:
            layout.addWidget(scroll, 1)
            n = len(spec.scores({}, FormContext(data.sex, {})))
            if n:
                self.scores_table.setFixedHeight(26 + 22 * n)
                layout.addWidget(self.scores_table)
            else:
                self.scores_table.hide()
        layout.addWidget(self.status)
        layout.addLayout(self.button_row())

        previous: QWidget | None = None
        for widget in [*self.order, self.save_button, self.complete_button]:
            if previous is not None:
                QWidget.setTabOrder(previous, widget)
            previous = widget
        self.refresh()
        self.show_state()
        self.resize(*((980, 720) if spec.questionnaire else (680, 520)))
        if self.order:
            self.order[0].setFocus()

    # ----- building -----------------------------------------------------------------------
    def _build_row(self, item: Item, host: QWidget) -> _Row:
        # A label with a buddy reads "&" as a mnemonic; "&&" shows the character itself.
        text = _(item.label).replace("&", "&&") + (f" ({item.unit})" if item.unit else "")
        label = QLabel(text, host)
        answer = QLabel(host)
        answer.setStyleSheet(MUTED_STYLE)
        answer.setMinimumWidth(120)
        message = QLabel(host)
        message.setStyleSheet(ERROR_STYLE)
        editor: QWidget
        current = self.values.get(item.key)
        if self.spec.questionnaire and item.choices:
            digit = DigitEdit(item, host)
            digit.show_value(current)
            digit.answered.connect(lambda v, k=item.key: self.set_value(k, v))
            digit.refused.connect(lambda m, k=item.key: self.rows[k].message.setText(m))
            digit.advance.connect(lambda d=digit: self.focus_after(d))
            editor = digit
        elif item.choices:
            combo = QComboBox(host)
            combo.addItem("", None)
            for choice in item.choices:
                combo.addItem(_(choice.label), choice.value)
            combo.addItem(_("Not answered"), Missing.NOT_ANSWERED)
            self._select(combo, current)
            combo.currentIndexChanged.connect(
                lambda _i, c=combo, k=item.key: self.set_value(k, c.currentData()))
            editor = combo
        else:
            edit = QLineEdit(host)
            if item.type == "date":
                edit.setPlaceholderText(_("YYYY-MM-DD"))
            elif item.hint:
                edit.setPlaceholderText(_(item.hint))
            if isinstance(current, float):
                edit.setText(f"{current:g}")
            elif current is not None and not isinstance(current, Missing):
                edit.setText(str(current))
            edit.textEdited.connect(lambda t, k=item.key: self.set_text(k, t))
            editor = edit
        label.setBuddy(editor)
        self.order.append(editor)
        return _Row(item, editor, label, answer, message)

    @staticmethod
    def _select(combo: QComboBox, value: object) -> None:
        for index in range(combo.count()):
            data = combo.itemData(index)
            if data is not None and data == value and type(data) is type(value):
                combo.setCurrentIndex(index)
                return
        combo.setCurrentIndex(0)

    # ----- editing ------------------------------------------------------------------------
    def focus_after(self, widget: QWidget) -> None:
        """Move the focus to the next enabled item (or to Save after the last)."""
        index = self.order.index(widget)
        for nxt in self.order[index + 1:]:
            if nxt.isEnabled():
                nxt.setFocus(Qt.FocusReason.TabFocusReason)
                self.scroll.ensureWidgetVisible(nxt)
                return
        self.save_button.setFocus(Qt.FocusReason.TabFocusReason)

    def set_text(self, key: str, text: str) -> None:
        row = self.rows[key]
        try:
            value = check_value(row.item, text)
        except ValueError as exc:
            row.message.setText(str(exc))
            self.values[key] = text  # kept as typed: saving refuses it beside the field
            self.dirty = True
            self.show_state()
            return
        self.set_value(key, value)

    def set_value(self, key: str, value: object) -> None:
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value
        self.rows[key].message.setText("")
        self.dirty = True
        self.refresh()
        self.show_state()

    def answers(self) -> dict[str, object]:
        return {k: v for k, v in self.values.items()
                if not isinstance(v, Missing) and not (isinstance(v, str) and self._bad(k))}

    def _bad(self, key: str) -> bool:
        return bool(self.rows[key].message.text()) if key in self.rows else False

    def refresh(self) -> None:
        """Applicability, the answer labels and the scores after a change."""
        answers = self.answers()
        context = FormContext(self.data.sex, answers)
        for key, row in self.rows.items():
            applies = row.item.applies_to(context)
            row.editor.setEnabled(applies)
            row.label.setEnabled(applies)
            value = self.values.get(key)
            if not applies:
                row.answer.setText(_("not asked"))
            elif isinstance(value, Missing):
                row.answer.setText(_("not answered") if value is Missing.NOT_ANSWERED
                                   else _("not applicable"))
            elif row.item.choices and value is not None:
                label = row.item.choice_label(value)
                row.answer.setText(_(label) if label else "")
            else:
                row.answer.setText("")
        if self.spec.scorer is not None:
            try:
                scores = self.spec.scores(answers, context)
            except ValueError:
                scores = ()
            self.scores_table.setRowCount(len(scores))
            for i, score in enumerate(scores):
                self.scores_table.setItem(i, 0, QTableWidgetItem(f"{score.key}  {_(score.label)}"))
                cell = QTableWidgetItem(_fmt(score.value))
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.scores_table.setItem(i, 1, cell)

    def score_text(self, key: str) -> str:
        """The score shown for ``key`` (for tests and screen readers)."""
        for i in range(self.scores_table.rowCount()):
            if self.scores_table.item(i, 0).text().split()[0] == key:
                return self.scores_table.item(i, 1).text()
        raise KeyError(key)

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, message in errors.items():
            if key in self.rows:
                self.rows[key].message.setText(message)
        first = next((self.rows[k].editor for k in self.rows if k in errors), None)
        if first is not None:
            first.setFocus()

    def changes(self) -> dict[str, object]:
        """What differs from the stored form (None: cleared)."""
        stored: dict[str, object] = {**self.data.values,
                                     **{k: Missing(v) for k, v in self.data.missing.items()}}
        out: dict[str, object] = {}
        for key in set(stored) | set(self.values):
            new = self.values.get(key)
            old = stored.get(key)
            if new != old or type(new) is not type(old):
                out[key] = new
        return out

    def save_changes(self, then: Callable[[], object] | None = None) -> None:
        changes = self.changes()
        if not changes:
            self.nothing_to_save(then)
            return
        proceed, reason = self.reason_for_change()
        if not proceed:
            return
        visit, kind = self.data.visit_uid, self.data.kind

        def saved(data: FormData) -> None:
            self.loaded(data)
            self.set_status(_("Saved."))
            if then is not None:
                then()

        self.run(lambda: self.service().save_answers(visit, kind, changes, reason=reason), saved)


# --------------------------------------------------------------------------------------
# Laboratory values


class LabsDialog(FormDialogBase):
    """The visit's laboratory values: one row per analyte, graded as they are typed."""

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
        self.sample_date = QLineEdit(self)
        self.sample_date.setPlaceholderText(_("YYYY-MM-DD"))
        first = next((r.sampled_on for r in labs if r.sampled_on), None)
        self.sample_date.setText((first or today).isoformat())
        self.sample_date.textEdited.connect(lambda _t: self.mark_dirty())
        self.table = QTableWidget(len(self.analytes), len(self.COLUMNS), self)
        self.table.setHorizontalHeaderLabels([_(c) for c in self.COLUMNS])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(7, QHeaderView.ResizeMode.Stretch)
        self.units: list[QComboBox] = []
        self.ae_buttons: dict[int, QPushButton] = {}
        self.messages: dict[str, str] = {}
        self._loading = True
        for r, an in enumerate(self.analytes):
            name = QTableWidgetItem(_(an.label))
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.table.setItem(r, 0, name)
            stored = self.labs.get(an.key)
            for c, value in ((1, stored.value if stored else None),
                             (3, stored.lln if stored else None),
                             (4, stored.uln if stored else None)):
                self.table.setItem(r, c, QTableWidgetItem("" if value is None else f"{value:g}"))
            combo = QComboBox(self.table)
            combo.addItems(list(an.units))
            if stored:
                combo.setCurrentText(stored.unit)
            combo.currentIndexChanged.connect(lambda _i, row=r: self.row_changed(row))
            self.table.setCellWidget(r, 2, combo)
            self.units.append(combo)
            for c in (5, 6, 7):
                cell = QTableWidgetItem("")
                cell.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.table.setItem(r, c, cell)
        self.table.itemChanged.connect(lambda item: self.row_changed(item.row()))
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
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(self.button_row())
        self.show_state()
        self.resize(1040, 420)

    def mark_dirty(self) -> None:
        self.dirty = True
        self.show_state()

    def _entry(self, r: int) -> tuple[float | None, str, float | None, float | None]:
        def cell(c: int) -> str:
            item = self.table.item(r, c)
            return item.text() if item is not None else ""
        return (_number(cell(1)), self.units[r].currentText(), _number(cell(3)),
                _number(cell(4)))

    def row_changed(self, r: int, initial: bool = False) -> None:
        """Recompute the converted value, the grade and the AE suggestion of row ``r``."""
        if self._loading:
            return
        an = self.analytes[r]
        converted, grade_cell = self.table.item(r, 5), self.table.item(r, 6)
        self.show_ae_button(r, None)
        self.table.blockSignals(True)
        try:
            try:
                value, unit, lln, uln = self._entry(r)
            except ValueError:
                self._row_message(r, _("enter numbers"))
                return
            if value is None:
                converted.setText("")
                grade_cell.setText("")
                self.messages.pop(an.key, None)
                return
            try:
                graded = lab_rules.grade_lab(an, value, unit, lln=lln, uln=uln,
                                             baseline=self.baselines.get(an.key))
            except ValueError as exc:
                self._row_message(r, str(exc))
                return
            self.messages.pop(an.key, None)
            converted.setText(f"{graded.value:.4g} {graded.unit}")
            converted.setToolTip("")
            if an.term is None:
                grade_cell.setText(_("no CTCAE grade"))
                grade_cell.setToolTip(_("an analyte this protocol adds; CTCAE does not grade it"))
            elif graded.grade is None:
                grade_cell.setText(_("undecided"))
                grade_cell.setToolTip(_("give the reference range to grade this value"))
            else:
                grade_cell.setText(_("Grade {n}").format(n=graded.grade))
                grade_cell.setForeground(QColor(GRADE_COLOURS.get(graded.grade, "#000")))
            stored = self.labs.get(an.key)
            if graded.suggests_adverse_event:
                recorded = stored is not None and stored.adverse_event_uid is not None
                self.show_ae_button(r, recorded)
        finally:
            self.table.blockSignals(False)
            if not initial:
                self.mark_dirty()
            self.set_status("\n".join(self.messages.values()), error=bool(self.messages))

    def show_ae_button(self, r: int, recorded: bool | None) -> None:
        """The suggestion in the AE column: None (no suggestion), a button to record the
        adverse event, or a note that one is recorded."""
        if r in self.ae_buttons:
            self.table.removeCellWidget(r, 7)
            del self.ae_buttons[r]
        cell = self.table.item(r, 7)
        if recorded is None:
            cell.setText("")
        elif recorded:
            cell.setText(_("adverse event recorded"))
        else:
            cell.setText("")
            button = QPushButton(_("Record adverse event…"), self.table)
            button.setToolTip(_("Grade 3 or higher: an adverse event is suggested"))
            button.setAutoDefault(False)
            button.clicked.connect(lambda _c=False, row=r: self.record_ae(row))
            self.table.setCellWidget(r, 7, button)
            self.ae_buttons[r] = button

    def _row_message(self, r: int, message: str) -> None:
        an = self.analytes[r]
        self.messages[an.key] = f"{_(an.label)}: {message}"
        self.table.item(r, 6).setText(_("check"))
        self.table.item(r, 6).setToolTip(message)
        self.table.item(r, 5).setText("")

    def grade_text(self, analyte: str) -> str:
        r = [a.key for a in self.analytes].index(analyte)
        return self.table.item(r, 6).text()

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, message in errors.items():
            keys = [a.key for a in self.analytes]
            if key in keys:
                self._row_message(keys.index(key), message)

    def save_changes(self, then: Callable[[], object] | None = None) -> None:
        try:
            sampled = _date_or_none(self.sample_date.text())
        except ValueError:
            self.set_status(_("Sample date: enter a date as YYYY-MM-DD"), error=True)
            return
        if self.messages:
            self.set_status("\n".join(self.messages.values()), error=True)
            return
        entries = []
        for r, an in enumerate(self.analytes):
            value, unit, lln, uln = self._entry(r)
            stored = self.labs.get(an.key)
            if value is None:
                continue
            if stored and (stored.value, stored.unit, stored.lln, stored.uln,
                           stored.sampled_on) == (value, unit, lln, uln, sampled):
                continue
            entries.append((an.key, value, unit, lln, uln))
        if not entries:
            self.nothing_to_save(then)
            return
        proceed, reason = self.reason_for_change()
        if not proceed:
            return
        visit = self.data.visit_uid
        today = self.today

        def work() -> tuple[FormData, list[LabRow]]:
            service = self.service()
            for key, value, unit, lln, uln in entries:
                service.save_lab(visit, key, value, unit, lln=lln, uln=uln, sampled_on=sampled,
                                 today=today, reason=reason)
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
        self.grade = QSpinBox(self)
        self.grade.setRange(1, 5)
        self.grade.setValue(data.grade if 1 <= data.grade <= 5 else 1)
        self.onset = QLineEdit(data.onset.isoformat() if data.onset != date.min else "", self)
        self.resolved = QLineEdit(data.resolved_on.isoformat() if data.resolved_on else "",
                                  self)
        for edit in (self.onset, self.resolved):
            edit.setPlaceholderText(_("YYYY-MM-DD"))
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
        for key, edit in (("onset", self.onset), ("resolved_on", self.resolved)):
            try:
                dates[key] = _date_or_none(edit.text())
            except ValueError:
                self.messages[key].setText(_("enter a date as YYYY-MM-DD"))
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
        self.status.setText(str(error))


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
        row = QHBoxLayout()
        row.addWidget(QLabel(f"<b>{_('Adverse events of this patient')}</b>", self), 1)
        row.addWidget(add)
        row.addWidget(edit)
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

    def reload_events(self) -> None:
        patient = self.data.patient_uid

        def done(events: list[AdverseEventRow]) -> None:
            self.events = events
            self.fill()
            self.changed.emit()

        self.tasks.run(lambda: self.service().adverse_events(patient), done, self.failed)


# --------------------------------------------------------------------------------------
# The tab


class VisitFormsTab(PatientTabPage):
    """Visits of the patient (left) and the forms of the chosen visit (right)."""

    def __init__(self, parent: QWidget | None = None,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__(parent)
        self.today = today
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
        self.message.setText(str(error))

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

        def load() -> tuple[FormData, Any]:
            service = self.service()
            data = service.load(visit_uid, kind)
            if spec.editor == "labs":
                analytes = service.analytes(visit_uid)
                return data, (service.labs(visit_uid), {
                    a.key: service.baseline(visit_uid, a.key) for a in analytes}, analytes)
            if spec.editor == "adverse_events":
                return data, service.adverse_events(patient)
            return data, None

        self.tasks.run(load, self._open_loaded, self.failed)

    def _open_loaded(self, result: tuple[FormData, Any]) -> None:
        data, extra = result
        assert self.session is not None and self.tasks is not None
        spec = spec_for(data.kind)
        dialog: FormDialogBase
        if spec.editor == "labs":
            labs, baselines, analytes = extra
            dialog = LabsDialog(self.session, self.tasks, data, self.today(), labs, baselines,
                                analytes=analytes,
                                parent=self)
        elif spec.editor == "adverse_events":
            dialog = AdverseEventsDialog(self.session, self.tasks, data, self.today(), extra,
                                         parent=self)
        else:
            dialog = FormEditorDialog(self.session, self.tasks, data, self.today(), parent=self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.changed.connect(self.reload)
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
        visit_uid, today = visit.visit_uid, self.today()
        self.tasks.run(lambda: self.service().mark_not_done(visit_uid, kind, reason,
                                                            today=today),
                       lambda _d: self.reload(), self.failed)

    def maybe_close(self) -> bool:
        if self.dialog is not None and self.dialog.isVisible():
            return self.dialog.may_close()
        return True

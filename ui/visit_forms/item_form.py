"""The item-form editor: questionnaires typed as digits, one key per item, scores live.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.errors import InputError
from gisttracker.forms import FormContext, Item, Missing, check_value, spec_for
from gisttracker.i18n import _
from gisttracker.services.forms import (
    FormData,
)
from gisttracker.session import Session
from ui.tasks import TaskManager
from ui.visit_forms.common import ERROR_STYLE, MUTED_STYLE, FormDialogBase, _fmt
from ui.widgets.date_field import DateField
from ui.widgets.wheel import guard_wheels


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
        guard_wheels(self)  # the wheel scrolls the form, never a field under the pointer
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
        elif item.type == "date":
            field = DateField(host, optional=True, today=lambda: self.today,
                              inline_message=False)
            if isinstance(current, str) and current:
                field.edit.setText(current)
            field.edited.connect(lambda f=field, k=item.key: self._date_edited(k, f))
            field.problem_changed.connect(
                lambda m, k=item.key: self.rows[k].message.setText(m) if k in self.rows
                else None)
            editor = field
        else:
            edit = QLineEdit(host)
            if item.hint:
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

    def _date_edited(self, key: str, field: DateField) -> None:
        if field.problem() is None:
            day = field.date_or_none()
            self.set_value(key, day.isoformat() if day else None)
            return
        # Not a date (yet): kept as typed; saving refuses it beside the field.
        self.values[key] = field.text()
        self.rows[key].message.setText(field.shown_problem())
        self.dirty = True
        self.show_state()

    def set_text(self, key: str, text: str) -> None:
        row = self.rows[key]
        try:
            value = check_value(row.item, text)
        except InputError as exc:
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
            row.editor.setEnabled(applies and self.may_edit)
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
            except InputError:
                scores = ()
            self.scores_table.setRowCount(len(scores))
            for i, score in enumerate(scores):
                # A scale's abbreviation (PF2, SUMSC) is how clinicians know it; a computed
                # value without one (bmi) shows its name only.
                label = (f"{score.key}  {_(score.label)}" if score.key.isupper()
                         else _(score.label))
                self.scores_table.setItem(i, 0, QTableWidgetItem(label))
                cell = QTableWidgetItem(_fmt(score.value))
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.scores_table.setItem(i, 1, cell)

    def editing_allowed(self, allowed: bool) -> None:
        self.refresh()  # applicability and permission together (refresh reads may_edit)

    def reloaded(self, data: FormData) -> None:
        """Refill every field from ``data`` (after someone else's change was reloaded)."""
        self.values = {**data.values, **{k: Missing(v) for k, v in data.missing.items()}}
        for key, row in self.rows.items():
            current = self.values.get(key)
            editor = row.editor
            editor.blockSignals(True)
            try:
                if isinstance(editor, DigitEdit):
                    editor.show_value(current)
                elif isinstance(editor, QComboBox):
                    self._select(editor, current)
                elif isinstance(editor, QLineEdit):
                    editor.setText(f"{current:g}" if isinstance(current, float) else
                                   "" if current is None or isinstance(current, Missing)
                                   else str(current))
            finally:
                editor.blockSignals(False)
            row.message.setText("")
        self.loaded(data)
        self.refresh()
        self.set_status(_("Reloaded: these are the values now stored."))

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



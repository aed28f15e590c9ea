"""Asking for the date of a visit when its last form is settled.

Completing (or marking not done) the last open form of a visit marks the visit done, and a
visit's date is the day the patient was seen, not the day the data are typed in (entered a
month late, "today" would show a false out-of-window deviation). So before that last step the
window asks, in :class:`VisitDateDialog`, offering the date the service suggests — the visit's
own dated records, else today inside (or before) the window, else the target date — with the
target and window beside it. The person confirms, types another day (``YYYY-MM-DD``) or picks
it on the calendar of the window's one date field (:class:`ui.widgets.date_field.DateField`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import _
from gisttracker.services.forms import FormService, VisitDateQuestion
from gisttracker.session import Session
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField


class VisitDateDialog(QDialog):
    """The day the visit took place, typed or confirmed; :attr:`value` once accepted."""

    def __init__(self, question: VisitDateQuestion, today: date,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.question = question
        self.today = today
        self.value: date | None = None
        self.setWindowTitle(_("Date of the visit"))
        self.setMinimumWidth(440)
        intro = QLabel(_("This completes the visit {visit}. On which day did it take place?")
                       .format(visit=question.visit_name), self)
        intro.setWordWrap(True)
        # The window's one date field (typed or picked on its calendar, checked as typed);
        # its message is shown below, with the dialog's own.
        self.date_field = DateField(self, kind="past", today=lambda: self.today,
                                    reference=lambda: question.target,
                                    label=_("Date of the visit"), inline_message=False)
        self.date_field.set_value(question.suggested)
        self.field = self.date_field.edit
        self.field.selectAll()
        window = "—"
        if question.window_start and question.window_end:
            window = _("{start} to {end}").format(start=question.window_start.isoformat(),
                                                  end=question.window_end.isoformat())
        form = QFormLayout()
        form.addRow(_("&Visit date"), self.date_field)
        form.addRow(_("Target"), QLabel(question.target.isoformat() if question.target
                                        else "—", self))
        form.addRow(_("Window"), QLabel(window, self))
        note = QLabel(_("Suggested: {why}. The date of data entry is recorded separately.")
                      .format(why=question.why), self)
        note.setWordWrap(True)
        note.setStyleSheet("QLabel { color: #666; }")
        self.message = QLabel(self)
        self.message.setStyleSheet("QLabel { color: #b00020; }")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def accept(self) -> None:
        """Refuse what is not a date, or a day after today, beside the field."""
        day = self.date_field.date_or_none()
        if day is not None and day > self.today:
            problem: str | None = _("{date} is after today: a visit cannot have taken place "
                                    "yet.").format(date=day.isoformat())
        else:
            problem = self.date_field.problem()
        if problem or day is None:
            self.message.setText(problem or _("enter a date (YYYY-MM-DD)"))
            self.field.setFocus()
            return
        self.value = day
        super().accept()


def ask_visit_date(parent: QWidget, question: VisitDateQuestion, today: date) -> date | None:
    """Show :class:`VisitDateDialog`; the date, or None when the person cancels."""
    dialog = VisitDateDialog(question, today, parent)
    if dialog.exec() == QDialog.DialogCode.Accepted:
        return dialog.value
    return None


def settle_with_visit_date(parent: QWidget, session: Session, tasks: TaskManager,
                           visit_uid: str, kind: str, today: date,
                           go: Callable[[date | None], None],
                           cancelled: Callable[[], None],
                           failed: Callable[[BaseException], None]) -> None:
    """Find out (off the GUI thread) whether settling form ``kind`` settles its visit; if so
    ask the visit's date, then call ``go(visit_date)`` (``go(None)`` when there is nothing
    to ask) — or ``cancelled()`` when the person does not give one."""

    def answered(question: VisitDateQuestion | None) -> None:
        if question is None:
            go(None)
            return
        day = ask_visit_date(parent, question, today)
        if day is None:
            cancelled()
        else:
            go(day)

    tasks.run(lambda: FormService(session).visit_date_question(visit_uid, kind, today=today),
              answered, failed)

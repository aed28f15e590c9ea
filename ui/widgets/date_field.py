"""The one date field of the window: typed or picked, exactly the date typed, never a guess.

Every place where a date is typed or picked uses :class:`DateField`:

* typing a full date — ``2027-05-20``, ``2027/05/20`` or ``20270520`` — gives exactly that
  date (it is shown as ``2027-05-20`` once the field is left); anything else is refused
  beside the field with the reason, and the field keeps what was typed;
* a field that may be unknown starts empty and says so ("not known"); it never holds a
  stand-in date such as 1900-01-01;
* the pop-up calendar (the arrow button, Alt+Down or F4) opens at the typed date, else at
  the field's reference date (a visit's target, say), else at today;
* each field has its plausibility rule (:mod:`gisttracker.domain.plausibility`): never
  before 1900; not in the future for something that happened (``kind="past"``, the
  default), not more than two years ahead for something planned (``kind="planned"``); not
  before birth nor after death when those are known (:meth:`DateField.set_bounds`);
  ``after`` / ``before`` for limits such as "not before enrollment".

"Today" is a callable, read when the field checks a date, so a window left open over
midnight judges dates as of the new day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Literal

from PySide6.QtCore import QDate, QEvent, QObject, QPoint, QRegularExpression, Qt, Signal
from PySide6.QtGui import QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCalendarWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gisttracker.domain import plausibility
from gisttracker.domain.plausibility import DateTextError, parse_date
from gisttracker.errors import InputError
from gisttracker.i18n import _

DateKind = Literal["past", "planned", "birth", "any"]
ERROR_STYLE = "QLabel { color: #b00020; }"


class DateInputError(InputError):
    """A date field holds something that is not an acceptable date; ``str()`` says why."""


class _CalendarPopup(QWidget):
    """The pop-up month calendar of a :class:`DateField`."""

    chosen = Signal(QDate)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.calendar = QCalendarWidget(self)
        self.calendar.setGridVisible(True)
        self.calendar.setFirstDayOfWeek(Qt.DayOfWeek.Monday)
        self.calendar.setVerticalHeaderFormat(
            QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        self.calendar.setMinimumDate(QDate(plausibility.EARLIEST.year, 1, 1))
        self.calendar.clicked.connect(self._pick)
        self.calendar.activated.connect(self._pick)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(self.calendar)

    def _pick(self, day: QDate) -> None:
        self.chosen.emit(day)
        self.hide()


class DateField(QWidget):
    """A date typed (``YYYY-MM-DD`` or ``YYYYMMDD``) or picked, checked where it is typed.

    ``optional``: may be left empty (shown as "not known"); otherwise empty is refused.
    ``kind``: ``past`` (an event: not after today), ``planned`` (up to two years ahead),
    ``birth`` (a date of birth: at most 120 years ago) or ``any`` (only the 1900 limit).
    ``reference``: where the pop-up opens when nothing is typed (default: today).
    ``inline_message``: show the reason beside the field (forms that have their own
    message label beside each field listen to :attr:`problem_changed` instead).
    """

    edited = Signal()  # the user changed the date (typed, cleared or picked)
    problem_changed = Signal(str)  # the message for the current text ("" when fine)

    def __init__(self, parent: QWidget | None = None, *, optional: bool = False,
                 kind: DateKind = "past", today: Callable[[], date] = date.today,
                 reference: Callable[[], date | None] | None = None,
                 label: str = "", inline_message: bool = True,
                 rule: Callable[[date], str | None] | None = None) -> None:
        super().__init__(parent)
        self.optional = optional
        self.kind = kind
        self.today = today
        self.reference = reference
        self.label = label
        self.rule = rule
        self.birth: date | None = None
        self.death: date | None = None
        self.after: tuple[date, str] | None = None
        self.before: tuple[date, str] | None = None
        self._problem = ""

        self.edit = QLineEdit(self)
        self.edit.setValidator(QRegularExpressionValidator(
            QRegularExpression(r"[0-9\-/. ]{0,10}"), self.edit))
        self.edit.setPlaceholderText(_("not known (YYYY-MM-DD)") if optional
                                     else _("YYYY-MM-DD"))
        # Wide enough for its placeholder: an optional field says "not known" in full.
        width = self.edit.fontMetrics().horizontalAdvance(self.edit.placeholderText()) + 24
        self.edit.setMinimumWidth(width)
        self.edit.setMaximumWidth(width)
        if label:
            self.edit.setAccessibleName(label)
        self.edit.textEdited.connect(self._typed)
        self.edit.editingFinished.connect(self._finished)
        self.edit.installEventFilter(self)
        self.button = QToolButton(self)
        self.button.setArrowType(Qt.ArrowType.DownArrow)
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.setToolTip(_("Pick the date on a calendar (Alt+Down)"))
        self.button.clicked.connect(self.show_calendar)
        self.message = QLabel(self)
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.inline_message = inline_message
        self.popup: _CalendarPopup | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.edit)
        layout.addWidget(self.button)
        if inline_message:
            layout.addSpacing(6)
            layout.addWidget(self.message, 1)
        # The field keeps its width on the left; the rest of the row stays empty (a hidden
        # message takes no room, and Qt would otherwise centre the field in its cell).
        layout.addStretch(0 if inline_message else 1)
        self.setFocusProxy(self.edit)
        # A label's Alt+letter gives focus to its buddy only if the buddy itself accepts
        # focus: without this, "Date of &birth" left the cursor where it was.
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # ----- value --------------------------------------------------------------------------
    def text(self) -> str:
        return self.edit.text()

    def set_value(self, value: date | None) -> None:
        """Show ``value`` (None: empty, "not known"); clears any message."""
        self.edit.setText(value.isoformat() if value is not None else "")
        self._set_problem("")

    def set_bounds(self, *, birth: date | None = None, death: date | None = None,
                   after: tuple[date, str] | None = None,
                   before: tuple[date, str] | None = None) -> None:
        """What this date is judged against (the patient's birth and death, other dates)."""
        self.birth, self.death, self.after, self.before = birth, death, after, before
        if self.edit.text().strip():
            self._check(show=True)

    def date_or_none(self) -> date | None:
        """The date typed if it parses (plausible or not), else None."""
        try:
            return parse_date(self.edit.text())
        except DateTextError:
            return None

    def problem(self) -> str | None:
        """Why the field cannot be saved as it is (None when it can)."""
        try:
            value = parse_date(self.edit.text())
        except DateTextError as exc:
            return str(exc)
        if value is None:
            return None if self.optional else _("enter a date (YYYY-MM-DD)")
        return self._plausibility(value)

    def value(self) -> date | None:
        """The date (None when an optional field is empty); :class:`DateInputError` with
        the reason, also shown beside the field, when it cannot be saved."""
        problem = self.problem()
        if problem:
            self._set_problem(problem)
            raise DateInputError(_with_label(self.label, problem))
        self._set_problem("")
        return parse_date(self.edit.text())

    def _plausibility(self, value: date) -> str | None:
        today = self.today()
        if self.kind == "birth":
            problem = plausibility.birth_date_problem(value, today=today)
        elif self.kind == "any":
            problem = plausibility.date_problem(value, today=today, past=False) \
                if value < plausibility.EARLIEST else None
        else:
            problem = plausibility.date_problem(
                value, today=today, past=self.kind == "past", birth=self.birth,
                death=self.death, after=self.after, before=self.before)
        if problem is None and self.rule is not None:
            problem = self.rule(value)
        return problem

    # ----- typing -------------------------------------------------------------------------
    def _typed(self, text: str) -> None:
        # While typing, only a complete date is judged: "2027-0" is not wrong yet.
        complete = len(text.strip()) >= 8 or not text.strip()
        self._check(show=complete and bool(text.strip()))
        self.edited.emit()

    def _finished(self) -> None:
        try:
            value = parse_date(self.edit.text())
        except DateTextError:
            value = None
        if value is not None and self.edit.text() != value.isoformat():
            self.edit.setText(value.isoformat())  # 20270520 is shown as 2027-05-20
        self._check(show=True)

    def _check(self, *, show: bool) -> None:
        problem = self.problem() or ""
        if not self.edit.text().strip():
            problem = ""  # an empty required field is said so when saving, not while typing
        if show or not problem:
            self._set_problem(problem)

    def _set_problem(self, problem: str) -> None:
        if problem != self._problem:
            self._problem = problem
            self.message.setText(problem)
            self.message.setVisible(bool(problem) and self.inline_message)
            self.edit.setStyleSheet("QLineEdit { border: 1px solid #b00020; }" if problem
                                    else "")
            self.problem_changed.emit(problem)

    def shown_problem(self) -> str:
        """The message shown for the field right now ("" when none)."""
        return self._problem

    # ----- the calendar -------------------------------------------------------------------
    def show_calendar(self) -> None:
        """Open the month calendar at the typed date, else the reference date, else today."""
        if self.popup is None:
            self.popup = _CalendarPopup(self)
            self.popup.chosen.connect(self._picked)
        start = self.date_or_none()
        if start is None and self.reference is not None:
            start = self.reference()
        if start is None:
            start = self.today()
        qday = QDate(start.year, start.month, start.day)
        self.popup.calendar.setSelectedDate(qday)
        self.popup.calendar.setCurrentPage(start.year, start.month)
        self.popup.adjustSize()
        self.popup.move(self.mapToGlobal(QPoint(0, self.height())))
        self.popup.show()
        self.popup.calendar.setFocus()

    def _picked(self, day: QDate) -> None:
        self.edit.setText(date(day.year(), day.month(), day.day()).isoformat())
        self._check(show=True)
        self.edit.setFocus()
        self.edited.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            alt_down = (event.key() == Qt.Key.Key_Down
                        and event.modifiers() & Qt.KeyboardModifier.AltModifier)
            if alt_down or event.key() == Qt.Key.Key_F4:
                self.show_calendar()
                return True
        return super().eventFilter(watched, event)


def _with_label(label: str, problem: str) -> str:
    return _("{field}: {problem}").format(field=label, problem=problem) if label else problem

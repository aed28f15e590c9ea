"""The one date field: what is typed is exactly what is read, or it is refused beside the field."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication
from pytestqt.qtbot import QtBot

from ui.widgets.date_field import DateField, DateInputError

TODAY = date(2026, 11, 30)
# The offscreen platform cannot pass size hints, raise or grab the keyboard for a pop-up.
pytestmark = pytest.mark.qt_log_ignore("does not support (propagateSizeHints|raise|grabbing)")


def _field(qtbot: QtBot, **kwargs: object) -> DateField:
    field = DateField(today=lambda: TODAY, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(field)
    field.show()
    qtbot.waitExposed(field)
    return field


def _type(qtbot: QtBot, field: DateField, text: str) -> None:
    field.edit.setFocus()
    qtbot.keyClicks(field.edit, text)
    _finish(qtbot, field)


def _finish(qtbot: QtBot, field: DateField) -> None:
    qtbot.keyClick(field.edit, Qt.Key.Key_Return)  # leaving the field finishes the edit


@pytest.mark.parametrize("typed", ["2021-05-20", "20210520", "2021/05/20", "2021-5-20"])
def test_a_full_date_typed_in_any_usual_form_gives_exactly_that_date(
        qtbot: QtBot, typed: str) -> None:
    field = _field(qtbot)
    _type(qtbot, field, typed)
    assert field.value() == date(2021, 5, 20)
    assert field.text() == "2021-05-20"
    assert field.shown_problem() == ""


def test_another_year_is_kept_and_a_planned_date_may_be_ahead(qtbot: QtBot) -> None:
    field = _field(qtbot, kind="planned")
    _type(qtbot, field, "2027-05-20")
    assert field.value() == date(2027, 5, 20)
    field.edit.selectAll()
    _type(qtbot, field, "20160105")
    assert field.value() == date(2016, 1, 5)


def test_an_optional_field_starts_empty_and_says_so(qtbot: QtBot) -> None:
    field = _field(qtbot, optional=True, kind="birth")
    assert field.text() == ""
    assert "not known" in field.edit.placeholderText()
    assert field.value() is None
    _type(qtbot, field, "19600512")
    assert field.value() == date(1960, 5, 12)
    field.edit.selectAll()
    qtbot.keyClick(field.edit, Qt.Key.Key_Delete)
    assert field.value() is None


def test_a_required_field_left_empty_is_refused_when_read(qtbot: QtBot) -> None:
    field = _field(qtbot)
    with pytest.raises(DateInputError, match="enter a date"):
        field.value()
    assert "enter a date" in field.message.text()


@pytest.mark.parametrize(("typed", "reason"), [
    ("0001-01-01", "before 1900"),
    ("2027-05-20", "in the future"),
    ("2021-02-30", "not a day of the calendar"),
    ("2021-13", "is not a date"),
])
def test_an_implausible_date_is_refused_where_it_was_typed(
        qtbot: QtBot, typed: str, reason: str) -> None:
    field = _field(qtbot)
    _type(qtbot, field, typed)
    assert reason in field.message.text()
    assert field.message.isVisible()
    assert field.text() == typed  # what was typed stays, to be corrected
    with pytest.raises(DateInputError, match=reason):
        field.value()


def test_letters_cannot_be_typed(qtbot: QtBot) -> None:
    field = _field(qtbot, optional=True)
    qtbot.keyClicks(field.edit, "abc_")
    assert field.text() == ""


def test_bounds_of_the_patient_are_checked(qtbot: QtBot) -> None:
    field = _field(qtbot)
    field.set_bounds(birth=date(1960, 5, 12), death=date(2026, 1, 3),
                     after=(date(2020, 1, 1), "enrollment"))
    _type(qtbot, field, "1959-01-01")
    assert "before the date of birth (1960-05-12)" in field.message.text()
    field.edit.selectAll()
    _type(qtbot, field, "2026-02-01")
    assert "after the death (2026-01-03)" in field.message.text()
    field.edit.selectAll()
    _type(qtbot, field, "2019-12-31")
    assert "before enrollment (2020-01-01)" in field.message.text()
    field.edit.selectAll()
    _type(qtbot, field, "2025-12-31")
    assert field.message.text() == "" and field.value() == date(2025, 12, 31)


def test_the_calendar_opens_at_the_typed_date_then_the_reference_then_today(
        qtbot: QtBot) -> None:
    field = _field(qtbot, optional=True, reference=lambda: date(2026, 7, 1))
    qtbot.mouseClick(field.button, Qt.MouseButton.LeftButton)
    assert field.popup is not None and field.popup.isVisible()
    assert field.popup.calendar.selectedDate() == QDate(2026, 7, 1)
    field.popup.hide()
    _type(qtbot, field, "2016-01-05")
    field.edit.setFocus()
    qtbot.keyClick(field.edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert field.popup.isVisible()
    assert field.popup.calendar.selectedDate() == QDate(2016, 1, 5)
    assert field.popup.calendar.yearShown() == 2016
    # Picking a day on the calendar fills the field with that day.
    field.popup.calendar.setSelectedDate(QDate(2016, 1, 8))
    grid = field.popup.calendar.findChild(QAbstractItemView)
    qtbot.keyClick(grid, Qt.Key.Key_Right)  # the arrow keys move the day, Return picks it
    qtbot.keyClick(grid, Qt.Key.Key_Return)
    assert not field.popup.isVisible()
    assert field.value() == date(2016, 1, 9)
    empty = _field(qtbot, optional=True)
    empty.show_calendar()
    assert empty.popup is not None
    assert empty.popup.calendar.selectedDate() == QDate(2026, 11, 30)
    empty.popup.hide()
    assert QApplication.instance() is not None

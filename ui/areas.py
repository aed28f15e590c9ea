"""The areas of the main window and the small interface every area page implements.

To add an area, append an :class:`Area` to :data:`AREAS` (its factory builds the page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from gisttracker.i18n import N_

if TYPE_CHECKING:
    from gisttracker.protocols import Study
    from gisttracker.services.base import Changes
    from gisttracker.session import Session
    from ui.context import WindowContext
    from ui.patient_view import PatientWindow
    from ui.tasks import TaskManager


class AreaPage(QWidget):
    """A page of the main window. It is told the open session and the selected study.

    The main window :meth:`attach`-es the site's :class:`~ui.context.WindowContext`; a page
    used on its own (a test, a tool) makes its own when it is given a session. Either way
    :meth:`on_changes` is called after every commit, and :meth:`open_patient` opens (or
    raises) the one window of a patient. ``today_fn`` is the clock, read when needed.

    A page that reads its data in the background says so with :meth:`loading` and emits
    :attr:`data_shown` when the data has arrived; the main window's ``ready`` (and the
    start-up check) wait for that on the first screen.
    """

    data_shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.study: Study | None = None
        self.tasks: TaskManager | None = None
        self.context: WindowContext | None = None
        self.today_fn: Callable[[], date] = date.today

    def attach(self, context: WindowContext) -> None:
        """Show the context's site; its change signal reaches :meth:`on_changes`."""
        self.context = context
        self.today_fn = context.today
        self.set_session(context.session, context.tasks)

    def set_session(self, session: Session | None, tasks: TaskManager) -> None:
        self.session = session
        self.tasks = tasks
        if session is not None and (self.context is None or self.context.session is not session):
            from ui.context import WindowContext

            self.context = WindowContext(session, tasks, today=lambda: self.today_fn(),
                                         parent=self)
            self.context.changed.connect(self.on_changes)

    def set_study(self, study: Study | None) -> None:
        self.study = study

    def on_changes(self, changes: Changes) -> None:
        """Something was committed (here or by another process): refresh what is shown."""

    def open_patient(self, uid: str) -> PatientWindow | None:
        """The patient's window: raised if it is open, else opened."""
        if self.context is None:
            return None
        return self.context.open_patient(uid)

    def loading(self) -> bool:
        """Whether the page is still reading the data it is about to show."""
        return False


@dataclass(frozen=True)
class Area:
    key: str
    title: str  # marked with N_, translated when shown
    shortcut: str
    factory: Callable[[], AreaPage]


def _summary() -> AreaPage:
    from ui.study_summary import StudySummaryPage

    return StudySummaryPage()


def _patients() -> AreaPage:
    from ui.patients import PatientsPage

    return PatientsPage()


def _calendar() -> AreaPage:
    from ui.calendar import CalendarPage

    return CalendarPage()


def _reports() -> AreaPage:
    from ui.reports import ReportsPage

    return ReportsPage()


def _queries() -> AreaPage:
    from ui.queries import QueriesPage

    return QueriesPage()


def _outcomes() -> AreaPage:
    from ui.outcomes import OutcomesPage

    return OutcomesPage()


AREAS: list[Area] = [
    Area("summary", N_("Study"), "Ctrl+1", _summary),
    Area("patients", N_("Patients"), "Ctrl+2", _patients),
    Area("calendar", N_("Schedule & calendar"), "Ctrl+3", _calendar),
    Area("reports", N_("Reports"), "Ctrl+4", _reports),
    Area("queries", N_("Queries"), "Ctrl+5", _queries),
    Area("outcomes", N_("Outcomes"), "Ctrl+6", _outcomes),
]

"""The areas of the main window and the small interface every area page implements.

To add an area, append an :class:`Area` to :data:`AREAS` (its factory builds the page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from gisttracker.i18n import N_

if TYPE_CHECKING:
    from gisttracker.protocols import Study
    from gisttracker.session import Session
    from ui.tasks import TaskManager


class AreaPage(QWidget):
    """A page of the main window. It is told the open session and the selected study.

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

    def set_session(self, session: Session | None, tasks: TaskManager) -> None:
        self.session = session
        self.tasks = tasks

    def set_study(self, study: Study | None) -> None:
        self.study = study

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

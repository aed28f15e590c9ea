"""A patient's own window: a header (study identifier, arm, status) and tabs that the
feature areas contribute (screening, schedule, visits and forms, tumour and course…).

To add a tab, append a :class:`PatientTab` to :data:`PATIENT_TABS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _
from gisttracker.session import Session
from ui.tasks import TaskManager


class PatientTabPage(QWidget):
    """One tab of the patient window; told which patient (by uid) to show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.tasks: TaskManager | None = None
        self.patient_uid: str | None = None

    def set_patient(self, session: Session, tasks: TaskManager, patient_uid: str) -> None:
        self.session = session
        self.tasks = tasks
        self.patient_uid = patient_uid

    def maybe_close(self) -> bool:
        """Return False to keep the window open (e.g. unsaved changes the user keeps)."""
        return True


@dataclass(frozen=True)
class PatientTab:
    key: str
    title: str  # marked with N_, translated when shown
    factory: Callable[[], PatientTabPage]


def _screening() -> PatientTabPage:
    from ui.screening import ScreeningTab

    return ScreeningTab()


def _schedule() -> PatientTabPage:
    from ui.schedule_tab import ScheduleTab

    return ScheduleTab()


def _visit_forms() -> PatientTabPage:
    from ui.visit_forms import VisitFormsTab

    return VisitFormsTab()


def _tumour() -> PatientTabPage:
    from ui.tumour_tab import TumourTab

    return TumourTab()


def _course() -> PatientTabPage:
    from ui.course_tab import CourseTab

    return CourseTab()


PATIENT_TABS: list[PatientTab] = [
    PatientTab("screening", N_("Screening & enrollment"), _screening),
    PatientTab("schedule", N_("Schedule"), _schedule),
    PatientTab("visit_forms", N_("Visits and forms"), _visit_forms),
    PatientTab("tumour", N_("Tumour assessments"), _tumour),
    PatientTab("course", N_("Treatment & course"), _course),
]


def _print_schedule(parent: QWidget, session: Session, tasks: TaskManager,
                    patient_uid: str) -> None:
    from ui.reports import print_schedule

    print_schedule(parent, session, tasks, patient_uid)


class PatientWindow(QWidget):
    """Top-level window for one patient."""

    def __init__(self, session: Session, tasks: TaskManager, patient_uid: str,
                 header: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(header)
        self.header = QLabel(header, self)
        self.header.setStyleSheet("QLabel { font-size: 15px; font-weight: 600; padding: 4px; }")
        self.tabs = QTabWidget(self)
        self.pages: dict[str, PatientTabPage] = {}
        for tab in PATIENT_TABS:
            page = tab.factory()
            page.set_patient(session, tasks, patient_uid)
            self.pages[tab.key] = page
            # "&" would become a keyboard mnemonic in a tab title; "&&" shows it.
            self.tabs.addTab(page, _(tab.title).replace("&", "&&"))
        layout = QVBoxLayout(self)
        # One click from the patient to the printed visit schedule (ui/reports.py).
        self.print_schedule = QPushButton(_("Print schedule"), self)
        self.print_schedule.clicked.connect(
            lambda: _print_schedule(self, session, tasks, patient_uid))
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.print_schedule)
        layout.addLayout(top)
        # The casebook's signature (the investigator signs it here) and its source
        # verification (issue 13); the visits and forms show their own.
        from ui.signing import ReviewPanel

        self.review = ReviewPanel(self)
        self.review.show_target(session, tasks, "casebook", patient_uid, _("the casebook"),
                                _("Casebook"))
        layout.addWidget(self.review)
        layout.addWidget(self.tabs, 1)
        self.resize(1000, 720)

    def closeEvent(self, event):  # type: ignore[no-untyped-def]
        if all(page.maybe_close() for page in self.pages.values()):
            event.accept()
        else:
            event.ignore()

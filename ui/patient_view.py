"""A patient's own window: a header (study identifier, arm, status) and tabs that the
feature areas contribute (screening, schedule, visits and forms, tumour and course…).

To add a tab, append a :class:`PatientTab` to :data:`PATIENT_TABS`. There is one window per
patient (:meth:`ui.context.WindowContext.open_patient`); the header and every tab refresh
from the context's one change signal, whoever committed the change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _
from gisttracker.services.base import Changes
from gisttracker.session import Session
from ui.tasks import TaskManager

if TYPE_CHECKING:
    from ui.context import WindowContext

#: Tables whose change can alter the header (status, arm, option).
HEADER_TABLES = ("patient", "course_event")


class PatientTabPage(QWidget):
    """One tab of the patient window; told which patient (by uid) to show.

    ``today_fn`` is the clock (read when needed: a window left open over midnight judges
    as of the new day). :meth:`on_changes` is called after every commit anywhere; a tab
    reloads what it shows when one of its tables changed.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.tasks: TaskManager | None = None
        self.patient_uid: str | None = None
        self.context: WindowContext | None = None
        self.today_fn: Callable[[], date] = date.today
        # One reload soon, however many times it is asked for before it runs.
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(0)
        self._reload_timer.timeout.connect(self.reload)

    def attach(self, context: WindowContext, patient_uid: str) -> None:
        """Show ``patient_uid`` of the context's site, with the context's clock."""
        self.context = context
        self.today_fn = context.today
        self.set_patient(context.session, context.tasks, patient_uid)

    def set_patient(self, session: Session, tasks: TaskManager, patient_uid: str) -> None:
        self.session = session
        self.tasks = tasks
        self.patient_uid = patient_uid

    def on_changes(self, changes: Changes) -> None:
        """Something was committed (here or elsewhere): reload what this tab shows."""

    def reload(self) -> None:
        """Read what the tab shows (on the worker) and show it."""

    def request_reload(self) -> None:
        """Reload once, soon: the change signal and a save's own answer arrive one after the
        other, and one query answers both."""
        if not self._reload_timer.isActive():
            self._reload_timer.start()

    def alive(self) -> bool:
        """False once Qt deleted the tab (a result arriving after its window closed)."""
        return bool(shiboken6.isValid(self))

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


class PatientWindow(QWidget):
    """Top-level window for one patient; opened through :meth:`WindowContext.open_patient`."""

    header_loaded = Signal(str)

    def __init__(self, context: WindowContext, patient_uid: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.context = context
        self.patient_uid = patient_uid
        self.status: str | None = None
        self._forced = False
        self.setWindowTitle(_("Patient"))
        self.header = QLabel(_("Loading…"), self)
        self.header.setStyleSheet("QLabel { font-size: 15px; font-weight: 600; padding: 4px; }")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tabs = QTabWidget(self)
        self.pages: dict[str, PatientTabPage] = {}
        for tab in PATIENT_TABS:
            page = tab.factory()
            self.pages[tab.key] = page
            # "&" would become a keyboard mnemonic in a tab title; "&&" shows it.
            self.tabs.addTab(page, _(tab.title).replace("&", "&&"))
        # One click from the patient to the printed visit schedule (ui/reports.py).
        self.print_schedule = QPushButton(_("&Print schedule"), self)
        self.print_schedule.clicked.connect(self._print_schedule)
        self.details_button = QPushButton(_("Patient detai&ls…"), self)
        self.details_button.setToolTip(_("Correct sex, record number, name, initials or date "
                                         "of birth"))
        self.details_button.clicked.connect(self.correct_registration)
        self.status_button = QPushButton(_("S&tatus…"), self)
        self.status_button.setToolTip(_("Withdrawn, lost to follow-up, completed, died — or "
                                        "undo an end recorded by mistake"))
        self.status_button.clicked.connect(self.change_status)
        self.dialog: QWidget | None = None
        self.top = QHBoxLayout()
        self.top.addWidget(self.header, 1)
        self.top.addWidget(self.details_button)
        self.top.addWidget(self.status_button)
        self.top.addWidget(self.print_schedule)
        layout = QVBoxLayout(self)
        layout.addLayout(self.top)
        # The casebook's signature (the investigator signs it here) and its source
        # verification (issue 13); the visits and forms show their own.
        from ui.signing import ReviewPanel

        self.review = ReviewPanel(self)
        # Its buttons carry no Alt+letter here: the visit's and the form's panels in the tabs
        # claim the same letters, and one letter must do one thing in a window.
        self.review.shown.connect(lambda _state: self._plain_review_buttons())
        self.review.show_target(context.session, context.tasks, "casebook", patient_uid,
                                _("the casebook"), _("Casebook"))
        self._plain_review_buttons()
        layout.addWidget(self.review)
        layout.addWidget(self.tabs, 1)
        self.resize(1000, 720)
        context.changed.connect(self._changed)
        self._listening = True
        for page in self.pages.values():
            page.attach(context, patient_uid)
        self.reload_header()

    def _plain_review_buttons(self) -> None:
        if not shiboken6.isValid(self):
            return
        for button in (self.review.sign_button, self.review.unlock_button,
                       self.review.verify_button):
            button.setText(button.text().replace("&", ""))

    # ----- header ---------------------------------------------------------------------------
    def reload_header(self) -> None:
        from gisttracker.services.patients import PatientService

        session, uid = self.context.session, self.patient_uid

        def load() -> tuple[str, str]:
            service = PatientService(session)
            return service.header(uid), service.get(uid).status

        self.context.tasks.run(load, self._header_loaded, self._header_failed)

    def _header_loaded(self, result: tuple[str, str]) -> None:
        if not shiboken6.isValid(self):
            return
        text, self.status = result
        self.header.setText(text)
        self.setWindowTitle(text)
        self.header_loaded.emit(text)

    def _header_failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        from ui.errors import show_error

        self.header.setText(_("This patient could not be read."))
        show_error(self, exc, context="patient window header")

    def _changed(self, changes: Changes) -> None:
        if not shiboken6.isValid(self):
            return
        if changes.touched(*HEADER_TABLES):
            self.reload_header()
        for page in self.pages.values():
            page.on_changes(changes)

    # ----- actions --------------------------------------------------------------------------
    def _with_facts(self, open_dialog: Callable[[object], None]) -> None:
        from ui.patient_actions import read_facts

        context, uid = self.context, self.patient_uid

        def failed(exc: BaseException) -> None:
            from ui.errors import show_error

            show_error(self, exc, context="patient window")

        context.tasks.run(lambda: read_facts(context, uid),
                          lambda facts: open_dialog(facts) if shiboken6.isValid(self) else None,
                          failed)

    def correct_registration(self) -> None:
        """Open the registration correction (after reading what is registered)."""
        from ui.patient_actions import RegistrationDialog

        def opened(facts: object) -> None:
            self.dialog = RegistrationDialog(self.context, self.patient_uid,
                                             facts, self)  # type: ignore[arg-type]
            self.dialog.open()

        self._with_facts(opened)

    def change_status(self) -> None:
        """End the participation of an enrolled patient, or undo an end made by mistake."""
        from ui.patient_actions import EndParticipationDialog, ResumeParticipationDialog

        def opened(facts: object) -> None:
            status = getattr(facts, "status", "")
            if status == "enrolled":
                self.dialog = EndParticipationDialog(self.context, self.patient_uid,
                                                     facts, self)  # type: ignore[arg-type]
            elif status in ("withdrawn", "lost_to_follow_up", "died", "completed"):
                self.dialog = ResumeParticipationDialog(self.context, self.patient_uid,
                                                        facts, self)  # type: ignore[arg-type]
            else:
                from PySide6.QtWidgets import QMessageBox

                QMessageBox.information(self, _("Status"), _(
                    "The participation of a patient starts at enrollment; before that, use "
                    "the Screening & enrollment tab (screen failure, re-screening)."))
                return
            self.dialog.open()

        self._with_facts(opened)

    def _print_schedule(self) -> None:
        from ui.reports import print_schedule

        print_schedule(self, self.context, self.patient_uid)

    # ----- closing --------------------------------------------------------------------------
    def force_close(self) -> None:
        """Close without asking (the site itself is closing)."""
        self._forced = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._forced or all(page.maybe_close() for page in self.pages.values()):
            if self._listening:
                self._listening = False
                self.context.changed.disconnect(self._changed)
            event.accept()
        else:
            event.ignore()

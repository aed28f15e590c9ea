"""A patient's own window: a header (study identifier, arm, status) and tabs that the
feature areas contribute (screening, schedule, visits and forms, tumour and course…).

To add a tab, append a :class:`PatientTab` to :data:`PATIENT_TABS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from gisttracker.i18n import _
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


PATIENT_TABS: list[PatientTab] = []


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
            self.tabs.addTab(page, _(tab.title))
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)
        self.resize(1000, 720)

    def closeEvent(self, event):  # type: ignore[no-untyped-def]
        if all(page.maybe_close() for page in self.pages.values()):
            event.accept()
        else:
            event.ignore()

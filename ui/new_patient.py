"""The "New patient" dialog of the Patients area: study, sex and the personal identifiers.

Imported when a nurse first asks for it (Patients ▸ New patient), not with the patient list:
its date field and the checks behind it are no part of the first screen.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import _, local
from ui.errors import error_message
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField, DateInputError

if TYPE_CHECKING:
    from gisttracker.protocols import Study
    from gisttracker.services.patients import Identity
    from gisttracker.session import Session


class NewPatientDialog(QDialog):
    """Register a patient: study, sex and the personal identifiers (kept apart).

    The registration runs on the background worker; a refusal is shown in the dialog and
    nothing typed is lost.
    """

    def __init__(self, session: Session, study: Study | None, today: date,
                 parent: QWidget | None = None, tasks: TaskManager | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("New patient"))
        self.session = session
        self.today = today
        self.tasks = tasks or TaskManager(self)
        self.patient_uid: str | None = None
        self.study_box = QComboBox(self)
        for s in sorted(session.studies.values(), key=lambda s: s.key):
            self.study_box.addItem(f"{s.key} — {local(s.short_title)}", s.key)
        if study is not None:
            self.study_box.setCurrentIndex(max(0, self.study_box.findData(study.key)))
        self.sex_box = QComboBox(self)
        self.sex_box.addItem("—", None)
        self.sex_box.addItem(_("female"), "female")
        self.sex_box.addItem(_("male"), "male")
        self.record = QLineEdit(self)
        self.name = QLineEdit(self)
        self.initials = QLineEdit(self)
        self.initials.setMaxLength(10)
        self.dob = DateField(self, optional=True, kind="birth", today=lambda: self.today,
                             label=_("Date of birth"))
        self.message = QLabel(self)
        self.message.setStyleSheet("color: #b00020;")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow(_("S&tudy"), self.study_box)
        form.addRow(_("Se&x"), self.sex_box)
        form.addRow(_("&Record number"), self.record)
        form.addRow(_("&Name"), self.name)
        form.addRow(_("&Initials"), self.initials)
        form.addRow(_("Date of &birth"), self.dob)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(_("Re&gister"))
        self.buttons.accepted.connect(self.register)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def identity(self) -> Identity:
        """What was typed (:class:`DateInputError` for a date of birth that cannot be)."""
        from gisttracker.services.patients import Identity

        return Identity(self.record.text(), self.name.text(), self.initials.text(),
                        self.dob.value())

    def register(self) -> None:
        from gisttracker.services.patients import PatientService

        try:
            identity = self.identity()
        except DateInputError as exc:
            self.message.setText(str(exc))
            self.dob.setFocus()
            return
        session, study_key, sex = self.session, self.study_box.currentData(), \
            self.sex_box.currentData()
        today = self.today
        self.buttons.setEnabled(False)
        self.message.setText(_("Registering…"))
        self.tasks.run(lambda: PatientService(session).register(
            study_key, sex=sex, identity=identity, today=today).uid,
            self._registered, self._refused)

    def _registered(self, uid: str) -> None:
        self.patient_uid = uid
        self.buttons.setEnabled(True)
        self.accept()

    def _refused(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        self.message.setText(error_message(exc, context="registering a patient"))

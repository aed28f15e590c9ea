"""What the patient window's header offers besides the tabs: correcting the registration
(sex, record number, name, initials, date of birth) and changing the patient's status
(withdrawn, lost to follow-up, completed, died — or undoing an end recorded by mistake).

Every dialog reads on the worker before it opens and saves on the worker; a refusal is shown
beside the field it concerns and the dialog stays open with what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QWidget

from gisttracker.i18n import N_, _
from gisttracker.services.course import CourseInputError, CourseService, EventInput
from gisttracker.services.patients import STATUS_LABELS, Identity, PatientService
from ui.errors import error_message
from ui.widgets.date_field import DateField
from ui.widgets.record_dialog import FieldError, RecordDialog

if TYPE_CHECKING:
    from ui.context import WindowContext

#: The ends of participation the window offers, in the order listed.
END_CHOICES = (("withdrawn", N_("Withdrawn (consent withdrawn or stopped by the "
                                "investigator)")),
               ("lost_to_follow_up", N_("Lost to follow-up")),
               ("completed", N_("Completed the study")),
               ("died", N_("Died")))


@dataclass(frozen=True)
class PatientFacts:
    """What the header's dialogs need to know about the patient (read on the worker)."""

    study_id: str
    status: str
    sex: str | None
    enrolled_on: date | None
    identity: Identity


def read_facts(context: WindowContext, uid: str) -> PatientFacts:
    """Runs on the worker."""
    service = PatientService(context.session)
    patient = service.get(uid)
    ident = service.identity(uid)
    identity = Identity(ident.record_number if ident else None, ident.name if ident else None,
                        ident.initials if ident else None,
                        ident.date_of_birth if ident else None)
    return PatientFacts(patient.study_id, patient.status, patient.sex, patient.enrolled_on,
                        identity)


def _save(dialog: RecordDialog, context: WindowContext, work: Any, what: str,
          fields: dict[str, str] | None = None) -> None:
    """Run ``work`` on the worker; close the dialog when it went through, else show why."""

    def failed(exc: BaseException) -> None:
        if isinstance(exc, CourseInputError):
            errors = {(fields or {}).get(k, k): m for k, m in exc.errors.items()}
            dialog.show_errors(errors)
        else:
            dialog.show_errors({"": error_message(exc, context=what)})

    context.tasks.run(work, lambda _r: dialog.done_ok(), failed)


class RegistrationDialog(RecordDialog):
    """Correct sex, record number, name, initials and date of birth (reason required)."""

    def __init__(self, context: WindowContext, uid: str, facts: PatientFacts,
                 parent: QWidget | None = None) -> None:
        super().__init__(_("Correct the registration of {patient}").format(
            patient=facts.study_id), parent, reason="required", prompt=_(
            "The study identifier {patient} never changes. Every field changed here is kept in "
            "the audit trail with the reason.").format(patient=facts.study_id))
        self.sex = QComboBox(self)
        self.sex.addItem(_("female"), "female")
        self.sex.addItem(_("male"), "male")
        self.sex.setCurrentIndex(max(0, self.sex.findData(facts.sex)))
        self.add("sex", _("Se&x"), self.sex)
        self.record = QLineEdit(facts.identity.record_number or "", self)
        self.add("record_number", _("Record &number"), self.record)
        self.name = QLineEdit(facts.identity.name or "", self)
        self.add("name", _("&Name"), self.name)
        self.initials = QLineEdit(facts.identity.initials or "", self)
        self.initials.setMaxLength(10)
        self.add("initials", _("&Initials"), self.initials)
        self.dob = DateField(self, optional=True, kind="birth", today=context.today,
                             inline_message=False)
        self.dob.set_value(facts.identity.date_of_birth)
        self.add("date_of_birth", _("Date of &birth"), self.dob)
        today = context.today()

        def read(d: RecordDialog) -> tuple[str, Identity]:
            return self.sex.currentData(), Identity(
                self.record.text(), self.name.text(), self.initials.text(),
                d.date("date_of_birth"))

        def submit(value: tuple[str, Identity]) -> None:
            sex, identity = value
            reason = self.reason_text()
            session = context.session
            _save(self, context, lambda: PatientService(session).correct_registration(
                uid, sex=sex, identity=identity, today=today, reason=reason),
                "correcting a registration")

        self.read = read
        self.submit = submit


class EndParticipationDialog(RecordDialog):
    """End an enrolled patient's participation: withdrawn (reason required), lost to
    follow-up, completed, died. Planned visits after the date are cancelled; a death and a
    loss to follow-up are recorded as clinical-course events (the endpoints count them)."""

    def __init__(self, context: WindowContext, uid: str, facts: PatientFacts,
                 parent: QWidget | None = None) -> None:
        super().__init__(_("End the participation of {patient}").format(
            patient=facts.study_id), parent, reason="optional", prompt=_(
            "Visits planned after this date are cancelled. A death or a loss to follow-up is "
            "also recorded on the Treatment & course tab, where the endpoints count it."))
        self.status = QComboBox(self)
        for key, label in END_CHOICES:
            self.status.addItem(_(label), key)
        self.add("status", _("&Status"), self.status)
        self.on = DateField(self, today=context.today, inline_message=False)
        if facts.enrolled_on is not None:
            self.on.set_bounds(after=(facts.enrolled_on, _("enrollment")))
        self.add("on", _("&Date"), self.on)
        self.cause = QLineEdit(self)
        self.add("cause", _("&Cause of death"), self.cause)
        self.status.currentIndexChanged.connect(self._status_changed)
        self._status_changed()
        today = context.today()

        def read(d: RecordDialog) -> tuple[str, date]:
            status = self.status.currentData()
            if status == "withdrawn" and not self.reason_text():
                raise FieldError("reason", _("give the reason for the withdrawal"))
            on = d.date("on")
            assert on is not None
            return status, on

        def submit(value: tuple[str, date]) -> None:
            status, on = value
            reason = self.reason_text() or None
            cause = self.cause.text().strip()
            session = context.session
            if status in ("died", "lost_to_follow_up"):
                kind = "death" if status == "died" else "lost_to_follow_up"
                work: Any = lambda: CourseService(session).record_event(  # noqa: E731
                    uid, EventInput(kind, on, cause=cause if status == "died" else ""),
                    today=today, reason=reason)
            else:
                work = lambda: PatientService(session).end_participation(  # noqa: E731
                    uid, status, on=on, today=today, reason=reason)
            _save(self, context, work, "ending a participation", {"occurred_on": "on"})

        self.read = read
        self.submit = submit

    def finish(self) -> None:
        super().finish()
        self._status_changed()  # the reason field exists now: say whether it is required

    def _status_changed(self) -> None:
        died = self.status.currentData() == "died"
        self.cause.setEnabled(died)
        self.messages["cause"].clear()
        if self.reason is not None:
            self.reason.setPlaceholderText(
                _("required") if self.status.currentData() == "withdrawn" else _("optional"))


class ResumeParticipationDialog(RecordDialog):
    """Undo an end of participation recorded by mistake (reason required)."""

    def __init__(self, context: WindowContext, uid: str, facts: PatientFacts,
                 parent: QWidget | None = None) -> None:
        super().__init__(_("Undo the end of participation of {patient}").format(
            patient=facts.study_id), parent, reason="required", prompt=_(
            "{patient} is {status}. If that was recorded by mistake, the patient is enrolled "
            "again and the visits cancelled by it are planned again.").format(
            patient=facts.study_id, status=_(STATUS_LABELS.get(facts.status, facts.status))))
        session = context.session

        def submit(_value: object) -> None:
            reason = self.reason_text()
            _save(self, context, lambda: PatientService(session).resume_participation(
                uid, reason=reason), "undoing an end of participation")

        self.submit = submit

"""The end of participation: withdrawal, loss to follow-up, death, completion."""

from __future__ import annotations

from datetime import date

from gisttracker.i18n import _, join_list
from gisttracker.services.base import ServiceError, Writer
from gisttracker.services.common import check_patient_date
from gisttracker.services.patients.base import PatientServiceBase
from gisttracker.services.patients.values import END_STATUSES, STATUS_LABELS, _text
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient


class ParticipationMixin(PatientServiceBase):
    """The end of a patient's participation."""

    def end_participation(self, ref: str, status: str, *, on: date, today: date,
                          reason: str | None = None) -> None:
        """Withdrawal (reason required), lost to follow-up, death or completion, on ``on``.

        Visits planned after ``on`` are cancelled by the visits service.
        """
        patient = self.get(ref)
        if status not in END_STATUSES:
            raise ServiceError(_("end of participation must be one of: {allowed}").format(
                allowed=join_list(_(STATUS_LABELS[s]) for s in END_STATUSES)))
        if patient.status != "enrolled":
            raise ServiceError(_("{patient} is {status}, not enrolled").format(
                patient=patient.study_id, status=_(STATUS_LABELS[patient.status])))
        if status == "withdrawn" and not (reason and reason.strip()):
            raise ServiceError(_("Withdrawal: give the reason"))
        if on > today:
            raise ServiceError(_("End date {date} is in the future").format(date=on.isoformat()))
        check_patient_date(patient, on, today=today, label=_("End date"), death=False)
        retrospective = self.study(patient.study_key).study_type == "retrospective"
        if patient.enrolled_on is not None and on < patient.enrolled_on and not retrospective:
            raise ServiceError(_("End date {date} is before enrollment ({enrolled})").format(
                date=on.isoformat(), enrolled=patient.enrolled_on.isoformat()))
        with self.tracker.transaction(reason or _(STATUS_LABELS[status])) as w:
            w.update(patient, {"status": status, "ended_on": on,
                               "end_reason": _text(reason)}, patient_uid=patient.uid)
            from gisttracker.services.visits import end_participation_visits

            end_participation_visits(w, self.session, patient)


    def resume_participation(self, ref: str, *, reason: str) -> None:
        """Undo an end of participation recorded by mistake (a correction; ``reason`` is
        required): the patient is enrolled again and the visits cancelled because it had
        ended are planned again (those already settled stay as they are)."""
        patient = self.get(ref)
        if patient.status not in END_STATUSES:
            raise ServiceError(_("{patient} is {status}: there is no end of participation "
                                 "to undo").format(patient=patient.study_id,
                                                   status=_(STATUS_LABELS[patient.status])))
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to undo an end of participation"))
        from gisttracker.store.models_course import CourseEvent

        kind = {"died": "death", "lost_to_follow_up": "lost_to_follow_up"}.get(patient.status)
        if kind is not None and CourseEvent.get_or_none(
                (CourseEvent.patient == patient) & (CourseEvent.kind == kind)) is not None:
            raise ServiceError(_("{patient}: the {event} recorded on the Treatment & course "
                                 "tab ends the participation; correct or delete that event "
                                 "instead").format(patient=patient.study_id,
                                                   event=_(STATUS_LABELS[patient.status])))
        with self.tracker.transaction(reason.strip()) as w:
            resume_visits(w, self.session, patient)


def resume_visits(w: Writer, session: Session, patient: Patient) -> None:
    """Enrolled again (inside the caller's transaction): status, end date and reason cleared,
    and the visits the end had cancelled planned again from the anchors."""
    w.update(patient, {"status": "enrolled", "ended_on": None, "end_reason": None},
             patient_uid=patient.uid)
    from gisttracker.services.visits import VisitService

    service = VisitService(session)
    service.replan(w, patient, _("participation resumed"))

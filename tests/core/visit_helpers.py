"""Helpers for the schedule tests: enrolled patients written through the audited Writer."""

from __future__ import annotations

from datetime import date

from gisttracker.services.visits import plan_for_enrollment
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient


def enroll(session: Session, study_key: str, study_id: str, enrolled_on: date) -> Patient:
    """An enrolled patient of ``study_key`` with its visits planned, as enrollment does."""
    site, _dash, number = study_id.partition("-")
    with session.tracker.transaction("enrollment") as w:
        patient = w.insert(Patient, study_key=study_key, study_id=study_id, site_code=site,
                           seq=int(number), status="enrolled", enrolled_on=enrolled_on,
                           enrolled_by="nurse", created_on=enrolled_on)
        plan_for_enrollment(w, session, patient)
    return patient


def end_participation(session: Session, patient: Patient, ended_on: date, reason: str,
                      status: str = "withdrawn") -> None:
    """End the patient's participation the way the patient service does."""
    from gisttracker.services.visits import end_participation_visits

    with session.tracker.transaction(reason) as w:
        w.update(patient, {"status": status, "ended_on": ended_on, "end_reason": reason},
                 patient_uid=patient.uid)
        end_participation_visits(w, session, patient)

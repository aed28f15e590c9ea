"""Enrolled patients with planned visits for the tumour, treatment and course tests."""

from __future__ import annotations

from datetime import date

from gisttracker.services.visits import plan_for_enrollment
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient

TODAY = date(2026, 3, 14)
ENROLLED = date(2024, 1, 10)


def enrolled_patient(session: Session, study_key: str = "NCT03862768", *, seq: int = 1,
                     arm: str = "A", enrolled_on: date = ENROLLED) -> Patient:
    """An enrolled patient of ``study_key`` with the visits planned from enrollment."""
    with session.tracker.transaction("test patient") as w:
        patient = w.insert(Patient, study_key=study_key, study_id=f"ZJU-{seq:04d}",
                           site_code="ZJU", seq=seq, sex="female", status="enrolled",
                           arm_code=arm, enrolled_on=enrolled_on, created_on=enrolled_on)
        plan_for_enrollment(w, session, patient)
    return patient

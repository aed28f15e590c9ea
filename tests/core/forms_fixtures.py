"""Patients and visits for the form tests, created through the audited Writer."""

from __future__ import annotations

from datetime import date

from gisttracker.session import Session
from gisttracker.store.models_patients import LabResult, Patient, Screening
from gisttracker.store.models_visits import Visit

TODAY = date(2026, 3, 14)


def make_patient(session: Session, *, sex: str = "male", study_key: str = "RECTAL-LE",
                 seq: int = 1) -> Patient:
    with session.tracker.transaction("test patient") as w:
        return w.insert(Patient, study_key=study_key, study_id=f"ZJU-{seq:04d}",
                        site_code="ZJU", seq=seq, sex=sex, status="enrolled",
                        arm_code="A", enrolled_on=date(2025, 6, 1), created_on=date(2025, 6, 1))


def make_visit(session: Session, patient: Patient, visit_key: str, *,
               planned_on: date = date(2026, 3, 10)) -> Visit:
    study = session.study(patient.study_key)
    name = next(v.name for v in study.visits if v.key == visit_key)
    with session.tracker.transaction("test visit") as w:
        return w.insert(Visit, patient=patient.__data__["id"], visit_key=visit_key, name=name,
                        planned_on=planned_on, window_start=date(2026, 2, 24),
                        window_end=date(2026, 3, 24), state="planned")


def make_screening_lab(session: Session, patient: Patient, analyte: str, value: float,
                       unit: str, *, uln: float | None = None,
                       lln: float | None = None) -> LabResult:
    with session.tracker.transaction("test screening") as w:
        screening = w.insert(Screening, patient=patient.__data__["id"],
                             screened_on=date(2025, 5, 20), screened_by="nurse")
        return w.insert(LabResult, patient=patient.__data__["id"],
                        screening=screening.__data__["id"], analyte=analyte, value=value,
                        unit=unit, uln=uln, lln=lln, sampled_on=date(2025, 5, 20))

"""Screening data that passes each study's criteria, for the patient service tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from gisttracker.protocols import Study
from gisttracker.services.patients import (
    Identity,
    LabEntry,
    PatientService,
    ScreeningData,
)
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient

TODAY = date(2026, 3, 14)
DOB = date(1966, 3, 15)  # 59 on TODAY, 60 tomorrow

COMMON: dict[str, Any] = {
    "ecog": 1, "asa": 2, "histology_confirmed": True, "cd117_positive": True,
    "dog1_positive": True, "other_malignancy_5y": False, "pregnant_or_lactating": False,
    "hiv_positive": False, "consent_date": date(2026, 3, 10), "primary_site": "stomach",
    "mutation": "KIT_11", "tumour_size_cm": 12.0, "mitotic_count": 4.0,
    "mitotic_unit": "50hpf", "ruptured": False, "distant_metastases": False,
}
PER_STUDY: dict[str, dict[str, Any]] = {
    "NCT03862768": {"prior_imatinib": True, "progressive_organs": 1, "progressive_lesions": 2,
                    "distant_metastases": True},
    "NCT04933669": {"prior_tki": False, "prior_imatinib": False},
    "NCT06038552": {"liver_metastases": True, "prior_imatinib": True,
                    "distant_metastases": True},
    "PREOP-DURATION": {"prior_imatinib": True},
    "RECTAL-LE": {"primary_site": "rectum", "tumour_size_cm": 4.0},
}
NORMAL_LABS = {
    "anc": LabEntry(3.2, "×10⁹/L", 1.8, 6.3), "platelets": LabEntry(210, "×10⁹/L", 125, 350),
    "haemoglobin": LabEntry(128, "g/L", 115, 150), "alt": LabEntry(30, "U/L", 7, 40),
    "ast": LabEntry(28, "U/L", 13, 35), "bilirubin": LabEntry(12, "µmol/L", 0, 21),
    "creatinine": LabEntry(80, "µmol/L", 45, 104),
}


def good_data(study: Study) -> ScreeningData:
    """Facts, labs and judgements with which a patient passes every criterion of ``study``."""
    values = {**COMMON, **PER_STUDY[study.key]}
    ticks = {c.id: c.kind == "inclusion" for c in study.criteria if c.rule is None}
    return ScreeningData(values, dict(NORMAL_LABS), ticks)


def set_site(session: Session, code: str = "ZJU") -> None:
    SettingsService(session.tracker).set("site_code", code, reason="test site")


def new_patient(service: PatientService, study_key: str, *, dob: date = DOB,
                sex: str = "female", number: str | None = None) -> Patient:
    return service.register(study_key, sex=sex, identity=Identity(
        record_number=number, name="Test Patient", initials="TP", date_of_birth=dob),
        today=TODAY)


def eligible_patient(service: PatientService, study_key: str, **kwargs: Any) -> Patient:
    patient = new_patient(service, study_key, **kwargs)
    result = service.save_screening(patient.uid, good_data(service.study(study_key)),
                                    today=TODAY)
    assert result.outcome == "eligible", [(r.criterion.id, r.reason) for r in result.failures
                                          + result.unknown]
    return patient

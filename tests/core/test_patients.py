"""Patients through the service: registration, screening, enrollment, the list and the log."""

from __future__ import annotations

import inspect
import json
import random
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import peewee
import pytest

from gisttracker.cli import main
from gisttracker.services.base import ServiceError
from gisttracker.services.patients import (
    Identity,
    LabEntry,
    PatientFilter,
    PatientService,
    ScreeningData,
)
from gisttracker.session import Session, open_session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient, Randomization, Screening
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.patients_helpers import (
    TODAY,
    eligible_patient,
    good_data,
    new_patient,
    set_site,
)
from tests.helpers import FIXED_NOW, new_site


@pytest.fixture
def service(session: Session) -> PatientService:
    set_site(session)
    return PatientService(session)


def _screen(service: PatientService, study_key: str, changes: dict[str, Any] | None = None,
            labs: dict[str, LabEntry] | None = None, dob: date | None = None,
            ticks: dict[str, bool | None] | None = None) -> Any:
    data = good_data(service.study(study_key))
    data.values.update(changes or {})
    data.labs.update(labs or {})
    data.judgements.update(ticks or {})
    patient = new_patient(service, study_key, **({"dob": dob} if dob else {}))
    return service.save_screening(patient.uid, data, today=TODAY)


def _aged(years: int) -> date:
    """A date of birth that makes the patient exactly ``years`` old on TODAY."""
    return date(TODAY.year - years, TODAY.month, TODAY.day)


# --- registration -----------------------------------------------------------------------


def test_registration_assigns_site_sequence_ids_and_keeps_identity_apart(
        service: PatientService) -> None:
    first = new_patient(service, "NCT03862768", number="MRN-1")
    second = new_patient(service, "RECTAL-LE", number="MRN-2")
    assert (first.study_id, second.study_id) == ("ZJU-0001", "ZJU-0002")
    assert "MRN" not in json.dumps(Patient.select().dicts()[0], default=str)
    assert service.identity("ZJU-0002").record_number == "MRN-2"  # type: ignore[union-attr]
    tagged = list(AuditLog.select().where(AuditLog.patient_uid == first.uid))
    # The patient row and its identity: one entry each, holding every value.
    assert sorted(a.table_name for a in tagged) == ["patient", "patient_identity"]
    identity = next(a for a in tagged if a.table_name == "patient_identity")
    assert json.loads(identity.new_value)["record_number"] == "MRN-1"


@pytest.mark.parametrize(("identity", "sex", "message"), [
    (Identity("M1", date_of_birth=date(2026, 3, 15)), "male", "Date of birth 2026-03-15 is in"),
    (Identity(), "male", "at least a record number"),
    (Identity("M1"), None, "Sex"),
])
def test_bad_registration_is_refused_with_a_field_message_and_nothing_saved(
        service: PatientService, identity: Identity, sex: str | None, message: str) -> None:
    before = AuditLog.select().count()
    with pytest.raises(ServiceError, match=message):
        service.register("NCT03862768", sex=sex, identity=identity, today=TODAY)
    assert Patient.select().count() == 0
    assert AuditLog.select().count() == before


def test_duplicate_record_number_is_refused(service: PatientService) -> None:
    new_patient(service, "NCT03862768", number="MRN-9")
    with pytest.raises(ServiceError, match="MRN-9 is already registered as ZJU-0001"):
        new_patient(service, "RECTAL-LE", number="MRN-9")


# --- screening: every study passes, fails one criterion, has unknowns ---------------------


@pytest.mark.parametrize("study_key", ["NCT03862768", "NCT04933669", "NCT06038552",
                                       "PREOP-DURATION", "RECTAL-LE"])
def test_each_study_passes_with_complete_good_data(service: PatientService,
                                                   study_key: str) -> None:
    result = _screen(service, study_key)
    assert result.outcome == "eligible"
    assert all(r.state != "unknown" for r in result.results)
    stored = Screening.get()
    assert (stored.outcome, json.loads(stored.reasons)) == ("eligible", [])


PASS, FAIL = True, False
# (study, criterion, changes, labs, dob, passes): each computable threshold from both sides.
CASES: list[tuple[str, str, dict[str, Any], dict[str, LabEntry], date | None, bool]] = [
    ("NCT03862768", "I3", {}, {}, _aged(75), PASS),
    ("NCT03862768", "I3", {}, {}, _aged(76), FAIL),
    ("NCT03862768", "I3", {}, {}, _aged(18), PASS),
    ("NCT03862768", "I3", {}, {}, date(2008, 3, 15), FAIL),  # 17, 18 tomorrow
    ("NCT03862768", "I5", {"ecog": 1}, {}, None, PASS),
    ("NCT03862768", "I5", {"ecog": 2}, {}, None, FAIL),
    ("NCT03862768", "I6", {"asa": 2}, {}, None, PASS),
    ("NCT03862768", "I6", {"asa": 3}, {}, None, FAIL),
    ("NCT03862768", "I2", {"progressive_lesions": 3}, {}, None, PASS),
    ("NCT03862768", "I2", {"progressive_lesions": 4}, {}, None, FAIL),
    ("NCT03862768", "I2", {"progressive_lesions": 0}, {}, None, FAIL),
    ("NCT03862768", "I2", {"progressive_organs": 2}, {}, None, FAIL),
    ("NCT03862768", "E2", {"progressive_organs": 2}, {}, None, FAIL),
    ("NCT03862768", "E2", {"progressive_lesions": 4}, {}, None, FAIL),
    ("NCT03862768", "I1", {"prior_imatinib": False}, {}, None, FAIL),
    ("NCT03862768", "I4", {"other_malignancy_5y": True}, {}, None, FAIL),
    ("NCT03862768", "E8", {"other_malignancy_5y": True}, {}, None, FAIL),
    ("NCT03862768", "E6", {"pregnant_or_lactating": True}, {}, None, FAIL),
    ("NCT04933669", "I4", {"tumour_size_cm": 10.1}, {}, None, PASS),
    ("NCT04933669", "I4", {"tumour_size_cm": 10.0}, {}, None, FAIL),
    ("NCT04933669", "I4", {"primary_site": "small_intestine", "tumour_size_cm": 5.1}, {},
     None, PASS),
    ("NCT04933669", "I4", {"primary_site": "small_intestine", "tumour_size_cm": 5.0}, {},
     None, FAIL),
    ("NCT04933669", "I5", {}, {}, _aged(80), PASS),
    ("NCT04933669", "I5", {}, {}, _aged(81), FAIL),
    ("NCT04933669", "I6", {"ecog": 2}, {}, None, FAIL),
    ("NCT04933669", "I2", {"cd117_positive": False}, {}, None, PASS),
    ("NCT04933669", "I2", {"cd117_positive": False, "dog1_positive": False}, {}, None, FAIL),
    ("NCT04933669", "I3", {"mutation": "NOT_TESTED"}, {}, None, FAIL),
    ("NCT04933669", "E1", {"mutation": "KIT_9"}, {}, None, FAIL),
    ("NCT04933669", "E1", {"mutation": "PDGFRA_18_D842V"}, {}, None, FAIL),
    ("NCT04933669", "E1", {"mutation": "PDGFRA_18"}, {}, None, PASS),
    ("NCT04933669", "E2", {"prior_tki": True}, {}, None, FAIL),
    ("NCT04933669", "E3", {}, {"alt": LabEntry(100, "U/L", 7, 40)}, None, PASS),
    ("NCT04933669", "E3", {}, {"alt": LabEntry(100.1, "U/L", 7, 40)}, None, FAIL),
    # µkat/L converted exactly (× 60): 1.66 → 99.6 U/L, ULN 0.6667 → 40.002 U/L.
    ("NCT04933669", "E3", {}, {"alt": LabEntry(1.66, "µkat/L", 0.1, 0.6667)}, None, PASS),
    ("NCT04933669", "E3", {}, {"alt": LabEntry(1.68, "µkat/L", 0.1, 0.6667)}, None, FAIL),
    ("NCT04933669", "E3", {}, {"ast": LabEntry(87.5, "U/L", 13, 35)}, None, PASS),
    ("NCT04933669", "E3", {}, {"ast": LabEntry(87.6, "U/L", 13, 35)}, None, FAIL),
    ("NCT04933669", "E3", {}, {"bilirubin": LabEntry(31.5, "µmol/L", 0, 21)}, None, PASS),
    ("NCT04933669", "E3", {}, {"bilirubin": LabEntry(1.9, "mg/dL", 0, 1.2)}, None, FAIL),
    ("NCT04933669", "E3", {}, {"creatinine": LabEntry(104, "µmol/L", 45, 104)}, None, PASS),
    ("NCT04933669", "E3", {}, {"creatinine": LabEntry(105, "µmol/L", 45, 104)}, None, FAIL),
    ("NCT04933669", "E4", {}, {"anc": LabEntry(1.5, "×10⁹/L", 1.8, 6.3)}, None, PASS),
    ("NCT04933669", "E4", {}, {"anc": LabEntry(1.4, "×10⁹/L", 1.8, 6.3)}, None, FAIL),
    ("NCT04933669", "E4", {}, {"platelets": LabEntry(75, "×10⁹/L", 125, 350)}, None, PASS),
    ("NCT04933669", "E4", {}, {"platelets": LabEntry(74, "×10⁹/L", 125, 350)}, None, FAIL),
    ("NCT04933669", "E4", {}, {"haemoglobin": LabEntry(90, "g/L", 115, 150)}, None, PASS),
    ("NCT04933669", "E4", {}, {"haemoglobin": LabEntry(8.9, "g/dL", 11.5, 15)}, None, FAIL),
    ("NCT04933669", "E6", {"distant_metastases": True}, {}, None, FAIL),
    ("NCT04933669", "E8", {"hiv_positive": True}, {}, None, FAIL),
    ("NCT04933669", "E10", {"pregnant_or_lactating": True}, {}, None, FAIL),
    ("NCT06038552", "I2", {"liver_metastases": False}, {}, None, FAIL),
    ("NCT06038552", "I3", {"ecog": 2}, {}, None, FAIL),
    ("NCT06038552", "I3", {"ecog": 0}, {}, None, PASS),
    ("NCT06038552", "E1", {"prior_imatinib": False}, {}, None, FAIL),
    ("NCT06038552", "E3", {"other_malignancy_5y": True}, {}, None, FAIL),
    ("PREOP-DURATION", "I1", {"histology_confirmed": False}, {}, None, FAIL),
    ("PREOP-DURATION", "I3", {"prior_imatinib": False}, {}, None, FAIL),
    ("RECTAL-LE", "I2", {"primary_site": "colon"}, {}, None, FAIL),
    ("RECTAL-LE", "I3", {"mutation": "PDGFRA_18"}, {}, None, FAIL),
    ("RECTAL-LE", "I3", {"mutation": "KIT_17"}, {}, None, PASS),
    ("RECTAL-LE", "I5", {}, {}, _aged(18), PASS),
    ("RECTAL-LE", "I5", {}, {}, date(2008, 3, 15), FAIL),
    ("RECTAL-LE", "I6", {"ecog": 2}, {}, None, FAIL),
    ("RECTAL-LE", "E1", {"distant_metastases": True}, {}, None, FAIL),
]


@pytest.mark.parametrize(("study_key", "criterion", "changes", "labs", "dob", "passes"), CASES)
def test_one_criterion_decides_at_its_threshold(
        service: PatientService, study_key: str, criterion: str, changes: dict[str, Any],
        labs: dict[str, LabEntry], dob: date | None, passes: bool) -> None:
    result = _screen(service, study_key, changes, labs, dob)
    decided = result.result(criterion)
    assert decided.excludes is (not passes), decided.reason
    assert result.outcome == ("eligible" if passes else "ineligible")
    if not passes:
        assert criterion in {r["criterion"] for r in json.loads(Screening.get().reasons)}


def test_reason_names_the_value_and_the_limit(service: PatientService) -> None:
    result = _screen(service, "NCT04933669", labs={"alt": LabEntry(130, "U/L", 7, 40)},
                     dob=_aged(77))
    assert result.result("E3").reason == "ALT 130 U/L > 2.5 × ULN 40 U/L (100 U/L)"
    result = _screen(service, "NCT03862768", dob=_aged(77))
    assert result.result("I3").reason == "age 77 > 75"


def test_judgements_are_recorded_with_who_and_when_and_decide(service: PatientService) -> None:
    result = _screen(service, "NCT03862768", ticks={"E1": True})
    assert result.result("E1").excludes is True
    records = service.judgement_records(Screening.get())
    assert records["E1"] == (True, "nurse", FIXED_NOW.isoformat(timespec="seconds"))


@pytest.mark.parametrize("study_key", ["NCT03862768", "NCT04933669", "NCT06038552",
                                       "PREOP-DURATION", "RECTAL-LE"])
def test_missing_facts_and_judgements_leave_the_screening_incomplete(
        service: PatientService, study_key: str) -> None:
    study = service.study(study_key)
    judged = [c.id for c in study.criteria if c.rule is None]
    ticks: dict[str, bool | None] = {cid: None for cid in judged}
    result = _screen(service, study_key, {"ecog": None, "histology_confirmed": None},
                     ticks=ticks)
    assert result.outcome == "incomplete"
    unknown = {r.criterion.id for r in result.unknown}
    assert set(judged) <= unknown
    assert any("not yet entered" in r.reason for r in result.unknown)
    with pytest.raises(ServiceError, match="not eligible"):
        service.enroll(Patient.get().uid, today=TODAY, rng=random.Random(1))
    assert Patient.get().status == "screened"


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "labs", "message"), [
    ({"ecog": 7}, {}, "ECOG performance status must be a whole number from 0 to 5"),
    ({"asa": 0}, {}, "ASA class must be a whole number from 1 to 6"),
    ({"tumour_size_cm": -1.0}, {}, "Maximum tumour diameter must be a number of 0 or more"),
    ({"consent_date": date(2026, 4, 1)}, {}, "Consent date 2026-04-01 is in the future"),
    ({}, {"platelets": LabEntry(150000, "×10⁹/L", 125, 350)},
     r"Platelets: 150000 ×10⁹/L is outside the plausible range.*/µL"),
    ({}, {"alt": LabEntry(30, "U/L", 50, 40)}, "LLN must be below ULN"),
])
def test_invalid_screening_values_are_refused_and_nothing_is_saved(
        service: PatientService, changes: dict[str, Any], labs: dict[str, LabEntry],
        message: str) -> None:
    patient = new_patient(service, "NCT04933669")
    data = good_data(service.study("NCT04933669"))
    data.values.update(changes)
    data.labs.update(labs)
    before = AuditLog.select().count()
    with pytest.raises(ServiceError, match=message):
        service.save_screening(patient.uid, data, today=TODAY)
    assert Screening.select().count() == 0
    assert AuditLog.select().count() == before


def test_corrected_screening_updates_the_same_episode_and_audits_it(
        service: PatientService) -> None:
    patient = new_patient(service, "NCT03862768")
    data = good_data(service.study("NCT03862768"))
    data.values["ecog"] = 2
    assert service.save_screening(patient.uid, data, today=TODAY).outcome == "ineligible"
    data.values["ecog"] = 1
    assert service.save_screening(patient.uid, data, today=TODAY).outcome == "eligible"
    assert Screening.select().count() == 1
    change = AuditLog.get((AuditLog.field == "ecog") & (AuditLog.action == "update"))
    assert (change.old_value, change.new_value) == ("2", "1")


# --- screen failure, re-screening, the log ------------------------------------------------


def test_screen_failure_rescreen_and_the_screening_log(service: PatientService) -> None:
    failing = _screen(service, "NCT03862768", {"ecog": 2, "asa": 3})
    assert failing.outcome == "ineligible"
    first = Patient.get()
    service.close_screen_failure(first.uid)
    assert service.get(first.uid).status == "screen_failed"
    with pytest.raises(ServiceError, match="no open eligible screening"):
        service.enroll(first.uid, today=TODAY, rng=random.Random(1))

    _screen(service, "NCT03862768", dob=_aged(76))
    service.close_screen_failure("ZJU-0002")
    eligible_patient(service, "NCT03862768")
    declined = new_patient(service, "NCT03862768")
    with pytest.raises(ServiceError, match="say why"):
        service.close_screen_failure(declined.uid)
    service.save_screening(declined.uid, ScreeningData({"ecog": 0}), today=TODAY)
    with pytest.raises(ServiceError, match="say why"):
        service.close_screen_failure(declined.uid)
    service.close_screen_failure(declined.uid, reason="consent declined")

    service.rescreen(first.uid, today=date(2026, 3, 14))
    assert service.save_screening(first.uid, good_data(service.study("NCT03862768")),
                                  today=TODAY).outcome == "eligible"
    assert [s.outcome for s in service.screenings(first.uid)] == ["ineligible", "eligible"]
    assert service.screenings(first.uid)[0].closed

    log = service.screening_log("NCT03862768")
    assert (log.screened, log.eligible, log.screen_failed, log.enrolled) == (4, 2, 2, 0)
    assert log.failures_by_criterion == {"I3": 1, "other": 1}
    entry = next(e for e in log.entries if e.patient == "ZJU-0001")
    assert ("I5", "ECOG 2 ≥ 2") in entry.reasons  # history kept after re-screening
    assert len(log.entries) == 5


def test_a_patient_who_declines_consent_is_a_screen_failure_before_any_data(
        service: PatientService) -> None:
    declined = new_patient(service, "NCT03862768")
    assert service.latest_screening(declined.uid) is None
    service.close_screen_failure(declined.uid, reason="consent declined", today=TODAY)
    assert service.get(declined.uid).status == "screen_failed"
    closed = service.latest_screening(declined.uid)
    assert closed is not None and closed.closed and closed.screened_on == TODAY
    log = service.screening_log("NCT03862768")
    entry = next(e for e in log.entries if e.patient == declined.study_id)
    assert entry.reasons == (("", "consent declined"),)
    assert (log.screen_failed, log.failures_by_criterion) == (1, {"other": 1})


def test_screen_failure_reasons_are_chosen_from_the_criteria_or_typed(
        service: PatientService) -> None:
    patient = new_patient(service, "NCT03862768")
    service.save_screening(patient.uid, ScreeningData({"ecog": 0}), today=TODAY)
    with pytest.raises(ServiceError, match="E99 is not a criterion"):
        service.close_screen_failure(patient.uid, criteria=["E99"])
    service.close_screen_failure(patient.uid, criteria=["I4"], reason="declined surgery")
    reasons = json.loads(service.latest_screening(patient.uid).reasons)  # type: ignore[union-attr]
    assert [r["criterion"] for r in reasons] == ["I4", None]
    assert reasons[1]["reason"] == "declined surgery"
    with pytest.raises(ServiceError, match="only a patient being screened"):
        service.close_screen_failure(patient.uid, reason="again")


# --- enrollment --------------------------------------------------------------------------


def test_randomization_records_number_stratum_user_and_plans_visits(
        service: PatientService) -> None:
    patient = eligible_patient(service, "NCT03862768")
    preview = service.preview_enrollment(patient.uid)
    assert preview.message == ("ZJU-0001 will be randomized in stratum site=ZJU of "
                               "NCT03862768; this cannot be undone.")
    assert preview.arm_code is None
    result = service.enroll(patient.uid, today=TODAY, rng=random.Random(5), arm_option="SU37.5")
    row = Randomization.get()
    assert (row.number, row.stratum, row.position, row.randomized_by) == (
        "R-0001", "site=ZJU", 0, "nurse")
    assert result.arm_code == row.arm_code
    stored = service.get(patient.uid)
    assert (stored.status, stored.enrolled_on, stored.enrolled_by,
            stored.randomization_number) == ("enrolled", TODAY, "nurse", "R-0001")
    assert stored.arm_option == ("SU37.5" if row.arm_code == "B" else None)
    anchor = AnchorDate.get(AnchorDate.patient == stored)
    assert (anchor.anchor_key, anchor.date) == ("randomization", TODAY)
    assert Visit.select().where(Visit.patient == stored).count() >= 5


def test_no_second_randomization_by_service_or_database(service: PatientService) -> None:
    patient = eligible_patient(service, "NCT03862768")
    service.enroll(patient.uid, today=TODAY, rng=random.Random(5))
    with pytest.raises(ServiceError, match="already randomized"):
        service.enroll(patient.uid, today=TODAY, rng=random.Random(5))
    assert Randomization.select().count() == 1
    with pytest.raises(peewee.IntegrityError, match="cannot be changed"):
        Randomization.update(arm_code="B" if Randomization.get().arm_code == "A" else "A"
                             ).execute()
    with pytest.raises(peewee.IntegrityError, match="cannot be undone"):
        Randomization.delete().execute()


def _randomize_many(path: Path, seed: str, per_site: int) -> dict[str, list[str]]:
    session = open_session(path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        service = PatientService(session)
        arms: dict[str, list[str]] = {}
        number = 0
        for _i in range(per_site):
            for site in ("ZJU", "FJC"):
                set_site(session, site)
                patient = eligible_patient(service, "NCT03862768")
                result = service.enroll(patient.uid, today=TODAY, seed=seed)
                arms.setdefault(site, []).append(result.arm_code)
                assert result.stratum == f"site={site}"
                number += 1
                assert result.randomization_number == f"R-{number:04d}"
        return arms
    finally:
        session.close()


@pytest.mark.engines
def test_randomization_is_balanced_within_every_stratum_and_reproducible(
        tmp_path: Path) -> None:
    # Each site on the engine under test (a file, or a new server database).
    for n in range(6):
        with new_site(tmp_path / f"s{n}.db") as path:
            arms = _randomize_many(path, f"seed-{n}", per_site=8)
        for sequence in arms.values():
            for k in range(1, len(sequence) + 1):
                # Blocks of 2 and 4: never more than 2 apart at any point in a stratum.
                assert abs(sequence[:k].count("A") - sequence[:k].count("B")) <= 2
            assert sequence.count("A") in (3, 4, 5)
        if n == 0:
            with new_site(tmp_path / "again.db") as path:
                again = _randomize_many(path, "seed-0", per_site=8)
            assert again == arms


def test_the_next_allocation_cannot_be_seen_through_the_service(
        service: PatientService) -> None:
    public = {name for name, _member in inspect.getmembers(PatientService)
              if not name.startswith("_")}
    for name in public:
        assert not any(word in name for word in ("next_arm", "allocation", "list", "seed",
                                                 "upcoming", "preview_arm")), name
        member = getattr(PatientService, name)
        if callable(member):
            hints = str(inspect.signature(member).return_annotation)
            assert "Randomizer" not in hints and "RandomizationSeed" not in hints, name
    patient = eligible_patient(service, "NCT03862768")
    assert service.randomization(patient.uid) is None
    preview = service.preview_enrollment(patient.uid)
    assert preview.arm_code is None and " A" not in preview.message
    service.enroll(patient.uid, today=TODAY, rng=random.Random(2))
    # Only allocations made are stored; the list itself never is.
    assert Randomization.select().count() == 1


def test_ineligible_patient_is_never_enrolled(service: PatientService) -> None:
    _screen(service, "RECTAL-LE", {"distant_metastases": True})
    patient = Patient.get()
    with pytest.raises(ServiceError, match="E1: Distant metastases: yes"):
        service.enroll(patient.uid, today=TODAY)
    assert service.get(patient.uid).arm_code is None


@pytest.mark.parametrize(("study_key", "arm"), [("RECTAL-LE", "LE"), ("NCT04933669", "NEO")])
def test_single_arm_studies_enroll_into_their_arm(service: PatientService, study_key: str,
                                                  arm: str) -> None:
    patient = eligible_patient(service, study_key)
    assert "arm " + arm in service.preview_enrollment(patient.uid).message
    assert service.enroll(patient.uid, today=TODAY).arm_code == arm
    assert service.header(patient.uid) == f"ZJU-0001 · {study_key} · arm {arm} · enrolled"


def test_liver_study_group_follows_the_treatment_received(service: PatientService) -> None:
    patient = eligible_patient(service, "NCT06038552")
    with pytest.raises(ServiceError, match="treatment received"):
        service.enroll(patient.uid, today=TODAY)
    assert service.enroll(patient.uid, today=TODAY, procedures=["RFA"]).arm_code == "IM_LOCAL"
    with pytest.raises(ServiceError, match="reason"):
        service.change_treatment(patient.uid, ["hepatic_resection"], reason=" ")
    assert service.change_treatment(patient.uid, ["rfa", "hepatic_resection"],
                                    reason="resection after RFA") == "IM_HR"
    change = (AuditLog.select().where(AuditLog.field == "arm_code")
              .order_by(AuditLog.id.desc()).get())
    assert (change.old_value, change.new_value, change.reason) == (
        '"IM_LOCAL"', '"IM_HR"', "resection after RFA")


@pytest.mark.parametrize(("last_dose", "group"), [
    (date(2025, 7, 15), "SHORT"),   # exactly 6 months
    (date(2025, 7, 16), "MID"),     # a day over
    (date(2026, 1, 15), "MID"),     # exactly 12 months
    (date(2026, 1, 16), "LONG"),    # a day over
])
def test_duration_group_at_its_boundaries(service: PatientService, last_dose: date,
                                          group: str) -> None:
    patient = eligible_patient(service, "PREOP-DURATION")
    result = service.enroll(patient.uid, today=TODAY, preop_start=date(2025, 1, 15),
                            last_preop_dose=last_dose)
    assert result.arm_code == group
    anchors = {a.anchor_key: a.date for a in AnchorDate.select()}
    assert anchors == {"imatinib_start": date(2025, 1, 15), "last_preop_dose": last_dose}


def test_duration_group_follows_corrected_dates_with_audit(service: PatientService) -> None:
    patient = eligible_patient(service, "PREOP-DURATION")
    service.enroll(patient.uid, today=TODAY, preop_start=date(2025, 1, 15),
                   last_preop_dose=date(2025, 7, 15))
    assert service.get(patient.uid).arm_code == "SHORT"
    group = service.correct_preop_dates(patient.uid, preop_start=date(2025, 1, 15),
                                        last_preop_dose=date(2025, 7, 16), today=TODAY,
                                        reason="pharmacy record: last dose a day later")
    assert group == "MID" == service.get(patient.uid).arm_code
    change = (AuditLog.select().where(AuditLog.field == "arm_code")
              .order_by(AuditLog.id.desc()).get())
    assert (change.old_value, change.new_value) == ('"SHORT"', '"MID"')
    assert change.reason == "pharmacy record: last dose a day later"
    with pytest.raises(ServiceError, match="before the start"):
        service.correct_preop_dates(patient.uid, preop_start=date(2025, 8, 1),
                                    last_preop_dose=date(2025, 7, 16), today=TODAY,
                                    reason="typo")


def test_end_of_participation_cancels_later_visits(service: PatientService) -> None:
    patient = new_patient(service, "NCT03862768")
    data = good_data(service.study("NCT03862768"))
    data.values["consent_date"] = date(2025, 1, 8)
    service.save_screening(patient.uid, data, today=date(2025, 1, 10),
                           screened_on=date(2025, 1, 8))
    service.enroll(patient.uid, today=date(2025, 1, 10), rng=random.Random(3))
    with pytest.raises(ServiceError, match="reason"):
        service.end_participation(patient.uid, "withdrawn", on=date(2025, 6, 1), today=TODAY)
    with pytest.raises(ServiceError, match="future"):
        service.end_participation(patient.uid, "died", on=date(2026, 6, 1), today=TODAY)
    service.end_participation(patient.uid, "withdrawn", on=date(2025, 6, 1), today=TODAY,
                              reason="moved abroad")
    stored = service.get(patient.uid)
    assert (stored.status, stored.ended_on, stored.end_reason) == (
        "withdrawn", date(2025, 6, 1), "moved abroad")
    later = Visit.select().where((Visit.patient == stored)
                                 & (Visit.window_start > date(2025, 6, 1)))
    assert later.count() > 0 and {v.state for v in later} == {"cancelled"}
    with pytest.raises(ServiceError, match="not enrolled"):
        service.end_participation(patient.uid, "died", on=date(2025, 7, 1), today=TODAY)


def test_accrual_per_arm_and_month(service: PatientService) -> None:
    for day in (date(2025, 11, 3), date(2025, 11, 20), date(2026, 1, 5)):
        patient = eligible_patient(service, "NCT06038552")
        service.enroll(patient.uid, today=day if day >= date(2026, 3, 14) else TODAY,
                       procedures=[] if day.month == 11 else ["tace"])
    accrual = service.accrual("NCT06038552")
    assert (accrual.target, accrual.enrolled) == (238, 3)
    assert accrual.by_arm == {"IM": 2, "IM_HR": 0, "IM_LOCAL": 1}
    assert accrual.by_month == [("2026-03", 3)]


# --- the patient list --------------------------------------------------------------------


def test_patient_list_filters_searches_and_sorts_in_sql(service: PatientService) -> None:
    a = eligible_patient(service, "RECTAL-LE", number="H-1001")
    service.enroll(a.uid, today=TODAY)
    b = new_patient(service, "RECTAL-LE", number="H-2002")
    service.update_identity(b.uid, Identity("H-2002", "Zhang Min", "ZM", date(1970, 1, 1)),
                            today=TODAY)
    new_patient(service, "NCT03862768", number="X-3")
    every = PatientFilter()
    assert service.count(every) == 3
    assert service.count(replace(every, study_key="RECTAL-LE")) == 2
    assert [r.patient for r in service.page(replace(every, status="enrolled"))] == ["ZJU-0001"]
    assert service.count(replace(every, arm_code="LE")) == 1
    assert [r.patient for r in service.page(replace(every, text="h-2"))] == []  # case kept
    assert [r.patient for r in service.page(replace(every, text="H-2"))] == ["ZJU-0002"]
    assert [r.patient for r in service.page(replace(every, text="zhang"))] == ["ZJU-0002"]
    assert [r.patient for r in service.page(replace(every, text="zju-000"))] == [
        "ZJU-0001", "ZJU-0002", "ZJU-0003"]
    assert [r.patient for r in service.page(every, "patient", descending=True, limit=2)] == [
        "ZJU-0003", "ZJU-0002"]
    assert [r.patient for r in service.page(every, offset=2)] == ["ZJU-0003"]
    assert [r.patient for r in service.page(every, "study")] == [
        "ZJU-0003", "ZJU-0001", "ZJU-0002"]
    assert service.count(replace(every, text="100%")) == 0
    with pytest.raises(ServiceError, match="sort"):
        service.page(every, "name")


# --- command line ------------------------------------------------------------------------


def test_cli_patients_json_and_unknown_study(service: PatientService, session: Session,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    patient = eligible_patient(service, "NCT03862768")
    service.enroll(patient.uid, today=TODAY, rng=random.Random(4))
    new_patient(service, "RECTAL-LE")
    assert main(["--db", str(session.path), "patients", "--study", "NCT03862768",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    arm = Randomization.get().arm_code
    assert rows == [{"patient": "ZJU-0001", "study": "NCT03862768", "arm": arm,
                     "status": "enrolled", "enrolled_on": "2026-03-14",
                     "randomization_number": "R-0001"}]
    assert main(["--db", str(session.path), "patients", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["patient"], r["status"], r["arm"]) for r in rows][1] == (
        "ZJU-0002", "screened", None)
    assert main(["--db", str(session.path), "patients", "--study", "NOPE"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("gisttracker: unknown study 'NOPE'") and err.count("\n") == 1

"""Visit forms through the service: states, explicit missing values, reasons after
completion, the visit done rule, questionnaire scores, lab grades and adverse events."""

from __future__ import annotations

import json
from datetime import date

import pytest

from gisttracker.errors import InputError
from gisttracker.forms import FormContext, Missing, check_value, spec_for
from gisttracker.forms import labs as lab_rules
from gisttracker.services.base import ReasonRequired, ServiceError
from gisttracker.services.forms import AdverseEventInput, FormInputError, FormService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_forms import AdverseEvent, Form, FormValue
from gisttracker.store.models_visits import Visit
from tests.core.forms_fixtures import TODAY, make_patient, make_screening_lab, make_visit
from tests.helpers import FIXED_NOW

C30_BEST = {str(i): 1 for i in range(1, 29)} | {"29": 7, "30": 7}


@pytest.fixture
def service(session: Session) -> FormService:
    return FormService(session)


def test_visit_lists_the_protocol_forms_not_started(session: Session,
                                                     service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    forms = service.visit_forms(visit.uid)
    assert [f.kind for f in forms.forms] == [
        "consent", "eligibility", "medical_history", "physical_exam", "labs", "imaging",
        "endoscopy", "mutation", "qlq_c30", "qlq_cr29", "lars"]
    assert {f.state for f in forms.forms} == {"not_started"}
    assert not forms.all_settled
    assert [v.name for v in service.visits(patient.uid)] == [visit.name]


def test_states_move_from_not_started_to_in_progress_to_complete(
        session: Session, service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    data = service.save_answers(visit.uid, "qlq_c30", {"1": 2, "2": "3"})
    assert data.state == "in_progress"
    assert data.values == {"1": 2, "2": 3}
    with pytest.raises(FormInputError) as refused:
        service.complete(visit.uid, "qlq_c30", today=TODAY)
    assert "3. Short walk outside" in str(refused.value)
    assert set(refused.value.errors) == {str(i) for i in range(3, 31)}
    service.save_answers(visit.uid, "qlq_c30", C30_BEST)
    data = service.complete(visit.uid, "qlq_c30", today=TODAY)
    assert data.state == "complete"
    assert data.completed_by == "nurse"
    assert data.completed_at == FIXED_NOW.isoformat(timespec="seconds")
    statuses = {f.kind: f.state for f in service.visit_forms(visit.uid).forms}
    assert statuses["qlq_c30"] == "complete" and statuses["lars"] == "not_started"


def test_bad_answers_are_refused_naming_the_item_and_nothing_is_saved(
        session: Session, service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    with pytest.raises(FormInputError) as refused:
        service.save_answers(visit.uid, "qlq_c30", {"1": 2, "5": 9, "29": "x"})
    assert set(refused.value.errors) == {"5", "29"}
    assert "5. Help with eating" in str(refused.value)
    assert FormValue.select().count() == 0
    with pytest.raises(FormInputError, match="ECOG performance status: must be from 0 to 5"):
        service.save_answers(visit.uid, "physical_exam", {"weight_kg": "71.5", "ecog": 6})
    with pytest.raises(FormInputError, match="below the systolic"):
        service.save_answers(visit.uid, "physical_exam", {"systolic_bp": 90, "diastolic_bp": 95})
    data = service.save_answers(visit.uid, "physical_exam", {"weight_kg": "71,5", "ecog": "1"})
    assert data.values == {"weight_kg": 71.5, "ecog": 1}


def test_not_answered_is_kept_apart_from_not_applicable(session: Session,
                                                        service: FormService) -> None:
    patient = make_patient(session, sex="female")
    visit = make_visit(session, patient, "baseline")
    answers: dict[str, object] = {str(i): 2 for i in range(31, 48)}
    answers |= {"48": False, "49": 1, "50": 1, "51": 1, "52": 2, "53": 2, "54": 1, "58": 3}
    answers["59"] = Missing.NOT_ANSWERED
    service.save_answers(visit.uid, "qlq_cr29", answers)
    data = service.complete(visit.uid, "qlq_cr29", today=TODAY)
    rows = {r.item: (r.value, r.missing) for r in FormValue.select()}
    assert rows["59"] == (None, "not_answered")
    # Stoma version of 49-54, item 55 and the men's items were not asked of her.
    for key in ("49s", "54s", "55", "56", "57"):
        assert rows[key] == (None, "not_applicable"), key
    assert rows["49"] == ("1", None)
    assert data.missing["59"] == "not_answered"
    scores = service.scores(visit.uid, "qlq_cr29")
    assert scores["DYS"] is None  # not answered: not scorable
    assert scores["SEXM"] is None and scores["IMP"] is None and scores["STO"] is None
    # Item 58 answered 3 ("quite a bit" interested): (3 - 1) / 3 * 100, the symptom formula
    # the CR29 scoring sheet prescribes for sexual interest.
    assert scores["SEXW"] == pytest.approx(200 / 3)


def test_answer_to_an_item_that_does_not_apply_blocks_completion(
        session: Session, service: FormService) -> None:
    patient = make_patient(session, sex="male")
    visit = make_visit(session, patient, "baseline")
    answers: dict[str, object] = {str(i): 1 for i in range(31, 48)}
    answers |= {"48": True, "49s": 1, "50s": 1, "51s": 1, "52s": 1, "53s": 1, "54s": 1,
                "55": 1, "56": 1, "57": 1, "49": 2}
    service.save_answers(visit.uid, "qlq_cr29", answers)
    with pytest.raises(FormInputError) as refused:
        service.complete(visit.uid, "qlq_cr29", today=TODAY)
    assert set(refused.value.errors) == {"49"}
    service.save_answers(visit.uid, "qlq_cr29", {"49": None})
    data = service.complete(visit.uid, "qlq_cr29", today=TODAY)
    assert data.state == "complete"
    assert data.missing["49"] == "not_applicable"


def test_change_after_complete_needs_a_reason_and_is_audited(session: Session,
                                                             service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    service.save_answers(visit.uid, "qlq_c30", C30_BEST)
    service.complete(visit.uid, "qlq_c30", today=TODAY)
    with pytest.raises(ReasonRequired):
        service.save_answers(visit.uid, "qlq_c30", {"9": 3})
    assert service.load(visit.uid, "qlq_c30").values["9"] == 1
    data = service.save_answers(visit.uid, "qlq_c30", {"9": 3}, reason="transcription error")
    assert data.values["9"] == 3 and data.state == "complete"
    row = FormValue.get(FormValue.item == "9")
    audit = AuditLog.get((AuditLog.record_uid == row.uid) & (AuditLog.action == "update"))
    assert (audit.user, audit.at) == ("nurse", FIXED_NOW.isoformat(timespec="seconds"))
    assert json.loads(audit.old_value) == "1" and json.loads(audit.new_value) == "3"
    assert audit.reason == "transcription error"
    assert audit.patient_uid == patient.uid
    # A new value on a completed form also needs a reason.
    service.save_answers(visit.uid, "physical_exam", {"weight_kg": 70, "ecog": 0})
    service.complete(visit.uid, "physical_exam", today=TODAY)
    with pytest.raises(ReasonRequired):
        service.save_answers(visit.uid, "physical_exam", {"heart_rate": 80})


def test_not_done_needs_a_reason(session: Session, service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    with pytest.raises(ServiceError):
        service.mark_not_done(visit.uid, "lars", "  ", today=TODAY)
    data = service.mark_not_done(visit.uid, "lars", "Patient refused", today=TODAY)
    assert data.state == "not_done" and data.not_done_reason == "Patient refused"
    form = Form.get(Form.kind == "lars")
    audit = AuditLog.get((AuditLog.record_uid == form.uid) & (AuditLog.field == "state")
                         & (AuditLog.action == "update"))
    assert audit.reason == "Patient refused"


def test_visit_is_done_when_every_planned_form_is_complete_or_not_done(
        session: Session, service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "surgery")  # surgery, pathology, AEs, treatment
    service.save_answers(visit.uid, "surgery", {"performed_on": TODAY, "entered": True,
                                                "complications": "none (TAMIS)"})
    service.complete(visit.uid, "surgery", today=TODAY)
    service.save_answers(visit.uid, "pathology", {"report_received": False})
    service.complete(visit.uid, "pathology", today=TODAY)
    service.save_answers(visit.uid, "adverse_events", {"any_new": False})
    service.complete(visit.uid, "adverse_events", today=TODAY)
    assert Visit.get_by_id(visit.__data__["id"]).state == "planned"
    service.mark_not_done(visit.uid, "treatment", "Not performed at this visit", today=TODAY)
    done = Visit.get_by_id(visit.__data__["id"])
    assert done.state == "done"
    assert str(done.done_on) == TODAY.isoformat()
    assert service.visit_forms(visit.uid).all_settled


def test_questionnaire_scores_through_the_service(session: Session,
                                                  service: FormService) -> None:
    patient = make_patient(session, sex="male")
    visit = make_visit(session, patient, "baseline")
    service.save_answers(visit.uid, "qlq_c30", C30_BEST)
    scores = service.scores(visit.uid, "qlq_c30")
    assert scores["PF2"] == 100 and scores["FA"] == 0 and scores["SUMSC"] == 100
    service.save_answers(visit.uid, "qlq_c30", {k: None for k in C30_BEST} | {"21": 2, "22": 1})
    scores = service.scores(visit.uid, "qlq_c30")
    assert scores["EF"] == pytest.approx(83.333, abs=0.001)
    assert all(v is None for k, v in scores.items() if k != "EF")

    # CR29 of a man with a stoma: the stoma item 48 is on the form.
    answers: dict[str, object] = {str(i): 1 for i in range(31, 48)}
    answers |= {"48": True, "49s": 4, "50s": 1, "51s": 1, "52s": 3, "53s": 3, "54s": 1,
                "55": 2, "56": 2, "57": 4}
    service.save_answers(visit.uid, "qlq_cr29", answers)
    scores = service.scores(visit.uid, "qlq_cr29")
    assert scores["FL"] == 100 and scores["SF"] == pytest.approx(200 / 3)
    assert scores["STO"] == pytest.approx(100 / 3)
    assert scores["IMP"] == 100 and scores["SEXW"] is None and scores["DYS"] is None

    service.save_answers(visit.uid, "lars", {"flatus": 0, "liquid": 0, "frequency": 2,
                                     "clustering": 0, "urgency": 0})
    assert service.scores(visit.uid, "lars") == {"total": 0, "category": "no LARS"}
    service.save_answers(visit.uid, "lars", {"flatus": 2, "liquid": 2, "frequency": 3,
                                     "clustering": 2, "urgency": 2})
    assert service.scores(visit.uid, "lars") == {"total": 42, "category": "major LARS"}
    service.save_answers(visit.uid, "lars", {"urgency": None})
    assert service.scores(visit.uid, "lars") == {"total": None, "category": None}


def test_cr29_scores_wait_for_the_stoma_answer(session: Session, service: FormService) -> None:
    patient = make_patient(session, sex="female")
    visit = make_visit(session, patient, "baseline")
    service.save_answers(visit.uid, "qlq_cr29", {"31": 2, "32": 2})
    assert service.scores(visit.uid, "qlq_cr29")["UF"] is None
    service.save_answers(visit.uid, "qlq_cr29", {"48": False})
    assert service.scores(visit.uid, "qlq_cr29")["UF"] == pytest.approx(100 / 3)


def test_lab_is_converted_graded_and_suggests_an_adverse_event(
        session: Session, service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    # Bilirubin 3.6 mg/dL with ULN 1.2 mg/dL = 61.56 µmol/L, 3 × ULN → grade 2.
    row = service.save_lab(visit.uid, "bilirubin", 3.6, "mg/dl", uln=1.2, today=TODAY)
    assert row.unit == "mg/dL" and row.converted
    assert row.canonical_unit == "µmol/L"
    assert row.canonical_value == pytest.approx(61.56)
    assert row.grade == 2 and row.suggestion() is None
    # Haemoglobin 7.5 g/dL = 75 g/L → anemia grade 3 → an AE is suggested, not created.
    hb = service.save_lab(visit.uid, "haemoglobin", 7.5, "g/dL", lln=12, sampled_on=TODAY,
                          today=TODAY)
    assert hb.canonical_value == pytest.approx(75) and hb.grade == 3
    suggestion = hb.suggestion()
    assert suggestion is not None
    assert (suggestion.term, suggestion.grade, suggestion.onset) == ("anemia", 3, TODAY)
    assert AdverseEvent.select().count() == 0
    ae = service.save_adverse_event(patient.uid, suggestion, today=TODAY)
    assert ae.term_label == "Anemia" and ae.lab_result_uid == hb.uid
    hb_again = next(r for r in service.labs(visit.uid) if r.analyte == "haemoglobin")
    assert hb_again.adverse_event_uid == ae.uid and hb_again.suggestion() is None
    assert [r.analyte for r in service.labs(visit.uid)] == ["haemoglobin", "bilirubin"]


def test_lab_unit_is_never_guessed_and_implausible_values_are_refused(
        session: Session, service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    with pytest.raises(FormInputError, match="not used for Creatinine"):
        service.save_lab(visit.uid, "creatinine", 1.1, "mmol/L", today=TODAY)
    with pytest.raises(FormInputError, match="Check the unit"):
        service.save_lab(visit.uid, "platelets", 150000, "10^9/L", today=TODAY)
    with pytest.raises(FormInputError, match="LLN must not be above ULN"):
        service.save_lab(visit.uid, "alt", 40, "U/L", lln=50, uln=40, today=TODAY)
    assert service.labs(visit.uid) == []


def test_lab_grade_uses_the_screening_baseline(session: Session,
                                               service: FormService) -> None:
    patient = make_patient(session)
    # Abnormal baseline ALT 100 U/L (ULN 40): grades are multiples of the baseline.
    make_screening_lab(session, patient, "alt", 100, "U/L", uln=40)
    visit = make_visit(session, patient, "baseline")
    row = service.save_lab(visit.uid, "alt", 140, "U/L", uln=40, today=TODAY)
    assert row.baseline == 100
    assert row.grade == 0  # 1.4 × baseline; against the ULN alone it would be grade 2
    row = service.save_lab(visit.uid, "alt", 150, "U/L", uln=40, today=TODAY)
    assert row.grade == 1
    # Without a screening value the first value recorded is the baseline.
    other = make_patient(session, seq=2)
    first = make_visit(session, other, "baseline", planned_on=date(2026, 1, 1))
    later = make_visit(session, other, "fu_m3")
    base = service.save_lab(first.uid, "ast", 100, "U/L", uln=40, sampled_on=date(2026, 1, 1),
                            today=TODAY)
    assert base.baseline is None and base.grade == 1  # graded against the ULN itself
    row = service.save_lab(later.uid, "ast", 520, "U/L", uln=40, sampled_on=TODAY, today=TODAY)
    assert row.baseline == 100 and row.grade == 3  # 5.2 × baseline
    assert row.suggestion() is not None


def test_lab_correction_after_complete_needs_a_reason(session: Session,
                                                      service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    with pytest.raises(ServiceError, match="at least one value"):
        service.complete(visit.uid, "labs", today=TODAY)
    service.save_lab(visit.uid, "anc", 2.0, "×10⁹/L", lln=2.0, today=TODAY)
    service.complete(visit.uid, "labs", today=TODAY)
    with pytest.raises(ReasonRequired):
        service.save_lab(visit.uid, "anc", 1.2, "×10⁹/L", lln=2.0, today=TODAY)
    row = service.save_lab(visit.uid, "anc", 1.2, "×10⁹/L", lln=2.0, today=TODAY,
                           reason="wrong sample")
    assert row.grade == 2
    with pytest.raises(ReasonRequired):
        service.save_lab(visit.uid, "platelets", 200, "×10⁹/L", today=TODAY)


def test_adverse_event_validation(session: Session, service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "fu_m3")
    bad = AdverseEventInput(term=" ", grade=6, onset=date(2026, 3, 1),
                            resolved_on=date(2026, 2, 1), drug="aspirin")
    with pytest.raises(FormInputError) as refused:
        service.save_adverse_event(patient.uid, bad, today=TODAY)
    assert set(refused.value.errors) == {"term", "grade", "resolved_on", "drug"}
    with pytest.raises(FormInputError, match="fatal"):
        service.save_adverse_event(patient.uid, AdverseEventInput(
            term="Diarrhoea", grade=5, onset=date(2026, 3, 1), outcome="recovered"),
            today=TODAY)
    with pytest.raises(FormInputError, match="after today"):
        service.save_adverse_event(patient.uid, AdverseEventInput(
            term="Rash", grade=1, onset=date(2026, 4, 1)), today=TODAY)
    ae = service.save_adverse_event(patient.uid, AdverseEventInput(
        term="Periorbital oedema", grade=2, onset=date(2026, 3, 1), drug="imatinib",
        relation="probable", action="none", outcome="recovering", visit_uid=visit.uid),
        today=TODAY)
    assert ae.term_label == "Periorbital oedema" and ae.visit_uid == visit.uid
    assert AdverseEvent.select().count() == 1

    # The AE form asks whether there was any; "yes" needs an AE at this visit.
    service.save_answers(visit.uid, "adverse_events", {"any_new": True})
    service.complete(visit.uid, "adverse_events", today=TODAY)
    fixed = AdverseEventInput(term="Periorbital oedema", grade=2, onset=date(2026, 3, 1),
                              resolved_on=date(2026, 3, 10), drug="imatinib",
                              relation="probable", action="none", outcome="recovered",
                              visit_uid=visit.uid)
    with pytest.raises(ReasonRequired):
        service.save_adverse_event(patient.uid, fixed, today=TODAY, uid=ae.uid)
    ae = service.save_adverse_event(patient.uid, fixed, today=TODAY, uid=ae.uid,
                                    reason="resolved, seen by phone")
    assert ae.resolved_on == date(2026, 3, 10) and ae.outcome == "recovered"
    with pytest.raises(ReasonRequired):
        service.delete_adverse_event(ae.uid, "")
    service.delete_adverse_event(ae.uid, "entered for the wrong patient")
    assert service.adverse_events(patient.uid) == []


def test_any_new_adverse_event_requires_one_recorded(session: Session,
                                                     service: FormService) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "fu_m3")
    service.save_answers(visit.uid, "adverse_events", {"any_new": True})
    with pytest.raises(FormInputError, match="record the adverse event"):
        service.complete(visit.uid, "adverse_events", today=TODAY)


def test_item_checks_are_pure_and_typed() -> None:
    c30 = spec_for("qlq_c30")
    assert check_value(c30.item("29"), "7") == 7
    with pytest.raises(InputError, match="choose one of"):
        check_value(c30.item("1"), "5")
    exam = spec_for("physical_exam")
    assert check_value(exam.item("weight_kg"), " 70,2 ") == 70.2
    with pytest.raises(InputError, match="from 20 to 300"):
        check_value(exam.item("weight_kg"), "7000")
    consent = spec_for("consent")
    assert check_value(consent.item("signed_on"), "2026-03-01") == "2026-03-01"
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        check_value(consent.item("signed_on"), "1/3/26")
    cr29 = spec_for("qlq_cr29")
    woman = FormContext("female", {"48": True})
    assert {i.key for i in cr29.applicable(woman)} >= {"49s", "55", "58"}
    assert not {"49", "56", "57"} & {i.key for i in cr29.applicable(woman)}
    assert lab_rules.analyte("neutrophils").key == "anc"


def test_demo_enricher_fills_forms_at_done_visits(session: Session,
                                                  service: FormService) -> None:
    import random

    from gisttracker.demo import forms as demo_forms
    from gisttracker.services.visits import VisitService

    patient = make_patient(session, sex="female")
    visit = make_visit(session, patient, "fu_m3")
    planned = make_visit(session, patient, "fu_m12", planned_on=date(2026, 12, 1))
    VisitService(session).mark_done(visit.uid, date(2026, 3, 9), today=TODAY)
    demo_forms.enrich(session, random.Random(7), TODAY)
    states = {f.kind: f.state for f in service.visit_forms(visit.uid).forms}
    assert {k for k, s in states.items() if s == "complete"} == {
        "qlq_c30", "qlq_cr29", "lars", "physical_exam", "labs"}
    assert {f.state for f in service.visit_forms(planned.uid).forms} == {"not_started"}
    scores = service.scores(visit.uid, "qlq_cr29")
    assert scores["SEXW"] is not None and scores["SEXM"] is None
    assert len(service.labs(visit.uid)) == 7
    data = service.load(visit.uid, "qlq_cr29")
    assert data.missing["56"] == "not_applicable"
    assert service.missing_required(data) == []

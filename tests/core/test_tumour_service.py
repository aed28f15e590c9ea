"""Tumour assessments through the service: stored, audited, evaluated by RECIST 1.1 and Choi."""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker.services.base import ServiceError
from gisttracker.services.course import CourseService, EventInput
from gisttracker.services.tumour import (
    AssessmentInput,
    AssessmentInputError,
    LesionInput,
    SelectionProblems,
    TumourService,
    evaluate,
)
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import LesionMeasurement
from tests.core.course_fixtures import TODAY, enrolled_patient


def baseline(*lesions: LesionInput, non_target: str = "none",
             on: date = date(2024, 1, 5)) -> AssessmentInput:
    return AssessmentInput(on, lesions, is_baseline=True, non_target=non_target)


def follow(on: date, *lesions: LesionInput, **kwargs: object) -> AssessmentInput:
    return AssessmentInput(on, lesions, **kwargs)  # type: ignore[arg-type]


def liver(label: str, mm: float | None, hu: float | None = None, **kw: bool) -> LesionInput:
    return LesionInput(label, "liver", mm, hu, **kw)


def test_baseline_and_follow_ups_give_pr_sd_and_pd_against_the_nadir(session: Session) -> None:
    patient = enrolled_patient(session)
    service = TumourService(session)
    service.record(patient.uid, baseline(liver("T1", 50), liver("T2", 50)), today=TODAY)
    service.record(patient.uid, follow(date(2024, 4, 5), liver("T1", 35), liver("T2", 35)),
                 today=TODAY)  # 70 mm: -30 % → PR
    service.record(patient.uid, follow(date(2024, 7, 5), liver("T1", 40), liver("T2", 35)),
                 today=TODAY)  # 75 mm: +7 % over the nadir → SD
    service.record(patient.uid, follow(date(2024, 10, 5), liver("T1", 45), liver("T2", 40)),
                 today=TODAY)  # 85 mm: +21 % and +15 mm over 70, still below 100 → PD

    result = service.evaluation(patient.uid)
    follow_ups = [e for e in result.evaluations if not e.is_baseline]
    assert [e.sum_mm for e in follow_ups] == [70, 75, 85]
    assert [e.recist_overall for e in follow_ups] == ["PR", "SD", "PD"]
    assert follow_ups[0].change_from_baseline_pct == pytest.approx(-30.0)
    third = follow_ups[2]
    assert third.nadir_mm == 70
    assert third.change_from_baseline_pct == pytest.approx(-15.0)
    assert third.change_from_nadir_pct == pytest.approx(100 * 15 / 70)
    assert result.best_recist == "PR" and result.best_primary == "PR"


def test_twenty_percent_growth_under_five_mm_is_not_progression() -> None:
    result = evaluate([baseline(liver("T1", 20)),
                       follow(date(2024, 4, 1), liver("T1", 15)),      # nadir 15 mm
                       follow(date(2024, 7, 1), liver("T1", 19.5))])   # +30 %, but +4.5 mm
    assert [e.recist_target for e in result.evaluations[1:]] == ["SD", "SD"]


def test_choi_partial_response_by_density_despite_growth(session: Session) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    service = TumourService(session)
    service.record(patient.uid, baseline(liver("T1", 60, 80)), today=TODAY)
    service.record(patient.uid, follow(date(2024, 3, 1), liver("T1", 70, 40)), today=TODAY)
    result = service.evaluation(patient.uid)
    last = result.evaluations[-1]
    assert last.choi == "PR"            # size +16.7 % but density -50 %
    assert last.recist_overall == "SD"  # RECIST sees only the size
    assert result.primary == "choi" and result.best_primary == "PR"


def test_new_nodules_make_choi_progression_and_new_lesions_recist_too() -> None:
    base = baseline(liver("T1", 60, 80))
    nodules = evaluate([base, follow(date(2024, 3, 1), liver("T1", 50, 60),
                                     new_nodules=True)])
    assert nodules.evaluations[-1].choi == "PD"
    assert nodules.evaluations[-1].recist_overall == "SD"
    new = evaluate([base, follow(date(2024, 3, 1), liver("T1", 30, 60), new_lesions=True)])
    assert new.evaluations[-1].recist_overall == "PD" and new.evaluations[-1].choi == "PD"


def test_too_small_counts_five_mm_and_missing_target_is_not_evaluable() -> None:
    base = baseline(liver("T1", 30), liver("T2", 20))
    small = evaluate([base, follow(date(2024, 3, 1), liver("T1", None, too_small=True),
                                   liver("T2", 20))])
    assert small.evaluations[-1].sum_mm == 25
    missing = evaluate([base, follow(date(2024, 3, 1), liver("T2", 20))])
    assert missing.evaluations[-1].sum_mm is None
    assert missing.evaluations[-1].recist_target == "NE"


def test_complete_response_with_a_normal_node_and_non_target_gone() -> None:
    node = LesionInput("N1", "", 18, is_node=True)
    result = evaluate([baseline(liver("T1", 30), node, non_target="present"),
                       follow(date(2024, 3, 1), liver("T1", 0),
                              LesionInput("N1", "", 8, is_node=True), non_target="absent")])
    last = result.evaluations[-1]
    assert (last.recist_target, last.recist_non_target, last.recist_overall) == (
        "CR", "CR", "CR")
    assert last.sum_mm == 8


def test_invalid_baseline_selection_needs_confirmation(session: Session) -> None:
    patient = enrolled_patient(session)
    service = TumourService(session)
    data = baseline(liver("T1", 30), liver("T2", 25), liver("T3", 9),
                    LesionInput("N1", "", 12, is_node=True))
    with pytest.raises(SelectionProblems) as refused:
        service.record(patient.uid, data, today=TODAY)
    text = " ".join(refused.value.problems)
    assert "3 target lesions in liver" in text
    assert "T3" in text and "10 mm" in text
    assert "N1" in text and "15 mm" in text
    assert service.assessments(patient.uid) == []

    uid = service.record(patient.uid, data, today=TODAY, confirm=True)
    assert LesionMeasurement.select().count() == 4
    reasons = {r.reason for r in AuditLog.select().where(AuditLog.record_uid == uid)}
    assert any("accepted despite" in (r or "") for r in reasons)
    assert service.evaluation(patient.uid).selection_problems


def test_six_targets_are_reported() -> None:
    organs = ("liver", "lung", "peritoneum", "spleen", "kidney", "bone")
    result = evaluate([baseline(*(LesionInput(f"T{i}", o, 20) for i, o in enumerate(organs)))])
    assert any("at most 5" in p for p in result.selection_problems)


def test_without_the_selection_check_the_evaluations_are_the_same() -> None:
    """``selection=False`` (the study outcomes, which never show it) leaves out only the
    baseline selection's problems: every evaluation, response and other problem is as with
    the check, and a too-small follow-up lesion is still validated the same way."""
    organs = ("liver", "liver", "liver", "lung", "spleen", "bone")
    series = [baseline(*(LesionInput(f"T{i}", o, 20 + i) for i, o in enumerate(organs)),
                       non_target="present"),
              follow(date(2024, 3, 1), *(LesionInput(f"T{i}", o, 12) for i, o in
                                         enumerate(organs)), non_target="present"),
              follow(date(2024, 5, 1), *(LesionInput(f"T{i}", o, 0) for i, o in
                                         enumerate(organs)), non_target="absent"),
              follow(date(2024, 1, 1), liver("X", 5))]
    checked, unchecked = evaluate(series), evaluate(series, selection=False)
    assert checked.selection_problems and unchecked.selection_problems == ()
    assert unchecked.evaluations == checked.evaluations
    assert unchecked.problems == checked.problems and checked.problems
    assert (unchecked.best_recist, unchecked.best_choi) == (checked.best_recist,
                                                            checked.best_choi) == ("CR", "CR")


def test_bad_input_is_refused_with_field_messages(session: Session) -> None:
    patient = enrolled_patient(session)
    service = TumourService(session)
    bad = baseline(liver("T1", -3), liver("T2", 20, 4000), on=date(2026, 4, 1))
    with pytest.raises(AssessmentInputError) as refused:
        service.record(patient.uid, bad, today=TODAY)
    errors = refused.value.errors
    assert "future" in errors["assessed_on"]
    assert "≥ 0" in errors["lesions[0].diameter_mm"]
    assert "3000 HU" in errors["lesions[1].density_hu"]


def test_follow_up_rules_labels_order_and_death(session: Session) -> None:
    patient = enrolled_patient(session)
    service = TumourService(session)
    with pytest.raises(AssessmentInputError, match="baseline assessment first"):
        service.record(patient.uid, follow(date(2024, 3, 1), liver("T1", 20)), today=TODAY)
    service.record(patient.uid, baseline(liver("T1", 30)), today=TODAY)
    with pytest.raises(AssessmentInputError, match="not a baseline target"):
        service.record(patient.uid, follow(date(2024, 3, 1), liver("T9", 20)), today=TODAY)
    with pytest.raises(AssessmentInputError, match="before the baseline"):
        service.record(patient.uid, follow(date(2023, 12, 1), liver("T1", 20)), today=TODAY)
    CourseService(session).record_event(patient.uid, EventInput("death", date(2025, 1, 2)),
                                        today=TODAY)
    with pytest.raises(AssessmentInputError, match="after the recorded death"):
        service.record(patient.uid, follow(date(2025, 2, 1), liver("T1", 20)), today=TODAY)


def test_correction_needs_a_reason_and_is_audited(session: Session) -> None:
    patient = enrolled_patient(session)
    service = TumourService(session)
    service.record(patient.uid, baseline(liver("T1", 30)), today=TODAY)
    uid = service.record(patient.uid, follow(date(2024, 3, 1), liver("T1", 20)), today=TODAY)
    with pytest.raises(ServiceError, match="reason"):
        service.record(patient.uid, follow(date(2024, 3, 1), liver("T1", 22)), today=TODAY,
                     uid=uid)
    service.record(patient.uid, follow(date(2024, 3, 1), liver("T1", 22)), today=TODAY,
                 uid=uid, reason="radiologist re-measured")
    assert service.evaluation(patient.uid).evaluations[-1].sum_mm == 22
    row = AuditLog.get((AuditLog.field == "diameter_mm") & (AuditLog.action == "update"))
    assert (row.old_value, row.new_value, row.reason) == ("20.0", "22.0",
                                                          "radiologist re-measured")

"""Endpoint derivation on constructed patients, one study at a time: the event, censoring at
the last contact or the last tumour assessment, at the data cut-off and at the horizon,
competing events, nothing after the cut-off counting, and the fact that decided each value.
"""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker.outcomes.derive import Binary, Descriptive, TimeToEvent, derive_patient
from gisttracker.outcomes.facts import (
    Assessment,
    Event,
    Exposure,
    PathologyReport,
    PatientFacts,
    SurgeryRecord,
    VisitDone,
)
from gisttracker.protocols import Study
from gisttracker.protocols.loader import load_studies
from gisttracker.services.tumour import AssessmentInput, LesionInput

ENROLLED = date(2024, 1, 10)


@pytest.fixture(scope="module")
def studies() -> dict[str, Study]:
    return {s.key: s for s in load_studies().studies}


def patient(**kwargs: object) -> PatientFacts:
    values: dict[str, object] = {"uid": "p1", "study_id": "ZJU-0001", "arm": "A",
                                 "sex": "female", "status": "enrolled",
                                 "enrolled_on": ENROLLED}
    values.update(kwargs)
    return PatientFacts(**values)  # type: ignore[arg-type]


def ct(uid: str, on: date, mm: float, hu: float | None = None, *,
       baseline: bool = False) -> Assessment:
    return Assessment(uid, AssessmentInput(on, (LesionInput("T1", "liver", mm, hu),),
                                           is_baseline=baseline))


def tte(study: Study, facts: PatientFacts, key: str, as_of: date) -> TimeToEvent:
    value = derive_patient(study, facts, as_of=as_of).endpoints[key]
    assert isinstance(value, TimeToEvent)
    return value


def binary(study: Study, facts: PatientFacts, key: str, as_of: date) -> Binary:
    value = derive_patient(study, facts, as_of=as_of).endpoints[key]
    assert isinstance(value, Binary)
    return value


# --- NCT03862768: PFS (censored at the last tumour assessment) and OS (last contact) --------


def test_pfs_event_is_the_recorded_progression_and_names_it(studies: dict[str, Study]) -> None:
    facts = patient(assessments=[ct("a0", date(2024, 1, 5), 50, baseline=True),
                                 ct("a1", date(2024, 4, 5), 48)],
                    events=[Event("e1", "progression", date(2024, 6, 1), "recist")])
    pfs = tte(studies["NCT03862768"], facts, "pfs", date(2026, 1, 1))
    assert (pfs.origin, pfs.end, pfs.status, pfs.event) == (ENROLLED, date(2024, 6, 1), 1, 1)
    assert pfs.days == 143 and pfs.months == pytest.approx(143 / 30.4375)
    assert pfs.decided_by is not None
    assert (pfs.decided_by.kind, pfs.decided_by.uid) == ("course_event", "e1")


def test_progression_on_imaging_counts_without_a_progression_event(
        studies: dict[str, Study]) -> None:
    facts = patient(assessments=[ct("a0", date(2024, 1, 5), 50, baseline=True),
                                 ct("a1", date(2024, 4, 5), 40),
                                 ct("a2", date(2024, 7, 5), 56)])  # +40 % from the nadir: PD
    pfs = tte(studies["NCT03862768"], facts, "pfs", date(2026, 1, 1))
    assert (pfs.status, pfs.end) == (1, date(2024, 7, 5))
    assert pfs.decided_by is not None
    assert (pfs.decided_by.kind, pfs.decided_by.uid, pfs.decided_by.code) == (
        "tumour_assessment", "a2", "PD")


def test_pfs_censored_at_the_last_adequate_assessment_not_at_a_later_visit(
        studies: dict[str, Study]) -> None:
    facts = patient(assessments=[ct("a0", date(2024, 1, 5), 50, baseline=True),
                                 ct("a1", date(2024, 4, 5), 48)],
                    visits=[VisitDone("v1", "fu_q3m_2", date(2024, 7, 1))])
    pfs = tte(studies["NCT03862768"], facts, "pfs", date(2026, 1, 1))
    assert (pfs.status, pfs.end) == (0, date(2024, 4, 5))
    assert pfs.decided_by is not None and pfs.decided_by.uid == "a1"


def test_nothing_after_the_cut_off_counts(studies: dict[str, Study]) -> None:
    facts = patient(assessments=[ct("a0", date(2024, 1, 5), 50, baseline=True),
                                 ct("a1", date(2024, 4, 5), 48),
                                 ct("a2", date(2024, 7, 5), 70)],
                    events=[Event("e1", "progression", date(2024, 7, 5), "recist"),
                            Event("d1", "death", date(2024, 9, 1))])
    as_of = date(2024, 6, 30)
    pfs = tte(studies["NCT03862768"], facts, "pfs", as_of)
    assert (pfs.status, pfs.end) == (0, date(2024, 4, 5))  # the PD and the death came later
    os_ = tte(studies["NCT03862768"], facts, "os", as_of)
    # Alive on the cut-off day (later facts show it), so censored there, not at the death.
    assert (os_.status, os_.end) == (0, as_of)
    assert os_.decided_by is not None and os_.decided_by.kind == "cut_off"


def test_os_censored_at_the_last_contact_before_the_cut_off(studies: dict[str, Study]) -> None:
    facts = patient(visits=[VisitDone("v1", "fu_q3m_1", date(2024, 4, 12)),
                            VisitDone("v2", "fu_q3m_2", date(2024, 7, 9))],
                    events=[Event("k1", "last_known_alive", date(2024, 8, 20))])
    os_ = tte(studies["NCT03862768"], facts, "os", date(2024, 9, 1))
    assert (os_.status, os_.end) == (0, date(2024, 8, 20))
    assert os_.decided_by is not None
    assert (os_.decided_by.kind, os_.decided_by.uid) == ("course_event", "k1")
    # A cut-off between the two visits: the later one shows the patient alive on it.
    early = tte(studies["NCT03862768"], facts, "os", date(2024, 5, 1))
    assert (early.end, early.decided_by and early.decided_by.kind) == (date(2024, 5, 1),
                                                                        "cut_off")


def test_follow_up_is_cut_at_the_horizon(studies: dict[str, Study]) -> None:
    # OS of NCT03862768 is followed for 12 months: a death after that is not counted.
    facts = patient(events=[Event("d1", "death", date(2025, 6, 1))])
    os_ = tte(studies["NCT03862768"], facts, "os", date(2026, 1, 1))
    assert (os_.status, os_.end) == (0, date(2025, 1, 10))
    assert os_.decided_by is not None and os_.decided_by.kind == "horizon"
    death = tte(studies["NCT03862768"], patient(events=[Event("d1", "death",
                                                              date(2024, 12, 1))]),
                "os", date(2026, 1, 1))
    assert (death.status, death.decided_by and death.decided_by.uid) == (1, "d1")


# --- RECTAL-LE: from surgery, local recurrence with death competing; organ preservation ------


def rectal(**kwargs: object) -> PatientFacts:
    values: dict[str, object] = {"arm": "LE", "anchors": {"surgery": (date(2024, 7, 1), "s0")},
                                 "surgeries": [SurgeryRecord("s1", date(2024, 7, 1),
                                                             "local_excision_transanal", "R0")]}
    values.update(kwargs)
    return patient(**values)


def test_death_competes_with_local_recurrence(studies: dict[str, Study]) -> None:
    study = studies["RECTAL-LE"]
    facts = rectal(events=[Event("d1", "death", date(2025, 3, 1)),
                           Event("r1", "local_recurrence", date(2025, 9, 1))])
    lr = tte(study, facts, "local_recurrence", date(2026, 1, 1))
    assert (lr.status, lr.event, lr.end) == (2, 0, date(2025, 3, 1))
    assert lr.origin == date(2024, 7, 1)
    assert lr.origin_fact is not None and lr.origin_fact.kind == "anchor"
    dfs = tte(study, facts, "dfs_3y", date(2026, 1, 1))
    assert (dfs.status, dfs.decided_by and dfs.decided_by.uid) == (1, "d1")
    regrowth = tte(study, rectal(events=[Event("g1", "regrowth", date(2025, 1, 2))]),
                   "local_recurrence", date(2026, 1, 1))
    assert (regrowth.status, regrowth.end) == (1, date(2025, 1, 2))


def test_patient_without_the_origin_is_left_out_with_the_reason(
        studies: dict[str, Study]) -> None:
    study = studies["RECTAL-LE"]
    no_surgery = tte(study, patient(arm="LE"), "dfs_3y", date(2026, 1, 1))
    assert (no_surgery.excluded, no_surgery.event, no_surgery.months) == ("no_origin", None,
                                                                          None)
    later = tte(study, rectal(), "dfs_3y", date(2024, 6, 1))
    assert later.excluded == "origin_after_cut_off"


def test_organ_preservation_failed_by_a_tme_names_the_surgery(studies: dict[str, Study]) -> None:
    study = studies["RECTAL-LE"]
    facts = rectal(surgeries=[SurgeryRecord("s1", date(2024, 7, 1), "local_excision_tamis", "R1"),
                              SurgeryRecord("s2", date(2024, 10, 3), "tme", "R0")])
    op = binary(study, facts, "organ_preservation", date(2026, 1, 1))
    assert (op.outcome, op.value) == (False, "failed")
    assert op.decided_by is not None and op.decided_by.uid == "s2"
    # 18 months from enrollment: open until 2025-07-10, met after it.
    kept = rectal()
    assert binary(study, kept, "organ_preservation", date(2025, 3, 1)).reason == "window_open"
    met = binary(study, kept, "organ_preservation", date(2025, 8, 1))
    assert (met.outcome, met.decided_by and met.decided_by.kind) == (True, "horizon")


# --- NCT04933669: response by Choi within 12 months, R0 -------------------------------------


def neo(**kwargs: object) -> PatientFacts:
    values: dict[str, object] = {"arm": "NEO",
                                 "anchors": {"imatinib_start": (date(2024, 1, 15), "x0")}}
    values.update(kwargs)
    return patient(**values)


def test_choi_response_and_its_assessment(studies: dict[str, Study]) -> None:
    study = studies["NCT04933669"]
    facts = neo(assessments=[ct("a0", date(2024, 1, 10), 80, 70, baseline=True),
                             ct("a1", date(2024, 4, 10), 76, 50)])  # -5 % size, -29 % HU: PR
    orr = binary(study, facts, "orr_choi", date(2026, 1, 1))
    assert (orr.outcome, orr.value) == (True, "PR")
    assert orr.decided_by is not None and orr.decided_by.uid == "a1"
    stable = neo(assessments=[ct("a0", date(2024, 1, 10), 80, 70, baseline=True),
                              ct("a1", date(2024, 4, 10), 79, 68)])
    # Stable disease, time frame open: not yet evaluable; after 12 months: not a response.
    assert binary(study, stable, "orr_choi", date(2024, 6, 1)).outcome is None
    closed = binary(study, stable, "orr_choi", date(2025, 2, 1))
    assert (closed.outcome, closed.value) == (False, "SD")


def test_r0_is_the_margin_of_the_first_resection(studies: dict[str, Study]) -> None:
    study = studies["NCT04933669"]
    none = binary(study, neo(), "r0", date(2026, 1, 1))
    assert (none.outcome, none.reason) == (None, "no_resection")
    r1 = binary(study, neo(surgeries=[SurgeryRecord("s1", date(2024, 8, 1), "gastrectomy",
                                                    "R1")]), "r0", date(2026, 1, 1))
    assert (r1.outcome, r1.value, r1.decided_by and r1.decided_by.uid) == (False, "R1", "s1")


# --- PREOP-DURATION: covariates, descriptive values, high-grade pathological response -------


def test_covariates_from_facts_and_from_endpoints(studies: dict[str, Study]) -> None:
    study = studies["PREOP-DURATION"]
    facts = patient(
        arm="MID", anchors={"surgery": (date(2023, 6, 1), "s0"),
                            "imatinib_start": (date(2022, 9, 1), "i0")},
        screening={"primary_site": "stomach", "mutation": "KIT_9", "tumour_size_cm": 12.0},
        screening_uid="sc1", screening_on=date(2022, 8, 20),
        pathology=[PathologyReport("pa1", date(2023, 6, 8), mutation="KIT_11",
                                   response_grade="Grade 3 ")],
        assessments=[ct("a0", date(2022, 8, 25), 100, baseline=True),
                     ct("a1", date(2023, 5, 20), 60)],
        exposures=[Exposure("x1", "imatinib", "postoperative", date(2023, 7, 1),
                            date(2024, 6, 30))])
    outcome = derive_patient(study, facts, as_of=date(2026, 1, 1))
    cov = outcome.covariates
    assert cov["gastric"].value is True
    assert cov["gastric"].decided_by is not None and cov["gastric"].decided_by.uid == "sc1"
    # The pathology report's mutation wins over the screening's.
    assert cov["kit_exon11"].value is True
    assert cov["kit_exon11"].decided_by is not None
    assert cov["kit_exon11"].decided_by.uid == "pa1"
    assert cov["imaging_response"].value is True  # -40 % before surgery: PR
    assert cov["postop_imatinib_24m"].value is True  # about 12 months
    high = outcome.endpoints["pathological_response_high"]
    assert isinstance(high, Binary) and (high.outcome, high.value) == (True, "Grade 3 ")
    diameter = outcome.endpoints["max_diameter"]
    assert isinstance(diameter, Descriptive)
    assert diameter.values == {"before_cm": 10.0, "after_cm": 6.0, "shrinkage_pct": 40.0}
    assert diameter.facts["after_cm"].uid == "a1"


def test_a_treatment_still_taken_is_known_only_past_the_bound(studies: dict[str, Study]) -> None:
    study = studies["PREOP-DURATION"]
    ongoing = patient(arm="MID", anchors={"surgery": (date(2023, 6, 1), "s0")},
                      exposures=[Exposure("x1", "imatinib", "postoperative", date(2023, 7, 1))])
    early = derive_patient(study, ongoing, as_of=date(2024, 7, 1))
    assert early.covariates["postop_imatinib_24m"].value is None  # 12 months so far
    late = derive_patient(study, ongoing, as_of=date(2026, 1, 1))
    assert late.covariates["postop_imatinib_24m"].value is False  # 30 months and counting
    duration = late.endpoints["postop_imatinib_duration"]
    assert isinstance(duration, Descriptive) and duration.values["ongoing"] is True


# --- NCT06038552: OS from the diagnosis of liver metastases ---------------------------------


def test_os_counts_from_the_diagnosis_of_liver_metastases(studies: dict[str, Study]) -> None:
    facts = patient(arm="IM", anchors={"liver_mets_diagnosis": (date(2023, 11, 20), "l0")},
                    events=[Event("d1", "death", date(2025, 11, 20))])
    os_ = tte(studies["NCT06038552"], facts, "os", date(2026, 1, 1))
    assert (os_.origin, os_.status, os_.days) == (date(2023, 11, 20), 1, 731)


def test_whole_months_are_added_as_relativedelta_adds_them() -> None:
    from datetime import timedelta

    from gisttracker.outcomes.derive import after
    from gisttracker.protocols.model import Period

    start = date(2023, 1, 1)
    for months in (1, 11, 12, 18, 36, 60, 200):
        period = Period(months=months)
        for i in range(1461):  # every day of four years, 29 February included
            day = start + timedelta(days=i)
            assert after(period, day) == period.after(day), (months, day)
    assert after(Period(months=1, days=3), date(2024, 1, 31)) == date(2024, 3, 3)


def test_weeks_and_days_are_added_as_relativedelta_adds_them() -> None:
    """Period.after adds a period without months as whole days (its fast path for the
    minimum duration of stable disease judged for every patient); the same dates as
    relativedelta, including across leap days and year ends, and the same error past the
    last date Python knows."""
    from datetime import timedelta

    from dateutil.relativedelta import relativedelta

    from gisttracker.protocols.model import Period

    start = date(2023, 1, 1)
    for weeks, days in ((6, 0), (0, 1), (4, 3), (0, 0), (0, -10), (52, 0), (-2, 5)):
        period = Period(weeks=weeks, days=days)
        for i in range(1461):  # every day of four years, 29 February included
            day = start + timedelta(days=i)
            assert period.after(day) == day + relativedelta(weeks=weeks, days=days), (
                weeks, days, day)
    for adding in (lambda d: Period(weeks=1).after(d), lambda d: d + relativedelta(weeks=1)):
        with pytest.raises(OverflowError):
            adding(date.max)

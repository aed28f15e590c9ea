"""Eligibility: facts, three-valued rules, laboratory limits, and real protocol criteria."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from itertools import product

import pytest

from gisttracker.domain.eligibility import (
    ELIGIBLE,
    INCOMPLETE,
    INELIGIBLE,
    MET,
    NOT_MET,
    UNKNOWN,
    CriterionResult,
    FactError,
    Facts,
    LabValue,
    Screening,
    age_on,
    derive_nih_risk,
    evaluate,
    evaluate_rule,
    facts_from_patient,
    format_number,
)
from gisttracker.errors import InputError
from gisttracker.protocols import Study, load_studies
from gisttracker.protocols.model import Allocation, Arm, Criterion, Rule

# --- helpers ----------------------------------------------------------------------------------


def real_study(key: str) -> Study:
    """A shipped protocol; the test fails (never skips) if it is missing or does not load."""
    result = load_studies()
    studies = {s.key: s for s in result.studies}
    assert key in studies, f"{key} not loaded; loader errors: {result.errors}"
    return studies[key]


def small_study(*criteria: Criterion) -> Study:
    return Study(
        key="T", registration=None, title="Test", short_title="Test", sponsor="-",
        design="-", study_type="interventional", target_enrollment=None, condition="-",
        summary="-", source="-", primary_response_criterion=None,
        arms=(Arm("A", "A", ""),), allocation=Allocation(method="single_arm"),
        criteria=criteria, anchors=(), visits=(), endpoints=(),
    )


def ids(results: tuple[CriterionResult, ...]) -> set[str]:
    return {r.criterion.id for r in results}


# --- NCT03862768, the real protocol file -----------------------------------------------------

FOCAL_PASSING: Mapping[str, object] = {
    "histology_confirmed": True, "prior_imatinib": True, "progressive_organs": 1,
    "progressive_lesions": 2, "age": 50, "other_malignancy_5y": False, "ecog": 1, "asa": 2,
    "sex": "female", "consent_signed": True, "pregnant_or_lactating": False,
}
FOCAL_JUDGEMENTS: Mapping[str, bool] = {
    "I2b": True, "E1": False, "E3": False, "E4": False, "E5": False, "E7": False, "E9": False,
}


def screen_focal(changes: Mapping[str, object] | None = None,
                 judgements: Mapping[str, bool | None] | None = None) -> Screening:
    facts = Facts({**FOCAL_PASSING, **(changes or {})})
    return evaluate(real_study("NCT03862768"), facts, {**FOCAL_JUDGEMENTS, **(judgements or {})})


def test_focal_progression_computable_criteria_are_the_ones_tested_here() -> None:
    study = real_study("NCT03862768")
    computable = {c.id for c in study.criteria if c.rule is not None}
    assert computable == {"I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "E2", "E6", "E8"}
    assert {c.id for c in study.criteria if c.rule is None} == set(FOCAL_JUDGEMENTS)


def test_focal_progression_patient_passing_every_criterion_is_eligible() -> None:
    screening = screen_focal()
    assert screening.outcome == ELIGIBLE
    assert screening.failures == () and screening.unknown == ()
    states = {r.criterion.id: r.state for r in screening.results}
    assert all(states[i] == MET for i in ("I1", "I2", "I2b", "I3", "I4", "I5", "I6", "I7", "I8"))
    assert all(states[e] == NOT_MET for e in ("E1", "E2", "E3", "E6", "E8", "E9"))
    assert screening.result("I5").reason == "ECOG 1 < 2"
    assert screening.result("I3").reason == "age 50 ≥ 18; age 50 ≤ 75"


@pytest.mark.parametrize(("changes", "failing", "reason"), [
    ({"age": 17}, {"I3"}, "age 17 < 18"),
    ({"age": 18}, set(), None),
    ({"age": 75}, set(), None),
    ({"age": 76}, {"I3"}, "age 76 > 75"),
    ({"ecog": 1}, set(), None),
    ({"ecog": 2}, {"I5"}, "ECOG 2 ≥ 2"),
    ({"asa": 2}, set(), None),
    ({"asa": 3}, {"I6"}, "ASA 3 ≥ 3"),
    ({"progressive_lesions": 1}, set(), None),
    ({"progressive_lesions": 0}, {"I2"}, "progressive lesions 0 < 1"),
    ({"progressive_lesions": 3}, set(), None),
    ({"progressive_lesions": 4}, {"I2", "E2"}, "progressive lesions 4 > 3"),
    ({"progressive_organs": 1}, set(), None),
    ({"progressive_organs": 2}, {"I2", "E2"}, "organs with progression 2 ≠ 1"),
    ({"histology_confirmed": False}, {"I1"}, "Histologically confirmed GIST: no"),
    ({"prior_imatinib": False}, {"I1"}, "Treated with imatinib before: no"),
    ({"other_malignancy_5y": True}, {"I4", "E8"}, "Other malignancy within 5 years: yes"),
    ({"pregnant_or_lactating": True}, {"E6"}, "Pregnant or lactating: yes"),
    ({"consent_signed": False}, {"I8"}, "Informed consent signed: no"),
])
def test_focal_progression_each_threshold_on_both_sides(
        changes: dict[str, object], failing: set[str], reason: str | None) -> None:
    screening = screen_focal(changes)
    assert ids(screening.failures) == failing
    assert screening.outcome == (INELIGIBLE if failing else ELIGIBLE)
    if reason is not None:
        assert reason in {r.reason for r in screening.failures}


def test_focal_progression_unknowns_leave_the_screening_incomplete() -> None:
    facts = {k: v for k, v in FOCAL_PASSING.items() if k not in ("ecog", "sex")}
    screening = evaluate(real_study("NCT03862768"), Facts(facts), {**FOCAL_JUDGEMENTS,
                                                                    "I2b": None})
    assert screening.outcome == INCOMPLETE
    assert ids(screening.unknown) == {"I5", "I7", "I2b"}
    assert screening.failures == ()
    assert screening.result("I5").reason == "ECOG not yet entered"
    assert screening.result("I2b").reason == "awaiting the investigator's judgement"


def test_a_failure_makes_ineligible_even_with_criteria_still_open() -> None:
    facts = {k: v for k, v in FOCAL_PASSING.items() if k != "ecog"} | {"age": 80}
    screening = evaluate(real_study("NCT03862768"), Facts(facts), {})
    assert screening.outcome == INELIGIBLE
    assert ids(screening.failures) == {"I3"}
    assert "I5" in ids(screening.unknown)


def test_exclusion_ticked_by_the_investigator_excludes() -> None:
    screening = screen_focal(judgements={"E3": True})
    assert screening.outcome == INELIGIBLE
    failure = screening.result("E3")
    assert (failure.state, failure.excludes) == (MET, True)
    assert failure.reason == "recorded by the investigator: yes"
    assert not failure.computed


def test_judgements_for_computable_or_unknown_criteria_are_ignored_and_listed() -> None:
    screening = screen_focal({"age": 76}, judgements={"I3": True, "E6": True, "Z9": True})
    assert ids(screening.failures) == {"I3"}  # the tick on I3 did not rescue, E6 not excluded
    assert screening.result("E6").state == NOT_MET
    assert screening.ignored_judgements == ("E6", "I3", "Z9")


def test_every_shipped_study_screens_an_empty_patient_as_incomplete() -> None:
    result = load_studies()
    keys = {s.key for s in result.studies}
    # The files present when this test was written; each must keep loading.
    expected = {"NCT03862768", "NCT04933669", "RECTAL-LE", "PREOP-DURATION", "NCT06038552"}
    assert expected <= keys, result.errors
    for study in result.studies:
        screening = evaluate(study, Facts(), {})
        assert screening.failures == (), study.key
        assert screening.outcome == INCOMPLETE, study.key
        assert len(screening.results) == len(study.criteria)


# --- NCT04933669: laboratory limits in the real file ----------------------------------------

NORMAL_LABS = {
    "ast": LabValue(30, "U/L", uln=40), "alt": LabValue(30, "U/L", uln=40),
    "bilirubin": LabValue(10, "µmol/L", uln=20), "creatinine": LabValue(70, "µmol/L", uln=100),
}


@pytest.mark.parametrize(("alt", "state"), [(100, NOT_MET), (100.1, MET), (101, MET)])
def test_neoadjuvant_liver_exclusion_at_exactly_and_just_over_two_and_a_half_uln(
        alt: float, state: str) -> None:
    study = real_study("NCT04933669")
    facts = Facts(NORMAL_LABS, alt=LabValue(alt, "U/L", uln=40))
    result = evaluate(study, facts, {}).result("E3")
    assert result.state == state
    assert result.excludes is (state == MET)


def test_neoadjuvant_liver_exclusion_is_met_by_one_high_value_even_with_others_unknown() -> None:
    study = real_study("NCT04933669")
    high = evaluate(study, Facts(alt=LabValue(130, "U/L", uln=40)), {}).result("E3")
    assert (high.state, high.reason) == (MET, "ALT 130 U/L > 2.5 × ULN 40 U/L (100 U/L)")
    normal = evaluate(study, Facts(alt=LabValue(99, "U/L", uln=40)), {}).result("E3")
    assert normal.state == UNKNOWN
    assert "AST not yet entered" in normal.reason


# --- rules built in code -----------------------------------------------------------------------

LEAF = {
    MET: Rule(op="==", field="cd117_positive", value=True),
    NOT_MET: Rule(op="==", field="dog1_positive", value=True),
    UNKNOWN: Rule(op="==", field="hiv_positive", value=True),
}
LEAF_FACTS = Facts(cd117_positive=True, dog1_positive=False)

# Kleene's strong three-valued logic, written out rather than computed.
ALL_TABLE = {
    (MET, MET): MET, (MET, NOT_MET): NOT_MET, (MET, UNKNOWN): UNKNOWN,
    (NOT_MET, MET): NOT_MET, (NOT_MET, NOT_MET): NOT_MET, (NOT_MET, UNKNOWN): NOT_MET,
    (UNKNOWN, MET): UNKNOWN, (UNKNOWN, NOT_MET): NOT_MET, (UNKNOWN, UNKNOWN): UNKNOWN,
}
ANY_TABLE = {
    (MET, MET): MET, (MET, NOT_MET): MET, (MET, UNKNOWN): MET,
    (NOT_MET, MET): MET, (NOT_MET, NOT_MET): NOT_MET, (NOT_MET, UNKNOWN): UNKNOWN,
    (UNKNOWN, MET): MET, (UNKNOWN, NOT_MET): UNKNOWN, (UNKNOWN, UNKNOWN): UNKNOWN,
}


@pytest.mark.parametrize(("left", "right"), list(product(LEAF, LEAF)))
def test_all_and_any_follow_three_valued_logic(left: str, right: str) -> None:
    both = (LEAF[left], LEAF[right])
    assert evaluate_rule(Rule(op="all", rules=both), LEAF_FACTS).state == ALL_TABLE[left, right]
    assert evaluate_rule(Rule(op="any", rules=both), LEAF_FACTS).state == ANY_TABLE[left, right]


@pytest.mark.parametrize(("inner", "expected"), [
    (MET, NOT_MET), (NOT_MET, MET), (UNKNOWN, UNKNOWN),
])
def test_not_inverts_met_and_keeps_unknown(inner: str, expected: str) -> None:
    result = evaluate_rule(Rule(op="not", rules=(LEAF[inner],)), LEAF_FACTS)
    assert result.state == expected
    assert result.reason == evaluate_rule(LEAF[inner], LEAF_FACTS).reason


def test_combined_reason_names_the_deciding_parts_once() -> None:
    rule = Rule(op="all", rules=(Rule(op=">=", field="age", value=18),
                                 Rule(op="<=", field="age", value=75)))
    assert evaluate_rule(rule, Facts(age=77)).reason == "age 77 > 75"
    assert evaluate_rule(rule, Facts()).reason == "age not yet entered"


ALT_RULE = Rule(op="<=", field="alt", factor=2.5, limit="uln")


@pytest.mark.parametrize(("value", "state", "reason"), [
    (100, MET, "ALT 100 U/L ≤ 2.5 × ULN 40 U/L (100 U/L)"),
    (100.5, NOT_MET, "ALT 100.5 U/L > 2.5 × ULN 40 U/L (100 U/L)"),
    (130.0, NOT_MET, "ALT 130 U/L > 2.5 × ULN 40 U/L (100 U/L)"),
])
def test_lab_rule_against_a_multiple_of_the_uln(value: float, state: str, reason: str) -> None:
    result = evaluate_rule(ALT_RULE, Facts(alt=LabValue(value, "U/L", uln=40.0)))
    assert (result.state, result.reason) == (state, reason)


def test_lab_rule_without_the_limit_or_the_value_is_unknown() -> None:
    no_uln = evaluate_rule(ALT_RULE, Facts(alt=LabValue(130, "U/L", lln=5)))
    assert (no_uln.state, no_uln.reason) == (UNKNOWN, "ALT upper limit of normal not yet entered")
    lln_rule = Rule(op=">=", field="haemoglobin", factor=1.0, limit="lln")
    no_lln = evaluate_rule(lln_rule, Facts(haemoglobin=LabValue(120, "g/L", uln=160)))
    assert (no_lln.state, no_lln.reason) == (
        UNKNOWN, "haemoglobin lower limit of normal not yet entered")
    missing = evaluate_rule(Rule(op="<", field="haemoglobin", value=90), Facts())
    assert (missing.state, missing.reason) == (UNKNOWN, "haemoglobin not yet entered")


def test_lab_limit_is_computed_in_decimal_not_binary_floating_point() -> None:
    # 3 * 0.7 is 2.0999999999999996 in binary floating point: 2.1 must still be within it.
    rule = Rule(op="<=", field="creatinine", factor=3, limit="uln")
    result = evaluate_rule(rule, Facts(creatinine=LabValue(2.1, "µmol/L", uln=0.7)))
    assert (result.state, result.reason) == (
        MET, "creatinine 2.1 µmol/L ≤ 3 × ULN 0.7 µmol/L (2.1 µmol/L)")


def test_unit_mismatch_is_unknown_with_a_reason_never_a_conversion() -> None:
    rule = Rule(op="<=", field="bilirubin", factor=1.5, limit="uln")
    result = evaluate_rule(rule, Facts(bilirubin=LabValue(3.0, "mg/dL", uln=1.2)))
    assert result.state == UNKNOWN
    assert result.reason == "bilirubin entered in mg/dL, the criterion needs µmol/L"
    anc = Rule(op=">=", field="anc", value=1.5, unit="10^9/L")
    assert evaluate_rule(anc, Facts(anc=LabValue(1500, "/µL"))).state == UNKNOWN


@pytest.mark.parametrize(("field", "unit", "rule"), [
    ("bilirubin", "umol/L", Rule(op="<=", field="bilirubin", factor=1.5, limit="uln")),
    ("bilirubin", "\u03bcmol/L", Rule(op="<=", field="bilirubin", factor=1.5, limit="uln")),
    ("anc", "×10⁹/L", Rule(op=">=", field="anc", value=1.5, unit="10^9/L")),
    ("anc", "x10^9/L", Rule(op=">=", field="anc", value=1.5, unit="10^9/L")),
])
def test_spellings_of_the_same_unit_are_accepted(field: str, unit: str, rule: Rule) -> None:
    result = evaluate_rule(rule, Facts({field: LabValue(1.2, unit, uln=20)}))
    assert result.state != UNKNOWN


def test_plain_lab_threshold_reason() -> None:
    anc = Rule(op=">=", field="anc", value=1.5, unit="10^9/L")
    result = evaluate_rule(anc, Facts(anc=LabValue(1.2, "10^9/L")))
    assert (result.state, result.reason) == (NOT_MET, "ANC 1.2 ×10⁹/L < 1.5 ×10⁹/L")


def test_mutation_membership_reason() -> None:
    rule = Rule(op="in", field="mutation", values=("KIT_9", "PDGFRA_18_D842V", "WILD_TYPE"))
    hit = evaluate_rule(rule, Facts(mutation="KIT_9"))
    assert (hit.state, hit.reason) == (
        MET, "mutation KIT exon 9 is one of KIT exon 9, PDGFRA D842V, wild type")
    miss = evaluate_rule(rule, Facts(mutation="KIT_11"))
    assert miss.state == NOT_MET and "KIT exon 11 is not one of" in miss.reason


def test_an_excluded_value_reads_as_the_value_found() -> None:
    """The neoadjuvant study's "mutation tested" criterion (mutation != not tested): the
    reason names what was found, never "mutation is KIT exon 11, not not tested"."""
    tested = Rule(op="!=", field="mutation", value="NOT_TESTED")
    met = evaluate_rule(tested, Facts(mutation="PDGFRA_18_D842V"))
    assert (met.state, met.reason) == (MET, "mutation is PDGFRA D842V")
    missing = evaluate_rule(tested, Facts(mutation="NOT_TESTED"))
    assert (missing.state, missing.reason) == (NOT_MET, "mutation is not tested")


def test_enum_equality_and_risk_order() -> None:
    high = Rule(op="==", field="nih_risk", value="high")
    result = evaluate_rule(high, Facts(nih_risk="intermediate"))
    assert (result.state, result.reason) == (NOT_MET, "NIH risk is intermediate, not high")
    at_least = Rule(op=">=", field="nih_risk", value="intermediate")
    assert evaluate_rule(at_least, Facts(nih_risk="high")).state == MET
    assert evaluate_rule(at_least, Facts(nih_risk="intermediate")).state == MET
    assert evaluate_rule(at_least, Facts(nih_risk="low")).state == NOT_MET
    # Mutations have no order: never a lexicographic guess.
    nonsense = Rule(op=">", field="mutation", value="KIT_9")
    assert evaluate_rule(nonsense, Facts(mutation="PDGFRA_12")).state == UNKNOWN


def test_numbers_are_shown_without_trailing_zeros() -> None:
    assert format_number(100.0) == "100"
    assert format_number(2.50) == "2.5"
    assert format_number(0.1) == "0.1"
    assert format_number(1e6) == "1000000"
    rule = Rule(op=">", field="tumour_size_cm", value=10.0)
    assert evaluate_rule(rule, Facts(tumour_size_cm=10.0)).reason == "tumour size 10 cm ≤ 10 cm"


def test_exclusion_rule_met_means_excluded_in_a_study_built_in_code() -> None:
    study = small_study(
        Criterion("IN", "inclusion", "adult", rule=Rule(op=">=", field="age", value=18)),
        Criterion("EX", "exclusion", "pregnant",
                  rule=Rule(op="==", field="pregnant_or_lactating", value=True)),
    )
    ok = evaluate(study, Facts(age=40, pregnant_or_lactating=False))
    assert ok.outcome == ELIGIBLE
    assert ok.result("EX").excludes is False
    excluded = evaluate(study, Facts(age=40, pregnant_or_lactating=True))
    assert excluded.outcome == INELIGIBLE
    assert (excluded.result("EX").state, excluded.result("EX").excludes) == (MET, True)
    assert excluded.result("IN").excludes is False
    open_exclusion = evaluate(study, Facts(age=40))
    assert open_exclusion.outcome == INCOMPLETE
    assert ids(open_exclusion.unknown) == {"EX"}


# --- facts and age -------------------------------------------------------------------------------


@pytest.mark.parametrize(("dob", "on", "age"), [
    (date(2008, 2, 29), date(2026, 2, 28), 17),  # common year: not yet the birthday
    (date(2008, 2, 29), date(2026, 3, 1), 18),
    (date(2008, 2, 29), date(2024, 2, 29), 16),  # leap year: the birthday itself
    (date(2008, 2, 29), date(2024, 2, 28), 15),
    (date(1950, 6, 15), date(2025, 6, 14), 74),
    (date(1950, 6, 15), date(2025, 6, 15), 75),
    (date(2000, 1, 1), date(2000, 1, 1), 0),
])
def test_age_in_whole_years(dob: date, on: date, age: int) -> None:
    assert age_on(dob, on) == age


def test_age_before_birth_is_refused() -> None:
    with pytest.raises(InputError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


def test_age_is_computed_at_the_screening_date_never_typed() -> None:
    facts = facts_from_patient({"ecog": 0}, date_of_birth=date(2008, 2, 29),
                               screening_date=date(2026, 2, 28))
    assert facts["age"] == 17
    assert evaluate_rule(Rule(op=">=", field="age", value=18), facts).state == NOT_MET
    with pytest.raises(FactError) as typed:
        facts_from_patient({"age": 40})
    assert typed.value.field == "age"
    with pytest.raises(InputError):
        facts_from_patient({}, date_of_birth=date(1970, 1, 1))


def test_facts_from_a_plain_dict() -> None:
    facts = facts_from_patient({
        "ecog": 1, "sex": None, "asa": "", "alt": {"value": 130, "unit": "U/L", "uln": 40},
        "ast": {"value": None, "unit": "U/L", "uln": 40},
        "haemoglobin": LabValue(120, "g/L", lln=115),
    })
    assert dict(facts) == {"ecog": 1, "alt": LabValue(130, "U/L", uln=40),
                           "haemoglobin": LabValue(120, "g/L", lln=115)}
    with pytest.raises(FactError):
        facts_from_patient({"alt": {"value": 130}})


def test_nih_risk_is_derived_with_the_site_deciding_gastric() -> None:
    gastric = facts_from_patient({"tumour_size_cm": 6, "mitoses_per_50hpf": 3,
                                  "primary_site": "stomach", "ruptured": False})
    assert gastric["nih_risk"] == "intermediate"
    intestinal = facts_from_patient({"tumour_size_cm": 6, "mitoses_per_50hpf": 3,
                                     "primary_site": "small_intestine", "ruptured": False})
    assert intestinal["nih_risk"] == "high"
    unknown_rupture = facts_from_patient({"tumour_size_cm": 6, "mitoses_per_50hpf": 3,
                                          "primary_site": "stomach"})
    assert "nih_risk" not in unknown_rupture


def test_nih_risk_calls_the_function_it_is_given() -> None:
    calls: list[tuple[object, ...]] = []

    def fake(size: float, mitoses: float, *, gastric: bool, ruptured: bool) -> str:
        calls.append((size, mitoses, gastric, ruptured))
        return "low"

    facts = Facts(tumour_size_cm=4.0, mitoses_per_50hpf=2, primary_site="rectum", ruptured=True)
    assert derive_nih_risk(facts, fake) == "low"
    assert calls == [(4.0, 2, False, True)]


def test_typed_nih_risk_is_kept_only_when_it_cannot_be_derived() -> None:
    assert facts_from_patient({"nih_risk": "high"})["nih_risk"] == "high"
    with pytest.raises(FactError) as conflict:
        facts_from_patient({"nih_risk": "low", "tumour_size_cm": 12, "mitoses_per_50hpf": 1,
                            "primary_site": "stomach", "ruptured": False})
    assert conflict.value.field == "nih_risk"


@pytest.mark.parametrize(("values", "field"), [
    ({"ecog": 6}, "ecog"),
    ({"asa": 0}, "asa"),
    ({"ecog": 1.5}, "ecog"),
    ({"ecog": True}, "ecog"),
    ({"tumour_size_cm": 0}, "tumour_size_cm"),
    ({"mutation": "KIT_99"}, "mutation"),
    ({"consent_signed": "yes"}, "consent_signed"),
    ({"alt": 130}, "alt"),
    ({"alt": LabValue(130, " ")}, "alt"),
    ({"alt": LabValue(-1, "U/L")}, "alt"),
    ({"alt": LabValue(30, "U/L", lln=50, uln=40)}, "alt"),
    ({"weight": 70}, "weight"),
])
def test_implausible_facts_are_refused_naming_the_field(
        values: dict[str, object], field: str) -> None:
    with pytest.raises(FactError) as error:
        Facts(values)
    assert error.value.field == field


def test_facts_are_immutable_and_partial() -> None:
    facts = Facts(ecog=1.0, asa=None)
    assert dict(facts) == {"ecog": 1} and isinstance(facts["ecog"], int)
    assert "asa" not in facts
    changed = facts.replace(ecog=None, asa=2)
    assert dict(changed) == {"asa": 2} and dict(facts) == {"ecog": 1}
    assert hash(Facts(ecog=1)) == hash(Facts(ecog=1))
    with pytest.raises(TypeError):
        facts["ecog"] = 2  # type: ignore[index]

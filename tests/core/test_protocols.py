"""Study protocols: the five shipped files load and say what their sources say; a broken file
gives a ProtocolError naming the file and the dotted key without stopping the others; a site's
own copy of a protocol replaces the shipped one."""

from __future__ import annotations

import operator
import re
import shutil
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gisttracker.protocols import ProtocolError, Study, load_studies, load_study
from gisttracker.protocols.loader import SEEDS_DIR, parse_study
from gisttracker.protocols.model import Criterion, Period, Rule

SEED_FILES = {
    "RECTAL-LE": "rectal_organ_preservation.toml",
    "NCT03862768": "nct03862768_focal_progression.toml",
    "NCT04933669": "nct04933669_neoadjuvant.toml",
    "PREOP-DURATION": "retrospective_preop_duration.toml",
    "NCT06038552": "nct06038552_liver_metastases.toml",
}
SOURCES = {"RECTAL-LE": "000", "NCT03862768": "001", "NCT04933669": "002",
           "PREOP-DURATION": "003", "NCT06038552": "004"}
QUESTIONNAIRES = ("qlq_c30", "qlq_cr29", "lars")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


@pytest.fixture(scope="module")
def studies() -> dict[str, Study]:
    result = load_studies()
    assert result.errors == ()
    return {s.key: s for s in result.studies}


def holds(rule: Rule, facts: dict[str, Any], uln: dict[str, float] | None = None) -> bool:
    """A plain reading of a rule over complete facts (reference for checking the data)."""
    if rule.op in ("all", "any"):
        combine = all if rule.op == "all" else any
        return combine(holds(r, facts, uln) for r in rule.rules)
    if rule.op == "not":
        return not holds(rule.rules[0], facts, uln)
    assert rule.field is not None
    value = facts[rule.field]
    if rule.op == "in":
        return value in rule.values
    if rule.limit == "uln":
        assert uln is not None and rule.factor is not None
        return _OPS[rule.op](value, rule.factor * uln[rule.field])
    return _OPS[rule.op](value, rule.value)


def criterion(study: Study, cid: str) -> Criterion:
    (found,) = [c for c in study.criteria if c.id == cid]
    return found


def met(study: Study, cid: str, facts: dict[str, Any],
        uln: dict[str, float] | None = None) -> bool:
    rule = criterion(study, cid).rule
    assert rule is not None, f"{study.key} {cid} has no rule"
    return holds(rule, facts, uln)


# ---------------------------------------------------------------- the shipped files


def test_all_five_shipped_protocols_load_without_errors(studies: dict[str, Study]) -> None:
    assert set(studies) == set(SEED_FILES)
    assert {s.path for s in studies.values()} == set(SEED_FILES.values())
    assert sorted(p.name for p in SEEDS_DIR.glob("*.toml")) == sorted(SEED_FILES.values())


@pytest.mark.parametrize(("key", "filename"), sorted(SEED_FILES.items()))
def test_each_seed_file_loads_on_its_own(key: str, filename: str) -> None:
    study = load_study(SEEDS_DIR / filename)
    assert study.key == key
    # The source document is cited by its file name only.
    assert re.fullmatch(rf"{SOURCES[key]}_[0-9a-f]{{16}}\.txt", study.source)
    for visit in study.visits:
        assert "{" not in visit.name and "}" not in visit.name


@pytest.mark.parametrize("key", sorted(SEED_FILES))
def test_every_site_assumption_is_also_listed_at_the_top(studies: dict[str, Study],
                                                         key: str) -> None:
    study = studies[key]
    marked = [c.assumption for c in study.criteria if c.assumption]
    marked += [v.assumption for v in study.visits if v.assumption]
    marked += [i.assumption for a in study.arms for i in a.interventions if i.assumption]
    if study.allocation.assumption:
        marked.append(study.allocation.assumption)
    assert marked, f"{key}: every study here makes at least one site assumption"
    assert study.assumptions, f"{key}: assumptions are marked but not listed at the top"


def test_rectal_study_facts(studies: dict[str, Study]) -> None:
    study = studies["RECTAL-LE"]
    assert study.registration is None and study.target_enrollment is None
    assert study.sponsor == "Not stated in the source document"
    assert any("Sponsor" in a for a in study.assumptions)
    assert study.study_type == "interventional"
    assert [a.code for a in study.arms] == ["LE"]
    assert study.allocation.method == "single_arm"
    assert {(a.key, a.source) for a in study.anchors} == {
        ("enrollment", "enrollment"), ("surgery", "entered")}
    assert [c.id for c in study.inclusion] == ["I1", "I2", "I3", "I4", "I5", "I6"]
    assert [c.id for c in study.exclusion] == ["E1"]
    # No criterion comes from the source: every one is marked as derived or site standard.
    assert all(c.assumption for c in study.criteria)
    surgery_visit = next(v for v in study.visits if v.key == "surgery")
    assert surgery_visit.anchor == "surgery" and surgery_visit.offset == Period()
    assert {"surgery", "pathology"} <= set(surgery_visit.assessments)


def test_rectal_questionnaires_fall_at_baseline_and_3_12_24_36_months_after_surgery(
        studies: dict[str, Study]) -> None:
    study = studies["RECTAL-LE"]
    for questionnaire in QUESTIONNAIRES:
        timepoints = sorted(((v.anchor, v.offset.months, v.offset.weeks, v.offset.days)
                             for v in study.visits if questionnaire in v.assessments),
                            key=lambda t: (t[0] != "enrollment", t[1]))
        assert timepoints == [("enrollment", 0, 0, 0), ("surgery", 3, 0, 0),
                              ("surgery", 12, 0, 0), ("surgery", 24, 0, 0),
                              ("surgery", 36, 0, 0)], questionnaire
    baseline = next(v for v in study.visits if v.key == "baseline")
    assert baseline.window_after == Period()  # before the first imatinib dose
    surgery_day = date(2025, 1, 31)
    targets = [v.target(surgery_day) for v in study.visits
               if v.anchor == "surgery" and "qlq_c30" in v.assessments]
    assert sorted(targets) == [date(2025, 4, 30), date(2026, 1, 31), date(2027, 1, 31),
                               date(2028, 1, 31)]


def test_rectal_eligibility_reads_the_title(studies: dict[str, Study]) -> None:
    study = studies["RECTAL-LE"]
    patient = {"histology_confirmed": True, "primary_site": "rectum", "mutation": "KIT_11",
               "consent_signed": True, "age": 57, "ecog": 1, "distant_metastases": False}
    assert all(met(study, c.id, patient) for c in study.inclusion)
    assert not met(study, "E1", patient)
    assert not met(study, "I2", {**patient, "primary_site": "stomach"})
    assert not met(study, "I3", {**patient, "mutation": "PDGFRA_18_D842V"})
    assert not met(study, "I3", {**patient, "mutation": "WILD_TYPE"})
    assert met(study, "I3", {**patient, "mutation": "KIT_9"})
    assert not met(study, "I6", {**patient, "ecog": 2})


def test_rectal_endpoints_and_horizons(studies: dict[str, Study]) -> None:
    endpoints = {e.key: e for e in studies["RECTAL-LE"].endpoints}
    assert {k: (e.kind, e.horizon.months) for k, e in endpoints.items()} == {
        "organ_preservation": ("primary", 18), "dfs_3y": ("secondary", 36),
        "local_recurrence": ("secondary", 36), "os_3y": ("secondary", 36),
        "r0": ("secondary", 18), "qol": ("secondary", 36), "lars": ("secondary", 36)}
    assert endpoints["dfs_3y"].measured_from == "surgery"


def test_nct04933669_facts(studies: dict[str, Study]) -> None:
    study = studies["NCT04933669"]
    assert study.registration == "NCT04933669" and study.target_enrollment == 122
    assert study.sponsor == "First Affiliated Hospital of Zhejiang University"
    assert study.primary_response_criterion == "choi"
    assert [a.code for a in study.arms] == ["NEO"] and study.allocation.method == "single_arm"
    assert {(a.key, a.source) for a in study.anchors} == {
        ("imatinib_start", "entered"), ("last_preop_dose", "entered"), ("surgery", "entered")}
    assert len(study.inclusion) == 7 and len(study.exclusion) == 12
    doses = [(i.name, i.dose) for i in study.arms[0].interventions if i.type == "drug"]
    assert [d for _n, d in doses] == ["400 mg/d", "400 mg/d"]
    endpoints = {e.key: (e.kind, e.horizon.months) for e in study.endpoints}
    assert endpoints == {"pfs_5y": ("primary", 60), "orr_choi": ("secondary", 12),
                         "r0": ("secondary", 12), "os_5y": ("secondary", 60)}


def test_nct04933669_haemoglobin_exclusion_reads_below_90_with_a_note(
        studies: dict[str, Study]) -> None:
    study = studies["NCT04933669"]
    e4 = criterion(study, "E4")
    assert e4.kind == "exclusion"
    assert "Hemoglobin (Hb) ≥ 90 g / L" in e4.text  # the registry's words, verbatim
    assert e4.rule is not None
    (hb,) = [r for r in e4.rule.rules if r.field == "haemoglobin"]
    assert (hb.op, hb.value, hb.unit) == ("<", 90, "g/L")
    assert e4.note and "< 90" in e4.note and "≥ 90" in e4.note
    normal = {"anc": 3.2, "platelets": 210, "haemoglobin": 128}
    assert not met(study, "E4", normal)
    assert met(study, "E4", {**normal, "haemoglobin": 85})
    assert not met(study, "E4", {**normal, "haemoglobin": 90})
    assert met(study, "E4", {**normal, "anc": 1.4})
    assert met(study, "E4", {**normal, "platelets": 74})


def test_nct04933669_laboratory_limits_are_multiples_of_the_uln(
        studies: dict[str, Study]) -> None:
    study = studies["NCT04933669"]
    uln = {"ast": 40.0, "alt": 40.0, "bilirubin": 21.0, "creatinine": 100.0}
    normal = {"ast": 30.0, "alt": 35.0, "bilirubin": 12.0, "creatinine": 80.0}
    assert not met(study, "E3", normal, uln)
    assert not met(study, "E3", {**normal, "ast": 100.0}, uln)  # exactly 2.5 × ULN
    assert met(study, "E3", {**normal, "alt": 101.0}, uln)
    assert met(study, "E3", {**normal, "bilirubin": 32.0}, uln)  # > 1.5 × ULN
    assert met(study, "E3", {**normal, "creatinine": 101.0}, uln)  # > 1.0 × ULN
    e3 = criterion(study, "E3").rule
    assert e3 is not None
    assert {(r.field, r.op, r.factor, r.limit) for r in e3.rules} == {
        ("ast", ">", 2.5, "uln"), ("alt", ">", 2.5, "uln"),
        ("bilirubin", ">", 1.5, "uln"), ("creatinine", ">", 1.0, "uln")}


def test_nct04933669_high_risk_by_size_and_site_and_mutation_rules(
        studies: dict[str, Study]) -> None:
    study = studies["NCT04933669"]
    assert not met(study, "I4", {"primary_site": "stomach", "tumour_size_cm": 10.0})
    assert met(study, "I4", {"primary_site": "stomach", "tumour_size_cm": 10.5})
    assert met(study, "I4", {"primary_site": "small_intestine", "tumour_size_cm": 5.1})
    assert not met(study, "I4", {"primary_site": "rectum", "tumour_size_cm": 5.0})
    assert criterion(study, "I4").note
    for mutation, excluded in (("PDGFRA_18_D842V", True), ("WILD_TYPE", True), ("KIT_9", True),
                               ("KIT_11", False), ("PDGFRA_18", False)):
        assert met(study, "E1", {"mutation": mutation}) is excluded, mutation
    assert not met(study, "I3", {"mutation": "NOT_TESTED"})
    assert met(study, "I2", {"cd117_positive": False, "dog1_positive": True})
    assert not met(study, "I2", {"cd117_positive": False, "dog1_positive": False})
    assert met(study, "I5", {"age": 80}) and not met(study, "I5", {"age": 81})
    assert criterion(study, "E10b").rule is None  # contraception is a judgement


def test_nct04933669_timing_rules(studies: dict[str, Study]) -> None:
    rules = {r.key: r for r in studies["NCT04933669"].timing_rules}
    assert set(rules) == {"preop_duration", "surgery_within_1_week"}
    preop = rules["preop_duration"]
    assert (preop.start, preop.end) == ("imatinib_start", "last_preop_dose")
    assert (preop.min, preop.max) == (Period(months=3), Period(months=12))
    surgery = rules["surgery_within_1_week"]
    assert (surgery.start, surgery.end) == ("last_preop_dose", "surgery")
    assert surgery.min is None and surgery.max == Period(days=7)


def test_nct04933669_schedule(studies: dict[str, Study]) -> None:
    study = studies["NCT04933669"]
    preop = [v.offset.months for v in study.visits
             if v.anchor == "imatinib_start" and "imaging" in v.assessments and v.offset.months]
    assert preop == [3, 6, 9, 12]
    postop = [v for v in study.visits if v.anchor == "surgery" and v.offset.months]
    assert [v.offset.months for v in postop] == [*range(3, 37, 3), 42, 48, 54, 60]
    assert all({"labs", "imaging", "adverse_events", "treatment", "survival"}
               <= set(v.assessments) for v in postop)
    assert all(v.assumption for v in postop)


def test_preop_duration_cohort_facts(studies: dict[str, Study]) -> None:
    study = studies["PREOP-DURATION"]
    assert study.study_type == "retrospective" and study.registration is None
    assert study.target_enrollment == 171
    assert "Fujian Cancer Hospital" in study.sponsor
    assert "10.3760/cma.j.cn112152-20250328-00136" in study.summary
    assert [a.code for a in study.arms] == ["SHORT", "MID", "LONG"]
    assert study.allocation.method == "derived_duration"
    assert [(g.arm, g.max_months) for g in study.allocation.groups] == [
        ("SHORT", 6), ("MID", 12), ("LONG", None)]

    def group(months: int) -> str:
        return next(g.arm for g in study.allocation.groups
                    if g.max_months is None or months <= g.max_months)

    assert [group(m) for m in (3, 6, 7, 12, 13, 30)] == [
        "SHORT", "SHORT", "MID", "MID", "LONG", "LONG"]
    assert {a.key for a in study.anchors} == {"surgery", "imatinib_start", "last_preop_dose"}
    assert all(a.source == "entered" for a in study.anchors)
    survival_months = {v.offset.months for v in study.visits
                       if v.anchor == "surgery" and "survival" in v.assessments}
    assert {36, 60} <= survival_months
    endpoints = {e.key: e.horizon.months for e in study.endpoints}
    assert {k: endpoints[k] for k in ("rfs_3y", "rfs_5y", "os_3y", "os_5y")} == {
        "rfs_3y": 36, "rfs_5y": 60, "os_3y": 36, "os_5y": 60}
    assert {"max_diameter", "imaging_response", "pathological_response",
            "postop_imatinib_duration"} <= set(endpoints)


def test_liver_metastases_cohort_facts(studies: dict[str, Study]) -> None:
    study = studies["NCT06038552"]
    assert study.registration == "NCT06038552" and study.target_enrollment == 238
    assert study.sponsor == "First Affiliated Hospital, Sun Yat-Sen University"
    assert study.study_type == "observational"
    assert [a.code for a in study.arms] == ["IM", "IM_HR", "IM_LOCAL"]
    assert study.allocation.method == "treatment_received"
    procedures = {a.code: {i.name for i in a.interventions if i.type == "procedure"}
                  for a in study.arms}
    assert procedures == {"IM": set(), "IM_HR": {"hepatic resection (HR)"},
                          "IM_LOCAL": {"radiofrequency ablation (RFA)",
                                       "transarterial chemoembolization (TACE)"}}
    assert study.anchor("liver_mets_diagnosis").source == "entered"
    assert len(study.inclusion) == 4 and len(study.exclusion) == 4
    assert met(study, "E1", {"prior_imatinib": False})
    assert not met(study, "E1", {"prior_imatinib": True})
    assert met(study, "I3", {"ecog": 1}) and not met(study, "I3", {"ecog": 2})
    (os_,) = study.endpoints
    assert (os_.kind, os_.horizon, os_.measured_from) == (
        "primary", Period(months=200), "liver_mets_diagnosis")
    follow_up = [v.offset.months for v in study.visits
                 if v.anchor == "liver_mets_diagnosis" and "survival" in v.assessments]
    assert follow_up == [*range(6, 61, 6), *range(72, 193, 12), 200]


# ---------------------------------------------------------------- broken files

NEO = SEED_FILES["NCT04933669"]


def _index(filename: str, table: str, field: str, value: str) -> int:
    data = tomllib.loads((SEEDS_DIR / filename).read_text(encoding="utf-8"))
    return [item[field] for item in data[table]].index(value)


def _crit(cid: str) -> int:
    return _index(NEO, "criteria", "id", cid)


def _visit(key: str) -> int:
    return _index(NEO, "visits", "key", key)


# (case id, file, text to replace, replacement, expected dotted key)
BROKEN: list[tuple[str, str, str, str, Callable[[], str]]] = [
    ("unknown-key", NEO, 'id = "E4"\n', 'id = "E4"\nshrot = "typo"\n',
     lambda: f"criteria[{_crit('E4')}].shrot"),
    ("unknown-top-level-key", NEO, "target_enrollment = 122\n",
     "target_enrollment = 122\ncolour = \"blue\"\n", lambda: "colour"),
    ("missing-required-field", NEO,
     'sponsor = "First Affiliated Hospital of Zhejiang University"\n', "", lambda: "sponsor"),
    ("missing-criterion-text", NEO, 'text = "Distant metastases are present"\n', "",
     lambda: f"criteria[{_crit('E6')}].text"),
    ("dangling-visit-anchor", NEO,
     'name_zh_CN = "术前评估"\nanchor = "surgery"',
     'name_zh_CN = "术前评估"\nanchor = "operation"',
     lambda: f"visits[{_visit('preop_assessment')}].anchor"),
    ("dangling-timing-anchor", NEO, 'start = "last_preop_dose"', 'start = "last_dose"',
     lambda: "timing_rules[1].start"),
    ("dangling-allocation-arm", SEED_FILES["PREOP-DURATION"], '{ arm = "LONG" }',
     '{ arm = "VERY_LONG" }', lambda: "allocation.groups[2].arm"),
    ("unknown-screening-field", NEO, '{ field = "hiv_positive"', '{ field = "hiv"',
     lambda: f"criteria[{_crit('E8')}].rule.field"),
    ("wrong-unit", NEO, 'value = 90, unit = "g/L"', 'value = 9.0, unit = "g/dL"',
     lambda: f"criteria[{_crit('E4')}].rule.any[2].unit"),
    ("bad-toml-syntax", NEO, "target_enrollment = 122", "target_enrollment = 122 patients",
     lambda: "(syntax)"),
    ("wrong-type", NEO, "target_enrollment = 122", 'target_enrollment = "122"',
     lambda: "target_enrollment"),
    ("bad-brace-in-repeated-visit-name", NEO, 'name = "Month {months} after surgery"',
     'name = "Month {month} after surgery"', lambda: f"visits[{_visit('postop_q3m')}].name"),
    ("bad-brace-in-single-visit-name", NEO, 'name = "Preoperative assessment"',
     'name = "Preoperative {assessment"', lambda: f"visits[{_visit('preop_assessment')}].name"),
    ("duplicate-criterion-id", NEO, 'id = "E10b"', 'id = "E10"',
     lambda: f"criteria[{_crit('E10b')}].id"),
    ("ratio-does-not-match-arms", SEED_FILES["NCT03862768"], "ratio = [1, 1]",
     "ratio = [1, 1, 1]", lambda: "allocation.ratio"),
]


def _broken_copy(directory: Path, filename: str, old: str, new: str) -> Path:
    text = (SEEDS_DIR / filename).read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} no longer in {filename}: update the test"
    broken = text.replace(old, new, 1)
    assert broken != text
    path = directory / filename
    path.write_text(broken, encoding="utf-8")
    return path


@pytest.mark.parametrize(("case", "filename", "old", "new", "key"), BROKEN,
                         ids=[case[0] for case in BROKEN])
def test_broken_file_names_file_and_key_and_the_others_still_load(
        tmp_path: Path, case: str, filename: str, old: str, new: str,
        key: Callable[[], str]) -> None:
    expected_key = key()
    path = _broken_copy(tmp_path, filename, old, new)
    with pytest.raises(ProtocolError) as info:
        load_study(path)
    error = info.value
    assert (error.file, error.key) == (filename, expected_key), case
    assert str(error).startswith(f"{filename}: {expected_key}: ")
    assert error.message
    if case == "bad-toml-syntax":
        assert "line" in error.message

    for other in SEED_FILES.values():
        if other != filename:
            shutil.copy(SEEDS_DIR / other, tmp_path / other)
    result = load_studies(tmp_path)
    broken_key = next(k for k, f in SEED_FILES.items() if f == filename)
    assert {s.key for s in result.studies} == set(SEED_FILES) - {broken_key}
    assert [(e.file, e.key) for e in result.errors] == [(filename, expected_key)]


def test_visit_name_placeholders_and_escaped_braces() -> None:
    text = (SEEDS_DIR / NEO).read_text(encoding="utf-8")
    text = text.replace('name = "Month {months} after surgery"',
                        'name = "Visit {n}: {offset} after surgery {{postop}}"', 1)
    study = parse_study(text, NEO)
    names = [v.name for v in study.visits if v.key.startswith("postop_q3m_")]
    assert names[:2] == ["Visit 1: 3 months after surgery {postop}",
                         "Visit 2: 6 months after surgery {postop}"]


# ---------------------------------------------------------------- site overrides


def _site_copy(directory: Path, name: str, replacements: dict[str, str]) -> Path:
    text = (SEEDS_DIR / SEED_FILES["NCT06038552"]).read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_site_override_replaces_the_study_with_the_same_key(tmp_path: Path) -> None:
    site = tmp_path / "protocols"
    _site_copy(site, "our_liver_study.toml", {"target_enrollment = 238": "target_enrollment = 250",
                                             "every = { months = 6 }, count = 10":
                                             "every = { months = 3 }, count = 20"})
    result = load_studies(SEEDS_DIR, site)
    assert result.errors == ()
    studies = {s.key: s for s in result.studies}
    assert set(studies) == set(SEED_FILES)
    liver = studies["NCT06038552"]
    assert liver.path == "our_liver_study.toml" and liver.target_enrollment == 250
    assert len([v for v in liver.visits if v.key.startswith("fu_q6m_")]) == 20
    assert studies["NCT04933669"].path == SEED_FILES["NCT04933669"]
    # The later directory wins: in the other order the shipped file replaces the site's.
    reverse = {s.key: s for s in load_studies(site, SEEDS_DIR).studies}
    assert reverse["NCT06038552"].target_enrollment == 238


def test_broken_site_override_blocks_the_study_instead_of_using_the_shipped_one(
        tmp_path: Path) -> None:
    site = tmp_path / "protocols"
    _site_copy(site, "our_liver_study.toml", {'method = "treatment_received"':
                                             'method = "by_treatment"'})
    result = load_studies(SEEDS_DIR, site)
    studies = {s.key: s for s in result.studies}
    # The site meant to change NCT06038552: its shipped version is not silently used.
    assert set(studies) == set(SEED_FILES) - {"NCT06038552"}
    assert [(e.file, e.key, e.study) for e in result.errors] == [
        ("our_liver_study.toml", "allocation.method", "NCT06038552")]
    assert list(result.blocked) == ["NCT06038552"]
    assert result.blocked["NCT06038552"] == result.errors


def test_two_files_with_one_key_in_one_directory_is_an_error(tmp_path: Path) -> None:
    _site_copy(tmp_path, "a_liver.toml", {})
    _site_copy(tmp_path, "b_liver.toml", {"target_enrollment = 238": "target_enrollment = 9"})
    result = load_studies(tmp_path)
    assert [(s.key, s.target_enrollment) for s in result.studies] == [("NCT06038552", 238)]
    assert [(e.file, e.key) for e in result.errors] == [("b_liver.toml", "key")]
    assert "a_liver.toml" in result.errors[0].message

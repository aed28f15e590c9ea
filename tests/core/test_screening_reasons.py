"""Screening reasons in the reader's language (issue 15): a reason is stored with its
language-neutral message beside its text, and shown in the language of whoever reads it,
whatever language it was evaluated in; the stored text is the fallback (rows written
before, typed reasons, messages this version does not know)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from gisttracker import i18n
from gisttracker.demo import generate
from gisttracker.domain import eligibility
from gisttracker.domain.eligibility import (
    REASON_MESSAGES,
    Facts,
    LabValue,
    Message,
    criterion_entry,
    reason_line,
    reason_text,
)
from gisttracker.protocols import Study, load_studies
from gisttracker.reports import ReportRequest, build
from gisttracker.reports.fonts import fonts
from gisttracker.services.patients import LabEntry, PatientService, ScreeningData
from gisttracker.services.patients.rules import evaluate_screening
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient, Screening
from tests.core.patients_helpers import TODAY, good_data, new_patient, set_site
from tests.core.reports_fixtures import MADE, pdf_text

STUDIES: dict[str, Study] = {s.key: s for s in load_studies().studies}
# Latin words of three letters or more with lower case: English prose, not a unit (U/L),
# an abbreviation (ALT, ULN, ECOG), a gene (KIT, PDGFRA) or a criterion id (E1b).
ENGLISH_WORD = re.compile(r"\b[A-Za-z]*[a-z]{3,}[A-Za-z]*\b")


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    i18n.install(None)


def _variants(study: Study) -> list[tuple[ScreeningData | None, date]]:
    """Screenings that make every kind of reason: all met, facts missing, values outside
    the limits, an enumerated value in and out of a list, a lab in another unit or without
    its upper limit, judgements ticked either way and not judged."""
    good = good_data(study)
    old = date(1940, 1, 1)
    young = date(1966, 3, 15)
    worse = replace(good, values={**good.values, "ecog": 3, "asa": 4, "ruptured": True,
                                  "mutation": "PDGFRA_18_D842V", "primary_site": "rectum",
                                  "tumour_size_cm": 1.5, "distant_metastases": True},
                    labs={**good.labs, "alt": LabEntry(130, "U/L", 7, 40),
                          "anc": LabEntry(1.0, "×10⁹/L", 1.8, 6.3),
                          "bilirubin": LabEntry(0.9, "mg/dL", 0.1, 1.2),
                          "creatinine": LabEntry(300, "µmol/L", 45, None)},
                    judgements={cid: not tick for cid, tick in good.judgements.items()})
    other_units = replace(good, labs={**good.labs, "ast": LabEntry(1, "µkat/L", 0, 0.6),
                                      "platelets": LabEntry(60, "×10⁹/L", 125, 350)})
    return [(good, young), (ScreeningData(), young), (worse, old), (other_units, young),
            (replace(good, values={**good.values, "mutation": "WILD_TYPE"},
                     judgements={}), young), (None, young)]


# Facts the screening form never gives (it converts a lab to the criterion's unit), so
# evaluated directly: a lab in a unit of its own, limits of normal not entered.
ODD_LABS = {"ast": LabValue(1, "µkat/L", 0, 0.6), "alt": LabValue(30, "U/L", 7, None),
            "bilirubin": LabValue(12, "µmol/L", None, None),
            "creatinine": LabValue(80, "µmol/L", None, None)}


def _entries(study: Study, data: ScreeningData | None, dob: date) -> list[dict[str, Any]]:
    """Every criterion's reason as a screening stores it (all results, not only failures);
    ``data`` None: :data:`ODD_LABS`."""
    if data is None:
        result = eligibility.evaluate(study, Facts(ODD_LABS))
    else:
        result = evaluate_screening(study, data, sex="female", date_of_birth=dob,
                                    screened_on=TODAY)
    return [{"criterion": r.criterion.id, "reason": r.reason,
             "messages": [m.to_json() for m in r.messages]} for r in result.results]


@pytest.mark.parametrize(("made_in", "read_in"), [("en", "zh_CN"), ("zh_CN", "en")])
@pytest.mark.parametrize("study_key", sorted(STUDIES))
def test_a_reason_reads_as_if_evaluated_in_the_readers_language(
        study_key: str, made_in: str, read_in: str) -> None:
    study = STUDIES[study_key]
    seen: set[str] = set()
    differ = 0
    for data, dob in _variants(study):
        i18n.install(made_in)
        made = _entries(study, data, dob)
        i18n.install(read_in)
        expected = _entries(study, data, dob)
        for stored, direct in zip(made, expected, strict=True):
            differ += stored["reason"] != direct["reason"]
            assert reason_text(stored, study) == direct["reason"], stored
            assert reason_line(stored, study).startswith(stored["criterion"])
            seen.update(m["id"] for m in stored["messages"])
    # The variants are worth something only if they made several kinds of reason, most
    # of them worded differently in the two languages ("ECOG 1 < 2" is not).
    assert differ >= 10, differ
    assert len(seen) >= 5, seen


def test_every_message_of_a_rule_is_known_and_stored_with_all_its_arguments() -> None:
    i18n.install("en")
    seen: set[str] = set()
    for study in STUDIES.values():
        for data, dob in _variants(study):
            for entry in _entries(study, data, dob):
                assert entry["messages"], entry
                for raw in entry["messages"]:
                    assert raw["id"] in REASON_MESSAGES
                    assert Message.from_json(json.loads(json.dumps(raw))).to_json() == raw
                    seen.add(raw["id"])
                assert reason_text(entry, study) == entry["reason"]
    # Every wording a rule or a judgement can give was made by the variants.
    assert set(REASON_MESSAGES) - seen == {"criterion", "lln_missing", "cannot"}, seen


def test_chinese_reasons_of_an_english_screening_have_no_english_words() -> None:
    study = STUDIES["NCT04933669"]
    i18n.install("en")
    data, dob = _variants(study)[2]
    made = _entries(study, data, dob)
    assert any(ENGLISH_WORD.search(e["reason"]) for e in made)
    i18n.install("zh_CN")
    by_id = {e["criterion"]: reason_line(e, study) for e in made}
    assert by_id["I5"] == "I5：年龄 86 > 80"
    assert by_id["I6"] == "I6：ECOG 3 > 1"
    assert by_id["E3"] == "E3：ALT 130 U/L > 2.5 × ULN 40 U/L（100 U/L）"
    assert by_id["E7"] == "E7：研究者记录：是"
    for line in by_id.values():
        assert not ENGLISH_WORD.search(line), line


def test_a_row_without_messages_or_with_an_unknown_one_shows_its_stored_text() -> None:
    study = STUDIES["NCT04933669"]
    i18n.install("zh_CN")
    old = {"criterion": "I5", "reason": "age 84 > 75"}  # written before the messages
    assert reason_line(old, study) == "I5：age 84 > 75"
    age = {"id": "compare", "args": {"field": {"field": "age"}, "value": "84", "op": ">",
                                     "threshold": "75"}}
    assert reason_text({**old, "messages": [age]}) == "年龄 84 > 75"
    broken: list[Any] = [
        {"id": "from_a_later_version", "args": {}},
        {"id": "compare", "args": {"field": {"field": "age"}}},  # arguments missing
        {**age, "args": {**age["args"], "extra": "1"}},  # an argument too many
        {**age, "args": {**age["args"], "field": {"colour": "age"}}},  # unknown term
        {**age, "args": {**age["args"], "value": 84}},  # not text
        {**age, "args": {**age["args"], "field": {"word": "maybe"}}},
        {**age, "args": {**age["args"], "field": {"field": "a_later_field"}}},
        {"args": {}}, "compare", None,
    ]
    for message in broken:
        assert reason_text({**old, "messages": [age, message]}, study) == "age 84 > 75"
    assert reason_text({"criterion": "I5", "reason": "age 84 > 75", "messages": "x"}) \
        == "age 84 > 75"


def test_a_chosen_criterion_shows_the_protocols_words_unless_they_changed() -> None:
    study = STUDIES["NCT04933669"]
    criterion = next(c for c in study.criteria if c.id == "I3")
    i18n.install("en")
    entry = criterion_entry(criterion)
    assert entry["reason"] == str(criterion.short or criterion.text)
    i18n.install("zh_CN")
    chinese = i18n.local(criterion.short or criterion.text)
    assert chinese != entry["reason"]
    assert reason_text(entry, study) == chinese
    assert reason_text(entry) == entry["reason"]  # no study to look it up in
    amended = {**entry, "reason": "KIT or PDGFRA mutation report (version 1)"}
    assert reason_text(amended, study) == amended["reason"]


@pytest.fixture
def service(session: Session) -> PatientService:
    set_site(session)
    return PatientService(session)


def _screen_failed_in_english(service: PatientService, typed: str) -> Patient:
    i18n.install("en")
    patient = new_patient(service, "NCT04933669")
    data = good_data(service.study("NCT04933669"))
    service.save_screening(patient.uid, replace(data, values={**data.values, "ecog": 3}),
                           today=TODAY)
    service.close_screen_failure(patient.uid, criteria=["I3"], reason=typed, today=TODAY)
    return patient


def test_the_screening_log_reads_an_english_screening_in_chinese_and_keeps_typed_text(
        service: PatientService) -> None:
    patient = _screen_failed_in_english(service, "declined surgery")
    stored = json.loads(Screening.get(Screening.patient == patient.id).reasons)
    assert [(r["criterion"], r["reason"]) for r in stored] == [
        ("I6", "ECOG 3 > 1"), ("I3", "Mutation test report available"),
        (None, "declined surgery")]
    assert [m["id"] for m in stored[0]["messages"]] == ["compare"]
    assert "messages" not in stored[2]  # typed: no program wording to translate
    # The audit trail records the new JSON, messages and all, as any other change.
    audited = [json.loads(json.loads(a.new_value)) for a in AuditLog.select().where(
        (AuditLog.table_name == "screening") & (AuditLog.field == "reasons"))]
    assert audited == [stored]

    i18n.install("zh_CN")
    entry = next(e for e in service.screening_log("NCT04933669").entries
                 if e.patient == patient.study_id)
    assert entry.reasons == (("I6", "ECOG 3 > 1"), ("I3", "有基因突变检测报告"),
                             ("", "declined surgery"))


def test_a_chinese_nurses_reasons_read_in_english(service: PatientService) -> None:
    i18n.install("zh_CN")
    patient = new_patient(service, "NCT04933669", dob=date(1940, 1, 1))
    service.save_screening(patient.uid, good_data(service.study("NCT04933669")),
                           today=TODAY)
    service.close_screen_failure(patient.uid, reason="患者拒绝手术", today=TODAY)
    stored = json.loads(Screening.get(Screening.patient == patient.id).reasons)
    assert stored[0]["reason"] == "年龄 86 > 80"
    i18n.install("en")
    entry = next(e for e in service.screening_log("NCT04933669").entries
                 if e.patient == patient.study_id)
    assert entry.reasons == (("I5", "age 86 > 80"), ("", "患者拒绝手术"))


@pytest.mark.skipif(not fonts().has_cjk, reason="needs fonts-wqy-zenhei "
                    "(scripts/setup installs it)")
def test_the_chinese_screening_log_of_an_english_demo_has_no_english_reason(
        session: Session) -> None:
    i18n.install("en")
    generate(session, patients=120, seed=11, today=TODAY)
    stored = [r for s in Screening.select().join(Patient).where(
        Patient.study_key == "NCT04933669") for r in json.loads(s.reasons or "[]")]
    english = {r["reason"] for r in stored if ENGLISH_WORD.search(r["reason"])}
    assert len(english) >= 3, stored  # the demo made reasons in English prose

    i18n.install("zh_CN")
    report = build(session, ReportRequest("screening", study_key="NCT04933669"),
                   today=TODAY, generated_at=MADE)
    _pages, text = pdf_text(report.render())
    assert not ENGLISH_WORD.findall(text), ENGLISH_WORD.findall(text)[:10]
    flat = re.sub(r"\s+", "", text)
    study = STUDIES["NCT04933669"]
    for r in stored:
        if r.get("criterion"):
            assert re.sub(r"\s+", "", reason_line(r, study)) in flat, r
    assert "筛选日志" in flat


def test_stored_reasons_of_a_screening_are_what_the_outcome_needs() -> None:
    """The entries a screening keeps: failures when ineligible, the open criteria when
    incomplete, none when eligible (unchanged by the messages)."""
    study = STUDIES["NCT04933669"]
    i18n.install("en")
    for data, dob, outcome, count in ((good_data(study), date(1966, 3, 15), "eligible", 0),
                                      (ScreeningData(), date(1966, 3, 15), "incomplete", None),
                                      (_variants(study)[2][0], date(1940, 1, 1), "ineligible",
                                       None)):
        result = evaluate_screening(study, data, sex="female", date_of_birth=dob,
                                    screened_on=TODAY)
        assert result.outcome == outcome
        chosen = (result.failures if outcome == "ineligible" else result.unknown
                  if outcome == "incomplete" else ())
        entries = eligibility.reason_entries(result)
        assert [(e["criterion"], e["reason"]) for e in entries] == [
            (r.criterion.id, r.reason) for r in chosen]
        assert count is None or len(entries) == count

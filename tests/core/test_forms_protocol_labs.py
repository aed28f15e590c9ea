"""Laboratory values a protocol adds to the seven graded ones ([[labs]] in its file)."""

from __future__ import annotations

import dataclasses

import pytest

from gisttracker.protocols import ProtocolError
from gisttracker.protocols.loader import SEEDS_DIR, parse_study
from gisttracker.protocols.model import LabAnalyteSpec
from gisttracker.services.forms import FormInputError, FormService
from gisttracker.session import Session
from gisttracker.store.models_patients import LabResult
from tests.core.forms_fixtures import TODAY, make_patient, make_visit

SEED = SEEDS_DIR / "rectal_organ_preservation.toml"


def _with_albumin(session: Session) -> None:
    study = session.studies["RECTAL-LE"]
    session.studies["RECTAL-LE"] = dataclasses.replace(
        study, labs=(LabAnalyteSpec("albumin", "Albumin", "g/L"),))


def test_protocol_file_declares_its_own_laboratory_values() -> None:
    text = SEED.read_text(encoding="utf-8") + (
        '\n[[labs]]\nkey = "albumin"\nlabel = "Albumin"\nunit = "g/L"\n'
        'assumption = "Nutrition before surgery (site choice)."\n')
    study = parse_study(text, "rectal.toml")
    assert study.labs == (LabAnalyteSpec("albumin", "Albumin", "g/L",
                                         "Nutrition before surgery (site choice)."),)


@pytest.mark.parametrize(("entry", "key", "message"), [
    ('key = "alt"\nlabel = "ALT"\nunit = "U/L"', "labs[0].key", "already a laboratory value"),
    ('key = "Serum Albumin"\nlabel = "Albumin"\nunit = "g/L"', "labs[0].key", "lower-case"),
    ('key = "albumin"\nlabel = "Albumin"', "labs[0].unit", "required field is missing"),
    ('key = "albumin"\nlabel = "Albumin"\nunit = "g/L"\ngrade = 2', "labs[0].grade",
     "unknown key"),
])
def test_bad_laboratory_entries_name_the_file_and_key(entry: str, key: str,
                                                      message: str) -> None:
    text = SEED.read_text(encoding="utf-8") + f"\n[[labs]]\n{entry}\n"
    with pytest.raises(ProtocolError) as error:
        parse_study(text, "rectal.toml")
    assert (error.value.file, error.value.key) == ("rectal.toml", key)
    assert message in error.value.message


def test_protocol_lab_is_recorded_in_its_unit_without_a_grade(session: Session) -> None:
    _with_albumin(session)
    service = FormService(session)
    visit = make_visit(session, make_patient(session), "baseline")
    assert [a.key for a in service.analytes(visit.uid)][-1] == "albumin"

    row = service.save_lab(visit.uid, "albumin", 28.0, "g/L", lln=35, uln=50, today=TODAY)
    assert (row.value, row.unit, row.grade, row.suggestion()) == (28.0, "g/L", None, None)
    service.save_lab(visit.uid, "alt", 130, "U/L", uln=40, today=TODAY)
    assert [r.analyte for r in service.labs(visit.uid)] == ["alt", "albumin"]
    assert service.labs(visit.uid)[0].grade == 2  # still graded: 3.25 × ULN

    with pytest.raises(FormInputError, match="recorded in g/L"):
        service.save_lab(visit.uid, "albumin", 2.8, "g/dL", today=TODAY)
    assert LabResult.get(LabResult.analyte == "albumin").value == 28.0  # unchanged


def test_a_study_without_it_refuses_the_analyte(session: Session) -> None:
    service = FormService(session)
    visit = make_visit(session, make_patient(session), "baseline")
    with pytest.raises(FormInputError, match="unknown laboratory analyte"):
        service.save_lab(visit.uid, "albumin", 38.0, "g/L", today=TODAY)
    assert LabResult.select().count() == 0

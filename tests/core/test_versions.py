"""Versions travel with the data, and site protocol overrides are loud: a refused site file
blocks its study in every service and command, a file that would orphan recorded data is
refused with the list of what, each patient records the protocol version it was enrolled
under and each form the form definition its answers were saved under."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.forms import registry
from gisttracker.protocols.loader import SEEDS_DIR, text_digest
from gisttracker.services.forms import FormService
from gisttracker.services.patients import PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session, StudyUnavailable, open_session, site_protocol_dir
from gisttracker.store.db import connect
from gisttracker.store.migrations import migrate
from gisttracker.store.models import AuditLog
from gisttracker.store.models_forms import Form
from gisttracker.store.models_patients import Patient, ScreeningJudgement
from gisttracker.store.models_versions import FormVersion, ProtocolVersion, StudyProtocol
from gisttracker.store.models_visits import Visit
from tests.core.patients_helpers import TODAY, eligible_patient, set_site

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
FILES = {
    "RECTAL-LE": "rectal_organ_preservation.toml",
    "NCT03862768": "nct03862768_focal_progression.toml",
    "NCT04933669": "nct04933669_neoadjuvant.toml",
    "PREOP-DURATION": "retrospective_preop_duration.toml",
    "NCT06038552": "nct06038552_liver_metastases.toml",
}


def site_copy(db_path: Path, key: str, *pairs: tuple[str, str],
              name: str | None = None) -> Path:
    text = (SEEDS_DIR / FILES[key]).read_text(encoding="utf-8")
    for old, new in pairs:
        assert old in text, f"{old!r} no longer in {FILES[key]}"
        text = text.replace(old, new)
    folder = site_protocol_dir(db_path)
    folder.mkdir(exist_ok=True)
    path = folder / (name or FILES[key])
    path.write_text(text, encoding="utf-8")
    return path


def reopen(session: Session) -> Session:
    session.close()
    return open_session(session.path, user="nurse", clock=lambda: NOW)


def enroll(session: Session, key: str) -> Patient:
    service = PatientService(session)
    set_site(session)
    patient = eligible_patient(service, key)
    kwargs: dict[str, object] = {}
    if key == "NCT03862768":
        kwargs["rng"] = random.Random(7)
    if key == "NCT06038552":
        kwargs["procedures"] = []
    if key == "PREOP-DURATION":
        kwargs.update(preop_start=date(2025, 1, 1), last_preop_dose=date(2025, 6, 1))
    service.enroll(patient.uid, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return Patient.get_by_id(patient.id)


# ---------------------------------------------------------------- protocol versions


def test_a_patient_records_the_protocol_version_it_was_enrolled_under(
        session: Session) -> None:
    patient = enroll(session, "NCT04933669")
    version = ProtocolVersion.get_by_id(patient.protocol_version_id)
    text = (SEEDS_DIR / FILES["NCT04933669"]).read_text(encoding="utf-8")
    assert (version.study_key, version.file_name, version.text) == (
        "NCT04933669", FILES["NCT04933669"], text)
    assert version.digest == text_digest(text) == session.study("NCT04933669").digest
    in_force = StudyProtocol.get(StudyProtocol.study_key == "NCT04933669")
    assert in_force.protocol_version.id == version.id
    with pytest.raises(Exception, match="cannot be changed"):
        ProtocolVersion.update(text="edited").where(ProtocolVersion.id == version.id).execute()


def test_a_new_site_file_is_a_new_version_and_old_patients_keep_theirs(
        session: Session) -> None:
    first = enroll(session, "NCT04933669")
    site_copy(session.path, "NCT04933669", ("target_enrollment = 122", "target_enrollment = 140"))
    session = reopen(session)
    try:
        assert session.blocked == {}
        second = enroll(session, "NCT04933669")
        old = ProtocolVersion.get_by_id(first.protocol_version_id)
        new = ProtocolVersion.get_by_id(second.protocol_version_id)
        assert old.id != new.id and "target_enrollment = 140" in new.text
        assert Patient.get_by_id(first.id).protocol_version_id == old.id
        # The audit trail names a foreign key by its column (schema 9).
        change = AuditLog.get((AuditLog.table_name == "study_protocol")
                              & (AuditLog.field == "protocol_version_id")
                              & (AuditLog.action == "update"))
        assert change.reason == (f"protocol file {FILES['NCT04933669']} in force for "
                                 "NCT04933669")
        assert StudyProtocol.select().count() == 5
    finally:
        session.close()


@pytest.mark.sqlite_only("the upgrade of a file from before protocol versions")
def test_patients_enrolled_before_versions_get_the_file_loaded_at_the_upgrade(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = connect(path)
    migrate(db, target=5)
    db.execute_sql(
        "INSERT INTO patient (uid, study_key, study_id, site_code, seq, sex, status, arm_code, "
        "enrolled_on, created_on) VALUES ('u-old', 'RECTAL-LE', 'ZJU-0001', 'ZJU', 1, 'male', "
        "'enrolled', 'LE', '2025-02-01', '2025-01-20'), ('u-scr', 'RECTAL-LE', 'ZJU-0002', "
        "'ZJU', 2, 'male', 'screened', NULL, NULL, '2025-01-21')")
    db.close()
    session = open_session(path, user="nurse", clock=lambda: NOW)
    try:
        old = Patient.get(Patient.uid == "u-old")
        version = ProtocolVersion.get_by_id(old.protocol_version_id)
        assert version.digest == session.study("RECTAL-LE").digest
        assert Patient.get(Patient.uid == "u-scr").protocol_version_id is None
        audit = AuditLog.get((AuditLog.record_uid == "u-old")
                             & (AuditLog.field == "protocol_version_id"))
        assert audit.reason is not None
        assert audit.reason.startswith("enrolled before protocol versions were kept")
        assert audit.user == "nurse" and audit.patient_uid == "u-old"
    finally:
        session.close()


# ---------------------------------------------------------------- orphaned data is refused


def test_a_site_file_that_renames_visits_in_use_is_refused_with_what_it_would_orphan(
        session: Session) -> None:
    patient = enroll(session, "NCT03862768")
    planned = Visit.select().where(Visit.patient == patient).count()
    site_copy(session.path, "NCT03862768", ('key = "fu_q3m"', 'key = "fu_3m"'))
    session = reopen(session)
    try:
        assert "NCT03862768" not in session.studies
        (refusal,) = session.blocked["NCT03862768"]
        assert refusal.key == "(data)"
        for n in range(1, 5):
            assert f"visit 'fu_q3m_{n}' is no longer defined, and 1 visit is recorded under it" \
                in refusal.message
        with pytest.raises(StudyUnavailable, match="study NCT03862768 is not available"):
            VisitService(session).schedule(patient.uid, today=TODAY)
        with pytest.raises(StudyUnavailable):
            FormService(session).visits(patient.uid)
        # Nothing recorded changed, and the version in force is still the shipped one.
        assert Visit.select().where(Visit.patient == patient).count() == planned
        in_force = StudyProtocol.get(StudyProtocol.study_key == "NCT03862768")
        assert in_force.protocol_version.file_name == FILES["NCT03862768"]
        assert in_force.protocol_version.digest == text_digest(
            (SEEDS_DIR / FILES["NCT03862768"]).read_text(encoding="utf-8"))
    finally:
        session.close()


def test_removed_arms_anchors_criteria_and_a_new_randomization_design_are_refused(
        session: Session) -> None:
    enroll(session, "NCT03862768")
    judged = ScreeningJudgement.select().count()
    assert judged > 0
    site_copy(session.path, "NCT03862768",
              ('id = "I2b"', 'id = "I2c"'),
              ('key = "randomization"\nlabel', 'key = "start"\nlabel'),
              ('anchor = "randomization"', 'anchor = "start"'),
              ('measured_from = "randomization"', 'measured_from = "start"'),
              ('start = "randomization"', 'start = "start"'),
              ('ratio = [1, 1]\nblock_sizes = [2, 4]', 'ratio = [2, 1]\nblock_sizes = [3, 6]'))
    session = reopen(session)
    try:
        (refusal,) = session.blocked["NCT03862768"]
        assert "criterion 'I2b' is no longer defined, and 1 judgement" in refusal.message
        assert "anchor 'randomization' is no longer defined, and 1 date" in refusal.message
        assert ("the randomization design (arms, ratio, block sizes or strata) changed after 1 "
                "patient was randomized") in refusal.message
    finally:
        session.close()


def test_a_removed_group_with_patients_in_it_is_refused(session: Session) -> None:
    patient = enroll(session, "PREOP-DURATION")
    assert patient.arm_code == "SHORT"
    site_copy(session.path, "PREOP-DURATION",
              ('{ arm = "SHORT", max_months = 6 }', '{ arm = "SHORTER", max_months = 6 }'),
              ('code = "SHORT"\n', 'code = "SHORTER"\n'),
              ('reference_group = "SHORT"', 'reference_group = "SHORTER"'))
    session = reopen(session)
    try:
        (refusal,) = session.blocked["PREOP-DURATION"]
        assert "arm 'SHORT' is no longer defined, and 1 patient is in it" in refusal.message
    finally:
        session.close()


# ---------------------------------------------------------------- refused files are loud


@pytest.mark.expect_log(r"^protocol file refused")
def test_a_file_nested_3000_levels_deep_does_not_stop_the_program_from_starting(
        db_path: Path) -> None:
    folder = site_protocol_dir(db_path)
    folder.mkdir()
    (folder / FILES["NCT06038552"]).write_text("x = " + "[" * 3000 + "]" * 3000,
                                               encoding="utf-8")
    session = open_session(db_path, user="nurse", clock=lambda: NOW)
    try:
        assert set(session.studies) == set(FILES) - {"NCT06038552"}
        (error,) = session.blocked["NCT06038552"]
        assert "nested more than" in error.message
    finally:
        session.close()


@pytest.mark.expect_log(r"^protocol file refused")
def test_every_command_says_the_site_file_was_refused_and_commands_on_it_fail(
        db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_copy(db_path, "NCT04933669", ('max = { days = 7 }', 'max = { days = 10000000 }'))
    db = ["--db", str(db_path)]
    assert main([*db, "studies", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "NCT04933669" not in {s["key"] for s in json.loads(out)}
    assert "study NCT04933669 is not available" in err and "timing_rules[1].max" in err
    assert main([*db, "worklist", "--today", "2026-03-14"]) == 0
    assert "study NCT04933669 is not available" in capsys.readouterr().err
    assert main([*db, "schedule", "--study", "NCT04933669",
                 "--anchor", "imatinib_start=2026-01-05"]) == 1
    err = capsys.readouterr().err
    assert err.count("study NCT04933669 is not available") == 2  # the warning, then the refusal
    assert err.rstrip().endswith("corrected or removed.")
    assert main([*db, "report", "screening", "--study", "NCT04933669", "-o",
                 str(db_path.parent / "log.pdf")]) == 1
    assert not (db_path.parent / "log.pdf").exists()


# ---------------------------------------------------------------- form versions


def test_a_form_records_its_definition_and_a_new_definition_is_audited(
        session: Session) -> None:
    patient = enroll(session, "RECTAL-LE")
    visit = Visit.get((Visit.patient == patient) & (Visit.visit_key == "baseline"))
    forms = FormService(session)
    forms.save_answers(visit.uid, "lars", {"flatus": 0})
    form = Form.get((Form.visit == visit) & (Form.kind == "lars"))
    version = FormVersion.get_by_id(form.form_version_id)
    spec = registry.spec_for("lars")
    assert (version.kind, version.digest) == ("lars", spec.digest())
    assert json.loads(version.definition)["items"][0]["key"] == "flatus"
    original = registry._REGISTRY["lars"]
    try:
        registry.register(replace(spec, revision=spec.revision + 1), replace=True)
        forms.save_answers(visit.uid, "lars", {"liquid": 0})
        form = Form.get_by_id(form.id)
        assert form.form_version_id != version.id
        assert FormVersion.get_by_id(form.form_version_id).digest == \
            registry.spec_for("lars").digest()
        change = AuditLog.get((AuditLog.record_uid == form.uid)
                              & (AuditLog.field == "form_version_id")
                              & (AuditLog.action == "update"))
        assert change.reason == "form definition changed since the form was last saved"
    finally:
        registry.register(original, replace=True)

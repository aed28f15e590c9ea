"""A site's copy of a protocol file changes the study's rules everywhere: each rule a study
has (duration groups, timing windows, treatment limits, group rules, strata, anchors that
follow the course, best-response rules, endpoint declarations, horizons, visit windows) is
changed in a copy in the ``protocols/`` folder next to the database, and the services behind
the screens, a report's gathered data and a command all follow the copy.

Every case runs twice: with the shipped file (the control) and with the site's copy, so a
rule still hard-coded somewhere makes the copy's run fail.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from gisttracker.cli import main
from gisttracker.protocols.loader import SEEDS_DIR
from gisttracker.reports.casebook import gather_casebook
from gisttracker.reports.enrollment import gather_enrollment
from gisttracker.reports.schedule import gather_schedule
from gisttracker.services.course import CourseService, EventInput, ExposureInput, SurgeryInput
from gisttracker.services.patients import PatientService
from gisttracker.services.tumour import AssessmentInput, LesionInput, TumourService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session, open_session, site_protocol_dir
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient, Randomization
from tests.core.patients_helpers import TODAY, eligible_patient, set_site

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
FILES = {
    "RECTAL-LE": "rectal_organ_preservation.toml",
    "NCT03862768": "nct03862768_focal_progression.toml",
    "NCT04933669": "nct04933669_neoadjuvant.toml",
    "PREOP-DURATION": "retrospective_preop_duration.toml",
    "NCT06038552": "nct06038552_liver_metastases.toml",
}
SITE = [False, True]
IDS = ["shipped", "site copy"]

# Each study's changes: (text in the shipped file, text in the site's copy).
COPIES: dict[str, list[tuple[str, str]]] = {
    "PREOP-DURATION": [
        ('groups = [ { arm = "SHORT", max_months = 6 }, { arm = "MID", max_months = 12 }',
         'groups = [ { arm = "SHORT", max_months = 4 }, { arm = "MID", max_months = 8 }'),
    ],
    "NCT04933669": [
        ("min = { months = 3 }\nmax = { months = 12 }",
         "min = { months = 2 }\nmax = { months = 6 }"),
        ("max = { days = 7 }", "max = { days = 14 }"),
        ('phase = "postoperative"\nmax = { months = 36 }',
         'phase = "postoperative"\nmax = { months = 24 }'),
        ("window_before = { days = 28 }", "window_before = { days = 21 }"),
    ],
    "NCT06038552": [
        ('arm = "IM_HR"\nprocedures = ["hepatic_resection"]\n\n[[allocation.rules]]\n'
         'arm = "IM_LOCAL"\nprocedures = ["rfa", "tace"]',
         'arm = "IM_LOCAL"\nprocedures = ["rfa", "tace"]\n\n[[allocation.rules]]\n'
         'arm = "IM_HR"\nprocedures = ["hepatic_resection"]'),
        ('set_by = { record = "first_surgery", procedures = ["hepatic_resection", "rfa", '
         '"tace"] }', 'set_by = { record = "first_surgery", procedures = ["hepatic_resection"] }'),
    ],
    "NCT03862768": [
        ('strata = ["site"]', 'strata = ["site", "sex"]'),
        ("sd_min_duration = { weeks = 6 }\nconfirm = false",
         "sd_min_duration = { weeks = 16 }\nconfirm = true\nconfirm_after = { weeks = 4 }"),
        ('events = ["progression", "death"]\ncensor = "last_tumour_assessment"',
         'events = ["death"]\ncensor = "last_contact"'),
    ],
    "RECTAL-LE": [
        ('measure = "organ_preservation"\nhorizon = { months = 18 }',
         'measure = "organ_preservation"\nhorizon = { months = 12 }'),
        ('anchor = "surgery"\noffset = { months = 3 }\nwindow_before = { days = 14 }\n'
         'window_after = { days = 14 }',
         'anchor = "surgery"\noffset = { months = 3 }\nwindow_before = { days = 7 }\n'
         'window_after = { days = 7 }'),
    ],
}


def _write_copy(db_path: Path, key: str) -> None:
    text = (SEEDS_DIR / FILES[key]).read_text(encoding="utf-8")
    for old, new in COPIES[key]:
        assert text.count(old) == 1, f"{old!r} is not once in {FILES[key]}: update the test"
        text = text.replace(old, new)
    folder = site_protocol_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)  # a server site's local folder may be new
    (folder / FILES[key]).write_text(text, encoding="utf-8")


@contextmanager
def opened(db_path: Path, key: str, copy: bool) -> Iterator[Session]:
    """A session on the site database ``db_path`` (a file, or a server database on the
    server run) whose study ``key`` is the shipped one, or the site's copy of it."""
    if copy:
        _write_copy(db_path, key)
    session = open_session(db_path, user="nurse", clock=lambda: NOW)
    try:
        assert session.protocol_errors == () and dict(session.blocked) == {}
        assert session.study(key).digest != "" and (
            session.study(key).text != (SEEDS_DIR / FILES[key]).read_text(encoding="utf-8")
        ) == copy
        set_site(session)
        yield session
    finally:
        session.close()


def _cli_json(session: Session, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main(["--db", str(session.path), *args]) == 0
    return json.loads(capsys.readouterr().out)


def _enroll(session: Session, key: str, **kwargs: object) -> Patient:
    service = PatientService(session)
    patient = eligible_patient(service, key)
    service.enroll(patient.uid, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return Patient.get_by_id(patient.id)


# ---------------------------------------------------------------- PREOP-DURATION


@pytest.mark.parametrize("copy", SITE, ids=IDS)
def test_duration_groups_follow_the_copy_at_enrollment_on_the_treatment_tab_in_reports_and_cli(
        db_path: Path, copy: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with opened(db_path, "PREOP-DURATION", copy) as session:
        _duration_groups(session, copy, capsys)


def _duration_groups(session: Session, copy: bool, capsys: pytest.CaptureFixture[str]) -> None:
    group = "MID" if copy else "SHORT"  # 5 months: SHORT at ≤ 6, MID at 4 < d ≤ 8
    start, last = date(2025, 1, 10), date(2025, 6, 10)
    patient = _enroll(session, "PREOP-DURATION", preop_start=start, last_preop_dose=last)
    assert patient.arm_code == group                                            # enrollment
    course = CourseService(session)
    course.add_exposure(patient.uid, ExposureInput("imatinib", 400, "preoperative", start, last),
                        today=TODAY)
    assert course.treatment(patient.uid, today=TODAY).group == group            # treatment tab
    assert Patient.get_by_id(patient.id).arm_code == group
    arms = {code: n for code, _name, n in gather_enrollment(session, "PREOP-DURATION").arms}
    assert arms[group] == 1                                                      # report
    rows = _cli_json(session, capsys, "patients", "--study", "PREOP-DURATION", "--json")
    assert [r["arm"] for r in rows] == [group]                                   # command


# ---------------------------------------------------------------- NCT04933669


@pytest.mark.parametrize("copy", SITE, ids=IDS)
def test_timing_windows_treatment_limits_and_visit_windows_follow_the_copy(
        db_path: Path, copy: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with opened(db_path, "NCT04933669", copy) as session:
        patient = _enroll(session, "NCT04933669")
        course = CourseService(session)
        # 2 months 5 days of preoperative imatinib, surgery 12 days after the last dose,
        # adjuvant imatinib for 25 months by 2026-05-01.
        course.add_exposure(patient.uid, ExposureInput(
            "imatinib", 400, "preoperative", date(2024, 1, 15), date(2024, 3, 20)), today=TODAY)
        course.record_surgery(patient.uid, SurgeryInput(date(2024, 4, 1), "gastrectomy", "R0"),
                              today=TODAY)
        course.add_exposure(patient.uid, ExposureInput(
            "imatinib", 400, "postoperative", date(2024, 4, 10)), today=TODAY)
        flags = " ".join(course.treatment(patient.uid, today=date(2026, 5, 1)).flags)
        assert ("(at least 3 months)" in flags) is not copy                  # treatment tab
        assert ("(at most 7 days)" in flags) is not copy
        assert ("longer than 24 months" in flags) is copy
        assert "longer than 36 months" not in flags

        baseline = next(line for line in gather_schedule(session, patient.uid,
                                                         today=TODAY).visits
                        if line.name == "Baseline")                          # report
        # The baseline window: 21 days before the start of imatinib in the copy, 28 shipped.
        assert baseline.window_start == (date(2023, 12, 25) if copy else date(2023, 12, 18))

        assert main(["--db", str(session.path), "schedule", "--study", "NCT04933669",
                     "--anchor", "imatinib_start=2024-01-15",
                     "--anchor", "last_preop_dose=2024-03-20",
                     "--anchor", "surgery=2024-04-01", "--json"]) == 0          # command
        out, err = capsys.readouterr()
        assert ("(at most 7 days)" in err) is not copy
        assert ("(at least 3 months)" in err) is not copy
        first = json.loads(out)[0]
        assert first["window_start"] == ("2023-12-25" if copy else "2023-12-18")


# ---------------------------------------------------------------- NCT06038552


@pytest.mark.parametrize("copy", SITE, ids=IDS)
def test_group_rules_and_the_anchor_they_set_follow_the_copy_after_enrollment(
        db_path: Path, copy: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with opened(db_path, "NCT06038552", copy) as session:
        patient = _enroll(session, "NCT06038552", procedures=[])
        assert patient.arm_code == "IM"
        course = CourseService(session)
        course.record_surgery(patient.uid, SurgeryInput(date(2026, 3, 1), "rfa"), today=TODAY)
        assert Patient.get_by_id(patient.id).arm_code == "IM_LOCAL"
        course.record_surgery(patient.uid, SurgeryInput(date(2026, 3, 10), "hepatic_resection",
                                                        "R0"), today=TODAY)
        group = "IM_LOCAL" if copy else "IM_HR"  # the copy tries RFA/TACE first
        assert Patient.get_by_id(patient.id).arm_code == group                # course tab
        anchors = VisitService(session).anchors(patient.uid)
        assert anchors["local_treatment"] == (date(2026, 3, 10) if copy else date(2026, 3, 1))
        arms = {code: n for code, _name, n in gather_enrollment(session, "NCT06038552").arms}
        assert arms[group] == 1                                               # report
        schedule = gather_schedule(session, patient.uid, today=TODAY)
        assert schedule.arm.startswith(group)
        rows = _cli_json(session, capsys, "patients", "--study", "NCT06038552", "--json")
        assert [r["arm"] for r in rows] == [group]                            # command


def test_a_resection_recorded_after_enrollment_moves_the_patient_to_im_hr_with_the_reason(
        db_path: Path) -> None:
    with opened(db_path, "NCT06038552", False) as session:
        patient = _enroll(session, "NCT06038552", procedures=["tace"])
        assert patient.arm_code == "IM_LOCAL"
        course = CourseService(session)
        uid = course.record_surgery(patient.uid, SurgeryInput(date(2026, 3, 2),
                                                              "hepatic_resection", "R1"),
                                    today=TODAY)
        assert Patient.get_by_id(patient.id).arm_code == "IM_HR"
        change = AuditLog.get((AuditLog.record_uid == patient.uid)
                              & (AuditLog.field == "arm_code")
                              & (AuditLog.new_value == '"IM_HR"'))
        assert change.reason == ("group IM_LOCAL → IM_HR by the protocol's rules: hepatic "
                                 "resection on 2026-03-02")
        course.delete_surgery(uid, reason="entered for the wrong patient")
        assert Patient.get_by_id(patient.id).arm_code == "IM_LOCAL"


# ---------------------------------------------------------------- NCT03862768


@pytest.mark.parametrize("copy", SITE, ids=IDS)
def test_strata_response_rules_and_endpoints_follow_the_copy(
        db_path: Path, copy: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with opened(db_path, "NCT03862768", copy) as session:
        service = PatientService(session)
        patient = eligible_patient(service, "NCT03862768")
        stratum = "sex=female;site=ZJU" if copy else "site=ZJU"
        assert service.preview_enrollment(patient.uid).stratum == stratum     # screen
        service.enroll(patient.uid, today=TODAY, rng=random.Random(3))
        assert Randomization.get().stratum == stratum

        tumour = TumourService(session)
        later = date(2026, 12, 1)
        tumour.record(patient.uid, AssessmentInput(date(2026, 3, 10), (
            LesionInput("T1", "liver", 50),), is_baseline=True), today=later)
        # Enrolled (randomized) 2026-03-14: PR at 10 weeks, SD at 12, PD at 30.
        for on, mm in ((date(2026, 5, 23), 34), (date(2026, 6, 6), 40),
                       (date(2026, 10, 10), 60)):
            tumour.record(patient.uid, AssessmentInput(on, (LesionInput("T1", "liver", mm),)),
                          today=later)
        # Shipped: PR counts unconfirmed. Copy: the PR is not confirmed 4 weeks later and
        # SD only counts from 16 weeks: PD.
        best = "PD" if copy else "PR"
        assert tumour.evaluation(patient.uid).best_recist == best              # tumour tab
        assert gather_casebook(session, patient.uid, today=later).best_response == best
        pdf = session.path.parent / "casebook.pdf"
        assert main(["--db", str(session.path), "report", "casebook", "--patient",
                     patient.uid, "-o", str(pdf)]) == 0                         # command
        capsys.readouterr()
        text = " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())
        assert f"Best overall response: {best}" in text

        course = CourseService(session)
        course.record_event(patient.uid, EventInput("last_known_alive", date(2026, 11, 1)),
                            today=later)
        (pfs,) = [e for e in course.endpoints(patient.uid, today=later) if e.key == "pfs"]
        if copy:  # the copy's PFS ends only at death and is censored at the last contact
            assert (pfs.event, pfs.on) == (False, date(2026, 11, 1))
        else:     # imaging progression, by RECIST 1.1
            assert (pfs.event, pfs.on) == (True, date(2026, 10, 10))


# ---------------------------------------------------------------- RECTAL-LE


@pytest.mark.parametrize("copy", SITE, ids=IDS)
def test_horizons_and_visit_windows_follow_the_copy(
        db_path: Path, copy: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with opened(db_path, "RECTAL-LE", copy) as session:
        patient = _enroll(session, "RECTAL-LE")
        course = CourseService(session)
        # Enrolled 2026-03-14 (organ preservation counts from enrollment); a TME at 14 months.
        later = date(2027, 10, 1)
        course.record_surgery(patient.uid, SurgeryInput(date(2026, 5, 4),
                                                        "local_excision_tamis", "R0"),
                              today=later)
        course.record_surgery(patient.uid, SurgeryInput(date(2027, 5, 20), "tme", "R0"),
                              today=later)
        result = course.organ_preservation(patient.uid, today=later)
        assert result is not None
        assert result.horizon == (date(2027, 3, 14) if copy else date(2027, 9, 14))
        assert result.preserved is copy                                       # course tab
        (op,) = [e for e in course.endpoints(patient.uid, today=later)
                 if e.key == "organ_preservation"]
        assert op.event is copy

        month3 = next(line for line in gather_schedule(session, patient.uid, today=later).visits
                      if line.name == "Month 3 after surgery")                # report
        assert (month3.window_start, month3.window_end) == (
            (date(2026, 7, 28), date(2026, 8, 11)) if copy
            else (date(2026, 7, 21), date(2026, 8, 18)))
        rows = _cli_json(session, capsys, "schedule", "--study", "RECTAL-LE", "--anchor",
                         "surgery=2026-05-04", "--json")                      # command
        fu = next(r for r in rows if r["visit_key"] == "fu_m3")
        assert (fu["window_start"], fu["window_end"]) == (
            ("2026-07-28", "2026-08-11") if copy else ("2026-07-21", "2026-08-18"))

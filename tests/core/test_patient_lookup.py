"""One patient look-up for every command, report and service: trimmed, case-insensitive."""

from __future__ import annotations

from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.services.base import ServiceError
from gisttracker.services.common import find_patient
from gisttracker.services.course import CourseService
from gisttracker.services.forms import FormService
from gisttracker.services.patients import PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session, open_session
from tests.core.patients_helpers import new_patient, set_site
from tests.helpers import FIXED_NOW


@pytest.mark.parametrize("typed", ["ZJU-0001", "zju-0001", "  Zju-0001\t", " zju-0001 "])
def test_every_service_finds_the_patient_however_the_identifier_is_typed(
        session: Session, typed: str) -> None:
    set_site(session)
    patient = new_patient(PatientService(session), "RECTAL-LE")
    assert patient.study_id == "ZJU-0001"
    assert find_patient(typed).uid == patient.uid
    assert PatientService(session).get(typed).uid == patient.uid
    assert VisitService(session).patient(typed).uid == patient.uid
    assert CourseService(session).patient(typed).uid == patient.uid
    assert FormService(session)._patient(typed).uid == patient.uid
    assert find_patient(patient.uid.upper()).uid == patient.uid


@pytest.mark.parametrize("typed", ["", "   ", "ZJU-9999", "ZJU-0001x"])
def test_an_unknown_patient_is_one_clear_message(session: Session, typed: str) -> None:
    set_site(session)
    new_patient(PatientService(session), "RECTAL-LE")
    with pytest.raises(ServiceError, match="no patient"):
        find_patient(typed)


def test_report_and_ical_accept_the_same_lower_case_identifier(
        tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = db_path
    s = open_session(db, user="nurse", clock=lambda: FIXED_NOW)
    set_site(s)
    new_patient(PatientService(s), "RECTAL-LE")
    s.close()
    assert main(["--db", str(db), "report", "schedule", "--patient", "zju-0001",
                 "-o", str(tmp_path / "s.pdf")]) == 0
    assert main(["--db", str(db), "ical", "--patient", "zju-0001",
                 "-o", str(tmp_path / "s.ics")]) == 0
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")
    assert b"BEGIN:VCALENDAR" in (tmp_path / "s.ics").read_bytes()
    assert main(["--db", str(db), "ical", "--patient", "zju-0002",
                 "-o", str(tmp_path / "t.ics")]) == 1
    assert "no patient 'zju-0002'" in capsys.readouterr().err

"""The command-line listings stream: ``patients`` pages by key and ``worklist`` judges each
section as it reads it, yet both print exactly the list the services give in one piece."""

from __future__ import annotations

import json
from datetime import date

import pytest

from gisttracker.cli import main
from gisttracker.cli import patients as patients_cli
from gisttracker.demo import generate
from gisttracker.services.patients import STATUS_LABELS, PatientFilter, PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from tests.core.reports_fixtures import TODAY


@pytest.fixture
def site(session: Session) -> Session:
    generate(session, patients=90, seed=4, today=TODAY)
    return session


def test_patients_json_pages_by_key_across_page_boundaries(
        site: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 7: every boundary between pages is crossed a dozen times.
    monkeypatch.setattr(patients_cli, "PAGE", 7)
    assert main(["--db", str(site.path), "patients", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    whole = PatientService(site).page(PatientFilter(), limit=10_000)
    assert len(whole) > 80
    assert [p["patient"] for p in printed] == [r.patient for r in whole]
    assert printed[0] == {
        "patient": whole[0].patient, "study": whole[0].study_key, "arm": whole[0].arm_code,
        "status": STATUS_LABELS[whole[0].status],
        "enrolled_on": whole[0].enrolled_on.isoformat() if whole[0].enrolled_on else None,
        "randomization_number": whole[0].randomization_number}


def test_patients_table_and_filters_stream_the_same_rows(
        site: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patients_cli, "PAGE", 5)
    assert main(["--db", str(site.path), "patients", "--study", "NCT04933669",
                 "--status", "enrolled"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = PatientService(site).page(PatientFilter(study_key="NCT04933669",
                                                       status="enrolled"), limit=10_000)
    assert len(lines) == 2 + len(expected) and len(expected) > 5
    assert lines[0].split()[0] == "Patient" and set(lines[1]) <= {"-", " "}
    assert [line.split()[0] for line in lines[2:]] == [r.patient for r in expected]
    # Columns line up: every row is cut where the header's columns are.
    study_col = lines[0].index("Study")
    assert all(line[study_col:].startswith("NCT04933669") for line in lines[2:])


def test_an_empty_listing_is_an_empty_json_array(session: Session,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(session.path), "patients", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_worklist_json_streams_the_services_whole_list(
        site: Session, capsys: pytest.CaptureFixture[str]) -> None:
    # Half a year around the demo's today: every section (overdue, due, done out of window)
    # has rows, and the chunks of 3 fall across their boundaries.
    start, end = date(2026, 1, 1), date(2026, 6, 30)
    items = VisitService(site).worklist(start, end, today=TODAY)
    streamed = list(VisitService(site).iter_worklist(start, end, today=TODAY, chunk=3))
    assert len(items) > 20 and streamed == items
    assert {i.reason for i in items} == {"overdue", "due", "done_out_of_window"}
    assert main(["--db", str(site.path), "worklist", "--from", start.isoformat(), "--to",
                 end.isoformat(), "--today", TODAY.isoformat(), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(p["patient"], p["visit"], p["listed_as"]) for p in printed] == [
        (i.patient_study_id, i.visit_name, i.reason) for i in items]

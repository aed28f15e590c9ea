"""``gisttracker report``: writes the PDF; bad input is one clear line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from tests.core.reports_fixtures import demo, pdf_text

__all__ = ["demo"]


def test_schedule_and_calendar_to_pdf(demo: Session, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    patient = Patient.select().where(Patient.status == "enrolled").first()
    out = tmp_path / "schedule.pdf"
    db = str(demo.path)
    assert main(["--db", db, "report", "schedule", "--patient", patient.study_id.lower(),
                 "--today", "2026-03-14", "--paper", "letter", "-o", str(out)]) == 0
    _pages, text = pdf_text(out.read_bytes())
    assert patient.study_id in text
    cal = tmp_path / "calendar.pdf"
    assert main(["--db", db, "report", "calendar", "--from", "2026-03-01", "--to",
                 "2026-03-31", "--study", "RECTAL-LE", "--today", "2026-03-14",
                 "-o", str(cal)]) == 0
    assert "Site calendar 2026-03-01 – 2026-03-31" in pdf_text(cal.read_bytes())[1]
    assert capsys.readouterr().out.count("wrote ") == 2


@pytest.mark.parametrize(("args", "message"), [
    (["schedule", "--patient", "ZJU-9999"], "gisttracker: no patient 'ZJU-9999'\n"),
    (["casebook", "--patient", "nobody"], "gisttracker: no patient 'nobody'\n"),
    (["screening", "--study", "NOPE"], "gisttracker: unknown study 'NOPE'"),
    (["enrollment", "--study", "NOPE"], "gisttracker: unknown study 'NOPE'"),
    (["calendar", "--from", "2026-03-31", "--to", "2026-03-01"],
     "gisttracker: --from 2026-03-31 is after --to 2026-03-01\n"),
    (["calendar", "--from", "March", "--to", "2026-03-01"],
     "gisttracker: --from: 'March' is not a date (use YYYY-MM-DD)\n"),
])
def test_bad_input_is_one_line(session: Session, tmp_path: Path, args: list[str],
                               message: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.pdf"
    code = main(["--db", str(session.path), "report", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.exists()


def test_unwritable_folder(session: Session, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--db", str(session.path), "report", "enrollment", "--study", "RECTAL-LE",
                 "-o", str(tmp_path / "missing" / "r.pdf")])
    assert code != 0 and "the folder does not exist" in capsys.readouterr().err

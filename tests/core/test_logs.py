"""The log a site can send and the crash report written for a bug."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gisttracker import __version__
from gisttracker.logs import LOG_FILE, log, setup_logging, write_crash_report


def test_the_log_file_starts_with_version_and_platform(tmp_path: Path) -> None:
    path = setup_logging(directory=tmp_path)
    try:
        assert path == tmp_path / LOG_FILE
        log.info("visit saved")
        for handler in log.handlers:
            handler.flush()
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert f"GIST Study Tracker {__version__}" in first and "Python" in first
        assert "visit saved" in text
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


@pytest.mark.expect_log(r"^bug while opening a patient")
def test_a_crash_report_holds_the_traceback_and_the_end_of_the_log(tmp_path: Path) -> None:
    setup_logging(directory=tmp_path, level=logging.INFO)
    try:
        log.info("opening patient ZJU-0007")
        try:
            {}["missing"]
        except KeyError as exc:
            report = write_crash_report(exc, context="opening a patient", directory=tmp_path)
        assert report is not None and report.parent == tmp_path
        text = report.read_text(encoding="utf-8")
        assert "while: opening a patient" in text
        assert "KeyError: 'missing'" in text and "Traceback" in text
        assert "opening patient ZJU-0007" in text
        assert report.stat().st_mode & 0o077 == 0  # readable by its owner only
        assert "KeyError" in (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


@pytest.mark.expect_log(r"^bug", r"could not write the crash report")
def test_an_unwritable_folder_never_stops_the_program(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    try:
        assert setup_logging(directory=blocker / "logs") is None
        assert write_crash_report(RuntimeError("x"), directory=blocker / "logs") is None
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def test_setting_up_twice_keeps_one_handler_and_one_head(tmp_path: Path) -> None:
    try:
        setup_logging(directory=tmp_path)
        setup_logging(directory=tmp_path)  # the command line, then the window it starts
        for handler in log.handlers:
            handler.flush()
        text = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
        assert text.count("start: GIST Study Tracker") == 1
        assert len([h for h in log.handlers if getattr(h, "_gisttracker", False)]) == 1
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def test_the_log_tells_what_happened_without_naming_anyone(
        tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from gisttracker.cli import main
    from gisttracker.services.patients import Identity, PatientService
    from gisttracker.session import open_session

    monkeypatch.setenv("GISTTRACKER_LOG_DIR", str(tmp_path / "logs"))
    db = db_path
    try:
        setup_logging()
        session = open_session(db, user="nurse")
        service = PatientService(session)
        patient = service.register("NCT04933669", sex="female", today=date(2026, 3, 1),
                                   identity=Identity(record_number="H-55501",
                                                     name="Zhang Wei"))
        service.update_identity(patient.study_id, Identity(record_number="H-55501",
                                                           name="Zhang Wei-Ming"),
                                today=date(2026, 3, 2), reason="Zhang Wei spelled wrong")
        session.close()
        assert main(["--db", str(db), "report", "schedule", "--patient", "zhang wei",
                     "-o", str(tmp_path / "s.pdf")]) == 1  # a name typed for a patient
        assert main(["--db", str(db), "report", "schedule", "--patient", patient.study_id,
                     "--include-identifiers", "-o", str(tmp_path / "s.pdf")]) == 0
        for handler in log.handlers:
            handler.flush()
        text = (tmp_path / "logs" / LOG_FILE).read_text(encoding="utf-8")
        assert "records in patient, patient_identity" in text
        assert "command report refused (ServiceError)" in text
        assert "report written: s.pdf" in text and "opened (schema" in text
        for secret in ("Zhang", "zhang", "H-55501", "spelled wrong"):
            assert secret not in text, secret
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()

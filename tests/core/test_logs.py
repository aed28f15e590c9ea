"""The log a site can send and the crash report written for a bug."""

from __future__ import annotations

import logging
from pathlib import Path

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

"""Files with patient data are created readable by their owner only (0600, folders 0700):
the database with its -wal/-shm files, reports, calendars, logs and crash reports."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gisttracker.files import private_umask, write_private
from gisttracker.ical import write_calendar
from gisttracker.logs import setup_logging, write_crash_report
from gisttracker.reports import ReportRequest, build
from gisttracker.services.settings import SettingsService
from gisttracker.session import open_session


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> object:
    """A user whose umask lets everyone read new files (the usual 022)."""
    old = os.umask(0o022)
    yield None
    os.umask(old)


@pytest.mark.sqlite_only("file permissions of the database, its WAL and shm")
def test_database_wal_and_shm_are_the_owners_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "site.db"
    s = open_session(path, user="nurse")
    try:
        SettingsService(s.tracker).set("site_code", "ZJU")  # something in the -wal
        parts = [path, path.with_name("site.db-wal"), path.with_name("site.db-shm")]
        assert all(p.exists() for p in parts)
        assert [mode(p) for p in parts] == [0o600, 0o600, 0o600]
        assert mode(path.parent) == 0o700  # a folder we created
    finally:
        s.close()


@pytest.mark.sqlite_only("file permissions")
def test_a_database_from_before_is_narrowed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    open_session(path, user="nurse").close()
    os.chmod(path, 0o644)
    open_session(path, user="nurse").close()
    assert mode(path) == 0o600


@pytest.mark.expect_log(r"bug \[RuntimeError: test\]")
@pytest.mark.sqlite_only("file permissions")
def test_reports_calendars_logs_and_crash_reports_are_the_owners_only(tmp_path: Path) -> None:
    s = open_session(tmp_path / "site.db", user="nurse")
    try:
        report = tmp_path / "out" / "calendar.pdf"
        report.parent.mkdir()
        build(s, ReportRequest("calendar", start=datetime(2026, 3, 1).date(),
                               end=datetime(2026, 3, 31).date()),
              today=datetime(2026, 3, 14).date(), generated_at=datetime.now(UTC)).write(report)
        assert mode(report) == 0o600 and report.read_bytes().startswith(b"%PDF")
    finally:
        s.close()
    ics = tmp_path / "visits.ics"
    write_calendar(ics, [], prodid_version="test", stamp=datetime(2026, 3, 14, tzinfo=UTC))
    assert mode(ics) == 0o600
    logs = tmp_path / "logs"
    assert setup_logging(directory=logs) is not None
    assert mode(logs) == 0o700 and mode(logs / "gisttracker.log") == 0o600
    crash = write_crash_report(RuntimeError("test"), directory=logs)
    assert crash is not None and mode(crash) == 0o600


def test_write_private_replaces_whole_files_and_leaves_no_part_behind(tmp_path: Path) -> None:
    target = tmp_path / "export.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_private(target, '{"new": true}')
    assert target.read_text() == '{"new": true}' and mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.json"]
    with private_umask():
        (tmp_path / "made.txt").write_text("x")
    assert mode(tmp_path / "made.txt") == 0o600

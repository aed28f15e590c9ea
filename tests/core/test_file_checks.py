"""Files that are not what they seem: empty, damaged, read-only, on a network share."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import time
from datetime import date
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.services.settings import SettingsService
from gisttracker.session import open_session
from gisttracker.store.db import (
    DamagedFileError,
    EmptyFileError,
    ReadOnlyError,
    StoreError,
    connect,
    inspect_file,
)
from gisttracker.store.medium import mount_of, network_filesystem, parse_mounts
from gisttracker.store.migrations import migrate
from tests.helpers import FIXED_NOW

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export/study /mnt/study nfs4 rw,relatime,vers=4.2 0 0
//fileserver/share /media/share\\040drive cifs rw,vers=3.0 0 0
/dev/sr0 /media/dvd iso9660 ro,nosuid 0 0
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _site(path: Path, patients: int = 0) -> None:
    session = open_session(path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        SettingsService(session.tracker).set("site_code", "ZJU")
        if patients:
            from gisttracker.demo import generate

            generate(session, patients=patients, seed=5, today=date(2026, 3, 1))
    finally:
        session.close()


def test_zero_byte_file_is_refused_not_made_into_a_new_site(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            ) -> None:
    path = tmp_path / "site.db"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"empty .0 bytes.*restore"):
        open_session(path, user="nurse")
    assert path.stat().st_size == 0
    assert main(["--db", str(path), "patients"]) == 1
    assert "is empty (0 bytes)" in capsys.readouterr().err
    assert path.stat().st_size == 0


@pytest.mark.sqlite_only("damaged pages of a file")
def test_damaged_pages_are_found_at_open_and_the_user_told_to_restore(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    _site(path, patients=40)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    # Scribble over the middle of the file: table and index pages, not the header.
    middle = (len(data) // page // 2) * page
    data[middle:middle + 2 * page] = bytes(range(256)) * (2 * page // 256)
    path.write_bytes(bytes(data))
    before = _digest(path)
    # (?s): the damage found may take several lines of the integrity check.
    with pytest.raises(DamagedFileError, match=r"(?s)damaged.*Restore the latest backup"):
        open_session(path, user="nurse")
    assert _digest(path) == before


@pytest.mark.sqlite_only("a read-only copy of a site file")
def test_read_only_copy_opens_for_viewing_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    _site(path, patients=5)
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    before = _digest(path)
    session = open_session(path, user="nurse")
    try:
        assert session.read_only_reason is not None
        assert "read-only copy" in session.read_only_reason
        assert session.db.execute_sql("SELECT count(*) FROM patient").fetchone()[0] == 5
        with pytest.raises(ReadOnlyError, match="viewing and printing only"):
            SettingsService(session.tracker).set("site_name", "Hangzhou")
        assert SettingsService(session.tracker).get("site_code") == "ZJU"
    finally:
        session.close()
    assert _digest(path) == before


@pytest.mark.sqlite_only("a read-only copy of a site file")
def test_read_only_copy_of_an_older_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = connect(path)
    migrate(db, target=2)
    db.close()
    os.chmod(path, 0o444)
    with pytest.raises(StoreError, match=r"older version.*Copy it to a folder"):
        open_session(path, user="nurse")


def test_network_shares_are_recognised_from_the_mount_table(tmp_path: Path) -> None:
    mounts = parse_mounts(MOUNTS)
    assert mount_of(Path("/media/share drive/site.db"), mounts).fstype == "cifs"  # type: ignore[union-attr]
    assert mount_of(Path("/mnt/studyX/site.db"), mounts).fstype == "ext4"  # type: ignore[union-attr]
    assert network_filesystem(Path("/mnt/study/a/site.db"), MOUNTS) == "nfs4"
    assert network_filesystem(Path("/media/share drive/site.db"), MOUNTS) == "cifs"
    assert network_filesystem(Path("/home/nurse/site.db"), MOUNTS) is None


@pytest.mark.sqlite_only("a file on a network share")
def test_database_on_a_network_share_is_refused_for_writing(tmp_path: Path) -> None:
    existing = tmp_path / "site.db"
    _site(existing)
    share = f"server:/x {tmp_path} nfs4 rw 0 0\n"
    state = inspect_file(existing, mounts_text=MOUNTS + share)
    assert state.read_only and state.reason is not None
    assert "network share (nfs4)" in state.reason and "server mode" in state.reason
    with pytest.raises(StoreError, match=r"network share .nfs4.*local folder"):
        inspect_file(tmp_path / "new.db", mounts_text=MOUNTS + share)
    # A DVD: read-only medium.
    dvd = f"/dev/sr0 {tmp_path} iso9660 ro 0 0\n"
    state = inspect_file(existing, mounts_text=MOUNTS + dvd)
    assert state.read_only and "read-only copy" in (state.reason or "")
    assert not inspect_file(existing, mounts_text=MOUNTS).read_only


@pytest.mark.sqlite_only("the quick look for damaged pages of a file")
def test_the_quick_look_at_open_stops_at_its_budget_on_a_large_file(tmp_path: Path) -> None:
    """The look for damaged pages at open is given a fraction of a second; on a large file it
    stops there (the window checks the whole file in the background, ``verify`` on demand).
    SQLite runs the check in one step, so only an interrupt from outside can stop it."""
    from gisttracker.store.db import quick_check

    path = tmp_path / "large.db"
    raw = sqlite3.connect(path)
    # Large values: pages for SQLite's one-step walk over the file, few rows after it.
    raw.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)")
    raw.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                "WHERE i < 2000) INSERT INTO t SELECT i, randomblob(50000) FROM n")
    raw.commit()
    raw.close()
    db = connect(path)
    try:
        started = time.perf_counter()
        assert quick_check(db) == []  # the whole file, for comparison
        whole = time.perf_counter() - started
        budget = whole / 20
        started = time.perf_counter()
        assert quick_check(db, budget) is None  # ran out of time, said so
        assert time.perf_counter() - started < budget + whole / 2
        assert db.execute_sql("SELECT count(*) FROM t").fetchone() == (2000,)  # unharmed
    finally:
        db.close()

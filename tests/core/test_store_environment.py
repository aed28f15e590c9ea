"""What the environment can do to the database — a full disk, a lock held by another
program, a read-only file — each gets its own plain message, and nothing already saved is
lost.

The full disk is a real one where the test may mount a small tmpfs (root on Linux, as in
CI); elsewhere SQLite's ``max_page_count`` makes the file itself full, which SQLite reports
with the same result code. The read-only file is a real one too: a file and folder without
write permission for an ordinary user, a read-only mount for root (who may write anything
else).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.services.patients import Identity, PatientService
from gisttracker.session import Session, open_session
from gisttracker.store.db import (
    DatabaseLockedError,
    DiskFullError,
    ReadOnlyDatabaseError,
)

TODAY = date(2026, 3, 14)
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
pytestmark = pytest.mark.expect_log(r"^database problem")


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[bool]:
    """Mount a tmpfs of ``size`` on ``folder`` if this process may (True), else False."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def register(session: Session, name: str) -> str:
    patient = PatientService(session).register(
        "NCT04933669", sex="female", identity=Identity(name=name, record_number=name),
        today=TODAY)
    return str(patient.study_id)


def names_in(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [r[0] for r in db.execute(
            "SELECT name FROM patient_identity ORDER BY id")]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.sqlite_only("a full disk under a site file")
def test_a_full_disk_says_so_keeps_what_was_saved_and_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "small-disk"
    with tmpfs(folder, "3m") as real_disk:
        path = folder / "site.db"
        session = open_session(path, user="nurse", clock=lambda: NOW)
        filler = folder / "filler"
        if real_disk:
            # Leave the database (and its write-ahead log) a quarter of a megabyte to grow into.
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            filler.write_bytes(b"\0" * max(0, free - 256 * 1024))
        else:
            pages = session.db.execute_sql("PRAGMA page_count").fetchone()[0]
            session.db.execute_sql(f"PRAGMA max_page_count = {pages + 12}")
        saved: list[str] = []
        with pytest.raises(DiskFullError) as full:
            for i in range(10_000):
                register(session, f"patient {i:05d} " + "x" * 400)
                saved.append(f"patient {i:05d} " + "x" * 400)
        message = str(full.value)
        assert "full" in message and str(path) in message and "nothing" in message
        assert "rollback" not in message.lower() and "transaction" not in message.lower()
        assert saved, "the disk was full before the first patient"
        # Every patient whose registration returned is there, the refused one is not.
        assert session.db.execute_sql("SELECT count(*) FROM patient").fetchone()[0] == len(saved)
        # Space again: the same session goes on working.
        if real_disk:
            filler.unlink()
        else:
            session.db.execute_sql("PRAGMA max_page_count = 1073741823")
        register(session, "after the disk was freed")
        session.close()
        assert names_in(path) == [*saved, "after the disk was freed"]


@pytest.mark.sqlite_only(reason="holds SQLite's file lock from a second connection; the "
                         "server's write lock is tested in tests/core/test_server.py")
def test_a_database_locked_by_another_program_says_so_and_loses_nothing(
        session: Session) -> None:
    first = register(session, "before the lock")
    other = sqlite3.connect(session.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        # The test need not wait the full five seconds a nurse's workstation waits.
        session.db.execute_sql("PRAGMA busy_timeout = 200")
        with pytest.raises(DatabaseLockedError) as locked:
            register(session, "while locked")
        assert "another program" in str(locked.value)
        assert "locked" in str(locked.value)
        # Reading still works while another program writes (WAL).
        assert PatientService(session).get(first).study_id == first
    finally:
        other.execute("ROLLBACK")
        other.close()
    register(session, "after the lock")
    assert names_in(session.path) == ["before the lock", "after the lock"]


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` and its files impossible for this process to write."""
    if os.geteuid() != 0:
        for item in folder.iterdir():
            item.chmod(0o444)
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    # Root writes through any permission: bind-mount the folder read-only over itself.
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def _can_make_read_only() -> bool:
    if os.geteuid() != 0:
        return True
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"gisttracker-ro-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "--bind", str(probe), str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=False)
        return ok
    finally:
        probe.rmdir()


@pytest.mark.sqlite_only("a read-only site file")
def test_a_read_only_database_opens_for_viewing_and_refuses_writes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    path = folder / "site.db"
    session = open_session(path, user="nurse", clock=lambda: NOW)
    register(session, "kept")
    session.close()
    before = digest(path)
    if not _can_make_read_only():
        # Root without mount (a locked-down container): SQLite's own read-only mode.
        session = open_session(path, user="nurse", clock=lambda: NOW)
        session.db.execute_sql("PRAGMA query_only = 1")
        with pytest.raises(ReadOnlyDatabaseError, match="read-only"):
            register(session, "refused")
        session.close()
    else:
        with read_only(folder):
            # A read-only copy (an archive) opens for viewing and printing; writes are
            # refused with the reason (issue 12, point 6).
            session = open_session(path, user="nurse", clock=lambda: NOW)
            assert session.read_only_reason is not None
            with pytest.raises(ReadOnlyDatabaseError) as refused:
                register(session, "refused")
            assert "viewing and printing only" in str(refused.value)
            session.close()
            # No new database is created in a folder that cannot be written.
            with pytest.raises(ReadOnlyDatabaseError) as refused:
                open_session(folder / "new.db", user="nurse")
            assert "cannot be written" in str(refused.value)
            assert not (folder / "new.db").exists()
            assert main(["--db", str(path), "studies"]) == 0
            assert "Traceback" not in capsys.readouterr().err
    assert digest(path) == before
    assert names_in(path) == ["kept"]


@pytest.mark.sqlite_only(reason="PRAGMA query_only is SQLite's; the server's refusals by "
                         "role are tested in tests/core/test_server.py")
def test_a_write_refused_by_a_read_only_connection_says_read_only(session: Session) -> None:
    register(session, "kept")
    session.db.execute_sql("PRAGMA query_only = 1")
    with pytest.raises(ReadOnlyDatabaseError) as refused:
        register(session, "refused")
    assert "read-only" in str(refused.value) and "nothing" in str(refused.value)
    session.db.execute_sql("PRAGMA query_only = 0")
    assert names_in(session.path) == ["kept"]

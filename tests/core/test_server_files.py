"""What works on a site file works from a server site too (issue 16): the CSV and ODM
exports give the same files, a site package is taken by a file centre as a file site's is,
a backup is a verified snapshot that ``restore`` brings back into an empty server database,
and ``verify`` says what it checked there.

The server's side of these reads a snapshot of the server in one ``REPEATABLE READ``
transaction (:func:`gisttracker.store.transfer.snapshot`). Every test here compares a server
site with the same data in a file, so it runs on the server run only (the SQLite run skips
it: there is no server).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import date
from pathlib import Path

import psycopg
import pytest

from gisttracker.backup import BackupError, backup, restore, verify
from gisttracker.cli import main
from gisttracker.exchange.csv_export import export_csv
from gisttracker.exchange.keys import public_key_path
from gisttracker.exchange.odm.export import export_odm
from gisttracker.exchange.odm.schema import validate_file
from gisttracker.services.exchange.centre import import_package, trust_site
from gisttracker.services.exchange.packages import make_package
from gisttracker.services.patients import Identity, PatientService
from gisttracker.store.transfer import TransferError, digest
from gisttracker.store.urls import ServerLocation
from tests.core.exchange_helpers import dump, make_site, open_site, read
from tests.helpers import SERVER, server_copy, server_url

pytestmark = pytest.mark.skipif(SERVER is None, reason=(
    "compares a server site with the same data in a file: needs the test server (the "
    "server run of scripts/test starts one)"))
# Kept by the server run (it keeps tests that use the engine fixtures or this marker).
pytestmark = [pytestmark, pytest.mark.engines]

# What differs between two exports of the same data made at different moments.
STAMPS = re.compile(rb'(FileOID|CreationDateTime|AsOfDateTime)="[^"]*"')


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("server-files") / "site.db", "ZJU",
                     patients=25, seed=5)


def _csv(db: Path, target: Path) -> Path:
    session = open_site(db, "ZJU")
    try:
        return export_csv(session, target, identifiers=True).path
    finally:
        session.close()


def _odm(db: Path, target: Path, kind: str) -> Path:
    session = open_site(db, "ZJU")
    try:
        return export_odm(session, target, kind=kind).path  # type: ignore[arg-type]
    finally:
        session.close()


def test_csv_export_from_a_server_is_the_file_sites_export_byte_for_byte(
        site: Path, tmp_path: Path) -> None:
    from_file = _csv(site, tmp_path / "file")
    with server_copy(site) as location:
        from_server = _csv(location, tmp_path / "server")
    names = sorted(p.name for p in from_file.iterdir())
    assert names == sorted(p.name for p in from_server.iterdir())
    assert "patient_identity.csv" in names and len(names) > 20
    for name in names:
        ours, theirs = (from_file / name).read_bytes(), (from_server / name).read_bytes()
        if name == "README.txt":  # its first line says when it was made
            ours, theirs = ours.split(b"\n", 1)[1], theirs.split(b"\n", 1)[1]
        assert ours == theirs, name


@pytest.mark.parametrize("kind", ["snapshot", "transactional"])
def test_odm_export_from_a_server_validates_and_is_the_file_sites(
        site: Path, tmp_path: Path, kind: str) -> None:
    from_file = _odm(site, tmp_path / "file.xml", kind)
    with server_copy(site) as location:
        from_server = _odm(location, tmp_path / "server.xml", kind)
    assert validate_file(from_server) == []
    ours, theirs = from_file.read_bytes(), from_server.read_bytes()
    assert b"<ClinicalData" in theirs and len(theirs) > 100_000
    assert STAMPS.sub(b"", ours) == STAMPS.sub(b"", theirs)


def test_export_commands_work_on_a_server(site: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with server_copy(site) as location:
        url = str(location)
        assert main(["--db", url, "export", "csv", "-o", str(tmp_path / "csv")]) == 0
        assert main(["--db", url, "export", "odm", "-o", str(tmp_path / "s.xml")]) == 0
    out = capsys.readouterr().out
    assert "validated against the ODM schema" in out
    assert (tmp_path / "csv" / "patient.csv").is_file()


def test_a_server_sites_packages_reach_a_file_centre_as_a_file_sites_do(
        site: Path, tmp_path: Path) -> None:
    centres = {}
    for kind in ("file", "server"):
        centre = tmp_path / kind / "centre.db"
        open_site(centre, "CENTRE").close()
        centres[kind] = centre
    made = {}
    with server_copy(site) as location:
        for kind, db in (("file", site), ("server", location)):
            session = open_site(db, "ZJU")
            try:
                made[kind] = make_package(session, tmp_path / f"{kind}-1.zip")
            finally:
                session.close()
            centre = open_site(centres[kind], "CENTRE", user="coordinator")
            try:
                trust_site(centre, "ZJU", public_key_path(db, "ZJU").read_text("utf-8"))
                result = import_package(centre, made[kind].path)
                assert result.added["patient"] == 25 and result.conflicts == 0
            finally:
                centre.close()
        # The same package, but for its signature and key: the same rows of each table,
        # the same part of the audit trail.
        one, two = made["file"].manifest, made["server"].manifest
        assert (one.seq, one.base_seq, one.audit_from, one.audit_to, one.tables,
                one.audit_rows, one.schema) == (
            two.seq, two.base_seq, two.audit_from, two.audit_to, two.tables,
            two.audit_rows, two.schema)
        assert dump(centres["server"]) == dump(centres["file"]) == dump(location)
        # "Since the last package": a nurse at the server site registers a patient.
        session = open_site(location, "ZJU")
        try:
            patient = PatientService(session).register(
                "NCT04933669", sex="female", identity=Identity(record_number="S1", name="X"),
                today=date(2026, 3, 14))
            second = make_package(session, tmp_path / "server-2.zip")
        finally:
            session.close()
        assert second.manifest.base_seq == 1 and second.manifest.seq == 2
        assert second.manifest.tables["patient"] == 1
        centre = open_site(centres["server"], "CENTRE", user="coordinator")
        try:
            result = import_package(centre, second.path)
            assert result.added == {**result.added, "patient": 1}
        finally:
            centre.close()
        assert dump(centres["server"]) == dump(location)
        assert patient.uid in dump(centres["server"])["patient"]


def _tables(db: Path) -> dict[str, tuple[int, str]]:
    """Every table's row count and digest (the transfer's own comparison)."""
    from gisttracker.store.db import connect
    from gisttracker.store.introspect import table_names
    from gisttracker.store.server import ServerDatabase
    from gisttracker.store.transfer import NOT_COPIED, _columns

    handle = ServerDatabase(db.connect_url) if isinstance(db, ServerLocation) else connect(db)
    try:
        return {t: digest(handle, t, _columns(handle, t)) for t in table_names(handle)
                if t not in NOT_COPIED}
    finally:
        handle.close()


def test_a_server_backup_made_while_a_nurse_writes_is_one_verified_moment_restored_whole(
        site: Path, tmp_path: Path, server_db: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = ServerLocation(server_url(server_db))
    with server_copy(site) as location:
        session = open_site(location, "ZJU")
        service = PatientService(session)
        acknowledged: list[str] = []
        stop = threading.Event()
        failed: list[BaseException] = []

        def nurse() -> None:  # registers patients one by one until told to stop
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    acknowledged.append(service.register(
                        "NCT04933669", sex="male", identity=Identity(record_number=f"W{n}",
                                                                     name="Writer"),
                        today=date(2026, 3, 14)).study_id)
            except BaseException as exc:  # reported below
                failed.append(exc)

        writer = threading.Thread(target=nurse)
        writer.start()
        try:
            while len(acknowledged) < 5 and writer.is_alive():
                threading.Event().wait(0.05)
            before = list(acknowledged)
            result = backup(location, tmp_path / "server.backup.db")
            during = len(acknowledged)
            while len(acknowledged) < during + 3 and writer.is_alive():
                threading.Event().wait(0.05)
        finally:
            stop.set()
            writer.join()
            session.close()
        assert not failed, failed
        assert len(acknowledged) >= during + 3  # the nurse kept writing meanwhile
        # A SQLite file, private, every acknowledged patient before it started, verified.
        assert result.path.stat().st_mode & 0o077 == 0
        with read(result.path) as conn:
            ids = {r[0] for r in conn.execute("SELECT study_id FROM patient")}
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert set(before) <= ids and len(ids) == result.tables["patient"] >= 25 + 5
        report = verify(result.path)
        assert report.ok, report.problems
        # Restored into an empty server database: every table as in the backup, and the
        # audit trail verifies there.
        assert main(["--db", str(target), "restore", str(result.path)]) == 0
        assert "restored from" in capsys.readouterr().out
        assert _tables(target) == _tables(result.path)
        assert verify(target).ok
        # Never over a database that holds data (there is no file to keep aside).
        with pytest.raises(TransferError, match="is not empty"):
            restore(result.path, location)


def test_a_server_backup_that_does_not_verify_is_not_kept(
        site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gisttracker.backup as module

    monkeypatch.setattr(module, "_check_copy", lambda _c, _e: ["table patient has 2 rows"])
    with server_copy(site) as location, pytest.raises(BackupError, match="did not verify"):
        backup(location, tmp_path / "out.db")
    assert list(tmp_path.iterdir()) == []


def test_verify_on_a_server_says_what_it_checked_and_what_is_wrong(
        site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with server_copy(site) as location:
        url = str(location)
        assert main(["--db", url, "verify"]) == 0
        out = capsys.readouterr().out
        for checked in ("schema", "every reference between records", "protected against "
                        "changes", "audit trail verified", "25 patients", "pg_amcheck"):
            assert checked in out, checked
        # Written around the program by someone with the server's superuser rights: foreign
        # keys and triggers switched off for the session, a row changed, a guard disabled.
        with psycopg.connect(location.connect_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("UPDATE visit SET patient_id = 999999 WHERE id = "
                         "(SELECT min(id) FROM visit)")
            conn.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update")
        report = verify(location)
        text = "\n".join(report.problems)
        assert "1 row of visit refers to a patient that does not exist" in text
        assert "protection against changes of audit_entry" in text
        assert "audit trail says" in text  # the changed row does not replay
        assert main(["--db", url, "verify"]) == 1
        assert "PROBLEM:" in capsys.readouterr().out


def test_a_snapshot_never_touches_the_models_database(site: Path, tmp_path: Path) -> None:
    """A window makes its backup on a worker while its models stay bound to the server."""
    from gisttracker.store.db import database
    from gisttracker.store.transfer import snapshot

    with server_copy(site) as location:
        session = open_site(location, "ZJU")
        try:
            bound = database.obj
            report = snapshot(location, tmp_path / "copy.db")
            assert database.obj is bound
            assert report.rows["patient"] == 25 and report.audit_entries > 1000
        finally:
            session.close()
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("SELECT count(*) FROM patient").fetchone() == (25,)

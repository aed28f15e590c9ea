"""``gisttracker migrate-to``: a site moves from its file to a server and back (and to a new
file), with every record, audit row, signature and randomization intact and verified; a
target that holds anything is refused and left as it was."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.services.audit import verify
from gisttracker.services.patients import PatientService
from gisttracker.services.signatures import SignatureService
from gisttracker.session import open_session
from gisttracker.store.db import resolve_path
from gisttracker.store.introspect import Schema, table_names
from gisttracker.store.transfer import NOT_COPIED, TransferError, digest
from gisttracker.store.urls import ServerLocation
from tests.core.accounts_helpers import PASSWORD, TODAY, make_people, open_site, sign_in
from tests.core.patients_helpers import eligible_patient, set_site
from tests.helpers import admin_sql, server_url

STUDY = "NCT03862768"


def _busy_site(path: Path) -> None:
    """A site with accounts, a sealed randomization seed, enrolled and randomized patients,
    a signed casebook and a demo's worth of visits and forms."""
    assert main(["--db", str(path), "demo", "--patients", "20"]) == 0
    s = open_site(path)
    try:
        make_people(s)
        sign_in(s, "ada")
        set_site(s)
        sign_in(s, "nora")  # a nurse registers, screens and randomizes
        service = PatientService(s)
        for n in range(3):
            service.enroll(eligible_patient(service, STUDY).uid, today=TODAY,
                           rng=random.Random(n))
        sign_in(s, "ines")  # the investigator signs the first casebook
        SignatureService(s).sign("casebook", "ZJU-0001", PASSWORD)
    finally:
        s.close()


def _as_ada(db: object, *args: str) -> int:
    """``gisttracker --db DB --user ada ARGS``, the password coming through a pipe."""
    read, write = os.pipe()
    os.write(write, (PASSWORD + "\n").encode())
    os.close(write)
    try:
        return main(["--db", str(getattr(db, "connect_url", db)), "--user", "ada",
                     "--password-fd", str(read), *args])
    finally:
        os.close(read)


def _tables(path: Path) -> dict[str, tuple[int, str]]:
    """Rows and digest of every copied table (columns in name order: SQLite keeps a column
    added by a migration at the end, the server baseline where it belongs)."""
    s = open_session(path)
    try:
        schema = Schema(s.db)
        return {table: digest(s.db, table, sorted(c for c, _a in schema.columns(table)))
                for table in table_names(s.db) if table not in NOT_COPIED}
    finally:
        s.close()


@pytest.mark.sqlite_only(
    "moving a site file to a new file (to and from a server: the other tests here)")
def test_a_site_moves_to_a_new_file_with_everything_verified(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, target = tmp_path / "site.db", tmp_path / "moved" / "site.db"
    _busy_site(source)
    assert _as_ada(source, "migrate-to", str(target)) == 0
    out = capsys.readouterr().out
    assert "each table compared row by row" in out and "entries verified" in out
    before, after = _tables(source), _tables(target)
    assert after == before
    assert before["signature"][0] == 1 and before["randomization"][0] >= 3
    # The copy is a site like any other: the full file check and the audit check pass.
    assert main(["verify", str(target)]) == 0
    s = open_session(target)
    try:
        assert verify(s.db).ok
    finally:
        s.close()


def test_a_site_moves_to_the_server_and_back_unchanged(
        tmp_path: Path, server_db: str) -> None:
    source, back = tmp_path / "site.db", tmp_path / "back.db"
    _busy_site(source)
    url = server_url(server_db)
    assert _as_ada(source, "migrate-to", url) == 0
    on_server = resolve_path(url)
    assert isinstance(on_server, ServerLocation)
    assert _tables(on_server) == _tables(source)
    # The server copy works as the site: an investigator's signature is still there and the
    # randomization continues from where the file stopped.
    s = open_site(on_server)
    try:
        sign_in(s, "nora")
        service = PatientService(s)
        before = service.enroll(eligible_patient(service, STUDY).uid, today=TODAY)
        assert before.randomization_number is not None
        assert SignatureService(s).target("casebook", "ZJU-0001") is not None
    finally:
        s.close()
    assert _as_ada(url, "migrate-to", str(back)) == 0
    assert _tables(back) == _tables(on_server)


@pytest.mark.sqlite_only("a target file that exists")
def test_a_target_that_holds_anything_is_refused_and_left_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, other = tmp_path / "site.db", tmp_path / "other.db"
    _busy_site(source)
    other.write_bytes(b"precious")
    assert _as_ada(source, "migrate-to", str(other)) == 1
    assert "already exists" in capsys.readouterr().err
    assert other.read_bytes() == b"precious"


def test_a_server_database_with_rows_is_refused(
        tmp_path: Path, server_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "site.db"
    _busy_site(source)
    admin_sql("CREATE TABLE notes (x text)", "INSERT INTO notes VALUES ('keep me')",
              database=server_db)
    assert _as_ada(source, "migrate-to", server_url(server_db)) == 1
    assert "is not empty" in capsys.readouterr().err
    with pytest.raises(TransferError):
        from gisttracker.store.transfer import check_target_empty

        check_target_empty(ServerLocation(server_url(server_db)))


@pytest.mark.sqlite_only("a copy changed through raw sqlite3")
def test_the_copy_is_compared_not_trusted(tmp_path: Path) -> None:
    # The comparison sees a single changed value: a copy that differs is never "verified".
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for path in (a, b):
        s = open_site(path)
        s.close()
    with sqlite3.connect(b) as conn:
        conn.execute("UPDATE study_protocol SET since = '1999-01-01' "
                     "WHERE id = (SELECT min(id) FROM study_protocol)")
    sa, sb = open_session(a), open_session(b)
    try:
        columns = sorted(c for c, _a in Schema(sa.db).columns("study_protocol"))
        same, changed = digest(sa.db, "study_protocol", columns), digest(
            sb.db, "study_protocol", columns)
        assert same[0] == changed[0] > 0 and same != changed
    finally:
        sa.close()
        sb.close()

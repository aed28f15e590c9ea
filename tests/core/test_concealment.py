"""Concealed allocation: the seed never reaches the file or the audit trail in clear; only
accounts that may randomize can open it; the administrator can re-derive the list."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from gisttracker.cli import main
from gisttracker.domain.allocation import allocation_at
from gisttracker.services.accounts import AccountService
from gisttracker.services.base import PermissionDenied, ServiceError
from gisttracker.services.concealment import Keyring, reveal
from gisttracker.services.patients import PatientService
from gisttracker.services.policy import Role, trusted_actor
from gisttracker.session import Session, open_session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_accounts import Account, KeyWrap, SecurityEvent
from gisttracker.store.models_patients import Randomization, RandomizationSeed
from tests.core.accounts_helpers import PASSWORD, TODAY, sign_in, site
from tests.core.patients_helpers import eligible_patient, set_site

__all__ = ["site"]

STUDY = "NCT03862768"
SEED = "a-seed-that-must-never-appear-0042"


def _file_bytes(session: Session) -> bytes:
    """Everything the database holds: the file's bytes, or on a server every row of every
    table (the server's files are not ours to read)."""
    from gisttracker.store.introspect import table_names
    from gisttracker.store.server import is_server_db

    if is_server_db(session.db):
        return b"".join(repr(row).encode() for table in table_names(session.db)
                        for row in session.db.execute_sql(f'SELECT * FROM "{table}"'))
    session.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    data = session.path.read_bytes()
    wal = session.path.with_name(session.path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def _randomize_two(s: Session) -> None:
    service = PatientService(s)
    first = eligible_patient(service, STUDY, number="MRN-1")
    service.enroll(first.uid, today=TODAY, seed=SEED)
    second = eligible_patient(service, STUDY, number="MRN-2")
    service.enroll(second.uid, today=TODAY)


def test_the_seed_is_sealed_and_never_in_the_file_or_the_trail(site: Any) -> None:
    sign_in(site, "ada")
    set_site(site)
    sign_in(site, "nora")
    _randomize_two(site)
    assert SEED.encode() not in _file_bytes(site)
    assert not any(SEED in (a.new_value or "") + (a.old_value or "")
                   for a in AuditLog.select())
    record = RandomizationSeed.get()
    assert record.sealed.startswith("v1:")
    assert record.commitment == hashlib.sha256(
        f"gisttracker seed commitment v1:{STUDY}:{SEED}".encode()).hexdigest()
    # No key in the open: one wrap per account that may randomize, none for the others.
    wraps = {w.account.name for w in KeyWrap.select() if w.account_id is not None}
    assert wraps == {"ada", "ines", "nora"}
    assert not KeyWrap.select().where(KeyWrap.account.is_null()).exists()
    # The allocations follow the list of the sealed seed, position by position.
    study = site.studies[STUDY]
    for row in Randomization.select():
        assert row.arm_code == allocation_at(study.allocation, ["A", "B"], SEED, row.stratum,
                                             row.position)


def test_a_monitor_holds_no_key_and_cannot_open_the_seed(site: Any) -> None:
    sign_in(site, "ada")
    set_site(site)
    sign_in(site, "nora")
    _randomize_two(site)
    monitor = sign_in(site, "mona")
    assert monitor.allocation_key is None
    with pytest.raises(PermissionDenied, match="may not enroll or randomize"):
        Keyring(site.tracker).seed(STUDY)
    with pytest.raises(PermissionDenied):
        reveal(site, STUDY)


def test_the_administrator_reveals_and_rederives_the_list_and_it_is_recorded(
        site: Any, capsys: Any) -> None:
    sign_in(site, "ada")
    set_site(site)
    sign_in(site, "nora")
    _randomize_two(site)
    sign_in(site, "ada")
    found = reveal(site, STUDY, ahead=4)
    assert found.seed == SEED and found.commitment_ok and not found.mismatches
    made = [s for s in found.slots if s.number]
    assert sorted(s.number for s in made) == ["R-0001", "R-0002"]
    assert len(found.slots) == len(made) + 4 * len({s.stratum for s in found.slots})
    event = SecurityEvent.get()
    assert (event.kind, event.account) == ("allocation_revealed", "ada")
    assert AuditLog.select().where((AuditLog.table_name == "security_event")
                                   & (AuditLog.user == "ada")).count() == 1
    # The command line, as the administrator.
    read, write = os.pipe()
    os.write(write, f"{PASSWORD}\n".encode())
    os.close(write)
    try:
        assert main(["--db", str(site.path), "--user", "ada", "--password-fd", str(read),
                     "allocation", "reveal", "--study", STUDY]) == 0
    finally:
        os.close(read)
    out = capsys.readouterr().out
    assert f"seed of {STUDY}: {SEED}" in out and "matches" in out


def test_password_changes_and_role_changes_keep_the_key_where_it_belongs(site: Any) -> None:
    sign_in(site, "ada")
    set_site(site)
    accounts = AccountService(site.tracker)
    sign_in(site, "nora")
    accounts.change_password(PASSWORD, "nora's new password")
    site.tracker.sign_out()
    nora = accounts.sign_in("nora", "nora's new password")
    assert nora.allocation_key is not None
    _randomize_two(site)  # the re-wrapped key opens the seed
    sign_in(site, "ada")
    accounts.set_role("nora", Role.MONITOR)
    nora_id = Account.get(Account.name == "nora").id
    assert not KeyWrap.select().where(KeyWrap.account == nora_id).exists()
    accounts.set_role("nora", Role.NURSE)
    site.tracker.sign_out()
    nora = accounts.sign_in("nora", "nora's new password")
    assert nora.allocation_key is None  # granted again only with a new password
    with pytest.raises(ServiceError, match="ask the administrator to reset your password"):
        Keyring(site.tracker).seed(STUDY)
    sign_in(site, "ada")
    accounts.reset_password("nora", "a password from ada")
    site.tracker.sign_out()
    assert accounts.sign_in("nora", "a password from ada").allocation_key is not None
    assert Keyring(site.tracker).seed(STUDY) == SEED


def test_a_site_without_accounts_keeps_the_key_open_until_the_administrator_exists(
        db_path: Path) -> None:
    s = open_session(db_path, user="nurse")
    try:
        set_site(s)
        _randomize_two(s)
        open_wrap = KeyWrap.get(KeyWrap.account.is_null())
        assert open_wrap.wrapped.startswith("open:")
        s.tracker.sign_out()
        admin = AccountService(s.tracker).create_first_administrator("ada", "Ada", PASSWORD)
        assert not KeyWrap.select().where(KeyWrap.account.is_null()).exists()
        assert admin.allocation_key is not None
        assert Keyring(s.tracker).seed(STUDY) == SEED
        # From now on the file alone does not open it: a trusted caller has no key either.
        s.tracker.sign_in(trusted_actor("script"))
        with pytest.raises(ServiceError, match="sealed"):
            Keyring(s.tracker).seed(STUDY)
    finally:
        s.close()

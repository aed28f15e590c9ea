"""Accounts: the first administrator, signing in with lockout, passwords, roles, and the
command line acting as a signed-in user (never LOGNAME, never a password argument)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from gisttracker.cli import main
from gisttracker.services import accounts as accounts_module
from gisttracker.services.accounts import AccountService, SignInError
from gisttracker.services.base import NotSignedIn, PermissionDenied, ServiceError
from gisttracker.services.policy import Role
from gisttracker.services.settings import SettingsService
from gisttracker.session import open_session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_accounts import Account
from tests.core.accounts_helpers import PASSWORD, open_site, sign_in, site
from tests.helpers import FIXED_NOW

__all__ = ["site"]


def test_first_start_creates_the_administrator_who_is_then_signed_in(db_path: Path) -> None:
    s = open_site(db_path)
    try:
        service = AccountService(s.tracker)
        assert not service.has_accounts() and s.tracker.actor is None
        actor = service.create_first_administrator("Ada", "Ada Admin", PASSWORD)
        assert (actor.name, actor.role, actor.is_account) == ("ada", Role.ADMINISTRATOR, True)
        assert s.tracker.actor == actor
        created = AuditLog.get((AuditLog.table_name == "account")
                               & (AuditLog.action == "insert"))
        assert created.user == "ada"
        # The password hash is not copied into the audit trail, only a digest of it.
        assert "argon2" not in created.new_value
        assert json.loads(created.new_value)["password_hash"].startswith("sha256:")
        with pytest.raises(ServiceError, match="already has accounts"):
            service.create_first_administrator("eve", "Eve", PASSWORD)
    finally:
        s.close()


def test_wrong_name_and_wrong_password_get_the_same_message(site: Any) -> None:
    service = AccountService(site.tracker)
    with pytest.raises(SignInError) as unknown:
        service.sign_in("nobody", PASSWORD)
    with pytest.raises(SignInError) as wrong:
        service.sign_in("nora", "not the password")
    assert str(unknown.value) == str(wrong.value) == "the user name or the password is wrong"
    assert site.tracker.actor is None
    actor = service.sign_in("NORA ", PASSWORD)  # names are trimmed, case does not matter
    assert (actor.name, actor.role) == ("nora", Role.NURSE)


def test_lockout_after_the_site_set_number_of_wrong_passwords(db_path: Path) -> None:
    now = [FIXED_NOW]
    s = open_session(db_path, clock=lambda: now[0])
    try:
        service = AccountService(s.tracker)
        service.create_first_administrator("ada", "Ada Admin", PASSWORD)
        SettingsService(s.tracker).set("sign_in_attempts", "3")
        SettingsService(s.tracker).set("lockout_minutes", "30")
        service.create("nora", "Nora Nurse", Role.NURSE, PASSWORD)
        s.tracker.sign_out()
        for _attempt in range(3):
            with pytest.raises(SignInError, match="wrong"):
                service.sign_in("nora", "guess guess guess")
        # Locked now: even the right password is refused, with the time it ends.
        with pytest.raises(SignInError, match=r"locked .* until 2026-03-14 10:00"):
            service.sign_in("nora", PASSWORD)
        failures = AuditLog.select().where((AuditLog.table_name == "account")
                                           & (AuditLog.user == "(sign-in)"))
        assert failures.count() >= 3
        now[0] = FIXED_NOW + timedelta(minutes=31)
        assert service.sign_in("nora", PASSWORD).name == "nora"
        assert Account.get(Account.name == "nora").failed_sign_ins == 0
        # An administrator can lift a lockout sooner.
        s.tracker.sign_out()
        for _attempt in range(3):
            with pytest.raises(SignInError):
                service.sign_in("nora", "guess guess guess")
        sign_in(s, "ada")
        service.unlock("nora")
        s.tracker.sign_out()
        assert service.sign_in("nora", PASSWORD).name == "nora"
    finally:
        s.close()


def test_deactivated_account_cannot_sign_in_and_the_last_administrator_stays(
        site: Any) -> None:
    service = AccountService(site.tracker)
    sign_in(site, "ada")
    service.set_active("rita", False)
    with pytest.raises(ServiceError, match="last active administrator"):
        service.set_role("ada", Role.NURSE)
    with pytest.raises(ServiceError, match="last active administrator"):
        service.set_active("ada", False)
    site.tracker.sign_out()
    with pytest.raises(SignInError, match="deactivated"):
        service.sign_in("rita", PASSWORD)


def test_password_change_needs_the_old_one_and_then_only_the_new_one_works(site: Any) -> None:
    service = AccountService(site.tracker)
    sign_in(site, "nora")
    with pytest.raises(SignInError, match="current password is wrong"):
        service.change_password("not it at all", "a brand new secret")
    with pytest.raises(ServiceError, match="at least 10 characters"):
        service.change_password(PASSWORD, "short")
    service.change_password(PASSWORD, "a brand new secret")
    site.tracker.sign_out()
    with pytest.raises(SignInError):
        service.sign_in("nora", PASSWORD)
    assert service.sign_in("nora", "a brand new secret").name == "nora"


def test_only_an_administrator_manages_accounts(site: Any) -> None:
    service = AccountService(site.tracker)
    with pytest.raises(NotSignedIn):
        service.create("zed", "Zed", Role.NURSE, PASSWORD)
    sign_in(site, "ines")
    with pytest.raises(PermissionDenied, match="may not manage user accounts"):
        service.create("zed", "Zed", Role.NURSE, PASSWORD)
    with pytest.raises(PermissionDenied):
        service.reset_password("nora", "another password")
    sign_in(site, "ada")
    with pytest.raises(ServiceError, match="user name"):
        service.create("Zed Smith", "Zed", Role.NURSE, PASSWORD)
    with pytest.raises(ServiceError, match="unknown role"):
        service.create("zed", "Zed", "superuser", PASSWORD)
    row = service.create("zed", "Zed Smith", Role.MONITOR, PASSWORD)
    assert (row.name, row.role, row.holds_allocation_key) == ("zed", Role.MONITOR, False)
    names = [r.name for r in service.accounts()]
    assert names == sorted(names) and "zed" in names


def test_production_hashes_are_argon2id_with_rfc9106_parameters(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test suite lowers the cost (tests/helpers.py); the application's own is this.
    monkeypatch.setattr(accounts_module, "HASHER", PasswordHasher())
    s = open_site(db_path)
    try:
        AccountService(s.tracker).create_first_administrator("ada", "Ada Admin", PASSWORD)
        stored = Account.get(Account.name == "ada").password_hash
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    finally:
        s.close()


# ----- the command line ------------------------------------------------------------------


@pytest.fixture
def pipe() -> Iterator[Any]:
    """Write lines to a pipe and get its read end, as --password-fd takes it."""
    opened: list[int] = []

    def make(*lines: str) -> int:
        read, write = os.pipe()
        os.write(write, "".join(f"{line}\n" for line in lines).encode())
        os.close(write)
        opened.append(read)
        return read

    yield make
    for fd in opened:
        os.close(fd)


def _cli_site(path: Path, pipe: Any) -> Path:
    """The site ``path`` (a file or a server database) with ada (administrator) and nora."""
    assert main(["--db", str(path), "--password-fd", str(pipe(PASSWORD)), "users", "init",
                 "--name", "ada", "--full-name", "Ada Admin"]) == 0
    fd = pipe(PASSWORD, PASSWORD)
    assert main(["--db", str(path), "--user", "ada", "--password-fd", str(fd), "users", "add",
                 "nora", "--full-name", "Nora Nurse", "--role", "nurse",
                 "--new-password-fd", str(fd)]) == 0
    return path


def test_cli_signs_in_with_a_password_from_a_descriptor_never_an_argument(
        db_path: Path, pipe: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _cli_site(db_path, pipe)
    capsys.readouterr()
    # The site has accounts: a command on its data without a user is refused, with what to
    # do. (`studies` lists the protocol files only, and reads no site data: no sign-in.)
    assert main(["--db", str(path), "patients"]) == 2
    assert "--user NAME" in capsys.readouterr().err
    # A wrong password: one line, exit 1.
    assert main(["--db", str(path), "--user", "nora", "--password-fd",
                 str(pipe("wrong password!")), "patients"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the user name or the password is wrong" in err
    # There is no option that takes the password itself.
    with pytest.raises(SystemExit):
        main(["--db", str(path), "--user", "nora", "--password", PASSWORD, "patients"])
    capsys.readouterr()
    # GISTTRACKER_USER names the user; the password still comes from the descriptor.
    monkeypatch.setenv("GISTTRACKER_USER", "nora")
    assert main(["--db", str(path), "--password-fd", str(pipe(PASSWORD)), "patients",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # signed in: the (empty) list


def test_the_audit_trail_names_the_account_not_logname(
        db_path: Path, tmp_path: Path, pipe: Any, capsys: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "Prof_Principal_Investigator")
    monkeypatch.setenv("USER", "Prof_Principal_Investigator")
    path = _cli_site(db_path, pipe)
    assert main(["--db", str(path), "--user", "nora", "--password-fd", str(pipe(PASSWORD)),
                 "demo", "--patients", "5", "--seed", "2", "--today", "2026-03-14"]) == 0
    s = open_session(path)
    try:
        users = {r.user for r in AuditLog.select(AuditLog.user)}
        # (protocol registration): the program recording the protocol files in force at
        # open, before anyone signs in.
        assert users <= {"ada", "nora", "(sign-in)", "(protocol registration)"}
        assert "Prof_Principal_Investigator" not in users
        assert AuditLog.select().where((AuditLog.table_name == "patient")
                                       & (AuditLog.user == "nora")).count() == 5
    finally:
        s.close()
    # A site without accounts acts as its bootstrap administrator, named as such.
    other = tmp_path / "new.db"
    assert main(["--db", str(other), "demo", "--patients", "2", "--seed", "2",
                 "--today", "2026-03-14"]) == 0
    s = open_session(other)
    try:
        assert {r.user for r in AuditLog.select(AuditLog.user)} == {
            "(site setup)", "(protocol registration)"}
    finally:
        s.close()


def test_cli_users_commands_for_the_administrator(db_path: Path, pipe: Any,
                                                  capsys: Any) -> None:
    path = _cli_site(db_path, pipe)
    capsys.readouterr()
    args = ["--db", str(path), "--user", "ada"]
    assert main([*args, "--password-fd", str(pipe(PASSWORD)), "users", "list", "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["nora"]["role"] == "nurse" and listed["nora"]["holds_allocation_key"]
    assert main([*args, "--password-fd", str(pipe(PASSWORD)), "users", "set-role", "nora",
                 "monitor"]) == 0
    assert "nora is now monitor" in capsys.readouterr().out
    assert main([*args, "--password-fd", str(pipe(PASSWORD)), "users", "list", "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    # A monitor never holds the allocation key.
    assert listed["nora"]["role"] == "monitor" and not listed["nora"]["holds_allocation_key"]
    # Nora may not manage accounts: the service refuses, whatever the command line allows.
    assert main(["--db", str(path), "--user", "nora", "--password-fd", str(pipe(PASSWORD)),
                 "users", "list"]) == 1
    assert "may not manage user accounts" in capsys.readouterr().err
    # Her own password she may change (the current one is the one she signed in with).
    fd = pipe(PASSWORD, "a new long password")
    assert main(["--db", str(path), "--user", "nora", "--password-fd", str(fd), "users",
                 "passwd", "--new-password-fd", str(fd)]) == 0
    assert main(["--db", str(path), "--user", "nora", "--password-fd",
                 str(pipe("a new long password")), "patients"]) == 0


def test_lockout_time_and_attempts_are_site_settings(site: Any) -> None:
    settings = SettingsService(site.tracker)
    assert (settings.get("sign_in_attempts"), settings.get("lockout_minutes"),
            settings.get("idle_lock_minutes")) == ("5", "15", "10")
    sign_in(site, "ada")
    with pytest.raises(ServiceError, match="whole number"):
        settings.set("idle_lock_minutes", "0")
    settings.set("idle_lock_minutes", "3")
    assert settings.get("idle_lock_minutes") == "3"
    locked_until = Account.get(Account.name == "ada").locked_until
    assert locked_until is None or datetime.fromisoformat(locked_until) < FIXED_NOW


@pytest.mark.sqlite_only("a read-only copy of a site file")
def test_a_read_only_copy_is_signed_into_without_writing_it(tmp_path: Path) -> None:
    import hashlib
    import stat

    from gisttracker.store.db import ReadOnlyError
    from tests.core.accounts_helpers import make_people

    path = tmp_path / "archive.db"
    s = open_site(path)
    make_people(s)
    s.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    s = open_site(path)
    try:
        assert s.read_only_reason is not None
        with pytest.raises(SignInError, match="wrong"):
            AccountService(s.tracker).sign_in("nora", "not the password")
        actor = AccountService(s.tracker).sign_in("nora", PASSWORD)
        assert actor.name == "nora" and s.tracker.actor == actor
        with pytest.raises(ReadOnlyError):
            SettingsService(s.tracker).set("paper", "letter")
    finally:
        s.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before

"""One key signs all of a site's packages, whichever workstation makes them (issue 16: a
server site has several workstations; issue 12: the centre accepts one key per site).

A workstation is simulated by the keys folder beside the database (on a server site, the
workstation's local folder for that server): moving it away gives a workstation that never
had the key; a key made there afterwards is one a workstation made of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gisttracker.cli import main
from gisttracker.exchange.keys import (
    PublicKey,
    SiteKeyError,
    key_folder,
    private_key_file,
    private_key_path,
    public_key_path,
    site_key,
)
from gisttracker.exchange.package import PackageError
from gisttracker.services.base import ServiceError
from gisttracker.services.exchange.centre import import_package, trust_site
from gisttracker.services.exchange.packages import make_package
from gisttracker.services.exchange.site_keys import (
    expected_signer,
    export_private_key,
    install_private_key,
    new_site_key,
)
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_exchange import ExchangePackage
from tests.core.exchange_helpers import open_site

PASSPHRASE = "seven hills of Hangzhou"


@pytest.fixture
def site(db_path: Path) -> Path:
    """Site ZJU on the engine under test (one database is open at a time in a process, so
    the tests open the site and the centre in turn)."""
    open_site(db_path, "ZJU").close()
    return db_path


@contextlib.contextmanager
def opened(path: Path, code: str = "ZJU", user: str = "nurse") -> Iterator[Session]:
    session = open_site(path, code, user=user)
    try:
        yield session
    finally:
        session.close()


def _centre(tmp_path: Path) -> Path:
    path = tmp_path / "centre" / "centre.db"  # a file on both runs
    path.parent.mkdir(exist_ok=True)
    return path


def _package(site: Path, target: Path) -> int:
    with opened(site) as s:
        return make_package(s, target).manifest.seq


def _signer(site: Path) -> PublicKey:
    with opened(site):
        found = expected_signer("ZJU")
    assert found is not None
    return found


def _sent(site: Path) -> int:
    with opened(site):
        return ExchangePackage.select().where(ExchangePackage.direction == "sent").count()


def _other_workstation(site: Path, tmp_path: Path) -> None:
    """This workstation's keys go away: from now on it is one that never had them."""
    shutil.move(key_folder(site), tmp_path / "first-workstation-keys")


def _trust(centre: Path, public: PublicKey, **replace: str | bool) -> None:
    with opened(centre, "CENTRE", user="coordinator") as c:
        trust_site(c, "ZJU", public.text(), **replace)  # type: ignore[arg-type]


def _import(centre: Path, package: Path) -> int:
    with opened(centre, "CENTRE", user="coordinator") as c:
        return import_package(c, package).seq


def test_a_workstation_without_the_sites_key_is_told_how_to_bring_it_and_makes_nothing(
        site: Path, tmp_path: Path) -> None:
    assert _package(site, tmp_path / "zju-1.zip") == 1
    fingerprint = _signer(site).fingerprint
    _other_workstation(site, tmp_path)

    with opened(site) as s, pytest.raises(SiteKeyError) as refused:
        make_package(s, tmp_path / "zju-2.zip")

    message = str(refused.value)
    assert fingerprint in message
    assert "gisttracker export key --private" in message and "import key" in message
    assert not (tmp_path / "zju-2.zip").exists()
    assert _sent(site) == 1  # nothing recorded as sent
    assert not private_key_path(site, "ZJU").exists()  # and no key of its own made


def test_the_key_carried_with_its_passphrase_signs_packages_the_centre_accepts(
        site: Path, tmp_path: Path) -> None:
    _package(site, tmp_path / "zju-1.zip")
    centre = _centre(tmp_path)
    _trust(centre, _signer(site))
    carried = tmp_path / "zju.key"
    with opened(site) as s:
        exported = export_private_key(s, carried, PASSPHRASE)
    assert oct(carried.stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED PRIVATE KEY" in carried.read_bytes()
    assert PASSPHRASE.encode() not in carried.read_bytes()
    _other_workstation(site, tmp_path)

    with opened(site) as s:
        with pytest.raises(SiteKeyError, match="passphrase is wrong"):
            install_private_key(s, carried, "not the passphrase")
        assert not private_key_path(site, "ZJU").exists()
        public, changed = install_private_key(s, carried, PASSPHRASE)
        assert changed and public == exported
        assert install_private_key(s, carried, PASSPHRASE) == (public, False)

    assert _package(site, tmp_path / "zju-2.zip") == 2
    assert _import(centre, tmp_path / "zju-1.zip") == 1
    assert _import(centre, tmp_path / "zju-2.zip") == 2


def test_a_workstation_that_made_its_own_key_is_refused_until_the_sites_is_installed(
        site: Path, tmp_path: Path) -> None:
    _package(site, tmp_path / "zju-1.zip")
    carried = tmp_path / "zju.key"
    with opened(site) as s:
        export_private_key(s, carried, PASSPHRASE)
    _other_workstation(site, tmp_path)
    own = private_key_path(site, "ZJU")
    site_key(site, "ZJU")  # e.g. made on first use by an earlier version
    own_bytes = own.read_bytes()

    with opened(site) as s:
        with pytest.raises(SiteKeyError, match="is not the one this site's packages are"):
            make_package(s, tmp_path / "zju-2.zip")
        install_private_key(s, carried, PASSPHRASE)

    retired = [p for p in key_folder(site).iterdir() if ".retired-" in p.name]
    assert [p.read_bytes() for p in retired] == [own_bytes]  # kept aside, not deleted
    assert own.read_bytes() != own_bytes
    assert _package(site, tmp_path / "zju-2.zip") == 2


def test_key_files_that_are_not_this_sites_key_are_refused_with_the_reason(
        site: Path, tmp_path: Path) -> None:
    _package(site, tmp_path / "zju-1.zip")
    good = tmp_path / "zju.key"
    key_file = private_key_path(site, "ZJU")
    installed = key_file.read_bytes()
    other_site = tmp_path / "pumch.key"
    other_site.write_bytes(private_key_file("PUMCH", site_key(site, "ZJU"), PASSPHRASE))
    stranger = tmp_path / "stranger.key"
    stranger.write_bytes(private_key_file("ZJU", Ed25519PrivateKey.generate(), PASSPHRASE))

    with opened(site) as s:
        export_private_key(s, good, PASSPHRASE)
        damaged = tmp_path / "damaged.key"
        data = bytearray(good.read_bytes())
        data[len(data) // 2] ^= 0x01
        damaged.write_bytes(bytes(data))
        for path, reason in (
                (other_site, "belongs to site PUMCH"),
                (stranger, "not the key this site's packages are signed with"),
                (damaged, "damaged"),
                (public_key_path(site, "ZJU"), "not a GIST Study Tracker site private key"),
                (tmp_path / "missing.key", "cannot read")):
            with pytest.raises(SiteKeyError, match=reason):
                install_private_key(s, path, PASSPHRASE)
        with pytest.raises(SiteKeyError, match="at least 10 characters"):
            export_private_key(s, tmp_path / "short.key", "short")
        with pytest.raises(ServiceError, match="already exists"):
            export_private_key(s, good, PASSPHRASE)
    assert not (tmp_path / "short.key").exists()
    assert key_file.read_bytes() == installed  # nothing changed here


def test_a_lost_key_is_replaced_with_a_reason_and_the_centre_must_register_it_again(
        site: Path, tmp_path: Path) -> None:
    _package(site, tmp_path / "zju-1.zip")
    centre = _centre(tmp_path)
    _trust(centre, _signer(site))
    _import(centre, tmp_path / "zju-1.zip")
    _other_workstation(site, tmp_path)  # the only workstation with the key is gone

    reason = "the workstation with the key was stolen"
    with opened(site) as s:
        with pytest.raises(ServiceError, match="needs a reason"):
            new_site_key(s, "  ")
        public = new_site_key(s, reason)
        assert expected_signer("ZJU") == public
        assert AuditLog.select().where(AuditLog.reason == reason).exists()
    assert _package(site, tmp_path / "zju-2.zip") == 2

    with pytest.raises(PackageError, match="not site ZJU's"):
        _import(centre, tmp_path / "zju-2.zip")
    _trust(centre, public, replace=True, reason="new key, fingerprint read by telephone")
    assert _import(centre, tmp_path / "zju-2.zip") == 2


def _with_passphrase(argv: list[str], lines: str) -> int:
    read, write = os.pipe()
    os.write(write, lines.encode())
    os.close(write)
    try:
        return main([*argv, "--passphrase-fd", str(read)])
    finally:
        os.close(read)


def test_the_command_line_carries_the_key_between_workstations(
        site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _package(site, tmp_path / "zju-1.zip")
    db = ["--db", str(site)]
    carried = tmp_path / "zju.key"

    assert _with_passphrase([*db, "export", "key", "--private", "-o", str(carried)],
                            PASSPHRASE + "\n") == 0
    assert "encrypted" in capsys.readouterr().out
    _other_workstation(site, tmp_path)
    assert main([*db, "export", "package", "-o", str(tmp_path / "refused.zip")]) != 0
    assert "not on this workstation" in capsys.readouterr().err
    assert _with_passphrase([*db, "import", "key", str(carried)], "wrong passphrase\n") != 0
    assert "passphrase is wrong" in capsys.readouterr().err
    assert _with_passphrase([*db, "import", "key", str(carried)], PASSPHRASE + "\n") == 0
    assert "is installed" in capsys.readouterr().out
    assert main([*db, "export", "package", "-o", str(tmp_path / "zju-2.zip")]) == 0
    assert _with_passphrase([*db, "export", "key", "--new", "-o", str(tmp_path / "n.pub")],
                            "") != 0  # --new without a reason
    assert "needs a reason" in capsys.readouterr().err

"""The demo never touches real data: real patients, the default database, a seed used twice."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.demo import DemoRefused, generate
from gisttracker.session import open_session
from tests.core.patients_helpers import new_patient, set_site
from tests.helpers import FIXED_NOW, raw_rows

TODAY = date(2026, 3, 14)


def _counts(path: Path) -> tuple[int, int, int]:
    """Patients, surgeries and audit entries in the site database at ``path`` (a file, or a
    server database on the server run), read on a connection of its own."""
    (row,) = raw_rows(path, "SELECT (SELECT count(*) FROM patient), "
                            "(SELECT count(*) FROM surgery), (SELECT count(*) FROM audit_log)")
    return tuple(int(n) for n in row)  # type: ignore[return-value]


def test_demo_refuses_a_database_with_real_patients_and_changes_nothing(
        db_path: Path) -> None:
    from gisttracker.services.patients import PatientService

    path = db_path
    session = open_session(path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        set_site(session)
        new_patient(PatientService(session), "NCT04933669")
        before = _counts(path)
        with pytest.raises(DemoRefused, match=r"1 patient the demo did not create .ZJU-0001"):
            generate(session, patients=30, seed=1, today=TODAY)
    finally:
        session.close()
    assert _counts(path) == before


def test_demo_files_can_be_filled_again_but_not_after_a_real_patient(db_path: Path) -> None:
    from gisttracker.services.patients import PatientService

    session = open_session(db_path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        generate(session, patients=12, seed=1, today=TODAY)
        generate(session, patients=8, seed=2, today=TODAY)  # its own patients only: fine
        with pytest.raises(DemoRefused, match="seed 1 was already used"):
            generate(session, patients=5, seed=1, today=TODAY)
        new_patient(PatientService(session), "RECTAL-LE")  # SITE-0021: somebody real
        with pytest.raises(DemoRefused, match="SITE-0021"):
            generate(session, patients=5, seed=3, today=TODAY)
    finally:
        session.close()


def test_demo_command_never_defaults_to_the_site_database(
        tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "real" / "site.db"  # the site's own database, never the demo's
    monkeypatch.setenv("GISTTRACKER_DB", str(site))
    assert main(["demo", "--patients", "5"]) == 2
    assert "needs --db PATH" in capsys.readouterr().err
    assert not site.exists()
    demo = db_path  # a new file, or a new database on the server run
    assert main(["demo", "--db", str(demo), "--patients", "5", "--seed", "4",
                 "--today", "2026-03-14"]) == 0
    capsys.readouterr()
    assert main(["demo", "--db", str(demo), "--patients", "5", "--seed", "4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gisttracker: seed 4 was already used") and "Traceback" not in err
    assert _counts(demo)[0] == 5

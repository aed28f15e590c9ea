"""Site settings from the command line (``gisttracker settings get|set``), audited, and the
site code: changing it once patients exist is confirmed, needs a reason and renumbers
nobody."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.services.base import ServiceError
from gisttracker.services.patients import PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session, open_session
from gisttracker.store.models import AuditLog
from tests.core.patients_helpers import TODAY, eligible_patient, set_site


def test_settings_get_and_set_from_the_command_line(
        db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(db_path)
    assert main(["--db", db, "settings", "get", "site_code"]) == 0
    assert capsys.readouterr().out == "SITE\n"
    assert main(["--db", db, "settings", "set", "site_code", "ZJU",
                 "--reason", "installation"]) == 0
    assert main(["--db", db, "settings", "set", "paper", "letter"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "settings", "get", "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert {k: values[k] for k in ("site_code", "site_name", "paper", "language")} == {
        "site_code": "ZJU", "site_name": "", "paper": "letter", "language": "system"}
    assert main(["--db", db, "settings", "set", "paper", "legal"]) == 2
    assert "Paper size must be one of: a4, letter" in capsys.readouterr().err
    assert main(["--db", db, "settings", "set", "site_code", "zju-1"]) == 2
    assert "Site code" in capsys.readouterr().err
    s = open_session(db_path)
    try:
        # The first value of a setting is the insert of its row (audited whole).
        row = AuditLog.get((AuditLog.table_name == "setting")
                           & (AuditLog.reason == "installation"))
        assert '"value":"ZJU"' in row.new_value and '"key":"site_code"' in row.new_value
    finally:
        s.close()


def test_changing_the_site_code_once_patients_exist_is_confirmed_and_renumbers_nobody(
        db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = db_path
    s = open_session(db, user="nurse")
    try:
        set_site(s)
        service = PatientService(s)
        patient = eligible_patient(service, "NCT03862768")
        service.enroll(patient.uid, today=TODAY, rng=random.Random(3))
    finally:
        s.close()
    assert main(["--db", str(db), "settings", "set", "site_code", "FJC"]) == 2
    err = capsys.readouterr().err
    assert "Existing patients keep their study identifiers (ZJU-0001…)" in err
    assert "New patients will be numbered from FJC-0001 on." in err
    assert "stratification factor of the randomization in NCT03862768" in err
    assert "stratum site=FJC" in err and "--yes" in err
    assert main(["--db", str(db), "settings", "set", "site_code", "FJC", "--yes"]) == 1
    assert "a reason is required" in capsys.readouterr().err
    assert main(["--db", str(db), "settings", "set", "site_code", "FJC", "--yes",
                 "--reason", "code mistyped at installation"]) == 0
    s = open_session(db, user="nurse")
    try:
        service = PatientService(s)
        assert service.get(patient.uid).study_id == "ZJU-0001"  # never renumbered
        assert service.next_study_id()[2] == "FJC-0001"
    finally:
        s.close()


def test_the_service_refuses_an_unconfirmed_site_code_change(session: Session) -> None:
    set_site(session)
    eligible_patient(PatientService(session), "RECTAL-LE")
    settings = SettingsService(session.tracker, session.studies.values())
    with pytest.raises(ServiceError, match="nobody is renumbered"):
        settings.set("site_code", "ABC", reason="why", confirmed=False)
    settings.set("site_name", "Zhejiang University, First Hospital")  # nothing to confirm
    assert settings.get("site_code") == "ZJU"


def test_the_commands_keys_are_the_services_settings() -> None:
    # The parser spells the keys out (building it may not import the service); a setting
    # added to the service is also one the command line accepts.
    from gisttracker.cli.settings import KEYS
    from gisttracker.services.settings import SPECS

    assert set(KEYS) == set(SPECS) and len(KEYS) == len(SPECS)

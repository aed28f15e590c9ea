"""Each role does only what it may: every action tried by every role, in the services.

The expected matrix is written out here, not read from the policy table, so a change of
the policy shows up as a failing test to be looked at.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gisttracker.services.accounts import AccountService
from gisttracker.services.audit import entry_rows
from gisttracker.services.base import PermissionDenied
from gisttracker.services.concealment import reveal
from gisttracker.services.patients import PatientService
from gisttracker.services.policy import Role
from gisttracker.services.queries import QueryService
from gisttracker.services.settings import SettingsService
from gisttracker.services.signatures import SignatureService
from gisttracker.services.verification import VerificationService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from tests.core.accounts_helpers import PASSWORD, TODAY, make_people, open_site, sign_in
from tests.core.patients_helpers import eligible_patient, good_data, new_patient
from tests.helpers import server_copy

RANDOMIZED = "NCT03862768"

Action = Callable[[Session], object]


def _register(s: Session) -> object:
    return new_patient(PatientService(s), "RECTAL-LE", number="MRN-NEW")


def _correct_screening(s: Session) -> object:
    data = good_data(s.studies[RANDOMIZED])
    data.values["ecog"] = 0
    return PatientService(s).save_screening("ZJU-0002", data, today=TODAY)


def _randomize(s: Session) -> object:
    return PatientService(s).enroll("ZJU-0002", today=TODAY)


def _setting(s: Session) -> object:
    SettingsService(s.tracker).set("site_name", "Hangzhou")
    return None


def _add_account(s: Session) -> object:
    return AccountService(s.tracker).create("zed", "Zed Test", Role.NURSE, PASSWORD)


def _sign(s: Session) -> object:
    return SignatureService(s).sign("casebook", "ZJU-0002", PASSWORD)


def _unlock(s: Session) -> object:
    SignatureService(s).unlock("casebook", "ZJU-0001", "transcription error found at SDV")
    return None


def _verify(s: Session) -> object:
    return VerificationService(s).verify("casebook", "ZJU-0001")


def _raise(s: Session) -> object:
    patient = PatientService(s).get("ZJU-0002")
    return QueryService(s).raise_query("ZJU-0002", "patient", str(patient.uid), "sex",
                                       "Sex in the clinic notes?")


def _answer(s: Session) -> object:
    return QueryService(s).answer("Q-0001", "ECOG 1 confirmed in the clinic letter")


def _close(s: Session) -> object:
    return QueryService(s).close("Q-0001", "withdrawn")


def _reveal(s: Session) -> object:
    return reveal(s, RANDOMIZED)


def _audit(s: Session) -> object:
    return entry_rows(s, patient_ref="ZJU-0001")


def _export_identifiers(s: Session) -> object:
    from gisttracker.exchange.csv_export import export_csv

    return export_csv(s, s.path.parent / "export-with-names", identifiers=True)


def _export_pseudonymous(s: Session) -> object:
    from gisttracker.exchange.odm.export import export_odm

    return export_odm(s, s.path.parent / "export.xml", kind="snapshot", validate=False)


def _send_package(s: Session) -> object:
    from gisttracker.services.exchange.packages import make_package

    return make_package(s, s.path.parent / "zju-1.zip")


ACTIONS: dict[str, tuple[Action, set[str]]] = {
    "register a patient": (_register, {"ada", "ines", "nora"}),
    "correct a screening": (_correct_screening, {"ada", "ines", "nora"}),
    "randomize": (_randomize, {"ada", "ines", "nora"}),
    "change a site setting": (_setting, {"ada"}),
    "add an account": (_add_account, {"ada"}),
    "sign a casebook": (_sign, {"ines"}),
    "unlock a signed casebook": (_unlock, {"ada", "ines"}),
    "mark source-verified": (_verify, {"mona"}),
    "raise a query": (_raise, {"mona"}),
    "answer a query": (_answer, {"ines", "nora"}),
    "close a query": (_close, {"mona"}),
    "reveal the allocation list": (_reveal, {"ada"}),
    "read the audit trail": (_audit, {"ada", "ines", "nora", "mona", "rita"}),
    "export with identifiers": (_export_identifiers, {"ada", "ines", "nora", "mona"}),
    "export pseudonymous data": (_export_pseudonymous, {"ada", "ines", "nora", "mona", "rita"}),
    "send the site's package": (_send_package, {"ada", "ines", "nora"}),
}
PEOPLE = ("ada", "ines", "nora", "mona", "rita")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site with one account per role, ZJU-0001 randomized with its casebook signed and a
    query open on its screening, ZJU-0002 eligible and waiting."""
    path = tmp_path_factory.mktemp("policy") / "site.db"
    s = open_site(path)
    try:
        make_people(s)
        sign_in(s, "ada")
        SettingsService(s.tracker).set("site_code", "ZJU")
        sign_in(s, "nora")
        service = PatientService(s)
        first = eligible_patient(service, RANDOMIZED, number="MRN-1")
        import random

        service.enroll(first.uid, today=TODAY, rng=random.Random(5))
        eligible_patient(service, RANDOMIZED, number="MRN-2")
        sign_in(s, "ines")
        SignatureService(s).sign("casebook", "ZJU-0001", PASSWORD)
        sign_in(s, "mona")
        screening = service.latest_screening("ZJU-0001")
        assert screening is not None
        QueryService(s).raise_query("ZJU-0001", "screening", str(screening.uid), "ecog",
                                    "ECOG 1 or 2 in the clinic letter?")
        s.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        s.close()
    return path


@pytest.fixture
def copy(template: Path, tmp_path: Path, engine: str) -> Iterator[Session]:
    """A fresh copy of the template site: a file, or on the server run a server database."""
    if engine == "postgresql":
        with server_copy(template) as location:
            s = open_site(location)
            yield s
            s.close()
        return
    path = tmp_path / "site.db"
    shutil.copy(template, path)
    s = open_site(path)
    yield s
    s.close()


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_role_and_action(copy: Session, person: str, action: str, engine: str) -> None:
    run, allowed = ACTIONS[action]
    sign_in(copy, person)
    before = AuditLog.select().count()
    # Exports and packages work on a server site too (from a snapshot of it), so every
    # action is the same on both engines.
    if person in allowed:
        run(copy)
    else:
        with pytest.raises(PermissionDenied, match=f"^{person} \\("):
            run(copy)
        # Refused before anything was written (a failed sign-in would show here too).
        assert AuditLog.select().count() == before


def test_nobody_signed_in_reads_but_writes_nothing(copy: Session) -> None:
    assert copy.tracker.actor is None
    assert PatientService(copy).get("ZJU-0001").study_id == "ZJU-0001"
    with pytest.raises(PermissionDenied, match="sign in"):
        _register(copy)


def test_reports_with_identifiers_only_for_roles_that_may_see_them(copy: Session) -> None:
    from datetime import datetime

    from gisttracker.reports import ReportRequest, build

    request = ReportRequest("casebook", patient="ZJU-0001", include_identifiers=True)
    sign_in(copy, "rita")
    with pytest.raises(PermissionDenied, match="may not see names"):
        build(copy, request, today=TODAY, generated_at=datetime(2026, 3, 14))
    build(copy, ReportRequest("casebook", patient="ZJU-0001"), today=TODAY,
          generated_at=datetime(2026, 3, 14))  # pseudonymous: fine
    sign_in(copy, "mona")
    assert build(copy, request, today=TODAY, generated_at=datetime(2026, 3, 14)) is not None


def test_identifiers_are_masked_in_the_trail_for_a_read_only_account(copy: Session) -> None:
    sign_in(copy, "rita")
    rows = [r for r in entry_rows(copy, patient_ref="ZJU-0001")
            if r.table == "patient_identity"]
    assert rows and all(r.new == "•••" for r in rows)
    sign_in(copy, "mona")
    rows = [r for r in entry_rows(copy, patient_ref="ZJU-0001")
            if r.table == "patient_identity"]
    assert "MRN-1" in rows[0].new


def test_only_the_administrator_registers_sites_and_merges_their_packages(
        copy: Session, tmp_path: Path) -> None:
    from gisttracker.exchange.keys import public_of, site_key
    from gisttracker.services.exchange.centre import import_package, trust_site

    key = public_of("PUMCH", site_key(tmp_path / "pumch" / "site.db", "PUMCH")).text()
    for person in ("ines", "nora", "mona", "rita"):
        sign_in(copy, person)
        with pytest.raises(PermissionDenied, match=f"^{person} \\("):
            trust_site(copy, "PUMCH", key)
        with pytest.raises(PermissionDenied, match=f"^{person} \\("):
            import_package(copy, tmp_path / "pumch-1.zip")
    sign_in(copy, "ada")
    assert trust_site(copy, "PUMCH", key)[1]

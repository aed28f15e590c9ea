"""Two people on one file: no silent overwrites, old values read inside the transaction,
the write lock taken at the start, a clear message when it does not clear, and concurrent
registration from two processes without unexplained failures."""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
from datetime import date
from pathlib import Path

import pytest

from gisttracker.services.audit import verify
from gisttracker.services.base import StaleRecordError
from gisttracker.services.patients import Identity, PatientService
from gisttracker.services.policy import trusted_actor
from gisttracker.services.scopes import screening_versions
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session, open_session
from gisttracker.store.db import DatabaseLockedError, resolve_path
from gisttracker.store.models import AuditLog, Setting
from gisttracker.store.models_patients import Patient, PatientIdentity, Randomization
from gisttracker.store.urls import ServerLocation
from tests.core.patients_helpers import (
    TODAY,
    eligible_patient,
    good_data,
    new_patient,
    set_site,
)

STUDY = "NCT04933669"


def as_user(session: Session, who: str) -> None:
    """The person at the keyboard changes (one session, as the window has; each thread of
    it has its own connection to the file, as a second workstation would)."""
    session.tracker.sign_in(trusted_actor(who))


def test_interleaved_saves_never_silently_overwrite(session: Session) -> None:
    set_site(session)
    uid = eligible_patient(PatientService(session), STUDY).uid
    overwrites = refused = 0
    for round_ in range(40):
        # Both open the screening form; one saves, then the other saves what they typed.
        people = ["nora", "li.wei"] if round_ % 2 == 0 else ["li.wei", "nora"]
        opened = [(who, screening_versions(session.db, uid)) for who in people]
        for i, (who, versions) in enumerate(opened):
            as_user(session, who)
            data = good_data(session.studies[STUDY])
            data.values["ecog"] = i  # each types another value into the same field
            data.values["tumour_size_cm"] = 11.0 + round_ + i / 10
            try:
                with session.tracker.expect(versions):
                    PatientService(session).save_screening(uid, data, today=TODAY)
            except StaleRecordError as exc:
                refused += 1
                # The message says who changed what in the meantime.
                assert f"{people[0]} changed Maximum tumour diameter from" in str(exc)
                assert exc.changes and exc.changes[-1].user == people[0]
        stored = PatientService(session).latest_screening(uid)
        assert stored is not None
        if stored.ecog != 0:  # the first save must be what is stored
            overwrites += 1
    # 80 saves: 40 went through, 40 were refused saying why; none overwrote silently.
    assert (overwrites, refused) == (0, 40)


def test_a_stale_instance_is_refused_instead_of_writing_a_wrong_old_value(
        session: Session) -> None:
    set_site(session)
    uid = eligible_patient(PatientService(session), STUDY).uid
    loaded = Patient.get(Patient.uid == uid)  # li's view of the patient, loaded now
    as_user(session, "nora")
    PatientService(session).update_sex(uid, "male", reason="sex mistyped")
    as_user(session, "li.wei")
    with pytest.raises(StaleRecordError, match="nora changed Sex from female to male"), \
            session.tracker.transaction("li's correction") as w:
        w.update(loaded, {"sex": "female"}, patient_uid=uid)
    assert Patient.get(Patient.uid == uid).sex == "male"
    # Knowing the current version, the change goes through, and its old value is the
    # stored one, read inside the transaction.
    with session.tracker.transaction("li's correction") as w:
        w.update(loaded, {"sex": "female"}, patient_uid=uid, expected_version=2)
    last = AuditLog.select().where(AuditLog.field == "sex").order_by(AuditLog.id.desc()).get()
    assert (last.old_value, last.new_value, last.user) == ('"male"', '"female"', "li.wei")


def _hammer(session: Session, who: str, count: int, errors: list[BaseException],
                    refused: list[StaleRecordError]) -> None:
    """``count`` saves of one setting by ``who``; those refused as stale are counted (a
    server's writers overlap)."""
    try:
        for n in range(count):
            try:
                with session.tracker.transaction("renamed", actor=trusted_actor(who)) as w:
                    row = Setting.get(Setting.key == "site_name")
                    w.update(row, {"value": f"{who} {n}"})
            except StaleRecordError as exc:
                refused.append(exc)
    except BaseException as exc:
        errors.append(exc)
    finally:
        session.db.close()  # this thread's connection


def test_old_values_under_contention_are_the_values_really_replaced(
        session: Session, engine: str) -> None:
    SettingsService(session.tracker).set("site_name", "start")
    errors: list[BaseException] = []
    refused: list[StaleRecordError] = []
    threads = [threading.Thread(target=_hammer,
                                args=(session, who, 30, errors, refused))
               for who in ("nora", "li.wei", "ines")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    if engine == "sqlite":
        # One writer at a time from BEGIN IMMEDIATE on: the row read inside the
        # transaction is the current one, so no save is refused.
        assert refused == []
    else:
        # On a server the transactions overlap (the chain lock is taken at the commit):
        # another thread may commit between this one's read and its update, and then this
        # save is refused as stale — never written over the other's value.
        assert all("changed by someone else" in str(e) for e in refused)
    rows = list(AuditLog.select().where(AuditLog.table_name == "setting").order_by(
        AuditLog.id))
    values = [json.loads(rows[0].new_value)["value"]]
    for row in rows[1:]:
        assert json.loads(row.old_value) == values[-1]  # exactly what it replaced
        values.append(json.loads(row.new_value))
    assert len(rows) == 91 - len(refused)
    assert SettingsService(session.tracker).get("site_name") == values[-1]
    assert verify(session.db).ok


@pytest.mark.sqlite_only(reason="shortens SQLite's busy timeout (PRAGMA); the server's own "
                         "lock timeout is tested in tests/core/test_server.py")
@pytest.mark.expect_log(r"database problem \(DatabaseLockedError\)")
def test_a_lock_that_does_not_clear_is_a_clear_message_then_a_retry_works(
        session: Session) -> None:
    session.db.execute_sql("PRAGMA busy_timeout = 300")  # this thread waits briefly
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # another connection (thread) keeps the write lock
        with session.tracker.transaction("a long save") as w:
            w.insert(Setting, key="paper", value="letter")
            holding.set()
            release.wait(10)
        session.db.close()

    worker = threading.Thread(target=hold)
    worker.start()
    assert holding.wait(10)
    with pytest.raises(DatabaseLockedError,
                       match=r"kept it locked .* nothing of this change was saved"):
        SettingsService(session.tracker).set("site_name", "Hangzhou")
    release.set()
    worker.join(10)
    SettingsService(session.tracker).set("site_name", "Hangzhou")  # the retry
    assert SettingsService(session.tracker).get("site_name") == "Hangzhou"


def _register_many(args: tuple[str, str, int]) -> tuple[int, list[str]]:
    path, who, count = args
    s = open_session(resolve_path(path), user=who)  # a file, or a server's URL
    failures: list[str] = []
    done = 0
    try:
        service = PatientService(s)
        for n in range(count):
            try:
                service.register(STUDY, sex="female", identity=Identity(
                    record_number=f"{who}-{n}", name="Test", initials="T",
                    date_of_birth=date(1960, 1, 1)), today=TODAY)
                done += 1
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        s.close()
    return done, failures


def test_concurrent_registration_from_two_processes(db_path: Path) -> None:
    # On the server run, two processes writing to one server database at once.
    path = db_path
    s = open_session(path, user="setup")
    set_site(s)
    s.close()
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        where = getattr(path, "connect_url", str(path))
        results = pool.map(_register_many, [(where, "nora", 25), (where, "li.wei", 25)])
    assert [failures for _done, failures in results] == [[], []]
    assert sum(done for done, _f in results) == 50
    s = open_session(path, user="setup")
    try:
        ids = [p.study_id for p in Patient.select().order_by(Patient.seq)]
        assert ids == [f"ZJU-{n:04d}" for n in range(1, 51)]
        # Two writers took turns on one chain: it is whole, and every row is explained.
        report = verify(s.db)
        assert report.ok, report.findings[:3]
        assert {a.user for a in AuditLog.select().where(AuditLog.table_name == "patient")} == {
            "nora", "li.wei"}
    finally:
        s.close()


RANDOMIZED = "NCT03862768"  # randomized, stratified by site


def _workstation(args: tuple[str, str, int]) -> tuple[list[str], list[str]]:
    """One workstation's day on a shared server: register and screen ``count`` patients,
    randomize them, then correct each one's name. Returns the uids and the failures."""
    url, who, count = args
    s = open_session(resolve_path(url), user=who)
    uids: list[str] = []
    failures: list[str] = []
    try:
        service = PatientService(s)
        rng = random.Random(who)
        for _n in range(count):
            try:
                patient = new_patient(service, RANDOMIZED)
                service.save_screening(patient.uid, good_data(service.study(RANDOMIZED)),
                                       today=TODAY)
                uids.append(patient.uid)
            except Exception as exc:
                failures.append(f"register: {type(exc).__name__}: {exc}")
        for uid in uids:
            try:
                service.enroll(uid, today=TODAY, rng=rng)
                service.update_identity(uid, Identity(
                    record_number=None, name=f"{who} corrected", initials="C",
                    date_of_birth=date(1960, 1, 1)), today=TODAY, reason="name mistyped")
            except Exception as exc:
                failures.append(f"enrol/correct: {type(exc).__name__}: {exc}")
        return uids, failures
    finally:
        s.close()


def test_four_workstations_writing_at_once_lose_nothing_and_the_chain_verifies(
        db_path: Path) -> None:
    if not isinstance(db_path, ServerLocation):
        pytest.skip("needs the test server: a SQLite file has one writer at a time "
                    "(its two-process race is the test above)")
    s = open_session(db_path, user="setup")
    set_site(s)
    s.close()
    who = ["nora", "li.wei", "ines", "omar"]
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.map(_workstation, [(db_path.connect_url, w, 8) for w in who])
    assert [failures for _u, failures in results] == [[]] * 4
    uids = [u for done, _f in results for u in done]
    assert len(uids) == 32
    s = open_session(db_path, user="setup")
    try:
        patients = list(Patient.select().order_by(Patient.seq))
        # Every registration kept, numbered without a gap or a repeat.
        assert sorted(p.uid for p in patients) == sorted(uids)
        assert [p.study_id for p in patients] == [f"ZJU-{n:04d}" for n in range(1, 33)]
        assert {p.status for p in patients} == {"enrolled"}
        # One stratum, each position taken exactly once.
        rows = list(Randomization.select().order_by(Randomization.position))
        assert [r.position for r in rows] == list(range(32))
        assert len({r.number for r in rows}) == 32
        assert {r.randomized_by for r in rows} == set(who)
        # Every correction is there, by the workstation that made it, audited.
        names = {i.patient.uid: i.name for i in PatientIdentity.select()}
        by = {u: w for (done, _f), w in zip(results, who, strict=True) for u in done}
        assert names == {u: f"{by[u]} corrected" for u in uids}
        corrections = AuditLog.select().where((AuditLog.table_name == "patient_identity")
                                              & (AuditLog.field == "name"))
        assert sorted(json.loads(a.new_value) for a in corrections) == sorted(
            f"{by[u]} corrected" for u in uids)
        # The four interleaved transactions left one whole chain explaining every table.
        report = verify(s.db)
        assert report.ok, report.findings[:3]
    finally:
        s.close()


def test_a_signature_made_elsewhere_while_saving_refuses_the_save(db_path: Path) -> None:
    # On a server writers overlap: a save that checked the visit was unsigned, then saw an
    # investigator sign it before its own commit, must not slip in under the signature.
    if not isinstance(db_path, ServerLocation):
        pytest.skip("needs the test server: on a SQLite file the signature waits for the "
                    "save's write lock, taken at BEGIN")
    from gisttracker.services.base import ConcurrentWriteError
    from gisttracker.services.forms import FormService
    from gisttracker.services.signatures import SignatureService
    from gisttracker.store.models_patients import LabResult
    from tests.core.accounts_helpers import PASSWORD, make_people, open_site, sign_in
    from tests.core.forms_fixtures import make_patient, make_visit

    site = open_site(db_path)
    try:
        make_people(site)
        sign_in(site, "nora")
        visit = make_visit(site, make_patient(site), "baseline")
        checked, signed = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def save() -> None:
            try:
                with site.tracker.transaction("lab entered"):
                    FormService(site).save_lab(visit.uid, "alt", 30, "U/L", uln=40,
                                               today=TODAY)
                    checked.set()  # the lock check has run: nothing signed yet
                    assert signed.wait(30)
            except BaseException as exc:
                errors.append(exc)
            finally:
                site.db.close()  # this thread's connection

        worker = threading.Thread(target=save)
        worker.start()
        assert checked.wait(30)
        sign_in(site, "ines")
        SignatureService(site).sign("visit", visit.uid, PASSWORD)  # committed meanwhile
        signed.set()
        worker.join(30)
        assert [type(e) for e in errors] == [ConcurrentWriteError]
        assert "signed this data while you were saving" in str(errors[0])
        assert LabResult.select().count() == 0  # nothing of the save was kept
        assert verify(site.db).ok
    finally:
        site.close()


def test_a_savepoint_rolled_back_after_the_chain_was_settled_keeps_what_came_before(
        session: Session) -> None:
    # On a server a bulk write settles the chain (takes its lock, writes the waiting
    # entries) at once; if that happens inside a savepoint that is then rolled back, the
    # entries from before the savepoint must still be written, and none of the savepoint's.
    with session.tracker.transaction("several steps") as w:
        w.insert(Setting, key="paper", value="letter")
        with pytest.raises(RuntimeError, match="changed my mind"), \
                session.tracker.transaction("a bulk step"):
            w.insert_many(Setting, [{"key": "bulk.a", "value": "1"},
                                    {"key": "bulk.b", "value": "2"}])
            raise RuntimeError("changed my mind")
        w.insert(Setting, key="locale", value="zh_CN")
    kept = {s.key for s in Setting.select()}
    assert {"paper", "locale"} <= kept and not {"bulk.a", "bulk.b"} & kept
    audited = [a.record_uid for a in AuditLog.select().where(AuditLog.table_name == "setting")]
    assert sorted(audited) == sorted(s.uid for s in Setting.select())
    report = verify(session.db)
    assert report.ok, report.findings[:3]

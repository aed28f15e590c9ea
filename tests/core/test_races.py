"""Check-then-write races (issue 16, point 2): two workstations that both pass a rule's
check before either commits must not both write.

Each test runs two writers at once on one site, each on its own thread with its own
connection (a second workstation, or a second program on the same SQLite file). The
interleaving is forced, not hoped for (:func:`race`): the first writer stops just before
its commit, holding whatever it holds; the second is started then, and the first is let go
only once the second has opened its transaction — so the second's check, wherever it runs,
has either run already (before the fix: outside the transaction, seeing the first's write
not yet committed) or runs after whatever makes it wait for the first. Then the database
must hold one winner, and the loser the rule's own message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gisttracker.services.accounts import AccountService
from gisttracker.services.audit import verify
from gisttracker.services.base import ServiceError, Tracker, Writer
from gisttracker.services.forms import FormService
from gisttracker.services.patients import Identity, PatientService
from gisttracker.services.policy import Role
from gisttracker.services.visits import UNSCHEDULED_SEQ, VisitService
from gisttracker.session import Session
from gisttracker.store.models_accounts import Account
from gisttracker.store.models_forms import Form
from gisttracker.store.models_patients import LabResult, PatientIdentity
from gisttracker.store.models_visits import Visit
from tests.core.accounts_helpers import PASSWORD, make_people, open_site, sign_in
from tests.core.patients_helpers import TODAY, new_patient, set_site

STUDY = "NCT04933669"


def race(session: Session, monkeypatch: pytest.MonkeyPatch, first: Callable[[], Any],
         second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``first`` and ``second`` at once, each on a thread of its own (its own
    connection), ``first`` stopped just before its commit until ``second`` has opened its
    transaction; what each returned or raised."""
    threads: dict[str, threading.Thread] = {}
    paused, opened, go = threading.Event(), threading.Event(), threading.Event()
    real_finish = Writer.finish
    real_transaction = Tracker.transaction

    def finish(self: Writer) -> None:
        if threading.current_thread() is threads.get("first") and not paused.is_set():
            paused.set()  # everything written, nothing committed
            assert go.wait(30)
        real_finish(self)

    @contextmanager
    def transaction(self: Tracker, *args: Any, **kwargs: Any) -> Iterator[Writer]:
        if threading.current_thread() is threads.get("second") and self._open is None:
            opened.set()  # whatever it checked before its transaction, it has checked
        with real_transaction(self, *args, **kwargs) as w:
            yield w

    monkeypatch.setattr(Writer, "finish", finish)
    monkeypatch.setattr(Tracker, "transaction", transaction)
    outcomes: dict[str, Any] = {}

    def run(name: str, work: Callable[[], Any]) -> None:
        try:
            outcomes[name] = work()
        except BaseException as exc:
            outcomes[name] = exc
        finally:
            session.db.close()  # this thread's connection

    for name, work in (("first", first), ("second", second)):
        threads[name] = threading.Thread(target=run, args=(name, work))
        threads[name].start()
        if name == "first":
            assert paused.wait(30), outcomes
    assert opened.wait(30), outcomes
    time.sleep(0.3)  # let the second reach what it waits at (it must not need this)
    go.set()
    for thread in threads.values():
        thread.join(60)
        assert not thread.is_alive()
    return outcomes["first"], outcomes["second"]


def test_two_administrators_removing_each_other_at_once_leave_one(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = open_site(db_path)
    try:
        make_people(site)
        sign_in(site, "ada")
        accounts = AccountService(site.tracker)
        accounts.create("bea", "Bea Admin", Role.ADMINISTRATOR, PASSWORD)
        # ada demotes herself while bea deactivates her own account, at the same moment:
        # each sees the other still an active administrator.
        first, second = race(
            site, monkeypatch,
            lambda: accounts.set_role("ada", Role.INVESTIGATOR, reason="now the PI"),
            lambda: accounts.set_active("bea", False, reason="leaving"))
        assert first is None
        assert isinstance(second, ServiceError), second
        assert str(second) == ("bea is the last active administrator; make another "
                               "administrator first")
        active = [a.name for a in Account.select().where(
            (Account.role == Role.ADMINISTRATOR.value) & (Account.active == True))]  # noqa: E712
        assert active == ["bea"]
        assert verify(site.db).ok
    finally:
        site.close()


def test_two_unscheduled_visits_added_at_once_take_two_numbers(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    set_site(session)
    patient = new_patient(PatientService(session), STUDY)
    visits = VisitService(session)
    first, second = race(
        session, monkeypatch,
        lambda: visits.add_unscheduled(patient.uid, "Extra CT", TODAY, today=TODAY),
        lambda: visits.add_unscheduled(patient.uid, "Phone call", TODAY, today=TODAY))
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    numbers = {v.name: v.seq for v in Visit.select().where(Visit.unscheduled == 1)}
    assert numbers == {"Extra CT": UNSCHEDULED_SEQ, "Phone call": UNSCHEDULED_SEQ + 1}
    assert verify(session.db).ok


def test_a_removed_unscheduled_visit_does_not_give_its_number_twice(
        session: Session) -> None:
    set_site(session)
    patient = new_patient(PatientService(session), STUDY)
    visits = VisitService(session)
    made = [visits.add_unscheduled(patient.uid, name, TODAY, today=TODAY)
            for name in ("Extra CT", "Phone call")]
    visits.delete_unscheduled(made[0].uid, reason="entered twice")
    visits.add_unscheduled(patient.uid, "Blood test", TODAY, today=TODAY)
    numbers = {v.name: v.seq for v in Visit.select().where(Visit.unscheduled == 1)}
    assert numbers == {"Phone call": UNSCHEDULED_SEQ + 1, "Blood test": UNSCHEDULED_SEQ + 2}


def _register(session: Session, number: str, name: str) -> Any:
    return PatientService(session).register(STUDY, sex="female", identity=Identity(
        record_number=number, name=name, date_of_birth=date(1960, 5, 1)), today=TODAY)


def test_two_registrations_of_one_record_number_at_once_register_one_patient(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    set_site(session)
    first, second = race(session, monkeypatch,
                         lambda: _register(session, "MRN-77", "Wang Fang"),
                         lambda: _register(session, "MRN-77", "Wang Fang"))
    assert not isinstance(first, BaseException), first
    assert isinstance(second, ServiceError), second
    assert str(second) == "Record number MRN-77 is already registered as ZJU-0001"
    holders = [i.patient.study_id for i in PatientIdentity.select().where(
        PatientIdentity.record_number == "MRN-77")]
    assert holders == ["ZJU-0001"]
    assert verify(session.db).ok


def test_a_correction_to_a_record_number_being_registered_is_refused(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    set_site(session)
    other = _register(session, "MRN-1", "Li Na")
    service = PatientService(session)
    first, second = race(
        session, monkeypatch,
        lambda: _register(session, "MRN-5", "Zhao Lei"),
        lambda: service.correct_registration(other.uid, sex="female", identity=Identity(
            record_number="MRN-5", name="Li Na", date_of_birth=date(1960, 5, 1)),
            today=TODAY, reason="number mistyped"))
    assert not isinstance(first, BaseException), first
    assert isinstance(second, ServiceError), second
    assert str(second) == "Record number MRN-5 is already registered as ZJU-0002"
    assert [i.patient.study_id for i in PatientIdentity.select().where(
        PatientIdentity.record_number == "MRN-5")] == ["ZJU-0002"]
    assert service.identity(other.uid).record_number == "MRN-1"  # nothing of it saved


def test_a_visit_is_not_removed_with_a_form_saved_for_it_meanwhile(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    set_site(session)
    patient = new_patient(PatientService(session), STUDY)
    visit = VisitService(session).add_unscheduled(patient.uid, "Extra blood test", TODAY,
                                                  today=TODAY)
    first, second = race(
        session, monkeypatch,
        lambda: FormService(session).save_lab(visit.uid, "alt", 30, "U/L", uln=40,
                                              today=TODAY),
        lambda: VisitService(session).delete_unscheduled(visit.uid, reason="added by "
                                                         "mistake"))
    assert not isinstance(first, BaseException), first
    assert isinstance(second, ServiceError), second
    assert str(second) == "Extra blood test has forms: correct or clear them first"
    # The lab value and its form are kept, with their visit.
    assert [r.value for r in LabResult.select()] == [30]
    assert Form.select().count() == 1
    assert Visit.select().where(Visit.uid == visit.uid).count() == 1
    assert verify(session.db).ok


def test_two_baselines_entered_at_once_keep_one(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from gisttracker.services.tumour import (
        AssessmentInput,
        AssessmentInputError,
        LesionInput,
        TumourService,
    )
    from gisttracker.store.models_course import TumourAssessment
    from tests.core.course_fixtures import TODAY as COURSE_TODAY
    from tests.core.course_fixtures import enrolled_patient

    patient = enrolled_patient(session)
    tumour = TumourService(session)

    def baseline(on: date, mm: float) -> Any:
        return tumour.record(patient.uid, AssessmentInput(
            on, (LesionInput("T1", "liver", mm),), is_baseline=True), today=COURSE_TODAY)

    first, second = race(session, monkeypatch, lambda: baseline(date(2024, 6, 1), 30),
                         lambda: baseline(date(2024, 6, 2), 31))
    assert isinstance(first, str), first
    assert isinstance(second, AssessmentInputError), second
    assert str(second) == "the patient already has a baseline (2024-06-01)"
    assert [str(a.assessed_on) for a in TumourAssessment.select()] == ["2024-06-01"]
    assert verify(session.db).ok


def test_two_first_screening_saves_at_once_make_one_screening(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from gisttracker.store.models_patients import Screening
    from tests.core.patients_helpers import good_data

    set_site(session)
    service = PatientService(session)
    patient = new_patient(service, STUDY)

    def save(ecog: int) -> Any:
        data = good_data(session.studies[STUDY])
        data.values["ecog"] = ecog
        return service.save_screening(patient.uid, data, today=TODAY)

    first, second = race(session, monkeypatch, lambda: save(0), lambda: save(1))
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    # The second saved over the first's screening (its own value last), not beside it.
    assert [s.ecog for s in Screening.select()] == [1]
    assert verify(session.db).ok


def test_an_enrollment_sees_a_screening_changed_meanwhile(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.core.patients_helpers import eligible_patient, good_data

    set_site(session)
    service = PatientService(session)
    patient = eligible_patient(service, STUDY)
    worse = good_data(session.studies[STUDY])
    worse.values["ecog"] = 3  # no longer eligible

    first, second = race(
        session, monkeypatch,
        lambda: service.save_screening(patient.uid, worse, today=TODAY),
        lambda: service.enroll(patient.uid, today=TODAY))
    assert not isinstance(first, BaseException), first
    assert first.outcome == "ineligible"
    assert isinstance(second, ServiceError), second
    assert "is not eligible" in str(second)
    assert service.get(patient.uid).status == "screened"
    assert verify(session.db).ok


def test_one_lab_value_saved_twice_at_once_is_one_value(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    set_site(session)
    patient = new_patient(PatientService(session), STUDY)
    visit = VisitService(session).add_unscheduled(patient.uid, "Extra blood test", TODAY,
                                                  today=TODAY)
    forms = FormService(session)
    forms.save_lab(visit.uid, "ast", 28, "U/L", uln=35, today=TODAY)  # the form exists

    def alt(value: float) -> Any:
        return forms.save_lab(visit.uid, "alt", value, "U/L", uln=40, today=TODAY)

    first, second = race(session, monkeypatch, lambda: alt(30), lambda: alt(31))
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    # One ALT of the visit: the second corrected the first's value.
    assert [r.value for r in LabResult.select().where(LabResult.analyte == "alt")] == [31]
    assert verify(session.db).ok


def test_one_visit_signed_twice_at_once_has_one_signature(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gisttracker.services.signatures import SignatureService
    from gisttracker.store.models_accounts import Signature
    from tests.core.forms_fixtures import make_patient, make_visit

    site = open_site(db_path)
    try:
        make_people(site)
        sign_in(site, "ines")
        visit = make_visit(site, make_patient(site), "baseline")
        signatures = SignatureService(site)

        def sign() -> Any:
            return signatures.sign("visit", visit.uid, PASSWORD)

        first, second = race(site, monkeypatch, sign, sign)
        assert not isinstance(first, BaseException), first
        assert isinstance(second, ServiceError), second
        assert str(second).startswith("ZJU-0001, visit Baseline (before imatinib) is already "
                                      "signed: Signed by Ines Test (ines)")
        assert Signature.select().count() == 1
        assert verify(site.db).ok
    finally:
        site.close()


def test_an_anchor_entered_twice_at_once_is_one_date_and_the_second_needs_a_reason(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from gisttracker.services.base import ConcurrentWriteError, ReasonRequired
    from gisttracker.store.models_visits import AnchorDate
    from tests.core.course_fixtures import enrolled_patient

    patient = enrolled_patient(session, STUDY)
    visits = VisitService(session)
    key = next(a.key for a in session.study(patient.study_key).anchors
               if a.source == "entered")

    def enter(on: date) -> Any:
        return visits.set_anchor(patient.uid, key, on, today=TODAY)

    first, second = race(session, monkeypatch, lambda: enter(date(2024, 6, 1)),
                         lambda: enter(date(2024, 6, 3)))
    assert not isinstance(first, BaseException), first
    # SQLite: the second reads the first's date inside its transaction, so it is a
    # correction, which needs a reason. A server: the unique index waits for the first's
    # commit and refuses the second as a collision ("try again"). Never a raw error.
    assert isinstance(second, ReasonRequired | ConcurrentWriteError), second
    assert [str(a.date) for a in AnchorDate.select().where(
        AnchorDate.anchor_key == key)] == ["2024-06-01"]


def test_a_new_protocol_file_opened_on_two_workstations_at_once_is_stored_once(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from gisttracker.protocols.loader import parse_study
    from gisttracker.services.versions import register_protocols
    from gisttracker.store.models_versions import ProtocolVersion, StudyProtocol

    study = session.studies[STUDY]
    edited = parse_study(study.text + "\n# a comment added by the coordinator\n", study.path)
    assert edited.digest != study.digest
    monkeypatch.setitem(session.studies, STUDY, edited)
    first, second = race(session, monkeypatch, lambda: register_protocols(session),
                         lambda: register_protocols(session))
    assert first == {} and second == {}, (first, second)
    stored = [v.digest for v in ProtocolVersion.select().where(
        ProtocolVersion.study_key == STUDY)]
    assert sorted(stored) == sorted([study.digest, edited.digest])
    in_force = StudyProtocol.get(StudyProtocol.study_key == STUDY)
    assert ProtocolVersion.get_by_id(in_force.protocol_version_id).digest == edited.digest

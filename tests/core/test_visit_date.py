"""A visit's date is the day it took place, asked for and defaulted sensibly, apart from when
it was entered: completing the last form of a visit entered after its window must not date
the visit to the day of data entry (a false out-of-window deviation)."""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker.services.base import ServiceError
from gisttracker.services.forms import FormService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from tests.core.forms_fixtures import make_patient
from tests.helpers import FIXED_NOW

TODAY = date(2026, 3, 14)
TARGET = date(2026, 1, 10)
WINDOW = (date(2026, 1, 3), date(2026, 1, 17))
FORMS = ("surgery", "pathology", "adverse_events", "treatment")  # RECTAL-LE "surgery" visit


def visit(session: Session, patient: Patient, *, target: date = TARGET,
          window: tuple[date, date] = WINDOW) -> Visit:
    with session.tracker.transaction("test visit") as w:
        return w.insert(Visit, patient=patient.__data__["id"], visit_key="surgery",
                        name="Local resection", planned_on=target, window_start=window[0],
                        window_end=window[1], state="planned")


def settle_all_but_last(service: FormService, uid: str) -> None:
    for kind in FORMS[:-1]:
        service.mark_not_done(uid, kind, "Not performed at this visit", today=TODAY)


def test_entering_a_visit_after_its_window_dates_it_to_its_target_not_to_today(
        session: Session) -> None:
    patient = make_patient(session)
    v = visit(session, patient)
    service = FormService(session)
    settle_all_but_last(service, v.uid)
    assert Visit.get_by_id(v.id).state == "planned"
    service.mark_not_done(v.uid, FORMS[-1], "Not performed at this visit", today=TODAY)
    done = Visit.get_by_id(v.id)
    assert (done.state, done.done_on) == ("done", TARGET)
    assert done.done_recorded_at == FIXED_NOW.isoformat(timespec="seconds")
    row = next(r for r in VisitService(session).schedule(patient.uid, today=TODAY)
               if r.uid == v.uid)
    assert row.status_code == "done"  # no false deviation
    audit = AuditLog.get((AuditLog.record_uid == v.uid) & (AuditLog.field == "done_on"))
    assert audit.reason == ("all forms of the visit complete or not done; visit date not "
                            "given, the target date: today is after the visit's window taken")


def test_the_date_the_person_gives_is_kept_even_outside_the_window(session: Session) -> None:
    patient = make_patient(session)
    v = visit(session, patient)
    service = FormService(session)
    settle_all_but_last(service, v.uid)
    question = service.visit_date_question(v.uid, FORMS[-1], today=TODAY)
    assert question is not None
    assert (question.suggested, question.target, question.window_end) == (
        TARGET, TARGET, WINDOW[1])
    late = date(2026, 1, 25)
    service.mark_not_done(v.uid, FORMS[-1], "Patient refused", today=TODAY, visit_date=late)
    row = next(r for r in VisitService(session).schedule(patient.uid, today=TODAY)
               if r.uid == v.uid)
    assert (row.done_on, row.status_code, row.deviation_days) == (late, "done_out_of_window", 8)


def test_entered_on_the_day_inside_the_window_the_visit_is_dated_today(
        session: Session) -> None:
    patient = make_patient(session)
    v = visit(session, patient, target=date(2026, 3, 10),
              window=(date(2026, 3, 3), date(2026, 3, 17)))
    service = FormService(session)
    settle_all_but_last(service, v.uid)
    question = service.visit_date_question(v.uid, FORMS[-1], today=TODAY)
    assert question is not None and (question.suggested, question.why) == (TODAY, "today")
    service.mark_not_done(v.uid, FORMS[-1], "Not performed at this visit", today=TODAY)
    assert Visit.get_by_id(v.id).done_on == TODAY


def test_the_visits_own_dated_records_decide_the_suggestion(session: Session) -> None:
    patient = make_patient(session)
    with session.tracker.transaction("test visit") as w:
        v = w.insert(Visit, patient=patient.__data__["id"], visit_key="baseline",
                     name="Baseline", planned_on=TARGET, window_start=WINDOW[0],
                     window_end=WINDOW[1], state="planned")
    service = FormService(session)
    service.save_lab(v.uid, "alt", 30, "U/L", uln=40, sampled_on=date(2026, 1, 21),
                     today=TODAY)
    suggested, why = VisitService(session).suggested_visit_date(v.uid, today=TODAY)
    assert (suggested, why) == (date(2026, 1, 21), "the date of the visit's own records")


def test_no_question_while_other_forms_are_open_or_the_visit_is_settled(
        session: Session) -> None:
    patient = make_patient(session)
    v = visit(session, patient)
    service = FormService(session)
    assert service.visit_date_question(v.uid, FORMS[-1], today=TODAY) is None
    settle_all_but_last(service, v.uid)
    assert service.visit_date_question(v.uid, FORMS[-1], today=TODAY) is not None
    service.mark_not_done(v.uid, FORMS[-1], "Patient refused", today=TODAY,
                          visit_date=TARGET)
    assert service.visit_date_question(v.uid, FORMS[-1], today=TODAY) is None


def test_a_visit_date_after_today_is_refused_and_nothing_changes(session: Session) -> None:
    patient = make_patient(session)
    v = visit(session, patient)
    service = FormService(session)
    settle_all_but_last(service, v.uid)
    with pytest.raises(ServiceError, match="after today"):
        service.mark_not_done(v.uid, FORMS[-1], "Patient refused", today=TODAY,
                              visit_date=date(2026, 3, 15))
    assert Visit.get_by_id(v.id).state == "planned"
    assert service.visit_forms(v.uid).forms[-1].state == "not_started"

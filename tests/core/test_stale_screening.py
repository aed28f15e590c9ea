"""The screening service refuses a save that would delete a lab value or a judgement someone
else added after the form was filled (issue 13): the form never showed it, so saving what
the form shows would remove it unseen. Without versions sent (no form: the command line
does not edit screenings; imports write their own) nothing changes."""

from __future__ import annotations

import pytest

from gisttracker.services.base import StaleRecordError
from gisttracker.services.patients import PatientService, ScreeningData
from gisttracker.services.policy import trusted_actor
from gisttracker.services.scopes import screening_versions
from gisttracker.session import Session
from tests.core.patients_helpers import TODAY, good_data, new_patient, set_site

STUDY = "NCT04933669"


def _shown(service: PatientService) -> ScreeningData:
    """What Nora's form holds: an ECOG 3 patient (ineligible for it), without an ALT value
    and with the first judgement not ticked."""
    data = good_data(service.study(STUDY))
    data.values["ecog"] = 3
    del data.labs["alt"]
    first = sorted(data.judgements)[0]
    data.judgements[first] = None
    return data


def _as(session: Session, who: str) -> None:
    session.tracker.sign_in(trusted_actor(who))


def _stored(service: PatientService, uid: str) -> ScreeningData:
    latest = service.latest_screening(uid)
    assert latest is not None
    return service.screening_data(latest)


@pytest.mark.parametrize("what", ["lab", "judgement"])
def test_a_save_over_a_record_added_meanwhile_is_refused(session: Session, what: str) -> None:
    set_site(session)
    _as(session, "nora")
    service = PatientService(session)
    patient = new_patient(service, STUDY)
    shown = _shown(service)
    service.save_screening(patient.uid, shown, today=TODAY)
    versions = screening_versions(session.db, patient.uid)

    # li.wei adds the ALT value, or ticks the judgement; the outcome stays "ineligible"
    # (ECOG 3), so the screening row itself does not change.
    _as(session, "li.wei")
    his = _shown(service)
    if what == "lab":
        his.labs["alt"] = good_data(service.study(STUDY)).labs["alt"]
    else:
        his.judgements = dict(good_data(service.study(STUDY)).judgements)
    service.save_screening(patient.uid, his, today=TODAY)
    before = _stored(service, patient.uid)

    _as(session, "nora")
    mine = _shown(service)
    mine.values["ecog"] = 1
    with pytest.raises(StaleRecordError) as refused, session.tracker.expect(versions):
        service.save_screening(patient.uid, mine, today=TODAY)
    table = ("Laboratory result" if what == "lab"
             else "Screening criterion judged by the investigator")
    assert f"{table}: a record was added by someone else" in str(refused.value)
    assert "li.wei added it" in str(refused.value)
    after = _stored(service, patient.uid)
    assert after == before and after.values["ecog"] == 3  # nothing written

    # With the versions of what is stored now (the form reloaded), the save goes through.
    with session.tracker.expect(screening_versions(session.db, patient.uid)):
        service.save_screening(patient.uid, mine, today=TODAY)
    assert _stored(service, patient.uid).values["ecog"] == 1


def test_without_versions_a_save_is_not_checked(session: Session) -> None:
    set_site(session)
    _as(session, "nora")
    service = PatientService(session)
    patient = new_patient(service, STUDY)
    service.save_screening(patient.uid, _shown(service), today=TODAY)
    full = good_data(service.study(STUDY))
    full.values["ecog"] = 3
    service.save_screening(patient.uid, full, today=TODAY)
    service.save_screening(patient.uid, _shown(service), today=TODAY)  # no form, no check
    assert "alt" not in _stored(service, patient.uid).labs

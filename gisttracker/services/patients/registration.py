"""Registering a patient and correcting identity and sex."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from gisttracker.i18n import _
from gisttracker.services.base import ServiceError, Writer
from gisttracker.services.claims import claim
from gisttracker.services.patients.base import PatientServiceBase
from gisttracker.services.patients.values import Identity, _text
from gisttracker.services.settings import SPECS
from gisttracker.store.models import new_uid
from gisttracker.store.models_patients import (
    Patient,
    PatientIdentity,
    Screening,
)


def _first_recorded_date(patient_id: int) -> tuple[date, str] | None:
    """The earliest clinical date recorded for a patient (screening, consent, visit done)."""
    from gisttracker.services.common import as_date
    from gisttracker.store.models_visits import Visit

    found: list[tuple[date, str]] = []
    for s in Screening.select(Screening.screened_on, Screening.consent_date).where(
            Screening.patient == patient_id):
        for value, what in ((s.screened_on, _("screening")), (s.consent_date, _("consent"))):
            day = as_date(value)
            if day is not None:
                found.append((day, what))
    first_visit = (Visit.select(Visit.done_on).where((Visit.patient == patient_id)
                                                    & Visit.done_on.is_null(False))
                   .order_by(Visit.done_on).first())
    if first_visit is not None and as_date(first_visit.done_on) is not None:
        found.append((as_date(first_visit.done_on) or date.max, _("visit")))
    return min(found) if found else None


def _numbered(site: str, last: int | None) -> dict[str, Any]:
    """The sequence number and study identifier after ``last`` at ``site``."""
    seq = int(last or 0) + 1
    return {"seq": seq, "study_id": f"{site}-{seq:04d}"}


# The site code setting (its default when unset) and the last sequence number taken under
# it, in one statement (positive numbers only: a server's provisional ones are negative).
# The setting is looked up twice (by its unique key; one statement sees one state of it)
# rather than read from a derived table, which SQLite would scan. The last number is the
# first entry of a backward walk of the (site_code, seq) index: PostgreSQL planned
# ``max(seq)`` with a site code that comes from a sub-query as an aggregate over every
# entry of the site (0.3 ms at 1,000 patients, growing with each one), not as that one step.
_SITE = "coalesce((SELECT value FROM setting WHERE key = ?), ?)"
_NEXT_NUMBER = (f"SELECT {_SITE}, (SELECT seq FROM patient WHERE site_code = {_SITE} "
                "AND seq > 0 ORDER BY seq DESC LIMIT 1)")
_NEXT_NUMBER_PARAMS = ("site_code", SPECS["site_code"].default) * 2


def _settled_number(row: Sequence[Any]) -> dict[str, Any]:
    """The site code, sequence number and study identifier of :data:`_NEXT_NUMBER`'s row."""
    return {"site_code": row[0], **_numbered(row[0], row[1])}


class RegistrationMixin(PatientServiceBase):
    """Registration and corrections of identity and sex."""

    def next_study_id(self) -> tuple[str, int, str]:
        """(site code, sequence number, study identifier) of the next patient registered
        here, as of now (one statement: the site code setting and the last number)."""
        site, last = self.tracker.db.execute_sql(
            _NEXT_NUMBER, _NEXT_NUMBER_PARAMS).fetchone()
        numbered = _numbered(site, last)
        return site, numbered["seq"], numbered["study_id"]

    def _check_identity(self, identity: Identity, today: date,
                        editing: int | None = None) -> None:
        dob = identity.date_of_birth
        if dob is not None:
            if not isinstance(dob, date):
                raise ServiceError(_("Date of birth: expected a date"))
            if dob > today:
                raise ServiceError(_("Date of birth {dob} is in the future").format(
                    dob=dob.isoformat()))
            if dob.year < today.year - 120:
                raise ServiceError(_("Date of birth {dob} is more than 120 years ago").format(
                    dob=dob.isoformat()))
            if editing is not None:
                # Nothing already recorded for the patient may come before their birth.
                first = _first_recorded_date(editing)
                if first is not None and first[0] < dob:
                    raise ServiceError(_(
                        "Date of birth {dob} is after the {what} recorded on {date}").format(
                        dob=dob.isoformat(), what=first[1], date=first[0].isoformat()))
        initials = _text(identity.initials)
        if initials is not None and len(initials) > 10:
            raise ServiceError(_("Initials: at most 10 characters"))
        if not any(_text(x) for x in (identity.record_number, identity.name, initials)):
            raise ServiceError(_(
                "Identity: give at least a record number, a name or initials, so the "
                "patient can be found again"))
        # The record number's clash is checked where it is written (_claim_record_number).

    @staticmethod
    def _claim_record_number(w: Writer, identity: Identity,
                             editing: int | None = None) -> None:
        """Refuse a record number another patient has, inside the transaction that writes
        it, after its claim (:mod:`~gisttracker.services.claims`): two workstations
        registering the same number at once cannot both see it free. Every write of a
        record number typed at this site comes here (registration, corrections).

        Not a unique index: a centre holds several sites' patients, whose hospitals number
        their records independently (the same number at two sites is two people), and
        files made before may already hold a number twice (demo data, imports). The rule
        is the site's, for what its people type: patients received in another site's
        package (their rows in ``exchange_base``) are not compared.
        """
        number = _text(identity.record_number)
        if not number:
            return
        claim(w, "record_number", number)
        clash = w.db.execute_sql(
            "SELECT i.patient_id, p.study_id FROM patient_identity i "
            "JOIN patient p ON p.id = i.patient_id WHERE i.record_number = ? "
            "AND i.patient_id <> ? "
            "AND NOT EXISTS (SELECT 1 FROM exchange_base b WHERE b.record_uid = p.uid) "
            "ORDER BY i.id LIMIT 1", (number, 0 if editing is None else editing)).fetchone()
        if clash is not None:
            raise ServiceError(_("Record number {number} is already registered as {pid}")
                               .format(number=number, pid=clash[1]))

    def register(self, study_key: str, *, sex: str | None, identity: Identity,
                 today: date) -> Patient:
        """A new patient of ``study_key`` with the next study identifier (e.g. ZJU-0007)."""
        self.study(study_key)
        if sex not in ("male", "female"):
            raise ServiceError(_("Sex: choose male or female"))
        self._check_identity(identity, today)
        uid = new_uid()
        # On a server both rows take ids reserved with the BEGIN and are written with the
        # commit (Writer.insert_at_commit): one round trip instead of three.
        with self.tracker.transaction(_("patient registered"),
                                      reserve=("patient", "patient_identity")) as w:
            self._claim_record_number(w, identity)
            if w.late:
                # On a server the site code and the next number are read at the commit,
                # under the chain lock (Writer.at_settle), in the round trip that reads the
                # chain's head, so workstations registering at once overlap the rest; until
                # then the record holds provisional values that nobody else sees (and that
                # a deferred row never stores: its INSERT carries the final ones).
                site, seq, study_id = "", -1 - int(uid[:15], 16), uid
            else:
                site, seq, study_id = self.next_study_id()
            patient = w.insert_at_commit(
                Patient, patient_uid=uid, uid=uid, study_key=study_key, study_id=study_id,
                site_code=site, seq=seq, sex=sex, status="screened", created_on=today)
            if w.late:
                w.at_settle(patient, _NEXT_NUMBER, _NEXT_NUMBER_PARAMS, _settled_number)
            w.insert_at_commit(
                PatientIdentity, patient_uid=patient.uid, patient=patient,
                record_number=_text(identity.record_number), name=_text(identity.name),
                initials=_text(identity.initials), date_of_birth=identity.date_of_birth)
        return patient

    def update_identity(self, ref: str, identity: Identity, *, today: date,
                        reason: str | None = None) -> list[str]:
        """Change personal identifiers; returns the fields that changed."""
        patient = self.get(ref)
        self._check_identity(identity, today, editing=patient.id)
        row = PatientIdentity.get_or_none(PatientIdentity.patient == patient)
        values: dict[str, Any] = {
            "record_number": _text(identity.record_number), "name": _text(identity.name),
                  "initials": _text(identity.initials), "date_of_birth": identity.date_of_birth}
        with self.tracker.transaction(reason or _("identity corrected")) as w:
            self._claim_record_number(w, identity, patient.id)
            if row is None:
                w.insert(PatientIdentity, patient_uid=patient.uid, patient=patient, **values)
                return [k for k, v in values.items() if v is not None]
            return w.update(row, values, patient_uid=patient.uid)

    def update_sex(self, ref: str, sex: str, *, reason: str | None = None) -> None:
        if sex not in ("male", "female"):
            raise ServiceError(_("Sex: choose male or female"))
        patient = self.get(ref)
        with self.tracker.transaction(reason or _("sex corrected")) as w:
            w.update(patient, {"sex": sex}, patient_uid=patient.uid)


    def correct_registration(self, ref: str, *, sex: str, identity: Identity, today: date,
                             reason: str) -> list[str]:
        """Correct what was registered — sex, record number, name, initials, date of birth —
        in one audited change with ``reason``; returns the fields that changed.

        The same checks as at registration hold (a date of birth in the future, after what
        is recorded for the patient, a record number already used…), and nothing is written
        when one fails. The study identifier never changes.
        """
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to correct a registration"))
        if sex not in ("male", "female"):
            raise ServiceError(_("Sex: choose male or female"))
        patient = self.get(ref)
        self._check_identity(identity, today, editing=patient.id)
        changed: list[str] = []
        with self.tracker.transaction(reason.strip()):
            changed += self.update_identity(patient.uid, identity, today=today,
                                            reason=reason.strip())
            if patient.sex != sex:
                self.update_sex(patient.uid, sex, reason=reason.strip())
                changed.append("sex")
        return changed

"""The part of the patient service every other part stands on: the session, the
patient by uid or study identifier, the study by key, raw read queries.
"""

from __future__ import annotations

from typing import Any

from gisttracker.protocols import Study
from gisttracker.services.base import ServiceError
from gisttracker.services.common import find_patient
from gisttracker.session import Session
from gisttracker.store.models_patients import (
    Patient,
    PatientIdentity,
)


class PatientServiceBase:
    """The patient and study look-ups every part of the patient service uses."""


    def __init__(self, session: Session) -> None:
        self.session = session
        self.tracker = session.tracker

    def study(self, key: str) -> Study:
        try:
            return self.session.study(key)
        except KeyError as exc:
            raise ServiceError(str(exc.args[0])) from None

    def get(self, ref: str) -> Patient:
        """The patient with uid or study identifier ``ref``; ServiceError if none."""
        return find_patient(ref)

    def identity(self, ref: str) -> PatientIdentity | None:
        return PatientIdentity.get_or_none(PatientIdentity.patient == self.get(ref))


    def _sql(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cursor = self.session.db.execute_sql(sql, params)
        return list(cursor.fetchall())


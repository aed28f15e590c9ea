"""Accrual and the screening log of a study (the numbers the reports start from)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from gisttracker.domain import eligibility
from gisttracker.services.patients.base import PatientServiceBase
from gisttracker.services.patients.values import ENROLLED_STATUSES, Accrual, LogEntry, ScreeningLog
from gisttracker.store.models_patients import (
    Patient,
)


class ReportingMixin(PatientServiceBase):
    """Accrual and the screening log."""

    def accrual(self, study_key: str) -> Accrual:
        """Enrolled versus target, per arm and per month of enrollment."""
        study = self.study(study_key)
        by_arm = {a.code: 0 for a in study.arms}
        statuses = ",".join("?" * len(ENROLLED_STATUSES))
        where = f"WHERE study_key = ? AND status IN ({statuses})"
        params = [study_key, *ENROLLED_STATUSES]
        for code, n in self._sql(
                f"SELECT arm_code, count(*) FROM patient {where} GROUP BY arm_code", params):
            by_arm[code or "—"] = int(n)
        by_month = [(str(m), int(n)) for m, n in self._sql(
            f"SELECT substr(enrolled_on, 1, 7) AS m, count(*) FROM patient {where} "
            "GROUP BY m ORDER BY m", params)]
        return Accrual(study_key, study.target_enrollment, sum(by_arm.values()), by_arm,
                       by_month)

    def screening_log(self, study_key: str) -> ScreeningLog:
        """Every screening episode of the study with its outcome and reasons, and counts.

        The reasons are in the installed language (:func:`eligibility.reason_text`), each
        with its criterion id ("" for a reason typed by the investigator).

        ``failures_by_criterion`` counts the patients who are screen failures by the criteria
        of their last failed screening (a patient failing two criteria counts under both;
        "other" for a stated reason). A patient re-screened since is not counted.
        """
        study = self.study(study_key)
        rows = self._sql(
            "SELECT s.id, s.screened_on, s.outcome, s.reasons, s.closed, p.study_id, p.status, "
            "p.id FROM screening s JOIN patient p ON p.id = s.patient_id WHERE p.study_key = ? "
            "ORDER BY p.study_id, s.id", [study_key])
        entries = []
        failures: dict[str, int] = {}
        patients: set[int] = set()
        eligible: set[int] = set()
        latest_closed_failure: dict[int, list[dict[str, Any]]] = {}
        for sid, on, outcome, reasons, closed, pid, status, patient_id in rows:
            parsed = json.loads(reasons or "[]")
            patients.add(patient_id)
            if outcome == eligibility.ELIGIBLE:
                eligible.add(patient_id)
            if closed and status == "screen_failed":
                latest_closed_failure[patient_id] = parsed  # the failure that stands
            # Each reason in the reader's language (its stored text when it has no message).
            entries.append(LogEntry(pid, sid, date.fromisoformat(str(on)), outcome, status,
                                    tuple((r.get("criterion") or "",
                                           eligibility.reason_text(r, study))
                                          for r in parsed)))
        failed = (Patient.select().where((Patient.study_key == study_key)
                                         & (Patient.status == "screen_failed")).count())
        for parsed in latest_closed_failure.values():
            for criterion in {r.get("criterion") or "other" for r in parsed}:
                failures[criterion] = failures.get(criterion, 0) + 1
        enrolled = (Patient.select().where((Patient.study_key == study_key)
                                           & (Patient.status.in_(ENROLLED_STATUSES))).count())
        return ScreeningLog(study_key, tuple(entries), len(patients), len(eligible), failed,
                            enrolled, dict(sorted(failures.items())))


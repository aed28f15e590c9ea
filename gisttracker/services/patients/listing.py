"""The patient list: filtered, sorted pages in SQL, never all rows; the window title."""

from __future__ import annotations

from datetime import date
from typing import Any

from gisttracker.i18n import _
from gisttracker.services.base import ServiceError
from gisttracker.services.patients.base import PatientServiceBase
from gisttracker.services.patients.values import (
    _SORT_COLUMNS,
    STATUS_LABELS,
    PatientFilter,
    PatientRow,
)


class ListingMixin(PatientServiceBase):
    """The patient list and the patient window's title."""

    def count(self, flt: PatientFilter) -> int:
        """How many patients match ``flt`` (one indexed query)."""
        where, params = _where(flt)
        return int(self._sql(f"SELECT count(*) FROM patient p {where}", params)[0][0])

    def page(self, flt: PatientFilter, sort: str = "patient", *, descending: bool = False,
             offset: int = 0, limit: int = 200) -> list[PatientRow]:
        """Rows ``offset`` … ``offset + limit`` of the list, sorted in SQL (never all rows)."""
        column = _SORT_COLUMNS.get(sort)
        if column is None:
            raise ServiceError(_("cannot sort by {key!r}").format(key=sort))
        where, params = _where(flt)
        direction = "DESC" if descending else "ASC"
        order = f"{column} {direction}" + ("" if sort == "patient" else f", p.study_id {direction}")
        sql = (f"SELECT p.uid, p.study_id, p.study_key, p.arm_code, p.status, p.enrolled_on, "
               f"p.randomization_number, p.sex FROM patient p {where} ORDER BY {order} "
               f"LIMIT ? OFFSET ?")
        return [PatientRow(uid, sid, key, arm, status,
                           date.fromisoformat(on) if on else None, number, sex)
                for uid, sid, key, arm, status, on, number, sex
                in self._sql(sql, [*params, int(limit), int(offset)])]

    def header(self, ref: str) -> str:
        """The patient window's title: study id, study, arm, status."""
        p = self.get(ref)
        arm = p.arm_code or "—"
        if p.arm_option:
            arm += f" ({p.arm_option})"
        return _("{patient} · {study} · arm {arm} · {status}").format(
            patient=p.study_id, study=p.study_key, arm=arm,
            status=_(STATUS_LABELS.get(p.status, p.status)))



def _prefix_bounds(text: str) -> tuple[str, str]:
    """``[low, high)`` of every string starting with ``text`` (index range, not LIKE)."""
    return text, text + "\U0010ffff"


def _where(flt: PatientFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.study_key:
        clauses.append("p.study_key = ?")
        params.append(flt.study_key)
    if flt.arm_code:
        clauses.append("p.arm_code = ?")
        params.append(flt.arm_code)
    if flt.status:
        clauses.append("p.status = ?")
        params.append(flt.status)
    text = flt.text.strip()
    if text:
        low, high = _prefix_bounds(text.upper())
        # The identity table is joined only for this search, through its own indexes.
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(
            "(p.study_id >= ? AND p.study_id < ? OR p.id IN ("
            "SELECT patient_id FROM patient_identity WHERE record_number >= ? "
            "AND record_number < ? UNION SELECT patient_id FROM patient_identity "
            "WHERE name LIKE ? ESCAPE '\\' UNION SELECT patient_id FROM patient_identity "
            "WHERE initials LIKE ? ESCAPE '\\'))")
        rlow, rhigh = _prefix_bounds(text)
        params += [low, high, rlow, rhigh, escaped + "%", escaped + "%"]
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params



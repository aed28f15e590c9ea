"""The patient list: how many patients match a filter, and a window of them sorted in SQL.

Kept apart from :mod:`gisttracker.services.patients` (screening, enrollment, identities)
because the patient list is the window's first screen: importing this module costs next to
nothing, while the screening and enrollment rules behind the patient service take 25 ms
that start-up need not wait for. Reads only; names no personal identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from gisttracker.i18n import N_, _
from gisttracker.services.guard import service

if TYPE_CHECKING:
    from gisttracker.session import Session

__all__ = ["STATUS_LABELS", "PatientFilter", "PatientList", "PatientRow", "SortKey"]

STATUS_LABELS: Final[Mapping[str, str]] = {
    "screened": N_("screened"),
    "screen_failed": N_("screen failed"),
    "enrolled": N_("enrolled"),
    "withdrawn": N_("withdrawn"),
    "lost_to_follow_up": N_("lost to follow-up"),
    "died": N_("died"),
    "completed": N_("completed"),
}


class PatientRow(NamedTuple):
    """One row of the patient list (no personal identifiers); a tuple: cheap by the 100."""

    uid: str
    patient: str
    study_key: str
    arm_code: str | None
    status: str
    enrolled_on: date | None
    randomization_number: str | None
    sex: str | None


@dataclass(frozen=True)
class PatientFilter:
    """Filters of the patient list. ``text`` searches study ids (prefix), record numbers,
    names and initials (prefix, case-insensitive)."""

    text: str = ""
    study_key: str | None = None
    arm_code: str | None = None
    status: str | None = None


SortKey = Literal["patient", "study", "arm", "status", "enrolled_on", "randomization_number"]
_SORT_COLUMNS: Final[Mapping[str, str]] = {
    "patient": "p.study_id", "study": "p.study_key", "arm": "p.arm_code", "status": "p.status",
    "enrolled_on": "p.enrolled_on", "randomization_number": "p.randomization_number",
}


@service
class PatientList:
    """The list's queries on the open site (each one indexed statement); its methods are
    guarded entry points like every facade's (:func:`gisttracker.services.guard.service`)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def count(self, flt: PatientFilter) -> int:
        """How many patients match ``flt`` (one indexed query)."""
        where, params = _where(flt, self._server())
        return int(self._sql(f"SELECT count(*) FROM patient p {where}", params)[0][0])

    def page(self, flt: PatientFilter, sort: str = "patient", *, descending: bool = False,
             offset: int = 0, limit: int = 200, after: str | None = None) -> list[PatientRow]:
        """Rows ``offset`` … ``offset + limit`` of the list, sorted in SQL (never all rows).

        ``after`` (a study id, list sorted by patient) pages by key instead of by offset:
        the rows that follow it, found through the index, however deep in the list."""
        column = _SORT_COLUMNS.get(sort)
        if column is None or (after is not None and sort != "patient"):
            from gisttracker.services.base import ServiceError

            raise ServiceError(_("cannot sort by {key!r}").format(key=sort))
        where, params = _where(flt, self._server())
        if after is not None:
            where = f"{where} AND" if where else "WHERE"
            where += " p.study_id < ?" if descending else " p.study_id > ?"
            params.append(after)
        direction = "DESC" if descending else "ASC"
        order = f"{column} {direction}" + ("" if sort == "patient" else f", p.study_id {direction}")
        sql = (f"SELECT p.uid, p.study_id, p.study_key, p.arm_code, p.status, p.enrolled_on, "
               f"p.randomization_number, p.sex FROM patient p {where} ORDER BY {order} "
               f"LIMIT ? OFFSET ?")
        return [PatientRow(uid, sid, key, arm, status,
                           date.fromisoformat(on) if on else None, number, sex)
                for uid, sid, key, arm, status, on, number, sex
                in self._sql(sql, [*params, int(limit), int(offset)])]

    def _server(self) -> bool:
        from gisttracker.store.server import is_server_db

        return is_server_db(self.session.db)

    def _sql(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cursor = self.session.db.execute_sql(sql, params)
        return list(cursor.fetchall())


def _prefix_bounds(text: str) -> tuple[str, str]:
    """``[low, high)`` of every string starting with ``text`` (index range, not LIKE)."""
    return text, text + "\U0010ffff"


def _where(flt: PatientFilter, server: bool = False) -> tuple[str, list[Any]]:
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
        rlow, rhigh = _prefix_bounds(text)
        if server:
            # A server: every part through its index (an OR with a sub-query would read the
            # whole patient table), and names by ``lower(…) LIKE`` (operator ``~~``, which
            # the server's LIKE-to-ILIKE translation leaves alone) over the
            # ``text_pattern_ops`` indexes of schema 12; no b-tree serves ILIKE. A
            # backslash escapes, as in the ESCAPE clause on SQLite.
            clauses.append(
                "p.id IN (SELECT id FROM patient WHERE study_id >= ? AND study_id < ? "
                "UNION SELECT patient_id FROM patient_identity WHERE record_number >= ? "
                "AND record_number < ? UNION SELECT patient_id FROM patient_identity "
                "WHERE lower(name) ~~ lower(?) UNION SELECT patient_id FROM "
                "patient_identity WHERE lower(initials) ~~ lower(?))")
        else:
            clauses.append(
                "(p.study_id >= ? AND p.study_id < ? OR p.id IN ("
                "SELECT patient_id FROM patient_identity WHERE record_number >= ? "
                "AND record_number < ? UNION SELECT patient_id FROM patient_identity "
                "WHERE name LIKE ? ESCAPE '\\' UNION SELECT patient_id FROM patient_identity "
                "WHERE initials LIKE ? ESCAPE '\\'))")
        params += [low, high, rlow, rhigh, escaped + "%", escaped + "%"]
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

"""What a visit, a form or a casebook covers: the records under a signature, a source
verification or a form on screen, with their versions.

A form the window shows passes these versions to :meth:`Tracker.expect` when it saves, so a
save based on what someone else has changed since is refused instead of overwriting it.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from gisttracker.i18n import N_, _
from gisttracker.services.base import ServiceError, Tracker
from gisttracker.services.common import find_patient

SCOPES = ("casebook", "visit", "form")
SCOPE_LABELS = {"casebook": N_("casebook"), "visit": N_("visit"), "form": N_("form")}

# Rows that hang off a visit directly (visit_id), and their own children.
_VISIT_CHILDREN = ("form", "lab_result", "adverse_event", "tumour_assessment")
_GRANDCHILDREN = {"form": ("form_value", "form_id"),
                  "tumour_assessment": ("lesion_measurement", "assessment_id")}


@dataclass(frozen=True)
class Target:
    """A resolved scope target: what it is, its uid, its patient's uid and study id."""

    scope: str
    uid: str
    patient_uid: str
    patient: str  # study identifier
    label: str


def resolve(db: peewee.Database, scope: str, ref: str) -> Target:
    """The casebook of patient ``ref`` (study id or uid), or the visit / form with uid
    ``ref``; ServiceError if there is none."""
    if scope == "casebook":
        p = find_patient(ref)
        return Target(scope, str(p.uid), str(p.uid), str(p.study_id),
                      _("casebook of {patient}").format(patient=p.study_id))
    if scope == "visit":
        row = db.execute_sql(
            "SELECT v.uid, p.uid, p.study_id, v.name FROM visit v "
            "JOIN patient p ON p.id = v.patient_id WHERE v.uid = ?", (ref,)).fetchone()
        if row is None:
            raise ServiceError(_("no visit {uid!r}").format(uid=ref))
        return Target(scope, row[0], row[1], row[2],
                      _("{patient}, visit {visit}").format(patient=row[2], visit=row[3]))
    if scope == "form":
        row = db.execute_sql(
            "SELECT f.uid, p.uid, p.study_id, v.name, f.kind FROM form f "
            "JOIN visit v ON v.id = f.visit_id JOIN patient p ON p.id = v.patient_id "
            "WHERE f.uid = ?", (ref,)).fetchone()
        if row is None:
            raise ServiceError(_("no form {uid!r}").format(uid=ref))
        return Target(scope, row[0], row[1], row[2],
                      _("{patient}, visit {visit}, form {form}").format(
                          patient=row[2], visit=row[3], form=row[4]))
    raise ServiceError(_("unknown scope {scope!r} (casebook, visit or form)").format(
        scope=scope))


def versions(db: peewee.Database, scope: str, target_uid: str) -> dict[str, int]:
    """uid → version of every record a visit or a form covers (a casebook: the patient's
    clinical records that carry the patient directly, plus visits' children)."""
    out: dict[str, int] = {}

    def add(sql: str, params: tuple[object, ...]) -> list[int]:
        ids = []
        for rid, uid, version in db.execute_sql(sql, params).fetchall():
            out[str(uid)] = int(version)
            ids.append(int(rid))
        return ids

    def visit_tree(visit_ids: list[int]) -> None:
        for visit_id in visit_ids:
            for table in _VISIT_CHILDREN:
                ids = add(f'SELECT id, uid, version FROM "{table}" WHERE visit_id = ?',
                          (visit_id,))
                child = _GRANDCHILDREN.get(table)
                for rid in ids if child else []:
                    assert child is not None
                    add(f'SELECT id, uid, version FROM "{child[0]}" WHERE "{child[1]}" = ?',
                        (rid,))

    if scope == "form":
        ids = add("SELECT id, uid, version FROM form WHERE uid = ?", (target_uid,))
        for rid in ids:
            add("SELECT id, uid, version FROM form_value WHERE form_id = ?", (rid,))
    elif scope == "visit":
        visit_tree(add("SELECT id, uid, version FROM visit WHERE uid = ?", (target_uid,)))
    elif scope == "casebook":
        pid = add("SELECT id, uid, version FROM patient WHERE uid = ?", (target_uid,))
        for patient_id in pid:
            for table in ("patient_identity", "screening", "lab_result", "anchor_date",
                          "adverse_event", "tumour_assessment", "treatment_exposure",
                          "surgery", "pathology", "course_event"):
                add(f'SELECT id, uid, version FROM "{table}" WHERE patient_id = ?',
                    (patient_id,))
            visit_tree(add("SELECT id, uid, version FROM visit WHERE patient_id = ?",
                           (patient_id,)))
    else:
        raise ServiceError(_("unknown scope {scope!r} (casebook, visit or form)").format(
            scope=scope))
    return out


def screening_versions(db: peewee.Database, patient_uid: str) -> dict[str, int]:
    """uid → version of the patient row, its latest screening, and that screening's labs
    and judgements: what the screening form shows."""
    out: dict[str, int] = {}
    row = db.execute_sql("SELECT id, uid, version FROM patient WHERE uid = ?",
                         (patient_uid,)).fetchone()
    if row is None:
        return out
    out[row[1]] = int(row[2])
    screening = db.execute_sql("SELECT id, uid, version FROM screening WHERE patient_id = ? "
                               "ORDER BY id DESC LIMIT 1", (row[0],)).fetchone()
    if screening is not None:
        out[screening[1]] = int(screening[2])
        for table in ("lab_result", "screening_judgement"):
            for uid, version in db.execute_sql(
                    f'SELECT uid, version FROM "{table}" WHERE screening_id = ?',
                    (screening[0],)).fetchall():
                out[str(uid)] = int(version)
    return out


def _add_rows(db: peewee.Database, out: dict[str, int], sql: str,
              params: tuple[object, ...]) -> None:
    for uid, version in db.execute_sql(sql, params).fetchall():
        out[str(uid)] = int(version)


def tumour_versions(db: peewee.Database, patient_uid: str) -> dict[str, dict[str, int]]:
    """assessment uid → uid → version of that tumour assessment and of its lesion
    measurements: what the tumour assessments tab's editor shows of one assessment.

    Read this *before* the data it goes with: a change landing between the two reads then
    makes the next save refuse (the versions are older than what is shown), never pass over
    a change the form did not show."""
    out: dict[str, dict[str, int]] = {}
    for uid, version in db.execute_sql(
            "SELECT a.uid, a.version FROM tumour_assessment a JOIN patient p "
            "ON p.id = a.patient_id WHERE p.uid = ?", (patient_uid,)).fetchall():
        out[str(uid)] = {str(uid): int(version)}
    for parent, uid, version in db.execute_sql(
            "SELECT a.uid, m.uid, m.version FROM lesion_measurement m "
            "JOIN tumour_assessment a ON a.id = m.assessment_id JOIN patient p "
            "ON p.id = a.patient_id WHERE p.uid = ?", (patient_uid,)).fetchall():
        out.setdefault(str(parent), {})[str(uid)] = int(version)
    return out


def course_versions(db: peewee.Database, patient_uid: str) -> dict[str, int]:
    """uid → version of the patient's treatment exposures and their interruptions, surgery,
    pathology reports and course events: what the treatment-and-course tab edits. Read it
    before the data, as :func:`tumour_versions` says."""
    out: dict[str, int] = {}
    for table in ("treatment_exposure", "surgery", "pathology", "course_event"):
        _add_rows(db, out, f'SELECT r.uid, r.version FROM "{table}" r JOIN patient p '
                  "ON p.id = r.patient_id WHERE p.uid = ?", (patient_uid,))
    _add_rows(db, out, "SELECT i.uid, i.version FROM treatment_interruption i "
              "JOIN treatment_exposure e ON e.id = i.exposure_id JOIN patient p "
              "ON p.id = e.patient_id WHERE p.uid = ?", (patient_uid,))
    return out


def refuse_unseen(tracker: Tracker, table: str, column: str, parent_id: int,
                  parent_uid: str) -> None:
    """Inside a write transaction: refuse (:class:`StaleRecordError`) when the caller sent
    the versions its form showed of record ``parent_uid`` (:meth:`Tracker.expect`) and
    ``table`` holds a row of that parent the form did not show (added by someone else since
    it loaded). A save that rewrites a parent's children (an assessment's lesions) would
    otherwise delete that row without anyone having seen it. Without versions sent (a
    command, an import) nothing is checked."""
    expected = tracker.expected_versions()
    if parent_uid not in expected:
        return
    for uid, version in tracker.db.execute_sql(
            f'SELECT uid, version FROM "{table}" WHERE "{column}" = ? ORDER BY id',
            (parent_id,)).fetchall():
        if str(uid) not in expected:
            raise tracker.stale_error(table, str(uid), None, int(version))

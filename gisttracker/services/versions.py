"""Versions travel with the data: the protocol and form definitions values were captured under.

Protocol versions. A protocol version is the text of a study's protocol file, identified by
its SHA-256 (:attr:`gisttracker.protocols.model.Study.digest`). The first time a text is
used at the site it is stored (``protocol_version``: key, digest, file name, the full text,
first seen), and the study's version *in force* (``study_protocol``) points at it. Each
patient records the version they were enrolled under (``patient.protocol_version_id``);
patients enrolled before versions were kept get the version in force when the upgraded
database is first opened (:func:`register_protocols`, audited with a reason saying so).

A protocol file that would orphan data already recorded is refused when the session opens
with the site's database (the loader alone cannot know): visits planned or done under a
visit key the file no longer defines, patients in an arm it removed or with an arm option it
removed, anchor dates of an anchor it removed, judgements of a criterion it removed, values
of a laboratory test it no longer records, and a change of the randomization design (arms,
ratio, block sizes, strata) after patients were randomized (it would change every later
allocation). The study is then blocked like a refused file, with the list of what would be
orphaned, and the version in force stays as it was. The check runs only when the file's
text differs from the version in force, so an unchanged site opens without it.

Form versions. A form records the form definition (:meth:`gisttracker.forms.FormSpec.digest`)
its answers were last saved under (``form.form_version_id``), the definition itself stored
once (``form_version``); a change of version is audited like any change of the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import peewee

from gisttracker.errors import InputError
from gisttracker.i18n import _, ngettext
from gisttracker.protocols import ProtocolError, Study
from gisttracker.protocols.loader import parse_study
from gisttracker.services.base import Writer
from gisttracker.services.claims import claim
from gisttracker.services.common import pk
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_versions import FormVersion, ProtocolVersion, StudyProtocol

if TYPE_CHECKING:
    from gisttracker.forms import FormSpec

__all__ = [
    "Orphan",
    "form_version_id",
    "orphans",
    "protocol_version_id",
    "register_protocols",
]


@dataclass(frozen=True)
class Orphan:
    """Data recorded under something a protocol file no longer defines."""

    what: str       # "visit", "arm", "arm option", "anchor", "criterion", "lab", "randomization"
    key: str
    count: int
    message: str


def _rows(db: peewee.SqliteDatabase, sql: str, *params: object) -> list[tuple[str, int]]:
    return [(str(k), int(n)) for k, n in db.execute_sql(sql, list(params)).fetchall()
            if k is not None]


def orphans(study: Study, db: peewee.SqliteDatabase,
            in_force: Study | None = None) -> list[Orphan]:
    """What recorded data ``study`` (a protocol file about to be used) would orphan.

    ``in_force``: the version in force until now, when known; a randomized study whose
    allocation design differs from it after patients were randomized is refused too.
    Empty when nothing would be orphaned.
    """
    key = study.key
    found: list[Orphan] = []
    visits = {v.key for v in study.visits}
    for visit_key, n in _rows(db, "SELECT v.visit_key, count(*) FROM visit v JOIN patient p "
                              "ON p.id = v.patient_id WHERE p.study_key = ? AND "
                              "v.visit_key IS NOT NULL GROUP BY v.visit_key", key):
        if visit_key not in visits:
            found.append(Orphan("visit", visit_key, n, ngettext(
                "visit {key!r} is no longer defined, and {n} visit is recorded under it",
                "visit {key!r} is no longer defined, and {n} visits are recorded under it",
                n).format(key=visit_key, n=n)))
    arms = {a.code: a for a in study.arms}
    for arm, n in _rows(db, "SELECT arm_code, count(*) FROM patient WHERE study_key = ? "
                        "AND arm_code IS NOT NULL GROUP BY arm_code", key):
        if arm not in arms:
            found.append(Orphan("arm", arm, n, ngettext(
                "arm {key!r} is no longer defined, and {n} patient is in it",
                "arm {key!r} is no longer defined, and {n} patients are in it",
                n).format(key=arm, n=n)))
    options = {o.code for a in study.arms for o in a.options}
    for option, n in _rows(db, "SELECT arm_option, count(*) FROM patient WHERE study_key = ? "
                           "AND arm_option IS NOT NULL GROUP BY arm_option", key):
        if option not in options:
            found.append(Orphan("arm option", option, n, ngettext(
                "arm option {key!r} is no longer defined, and {n} patient chose it",
                "arm option {key!r} is no longer defined, and {n} patients chose it",
                n).format(key=option, n=n)))
    anchors = {a.key for a in study.anchors}
    for anchor, n in _rows(db, "SELECT a.anchor_key, count(*) FROM anchor_date a JOIN patient p "
                           "ON p.id = a.patient_id WHERE p.study_key = ? GROUP BY a.anchor_key",
                           key):
        if anchor not in anchors:
            found.append(Orphan("anchor", anchor, n, ngettext(
                "anchor {key!r} is no longer defined, and {n} date is recorded for it",
                "anchor {key!r} is no longer defined, and {n} dates are recorded for it",
                n).format(key=anchor, n=n)))
    criteria = {c.id for c in study.criteria}
    for criterion, n in _rows(
            db, "SELECT j.criterion_id, count(*) FROM screening_judgement j JOIN screening s "
            "ON s.id = j.screening_id JOIN patient p ON p.id = s.patient_id "
            "WHERE p.study_key = ? GROUP BY j.criterion_id", key):
        if criterion not in criteria:
            found.append(Orphan("criterion", criterion, n, ngettext(
                "criterion {key!r} is no longer defined, and {n} judgement is recorded for it",
                "criterion {key!r} is no longer defined, and {n} judgements are recorded "
                "for it", n).format(key=criterion, n=n)))
    # The form definitions (50 ms of imports) are loaded for this check, which runs only when
    # a protocol file changed, not at every opening of the site.
    from gisttracker.forms import labs as lab_rules

    for analyte, n in _rows(db, "SELECT l.analyte, count(*) FROM lab_result l JOIN patient p "
                            "ON p.id = l.patient_id WHERE p.study_key = ? GROUP BY l.analyte",
                            key):
        try:
            lab_rules.analyte(analyte, study)
        except (KeyError, InputError):
            found.append(Orphan("lab", analyte, n, ngettext(
                "laboratory value {key!r} is no longer recorded, and {n} value is stored",
                "laboratory value {key!r} is no longer recorded, and {n} values are stored",
                n).format(key=analyte, n=n)))
    randomized = int(db.execute_sql("SELECT count(*) FROM randomization WHERE study_key = ?",
                                    [key]).fetchone()[0])
    if randomized and in_force is not None and _design(in_force) != _design(study):
        found.append(Orphan("randomization", key, randomized, ngettext(
            "the randomization design (arms, ratio, block sizes or strata) changed after "
            "{n} patient was randomized: every later allocation would change",
            "the randomization design (arms, ratio, block sizes or strata) changed after "
            "{n} patients were randomized: every later allocation would change",
            randomized).format(n=randomized)))
    return found


def _design(study: Study) -> tuple[object, ...]:
    a = study.allocation
    return (a.method, tuple(arm.code for arm in study.arms), a.ratio,
            tuple(sorted(a.block_sizes)), tuple(sorted(a.strata)))


def _in_force(study_key: str) -> ProtocolVersion | None:
    row = StudyProtocol.get_or_none(StudyProtocol.study_key == study_key)
    if row is None:
        return None
    version: ProtocolVersion = ProtocolVersion.get_by_id(row.__data__["protocol_version"])
    return version


def _version(w: Writer, study: Study) -> ProtocolVersion:
    row = ProtocolVersion.get_or_none((ProtocolVersion.study_key == study.key)
                                      & (ProtocolVersion.digest == study.digest))
    if row is None:
        row = w.insert(ProtocolVersion, study_key=study.key, digest=study.digest,
                       file_name=study.path, text=study.text, first_seen_at=w.at,
                       reason=_("protocol file {file} first used").format(file=study.path))
    return row


def register_protocols(session: Session) -> dict[str, ProtocolError]:
    """Check each loaded study against the database and record the version in force.

    Returns the studies refused because their file would orphan data (study key -> the
    error listing what), for the caller to block. Otherwise, a study whose file text is new
    becomes the version in force (stored once, audited), and the first time a study gets a
    version in force, its patients enrolled before versions were kept get that one.
    """
    refused: dict[str, ProtocolError] = {}
    for study in list(session.studies.values()):
        current = _in_force(study.key)
        if current is not None and current.digest == study.digest:
            continue  # the usual start: two look-ups, nothing else
        before = None
        if current is not None:
            try:
                before = parse_study(current.text, current.file_name)
            except ProtocolError:
                before = None  # written by an older release: the design check is skipped
        found = orphans(study, session.db, before)
        if found:
            refused[study.key] = ProtocolError(study.path, "(data)", _(
                "this file would orphan data already recorded for study {key}, so it is not "
                "used: {items}. Restore the keys it renamed or removed, or remove the file."
            ).format(key=study.key, items="; ".join(o.message for o in found)),
                study=study.key)
            continue
        with session.tracker.transaction(_("protocol file {file} in force for {key}").format(
                file=study.path, key=study.key)) as w:
            # Again under the study's claim: two workstations starting at once with a new
            # protocol file would otherwise both store it, and the second would fail to
            # open on the unique index.
            claim(w, "protocol", study.key)
            again = _in_force(study.key)
            if again is not None and again.digest == study.digest:
                continue  # put in force meanwhile by another workstation
            version = _version(w, study)
            row = StudyProtocol.get_or_none(StudyProtocol.study_key == study.key)
            if row is None:
                w.insert(StudyProtocol, study_key=study.key, protocol_version=pk(version),
                         since=w.at)
            else:
                w.update(row, {"protocol_version": pk(version), "since": w.at})
        if current is None:
            # The first version in force at this site (the first open after the upgrade to
            # schema 6): patients enrolled before get it. Later patients get theirs when
            # enrolled, so this runs once per study.
            _backfill(session, study, version)
    return refused


def _backfill(session: Session, study: Study, version: ProtocolVersion) -> None:
    """Patients enrolled before protocol versions were kept get the version in force."""
    query = (Patient.select(Patient.id, Patient.uid, Patient.protocol_version_id)
             .where((Patient.study_key == study.key) & Patient.enrolled_on.is_null(False)
                    & Patient.protocol_version_id.is_null()))
    rows = list(query)
    if not rows:
        return
    reason = _("enrolled before protocol versions were kept: given the version in force when "
               "the database was upgraded ({file}, {digest})").format(
        file=version.file_name, digest=version.digest[:12])
    with session.tracker.transaction(reason) as w:
        w.update_many(Patient, [(p.id, p.uid, p.uid, {"protocol_version_id": (None, pk(version))})
                                for p in rows])


def protocol_version_id(study: Study) -> int | None:
    """The id of the version in force of ``study`` (the loaded file's), None if not recorded
    (a session that did not register its protocols)."""
    row = ProtocolVersion.get_or_none((ProtocolVersion.study_key == study.key)
                                      & (ProtocolVersion.digest == study.digest))
    return None if row is None else pk(row)


def form_version_id(w: Writer, spec: FormSpec) -> int:
    """The id of the version of form ``spec``, stored the first time it is used."""
    digest = spec.digest()
    row = FormVersion.get_or_none((FormVersion.kind == spec.kind)
                                  & (FormVersion.digest == digest))
    if row is None:
        row = w.insert(FormVersion, kind=spec.kind, digest=digest,
                       definition=spec.definition(), first_seen_at=w.at)
    return pk(row)



"""Importing clinical data from a CDISC ODM 1.3.2 snapshot: subjects, visits, forms, values.

The file is first validated against the ODM 1.3.2 schema (with our extension). Then every
subject is read and checked against this site's protocols and form definitions, using the
OIDs of :mod:`gisttracker.exchange.odm.metadata` (export the metadata file to see them):

- the study (``ST.<key>``) must be one this site runs;
- a visit (``SE.<visit>``) must be a visit of that study's protocol (or ``SE.UNSCHEDULED``);
- a form (``F.<kind>``) must be a form kind this application knows, each item
  (``I.<kind>.<item>``) one of that form's items, each value one the form accepts (type,
  range, choices — the same checks as typing it in);
- a record group (``IG.REC.<table>``) must be a table of this database, each value of its
  column's type and, where the column has a code list, one of its codes (an arm of the
  study, a status…); a reference must name a record in the file or in this database;
- a subject, or any record, already in this database is refused (imports add, they never
  overwrite).

What is refused is reported with the subject, the place in the file and the reason. Nothing
is half-imported: unless every subject passes, nothing is written (``skip_refused`` writes
the subjects that pass and reports the others); ``dry_run`` only checks. The writing is
one audited transaction through the service layer (:meth:`Writer.insert_many`), keeping the
file's record identities (uids) so a later import or package recognises them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import peewee
from lxml import etree

from gisttracker.errors import InputError
from gisttracker.exchange.catalogue import VarType
from gisttracker.exchange.odm import gt, q
from gisttracker.exchange.odm.metadata import (
    STRUCTURAL,
    SUBJECT_EVENT,
    UNSCHEDULED_EVENT,
    FormMeta,
    ItemMeta,
    StudyMeta,
    study_metadata,
)
from gisttracker.exchange.odm.schema import validate_file
from gisttracker.exchange.tables import NATURAL_KEYS, TableInfo, record_tables
from gisttracker.forms import check_value, spec_for
from gisttracker.i18n import _, ngettext
from gisttracker.services.base import ServiceError
from gisttracker.services.exchange.common import field_of_column, models_by_table
from gisttracker.session import Session
from gisttracker.store.models import new_uid

Progress = Callable[[str, float | None], None]
STUDY_ID = re.compile(r"^([A-Z][A-Z0-9]{1,7})-(\d+)$")


@dataclass(frozen=True)
class Refusal:
    """Something in the file this database does not take, and why."""

    subject: str | None
    where: str
    message: str

    def __str__(self) -> str:
        who = f"{self.subject}: " if self.subject else ""
        return f"{who}{self.where}: {self.message}"


@dataclass
class OdmImportReport:
    path: Path
    subjects: int = 0
    imported: list[str] = field(default_factory=list)  # the subjects that pass (written when
    # ``written``)
    refused: list[Refusal] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    records: int = 0

    @property
    def refused_subjects(self) -> list[str]:
        return sorted({r.subject for r in self.refused if r.subject})


@dataclass
class _Draft:
    key: str
    study: str
    patient_uid: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[Refusal] = field(default_factory=list)
    # Records of the file refused already: a reference to one is no news.
    refused_uids: set[str] = field(default_factory=set)

    def refuse(self, where: str, message: str) -> None:
        self.problems.append(Refusal(self.key, where, message))

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


def parse_value(text: str, kind: VarType) -> object:
    """ODM text as the stored value of a column of ``kind``; ValueError with a message."""
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(_("{value!r} is not a whole number").format(value=text)) from None
    if kind == "float":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(_("{value!r} is not a number").format(value=text))
        return number
    if kind == "boolean":
        folded = text.strip().lower()
        if folded in ("true", "1", "yes"):
            return True
        if folded in ("false", "0", "no"):
            return False
        raise ValueError(_("{value!r} is not yes or no").format(value=text))
    if kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("{value!r} is not a date (YYYY-MM-DD)").format(
                value=text)) from None
    if kind == "datetime":
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(_("{value!r} is not a date and time").format(value=text)) from None
    return text


def _code_ok(item: ItemMeta, value: object) -> bool:
    if not item.codes:
        return True
    return any(value == code or str(value) == str(code) for code, _label in item.codes)


class _Reader:
    """Turns one ``SubjectData`` element into a draft of rows, noting every refusal."""

    def __init__(self, meta: StudyMeta, tables: dict[str, TableInfo]) -> None:
        self.meta = meta
        self.tables = tables

    def subject(self, element: etree._Element) -> _Draft:
        key = element.get("SubjectKey", "")
        draft = _Draft(key, self.meta.study.key, element.get(gt("UID")) or new_uid())
        patient: dict[str, Any] = {"uid": draft.patient_uid}
        for event in element.iterchildren(q("StudyEventData")):
            oid = event.get("StudyEventOID", "")
            if oid == SUBJECT_EVENT:
                self._records(draft, event, patient)
            elif self.meta.event(oid) is None:
                draft.refuse(oid, _("this visit is not in the protocol of {study}").format(
                    study=self.meta.study.key))
                draft.refused_uids |= {u for u in (event.get(gt("UID")),
                                                   event.get("StudyEventRepeatKey")) if u}
            else:
                self._visit(draft, event, oid)
        self._patient(draft, patient, element)
        return draft

    def _patient(self, draft: _Draft, patient: dict[str, Any], element: etree._Element) -> None:
        study = self.meta.study.key
        if patient.setdefault("study_key", study) != study:
            draft.refuse("IG.REC.patient", _("the patient belongs to study {other}, not {study}")
                         .format(other=patient["study_key"], study=study))
        if patient.setdefault("study_id", draft.key) != draft.key:
            draft.refuse("IG.REC.patient", _("study identifier {found} differs from the "
                                             "subject key").format(found=patient["study_id"]))
        if "site_code" not in patient or "seq" not in patient:
            match = STUDY_ID.match(draft.key)
            if match is None:
                draft.refuse("SubjectData", _(
                    "the subject key is not a study identifier such as ZJU-0007, and the file "
                    "gives no site code and number"))
            else:
                patient.setdefault("site_code", element.get(gt("SiteCode")) or match[1])
                patient.setdefault("seq", int(match[2]))
        patient.setdefault("created_on", date.today())
        draft.rows.setdefault("patient", []).insert(0, patient)

    def _items(self, draft: _Draft, form: FormMeta, group: etree._Element, where: str,
               ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for item_el in group.iterchildren(q("ItemData")):
            oid = item_el.get("ItemOID", "")
            item = form.item(oid)
            if item is None:
                draft.refuse(f"{where} {oid}", _("no such item in {form}").format(
                    form=form.oid))
                continue
            text = item_el.get("Value")
            if text is None:
                values[item.key] = None
                continue
            try:
                value = text if item.reference else parse_value(text, item.type)
            except ValueError as exc:
                draft.refuse(f"{where} {oid}", str(exc))
                continue
            if not _code_ok(item, value):
                draft.refuse(f"{where} {oid}", _("{value!r} is not one of {codes}").format(
                    value=text, codes=", ".join(str(c) for c, _label in item.codes)))
                continue
            values[item.key] = value
        return values

    def _records(self, draft: _Draft, event: etree._Element, patient: dict[str, Any]) -> None:
        for form_el in event.iterchildren(q("FormData")):
            oid = form_el.get("FormOID", "")
            form = self.meta.forms.get(oid)
            if form is None or form.table is None or form.table in STRUCTURAL \
                    or form.table not in self.tables:
                draft.refuse(oid, _("not a record table of this database"))
                continue
            for group in form_el.iterchildren(q("ItemGroupData")):
                if group.get("ItemGroupOID") != form.group_oid:
                    draft.refuse(f"{oid} {group.get('ItemGroupOID')}",
                                 _("not the item group of {form}").format(form=oid))
                    continue
                values = self._items(draft, form, group, oid)
                if form.table == "patient":
                    patient.update(values)
                    continue
                row = {"uid": group.get("ItemGroupRepeatKey") or new_uid(), **values}
                if "patient_id" in self.tables[form.table].columns:
                    row["patient_id"] = draft.patient_uid
                draft.add(form.table, row)

    def _visit(self, draft: _Draft, event: etree._Element, oid: str) -> None:
        meta = self.meta.event(oid)
        assert meta is not None
        scheduled = oid != UNSCHEDULED_EVENT
        uid = event.get(gt("UID")) or event.get("StudyEventRepeatKey") or new_uid()
        where = f"{oid}" + ("" if scheduled else f"[{event.get('StudyEventRepeatKey')}]")
        forms = list(event.iterchildren(q("FormData")))
        row: dict[str, Any] = {
            "uid": uid, "patient_id": draft.patient_uid,
            "visit_key": meta.visit_key if scheduled else event.get(gt("VisitKey")),
            "name": event.get(gt("VisitName")) or meta.name,
            "anchor_key": event.get(gt("AnchorKey")),
            "unscheduled": event.get(gt("Unscheduled")) == "true" or not scheduled,
        }
        attributes: tuple[tuple[str, str, VarType], ...] = (
            ("Seq", "seq", "integer"), ("PlannedDate", "planned_on", "date"),
            ("WindowStart", "window_start", "date"), ("WindowEnd", "window_end", "date"),
            ("DoneDate", "done_on", "date"))
        for attr, column, kind in attributes:
            text = event.get(gt(attr))
            if text is not None:
                row[column] = parse_value(text, kind)  # the schema has checked the form
        row["state"] = event.get(gt("VisitStatus")) or ("done" if forms else "planned")
        row["reason"] = event.get(gt("Reason"))
        row["done_recorded_at"] = event.get(gt("DoneRecordedAt"))
        if scheduled and row["anchor_key"] is None:
            visit = next(v for v in self.meta.study.visits if v.key == meta.visit_key)
            row["anchor_key"] = visit.anchor
        draft.add("visit", row)
        for form_el in forms:
            self._form(draft, form_el, uid, where)

    def _form(self, draft: _Draft, form_el: etree._Element, visit_uid: str, where: str) -> None:
        oid = form_el.get("FormOID", "")
        kind = oid[2:] if oid.startswith("F.") and not oid.startswith("F.REC.") else None
        try:
            spec = spec_for(kind) if kind else None
        except KeyError:
            spec = None
        if kind is None or spec is None:
            draft.refuse(f"{where} {oid}", _("not a form this application knows"))
            return
        form_uid = form_el.get(gt("UID")) or new_uid()
        values = []
        for group in form_el.iterchildren(q("ItemGroupData")):
            for item_el in group.iterchildren(q("ItemData")):
                item_oid = item_el.get("ItemOID", "")
                prefix = f"I.{kind}."
                key = item_oid[len(prefix):] if item_oid.startswith(prefix) else None
                try:
                    item = spec.item(key) if key is not None else None
                except KeyError:
                    item = None
                if item is None:
                    draft.refuse(f"{where} {oid} {item_oid}", _("no such item in {form}").format(
                        form=_(spec.title)))
                    continue
                text = item_el.get("Value")
                missing = item_el.get(gt("Missing"))
                if text is None:
                    stored = None
                    missing = missing or "not_answered"
                else:
                    try:
                        stored = json.dumps(check_value(item, text), ensure_ascii=False)
                    except (ValueError, InputError) as exc:
                        draft.refuse(f"{where} {oid} {item_oid}", str(exc))
                        continue
                values.append({"uid": item_el.get(gt("UID")) or new_uid(),
                               "form_id": form_uid, "item": item.key, "value": stored,
                               "missing": missing})
        state = form_el.get(gt("FormStatus")) or ("in_progress" if values else "not_started")
        form_row = {"uid": form_uid, "visit_id": visit_uid, "kind": kind, "state": state,
                    "not_done_reason": form_el.get(gt("NotDoneReason")),
                    "completed_at": form_el.get(gt("CompletedAt")),
                    "completed_by": form_el.get(gt("CompletedBy"))}
        version = form_el.get(gt("FormVersion"))
        if version is not None and "form_version_id" in self.tables["form"].columns:
            form_row["form_version_id"] = version  # its natural key: kind|digest
        draft.add("form", form_row)
        for value in values:
            draft.add("form_value", value)


def _subjects(path: Path, session: Session, tables: list[TableInfo],
              report: OdmImportReport) -> list[_Draft]:
    drafts: list[_Draft] = []
    metas: dict[str, StudyMeta] = {}
    by_name = {t.name: t for t in tables}
    reader: _Reader | None = None
    study_ok = False
    for event, element in etree.iterparse(str(path), events=("start", "end"), huge_tree=True):
        if event == "start" and element.tag == q("ODM"):
            if element.get("FileType") != "Snapshot":
                report.refused.append(Refusal(None, "ODM", _(
                    "this is a transactional file (a history of changes); import a snapshot "
                    "file")))
                return []
        elif event == "start" and element.tag == q("ClinicalData"):
            oid = element.get("StudyOID", "")
            key = oid[3:] if oid.startswith("ST.") else None
            study = session.studies.get(key or "")
            study_ok = study is not None
            if study is None:
                report.refused.append(Refusal(None, oid, _(
                    "this site runs no study {oid} (known: {known})").format(
                        oid=oid, known=", ".join(sorted(session.studies)))))
                reader = None
            else:
                meta = metas.setdefault(study.key, study_metadata(study, tables))
                reader = _Reader(meta, by_name)
        elif event == "end" and element.tag == q("SubjectData"):
            report.subjects += 1
            if study_ok and reader is not None:
                drafts.append(reader.subject(element))
            else:
                report.refused.append(Refusal(element.get("SubjectKey"), "ClinicalData",
                                              _("the subject's study is not run here")))
            element.clear(keep_tail=True)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    return drafts


def _check_against_database(drafts: list[_Draft], tables: list[TableInfo]) -> None:
    """Refuse what is already here, and references to records that are nowhere."""
    from gisttracker.store.models_patients import Patient

    infos = {t.name: t for t in tables}
    in_file: dict[str, set[str]] = {}
    for draft in drafts:
        for table, rows in draft.rows.items():
            in_file.setdefault(table, set()).update(str(r["uid"]) for r in rows)
    models = models_by_table()
    existing: dict[str, set[str]] = {}
    for table, uids in in_file.items():
        model = models[table]
        found: set[str] = set()
        listed = sorted(uids)
        for start in range(0, len(listed), 900):
            found |= {str(r.uid) for r in model.select(model.uid).where(
                model.uid.in_(listed[start:start + 900]))}
        existing[table] = found
    keys = [d.key for d in drafts]
    taken: set[str] = set()
    for start in range(0, len(keys), 900):
        taken |= {str(p.study_id) for p in Patient.select(Patient.study_id).where(
            Patient.study_id.in_(keys[start:start + 900]))}
    for draft in drafts:
        if draft.key in taken or draft.patient_uid in existing.get("patient", set()):
            draft.refuse("SubjectData", _("this patient is already in this database (imports "
                                          "add patients, they never overwrite)"))
            continue
        for table, rows in draft.rows.items():
            info = infos[table]
            for row in rows:
                if table != "patient" and row["uid"] in existing.get(table, set()):
                    draft.refuse(f"IG.REC.{table}[{row['uid']}]",
                                 _("this record is already in this database"))
                for column, parent in info.refs.items():
                    ref = row.get(column)
                    if parent in NATURAL_KEYS:
                        if ref is not None and _version_id(parent, str(ref)) is None \
                                and not _current_form(parent, str(ref)):
                            draft.refuse(f"{table}[{row['uid']}] {column}", _(
                                "entered under a version ({version}) this site does not have"
                            ).format(version=str(ref)[:60]))
                        continue
                    if ref is None or ref in in_file.get(parent, set()) \
                            or ref in draft.refused_uids:
                        continue
                    model = models[parent]
                    if model.select().where(model.uid == ref).exists():
                        continue
                    draft.refuse(f"IG.REC.{table}[{row['uid']}] {column}", _(
                        "refers to a {parent} record ({uid}) that is neither in the file nor in "
                        "this database").format(parent=parent.replace("_", " "), uid=ref))


def _version_id(table: str, key: str) -> int | None:
    """The id of the protocol or form version with natural key ``key`` here, if any."""
    model = models_by_table()[table]
    fields = NATURAL_KEYS[table]
    parts = key.split("|", len(fields) - 1)
    if len(parts) != len(fields):
        return None
    query = model.select(model._meta.primary_key)
    for name, value in zip(fields, parts, strict=True):
        query = query.where(getattr(model, name) == value)
    found = query.scalar()
    return None if found is None else int(found)


def _current_form(table: str, key: str) -> bool:
    """True when ``key`` names the form definition this program uses now (its version is
    stored the first time it is used, as when a form is saved)."""
    if table != "form_version" or "|" not in key:
        return False
    kind, digest = key.split("|", 1)
    try:
        return spec_for(kind).digest() == digest
    except KeyError:
        return False


def _resolve_version(w: Any, table: str, key: str) -> int:
    found = _version_id(table, key)
    if found is None and _current_form(table, key):
        from gisttracker.services.versions import form_version_id

        found = form_version_id(w, spec_for(key.split("|", 1)[0]))
    if found is None:
        raise ServiceError(_("entered under a version ({version}) this site does not have")
                           .format(version=key[:60]))
    return found


def _write(session: Session, drafts: list[_Draft], tables: list[TableInfo], name: str) -> int:
    models = models_by_table()
    written = 0
    with session.tracker.transaction(_("imported from the ODM file {name}").format(
            name=name)) as w:
        ids: dict[str, dict[str, int]] = {}
        for info in tables:
            rows: list[dict[str, Any]] = []
            patients: list[str | None] = []
            for draft in drafts:
                for row in draft.rows.get(info.name, ()):
                    rows.append(row)
                    patients.append(draft.patient_uid)
            if not rows:
                continue
            model = models[info.name]
            fields = {f.column_name: name for name, f in model._meta.fields.items()}
            prepared = []
            for row in rows:
                out: dict[str, Any] = {}
                for column, value in row.items():
                    if column not in fields:
                        continue  # filled by the database itself (visit.study_key)
                    parent = info.refs.get(column)
                    if parent in NATURAL_KEYS and value is not None:
                        value = _resolve_version(w, parent, str(value))
                    elif parent is not None and value is not None:
                        value = _lookup(ids, models, parent, str(value))
                    out[field_of_column(model, column)] = value
                prepared.append(out)
            try:
                uids = w.insert_many(model, prepared, patient_uids=patients)
            except peewee.IntegrityError as exc:
                raise ServiceError(_(
                    "the file's {table} records do not fit this database ({error}); nothing "
                    "was imported").format(table=info.name.replace("_", " "), error=exc)) from exc
            written += len(uids)
            ids[info.name] = _ids(model, uids)
    return written


def _ids(model: Any, uids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    column = model._meta.primary_key
    for start in range(0, len(uids), 900):
        for uid, record_id in model.select(model.uid, column).where(
                model.uid.in_(uids[start:start + 900])).tuples():
            out[str(uid)] = int(record_id)
    return out


def _lookup(ids: dict[str, dict[str, int]], models: dict[str, Any], table: str,
            uid: str) -> int:
    found = ids.get(table, {}).get(uid)
    if found is None:
        model = models[table]
        found = model.select(model.id).where(model.uid == uid).scalar()
    if found is None:
        raise ServiceError(_("a reference to {table} {uid} could not be resolved").format(
            table=table, uid=uid))
    return int(found)


def _record_tables(session: Session) -> list[TableInfo]:
    """The site's record tables, parents first, on either engine (a server site has no
    SQLite catalogue to read: its own is read the way the centre's import reads it)."""
    from gisttracker.store.server import is_server_db

    if is_server_db(session.db):
        from gisttracker.services.exchange.centre import _server_record_tables

        return _server_record_tables(session.db)
    return record_tables(session.db.connection())


def import_odm(session: Session, path: Path, *, dry_run: bool = False,
               skip_refused: bool = False, progress: Progress | None = None) -> OdmImportReport:
    """Import the subjects of the ODM snapshot ``path``; see the module's description."""
    report_progress = progress or (lambda _phase, _fraction: None)
    path = Path(path)
    report = OdmImportReport(path, dry_run=dry_run)
    if not path.is_file():
        raise ServiceError(_("{path} does not exist").format(path=path))
    if session.tracker.read_only and not dry_run:
        raise ServiceError(session.tracker.read_only)
    report_progress("validate", 0.0)
    problems = validate_file(path)
    if problems:
        report.refused += [Refusal(None, _("schema"), p) for p in problems]
        report.refused.insert(0, Refusal(None, path.name, _(
            "the file is not valid ODM 1.3.2; nothing was imported")))
        return report
    report_progress("read", 0.3)
    tables = _record_tables(session)
    drafts = _subjects(path, session, tables, report)
    if not drafts:
        return report
    _check_against_database(drafts, tables)
    accepted = [d for d in drafts if not d.problems]
    for draft in drafts:
        report.refused += draft.problems
    # The subjects that pass (what --skip-refused would import).
    report.imported = [d.key for d in accepted]
    if dry_run or not accepted or (report.refused and not skip_refused):
        return report
    report_progress("write", 0.6)
    report.records = _write(session, accepted, tables, path.name)
    report.written = True
    report_progress("done", 1.0)
    return report


def summary(report: OdmImportReport) -> str:
    """One line for the user."""
    if report.written:
        return ngettext("{n} subject imported from {file}", "{n} subjects imported from {file}",
                        len(report.imported)).format(n=len(report.imported),
                                                     file=report.path.name)
    if report.dry_run and not report.refused:
        return ngettext("{n} subject would be imported; nothing was written (dry run)",
                        "{n} subjects would be imported; nothing was written (dry run)",
                        len(report.imported)).format(n=len(report.imported))
    return ngettext("{n} refusal; nothing was imported", "{n} refusals; nothing was imported",
                    len(report.refused)).format(n=len(report.refused))

"""Writing CDISC ODM 1.3.2 files: metadata, a snapshot of the clinical data, or every change
with its audit record (a transactional file).

Every file carries, per study, ``Study`` (``GlobalVariables``, ``BasicDefinitions`` with the
measurement units, ``MetaDataVersion``: protocol, events, forms, item groups, items, code
lists — see :mod:`.metadata`), ``AdminData`` (the users named in the data and audit trail,
and the sites as ``Location``\\ s), and — unless only metadata is asked for — the
``ClinicalData`` keyed by the patients' study identifiers (pseudonymous unless identifiers
are asked for). The file is streamed (one subject in memory at a time), written under a
temporary name, validated against the ODM 1.3.2 schema with our extension, and only then
given its name.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from gisttracker import __version__
from gisttracker.atomic import atomic_path
from gisttracker.exchange.catalogue import VarType
from gisttracker.exchange.odm import GT, NS, XML_LANG, gt, q
from gisttracker.exchange.odm.metadata import (
    DATA_TYPES,
    STRUCTURAL,
    SUBJECT_EVENT,
    UNSCHEDULED_EVENT,
    FormMeta,
    StudyMeta,
    study_metadata,
)
from gisttracker.exchange.odm.schema import validate_file
from gisttracker.exchange.package import _select_columns, select_list
from gisttracker.exchange.tables import (
    NATURAL_KEYS,
    TableInfo,
    natural_key,
    patient_join,
    read_snapshot,
    record_tables,
    reference_fields,
    translated,
)
from gisttracker.i18n import _
from gisttracker.protocols import Study
from gisttracker.services.base import ServiceError
from gisttracker.session import Session

Kind = Literal["snapshot", "transactional", "metadata"]
Progress = Callable[[str, float | None], None]


class OdmExportError(RuntimeError):
    """An exported file failed the schema: a bug (reported, never shown as a user error)."""


@dataclass(frozen=True)
class OdmResult:
    path: Path
    kind: Kind
    subjects: int
    studies: int


def value_text(value: object, kind: VarType | None = None) -> str:
    """A stored value as ODM writes it (yes/no as ``true``/``false``, floats exactly)."""
    if isinstance(value, bool) or (kind == "boolean" and value in (0, 1)):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


NSMAP = {None: NS, "gt": GT}


def _tt(parent: etree._Element, tag: str, text: str) -> None:
    holder = etree.SubElement(parent, q(tag))
    translated = etree.SubElement(holder, q("TranslatedText"))
    translated.set(XML_LANG, "en")
    translated.text = text


def _user_oid(user: str) -> str:
    return "USR." + (re.sub(r"[^A-Za-z0-9._-]+", "_", user) or "unknown")


def _location_oid(site: str) -> str:
    return "LOC." + (re.sub(r"[^A-Za-z0-9._-]+", "_", site) or "site")


# ----- metadata ------------------------------------------------------------------------------

def study_element(meta: StudyMeta) -> etree._Element:
    """The ``Study`` element: global variables, units and the metadata version."""
    study = meta.study
    root = etree.Element(q("Study"), OID=meta.oid, nsmap=NSMAP)
    glob = etree.SubElement(root, q("GlobalVariables"))
    etree.SubElement(glob, q("StudyName")).text = study.short_title
    etree.SubElement(glob, q("StudyDescription")).text = study.title
    etree.SubElement(glob, q("ProtocolName")).text = study.registration or study.key
    basic = etree.SubElement(root, q("BasicDefinitions"))
    for unit, oid in sorted(meta.units.items(), key=lambda u: u[1]):
        mu = etree.SubElement(basic, q("MeasurementUnit"), OID=oid, Name=unit)
        _tt(mu, "Symbol", unit)
    mdv = etree.SubElement(root, q("MetaDataVersion"), OID=meta.mdv,
                           Name=f"{study.key} ({study.registration or study.short_title})")
    protocol = etree.SubElement(mdv, q("Protocol"))
    for n, event in enumerate(meta.events, start=1):
        etree.SubElement(protocol, q("StudyEventRef"), StudyEventOID=event.oid,
                         OrderNumber=str(n), Mandatory="Yes" if event.mandatory else "No")
    for event in meta.events:
        kind = ("Common" if event.oid == SUBJECT_EVENT
                else "Unscheduled" if event.oid == UNSCHEDULED_EVENT else "Scheduled")
        sed = etree.SubElement(mdv, q("StudyEventDef"), OID=event.oid, Name=event.name,
                               Repeating="Yes" if event.repeating else "No", Type=kind)
        for n, form_oid in enumerate(event.forms, start=1):
            etree.SubElement(sed, q("FormRef"), FormOID=form_oid, OrderNumber=str(n),
                             Mandatory="Yes" if n <= event.planned else "No")
    for form in meta.forms.values():
        fd = etree.SubElement(mdv, q("FormDef"), OID=form.oid, Name=form.name, Repeating="No")
        etree.SubElement(fd, q("ItemGroupRef"), ItemGroupOID=form.group_oid, Mandatory="Yes")
    for form in meta.forms.values():
        ig = etree.SubElement(mdv, q("ItemGroupDef"), OID=form.group_oid, Name=form.name,
                              Repeating="Yes" if form.repeating else "No")
        for n, item in enumerate(form.items, start=1):
            etree.SubElement(ig, q("ItemRef"), ItemOID=item.oid, OrderNumber=str(n),
                             Mandatory="No")
    codelists: list[tuple[str, str, VarType, Any]] = []
    for form in meta.forms.values():
        for item in form.items:
            idef = etree.SubElement(mdv, q("ItemDef"), OID=item.oid, Name=item.name,
                                    DataType=DATA_TYPES[item.type])
            _tt(idef, "Question", item.label)
            if item.unit:
                etree.SubElement(idef, q("MeasurementUnitRef"),
                                 MeasurementUnitOID=meta.units[item.unit])
            for bound, comparator in ((item.minimum, "GE"), (item.maximum, "LE")):
                if bound is not None and item.type in ("integer", "float"):
                    check = etree.SubElement(idef, q("RangeCheck"), Comparator=comparator,
                                             SoftHard="Hard")
                    etree.SubElement(check, q("CheckValue")).text = (
                        str(int(bound)) if item.type == "integer" else repr(float(bound)))
            if item.codelist:
                etree.SubElement(idef, q("CodeListRef"), CodeListOID=item.codelist)
                codelists.append((item.codelist, item.name, item.type, item.codes))
    for oid, name, kind_t, codes in codelists:
        cl = etree.SubElement(mdv, q("CodeList"), OID=oid, Name=name,
                              DataType="integer" if kind_t == "integer" else "text")
        for value, label in codes:
            cli = etree.SubElement(cl, q("CodeListItem"), CodedValue=value_text(value))
            _tt(cli, "Decode", _(label))
    return root


def admin_element(users: list[str], sites: dict[str, str], metas: list[StudyMeta],
                  effective: str) -> etree._Element:
    """``AdminData``: every user named in the data, every site as a ``Location``."""
    admin = etree.Element(q("AdminData"), nsmap=NSMAP)
    for user in users:
        element = etree.SubElement(admin, q("User"), OID=_user_oid(user))
        etree.SubElement(element, q("LoginName")).text = user
        etree.SubElement(element, q("DisplayName")).text = user
    for code, name in sorted(sites.items()):
        loc = etree.SubElement(admin, q("Location"), OID=_location_oid(code),
                               Name=name or code, LocationType="Site")
        for meta in metas:
            etree.SubElement(loc, q("MetaDataVersionRef"), StudyOID=meta.oid,
                             MetaDataVersionOID=meta.mdv, EffectiveDate=effective)
    return admin


# ----- clinical data -------------------------------------------------------------------------

def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def _record_rows(conn: sqlite3.Connection, info: TableInfo, infos: dict[str, TableInfo],
                 study: str) -> dict[int, list[dict[str, Any]]]:
    """Rows of a record table by patient id, references as uids."""
    from_sql, patient = patient_join(info, infos)
    if not patient:
        return {}
    select = _select_columns(info, "t", "main", natural=True)
    out: dict[int, list[dict[str, Any]]] = {}
    cursor = conn.execute(
        f"SELECT {patient}.id, {select} FROM {from_sql} WHERE {patient}.study_key = ? "
        "ORDER BY t.id", (study,))
    names = ["__patient", *info.columns]
    for row in cursor:
        record = dict(zip(names, row, strict=True))
        out.setdefault(record["__patient"], []).append(record)
    return out


def _group(parent: etree._Element, form: FormMeta, record: dict[str, Any]) -> None:
    ig = etree.SubElement(parent, q("ItemGroupData"), ItemGroupOID=form.group_oid)
    if form.repeating:
        ig.set("ItemGroupRepeatKey", str(record["uid"]))
    for item in form.items:
        value = record.get(item.key)
        if value is not None:
            etree.SubElement(ig, q("ItemData"), ItemOID=item.oid,
                             Value=value_text(value, item.type))


def _answer(parent: etree._Element, form: FormMeta, value_row: tuple[Any, ...]) -> None:
    uid, item_key, value, missing = value_row
    item = etree.SubElement(parent, q("ItemData"), ItemOID=f"I.{form.kind}.{item_key}")
    if value is None:
        item.set("IsNull", "Yes")
    else:
        item.set("Value", value_text(json.loads(value)))
    item.set(gt("UID"), uid)
    if missing:
        item.set(gt("Missing"), missing)


def _set(element: etree._Element, name: str, value: object) -> None:
    if value is not None and value != "":
        element.set(gt(name), value_text(value))


def write_snapshot(xf: Any, conn: sqlite3.Connection, meta: StudyMeta,
                   tables: list[TableInfo], site_of: dict[int, str]) -> int:
    """Stream the ``ClinicalData`` of one study; returns the number of subjects."""
    key = meta.study.key
    infos = {t.name: t for t in tables}
    record_forms = [(meta.forms[f"F.REC.{t.name}"], _record_rows(conn, t, infos, key))
                    for t in tables if t.name not in STRUCTURAL and t.name != "patient"
                    and t.name not in NATURAL_KEYS]
    visits: dict[int, list[dict[str, Any]]] = {}
    for row in _rows(conn, "SELECT v.* FROM visit v JOIN patient p ON p.id = v.patient_id "
                     "WHERE p.study_key = ? ORDER BY v.patient_id, v.seq, v.planned_on, v.id",
                     (key,)):
        visits.setdefault(row["patient_id"], []).append(row)
    forms: dict[int, list[dict[str, Any]]] = {}
    version = (f"(SELECT {natural_key('form_version', 'q')} FROM form_version q "
               "WHERE q.id = f.form_version_id)") if "form_version" in infos and \
        "form_version_id" in infos["form"].columns else "NULL"
    for row in _rows(conn, f"SELECT f.*, {version} AS __version FROM form f JOIN visit v ON "
                     "v.id = f.visit_id JOIN patient p ON p.id = v.patient_id WHERE "
                     "p.study_key = ? ORDER BY f.id", (key,)):
        forms.setdefault(row["visit_id"], []).append(row)
    values: dict[int, list[tuple[Any, ...]]] = {}
    for form_id, *rest in conn.execute(
            "SELECT fv.form_id, fv.uid, fv.item, fv.value, fv.missing FROM form_value fv "
            "JOIN form f ON f.id = fv.form_id JOIN visit v ON v.id = f.visit_id JOIN patient p "
            "ON p.id = v.patient_id WHERE p.study_key = ? ORDER BY fv.id", (key,)):
        values.setdefault(form_id, []).append(tuple(rest))
    patient_form = meta.forms["F.REC.patient"]
    subjects = 0
    with xf.element(q("ClinicalData"), StudyOID=meta.oid, MetaDataVersionOID=meta.mdv):
        patient_columns = ", ".join(
            f'{expr} AS "{column}"' for expr, column in zip(
                select_list(infos["patient"], "t", "main", natural=True),
                infos["patient"].columns, strict=True))
        for patient in _rows(conn, f"SELECT t.id AS id, {patient_columns} FROM patient t "
                             "WHERE t.study_key = ? ORDER BY t.study_id", (key,)):
            pid = patient["id"]
            subject = etree.Element(q("SubjectData"), SubjectKey=patient["study_id"],
                                    nsmap=NSMAP)
            subject.set(gt("UID"), patient["uid"])
            subject.set(gt("SiteCode"), patient["site_code"])
            etree.SubElement(subject, q("SiteRef"),
                             LocationOID=_location_oid(site_of.get(pid, patient["site_code"])))
            event = etree.SubElement(subject, q("StudyEventData"), StudyEventOID=SUBJECT_EVENT)
            fd = etree.SubElement(event, q("FormData"), FormOID=patient_form.oid)
            _group(fd, patient_form, patient)
            for form, by_patient in record_forms:
                rows = by_patient.get(pid)
                if rows:
                    fd = etree.SubElement(event, q("FormData"), FormOID=form.oid)
                    for record in rows:
                        _group(fd, form, record)
            for visit in visits.get(pid, ()):
                _visit(subject, meta, visit, forms.get(visit["id"], ()), values)
            xf.write(subject)
            subjects += 1
    return subjects


def _visit(subject: etree._Element, meta: StudyMeta, visit: dict[str, Any],
           forms: Any, values: dict[int, list[tuple[Any, ...]]]) -> None:
    scheduled = visit["visit_key"] is not None and not visit["unscheduled"] and meta.event(
        f"SE.{visit['visit_key']}") is not None
    event = etree.SubElement(subject, q("StudyEventData"), StudyEventOID=(
        f"SE.{visit['visit_key']}" if scheduled else UNSCHEDULED_EVENT))
    if not scheduled:
        event.set("StudyEventRepeatKey", visit["uid"])
    event.set(gt("UID"), visit["uid"])
    _set(event, "VisitName", visit["name"])
    _set(event, "AnchorKey", visit["anchor_key"])
    _set(event, "Seq", visit["seq"])
    _set(event, "PlannedDate", visit["planned_on"])
    _set(event, "WindowStart", visit["window_start"])
    _set(event, "WindowEnd", visit["window_end"])
    _set(event, "VisitStatus", visit["state"])
    _set(event, "DoneDate", visit["done_on"])
    _set(event, "DoneRecordedAt", visit.get("done_recorded_at"))
    _set(event, "Reason", visit["reason"])
    if visit["unscheduled"] or not scheduled:
        event.set(gt("Unscheduled"), "true" if visit["unscheduled"] else "false")
        _set(event, "VisitKey", visit["visit_key"])
    for form in forms:
        fmeta = meta.forms.get(f"F.{form['kind']}")
        fd = etree.SubElement(event, q("FormData"), FormOID=f"F.{form['kind']}")
        fd.set(gt("UID"), form["uid"])
        _set(fd, "FormStatus", form["state"])
        _set(fd, "FormVersion", form.get("__version"))
        _set(fd, "NotDoneReason", form["not_done_reason"])
        _set(fd, "CompletedAt", form["completed_at"])
        _set(fd, "CompletedBy", form["completed_by"])
        answers = values.get(form["id"], ())
        if answers:
            ig = etree.SubElement(fd, q("ItemGroupData"), ItemGroupOID=f"IG.{form['kind']}")
            for row in answers:
                _answer(ig, fmeta or FormMeta(f"F.{form['kind']}", f"IG.{form['kind']}",
                                             form["kind"], (), kind=form["kind"]), row)


def _column_of(info: TableInfo | None, field: str) -> str | None:
    if info is None:
        return None
    if field in info.columns:
        return field
    if f"{field}_id" in info.columns:
        return f"{field}_id"
    return None


def write_transactional(xf: Any, conn: sqlite3.Connection, meta: StudyMeta,
                        tables: list[TableInfo], site: str) -> int:
    """Stream every audited change of one study's patients, each with its AuditRecord."""
    key = meta.study.key
    infos = {t.name: t for t in tables}
    names = ", ".join(f"'{t.name}'" for t in tables)
    parents = reference_fields(conn, tables)

    def uid_of(parent: str, value: str) -> str:
        identity = natural_key(parent, "q") if parent in NATURAL_KEYS else "q.uid"
        return (f"(SELECT json_quote({identity}) FROM main.\"{parent}\" q WHERE q.id = "
                f"CAST({value} AS INTEGER))")

    old = translated("a.old_value", parents, uid_of)
    new = translated("a.new_value", parents, uid_of)
    known: dict[tuple[str, Any], Any] = {}

    def ref_uid(parent: str, value: Any) -> Any:
        """A reference inside an insert's (delete's) object, as the referenced uid."""
        if (parent, value) not in known:
            identity = natural_key(parent, "q") if parent in NATURAL_KEYS else "q.uid"
            row = conn.execute(f'SELECT {identity} FROM main."{parent}" q WHERE q.id = ?',
                               (value,)).fetchone()
            known[(parent, value)] = row[0] if row else value
        return known[(parent, value)]

    subjects = dict(conn.execute("SELECT uid, study_id FROM patient WHERE study_key = ?",
                                 (key,)).fetchall())
    cursor = conn.execute(
        f"SELECT a.id, a.at, a.\"user\", a.action, a.table_name, a.record_uid, a.field, {old}, "
        f"{new}, a.reason, a.patient_uid FROM audit_log a LEFT JOIN temp.exchange_refs r ON "
        "r.table_name = a.table_name AND r.field = a.field WHERE a.patient_uid IN (SELECT uid "
        f"FROM patient WHERE study_key = ?) AND a.table_name IN ({names}) "
        "ORDER BY a.patient_uid, a.id", (key,))
    count = 0
    with xf.element(q("ClinicalData"), StudyOID=meta.oid, MetaDataVersionOID=meta.mdv):
        current: str | None = None
        rows: list[tuple[Any, ...]] = []
        for row in cursor:
            if row[10] != current and rows:
                xf.write(_audit_subject(subjects, rows, meta, infos, site, ref_uid))
                count += 1
                rows = []
            current = row[10]
            rows.append(row)
        if rows:
            xf.write(_audit_subject(subjects, rows, meta, infos, site, ref_uid))
            count += 1
    return count


_TRANSACTION = {"insert": "Insert", "update": "Update", "delete": "Remove"}


def _audit_subject(subjects: dict[str, str], rows: list[tuple[Any, ...]], meta: StudyMeta,
                   infos: dict[str, TableInfo], site: str,
                   ref_uid: Callable[[str, Any], Any]) -> etree._Element:
    patient_uid = rows[0][10]
    subject = etree.Element(q("SubjectData"), SubjectKey=subjects.get(patient_uid, patient_uid),
                            TransactionType="Context", nsmap=NSMAP)
    subject.set(gt("UID"), patient_uid)
    event = etree.SubElement(subject, q("StudyEventData"), StudyEventOID=SUBJECT_EVENT,
                             TransactionType="Context")
    by_table: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for row in rows:
        by_table.setdefault(row[4], {}).setdefault(row[5], []).append(row)
    for table, records in by_table.items():
        form = meta.forms.get(f"F.REC.{table}")
        if form is None:
            continue
        fd = etree.SubElement(event, q("FormData"), FormOID=form.oid, TransactionType="Context")
        for record_uid, changes in records.items():
            ig = etree.SubElement(fd, q("ItemGroupData"), ItemGroupOID=form.group_oid,
                                  TransactionType="Context")
            if form.repeating:
                ig.set("ItemGroupRepeatKey", record_uid)
            for row in changes:
                _audit_items(ig, form, infos.get(table), row, site, ref_uid)
    return subject


def _audit_items(ig: etree._Element, form: FormMeta, info: TableInfo | None,
                 row: tuple[Any, ...], site: str,
                 ref_uid: Callable[[str, Any], Any]) -> None:
    audit_id, at, user, action, _table, _uid, field, old, new, reason, _p = row
    if field is None:
        # One row for a whole insert (or delete): a JSON object of every value.
        values = json.loads(new if action != "delete" else old or "{}") or {}
        for name, value in values.items():
            if info is not None and name in info.refs and value is not None:
                values[name] = ref_uid(info.refs[name], value)
        pairs = [(k, None if action != "delete" else v, v if action != "delete" else None)
                 for k, v in values.items()]
    else:
        pairs = [(field, json.loads(old) if old is not None else None,
                  json.loads(new) if new is not None else None)]
    for name, before, after in pairs:
        column = _column_of(info, name)
        if column is None or column in ("uid", "patient_id"):
            continue
        item = form.item(f"I.REC.{form.table}.{column}")
        kind = item.type if item is not None else None
        element = etree.SubElement(ig, q("ItemData"), ItemOID=f"I.REC.{form.table}.{column}",
                                   TransactionType=_TRANSACTION.get(action, "Update"))
        if after is None:
            element.set("IsNull", "Yes")
        else:
            element.set("Value", value_text(after, kind))
        if before is not None:
            element.set(gt("OldValue"), value_text(before, kind))
        record = etree.SubElement(element, q("AuditRecord"))
        etree.SubElement(record, q("UserRef"), UserOID=_user_oid(user))
        where = user.rsplit("@", 1)[1] if "@" in user else site
        etree.SubElement(record, q("LocationRef"), LocationOID=_location_oid(where))
        etree.SubElement(record, q("DateTimeStamp")).text = at
        if reason:
            etree.SubElement(record, q("ReasonForChange")).text = reason
        # One entry of a whole insert (delete) gives an item per column: each its own source.
        source = f"audit_log:{audit_id}" if field is not None else f"audit_log:{audit_id}:{name}"
        etree.SubElement(record, q("SourceID")).text = source


# ----- the file ------------------------------------------------------------------------------

def _users(conn: sqlite3.Connection, kind: Kind) -> list[str]:
    users: set[str] = set()
    for sql in ("SELECT DISTINCT screened_by FROM screening",
                "SELECT DISTINCT completed_by FROM form",
                "SELECT DISTINCT enrolled_by FROM patient",
                "SELECT DISTINCT randomized_by FROM randomization"):
        users |= {r[0] for r in conn.execute(sql) if r[0]}
    if kind == "transactional":
        users |= {r[0] for r in conn.execute("SELECT DISTINCT \"user\" FROM audit_log") if r[0]}
    return sorted(users)


def _studies(session: Session, study: str | None) -> list[Study]:
    if study is None:
        return sorted(session.studies.values(), key=lambda s: s.key)
    try:
        return [session.study(study)]
    except KeyError as exc:
        raise ServiceError(str(exc.args[0])) from None


def export_odm(session: Session, target: Path, *, kind: Kind = "snapshot",
               study: str | None = None, identifiers: bool = False, validate: bool = True,
               progress: Progress | None = None) -> OdmResult:
    """Write an ODM 1.3.2 file of the open site to ``target`` (whole or not at all).

    Needs a role that may see the data (with ``identifiers``: the identifiers too; a
    transactional file: the audit trail too)."""
    from gisttracker.services.policy import Permission

    session.tracker.require(Permission.VIEW_IDENTIFIERS if identifiers else Permission.VIEW_DATA)
    if kind == "transactional":
        session.tracker.require(Permission.VIEW_AUDIT)
    from gisttracker.services.settings import SettingsService

    report = progress or (lambda _phase, _fraction: None)
    if kind not in ("snapshot", "transactional", "metadata"):
        raise ServiceError(_("unknown kind of ODM file {kind!r}").format(kind=kind))
    studies = _studies(session, study)
    settings = SettingsService(session.tracker)
    site, site_name = settings.get("site_code"), settings.get("site_name")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    subjects = 0
    report("read", None)  # a server site's snapshot is copied first
    conn = read_snapshot(session.path)
    try:
        tables = record_tables(conn, identifiers=identifiers)
        metas = [study_metadata(s, tables) for s in studies]
        sites = {site: site_name}
        for code, in conn.execute("SELECT DISTINCT site_code FROM patient"):
            sites.setdefault(code, "")
        site_of: dict[int, str] = {}
        with atomic_path(Path(target)) as tmp:
            report("write", 0.0)
            with etree.xmlfile(str(tmp), encoding="utf-8") as xf:
                xf.write_declaration()
                attrs = {
                    "FileType": "Transactional" if kind == "transactional" else "Snapshot",
                    "FileOID": f"gisttracker.{uuid.uuid4().hex}", "CreationDateTime": now,
                    "ODMVersion": "1.3.2", "Originator": f"{site} {site_name}".strip(),
                    "SourceSystem": "GIST Study Tracker", "SourceSystemVersion": __version__,
                    "Granularity": "Metadata" if kind == "metadata" else "All"}
                if kind == "snapshot":
                    attrs["AsOfDateTime"] = now
                with xf.element(q("ODM"), attrs, nsmap=NSMAP):
                    for meta in metas:
                        xf.write(study_element(meta))
                    if kind != "metadata":
                        xf.write(admin_element(_users(conn, kind), sites, metas, now[:10]))
                    for n, meta in enumerate(metas):
                        if kind == "snapshot":
                            subjects += write_snapshot(xf, conn, meta, tables, site_of)
                        elif kind == "transactional":
                            subjects += write_transactional(xf, conn, meta, tables, site)
                        report("write", 0.8 * (n + 1) / len(metas))
            if validate:
                report("validate", 0.8)
                problems = validate_file(tmp)
                if problems:
                    raise OdmExportError("the ODM file does not validate: "
                                         + "; ".join(problems[:3]))
    finally:
        conn.close()
    report("done", 1.0)
    return OdmResult(Path(target), kind, subjects, len(metas))

"""CSV export for statisticians: one file per table and per form, a wide file per study, a
data dictionary, and import scripts for R, SPSS and Stata (as REDCap gives them).

Layout of the folder written (whole or not at all, private):

``<table>.csv``
    one per record table (``patient``, ``screening``, ``visit``, ``lab_result``…): the
    patient's study identifier first, then every column; a reference to another record is
    its ``…_uid``. Personal identifiers (``patient_identity``) only when asked for.
``form_<kind>.csv``
    one per visit form (QLQ-C30, LARS, physical examination…): one row per form filled,
    with the visit and the form's status, then one column per item.
``wide_<STUDY>.csv``
    one row per patient of the study: enrollment, the latest screening, the anchor dates,
    and for every planned visit its status, date and form items.
``dictionary.csv``
    every variable of every file: label, type, unit, code list, file.
``import.R``, ``import.sps``, ``import.do``
    read every file with its types, dates, variable labels and value labels.
``README.txt``
    these conventions.

Conventions: dates ``YYYY-MM-DD``; yes/no as 1/0; coded answers as their stored code (the
labels are in the dictionary and the scripts); an empty cell has no value (why — not
answered, not asked — is in ``form_value.csv``). Files are UTF-8 with a byte-order mark:
Excel, which many sites open CSV files with, shows Chinese text correctly only then; the R
script reads the mark (``UTF-8-BOM``), the SPSS and Stata scripts name the variables
themselves and start at the second line, so the mark never reaches them. ``bom=False``
writes plain UTF-8.

Read from one read-only snapshot: safe while the window is open.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gisttracker import __version__
from gisttracker.atomic import atomic_dir
from gisttracker.exchange.catalogue import (
    Codes,
    VarType,
    describe_columns,
    fixed_codes,
    item_codes,
    item_label,
    item_type,
)
from gisttracker.exchange.tables import (
    NATURAL_KEYS,
    TableInfo,
    natural_key,
    patient_join,
    read_snapshot,
    record_tables,
)
from gisttracker.forms import FormSpec, spec_for
from gisttracker.i18n import _
from gisttracker.protocols import Study
from gisttracker.services.base import ServiceError
from gisttracker.session import Session

Progress = Callable[[str, float | None], None]

MAX_NAME = 32  # Stata's limit; SPSS allows 64, R any
RESERVED = frozenset({
    # SPSS
    "all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with",
    # Stata
    "byte", "double", "float", "if", "in", "int", "long", "str", "strl", "using", "_n",
    "_all", "_b", "_coef", "_cons", "_pi", "_pred", "_rc", "_skip",
    # R
    "else", "repeat", "while", "function", "for", "next", "break", "true", "false", "null",
    "inf", "nan", "na",
})
KIND_SHORT = {"qlq_c30": "c30", "qlq_cr29": "cr29", "physical_exam": "pe",
              "medical_history": "mh", "eligibility": "elig", "adverse_events": "ae",
              "treatment": "tx", "pathology": "path", "survival": "surv", "endoscopy": "endo",
              "imaging": "img", "mutation": "mut", "consent": "consent", "surgery": "surg"}


@dataclass
class Var:
    """One column of a CSV file: its name there and what it is."""

    name: str
    label: str
    type: VarType
    unit: str | None = None
    codes: Codes = ()
    width: int = 1  # the longest value, in UTF-8 bytes (SPSS needs string widths)


@dataclass
class CsvTable:
    file: str
    title: str
    vars: list[Var] = field(default_factory=list)
    rows: int = 0

    @property
    def dataset(self) -> str:
        return self.file.rsplit(".", 1)[0]


@dataclass(frozen=True)
class CsvResult:
    path: Path
    files: int
    rows: int
    tables: tuple[CsvTable, ...]


def var_name(text: str, used: set[str]) -> str:
    """``text`` as a variable name every tool accepts: lower-case letters, digits and _,
    starting with a letter, at most 32 characters, not a reserved word, unique in ``used``
    (which it is added to)."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "v"
    name = re.sub(r"_+", "_", name)
    if not name[0].isalpha():
        name = "v" + name
    if name in RESERVED:
        name += "_"
    if len(name) > MAX_NAME or name in used:
        digest = hashlib.sha1(text.encode()).hexdigest()[:5]
        name = f"{name[:MAX_NAME - 6].rstrip('_')}_{digest}"
        n = 1
        while name in used:
            name = f"{name[:MAX_NAME - 3]}_{n}"
            n += 1
    used.add(name)
    return name


def cell(value: object, kind: VarType) -> object:
    """A stored value as written to CSV (None → empty; yes/no → 1/0)."""
    if value is None:
        return ""
    if kind == "boolean":
        return 1 if value in (True, 1, "1", "true") else 0
    return value


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ----- reading ------------------------------------------------------------------------------

# ----- files --------------------------------------------------------------------------------

class _Writer:
    """Writes one CSV file and keeps the longest text of each column."""

    def __init__(self, folder: Path, table: CsvTable, bom: bool) -> None:
        self.table = table
        # Closed by close(), which the caller reaches through its own try/finally.
        # UTF-8 with the byte-order mark written by hand: the same bytes as "utf-8-sig",
        # whose encoder is Python code called on every row, where UTF-8's is built in.
        self.handle = open(folder / table.file, "w",  # noqa: SIM115
                           encoding="utf-8", newline="")
        if bom:
            self.handle.write("\ufeff")
        self.writer = csv.writer(self.handle)
        self.writer.writerow([v.name for v in table.vars])
        self.text = [i for i, v in enumerate(table.vars) if v.type in ("text", "datetime")]
        self.longest = [0] * len(table.vars)

    def rows(self, rows: Iterable[Sequence[object]], *,
             widths: Sequence[int] | None = None, count: int = 0) -> None:
        """Write ``rows``; ``widths`` (UTF-8 bytes per column) and ``count``, measured by
        SQLite, spare looking at every value here."""
        if widths is not None:
            self.longest = [max(a, int(b or 0)) for a, b in zip(self.longest, widths,
                                                                 strict=True)]
            self.writer.writerows(rows)
            self.table.rows += count
            return
        text, longest = self.text, self.longest
        n = 0
        for row in rows:
            for i in text:
                value = row[i]
                if value is not None and value != "":
                    value = str(value)
                    size = len(value) if value.isascii() else len(value.encode("utf-8"))
                    if size > longest[i]:
                        longest[i] = size
            n += 1
            self.writer.writerow(row)
        self.table.rows += n

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.handle.close()
        for var, size in zip(self.table.vars, self.longest, strict=True):
            var.width = max(1, size)


def export_csv(session: Session, target: Path, *, study: str | None = None,
               identifiers: bool = False, bom: bool = True,
               progress: Progress | None = None) -> CsvResult:
    """Write the CSV export of the open site into the new folder ``target``.

    Needs a role that may see the data (with ``identifiers``: names, record numbers and
    dates of birth too)."""
    from gisttracker.services.policy import Permission

    session.tracker.require(Permission.VIEW_IDENTIFIERS if identifiers else Permission.VIEW_DATA)
    report = progress or (lambda _phase, _fraction: None)
    studies = _studies(session, study)
    report("read", None)  # a server site's snapshot is copied first
    conn = read_snapshot(session.path)
    try:
        with atomic_dir(Path(target)) as folder:
            tables: list[CsvTable] = []
            infos = {t.name: t for t in record_tables(conn, identifiers=identifiers)}
            keys = [s.key for s in studies]
            report("tables", 0.0)
            for n, info in enumerate(infos.values()):
                if info.name in NATURAL_KEYS:
                    continue  # protocol files and form definitions: named where referenced
                tables.append(_table_file(conn, folder, info, infos, keys, studies, bom))
                report("tables", 0.5 * (n + 1) / len(infos))
            kinds = [r[0] for r in conn.execute(
                "SELECT DISTINCT f.kind FROM form f JOIN visit v ON v.id = f.visit_id JOIN "
                f"patient p ON p.id = v.patient_id WHERE p.study_key IN ({_marks(keys)}) "
                "ORDER BY f.kind", keys)]
            for kind in kinds:
                tables.append(_form_file(conn, folder, kind, keys, bom))
            report("wide", 0.7)
            for s in studies:
                tables.append(_wide_file(conn, folder, s, identifiers, bom))
            _dictionary(folder, tables, bom)
            from gisttracker.exchange.scripts import write_scripts

            write_scripts(folder, tables, made_at=datetime.now(UTC))
            _readme(folder, session, tables, identifiers, bom)
            report("done", 1.0)
    except FileExistsError as exc:
        raise ServiceError(_("{path} already exists and is not an empty folder").format(
            path=target)) from exc
    finally:
        conn.close()
    return CsvResult(Path(target), len(tables) + 1, sum(t.rows for t in tables), tuple(tables))


def _studies(session: Session, study: str | None) -> list[Study]:
    if study is None:
        return sorted(session.studies.values(), key=lambda s: s.key)
    try:
        return [session.study(study)]
    except KeyError as exc:
        raise ServiceError(str(exc.args[0])) from None


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _v in values) or "NULL"


def _table_file(conn: sqlite3.Connection, folder: Path, info: TableInfo,
                infos: dict[str, TableInfo], keys: list[str], studies: list[Study],
                bom: bool) -> CsvTable:
    columns = describe_columns(info.name, info.columns, info.refs, info.types,
                               studies[0] if len(studies) == 1 else None)
    table = CsvTable(f"{info.name}.csv", info.name.replace("_", " "))
    used: set[str] = set()
    from_sql, patient = patient_join(info, infos)
    select: list[str] = []
    if patient and info.name != "patient":
        table.vars.append(Var(var_name("study_id", used), _("Study identifier"), "text"))
        select.append(f"{patient}.study_id")
    for col in columns:
        if col.name == "patient_id" and patient:
            continue  # the study identifier says it
        if col.reference in NATURAL_KEYS:
            # A protocol or form version, by what it is: key|SHA-256 of the file's text.
            name = var_name(re.sub(r"_id$", "", col.name), used)
            select.append(f"(SELECT {natural_key(col.reference, 'q')} FROM "
                          f"{_q(col.reference)} q WHERE q.id = t.{_q(col.name)})")
        elif col.reference:
            name = var_name(re.sub(r"_id$", "", col.name) + "_uid", used)
            select.append(f"(SELECT uid FROM {_q(col.reference)} WHERE id = t.{_q(col.name)})")
        else:
            name = var_name(col.name, used)
            select.append(f"t.{_q(col.name)}")
        table.vars.append(Var(name, col.label, col.type, col.unit, col.codes))
    where = f" WHERE {patient}.study_key IN ({_marks(keys)})" if patient else ""
    order = f" ORDER BY {patient}.study_id, t.id" if patient else " ORDER BY t.id"
    params = keys if patient else []
    aliased = ", ".join(f"{expr} AS c{i}" for i, expr in enumerate(select))
    measure = ", ".join(f"max(length(CAST(c{i} AS BLOB)))" if v.type in ("text", "datetime")
                        else "0" for i, v in enumerate(table.vars))
    # SQLite counts the rows and measures the text columns (in bytes, for SPSS's string
    # widths) in one pass…
    count, *widths = conn.execute(
        f"SELECT count(*), {measure} FROM (SELECT {aliased} FROM {from_sql}{where})",
        params).fetchone()
    # …and the rows go to the file as SQLite gives them (yes/no is stored as 1/0 already).
    rows = conn.execute(f"SELECT {', '.join(select)} FROM {from_sql}{where}{order}", params)
    with _Writer(folder, table, bom) as writer:
        writer.rows(rows, widths=widths, count=int(count))
    return table


def _decode(value: str | None) -> object:
    return None if value is None else json.loads(value)


def _item_vars(spec: FormSpec | None, items: list[str], prefix: str,
               used: set[str]) -> list[tuple[str, Var]]:
    out = []
    for key in items:
        item = None
        if spec is not None:
            try:
                item = spec.item(key)
            except KeyError:
                item = None
        if item is not None and spec is not None:
            var = Var(var_name(f"{prefix}_{key}", used), item_label(spec, item),
                      item_type(item), item.unit, item_codes(item))
        else:
            var = Var(var_name(f"{prefix}_{key}", used), key, "text")
        out.append((key, var))
    return out


def _spec(kind: str) -> FormSpec | None:
    try:
        return spec_for(kind)
    except KeyError:
        return None


def _form_values(conn: sqlite3.Connection, kind: str, keys: list[str],
                 ) -> tuple[dict[int, dict[str, object]], list[str]]:
    values: dict[int, dict[str, object]] = {}
    found: list[str] = []
    seen: set[str] = set()
    for form_id, item, value in conn.execute(
            "SELECT fv.form_id, fv.item, fv.value FROM form_value fv JOIN form f ON "
            "f.id = fv.form_id JOIN visit v ON v.id = f.visit_id JOIN patient p ON "
            f"p.id = v.patient_id WHERE f.kind = ? AND p.study_key IN ({_marks(keys)})",
            [kind, *keys]):
        values.setdefault(form_id, {})[item] = _decode(value)
        if item not in seen:
            seen.add(item)
            found.append(item)
    return values, found


def _form_file(conn: sqlite3.Connection, folder: Path, kind: str, keys: list[str],
               bom: bool) -> CsvTable:
    spec = _spec(kind)
    title = _(spec.title) if spec is not None else kind
    table = CsvTable(f"form_{var_name(kind, set())}.csv", title)
    used: set[str] = set()
    fixed = [("study_id", _("Study identifier"), "text"), ("visit_uid", _("Visit record"), "text"),
             ("visit", _("Visit"), "text"), ("visit_name", _("Visit name"), "text"),
             ("visit_done_on", _("Date the visit was done"), "date"),
             ("form_uid", _("Form record"), "text"), ("form_state", _("Form status"), "text"),
             ("not_done_reason", _("Why the form was not done"), "text"),
             ("completed_at", _("Completed at"), "datetime"),
             ("completed_by", _("Completed by"), "text")]
    states = fixed_codes()[("form", "state")]
    for name, label, kind_ in fixed:
        table.vars.append(Var(var_name(name, used), label, kind_,  # type: ignore[arg-type]
                              codes=states if name == "form_state" else ()))
    values, found = _form_values(conn, kind, keys)
    items = list(spec.item_keys()) if spec is not None else []
    items += [i for i in found if i not in items]
    item_vars = _item_vars(spec, items, kind, used)
    table.vars += [v for _k, v in item_vars]
    def rows() -> Iterator[list[object]]:
        for row in conn.execute(
                "SELECT f.id, p.study_id, v.uid, v.visit_key, v.name, v.done_on, f.uid, "
                "f.state, f.not_done_reason, f.completed_at, f.completed_by FROM form f "
                "JOIN visit v ON v.id = f.visit_id JOIN patient p ON p.id = v.patient_id "
                f"WHERE f.kind = ? AND p.study_key IN ({_marks(keys)}) "
                "ORDER BY p.study_id, v.seq, v.planned_on, f.id", [kind, *keys]):
            answers = values.get(row[0], {})
            yield [*row[1:], *(cell(answers.get(k), v.type) for k, v in item_vars)]

    with _Writer(folder, table, bom) as writer:
        writer.rows(rows())
    return table


@dataclass
class _WideSlots:
    """Where each value of a patient goes in the wide row (column positions)."""

    size: int = 0
    patient: list[tuple[int, str]] = field(default_factory=list)
    identity: list[tuple[int, str]] = field(default_factory=list)
    screening: list[tuple[int, str]] = field(default_factory=list)
    anchors: list[tuple[int, str]] = field(default_factory=list)
    visits: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    forms: dict[tuple[str, str], list[tuple[int, str, VarType]]] = field(default_factory=dict)


def _wide_file(conn: sqlite3.Connection, folder: Path, study: Study, identifiers: bool,
               bom: bool) -> CsvTable:
    """One row per patient of ``study``: enrollment, latest screening, anchors, visits."""
    table = CsvTable(f"wide_{var_name(study.key, set())}.csv", study.short_title)
    used: set[str] = set()
    slots = _WideSlots()

    def add(name: str, label: str, kind: VarType, unit: str | None = None,
            codes: Codes = ()) -> int:
        table.vars.append(Var(var_name(name, used), label, kind, unit, codes))
        return len(table.vars) - 1

    infos = {t.name: t for t in record_tables(conn)}
    for col in describe_columns("patient", infos["patient"].columns, {},
                                infos["patient"].types, study):
        if col.name in ("study_id", "site_code", "sex", "status", "arm_code", "arm_option",
                        "enrolled_on", "randomization_number", "ended_on", "end_reason",
                        "created_on"):
            slots.patient.append((add(col.name, col.label, col.type, col.unit, col.codes),
                                  col.name))
    if identifiers:
        for col in describe_columns("patient_identity", ("record_number", "name", "initials",
                                                         "date_of_birth"), {},
                                    infos.get("patient_identity", infos["patient"]).types):
            slots.identity.append((add(col.name, col.label, col.type, col.unit, col.codes),
                                   col.name))
    screening = infos["screening"]
    for col in describe_columns("screening", screening.columns, screening.refs, screening.types):
        if col.reference or col.name in ("uid", "reasons", "screened_by", "version"):
            continue
        slots.screening.append((add(f"scr_{col.name}", _("Screening: {label}").format(
            label=col.label), col.type, col.unit, col.codes), col.name))
    for anchor in study.anchors:
        slots.anchors.append((add(f"anchor_{anchor.key}", _("Date: {label}").format(
            label=_(anchor.label)), "date"), anchor.key))
    states = fixed_codes()[("visit", "state")]
    for visit in study.visits:
        vk = visit.key
        slots.visits[vk] = [
            (add(f"{vk}_state", _("{visit}: status").format(visit=visit.name), "text",
                 codes=states), "state"),
            (add(f"{vk}_planned_on", _("{visit}: target date").format(visit=visit.name),
                 "date"), "planned_on"),
            (add(f"{vk}_done_on", _("{visit}: date done").format(visit=visit.name), "date"),
             "done_on")]
        for kind in visit.assessments:
            spec = _spec(kind)
            if spec is None or not spec.items:
                continue
            for item in spec.items:
                kind_t = item_type(item)
                index = add(f"{vk}_{KIND_SHORT.get(kind, kind)}_{item.key}",
                            f"{visit.name}: {item_label(spec, item)}", kind_t, item.unit,
                            item_codes(item))
                slots.forms.setdefault((vk, kind), []).append((index, item.key, kind_t))
    slots.size = len(table.vars)
    with _Writer(folder, table, bom) as writer:
        writer.rows(_wide_rows(conn, study, identifiers, slots))
    return table


def _dicts(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def _wide_rows(conn: sqlite3.Connection, study: Study, identifiers: bool,
               slots: _WideSlots) -> Iterator[list[object]]:
    """The wide rows, filled position by position with what each patient has (the work is
    proportional to the data, not to the hundreds of columns)."""
    key = study.key
    screenings = {r["patient_id"]: r for r in _dicts(conn.execute(
        "SELECT s.* FROM screening s JOIN patient p ON p.id = s.patient_id WHERE "
        "p.study_key = ? ORDER BY s.id", (key,)))}  # the latest wins
    anchors: dict[int, dict[str, object]] = {}
    for pid, anchor, day in conn.execute(
            "SELECT a.patient_id, a.anchor_key, a.date FROM anchor_date a JOIN patient p ON "
            "p.id = a.patient_id WHERE p.study_key = ?", (key,)):
        anchors.setdefault(pid, {})[anchor] = day
    # A visit as its row (key, state, target date, date done): there are many of them.
    visits: dict[int, list[tuple[Any, ...]]] = {}
    for found in conn.execute(
            "SELECT v.patient_id, v.visit_key, v.state, v.planned_on, v.done_on FROM visit v "
            "JOIN patient p ON p.id = v.patient_id WHERE p.study_key = ? AND v.visit_key IS "
            "NOT NULL", (key,)):
        visits.setdefault(found[0], []).append(found)
    at = {"state": 2, "planned_on": 3, "done_on": 4}
    visit_slots = {vk: [(index, at[name]) for index, name in where]
                   for vk, where in slots.visits.items()}
    forms: dict[int, dict[tuple[str, str], dict[str, object]]] = {}
    for pid, vk, kind, item, value in conn.execute(
            "SELECT v.patient_id, v.visit_key, f.kind, fv.item, fv.value FROM form_value fv "
            "JOIN form f ON f.id = fv.form_id JOIN visit v ON v.id = f.visit_id JOIN patient p "
            "ON p.id = v.patient_id WHERE p.study_key = ? AND v.visit_key IS NOT NULL", (key,)):
        forms.setdefault(pid, {}).setdefault((vk, kind), {})[item] = _decode(value)
    identities: dict[int, dict[str, object]] = {}
    if identifiers:
        identities = {r["patient_id"]: r for r in _dicts(conn.execute(
            "SELECT i.* FROM patient_identity i JOIN patient p ON p.id = i.patient_id "
            "WHERE p.study_key = ?", (key,)))}
    for patient in _dicts(conn.execute(
            "SELECT * FROM patient WHERE study_key = ? ORDER BY study_id", (key,))):
        pid = patient["id"]
        row: list[object] = [None] * slots.size
        for index, name in slots.patient:
            row[index] = patient[name]
        for part, where in ((identities.get(pid), slots.identity),
                            (screenings.get(pid), slots.screening),
                            (anchors.get(pid), slots.anchors)):
            if part:
                for index, name in where:
                    row[index] = part.get(name)
        for visit in visits.get(pid, ()):
            for index, column in visit_slots.get(visit[1], ()):
                row[index] = visit[column]
        for form_key, answers in forms.get(pid, {}).items():
            for index, item, kind in slots.forms.get(form_key, ()):
                value = answers.get(item)
                if value is not None:
                    row[index] = cell(value, kind)
        yield row


def codes_text(codes: Codes) -> str:
    return " | ".join(f"{cell(v, 'boolean') if isinstance(v, bool) else v}={_(label)}"
                      for v, label in codes)


def _dictionary(folder: Path, tables: list[CsvTable], bom: bool) -> None:
    with open(folder / "dictionary.csv", "w", encoding="utf-8-sig" if bom else "utf-8",
              newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "variable", "label", "type", "unit", "codes", "form"])
        for table in tables:
            for var in table.vars:
                writer.writerow([table.file, var.name, var.label, var.type, var.unit or "",
                                 codes_text(var.codes), table.title])


def _readme(folder: Path, session: Session, tables: list[CsvTable], identifiers: bool,
            bom: bool) -> None:
    from gisttracker.services.settings import SettingsService

    settings = SettingsService(session.tracker)
    lines = [
        _("GIST Study Tracker {version}: CSV export of site {site} ({name}), {at}.").format(
            version=__version__, site=settings.get("site_code"), name=settings.get("site_name"),
            at=datetime.now(UTC).isoformat(timespec="seconds")),
        "",
        _("Patients are named by their study identifier; names, record numbers and dates of "
          "birth are included: {included}.").format(
              included=_("yes") if identifiers else _("no")),
        _("Dates are YYYY-MM-DD; yes/no is 1/0; an empty cell has no value (form_value.csv "
          "says why: not answered, or not asked of this patient)."),
        _("Text is UTF-8 with a byte-order mark (for Excel).") if bom else
        _("Text is UTF-8."),
        _("dictionary.csv describes every variable; import.R, import.sps and import.do read "
          "every file with labels and value labels (run them from this folder)."),
        "",
    ]
    lines += [f"{t.file}: {t.title} ({t.rows})" for t in tables]
    (folder / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

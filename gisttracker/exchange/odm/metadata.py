"""How a study maps to ODM 1.3.2 metadata; shared by export and import.

OIDs (stable, readable, the same in every file of every site):

=====================  ==============================================================
``ST.<study>``         the study (``ST.NCT04933669``); ``MDV.<study>`` its metadata version
``SE.SUBJECT``         the patient-level event: registration, screening, treatment,
                       surgery, events… — every record table, one form each
``SE.<visit>``         one per protocol visit (``SE.preop_q3m_2``); ``SE.UNSCHEDULED``
                       (repeating, keyed by the visit's uid) for unscheduled visits
``F.<kind>``           a visit form (``F.qlq_c30``), its group ``IG.<kind>`` and items
                       ``I.<kind>.<item>`` (``I.qlq_c30.12``)
``F.REC.<table>``      a record table (``F.REC.surgery``), group ``IG.REC.<table>``
                       (repeating, keyed by the record's uid) and items
                       ``I.REC.<table>.<column>``
``CL.…``               code lists (``CL.qlq_c30.12``, ``CL.REC.patient.status``)
``MU.…``               measurement units
=====================  ==============================================================

A snapshot shows visits, visit forms and item values in ODM's own structure
(``StudyEventData``/``FormData``/``ItemData``), with what ODM has no place for (a visit's
planned date, window and status, a form's status, why an item has no value, record uids)
in our extension attributes; every other table is a repeating item group of
``SE.SUBJECT``. A transactional file reports each audited change of any table on the
record group of its table (``F.REC.visit`` for a visit's date, ``F.REC.form_value`` for an
answer), with its ``AuditRecord``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gisttracker.exchange.catalogue import (
    Codes,
    VarType,
    describe_columns,
    item_codes,
    item_type,
)
from gisttracker.exchange.tables import NATURAL_KEYS, TableInfo
from gisttracker.forms import FormSpec, spec_for
from gisttracker.i18n import _
from gisttracker.protocols import Study

SUBJECT_EVENT = "SE.SUBJECT"
UNSCHEDULED_EVENT = "SE.UNSCHEDULED"
# Tables a snapshot shows in ODM's own structure rather than as record groups.
STRUCTURAL = frozenset({"visit", "form", "form_value"})

DATA_TYPES: dict[VarType, str] = {"text": "text", "integer": "integer", "float": "float",
                                  "date": "date", "datetime": "datetime",
                                  "boolean": "boolean"}


def study_oid(key: str) -> str:
    return f"ST.{key}"


def mdv_oid(key: str) -> str:
    return f"MDV.{key}"


def unit_oid(unit: str) -> str:
    return "MU." + (re.sub(r"[^A-Za-z0-9]+", "_", unit).strip("_") or "unit")


@dataclass(frozen=True)
class ItemMeta:
    oid: str
    name: str
    label: str
    type: VarType
    key: str  # the form item key, or the table column
    unit: str | None = None
    codes: Codes = ()
    codelist: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    reference: str | None = None  # the table a reference column points at


@dataclass(frozen=True)
class FormMeta:
    oid: str
    group_oid: str
    name: str
    items: tuple[ItemMeta, ...]
    kind: str | None = None  # a visit form
    table: str | None = None  # a record table
    repeating: bool = False  # the item group repeats (one per record)

    def item(self, oid: str) -> ItemMeta | None:
        for item in self.items:
            if item.oid == oid:
                return item
        return None


@dataclass(frozen=True)
class EventMeta:
    oid: str
    name: str
    forms: tuple[str, ...]
    repeating: bool = False
    visit_key: str | None = None
    mandatory: bool = True
    planned: int = 0  # the first ``planned`` forms are the protocol's (mandatory)


@dataclass
class StudyMeta:
    study: Study
    events: list[EventMeta] = field(default_factory=list)
    forms: dict[str, FormMeta] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # unit text → OID

    @property
    def oid(self) -> str:
        return study_oid(self.study.key)

    @property
    def mdv(self) -> str:
        return mdv_oid(self.study.key)

    def event(self, oid: str) -> EventMeta | None:
        for event in self.events:
            if event.oid == oid:
                return event
        return None

    def table_form(self, table: str) -> FormMeta | None:
        return self.forms.get(f"F.REC.{table}")


def _spec(kind: str) -> FormSpec | None:
    try:
        return spec_for(kind)
    except KeyError:
        return None


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:64] or "item"


def visit_form(kind: str) -> FormMeta:
    """The FormDef of visit form ``kind`` (items from the form registry)."""
    spec = _spec(kind)
    items = []
    if spec is not None:
        for item in spec.items:
            oid = f"I.{kind}.{item.key}"
            codes = item_codes(item)
            kind_t = item_type(item)
            items.append(ItemMeta(
                oid, _name(f"{kind}_{item.key}"), _(item.label), kind_t, item.key, item.unit,
                codes if kind_t != "boolean" else (),
                f"CL.{kind}.{item.key}" if codes and kind_t != "boolean" else None,
                item.minimum, item.maximum))
    title = _(spec.title) if spec is not None else kind
    return FormMeta(f"F.{kind}", f"IG.{kind}", title, tuple(items), kind=kind)


def table_form(info: TableInfo, study: Study) -> FormMeta:
    """The FormDef of a record table (items: its columns but ``uid``, which is the group's
    repeat key, and ``patient_id``, which the subject says)."""
    items = []
    for col in describe_columns(info.name, info.columns, info.refs, info.types, study):
        if col.name in ("uid", "patient_id"):
            continue
        oid = f"I.REC.{info.name}.{col.name}"
        codes = col.codes if col.type != "boolean" else ()
        items.append(ItemMeta(oid, _name(f"{info.name}_{col.name}"), col.label, col.type,
                              col.name, col.unit, codes,
                              f"CL.REC.{info.name}.{col.name}" if codes else None,
                              reference=col.reference))
    return FormMeta(f"F.REC.{info.name}", f"IG.REC.{info.name}",
                    info.name.replace("_", " "), tuple(items), table=info.name,
                    repeating=info.name != "patient")


def study_metadata(study: Study, tables: list[TableInfo]) -> StudyMeta:
    """The ODM metadata of ``study`` given the record ``tables`` of the file."""
    meta = StudyMeta(study)
    # Protocol and form versions are not a patient's records: a reference to one is written
    # as its natural key (``NCT04933669|<sha-256>``), the same in every file.
    record_forms = [table_form(info, study) for info in tables if info.name not in NATURAL_KEYS]
    for form in record_forms:
        meta.forms[form.oid] = form
    record_forms.sort(key=lambda f: f.table != "patient")  # the patient's own record first
    meta.events.append(EventMeta(SUBJECT_EVENT, _("Patient"), tuple(f.oid for f in record_forms),
                                 planned=1))
    kinds: list[str] = []
    for visit in study.visits:
        for kind in visit.assessments:
            if kind not in kinds:
                kinds.append(kind)
    from gisttracker.forms import registered

    for kind in registered():
        if kind not in kinds:
            kinds.append(kind)  # a form added at a visit beyond the plan
    for kind in kinds:
        form = visit_form(kind)
        meta.forms[form.oid] = form
    for visit in study.visits:
        # The planned forms first; any other form may be added at the visit.
        planned = [k for k in visit.assessments if k in kinds]
        meta.events.append(EventMeta(
            f"SE.{visit.key}", visit.name,
            tuple(f"F.{k}" for k in planned + [k for k in kinds if k not in planned]),
            visit_key=visit.key, mandatory=visit.required, planned=len(planned)))
    meta.events.append(EventMeta(UNSCHEDULED_EVENT, _("Unscheduled visit"),
                                 tuple(f"F.{k}" for k in kinds), repeating=True,
                                 mandatory=False))
    for form in meta.forms.values():
        for item in form.items:
            if item.unit and item.unit not in meta.units:
                meta.units[item.unit] = unit_oid(item.unit)
    return meta

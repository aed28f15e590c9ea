"""What each exported variable is: label, type, unit, code list — for CSV and ODM alike.

Two sources: the form registry (:mod:`gisttracker.forms`) describes every item of a visit
form; the tables of the store are described here, from the peewee models (types), the
vocabulary the services already label (statuses, procedures, events…), the screening fields
of the protocol catalogue, and the study's own protocol (arms and their options).

Types are the exchange's own small set: ``text``, ``integer``, ``float``, ``date``,
``datetime``, ``boolean`` (stored 1/0 in CSV, ``true``/``false`` in ODM).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import peewee

from gisttracker.field_labels import LABELS as LABELS
from gisttracker.field_labels import UNITS as UNITS
from gisttracker.forms import FormSpec, Item
from gisttracker.i18n import N_, _
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES, SCREENING_FIELDS

VarType = Literal["text", "integer", "float", "date", "datetime", "boolean"]
Codes = tuple[tuple[object, str], ...]  # (stored value, untranslated label)

YES_NO: Codes = ((1, N_("Yes")), (0, N_("No")))


@dataclass(frozen=True)
class Column:
    """One variable: ``name`` as stored, ``label`` (translated), its type, unit and codes;
    ``reference`` names the table a reference column points at."""

    name: str
    label: str
    type: VarType
    unit: str | None = None
    codes: Codes = ()
    reference: str | None = None


def _codes(mapping: dict[str, str] | tuple[tuple[str, str], ...]) -> Codes:
    items = mapping.items() if isinstance(mapping, dict) else mapping
    return tuple((k, v) for k, v in items)


def _plain(values: tuple[str, ...]) -> Codes:
    return tuple((v, v.replace("_", " ")) for v in values)


def fixed_codes() -> dict[tuple[str, str], Codes]:
    from gisttracker.domain.schedule import STATUS_LABELS as VISIT_LABELS
    from gisttracker.services.course.values import EVENT_LABELS, PHASE_LABELS, PROCEDURE_LABELS
    from gisttracker.services.forms import (
        AE_ACTIONS,
        AE_DRUGS,
        AE_OUTCOMES,
        AE_RELATIONS,
        STATE_LABELS,
    )
    from gisttracker.services.patients.values import STATUS_LABELS
    from gisttracker.services.tumour import NON_TARGET_STATES

    visit_states: dict[str, str] = {k: VISIT_LABELS[k] for k in
                    ("planned", "done", "missed", "cancelled", "not_applicable")
                    if k in VISIT_LABELS}
    visit_states.setdefault("planned", N_("Planned"))
    return {
        ("patient", "status"): _codes(dict(STATUS_LABELS)),
        ("patient", "sex"): (("male", N_("male")), ("female", N_("female"))),
        ("visit", "state"): _codes(visit_states),
        ("form", "state"): _codes(STATE_LABELS),
        ("form_value", "missing"): (("not_answered", N_("asked, not answered")),
                                    ("not_applicable", N_("not asked of this patient"))),
        ("screening", "outcome"): (("incomplete", N_("incomplete")),
                                   ("eligible", N_("eligible")),
                                   ("ineligible", N_("ineligible"))),
        ("screening", "primary_site"): _plain(PRIMARY_SITES),
        ("screening", "mutation"): _plain(MUTATIONS),
        ("screening", "mitotic_unit"): (("50hpf", N_("per 50 high-power fields")),
                                        ("5mm2", N_("per 5 mm²"))),
        ("pathology", "primary_site"): _plain(PRIMARY_SITES),
        ("pathology", "mutation"): _plain(MUTATIONS),
        ("surgery", "margin"): _plain(("R0", "R1", "R2")),
        ("surgery", "stoma"): _plain(("none", "temporary", "permanent")),
        ("surgery", "procedure"): _codes(dict(PROCEDURE_LABELS)),
        ("course_event", "kind"): _codes(dict(EVENT_LABELS)),
        ("treatment_exposure", "phase"): _codes(dict(PHASE_LABELS)),
        ("tumour_assessment", "non_target"): _codes(dict(NON_TARGET_STATES)),
        ("adverse_event", "drug"): _codes(AE_DRUGS),
        ("adverse_event", "relation"): _codes(AE_RELATIONS),
        ("adverse_event", "action"): _codes(AE_ACTIONS),
        ("adverse_event", "outcome"): _codes(AE_OUTCOMES),
    }


def _humanize(name: str) -> str:
    text = re.sub(r"_(id|uid)$", "", name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _type_of(field: peewee.Field | None, declared: str) -> VarType:
    if isinstance(field, peewee.BooleanField):
        return "boolean"
    if isinstance(field, peewee.DateField):
        return "date"
    if isinstance(field, peewee.DateTimeField):
        return "datetime"
    if isinstance(field, peewee.FloatField):
        return "float"
    if isinstance(field, peewee.IntegerField | peewee.AutoField):
        return "integer"
    if field is not None:
        return "text"
    if "INT" in declared:
        return "integer"
    if "REAL" in declared or "FLOA" in declared:
        return "float"
    return "text"


def describe_columns(table: str, columns: tuple[str, ...], refs: dict[str, str],
                     declared: dict[str, str], study: Study | None = None) -> list[Column]:
    """The variables of ``table``'s ``columns`` (reference columns hold a uid)."""
    from gisttracker.services.exchange.common import models_by_table

    model = models_by_table().get(table)
    by_column: dict[str, peewee.Field] = {}
    if model is not None:
        by_column = {f.column_name: f for f in model._meta.sorted_fields}
    fixed = fixed_codes()
    out = []
    for name in columns:
        if name in refs:
            out.append(Column(name, _("Record identity ({table})").format(
                table=refs[name]), "text", reference=refs[name]))
            continue
        screening = SCREENING_FIELDS.get(name)
        label = (LABELS.get(name) if name in LABELS
                 else screening.label if screening is not None else None)
        kind = _type_of(by_column.get(name), declared.get(name, ""))
        codes = fixed.get((table, name), ())
        if kind == "boolean":
            codes = YES_NO
        if study is not None and table == "patient" and name == "arm_code":
            codes = tuple((a.code, a.name) for a in study.arms)
        if study is not None and table == "patient" and name == "arm_option":
            codes = tuple((o.code, o.label) for a in study.arms for o in a.options)
        unit = UNITS.get(name) or (screening.unit if screening is not None else None)
        out.append(Column(name, _(label) if label else _humanize(name), kind, unit, codes))
    return out


def item_type(item: Item) -> VarType:
    """The exchange type of a form item (a choice's type follows its values)."""
    if item.type == "int":
        return "integer"
    if item.type == "float":
        return "float"
    if item.type == "date":
        return "date"
    if item.type == "bool":
        return "boolean"
    if item.type == "choice":
        values = [c.value for c in item.choices]
        if values and all(isinstance(v, bool) for v in values):
            return "boolean"
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "integer"
    return "text"


def item_codes(item: Item) -> Codes:
    if item_type(item) == "boolean":
        return YES_NO
    return tuple((c.value, c.label) for c in item.choices)


def item_label(spec: FormSpec, item: Item) -> str:
    label = _(item.label)
    return f"{_(spec.title)} {item.number}. {label}" if item.number else \
        f"{_(spec.title)}: {label}"

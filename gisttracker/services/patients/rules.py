"""Pure screening rules (also used live by the screening form): validation of what was
typed, the eligibility facts it gives, and the criteria evaluated over them.
"""

from __future__ import annotations

import json
from datetime import date

from gisttracker.domain import eligibility, plausibility
from gisttracker.errors import InputError
from gisttracker.grading import units
from gisttracker.i18n import N_, _, join_list
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES, SCREENING_FIELDS
from gisttracker.services.patients.values import (
    BOOL_COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    LAB_ANALYTES,
    MITOTIC_UNITS,
    SCREENING_COLUMNS,
    LabEntry,
    ScreeningData,
)

# --- pure helpers (also used by the form, live) ---------------------------------------------


def _label(column: str) -> str:
    labels = {
        "ecog": N_("ECOG performance status"), "asa": N_("ASA class"),
        "tumour_size_cm": N_("Maximum tumour diameter"), "mitotic_count": N_("Mitotic count"),
        "mitotic_unit": N_("Mitotic count unit"), "primary_site": N_("Primary tumour site"),
        "mutation": N_("Mutation"), "progressive_lesions": N_("Progressive lesions"),
        "progressive_organs": N_("Organs with progressive lesions"),
        "consent_date": N_("Consent date"), "metastasis_sites": N_("Metastasis sites"),
        "date_of_birth": N_("Date of birth"), "sex": N_("Sex"),
    }
    if column in labels:
        return _(labels[column])
    spec = SCREENING_FIELDS.get(column)
    return _(spec.label) if spec else column


def validate_screening(data: ScreeningData, *, date_of_birth: date | None, screened_on: date,
                       today: date) -> dict[str, str]:
    """Messages by field (column or lab key) for everything that cannot be right.

    Empty when the data may be saved. Nothing here is clinical judgement: only impossible
    or implausible values (an ECOG of 7, a negative diameter, platelets in the wrong unit).
    """
    problems: dict[str, str] = {}
    v = data.values
    unknown = set(v) - set(SCREENING_COLUMNS)
    for name in sorted(unknown):
        problems[name] = _("{field} is not a screening field").format(field=name)
    for name, low, high in (("ecog", 0, 5), ("asa", 1, 6)):
        value = v.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems[name] = _("{field} must be a whole number from {low} to {high}").format(
                field=_label(name), low=low, high=high)
    for name in ("progressive_lesions", "progressive_organs"):
        value = v.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            problems[name] = _("{field} must be a whole number of 0 or more").format(
                field=_label(name))
    for name in FLOAT_COLUMNS:
        value = v.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems[name] = _("{field} must be a number of 0 or more").format(
                field=_label(name))
    size = v.get("tumour_size_cm")
    if isinstance(size, int | float) and not isinstance(size, bool) and size > 100:
        problems["tumour_size_cm"] = _("{field}: {value} cm is not plausible (in cm, not mm?)"
                                       ).format(field=_label("tumour_size_cm"), value=size)
    mitoses = v.get("mitotic_count")
    if isinstance(mitoses, int | float) and not isinstance(mitoses, bool) \
            and "mitotic_count" not in problems:
        problem = plausibility.count_problem(mitoses, maximum=plausibility.MAX_MITOTIC_COUNT,
                                             label=_label("mitotic_count"))
        if problem:
            problems["mitotic_count"] = problem
    if v.get("mitotic_count") is not None and v.get("mitotic_unit") not in MITOTIC_UNITS:
        problems["mitotic_unit"] = _("say whether the mitotic count is per 50 HPF or per 5 mm²")
    for name, allowed in (("primary_site", PRIMARY_SITES), ("mutation", MUTATIONS),
                          ("mitotic_unit", MITOTIC_UNITS)):
        value = v.get(name)
        if value is not None and value not in allowed:
            problems[name] = _("{field}: {value!r} is not one of {allowed}").format(
                field=_label(name), value=value, allowed=join_list(allowed))
    for name in BOOL_COLUMNS:
        value = v.get(name)
        if value is not None and not isinstance(value, bool):
            problems[name] = _("{field}: expected yes or no").format(field=_label(name))
    consent = v.get("consent_date")
    if consent is not None:
        if not isinstance(consent, date):
            problems["consent_date"] = _("Consent date: expected a date")
        elif consent > today:
            problems["consent_date"] = _("Consent date {date} is in the future").format(
                date=consent.isoformat())
        else:
            problem = plausibility.date_problem(consent, today=today,
                                                label=_label("consent_date"),
                                                birth=date_of_birth)
            if problem:
                problems["consent_date"] = problem
    if screened_on > today:
        problems["screened_on"] = _("Screening date {date} is in the future").format(
            date=screened_on.isoformat())
    elif screened_on < plausibility.EARLIEST:
        problems["screened_on"] = plausibility.date_problem(
            screened_on, today=today, label=_("Screening date")) or ""
    if date_of_birth is not None and date_of_birth > screened_on:
        problems["date_of_birth"] = _("Date of birth {dob} is after the screening date").format(
            dob=date_of_birth.isoformat())
    for key, lab in data.labs.items():
        message = validate_lab(key, lab, today=today)
        if message:
            problems[key] = message
    return problems


def validate_lab(key: str, lab: LabEntry, *, today: date | None = None) -> str | None:
    """None if the laboratory entry is usable, else a message naming the field."""
    if key not in LAB_ANALYTES:
        return _("{field} is not a laboratory field").format(field=key)
    label = _label(key)
    analyte = LAB_ANALYTES[key]
    try:
        problem = units.plausibility(analyte, lab.value, lab.unit)
    except InputError as exc:
        return f"{label}: {exc}"
    if problem:
        return problem
    for name, limit in (("LLN", lab.lln), ("ULN", lab.uln)):
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            return _("{field}: {limit} must be 0 or more").format(field=label, limit=name)
    if lab.uln is not None and lab.uln <= 0:
        return _("{field}: ULN must be greater than 0").format(field=label)
    if lab.lln is not None and lab.uln is not None and lab.lln >= lab.uln:
        return _("{field}: LLN must be below ULN").format(field=label)
    if today is not None and lab.sampled_on is not None and lab.sampled_on > today:
        return _("{field}: the sample date is in the future").format(field=label)
    return None


def _lab_fact(key: str, lab: LabEntry) -> eligibility.LabValue:
    """The lab in the unit the catalogue records it in (exact conversion), for the rules."""
    spec = SCREENING_FIELDS[key]
    target = spec.unit or lab.unit
    analyte = LAB_ANALYTES[key]

    def conv(x: float | None) -> float | None:
        return None if x is None else units.convert(analyte, x, lab.unit, target)

    value = conv(lab.value)
    assert value is not None
    return eligibility.LabValue(value=value, unit=target, lln=conv(lab.lln), uln=conv(lab.uln))


def screening_facts(data: ScreeningData, *, sex: str | None, date_of_birth: date | None,
                    screened_on: date) -> eligibility.Facts:
    """The eligibility facts of a screening (age from the date of birth at ``screened_on``).

    A mitotic count per 5 mm² is taken as per 50 HPF (5 mm² is the area the WHO 2019
    classification uses in place of 50 high-power fields). ``consent_signed`` is yes once a
    consent date is recorded. FactError names the field of a value that cannot be right.
    """
    v = data.values
    plain: dict[str, object] = {}
    for name in (*INT_COLUMNS, "tumour_size_cm", "primary_site", "mutation", *BOOL_COLUMNS):
        if name in SCREENING_FIELDS and v.get(name) is not None:
            plain[name] = v[name]
    if v.get("mitotic_count") is not None:
        plain["mitoses_per_50hpf"] = float(v["mitotic_count"])
    if sex:
        plain["sex"] = sex
    if v.get("consent_date") is not None:
        plain["consent_signed"] = True
    if plain.get("tumour_size_cm") == 0:
        del plain["tumour_size_cm"]  # a size of 0 is "not measured", not a tumour
    for key, lab in data.labs.items():
        if validate_lab(key, lab) is None:
            plain[key] = _lab_fact(key, lab)
    return eligibility.facts_from_patient(
        plain, date_of_birth=date_of_birth,
        screening_date=screened_on if date_of_birth is not None else None)


def evaluate_screening(study: Study, data: ScreeningData, *, sex: str | None,
                       date_of_birth: date | None, screened_on: date) -> eligibility.Screening:
    """Every criterion of ``study`` for this screening (the live criteria panel uses it)."""
    facts = screening_facts(data, sex=sex, date_of_birth=date_of_birth, screened_on=screened_on)
    ticks = {c.id: data.judgements.get(c.id) for c in study.criteria if c.rule is None}
    return eligibility.evaluate(study, facts, ticks)


def _reasons_json(result: eligibility.Screening) -> str:
    # The text and its language-neutral messages (shown in the reader's language).
    return json.dumps(eligibility.reason_entries(result), ensure_ascii=False)



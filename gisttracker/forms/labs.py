"""Laboratory values at a visit: the analytes, their units, conversion and CTCAE grade.

Pure functions over :mod:`gisttracker.grading.units` and :mod:`gisttracker.grading.ctcae`.
Analytes are named by the protocol vocabulary's keys (``anc``, ``platelets``,
``haemoglobin``, ``alt``, ``ast``, ``bilirubin``, ``creatinine``: see
:data:`gisttracker.protocols.catalogue.LAB_FIELDS`); the canonical unit of each is the unit
the protocol vocabulary gives it (×10⁹/L, g/L, U/L, µmol/L). A value typed in another unit
is converted only by the exact factors of :mod:`gisttracker.grading.units`; an unknown unit is
refused, never guessed.

A protocol may add analytes of its own (``[[labs]]`` in its file, e.g. albumin or LDH):
they are recorded in their one unit with the site's reference range and have no CTCAE
grade. :func:`analytes_for` lists the seven plus the study's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from gisttracker.errors import InputError
from gisttracker.grading import ctcae, units
from gisttracker.i18n import _, join_list
from gisttracker.protocols.catalogue import LAB_FIELDS, SCREENING_FIELDS
from gisttracker.protocols.model import Study

# Protocol key → key in gisttracker.grading.units.LABS.
_UNITS_KEY = {"anc": "neutrophils", "haemoglobin": "hemoglobin"}


@dataclass(frozen=True)
class Analyte:
    """One laboratory analyte of the visit lab form."""

    key: str
    label: str  # N_-marked
    canonical_unit: str
    units: tuple[str, ...]  # accepted units, canonical first
    term: str | None  # CTCAE term key; None for a protocol's own analyte (no grade)

    @property
    def units_key(self) -> str:
        return _UNITS_KEY.get(self.key, self.key)


def _analyte(key: str) -> Analyte:
    lab = units.LABS[_UNITS_KEY.get(key, key)]
    field_unit = SCREENING_FIELDS[key].unit
    canonical = units.normalize_unit(field_unit) if field_unit else lab.canonical_unit
    ordered = (canonical, *[u for u in lab.units if u != canonical])
    return Analyte(key, SCREENING_FIELDS[key].label, canonical, ordered, lab.ctcae_term)


ANALYTES: dict[str, Analyte] = {key: _analyte(key) for key in LAB_FIELDS}


def analytes_for(study: Study | None) -> dict[str, Analyte]:
    """The seven graded analytes, then the study's own (in its file's order)."""
    extra = {} if study is None else {
        lab.key: Analyte(lab.key, lab.label, lab.unit, (lab.unit,), None) for lab in study.labs}
    return {**ANALYTES, **extra}


def analyte(key: str, study: Study | None = None) -> Analyte:
    """The analyte ``key`` (a protocol key, or the grading module's spelling)."""
    for a in analytes_for(study).values():
        if key in (a.key, a.units_key):
            return a
    raise InputError(_("unknown laboratory analyte {key!r}").format(key=key))


def normalize(an: Analyte, unit: str) -> str:
    """``unit`` in its canonical spelling; InputError if it is not a unit of ``an``."""
    if an.term is None:  # a protocol's own analyte: exactly its one unit
        if unit.strip() != an.canonical_unit:
            raise InputError(_("{label} is recorded in {unit}").format(
                label=_(an.label), unit=an.canonical_unit))
        return an.canonical_unit
    try:
        spelled = units.normalize_unit(unit)
    except InputError:
        spelled = ""
    if spelled not in an.units:
        raise InputError(_("unit {unit!r} is not used for {label}; use one of: {units}").format(
            unit=unit, label=_(an.label), units=join_list(an.units)))
    return spelled


def to_canonical(an: Analyte, value: float, unit: str) -> float:
    """``value`` in ``unit`` expressed in the analyte's canonical unit."""
    if an.term is None:
        normalize(an, unit)  # refuses any other unit
        return float(value)
    return units.convert(an.units_key, value, normalize(an, unit), an.canonical_unit)


@dataclass(frozen=True)
class LabGrade:
    """A lab value seen in the canonical unit, with its CTCAE v5.0 grade."""

    value: float
    unit: str
    lln: float | None
    uln: float | None
    grade: int | None
    suggests_adverse_event: bool


def grade_lab(key: str | Analyte, value: float, unit: str, *, lln: float | None = None,
              uln: float | None = None, baseline: float | None = None,
              study: Study | None = None) -> LabGrade:
    """Convert ``value`` (and the reference range, in the same ``unit``) to the canonical
    unit and grade it. ``baseline`` is already in the canonical unit (None: no baseline).

    Raises InputError with a message for the user for an unknown unit, an implausible value
    (usually a wrong unit), or a reference range that is not a positive LLN ≤ ULN.
    """
    an = key if isinstance(key, Analyte) else analyte(key, study)
    spelled = normalize(an, unit)
    if value < 0:
        raise InputError(_("a laboratory value cannot be negative"))
    problem = None if an.term is None else units.plausibility(an.units_key, value, spelled)
    if problem:
        raise InputError(problem)
    if lln == 0:
        lln = None  # a range printed as "0–21" has no lower limit
    for name, limit in (("LLN", lln), ("ULN", uln)):
        if limit is not None and limit <= 0:
            raise InputError(_("{name} must be greater than 0").format(name=name))
    if lln is not None and uln is not None and lln > uln:
        raise InputError(_("LLN must not be above ULN"))
    v = to_canonical(an, value, spelled)
    low = None if lln is None else to_canonical(an, lln, spelled)
    high = None if uln is None else to_canonical(an, uln, spelled)
    grade = None if an.term is None else ctcae.grade(an.term, v, lln=low, uln=high,
                                                     baseline=baseline)
    return LabGrade(v, an.canonical_unit, low, high, grade, ctcae.suggests_adverse_event(grade))
